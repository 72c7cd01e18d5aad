#include <ttig/store/database.hpp>

#include <sqlite3.h>

#include <fmt/format.h>

#include <string>
#include <unordered_map>
#include <utility>

namespace ttig::store {

namespace {

store_errc classify(int rc) noexcept {
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return store_errc::constraint;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return store_errc::busy;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY: return store_errc::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return store_errc::corrupt;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH: return store_errc::open_failed;
    default: return store_errc::sql_error;
    }
}

// The first words of a statement, for error details: enough to recognise it, never the values
// (statements bind their values, so the SQL text holds no secrets).
std::string sql_head(std::string_view sql) {
    std::string out;
    int words = 0;
    bool in_space = true;
    for (char c : sql) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (space) {
            if (!in_space) {
                if (++words == 6) break;
                out += ' ';
            }
            in_space = true;
            continue;
        }
        in_space = false;
        out += c;
        if (out.size() >= 60) break;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() < sql.size()) out += " ...";
    return out;
}

proto::error sqlite_error(sqlite3* db, int rc, std::string_view sql) {
    const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (sql.empty()) return proto::make_error(classify(rc), "{}", msg);
    return proto::make_error(classify(rc), "{} (in: {})", msg, sql_head(sql));
}

}  // namespace

// ---- statement cache ----------------------------------------------------------------------------

// Compiled statements that are not in use, by SQL text. prepare() takes one when there is one; a
// statement going out of scope is reset, its bindings cleared, and it comes back here instead of
// being finalized (compiling a statement costs more than running a simple indexed query). The
// database finalizes what is left before it closes; a statement that outlives its database
// finalizes itself.
struct statement_cache {
    static constexpr std::size_t limit = 256;
    bool open = true;
    std::unordered_multimap<std::string, sqlite3_stmt*> idle;

    void finalize_all() noexcept {
        for (auto& [sql, stmt] : idle) sqlite3_finalize(stmt);
        idle.clear();
        open = false;
    }
    ~statement_cache() { finalize_all(); }
};

// ---- statement ----------------------------------------------------------------------------------

struct statement::impl {
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    std::string sql;
    std::shared_ptr<statement_cache> cache;
    ~impl() {
        if (!stmt) return;
        if (cache && cache->open && cache->idle.size() < statement_cache::limit) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            cache->idle.emplace(std::move(sql), stmt);
            return;
        }
        sqlite3_finalize(stmt);
    }
};

statement::statement(std::unique_ptr<impl> p) : p_(std::move(p)) {}
statement::statement(statement&&) noexcept = default;
statement& statement::operator=(statement&&) noexcept = default;
statement::~statement() = default;

proto::result<void> statement::bind_int64(int index, std::int64_t value) {
    const int rc = sqlite3_bind_int64(p_->stmt, index, value);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, p_->sql);
    return {};
}

proto::result<void> statement::bind(int index, double value) {
    const int rc = sqlite3_bind_double(p_->stmt, index, value);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, p_->sql);
    return {};
}

proto::result<void> statement::bind(int index, std::string_view text) {
    const int rc = sqlite3_bind_text64(p_->stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, p_->sql);
    return {};
}

proto::result<void> statement::bind_blob(int index, proto::byte_view value) {
    static const std::uint8_t empty = 0;
    const int rc = sqlite3_bind_blob64(p_->stmt, index, value.empty() ? &empty : value.data(), value.size(),
                                       SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, p_->sql);
    return {};
}

proto::result<void> statement::bind_null(int index) {
    const int rc = sqlite3_bind_null(p_->stmt, index);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, p_->sql);
    return {};
}

