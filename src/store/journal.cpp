#include <ttig/store/journal.hpp>

#include <array>
#include <chrono>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace ttig::store {

namespace {

constexpr std::array<std::string_view, 1> schema{
    "CREATE TABLE journal_ops ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX journal_ops_subject ON journal_ops(kind, subject, id);"
    "CREATE TABLE journal_steps ("
    " op_id INTEGER NOT NULL REFERENCES journal_ops(id), seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY (op_id, seq));"};

std::string now_text() {
    const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
}

constexpr std::string_view op_columns = "id, kind, subject, state, doc, created_at, updated_at, finished";

journal_op read_op(const statement& st) {
    journal_op op;
    op.id = st.column_int64(0);
    op.kind = st.column_text(1);
    op.subject = st.column_text(2);
    op.state = st.column_text(3);
    op.doc = nlohmann::json::parse(st.column_text(4), nullptr, false);
    if (op.doc.is_discarded()) op.doc = nlohmann::json::object();
    op.created_at = st.column_text(5);
    op.updated_at = st.column_text(6);
    op.finished = st.column_int64(7) != 0;
    return op;
}

proto::result<std::optional<journal_op>> one_op(database& db, std::string_view sql, auto&&... binds) {
    auto st = db.prepare(sql);
    if (!st) return std::move(st).err();
    int i = 0;
    bool bound = true;
    ((bound = bound && st->bind(++i, binds).has_value()), ...);
    (void)bound;
    auto row = st->step();
    if (!row) return std::move(row).err();
    if (!*row) return std::optional<journal_op>{};
    return std::optional<journal_op>{read_op(*st)};
}

proto::result<void> append_step(database& db, std::int64_t op_id, const journal_step& s) {
    auto st = db.prepare(
        "INSERT INTO journal_steps (op_id, seq, name, status, detail, at) "
        "VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM journal_steps WHERE op_id = ?1), ?2, ?3, ?4, ?5)");
    if (!st) return std::move(st).err();
    (void)st->bind(1, op_id);
    (void)st->bind(2, s.name);
    (void)st->bind(3, s.status);
    (void)st->bind(4, s.detail.dump());
    (void)st->bind(5, s.at.empty() ? now_text() : s.at);
    return st->run();
}

}  // namespace

journal::journal(database db) : db_(std::move(db)) {}
journal::journal(journal&&) noexcept = default;
journal& journal::operator=(journal&&) noexcept = default;
journal::~journal() = default;

const std::string& journal::path() const noexcept { return db_.path(); }

proto::result<journal> journal::open(const std::string& path) {
    if (path != ":memory:") {
        // Create it 0600 before SQLite does (SQLite would use the umask).
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return proto::make_error(store_errc::open_failed, "cannot create journal {}: {}", path, std::error_code(errno, std::generic_category()).message());
        ::close(fd);
    }
    auto db = database::open(path);
    if (!db) return std::move(db).err();
    if (auto m = migrate(*db, schema); !m) return std::move(m).err();
    return journal(std::move(*db));
}

