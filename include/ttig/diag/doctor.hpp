// `ttigctl doctor`: gathers the safe evidence about one gateway (disconnected-catalogue.md §4
// probes P1-P13, each at most once, concurrent where independent) and weighs it (verdict.hpp).
//
// Safety (§4.3): doctor never connects as the gateway. It never opens /traffic with any key: the
// Gateway Server keeps one connection per gateway and would drop the real TTIG for the probe.
// /router-info (P13) is safe: it resolves the EUI and checks the key, nothing more. P11 (anonymous
// CUPS) runs only against TTN / TTS Cloud hosts or when asked, because a deployment with
// owner-for-unknown would register the EUI. P12 (authenticated CUPS) writes cups-last-seen, so it
// runs only with `thorough`.
//
// Secrets: keys read from the registry (lbs_lns_secret) and given by the user live in memory only;
// every line of the report shows key IDs or "NNSXS.ABCD…", never a secret.
#pragma once

#include <ttig/diag/verdict.hpp>
#include <ttig/net/client_config.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/tts/client.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ttig::diag {

struct doctor_options {
    std::string tts_url = "https://eu1.cloud.thethings.network";  // Identity Server + home cluster
    std::string api_key;                                          // the user's key (INFO, STATUS_READ, READ_SECRETS)
    std::string gateway;                                          // gateway ID, EUI in any form, or TTIG label code
    std::vector<std::string> other_clusters;                      // URLs of the deployment's other clusters (P6 there)
    std::vector<std::string> resolve;                             // curl-style HOST:PORT:ADDR
    std::vector<std::filesystem::path> ca_files;
    std::vector<std::string> ca_pem;
    bool use_system_store = true;
    bool insecure = false;
    std::optional<std::string> cups_key;  // the gateway's own CUPS key (P12 with it)
    std::optional<std::string> lns_key;   // the gateway's own LNS key (P13 with it, else lbs_lns_secret)
    // A Basics Station file set (cups.*, tc.*) to check against the server: key IDs against the
    // gateway's keys, tc.uri against the GS address, tc.trust against the LNS chain. Read only.
    std::optional<std::filesystem::path> station_dir;
    std::chrono::milliseconds timeout{15000};  // the whole run; each probe gets what is left, at most its own limit
    bool thorough = false;              // P12, the longer events window
    // How long P7 reads the event tail (TTS sends no keep-alives, so the read ends by time).
    // Unset: 3 × P2's duration, 100 ms to 2 s (3 s with thorough).
    std::optional<std::chrono::milliseconds> events_window;
    bool anonymous_cups_probe = false;  // P11 on a deployment that is not TTN / TTS Cloud
    bool verbose = false;               // keep every raw exchange (redacted) in the report
    std::vector<atom> answers;          // user.* atoms from --led / --answer / the questionnaire
    const proto::clock* clock = nullptr;  // nullptr: the system clock
};

// One probe as it ran.
struct probe_record {
    std::string id;      // "P2"
    std::string title;   // "Gateway record"
    std::string target;  // "GET https://host/api/v3/gateways/x"
    double started_ms = 0, duration_ms = 0;
    std::string outcome;  // "200", "404 pkg/identityserver/store:gateway_not_found", "timeout", "skipped: …"
    bool ok = false;      // the probe ran and got an answer (whatever it said)
    std::vector<std::string> atoms;
    std::vector<std::string> exchange;  // raw lines, redacted (verbose)
};

struct tls_record {
    std::string role;    // "api" (443) or "lns" (8887)
    std::string target;  // host:port
    std::string version;
    bool verify_ok = false;
    std::string error;
    double handshake_ms = 0;
    nlohmann::ordered_json chain = nlohmann::ordered_json::array();  // [{subject, issuer, key_type, not_after}]
};

struct event_record {
    std::string time, name, detail;
};

struct report {
    std::string input;
    std::string gateway_id;
    std::string eui;      // 16 hex, or empty
    std::string cluster;  // the Gateway Server host
    std::vector<probe_record> probes;
    std::vector<atom> atoms;
    std::vector<event_record> events;
    std::vector<tls_record> tls;
    std::vector<std::string> side_effects;
    verdict v;
    // Set when the API could not be reached or refused the key: the hop and the error. doctor
    // then has no verdict about the gateway (exit api_unreachable).
    std::optional<std::string> api_failure;
    std::size_t api_calls = 0;
    double elapsed_ms = 0;
    std::chrono::milliseconds timeout{0};
    bool healthy() const { return !api_failure && v.cause == "healthy"; }
};

// The TLS, --resolve and user-agent settings every doctor connection uses (doctor and --fix).
net::client_config doctor_net_config(const doctor_options& o);
// A REST client's options for one call: base URL, key, deadline; 429s are evidence, never waited out.
tts::client_options doctor_client_options(const doctor_options& o, const std::string& base, std::chrono::milliseconds deadline,
                                          const std::string& key);

// Runs the ladder. Never throws; network failures become evidence or api_failure.
report run_doctor(const doctor_options& options);

// The report as JSON (docs/doctor.md "Report schema"); `exit_code` is filled in by the caller.
nlohmann::ordered_json to_json(const report& r);

}  // namespace ttig::diag
