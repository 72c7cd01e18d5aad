// `ttigctl fleet plan` and `fleet export` (docs/fleet.md): the current state of the caller's (or a
// user's, or an organization's) gateways read in as few calls as possible — one GET per 1000
// gateways — and, per manifest row, the difference to what the row wants and the steps and calls
// `fleet apply` would make. The plan makes GET calls only.
//
//   tts::client c(options);
//   auto m = fleet::read_manifest("fleet.csv");
//   if (!m.ok()) …                                     // every error, file:line each
//   auto p = fleet::plan_fleet(c, m);                  // list the gateways, then diff
//   for (const auto& row : p.rows)
//       for (const auto& s : row.steps) …              // s.kind, s.calls, the values apply needs
//
// The diff alone is sans-io (plan_against): apply can re-plan from a list it read itself.
#pragma once

#include <ttig/fleet/manifest.hpp>
#include <ttig/tts/calls.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/tts/models.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::fleet {

// What apply does for a row, in order: claim, then set_gs, then one rotation (rotate_cups,
// rotate_lns, rotate = both, or move = LNS rotation with --move-to, with the CUPS key too when
// asked). `nothing` is never in a step list; it names a row with no step (row_plan::kind()).
enum class step_kind { claim, set_gs, rotate_cups, rotate_lns, rotate, move, nothing };
std::string_view to_string(step_kind k) noexcept;  // "claim", "set-gs", "rotate-cups", "rotate-lns", "rotate", "move", "nothing"

// One HTTP call apply would make (no secret: key IDs of new keys are "{new-cups-key}").
struct planned_call {
    std::string method;   // "GET", "POST", "PUT", "DELETE"; "WS" for the LNS /router-info check
    std::string path;     // "/api/v3/gateways/office-ttig" (with the query; another cluster's calls start with its https://host)
    std::string purpose;  // one line
    bool writes = false;  // changes state on the server
    bool repeats = false;  // a look that is repeated while waiting for the station (counted once)
    bool per_old_key = false;  // once per old key found at apply time (counted once)
};

struct planned_step {
    step_kind kind = step_kind::nothing;
    std::string gateway_id;
    std::string reason;  // one line: why (the difference that asks for it)
    // claim (provision::claim_request): EUI, plans, owner token from the row, and the address
    std::optional<proto::eui64> eui;
    std::vector<std::string> frequency_plan_ids;
    std::string gateway_server_address;  // claim: the address to claim with (empty: the API's host); set_gs: the address to set
    // rotations (provision::rotate_options)
    bool rotate_cups = false;
    bool rotate_lns = false;
    std::string move_to;  // move: the cluster (host[:port])
    std::vector<planned_call> calls;
    std::size_t expected_calls = 0;  // calls.size(): repeated looks and per-old-key calls counted once
};

// How the row stands against the current state.
enum class row_state {
    missing,   // no visible gateway with this ID (nor this EUI)
    exists,    // the gateway exists with this ID (and this EUI, when the row names one)
    conflict,  // the ID or EUI is held in a way the row cannot be applied to (problem_id says how)
};
std::string_view to_string(row_state s) noexcept;

// The gateway as the list showed it.
struct current_gateway {
    std::string gateway_id;
    std::optional<proto::eui64> eui;
    std::string gateway_server_address;
    std::vector<std::string> frequency_plan_ids;
};

struct row_plan {
    std::string where;  // "file:line" of the row
    std::size_t line = 0;
    std::string gateway_id;
    std::optional<proto::eui64> eui;
    std::vector<action> actions;  // as the row asks
    row_state state = row_state::missing;
    std::optional<current_gateway> current;  // exists (and conflicts over the ID): the record
    std::vector<std::string> changes;  // one line each: "gateway_server_address: a -> b", "claim EUI … as …"
    std::vector<std::string> notes;    // things found that no step changes ("already claimed", plan drift)
    std::string problem_id;            // conflict: fleet.gateway_missing, fleet.eui_mismatch, fleet.eui_elsewhere
    std::string problem;               // one line
    std::vector<planned_step> steps;
    std::size_t expected_calls = 0;  // sum over steps
    step_kind kind() const noexcept { return steps.empty() ? step_kind::nothing : steps.front().kind; }
};

struct plan_result {
    bool ok = true;            // false: the current state could not be read (error_id, error_message)
    std::string error_id;      // tts.* / net.* / tls.* id of the failed list call
    std::string error_message;
    int http_status = 0;
    std::string scope;  // "caller", "user admin", "organization acme"
    std::vector<row_plan> rows;
    std::size_t gateways_seen = 0;  // gateways in the scope's list
    std::size_t read_calls = 0;     // calls this plan made (GET only)
    std::vector<planned_call> shared_calls;  // once per apply run (the frequency-plan check before claims)
    std::size_t planned_calls = 0;  // every step's expected_calls + shared_calls.size()
    std::size_t rows_with_changes = 0, rows_unchanged = 0, conflicts = 0;
};

struct plan_options {
    tts::list_scope scope = tts::list_scope::caller();
    std::uint32_t page_limit = 1000;  // ≤ 1000 (tts-api.md §7)
    std::size_t max_pages = 10000;
};

// The field mask of the list (ids come with every gateway).
const std::vector<std::string>& plan_field_mask();
std::string scope_text(const tts::list_scope& s);

// Reads every gateway of the scope, page by page (GET only). `calls` counts the requests.
struct gateway_list {
    bool ok = true;
    std::string error_id, error_message;
    int http_status = 0;
    std::vector<tts::gateway> gateways;
    std::size_t calls = 0;
};
gateway_list list_gateways(tts::client& client, const plan_options& o = {});

// The diff of manifest rows against the gateways as listed (sans-io).
plan_result plan_against(const std::vector<manifest_row>& rows, const std::vector<tts::gateway>& current);

// list_gateways, then plan_against. A manifest with errors is not planned (ok=false, fleet.manifest).
plan_result plan_fleet(tts::client& client, const manifest& m, const plan_options& o = {});

// {"ok","scope","gateways_seen","read_calls","planned_calls","summary":{…},"shared_calls":[…],
//  "rows":[{"where","gateway_id","eui","actions","state","current","changes","notes","problem_id","problem",
//  "steps":[{"kind","reason",…,"calls":[{method,path,purpose,writes,repeats,per_old_key}],"expected_calls"}],
//  "expected_calls"}], "error":{…} when !ok}. Never holds an owner token.
nlohmann::ordered_json to_json(const plan_result& p);
// The plan for a person: one block per row with changes or problems, then the totals.
std::string to_text(const plan_result& p, bool verbose = false);

// fleet export: the scope's gateways as manifest rows (no actions, no tokens), sorted by ID.
struct export_result {
    bool ok = true;
    std::string error_id, error_message;
    int http_status = 0;
    std::vector<manifest_row> rows;
    std::size_t read_calls = 0;
};
export_result export_gateways(tts::client& client, const plan_options& o = {});

}  // namespace ttig::fleet
