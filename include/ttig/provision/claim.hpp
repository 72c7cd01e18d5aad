// Claiming a gateway on The Things Stack (`ttigctl claim`, later `fleet`): a TTIG label code or an
// EUI, its owner token (the Wi-Fi password on the label), a gateway ID and frequency plans in; the
// claim done (or found done), or the cause that stops it with its fix, out.
//
//   tts::client c(options);                       // the caller's API key (user or organization key)
//   provision::claim_request r;
//   r.code = "58A0CB800123";                      // label code after (92), or any EUI form
//   r.owner_token = token;                        // never logged, never in an outcome
//   r.gateway_id = "office-ttig";
//   r.frequency_plan_ids = {"EU_863_870_TTN"};
//   auto out = provision::claim_gateway(c, r);
//   if (out.kind == provision::claim_kind::refused) fmt::print("{}: {}\n", out.cause, out.fix);
//
// The steps (docs/claim.md), every call read-only until the claim itself:
//   1. the code → EUI (proto::parse_eui: label code, hex, dashed, ID6, ...);
//   2. GET /api/v3/auth_info: the key works; its owner (a user or organization) is the collaborator
//      unless one is given;
//   3. GET /api/v3/configuration/frequency-plans: every plan ID exists (the registry takes any string);
//   4. POST /api/v3/gcls/claim/info: supports_claiming, else cause eui-not-claimable;
//   5. GET /api/v3/search/gateways?eui_contains=EUI: a gateway of the caller already holds the EUI?
//      Under the requested ID and set up as a claim leaves it: done before (`already`), its current
//      state is read back (GET /api/v3/gateways/ID) and nothing is written. Under another ID, or
//      looking manually registered: a cause (registered-manually-not-claimed, eui-claimed-elsewhere);
//   6. POST /api/v3/gcls/claim (skipped by dry_run), errors mapped to causes (tts-api.md §4.9);
//   7. GET /api/v3/gateways/ID: the record as the claim left it.
//
// Nothing here throws; failures are outcomes. Not thread-safe beyond the client's own rule.
#pragma once

#include <ttig/proto/eui.hpp>
#include <ttig/tts/client.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::provision {

struct claim_request {
    std::string code;                             // TTIG label code (12 hex, optional "(92)") or an EUI in any form
    std::string owner_token;                      // the claim authentication code (TTIG: the Wi-Fi password); a secret
    std::string gateway_id;                       // target gateway ID: ^[a-z0-9](?:[-]?[a-z0-9]){2,}$, at most 36
    std::vector<std::string> frequency_plan_ids;  // 1..8, checked against the deployment's list
    // The user or organization that gets the gateway; nullopt: the owner of the client's API key.
    std::optional<tts::account_ids> collaborator;
    // Gateway Server address (host[:port], no scheme); empty: the host of the client's base URL,
    // with its port unless 443 (tts-api.md §1.1, §4.9: the Console sends the GS host).
    std::string gateway_server_address;
    bool dry_run = false;               // read-only calls only; the claim is described, not made
    bool check_frequency_plans = true;  // false: skip step 3 (one call less per gateway for fleets)
    // Fleets (one call less each, per gateway): false skips step 2 when `collaborator` is given
    // (the key was checked once for the whole run), and step 7 (the record is not read back).
    bool check_key = true;
    bool read_back = true;
};

// What happened, from the caller's point of view.
enum class claim_kind {
    claimed,          // the claim was made and read back
    already,          // the EUI was already claimed under this ID: nothing written, current state read
    dry_run,          // every check passed; the claim was not made (dry_run)
    refused,          // a named cause stops the claim (cause, fix)
    rejected,         // The Things Stack refused for a reason without a cause here (its namespace:name in `cause`)
    api_unreachable,  // the API could not be reached or refused the API key (hop in `message`)
    invalid,          // the request itself is wrong: EUI, gateway ID, plan, no collaborator (id in `cause`)
};
std::string_view to_string(claim_kind k) noexcept;

// One HTTP call made (or, for a dry run, planned).
struct api_call {
    std::string method;   // "POST"
    std::string target;   // "/api/v3/gcls/claim/info" (with the query)
    std::string outcome;  // "200", "409 pkg/deviceclaimingserver:gateway_already_exists", a transport error, "not sent (dry run)"
    bool writes = false;  // changes state on the server
};

