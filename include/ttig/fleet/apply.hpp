// fleet apply: the actions of a manifest on many gateways, as fast as the server's rate limit
// allows, journaled so that a run resumes after any crash and a retried step never duplicates a
// key or a gateway (docs/fleet.md).
//
// Each row's actions run in a fixed order (claim, set-gs, rotate / move), each as an idempotent
// step: a claim re-run reports "already", an address update writes the same value, a rotation
// resumes from its own journal (provision/rotate.hpp). So a step is retried whole after a transient
// failure (5xx, reset, timeout) with exponential back-off and full jitter; `max_attempts` attempts
// that made no journaled progress fail the row. A 429 is retried at once (the shared limiter has
// paused every worker) and not counted. A rotation that waits for its station parks the row in pending-check-in and
// the run goes on; `--resume` later picks it up.
//
// Journal (store::journal, one SQLite file, one connection per worker): op kind "fleet", subject
// "gateway:<id>", document {"line", "actions": {"claim": "done", "set_gs": "done", "rotate":
// "pending", ...}, "previous_gs_address"}; plus rotate's own "rotate" ops. Never a token.
#pragma once

#include <ttig/fleet/limiter.hpp>
#include <ttig/fleet/manifest.hpp>
#include <ttig/net/client_config.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/tts/client.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ttig::fleet {

struct apply_options {
    std::string journal_path;          // required (a file; ":memory:" is not shared between workers)
    std::size_t concurrency = 8;       // workers (gateways in flight)
    double max_rate = 0;               // requests per second, all workers together; 0: adaptive only
    std::size_t canary = 0;            // > 0: apply this many rows (not yet done), then stop
    int max_attempts = 6;              // per step, transient failures included
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{30000};
    std::string default_gs_address;    // claim rows without a cluster: this address (else the --tts host)
    std::uint64_t seed = 0;            // jitter RNG (0: random)
};

enum class row_status { done, pending, failed, skipped, not_started };
std::string_view to_string(row_status s) noexcept;

struct row_outcome {
    std::string gateway_id;
    std::string where;  // manifest file:line
    row_status status = row_status::not_started;
    std::vector<std::string> done;  // actions completed (this run or before)
    std::string error_id, message;  // failed: the cause; pending: what it waits for
    std::size_t attempts = 0;       // step runs, retries included
    double ms = 0;                  // time spent on this row in this run
};

struct apply_progress {
    std::size_t rows = 0, finished = 0, done = 0, pending = 0, failed = 0;
    std::size_t requests = 0, throttled = 0, retries = 0;
    double elapsed_s = 0, rate = 0;  // requests per second so far
};

struct apply_env {
    tts::client_options api;  // the caller's options (base URL = the Identity Server)
    net::client_config net;   // for rotate's /router-info check
    const proto::clock* clock = nullptr;  // nullptr: system
    std::function<void(std::chrono::nanoseconds)> sleep;  // nullptr: this_thread::sleep_for
    std::function<void(const apply_progress&, const row_outcome*)> progress;  // after each row (any thread, serialized)
    std::atomic<bool>* stop = nullptr;  // set (Ctrl-C): workers finish their current step and stop
    // Test hook: after every journal write of the fleet op (any thread).
    std::function<void()> after_journal;
};

struct apply_result {
    std::vector<row_outcome> rows;  // manifest order
    std::size_t done = 0, pending = 0, failed = 0, not_started = 0;
    std::size_t requests = 0, throttled = 0, retries = 0;
    double elapsed_s = 0;
    bool stopped = false;   // Ctrl-C
    bool canary = false;    // stopped after the canary rows
    std::string error;      // the run could not start (journal)
};

apply_result apply(const manifest& m, const apply_options& o, apply_env& env);

struct rollback_result {
    std::vector<std::string> undone;      // one line per change undone
    std::vector<std::string> not_undone;  // one line per change that cannot be undone, with why
    std::string error;
};
// Undoes what can be undone from a fleet journal: unfinished rotations are rolled back (old keys
// get their rights back), Gateway Server addresses set by the run are set back. Claims stay (an
// unclaim would release the device); finished rotations stay (their old keys are deleted).
rollback_result rollback(const std::string& journal_path, apply_env& env);

nlohmann::ordered_json to_json(const apply_result& r);

}  // namespace ttig::fleet
