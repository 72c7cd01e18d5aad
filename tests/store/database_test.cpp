// Tests for the store layer: the SQLite RAII wrapper, transactions, migrations, error ids.
#include <doctest/doctest.h>

#include <ttig/store/database.hpp>
#include <ttig/store/error.hpp>

#include "support/run_cli.hpp"

#include <array>
#include <filesystem>
#include <set>
#include <string>

using namespace ttig;

namespace {

template <class T>
std::string id_of(const proto::result<T>& r) {
    return r ? std::string("ok") : r.err().id();
}

store::database mem() {
    auto db = store::database::open(":memory:");
    REQUIRE_MESSAGE(db.has_value(), (db ? "" : db.err().what()));
    return std::move(*db);
}

}  // namespace

TEST_SUITE("store") {
    TEST_CASE("store errors: ids are unique, prefixed, values start at 1, messages present") {
        std::set<std::string> ids;
        for (const proto::table_category* cat : store::categories()) {
            CHECK(cat->domain() == "store");
            int expected = 1;
            for (const auto& e : cat->entries()) {
                CAPTURE(e.name);
                CHECK(e.value == expected++);
                CHECK_FALSE(e.message.empty());
                CHECK(ids.insert(cat->id(e.value)).second);
            }
        }
        for (const char* id : {"store.open_failed", "store.sql_error", "store.constraint", "store.busy",
                               "store.schema_too_new"})
            CHECK(ids.count(id) == 1);
        CHECK(proto::make_error(store::store_errc::busy, "x").what() == "[store.busy] database is locked: x");
    }

    TEST_CASE("bind and read every column type") {
        auto db = mem();
        REQUIRE(db.exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)"));
        auto ins = db.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)");
        REQUIRE(ins);
        REQUIRE(ins->bind(1, std::int64_t{-9007199254740993}));
        REQUIRE(ins->bind(2, 2.5));
        REQUIRE(ins->bind(3, std::string("h\0llo", 5)));
        const proto::bytes blob{0, 1, 2, 255};
        REQUIRE(ins->bind_blob(4, blob));
        REQUIRE(ins->bind(5, std::nullopt));
        REQUIRE(ins->run());
        CHECK(db.changes() == 1);
        CHECK(db.last_insert_rowid() == 1);

        auto sel = db.prepare("SELECT i, r, s, b, n FROM t");
        REQUIRE(sel);
        auto row = sel->step();
        REQUIRE(row);
        REQUIRE(*row);
        CHECK(sel->column_count() == 5);
        CHECK(sel->type(0) == store::column_type::integer);
        CHECK(sel->column_int64(0) == -9007199254740993);
        CHECK(sel->type(1) == store::column_type::real);
        CHECK(sel->column_double(1) == 2.5);
        CHECK(sel->column_text(2) == std::string("h\0llo", 5));
        CHECK(sel->column_blob(3) == blob);
        CHECK(sel->is_null(4));
        CHECK_FALSE(sel->column_optional_text(4).has_value());
        CHECK(sel->column_optional_int64(0) == -9007199254740993);
        CHECK(sel->column_name(2) == "s");
        auto done = sel->step();
        REQUIRE(done);
        CHECK_FALSE(*done);
    }

    TEST_CASE("optional and integral bind overloads, reset re-runs") {
        auto db = mem();
        REQUIRE(db.exec("CREATE TABLE t (v INTEGER)"));
        auto ins = db.prepare("INSERT INTO t VALUES (?1)");
        REQUIRE(ins);
        std::optional<int> none;
        REQUIRE(ins->bind(1, none));
        REQUIRE(ins->run());
        ins->reset();
        REQUIRE(ins->bind(1, std::optional<int>(7)));
        REQUIRE(ins->run());
        ins->reset();
        REQUIRE(ins->bind(1, true));
        REQUIRE(ins->run());
        auto sum = db.prepare("SELECT count(*), sum(v) FROM t");
        REQUIRE(sum);
        REQUIRE(*sum->step());
        CHECK(sum->column_int64(0) == 3);
        CHECK(sum->column_int64(1) == 8);
    }

    TEST_CASE("statement cache: a reused statement starts fresh, outlives nothing, survives schema changes") {
        auto db = mem();
        REQUIRE(db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"));
        REQUIRE(db.exec("INSERT INTO t VALUES ('a', 1), ('b', 2)"));
        const char* sql = "SELECT v FROM t WHERE k = ?1";
        {
            auto st = db.prepare(sql);
            REQUIRE(st);
            REQUIRE(st->bind(1, "b"));
            REQUIRE(*st->step());  // left mid-result: the cache must reset it
            CHECK(st->column_int64(0) == 2);
        }
        {
            // The same SQL again: bindings were cleared (NULL matches nothing) and it runs again.
            auto st = db.prepare(sql);
            REQUIRE(st);
            CHECK_FALSE(*st->step());
            st->reset();
            REQUIRE(st->bind(1, "a"));
            REQUIRE(*st->step());
            CHECK(st->column_int64(0) == 1);
            // Two statements of the same SQL in use at once are distinct.
            auto other = db.prepare(sql);
            REQUIRE(other);
            REQUIRE(other->bind(1, "b"));
            REQUIRE(*other->step());
            CHECK(other->column_int64(0) == 2);
            CHECK(st->column_int64(0) == 1);
        }
        // A schema change does not break cached statements (SQLite recompiles them).
        REQUIRE(db.exec("ALTER TABLE t ADD COLUMN w INTEGER"));
        REQUIRE(db.exec("CREATE INDEX t_v ON t (v)"));
        auto st = db.prepare(sql);
        REQUIRE(st);
        REQUIRE(st->bind(1, "a"));
        REQUIRE(*st->step());
        CHECK(st->column_int64(0) == 1);
        // A statement that outlives its database is finalized by itself (ASan/leak checks).
        auto kept = db.prepare("SELECT count(*) FROM t");
        REQUIRE(kept);
        { auto moved = std::move(db); }
    }

    TEST_CASE("errors are values with SQLite's message and the SQL's first words") {
        auto db = mem();
        auto bad = db.prepare("SELEKT 1");
        CHECK(id_of(bad) == "store.sql_error");
        CHECK(bad.err().detail.find("syntax error") != std::string::npos);
        CHECK(bad.err().detail.find("(in: SELEKT 1)") != std::string::npos);

        auto missing = db.prepare("SELECT a, b, c FROM no_such_table WHERE a = 1 AND b = 2");
        CHECK(id_of(missing) == "store.sql_error");
        CHECK(missing.err().detail.find("no such table: no_such_table") != std::string::npos);
        CHECK(missing.err().detail.find("(in: SELECT a, b, c FROM no_such_table ...)") != std::string::npos);

        REQUIRE(db.exec("CREATE TABLE u (k TEXT PRIMARY KEY)"));
        REQUIRE(db.exec("INSERT INTO u VALUES ('a')"));
        auto dup = db.exec("INSERT INTO u VALUES ('a')");
        CHECK(id_of(dup) == "store.constraint");
        CHECK(dup.err().detail.find("UNIQUE constraint failed: u.k") != std::string::npos);

        auto st = db.prepare("INSERT INTO u VALUES (?1)");
        REQUIRE(st);
        REQUIRE(st->bind(1, "a"));
        auto step = st->step();
        CHECK(id_of(step) == "store.constraint");
        CHECK(id_of(st->bind(5, 1)) == "store.sql_error");  // index out of range
    }

    TEST_CASE("transaction: commit keeps, destruction rolls back, nested savepoints") {
        auto db = mem();
        REQUIRE(db.exec("CREATE TABLE t (v INTEGER)"));
        auto count = [&] {
            auto st = db.prepare("SELECT count(*) FROM t");
            REQUIRE(st);
            REQUIRE(*st->step());
            return st->column_int64(0);
        };
        {
            auto tx = db.begin();
            REQUIRE(tx);
            CHECK(db.in_transaction());
            REQUIRE(db.exec("INSERT INTO t VALUES (1)"));
        }  // rolled back
        CHECK_FALSE(db.in_transaction());
        CHECK(count() == 0);
        {
            auto tx = db.begin();
            REQUIRE(tx);
            REQUIRE(db.exec("INSERT INTO t VALUES (1)"));
            {
                auto inner = db.begin();
                REQUIRE(inner);
                REQUIRE(db.exec("INSERT INTO t VALUES (2)"));
            }  // inner rolled back only
            {
                auto inner = db.begin();
                REQUIRE(inner);
                REQUIRE(db.exec("INSERT INTO t VALUES (3)"));
                REQUIRE(inner->commit());
            }
            REQUIRE(tx->commit());
            CHECK_FALSE(tx->active());
        }
        CHECK(count() == 2);
        auto tx = db.begin();
        REQUIRE(tx);
        REQUIRE(db.exec("INSERT INTO t VALUES (4)"));
        REQUIRE(tx->rollback());
        CHECK(count() == 2);
        CHECK(id_of(tx->commit()) == "store.sql_error");
    }

    TEST_CASE("migrations follow user_version, a newer file is refused") {
        test::temp_dir dir;
        const std::string path = (dir / "m.db").string();
        constexpr std::array<std::string_view, 2> v2{
            "CREATE TABLE a (x INTEGER)",
            "ALTER TABLE a ADD COLUMN y TEXT",
        };
        {
            auto db = store::database::open(path);
            REQUIRE(db);
            REQUIRE(store::migrate(*db, std::span<const std::string_view>(v2.data(), 1)));
            CHECK(*db->user_version() == 1);
            REQUIRE(store::migrate(*db, v2));
            CHECK(*db->user_version() == 2);
            REQUIRE(store::migrate(*db, v2));  // idempotent
            REQUIRE(db->exec("INSERT INTO a (x, y) VALUES (1, 'one')"));
        }
        {
            auto db = store::database::open(path);
            REQUIRE(db);
            CHECK(*db->user_version() == 2);
            auto st = db->prepare("SELECT y FROM a WHERE x = 1");
            REQUIRE(st);
            REQUIRE(*st->step());
            CHECK(st->column_text(0) == "one");
            auto older = store::migrate(*db, std::span<const std::string_view>(v2.data(), 1));
            CHECK(id_of(older) == "store.schema_too_new");
        }
        constexpr std::array<std::string_view, 1> broken{"CREATE TABLE b (x INTEGER); CREATE TABLE b (x INTEGER)"};
        auto db = mem();
        auto r = store::migrate(db, broken);
        CHECK(id_of(r) == "store.sql_error");
        CHECK(r.err().detail.rfind("migration 0 -> 1: ", 0) == 0);
        CHECK(*db.user_version() == 0);  // the failed step was rolled back
        CHECK(id_of(db.prepare("SELECT * FROM b")) == "store.sql_error");
    }

    TEST_CASE("open: WAL for files, errors for unusable paths and non-databases") {
        test::temp_dir dir;
        const std::string path = (dir / "w.db").string();
        {
            auto db = store::database::open(path);
            REQUIRE(db);
            auto mode = db->prepare("PRAGMA journal_mode");
            REQUIRE(mode);
            REQUIRE(*mode->step());
            CHECK(mode->column_text(0) == "wal");
            mode->reset();  // an unfinished statement holds a read lock that blocks the checkpoint
            CHECK(db->path() == path);
            REQUIRE(db->exec("CREATE TABLE t (v)"));
            REQUIRE(db->checkpoint());
        }
        auto ro = store::database::open(path, {.read_only = true});
        REQUIRE(ro);
        CHECK(id_of(ro->exec("INSERT INTO t VALUES (1)")) == "store.io_error");

        auto missing = store::database::open((dir / "no" / "such" / "dir.db").string());
        CHECK(id_of(missing) == "store.open_failed");
        CHECK(missing.err().detail.find("dir.db") != std::string::npos);

        test::write_file(dir / "junk.db", std::string(4096, 'x'));
        auto junk = store::database::open((dir / "junk.db").string());
        CHECK(id_of(junk) == "store.corrupt");
    }

    TEST_CASE("busy: a second connection cannot write while the first holds the lock") {
        test::temp_dir dir;
        const std::string path = (dir / "b.db").string();
        auto a = store::database::open(path);
        REQUIRE(a);
        REQUIRE(a->exec("CREATE TABLE t (v)"));
        auto b = store::database::open(path, {.busy_timeout = std::chrono::milliseconds(0)});
        REQUIRE(b);
        auto tx = a->begin();
        REQUIRE(tx);
        REQUIRE(a->exec("INSERT INTO t VALUES (1)"));
        CHECK(id_of(b->begin()) == "store.busy");
        REQUIRE(tx->commit());
        auto txb = b->begin();
        CHECK(txb.has_value());
    }
}