// The gateway as the claim left it (or as it is found), without secrets.
struct gateway_summary {
    std::string gateway_id;
    std::optional<proto::eui64> eui;
    std::string name;
    std::string gateway_server_address;
    std::vector<std::string> frequency_plan_ids;
    bool require_authenticated_connection = false;
    std::optional<bool> lns_secret_set;  // lbs_lns_secret holds a key; nullopt: the API key may not read secrets
    std::string target_cups_uri;
    std::optional<std::string> cups_last_seen;  // attribute written by TTS CUPS on each successful station check
    std::optional<tts::time_point> created_at;
};

struct claim_outcome {
    claim_kind kind = claim_kind::invalid;
    std::string input;  // the code as given
    std::optional<proto::eui64> eui;
    std::string eui_form;    // "ttig-label", "hex", ... (proto::to_string(eui_form))
    std::string gateway_id;  // as requested
    bool claimed = false;    // a claim was made by this run
    bool already = false;    // the claim had been made before (idempotent re-run)
    // Set unless claimed/already/dry_run: a catalogue cause (owner-token-mismatch, ...), a local id
    // (claim.unknown_frequency_plan, eui.bad_label, ...), "tts.<namespace>:<name>" for other TTS
    // refusals, or the transport/authentication error's id for api_unreachable.
    std::string cause;
    std::string message;       // one line: what happened (no secret)
    std::string fix;           // one line: what to do about it (empty when nothing is to be done)
    std::string tts_error;     // the TTS error behind a cause, with its cause chain ("pkg/…:claim gateway ← emu/upstream:…")
    int http_status = 0;       // of that TTS error (0: none)
    std::string collaborator;  // "user admin", "organization acme"
    std::string gateway_server_address;  // the one requested (or that would be)
    std::vector<std::string> frequency_plan_ids;
    std::optional<bool> supports_claiming, is_managed;  // from claim info
    std::string registered_as;                          // the gateway ID already holding the EUI (visible to the caller), if any
    std::optional<gateway_summary> gateway;             // after a claim, when already done, or the record in the way
    std::string next_step;                              // what the device does next (TTIG: next CUPS contact, RESET)
    std::vector<std::string> warnings;
    std::vector<api_call> calls;  // in order; a dry run lists the claim it would make last
    std::string planned_request;  // dry run: the claim body with the owner token replaced by its length

    bool ok() const noexcept { return kind == claim_kind::claimed || kind == claim_kind::already || kind == claim_kind::dry_run; }
};

// Runs the steps above with `client` (blocking calls). The owner token is never put into the
// outcome, an error text or a log line.
claim_outcome claim_gateway(tts::client& client, const claim_request& request);

// {"gateway_id","eui","claimed","already","dry_run","result","cause","fix","message","tts_error",
//  "collaborator","gateway_server_address","frequency_plan_ids","claim_info":{…},"registered_as",
//  "gateway":{…}|null,"next_step","warnings":[…],"api_calls":[{method,target,outcome,writes}],
//  "planned_request"} — stable key order; null for absent values.
nlohmann::ordered_json to_json(const claim_outcome& o);
nlohmann::ordered_json to_json(const gateway_summary& g);

// The causes and local refusal ids claim_gateway can report, with their one-line fix (for docs
// and tests: every id is listed in docs/errors.md).
struct claim_cause_info {
    std::string_view id;
    std::string_view title;
    std::string_view fix;
};
std::span<const claim_cause_info> claim_causes() noexcept;
const claim_cause_info* find_claim_cause(std::string_view id) noexcept;

// The Gateway Server address for a claim from a base URL: "https://eu1.cloud.thethings.network"
// → "eu1.cloud.thethings.network", "https://127.0.0.1:8443/" → "127.0.0.1:8443".
std::string gateway_server_address_of(std::string_view base_url);
// Whether a gateway ID matches TTS's pattern ^[a-z0-9](?:[-]?[a-z0-9]){2,}$ and is at most 36 long.
bool valid_gateway_id(std::string_view id) noexcept;

}  // namespace ttig::provision