proto::result<bool> statement::step() {
    const int rc = sqlite3_step(p_->stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    auto err = sqlite_error(p_->db, rc, p_->sql);
    sqlite3_reset(p_->stmt);
    return err;
}

proto::result<void> statement::run() {
    for (;;) {
        auto r = step();
        if (!r) return r.err();
        if (!*r) return {};
    }
}

void statement::reset() noexcept { sqlite3_reset(p_->stmt); }
void statement::clear_bindings() noexcept { sqlite3_clear_bindings(p_->stmt); }

int statement::column_count() const noexcept { return sqlite3_column_count(p_->stmt); }

column_type statement::type(int column) const noexcept {
    switch (sqlite3_column_type(p_->stmt, column)) {
    case SQLITE_INTEGER: return column_type::integer;
    case SQLITE_FLOAT: return column_type::real;
    case SQLITE_TEXT: return column_type::text;
    case SQLITE_BLOB: return column_type::blob;
    default: return column_type::null;
    }
}

std::int64_t statement::column_int64(int column) const noexcept { return sqlite3_column_int64(p_->stmt, column); }
double statement::column_double(int column) const noexcept { return sqlite3_column_double(p_->stmt, column); }

std::string statement::column_text(int column) const {
    const auto* text = sqlite3_column_text(p_->stmt, column);
    const int n = sqlite3_column_bytes(p_->stmt, column);
    if (!text) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

proto::bytes statement::column_blob(int column) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(p_->stmt, column));
    const int n = sqlite3_column_bytes(p_->stmt, column);
    if (!data || n <= 0) return {};
    return proto::bytes(data, data + n);
}

std::optional<std::int64_t> statement::column_optional_int64(int column) const noexcept {
    if (is_null(column)) return std::nullopt;
    return column_int64(column);
}

std::optional<std::string> statement::column_optional_text(int column) const {
    if (is_null(column)) return std::nullopt;
    return column_text(column);
}

std::string statement::column_name(int column) const {
    const char* n = sqlite3_column_name(p_->stmt, column);
    return n ? n : "";
}

std::string_view statement::sql() const noexcept { return p_->sql; }

// ---- database -----------------------------------------------------------------------------------

struct database::impl {
    sqlite3* db = nullptr;
    std::string path;
    int savepoints = 0;
    std::shared_ptr<statement_cache> cache = std::make_shared<statement_cache>();
    ~impl() {
        cache->finalize_all();
        if (db) sqlite3_close_v2(db);
    }
};

database::database(std::unique_ptr<impl> p) : p_(std::move(p)) {}
database::database(database&&) noexcept = default;
database& database::operator=(database&&) noexcept = default;
database::~database() = default;

proto::result<database> database::open(const std::string& path, open_options options) {
    auto p = std::make_unique<impl>();
    p->path = path;
    const int flags = (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                      SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &p->db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc);
        return proto::make_error(store_errc::open_failed, "{}: {}", path, msg);
    }
    sqlite3_extended_result_codes(p->db, 1);
    sqlite3_busy_timeout(p->db, static_cast<int>(options.busy_timeout.count()));
    database db(std::move(p));
    // Reading the schema is the first real access: a file that is not a database fails here.
    if (auto r = db.exec("PRAGMA foreign_keys = ON"); !r) {
        return proto::make_error(store_errc::open_failed, "{}: {}", path, r.err().detail);
    }
    if (auto r = db.user_version(); !r) {
        return proto::make_error(r.err().code == make_error_code(store_errc::corrupt) ? store_errc::corrupt
                                                                                       : store_errc::open_failed,
                                 "{}: {}", path, r.err().detail);
    }
    const bool memory = path.empty() || path == ":memory:" || path.rfind("file::memory:", 0) == 0;
    if (options.wal && !memory && !options.read_only) {
        if (auto r = db.exec("PRAGMA journal_mode = WAL"); !r) return r.err();
        if (auto r = db.exec("PRAGMA synchronous = NORMAL"); !r) return r.err();
    }
    return db;
}

proto::result<void> database::exec(std::string_view sql) {
    const std::string text(sql);
    char* errmsg = nullptr;
    const int rc = sqlite3_exec(p_->db, text.c_str(), nullptr, nullptr, &errmsg);
    if (rc != SQLITE_OK) {
        std::string msg = errmsg ? errmsg : sqlite3_errmsg(p_->db);
        sqlite3_free(errmsg);
        return proto::make_error(classify(rc), "{} (in: {})", msg, sql_head(sql));
    }
    return {};
}