proto::result<journal_op> journal::begin(std::string_view kind, std::string_view subject, std::string_view state, const nlohmann::json& doc) {
    auto tx = db_.begin();
    if (!tx) return std::move(tx).err();
    auto st = db_.prepare("INSERT INTO journal_ops (kind, subject, state, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
    if (!st) return std::move(st).err();
    const auto now = now_text();
    (void)st->bind(1, kind);
    (void)st->bind(2, subject);
    (void)st->bind(3, state);
    (void)st->bind(4, doc.dump());
    (void)st->bind(5, now);
    if (auto r = st->run(); !r) return std::move(r).err();
    journal_op op;
    op.id = db_.last_insert_rowid();
    op.kind = kind;
    op.subject = subject;
    op.state = state;
    op.doc = doc;
    op.created_at = op.updated_at = now;
    if (auto r = append_step(db_, op.id, journal_step{op.id, 0, "begin", "done", {{"state", state}}, now}); !r) return std::move(r).err();
    if (auto c = tx->commit(); !c) return std::move(c).err();
    ++writes_;
    return op;
}

proto::result<std::optional<journal_op>> journal::open_op(std::string_view kind, std::string_view subject) {
    return one_op(db_, fmt::format("SELECT {} FROM journal_ops WHERE kind = ?1 AND subject = ?2 AND finished = 0 ORDER BY id DESC LIMIT 1", op_columns), kind,
                  subject);
}

proto::result<std::optional<journal_op>> journal::latest(std::string_view kind, std::string_view subject) {
    return one_op(db_, fmt::format("SELECT {} FROM journal_ops WHERE kind = ?1 AND subject = ?2 ORDER BY id DESC LIMIT 1", op_columns), kind, subject);
}

proto::result<std::optional<journal_op>> journal::get(std::int64_t op_id) {
    return one_op(db_, fmt::format("SELECT {} FROM journal_ops WHERE id = ?1", op_columns), op_id);
}

proto::result<std::vector<journal_op>> journal::ops(std::string_view kind, bool unfinished_only) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM journal_ops WHERE kind = ?1 {} ORDER BY id", op_columns,
                                      unfinished_only ? "AND finished = 0" : ""));
    if (!st) return std::move(st).err();
    (void)st->bind(1, kind);
    std::vector<journal_op> out;
    for (;;) {
        auto row = st->step();
        if (!row) return std::move(row).err();
        if (!*row) break;
        out.push_back(read_op(*st));
    }
    return out;
}

proto::result<void> journal::record(journal_op& op, std::string_view state, const nlohmann::json& doc, const journal_step& step) {
    auto tx = db_.begin();
    if (!tx) return std::move(tx).err();
    const auto now = now_text();
    auto st = db_.prepare("UPDATE journal_ops SET state = ?2, doc = ?3, updated_at = ?4 WHERE id = ?1");
    if (!st) return std::move(st).err();
    (void)st->bind(1, op.id);
    (void)st->bind(2, state);
    (void)st->bind(3, doc.dump());
    (void)st->bind(4, now);
    if (auto r = st->run(); !r) return std::move(r).err();
    if (auto r = append_step(db_, op.id, step); !r) return std::move(r).err();
    if (auto c = tx->commit(); !c) return std::move(c).err();
    ++writes_;
    op.state = state;
    op.doc = doc;
    op.updated_at = now;
    return {};
}

proto::result<void> journal::finish(journal_op& op, std::string_view state, const journal_step& step) {
    auto tx = db_.begin();
    if (!tx) return std::move(tx).err();
    auto st = db_.prepare("UPDATE journal_ops SET state = ?2, finished = 1, updated_at = ?3 WHERE id = ?1");
    if (!st) return std::move(st).err();
    const auto now = now_text();
    (void)st->bind(1, op.id);
    (void)st->bind(2, state);
    (void)st->bind(3, now);
    if (auto r = st->run(); !r) return std::move(r).err();
    if (auto r = append_step(db_, op.id, step); !r) return std::move(r).err();
    if (auto c = tx->commit(); !c) return std::move(c).err();
    ++writes_;
    op.state = state;
    op.finished = true;
    op.updated_at = now;
    return {};
}

proto::result<std::vector<journal_step>> journal::steps(std::int64_t op_id) {
    auto st = db_.prepare("SELECT op_id, seq, name, status, detail, at FROM journal_steps WHERE op_id = ?1 ORDER BY seq");
    if (!st) return std::move(st).err();
    (void)st->bind(1, op_id);
    std::vector<journal_step> out;
    for (;;) {
        auto row = st->step();
        if (!row) return std::move(row).err();
        if (!*row) break;
        journal_step s;
        s.op_id = st->column_int64(0);
        s.seq = st->column_int64(1);
        s.name = st->column_text(2);
        s.status = st->column_text(3);
        s.detail = nlohmann::json::parse(st->column_text(4), nullptr, false);
        if (s.detail.is_discarded()) s.detail = nlohmann::json::object();
        s.at = st->column_text(5);
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace ttig::store
