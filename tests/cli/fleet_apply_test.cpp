// `ttigctl fleet apply` as a process against the emulated The Things Stack (in this test process,
// on virtual time): kill -9 at 20 random journal writes, then --resume until done; the end state
// must equal that of an uninterrupted run, and no gateway may be left without working credentials.
#include <doctest/doctest.h>

#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <ttig/store/journal.hpp>

#include <map>
#include <random>
#include <regex>
#include <set>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int claims = 6, moves = 4;

struct fleet_cli_world : test::tts_world {
    fs::path manifest = dir.path / "fleet.csv", journal = dir.path / "fleet.db";
    std::string base;
    fleet_cli_world() {
        register_claimed();  // office-ttig and its station: the rotate row
        start_stations();
        REQUIRE(wait_for(connected));
        advance(60s);
        std::string csv = "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n";
        for (int i = 0; i < claims; ++i) {
            const std::string e = fmt::format("58A0CBFFFE93{:04X}", i);
            REQUIRE(tts->state().put_claimable({proto::parse_eui(e)->eui, fmt::format("pw-{}", i), false,
                                                emu::claimable_gateway::upstream_state::unclaimed, {}}));
            csv += fmt::format("{},fleet-claim-{},EU_863_870_TTN,{},claim,pw-{}\n", e, i, lns_address(), i);
        }
        for (int i = 0; i < moves; ++i) {
            rest("POST", "/api/v3/users/admin/gateways",
                 fmt::format(R"({{"gateway":{{"ids":{{"gateway_id":"fleet-gs-{}"}},"gateway_server_address":"old.example.com"}}}})", i));
            csv += fmt::format(",fleet-gs-{},,{},set-gs,\n", i, lns_address());
        }
        csv += fmt::format(",{},,,rotate,\n", gw);
        test::write_file(manifest, csv);
        fs::permissions(manifest, fs::perms::owner_read | fs::perms::owner_write);
        test::write_file(dir.path / "key", admin());
        fs::permissions(dir.path / "key", fs::perms::owner_read | fs::perms::owner_write);
        base = "fleet apply " + manifest.string() + " --journal " + journal.string() + " --tts " + cfg["api_url"].get<std::string>() +
               " --api-key-file " + (dir.path / "key").string() + " --ca " + cfg["ca_file"].get<std::string>() + " --concurrency 3";
    }

    // Gateways with their address and keys as (name without generated suffix, rights).
    std::map<std::string, std::string> state() {
        std::map<std::string, std::string> out;
        static const std::regex suffix("-[0-9a-f]{6}$");
        auto list = rest("GET", "/api/v3/gateways?limit=1000&field_mask=gateway_server_address");
        for (const auto& g : list.value("gateways", nlohmann::json::array())) {
            const std::string id = g["ids"]["gateway_id"].get<std::string>();
            std::multiset<std::string> keys;
            auto k = rest("GET", "/api/v3/gateways/" + id + "/api-keys?limit=1000");
            for (const auto& x : k.value("api_keys", nlohmann::json::array()))
                keys.insert(std::regex_replace(x.value("name", ""), suffix, "") + ":" + x["rights"].dump());
            std::string addr = g.value("gateway_server_address", "");
            if (addr == lns_address()) addr = "<this world's LNS>";  // an ephemeral port per world
            std::string line = addr + " |";
            for (const auto& s : keys) line += " " + s;
            out[id] = line;
        }
        return out;
    }

    int run_to_done(const std::string& first_env, std::string& log) { return resume_until_done(base, first_env, log); }
};

}  // namespace

TEST_CASE("fleet apply CLI: kill -9 at 20 random journal writes, then --resume, ends as an uninterrupted run") {
    std::map<std::string, std::string> reference;
    std::size_t writes = 0;
    {
        fleet_cli_world w;
        std::string log;
        REQUIRE_MESSAGE(w.run_to_done("", log) > 0, log);
        reference = w.state();
        auto j = store::journal::open(w.journal.string());
        REQUIRE(j);
        auto ops = j->ops("fleet");
        REQUIRE(ops);
        for (const auto& op : *ops) writes += j->steps(op.id)->size() - 1;  // begin is not hooked
        CHECK(test::slurp(w.journal).find("NNSXS.") == std::string::npos);
        CHECK(test::slurp(w.journal).find("pw-1") == std::string::npos);
    }
    REQUIRE(reference.size() == 1 + claims + moves);
    REQUIRE(writes >= 12);
    std::mt19937 rng(20261130);
    std::set<std::size_t> points;
    while (points.size() < 20 && points.size() + 1 < writes) points.insert(std::uniform_int_distribution<std::size_t>(1, writes - 1)(rng));
    for (std::size_t n : points) {
        SUBCASE(("killed after fleet journal write " + std::to_string(n)).c_str()) {
            fleet_cli_world w;
            std::string log;
            const int runs = w.run_to_done("TTIGCTL_TEST_KILL_AFTER_JOURNAL=" + std::to_string(n), log);
            INFO(log);
            REQUIRE(runs >= 2);
            const auto got = w.state();
            for (const auto& [id, line] : reference)
                if (!got.count(id) || got.at(id) != line) MESSAGE(id << " expected: " << line << " got: " << (got.count(id) ? got.at(id) : "(absent)"));
            CHECK(got == reference);
            // The rotated TTIG works with what it holds, a day later too.
            CHECK(w.wait_for(test::tts_world::connected));
            w.advance(25h, 10min);
            CHECK(w.led() == "green_solid");
        }
    }
}

TEST_CASE("fleet apply CLI: a bad manifest lists every problem and calls nothing, a used journal needs --resume") {
    fleet_cli_world w;
    SUBCASE("bad manifest") {
        test::write_file(w.dir.path / "bad.csv", "eui,gateway_id,actions\nnot-an-eui,Bad_ID,claim\n,ok-id,fly\n");
        auto r = test::run_cli("fleet apply " + (w.dir.path / "bad.csv").string() + " --journal " + w.journal.string() + " --tts " +
                               w.cfg["api_url"].get<std::string>() + " --api-key-file " + (w.dir.path / "key").string());
        CHECK(r.rc == 8);
        CHECK(r.err.find("bad.csv:2") != std::string::npos);
        CHECK(r.err.find("bad.csv:3") != std::string::npos);
        CHECK_FALSE(fs::exists(w.journal));
    }
    SUBCASE("used journal") {
        auto r = test::run_cli(w.base);
        CHECK(r.rc == 13);  // the rotation waits for its station
        r = test::run_cli(w.base);
        CHECK(r.rc == 64);
        CHECK(r.err.find("fleet.journal_in_use") != std::string::npos);
        r = test::run_cli("fleet rollback --journal " + w.journal.string() + " --tts " + w.cfg["api_url"].get<std::string>() + " --api-key-file " +
                          (w.dir.path / "key").string() + " --ca " + w.cfg["ca_file"].get<std::string>() + " --json");
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        REQUIRE(j.is_object());
        CHECK(j["undone"].size() == moves + 1);  // the addresses and the waiting rotation
    }
}
