// store::journal: operations with a state and a document, appended steps, one transaction per
// write, a file only its owner can read, and a count of the writes a connection committed (what
// fleet apply uses to tell a failed attempt that moved a rotation on from one that did not).
#include <doctest/doctest.h>

#include <ttig/store/journal.hpp>

#include "support/run_cli.hpp"

#include <filesystem>

using namespace ttig;
namespace fs = std::filesystem;

TEST_SUITE("store.journal") {
    TEST_CASE("journal: begin, record and finish are kept, counted and seen by a second connection") {
        test::temp_dir dir;
        const std::string path = (dir.path / "j.db").string();
        auto j = store::journal::open(path);
        REQUIRE_MESSAGE(j.has_value(), (j ? "" : j.err().what()));
        CHECK((fs::status(path).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
        CHECK(j->writes() == 0);
        auto op = j->begin("rotate", "gateway:gw-1", "started", {{"step", 1}});
        REQUIRE(op.has_value());
        CHECK(j->writes() == 1);
        REQUIRE(j->record(*op, "pending-check-in", {{"step", 2}}, {0, 0, "cups.key.create", "done", {{"key_id", "K1"}}, ""}));
        CHECK(j->writes() == 2);
        // Reads are not writes.
        auto open = j->open_op("rotate", "gateway:gw-1");
        REQUIRE(open.has_value());
        REQUIRE(open->has_value());
        CHECK((*open)->state == "pending-check-in");
        CHECK((*open)->doc["step"] == 2);
        CHECK(j->writes() == 2);

        auto other = store::journal::open(path);
        REQUIRE(other.has_value());
        CHECK(other->writes() == 0);
        auto seen = other->open_op("rotate", "gateway:gw-1");
        REQUIRE(seen.has_value());
        REQUIRE(seen->has_value());
        CHECK((*seen)->id == op->id);

        REQUIRE(j->finish(*op, "done", {0, 0, "cleanup", "done", {}, ""}));
        CHECK(j->writes() == 3);
        auto after = other->open_op("rotate", "gateway:gw-1");
        REQUIRE(after.has_value());
        CHECK_FALSE(after->has_value());  // finished: a resume skips it
        auto steps = other->steps(op->id);
        REQUIRE(steps.has_value());
        REQUIRE(steps->size() == 3);  // begin's own, then the two
        CHECK((*steps)[1].name == "cups.key.create");
        CHECK((*steps)[1].detail["key_id"] == "K1");
        CHECK((*steps)[2].name == "cleanup");
        CHECK((*steps)[0].seq < (*steps)[1].seq);
    }

    TEST_CASE("journal: a write that fails is not counted") {
        auto j = store::journal::open(":memory:");
        REQUIRE(j.has_value());
        store::journal_op ghost;
        ghost.id = 4242;  // no such operation: the step's foreign key (PRAGMA foreign_keys = ON) fails
        ghost.kind = "rotate";
        auto r = j->record(ghost, "x", {}, {0, 0, "n", "done", {}, ""});
        CHECK_FALSE(r.has_value());
        CHECK(j->writes() == 0);
        CHECK(ghost.state.empty());  // the caller's copy is unchanged too
    }
}
