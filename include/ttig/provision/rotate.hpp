// Rotating a Basics Station gateway's CUPS and LNS keys (and moving it to another cluster) through
// The Things Stack without ever leaving the station without a working path home.
//
// Designed from what TTS's CUPS server does (tts-api.md §4.8 rotation recipe, basicstation-protocol
// §1 update-info branches): while `target_cups_key` is set, CUPS answers with CUPS credentials only
// (branch B, no LNS data); a station whose TC is connected asks CUPS every 24 h (a TTIG at once
// after a RESET); TTS writes the `cups-last-seen` attribute after every successful update-info.
//
// The steps, each journaled (store::journal) before and after its call:
//
//   preflight         read the record, the caller's rights and the keys; the keys that are exactly
//                     the Console's CUPS set (INFO, SETTINGS_BASIC, READ_SECRETS) or LNS set
//                     (INFO, LINK) are the old keys, their rights are journaled
//   cups.create       new CUPS key (name cups-key-ttigctl-<6 hex>; intent journaled with the name)
//   cups.verify       /api/v3/auth_info with the new key: The Things Stack accepts it with its rights
//   cups.install      target_cups_key = new key                     -> t_install (server time)
//   check-in 1        cups-last-seen > t_install: the station received the new CUPS key
//   cups.disable      old CUPS keys reduced to RIGHT_GATEWAY_INFO (reversible; CUPS needs 3 rights)
//   lns.create        new LNS key (lns-key-ttigctl-<6 hex>)
//   lns.verify        /router-info on the target Gateway Server with the new key (never /traffic)
//   cutover           one update: target_cups_key cleared, lbs_lns_secret = new LNS key,
//                     gateway_server_address = --move-to                      -> t_cutover
//   check-in 2        cups-last-seen > t_cutover: with the old CUPS keys disabled only the new one
//                     can have made it (proof of the CUPS key); it also delivered the LNS key
//   lns.connected     connection stats on the target cluster: connected since check-in 2 (the
//                     station restarts TC after a CUPS update): proof of the LNS key
//   lns.disable       old LNS keys reduced to RIGHT_GATEWAY_INFO (a second client still using one
//                     fails at its next connect or the Gateway Server's 10-minute re-read)
//   cups.delete, lns.delete   the old keys, only now
//
// --cups alone skips the LNS steps (the cutover only clears target_cups_key); --lns alone skips the
// CUPS steps (check-in 1 too). A wait is the state `pending-check-in`: run again to resume. A resume
// that finds a created but uninstalled key deletes it (and any orphan with the intended name, from a
// crash between the create call and its journal entry) and creates another. Rollback (until the old
// keys are deleted) restores the old keys' rights, clears target_cups_key, and deletes the new keys
// the station cannot have received; keys it may hold stay valid.
//
// Every key creation and rights update e-mails the gateway's administrative contact (tts-api.md
// §4.8). Tokens never reach the journal, the report or the log: only key IDs and names.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/store/journal.hpp>
#include <ttig/tts/client.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ttig::provision {

struct rotate_options {
    std::string gateway_id;
    bool cups = true;
    bool lns = true;
    std::string move_to;  // new gateway_server_address (host[:port] or scheme://host:port); empty: unchanged
    std::string key_name_suffix;  // test hook: a fixed suffix instead of 6 random hex digits
};

struct rotate_event {
    std::string step;    // "cups.create"
    std::string status;  // "intent", "done", "waiting", "failed", "skipped"
    std::string text;    // one line for a person (no secrets)
};

// What rotate needs from the outside world. Time and sleep are injected (tests drive them).
struct rotate_env {
    tts::client_options api;       // the caller's client options (base URL = the Identity Server)
    net::client_config net;        // TLS and --resolve for the /router-info check
    store::journal* journal = nullptr;
    const proto::clock* clock = nullptr;  // the tool's clock for --wait (nullptr: system)
    std::function<void(std::chrono::nanoseconds)> sleep;  // nullptr: this_thread::sleep_for
    std::chrono::nanoseconds poll_interval = std::chrono::seconds(5);
    std::function<void(const rotate_event&)> progress;   // optional
    // Test hook: called after every journal write with the step name; a test can crash the process there.
    std::function<void(const std::string&)> after_journal;
};

enum class rotate_status {
    done,         // rotated and proven: only the new keys are valid
    pending,      // pending-check-in: waiting for the station; run again (or --wait) to resume
    failed,       // stopped by an error; the station keeps a working path (see message)
    rolled_back,  // --rollback finished
    planned,      // --dry-run
};
std::string_view to_string(rotate_status s) noexcept;

struct rotate_result {
    rotate_status status = rotate_status::failed;
    std::string state;        // the journal state
    std::string waiting_for;  // pending: what the station has to do, in words
    std::string error_id;     // failed: rotate.* or tts.<ns>:<name>
    std::string message;      // failed: one line
    bool transient = false;   // failed for a passing reason (HTTP 5xx or 429, a transport error): run again
    std::vector<std::string> plan;  // planned: one line per call, no secrets
    std::vector<std::string> warnings;
    nlohmann::ordered_json journal_doc;  // the operation's document (key IDs, names, times)
    std::vector<store::journal_step> steps;
    std::size_t api_calls = 0;   // calls that did or proved something
    std::size_t poll_calls = 0;  // calls of looks that found the station still to come (waiting)
    double tool_ms = 0;          // wall time of this run, waits for the station (sleeps and such looks) excluded
};

// Starts a rotation of the gateway, or resumes its unfinished one, and runs until done, failed, or
// (waiting for the station) until `wait` has passed on the env's clock (0: look once).
rotate_result rotate(const rotate_options& o, rotate_env& env, std::chrono::nanoseconds wait);

// The calls rotate would make, without making any change (reads the record and the keys).
rotate_result plan_rotation(const rotate_options& o, rotate_env& env);

// Undoes the unfinished rotation of the gateway (see above).
rotate_result rollback_rotation(const std::string& gateway_id, rotate_env& env);

nlohmann::ordered_json to_json(const rotate_result& r);

}  // namespace ttig::provision
