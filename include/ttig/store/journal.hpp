// A crash-safe journal of long-running provisioning work (rotate, fleet), in SQLite.
//
// One *operation* per unit of work (a rotation of one gateway), with a state name and a JSON
// document the caller owns (key IDs and names, old rights, server timestamps), plus an
// append-only list of *steps* (what was done, when, with details). Every write is one
// transaction: after a crash (kill -9 included) the journal holds either the state before or the
// state after a write, never half of it. Callers journal an intent before a call with side effects
// and the result after it, so a resume can tell "not started" from "maybe done".
//
// Never put a token or secret in a document or a step: the journal file is evidence that may be
// attached to a ticket. The file is created 0600.
#pragma once

#include <ttig/proto/error.hpp>
#include <ttig/store/database.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::store {

struct journal_op {
    std::int64_t id = 0;
    std::string kind;     // "rotate"
    std::string subject;  // "gateway:office-ttig"
    std::string state;    // the caller's state machine ("pending-check-in", "done", ...)
    nlohmann::json doc = nlohmann::json::object();
    std::string created_at, updated_at;  // wall-clock UTC, RFC 3339 (for people reading the file)
    bool finished = false;               // done, rolled back or abandoned: a resume skips it
};

struct journal_step {
    std::int64_t op_id = 0;
    std::int64_t seq = 0;
    std::string name;    // "cups.key.create"
    std::string status;  // "intent", "done", "failed", "waiting"
    nlohmann::json detail = nlohmann::json::object();
    std::string at;
};

class journal {
public:
    // Opens or creates the journal file (0600; the directory must exist). ":memory:" for tests.
    static proto::result<journal> open(const std::string& path);

    journal(journal&&) noexcept;
    journal& operator=(journal&&) noexcept;
    ~journal();

    // A new operation in `state` with `doc`.
    proto::result<journal_op> begin(std::string_view kind, std::string_view subject, std::string_view state, const nlohmann::json& doc);
    // The newest unfinished operation of `kind` on `subject`, if any.
    proto::result<std::optional<journal_op>> open_op(std::string_view kind, std::string_view subject);
    // The newest operation of `kind` on `subject` (finished or not).
    proto::result<std::optional<journal_op>> latest(std::string_view kind, std::string_view subject);
    proto::result<std::optional<journal_op>> get(std::int64_t op_id);
    // Every operation of `kind` (all subjects), oldest first; only unfinished ones if asked.
    proto::result<std::vector<journal_op>> ops(std::string_view kind, bool unfinished_only = false);

    // Atomically: the operation's new state and document, and one appended step.
    proto::result<void> record(journal_op& op, std::string_view state, const nlohmann::json& doc, const journal_step& step);
    // Marks the operation finished (with its final state), plus a step.
    proto::result<void> finish(journal_op& op, std::string_view state, const journal_step& step);
    proto::result<std::vector<journal_step>> steps(std::int64_t op_id);

    const std::string& path() const noexcept;
    // Writes (begin, record, finish) committed through this connection: a caller can tell whether
    // a piece of work made progress.
    std::uint64_t writes() const noexcept { return writes_; }

private:
    explicit journal(database db);
    database db_;
    std::uint64_t writes_ = 0;
};

}  // namespace ttig::store
