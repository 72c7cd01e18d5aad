// `ttigctl fleet plan` and `fleet export` as processes: a bad manifest lists every error with its
// file and line (exit 8, docs/exit-codes.md local_io) and calls nothing; export, then plan of the
// exported file, shows no change, against the emulated The Things Stack (in this test process).
#include <doctest/doctest.h>

#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

using namespace ttig;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

struct fleet_world : test::tts_world {
    std::string api;
    fleet_world() {
        test::write_file(dir.path / "key", admin());
        fs::permissions(dir.path / "key", fs::perms::owner_read | fs::perms::owner_write);
        api = " --tts " + cfg["api_url"].get<std::string>() + " --api-key-file " + (dir.path / "key").string() + " --ca " +
              cfg["ca_file"].get<std::string>();
    }
    void add(const std::string& id, const std::string& hex, const std::string& gsa) {
        rest("POST", "/api/v3/users/admin/gateways",
             R"({"gateway":{"ids":{"gateway_id":")" + id + R"(","eui":")" + hex +
                 R"("},"frequency_plan_ids":["EU_863_870_TTN"],"gateway_server_address":")" + gsa + R"("}})");
    }
};

}  // namespace

TEST_CASE("fleet plan CLI: a bad manifest lists every error with file and line, exit 8, no call") {
    test::temp_dir d;
    const auto p = d / "bad.csv";
    test::write_file(p,
                     "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n"
                     "58A0CB123456,office-ttig,EU_863_870_TTN,,claim,Secret-Wifi-77\n"  // 2 ok
                     "nonsense,Bad_ID,,,claim|fly,Secret-Wifi-78\n"                     // 3: eui, id, action
                     "58A0CB123456,office-ttig,,,,\n");                                 // 4: duplicates
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    // No --tts, no key: the manifest is checked before anything else is looked at.
    SUBCASE("text") {
        auto r = test::run_cli("fleet plan " + p.string(), "TTIGCTL_API_KEY= TTIGCTL_TTS=https://127.0.0.1:1");
        CHECK(r.rc == 8);
        INFO(r.err);
        const auto ls = lines_of(r.err);
        REQUIRE(ls.size() == 5);
        for (const auto& l : ls) CHECK(l.starts_with("ttigctl fleet plan: [fleet.manifest] " + p.string() + ":"));
        CHECK(r.err.find(p.string() + ":3: eui: `nonsense` is not an EUI") != std::string::npos);
        CHECK(r.err.find(p.string() + ":3: gateway_id: ") != std::string::npos);
        CHECK(r.err.find(p.string() + ":3: actions: unknown action `fly`") != std::string::npos);
        CHECK(r.err.find(p.string() + ":4: eui: ") != std::string::npos);
        CHECK(r.err.find(p.string() + ":4: gateway_id: ") != std::string::npos);
        CHECK(r.err.find("Secret-Wifi") == std::string::npos);
        CHECK(r.out.find("Secret-Wifi") == std::string::npos);
    }
    SUBCASE("json") {
        auto r = test::run_cli("fleet plan --json " + p.string());
        CHECK(r.rc == 8);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["error"]["id"] == "fleet.manifest");
        REQUIRE(j["error"]["errors"].size() == 5);
        CHECK(j["error"]["errors"][0]["line"] == 3);
        CHECK(r.out.find("Secret-Wifi") == std::string::npos);
    }
    SUBCASE("a manifest with tokens others can read") {
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
        auto r = test::run_cli("fleet plan " + p.string());
        CHECK(r.rc == 8);
        CHECK(r.err.find(p.string() + ": owner_token: the manifest holds owner tokens") != std::string::npos);
    }
    SUBCASE("a manifest that does not exist") {
        auto r = test::run_cli("fleet plan " + (d / "nope.csv").string());
        CHECK(r.rc == 8);
        CHECK(r.err.find("[fleet.manifest]") != std::string::npos);
    }
}

TEST_CASE("fleet export CLI then fleet plan of the file: no change") {
    fleet_world w;
    w.add("gw-one", "58A0CBFFFE000401", "eu1.cloud.thethings.network");
    w.add("gw-two", "58A0CBFFFE000402", w.lns_address());
    for (const std::string name : {"fleet.csv", "fleet.json"}) {
        const auto file = w.dir.path / name;
        auto e = test::run_cli("fleet export " + file.string() + w.api);
        REQUIRE_MESSAGE(e.rc == 0, e.err);
        CHECK(e.out.find("wrote 2 gateways") != std::string::npos);
        const std::string text = test::slurp(file);
        CHECK(text.find("gw-one") != std::string::npos);
        CHECK(text.find("58A0CBFFFE000402") != std::string::npos);
        if (name == "fleet.csv") CHECK(text.starts_with("eui,gateway_id,frequency_plan,cluster,actions,owner_token\n"));
        else CHECK(nlohmann::json::parse(text)["gateways"].size() == 2);

        // A second export refuses to overwrite without --force.
        auto again = test::run_cli("fleet export " + file.string() + w.api);
        CHECK(again.rc == 64);
        CHECK(again.err.find("[cli.would_overwrite]") != std::string::npos);

        auto p = test::run_cli("fleet plan --json " + file.string() + w.api);
        REQUIRE_MESSAGE(p.rc == 0, p.err);
        auto j = nlohmann::json::parse(p.out);
        CHECK(j["read_calls"] == 1);
        CHECK(j["gateways_seen"] == 2);
        CHECK(j["planned_calls"] == 0);
        CHECK(j["summary"]["with_changes"] == 0);
        CHECK(j["summary"]["conflicts"] == 0);
        CHECK(j["summary"]["unchanged"] == 2);

        auto t = test::run_cli("fleet plan " + file.string() + w.api);
        CHECK(t.rc == 0);
        CHECK(t.out.find("2 rows: 0 to change, 2 unchanged, 0 conflicts") != std::string::npos);
    }
}

TEST_CASE("fleet plan CLI: a change and its calls, and nothing written") {
    fleet_world w;
    w.add("gw-one", "58A0CBFFFE000501", "eu1.cloud.thethings.network");
    const auto file = w.dir.path / "m.csv";
    test::write_file(file, "gateway_id,cluster,actions\ngw-one,nam1.cloud.thethings.network,set-gs\ngw-gone,,rotate\n");
    auto r = test::run_cli("fleet plan " + file.string() + w.api);
    CHECK(r.rc == 0);
    INFO(r.out, r.err);
    CHECK(r.out.find(file.string() + ":2  gw-one: change") != std::string::npos);
    CHECK(r.out.find("PUT    /api/v3/gateways/gw-one") != std::string::npos);
    CHECK(r.out.find("[fleet.gateway_missing]") != std::string::npos);
    CHECK(r.out.find("2 rows: 1 to change, 0 unchanged, 1 conflict;") != std::string::npos);
    auto g = w.rest("GET", "/api/v3/gateways/gw-one?field_mask=gateway_server_address");
    CHECK(g["gateway_server_address"] == "eu1.cloud.thethings.network");
    SUBCASE("--user and --org together") {
        auto u = test::run_cli("fleet plan " + file.string() + w.api + " --user admin --org acme");
        CHECK(u.rc == 64);
        CHECK(u.err.find("[cli.bad_option]") != std::string::npos);
    }
}
