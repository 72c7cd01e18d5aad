// `ttigctl fleet report`: a fleet run's journal (and/or a `fleet status --json` result) as JSON,
// CSV and a self-contained HTML page with inline SVG charts (docs/fleet.md "fleet report"):
//  - connected vs disconnected over the run, from the journal's step times;
//  - causes by count (failed steps and operations of the journal, not-connected gateways of the status);
//  - the slowest steps (time from the operation's previous step, or its start, to the step).
// The HTML loads nothing (no http(s) URL, no script): a Content-Security-Policy of default-src 'none'.
#pragma once

#include <ttig/fleet/status.hpp>
#include <ttig/store/journal.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ttig::fleet {

struct report_step {
    std::string gateway_id;
    std::string kind;    // the operation's kind ("fleet", "rotate")
    std::string name;    // the step's name ("cups.install")
    std::string status;  // "intent", "done", "failed", "waiting"
    std::string at;      // RFC 3339
    double seconds = 0;  // since the operation's previous step (or its start)
};

struct report_gateway {
    std::string gateway_id;
    std::string kind;       // "fleet" / "rotate", or "" when only in the status
    std::string op_state;   // the journal operation's state ("done", "pending-check-in", …)
    bool finished = false;
    std::string connection;  // "connected", "disconnected" or "" (unknown) per the journal's last telling step
    std::string status_state;  // the status file's state, or ""
    std::string cause;        // a failed step's / op's cause id, else the status's cause
    std::size_t steps = 0;
    std::string started_at, updated_at;
    double duration_s = 0;  // started → last step
};

// One moment of the run: how many gateways were connected / disconnected / not yet known.
struct timeline_point {
    std::string at;
    std::size_t connected = 0, disconnected = 0, unknown = 0;
};

struct fleet_report {
    std::string journal;      // the journal file, or ""
    std::string status_file;  // the status file, or ""
    std::vector<nlohmann::json> runs;  // the "fleet-run" operations: {id, state, created_at, updated_at, finished, doc}
    std::vector<report_gateway> gateways;  // sorted by gateway ID
    std::vector<timeline_point> timeline;  // in time order
    std::map<std::string, std::size_t> causes;
    std::vector<report_step> slowest;      // at most 10, slowest first
    std::map<std::string, std::size_t> status_counts;  // from the status file
    std::size_t status_api_calls = 0;
};

struct report_input {
    std::string journal_path;  // optional if status is given
    std::string status_path;   // optional `fleet status --json` output
};

// Reads the journal (kinds "fleet", "rotate" and "fleet-run") and the status file.
// Errors: fleet.journal (missing/unreadable journal), fleet.bad_status_file.
proto::basic_result<fleet_report, status_failure> build_report(const report_input& in);
// The same from values (tests, and callers that hold a status result).
struct journal_entry {
    store::journal_op op;
    std::vector<store::journal_step> steps;
};
fleet_report build_report(const std::vector<journal_entry>& ops, const status_result* status);

nlohmann::ordered_json to_json(const fleet_report& r);
// One line per gateway: gateway_id,kind,op_state,finished,connection,status_state,cause,steps,started_at,updated_at,duration_s.
std::string to_csv(const fleet_report& r);
std::string to_html(const fleet_report& r);

// Writes report.json, report.csv and report.html into `dir` (created if missing; each file through
// a temp file and a rename). Error: fleet.report_output.
proto::basic_result<void, status_failure> write_report(const fleet_report& r, const std::filesystem::path& dir);

}  // namespace ttig::fleet
