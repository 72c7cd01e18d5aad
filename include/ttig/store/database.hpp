// A small RAII wrapper over SQLite. The store layer is the only place that includes <sqlite3.h>;
// this header keeps it out (the connection and statement handles live behind opaque impls).
//
//   auto db = store::database::open("state.db");            // or ":memory:"
//   auto st = db->prepare("SELECT doc FROM gateways WHERE gateway_id = ?1");
//   st->bind(1, "office-ttig");
//   while (auto row = st->step(); row && *row) use(st->column_text(0));
//
// Failures are values (proto::result, domain "store"). A file database runs in WAL mode with a
// busy timeout and foreign keys on. Not thread-safe: one database object per thread, or a lock.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/store/error.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ttig::store {

class database;

struct open_options {
    bool read_only = false;                            // open an existing file read-only
    std::chrono::milliseconds busy_timeout{5000};      // how long to wait for a lock held elsewhere
    bool wal = true;                                   // journal_mode=WAL for files (not for ":memory:")
};

// SQLite's storage class of a column value.
enum class column_type { integer, real, text, blob, null };

// A prepared statement. Parameter indexes are 1-based (SQLite's ?1, ?2, ...); column indexes
// are 0-based. Move-only. On destruction it is reset, its bindings cleared, and it goes back to
// its database's cache of compiled statements, which the next prepare() of the same SQL text
// reuses (finalized when the cache is full or the database is gone).
class statement {
public:
    statement(statement&&) noexcept;
    statement& operator=(statement&&) noexcept;
    ~statement();

    template <std::integral I>
    proto::result<void> bind(int index, I value) {
        return bind_int64(index, static_cast<std::int64_t>(value));
    }
    proto::result<void> bind(int index, double value);
    proto::result<void> bind(int index, std::string_view text);
    proto::result<void> bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    proto::result<void> bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    proto::result<void> bind(int index, std::nullopt_t) { return bind_null(index); }
    template <class T>
    proto::result<void> bind(int index, const std::optional<T>& value) {
        if (!value) return bind_null(index);
        return bind(index, *value);
    }
    proto::result<void> bind_int64(int index, std::int64_t value);
    proto::result<void> bind_blob(int index, proto::byte_view value);
    proto::result<void> bind_null(int index);

    // Runs one step: true when a row is available, false when the statement is done.
    proto::result<bool> step();
    // Steps until done (for statements that return no rows).
    proto::result<void> run();
    // Makes the statement runnable again; bindings are kept unless cleared.
    void reset() noexcept;
    void clear_bindings() noexcept;

    int column_count() const noexcept;
    column_type type(int column) const noexcept;
    bool is_null(int column) const noexcept { return type(column) == column_type::null; }
    std::int64_t column_int64(int column) const noexcept;  // 0 for NULL
    double column_double(int column) const noexcept;       // 0.0 for NULL
    std::string column_text(int column) const;             // "" for NULL
    proto::bytes column_blob(int column) const;            // empty for NULL
    std::optional<std::int64_t> column_optional_int64(int column) const noexcept;
    std::optional<std::string> column_optional_text(int column) const;
    std::string column_name(int column) const;

    // The SQL this statement was prepared from.
    std::string_view sql() const noexcept;

private:
    friend class database;
    struct impl;
    explicit statement(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

// RAII transaction: commit() makes the changes durable; destruction without commit rolls back.
// Nested transactions (begin() inside a transaction) are savepoints.
class transaction {
public:
    transaction(transaction&&) noexcept;
    transaction& operator=(transaction&&) = delete;
    ~transaction();

    proto::result<void> commit();
    proto::result<void> rollback();
    bool active() const noexcept { return db_ != nullptr; }

private:
    friend class database;
    transaction(database& db, std::string savepoint);
    database* db_;
    std::string savepoint_;  // empty: top-level BEGIN/COMMIT
};

class database {
public:
    // `path` is a file name, or ":memory:" for a private in-memory database.
    static proto::result<database> open(const std::string& path, open_options options = {});

    database(database&&) noexcept;
    database& operator=(database&&) noexcept;
    ~database();

    // Runs one or more ';'-separated statements that return no rows of interest.
    proto::result<void> exec(std::string_view sql);
    proto::result<statement> prepare(std::string_view sql);

    // BEGIN IMMEDIATE (or a SAVEPOINT when a transaction is already open).
    proto::result<transaction> begin();
    bool in_transaction() const noexcept;

    proto::result<std::int64_t> user_version();
    proto::result<void> set_user_version(std::int64_t version);

    std::int64_t last_insert_rowid() const noexcept;
    std::int64_t changes() const noexcept;  // rows changed by the last INSERT/UPDATE/DELETE
    // Rows changed by every INSERT/UPDATE/DELETE since the connection opened (rolled back ones
    // included): a generation number for caches of what was read through this connection.
    std::int64_t total_changes() const noexcept;
    const std::string& path() const noexcept;
    // Checkpoints the WAL into the main file (no-op for ":memory:").
    proto::result<void> checkpoint();

private:
    friend class transaction;
    struct impl;
    explicit database(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

// Schema migrations driven by PRAGMA user_version: step i (0-based) takes the schema from
// version i to i+1. Steps already applied are skipped; each step runs in its own transaction.
// A file whose user_version is larger than steps.size() gives store.schema_too_new.
proto::result<void> migrate(database& db, std::span<const std::string_view> steps);

}  // namespace ttig::store