proto::result<statement> database::prepare(std::string_view sql) {
    auto s = std::make_unique<statement::impl>();
    s->db = p_->db;
    s->sql = std::string(sql);
    s->cache = p_->cache;
    if (auto it = p_->cache->idle.find(s->sql); it != p_->cache->idle.end()) {
        s->stmt = it->second;
        p_->cache->idle.erase(it);
        return statement(std::move(s));
    }
    const int rc = sqlite3_prepare_v2(p_->db, s->sql.c_str(), static_cast<int>(s->sql.size()), &s->stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, sql);
    if (!s->stmt) return proto::make_error(store_errc::sql_error, "empty statement (in: {})", sql_head(sql));
    return statement(std::move(s));
}

bool database::in_transaction() const noexcept { return sqlite3_get_autocommit(p_->db) == 0; }

proto::result<transaction> database::begin() {
    if (in_transaction()) {
        std::string name = fmt::format("ttig_sp_{}", ++p_->savepoints);
        if (auto r = exec("SAVEPOINT " + name); !r) return r.err();
        return transaction(*this, std::move(name));
    }
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r.err();
    return transaction(*this, {});
}

proto::result<std::int64_t> database::user_version() {
    auto st = prepare("PRAGMA user_version");
    if (!st) return st.err();
    auto row = st->step();
    if (!row) return row.err();
    if (!*row) return proto::make_error(store_errc::bad_column, "PRAGMA user_version returned no row");
    return st->column_int64(0);
}

proto::result<void> database::set_user_version(std::int64_t version) {
    return exec(fmt::format("PRAGMA user_version = {}", version));
}

std::int64_t database::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(p_->db); }
std::int64_t database::changes() const noexcept { return sqlite3_changes64(p_->db); }
std::int64_t database::total_changes() const noexcept { return sqlite3_total_changes64(p_->db); }
const std::string& database::path() const noexcept { return p_->path; }

proto::result<void> database::checkpoint() {
    const int rc = sqlite3_wal_checkpoint_v2(p_->db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(p_->db, rc, "PRAGMA wal_checkpoint");
    return {};
}

// ---- transaction --------------------------------------------------------------------------------

transaction::transaction(database& db, std::string savepoint) : db_(&db), savepoint_(std::move(savepoint)) {}

transaction::transaction(transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)), savepoint_(std::move(o.savepoint_)) {}

transaction::~transaction() {
    if (db_) (void)rollback();
}

proto::result<void> transaction::commit() {
    if (!db_) return proto::make_error(store_errc::sql_error, "transaction already finished");
    database* db = std::exchange(db_, nullptr);
    if (savepoint_.empty()) return db->exec("COMMIT");
    return db->exec("RELEASE " + savepoint_);
}

proto::result<void> transaction::rollback() {
    if (!db_) return {};
    database* db = std::exchange(db_, nullptr);
    if (savepoint_.empty()) {
        if (!db->in_transaction()) return {};  // SQLite already rolled back (e.g. after SQLITE_FULL)
        return db->exec("ROLLBACK");
    }
    if (auto r = db->exec("ROLLBACK TO " + savepoint_); !r) return r;
    return db->exec("RELEASE " + savepoint_);
}

// ---- migrations ---------------------------------------------------------------------------------

proto::result<void> migrate(database& db, std::span<const std::string_view> steps) {
    auto v = db.user_version();
    if (!v) return v.err();
    const auto known = static_cast<std::int64_t>(steps.size());
    if (*v > known) {
        return proto::make_error(store_errc::schema_too_new, "{}: user_version {} but this program knows {}", db.path(), *v,
                                 known);
    }
    for (std::int64_t i = *v; i < known; ++i) {
        auto tx = db.begin();
        if (!tx) return tx.err();
        if (auto r = db.exec(steps[static_cast<std::size_t>(i)]); !r) {
            return proto::error{r.err().code, fmt::format("migration {} -> {}: {}", i, i + 1, r.err().detail)};
        }
        if (auto r = db.set_user_version(i + 1); !r) return r.err();
        if (auto r = tx->commit(); !r) return r.err();
    }
    return {};
}

}  // namespace ttig::store
