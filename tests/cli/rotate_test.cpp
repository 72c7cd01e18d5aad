// `ttigctl rotate` as a process against the emulated The Things Stack (in this test process, on
// virtual time) and an emulated TTIG: kill -9 after every journal write, then --resume until done;
// the end state must equal that of an uninterrupted run (generated IDs, secrets and times aside).
#include <doctest/doctest.h>

#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <ttig/store/journal.hpp>

#include <map>
#include <regex>
#include <set>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct rotate_world : test::tts_world {
    fs::path journal = dir.path / "journal.db";
    std::string base;
    rotate_world() {
        register_claimed();
        start_stations();
        REQUIRE(wait_for(connected));
        advance(60s);
        test::write_file(dir.path / "key", admin());
        fs::permissions(dir.path / "key", fs::perms::owner_read | fs::perms::owner_write);
        base = "rotate " + gw + " --tts " + cfg["api_url"].get<std::string>() + " --api-key-file " + (dir.path / "key").string() + " --ca " +
               cfg["ca_file"].get<std::string>() + " --journal " + journal.string();
    }

    // The end state that matters: each key as (name without its generated suffix, rights).
    std::multiset<std::pair<std::string, std::set<std::string>>> key_shapes(std::map<std::string, std::string>* ids = nullptr) {
        std::multiset<std::pair<std::string, std::set<std::string>>> out;
        auto j = rest("GET", "/api/v3/gateways/" + gw + "/api-keys?limit=1000");
        static const std::regex suffix("-[0-9a-f]{6}$");
        for (const auto& k : j.value("api_keys", nlohmann::json::array())) {
            std::set<std::string> r;
            for (const auto& x : k["rights"]) r.insert(x.get<std::string>());
            const std::string name = std::regex_replace(k.value("name", ""), suffix, "");
            out.insert({name, r});
            if (ids) (*ids)[name] = k["id"].get<std::string>();
        }
        return out;
    }
    std::string station_key_id(const std::string& file) {
        const std::string t = test::slurp(home() / file);
        const auto a = t.find("NNSXS.");
        return a == std::string::npos ? "" : t.substr(a + 6, t.find('.', a + 6) - a - 6);
    }

    // Runs rotate until it is done: --resume after a kill or a pending exit, a day of virtual time
    // after each pending exit. Returns the number of runs.
    int run_to_done(const std::string& first_env, std::string& log) { return resume_until_done(base, first_env, log); }
};

}  // namespace

TEST_CASE("rotate CLI: kill -9 after every journal write, then --resume, ends as an uninterrupted run") {
    // The uninterrupted run: its end state and how many journal writes it makes.
    std::multiset<std::pair<std::string, std::set<std::string>>> reference;
    std::size_t writes = 0;
    {
        rotate_world w;
        std::string log;
        REQUIRE_MESSAGE(w.run_to_done("", log) > 0, log);
        reference = w.key_shapes();
        auto j = store::journal::open(w.journal.string());
        REQUIRE(j);
        auto ops = j->ops("rotate");
        REQUIRE(ops);
        REQUIRE(ops->size() == 1);
        CHECK(ops->front().state == "done");
        writes = j->steps(ops->front().id)->size();
        // The journal holds key IDs and names, never a token.
        CHECK(test::slurp(w.journal).find("NNSXS.") == std::string::npos);
        CHECK((fs::status(w.journal).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
    }
    const std::multiset<std::pair<std::string, std::set<std::string>>> expected{
        {"cups-key-ttigctl", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"}},
        {"lns-key-ttigctl", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}};
    CHECK(reference == expected);
    REQUIRE(writes >= 10);

    for (std::size_t n = 1; n < writes; ++n) {
        SUBCASE(("killed after journal write " + std::to_string(n)).c_str()) {
            rotate_world w;
            std::string log;
            const int runs = w.run_to_done("TTIGCTL_TEST_KILL_AFTER_JOURNAL=" + std::to_string(n), log);
            INFO(log);
            REQUIRE(runs > 0);
            CHECK(runs >= 2);  // the killed run, then at least one --resume
            std::map<std::string, std::string> ids;
            CHECK(w.key_shapes(&ids) == reference);  // same names and rights, no orphan, no old key
            // The station holds the new keys and works with them, a day later too.
            CHECK(w.station_key_id("cups.key") == ids["cups-key-ttigctl"]);
            CHECK(w.station_key_id("tc.key") == ids["lns-key-ttigctl"]);
            CHECK(w.wait_for(test::tts_world::connected));
            w.advance(25h, 10min);
            CHECK(w.led() == "green_solid");
        }
    }
}

TEST_CASE("rotate CLI: one-line errors and exit codes") {
    rotate_world w;
    SUBCASE("bad --wait") {
        auto r = test::run_cli(w.base + " --wait soon");
        CHECK(r.rc == 64);
        CHECK(r.err.find("[cli.bad_option] --wait soon") != std::string::npos);
    }
    SUBCASE("--resume with nothing to resume") {
        auto r = test::run_cli(w.base + " --resume");
        CHECK(r.rc == 64);
        CHECK(r.err.find("rotate.nothing_to_resume") != std::string::npos);
    }
    SUBCASE("an unfinished rotation needs --resume or --rollback") {
        auto r = test::run_cli(w.base + " --cups");
        REQUIRE(r.rc == 13);
        CHECK(r.out.find("pending-check-in") != std::string::npos);
        CHECK(r.out.find("RESET") != std::string::npos);
        r = test::run_cli(w.base + " --cups");
        CHECK(r.rc == 64);
        CHECK(r.err.find("rotate.unfinished") != std::string::npos);
        r = test::run_cli(w.base + " --rollback --json");
        CHECK(r.rc == 0);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        CHECK(j["status"] == "rolled-back");
        CHECK(w.key_shapes().size() == 2);
    }
    SUBCASE("a gateway the key cannot see") {
        auto r = test::run_cli("rotate nobody-here --tts " + w.cfg["api_url"].get<std::string>() + " --api-key-file " + (w.dir.path / "key").string() +
                               " --ca " + w.cfg["ca_file"].get<std::string>() + " --journal " + w.journal.string() + " --json");
        CHECK(r.rc == 4);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        CHECK(j["error"]["id"].get<std::string>().starts_with("tts.pkg/"));
    }
    SUBCASE("a world-readable key file is refused") {
        fs::permissions(w.dir.path / "key", fs::perms::others_read, fs::perm_options::add);
        auto r = test::run_cli(w.base);
        CHECK(r.rc == 8);
        CHECK(r.err.find("cli.insecure_file") != std::string::npos);
    }
    SUBCASE("--dry-run changes nothing") {
        auto r = test::run_cli(w.base + " --dry-run");
        CHECK(r.rc == 0);
        CHECK(r.out.find("PUT /api/v3/gateways/" + w.gw + "/api-keys/" + w.lns_key_id) != std::string::npos);
        CHECK(w.key_shapes().size() == 2);
    }
    // No output ever holds a token.
    CHECK(test::slurp(w.journal).find("NNSXS.") == std::string::npos);
}
