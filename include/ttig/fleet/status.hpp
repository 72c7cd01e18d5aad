// `ttigctl fleet status`: the connection state of many gateways from the batch connection-stats
// call (tts-api.md §4.10), doctor's rules applied cheaply to the ones that are not connected, and
// the gateways a journal still has waiting for their station (pending-check-in). docs/fleet.md.
//
// Calls: at most 100 IDs per batch. The Things Stack asserts the rights of a batch as a whole: one
// unknown gateway (404 some_gateways_not_found for an admin, 403 insufficient_rights otherwise)
// or one gateway the key may not read (403) fails the whole batch. Such a batch is bisected
// (halves, recursively, down to single IDs), so one bad gateway costs about 2·log2(100) ≈ 14 extra
// calls, not its 99 neighbours' states. A 429, a 5xx or a transport failure is retried (at most
// `max_retries` times per call; the client waits out the rate limit it was told about); every
// request counts, retries included. 10,000 valid gateways: 100 batch calls (+ 10 list pages
// with `all`).
//
// Causes: for a gateway that is not connected, the atoms its stats give (stats.disconnected_at,
// stats.404 for "no stats", plus record.* / attr.* atoms when the gateway list was read) go
// through diag::decide(); the top cause is reported. No per-gateway call is made unless
// `doctor_max` > 0: then diag::run_doctor runs for at most that many not-connected gateways.
#pragma once

#include <ttig/diag/doctor.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/tts/models.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::fleet {

enum class gateway_state {
    connected,     // stats with connected_at and no disconnected_at
    disconnected,  // stats with disconnected_at (disconnected within the last 48 h)
    no_stats,      // no stats on this cluster: never connected, expired, or connected to another cluster
    unknown,       // a single-ID batch answered 404 (or 400): no such gateway
    forbidden,     // a single-ID batch answered 403: the key may not read it (or, non-admin: it does not exist)
    error,         // the call kept failing (transport, 5xx, 429) after the retries
};
std::string_view to_string(gateway_state s) noexcept;  // "connected", "disconnected", "no-stats", "unknown", "forbidden", "error"
std::optional<gateway_state> gateway_state_from(std::string_view s) noexcept;

struct gateway_status {
    std::string gateway_id;
    gateway_state state = gateway_state::error;
    std::optional<tts::connection_stats> stats;
    std::string error_id;  // unknown / forbidden / error: the cause id of the answer (tts.<ns>:<name>, net.*)
    std::string error_detail;
    // Not connected (disconnected, no-stats): doctor's verdict from the atoms at hand.
    std::string cause;       // top cause id, "unknown" when nothing fits; empty when connected
    std::string confidence;  // "high", "medium", "low"
    std::vector<std::string> atoms;
    bool pending = false;            // the journal has it pending-check-in
    nlohmann::ordered_json doctor;  // the full doctor report (doctor_max), else null
};

// An unfinished journal operation waiting for its station.
struct pending_gateway {
    std::string gateway_id;
    std::string kind;  // "rotate" or "fleet"
    std::int64_t op_id = 0;
    std::string state;  // "pending-check-in"
    std::string since;  // the operation's updated_at
    bool in_scope = false;  // among the gateways this status looked at
};

struct call_counts {
    std::size_t list = 0;     // gateway list pages (all)
    std::size_t batches = 0;  // batch stats requests, bisection included
    std::size_t bisect = 0;   // of which: requests made while bisecting
    std::size_t retries = 0;  // requests that repeated a failed one (included in list/batches)
    std::size_t auth = 0;     // auth_info (only when a batch fails 403: does the key have STATUS_READ?)
    std::size_t doctor = 0;   // doctor runs' calls
    std::size_t total() const noexcept { return list + batches + auth + doctor; }
};

// Why a run (or a journal read) could not give states at all.
struct status_failure {
    std::string id;       // "fleet.journal", "fleet.no_status_read", "tts.<ns>:<name>", "net.timeout", …
    std::string message;  // one line, names the hop ("listing gateways", "batch connection stats")
    std::string hop;      // "journal", "list", "batch", "auth"
};

struct status_options {
    tts::client_options api;
    std::vector<std::string> gateway_ids;  // the manifest's; ignored with `all`
    bool all = false;                      // every gateway the key can list
    std::string stats_base_url;            // the cluster to read stats from; empty: api.base_url
    std::size_t batch_size = tts::batch_stats_max_ids;  // 1..100
    int max_retries = 3;
    std::size_t doctor_max = 0;
    std::optional<diag::doctor_options> doctor;  // base options for doctor_max runs (gateway is set per run)
    std::string journal_path;                    // optional: pending-check-in operations
    // Waits between retries of a 5xx / transport failure (attempt = 1, 2, …); nullptr: 250 ms × attempt.
    std::function<void(int attempt)> retry_wait;
    std::function<void(std::string_view)> progress;  // one line per step (optional)
};

struct status_result {
    std::vector<gateway_status> gateways;  // in the order asked (all: the list's order), IDs de-duplicated
    std::vector<pending_gateway> pending;
    std::map<std::string, std::size_t> counts;  // state name → gateways
    std::map<std::string, std::size_t> causes;  // cause id → not-connected gateways
    call_counts calls;
    // Set when the run could not get states at all (nothing else in the result is meaningful).
    std::optional<status_failure> failure;
    double elapsed_ms = 0;
    bool all_connected() const noexcept;
};

// Runs `fleet status`. Never throws.
status_result fleet_status(const status_options& options);

// The atoms a gateway's stats (and, when read, its record) give, as doctor's P2/P6 make them.
std::vector<diag::atom> stats_atoms(gateway_state s, const std::optional<tts::connection_stats>& stats, const tts::gateway* record,
                                    proto::time_point now);

// The pending-check-in operations (kinds "rotate" and "fleet") of a journal file. The file must
// exist (a status never creates one). Error: fleet.journal.
proto::basic_result<std::vector<pending_gateway>, status_failure> read_pending(const std::string& journal_path);

// JSON (docs/fleet.md "fleet status"): {"gateways":[…],"counts":{…},"causes":{…},"pending":[…],"api_calls":{…}}.
nlohmann::ordered_json to_json(const status_result& r);
// Reads that JSON back (fleet report --status). Error: fleet.bad_status_file.
proto::basic_result<status_result, status_failure> status_from_json(const nlohmann::json& j);

}  // namespace ttig::fleet
