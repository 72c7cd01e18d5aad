// ttigctl fleet status / fleet report as a process, against the in-process emulated The Things Stack.
#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

using namespace ttig;
namespace fs = std::filesystem;

namespace {

std::string gw_id(std::size_t i) { return fmt::format("gw-{:05}", i); }

// n gateways of the admin; every 10th (i % 10 == 3) disconnected when `some_down`.
std::string scenario(std::size_t n, bool some_down) {
    nlohmann::json s;
    s["users"] = {{{"user_id", "admin"}, {"admin", true}}};
    nlohmann::json gws = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i) {
        nlohmann::json g;
        g["gateway"] = {{"ids", {{"gateway_id", gw_id(i)}}}, {"frequency_plan_ids", {"EU_863_870_TTN"}}};
        g["owner"] = {{"user_id", "admin"}};
        if (some_down && i % 10 == 3)
            g["connection"] = {{"connected_at", "2025-12-31T10:00:00Z"}, {"disconnected_at", "2025-12-31T20:00:00Z"}};
        else
            g["connection"] = {{"connected_at", "2025-12-31T23:00:00Z"}, {"protocol", "semtechws/lbslns"}};
        gws.push_back(std::move(g));
    }
    s["gateways"] = std::move(gws);
    return s.dump();
}

struct env {
    test::tts_world w;
    std::string api;
    explicit env(std::size_t n, bool some_down) : w(test::world_options{scenario(n, some_down)}) {
        test::write_file(w.dir.path / "key", w.admin());
        fs::permissions(w.dir.path / "key", fs::perms::owner_read | fs::perms::owner_write);
        api = " --tts " + w.cfg["api_url"].get<std::string>() + " --api-key-file " + (w.dir.path / "key").string() + " --ca " +
              w.cfg["ca_file"].get<std::string>();
    }
    std::string manifest(std::size_t n, const std::string& extra_id = {}) {
        std::string csv = "gateway_id\n";
        for (std::size_t i = 0; i < n; ++i) csv += gw_id(i) + "\n";
        if (!extra_id.empty()) csv += extra_id + "\n";
        const auto p = w.dir.path / "fleet.csv";
        test::write_file(p, csv);
        return p.string();
    }
};

}  // namespace

TEST_SUITE("cli fleet status") {
    TEST_CASE("fleet status of a manifest: states, causes, calls, exit 9 when some are not connected") {
        env e(250, true);
        const auto m = e.manifest(250, "no-such-gateway");
        SUBCASE("--json") {
            auto r = test::run_cli("fleet status " + m + e.api + " --json");
            REQUIRE_MESSAGE(r.rc == 9, r.err, r.out);
            auto j = nlohmann::json::parse(r.out);
            CHECK(j["counts"]["connected"] == 225);
            CHECK(j["counts"]["disconnected"] == 25);
            CHECK(j["counts"]["unknown"] == 1);
            CHECK(j["exit_code"] == 9);
            CHECK(j["api_calls"]["total"].get<int>() <= 3 + 2 * 6);  // 251 IDs: 3 batches; the last (51 IDs) bisected
            CHECK(j["api_calls"]["bisect"].get<int>() > 0);
            std::size_t with_cause = 0;
            for (const auto& g : j["gateways"])
                if (g["state"] == "disconnected" && g.contains("cause") && !g["cause"].get<std::string>().empty()) ++with_cause;
            CHECK(with_cause == 25);
        }
        SUBCASE("text") {
            auto r = test::run_cli("fleet status " + m + e.api);
            REQUIRE_MESSAGE(r.rc == 9, r.err);
            CHECK(r.out.find("gw-00003") != std::string::npos);
            CHECK(r.out.find("gw-00000 ") == std::string::npos);  // connected ones only with --verbose
            CHECK(r.out.find("no-such-gateway") != std::string::npos);
            CHECK(r.out.find("251 gateway(s): 225 connected, 25 disconnected, 1 unknown") != std::string::npos);
            CHECK(r.out.find("API call(s)") != std::string::npos);
        }
    }

    TEST_CASE("fleet status --all of connected gateways exits 0") {
        env e(120, false);
        auto r = test::run_cli("fleet status --all" + e.api + " --json");
        REQUIRE_MESSAGE(r.rc == 0, r.err, r.out);
        auto j = nlohmann::json::parse(r.out);
        CHECK(j["counts"]["connected"] == 120);
        CHECK(j["api_calls"]["list"] == 1);
        CHECK(j["api_calls"]["batches"] == 2);
        CHECK(j["api_calls"]["total"] == 3);

        SUBCASE("and fleet report turns the status into JSON, CSV and HTML") {
            test::write_file(e.w.dir.path / "status.json", r.out);
            const auto out = e.w.dir.path / "report";
            auto rep = test::run_cli("fleet report --status " + (e.w.dir.path / "status.json").string() + " --out-dir " + out.string() + " --json");
            REQUIRE_MESSAGE(rep.rc == 0, rep.err, rep.out);
            for (const char* f : {"report.json", "report.csv", "report.html"}) CHECK(fs::exists(out / f));
            CHECK(nlohmann::json::parse(rep.out)["gateways"] == 120);
            CHECK(test::slurp(out / "report.html").find("https://") == std::string::npos);
        }
    }

    TEST_CASE("fleet status usage and failures: one-line errors and their exit codes") {
        SUBCASE("neither a manifest nor --all") {
            auto r = test::run_cli("fleet status --api-key x");
            CHECK(r.rc == 64);
            CHECK(r.err.find("[cli.bad_option]") != std::string::npos);
        }
        SUBCASE("an API that cannot be reached") {
            test::temp_dir d;
            test::write_file(d / "m.csv", "gateway_id\ngw-00001\n");
            auto r = test::run_cli("fleet status " + (d / "m.csv").string() + " --tts https://127.0.0.1:9 --retries 0 --timeout 2", "TTIGCTL_API_KEY=NNSXS.X");
            CHECK(r.rc == 12);
            CHECK(r.err.find("ttigctl fleet status: [net.") != std::string::npos);
        }
        SUBCASE("a manifest that does not parse") {
            test::temp_dir d;
            test::write_file(d / "m.csv", "gateway_id,bogus_column\nA B,1\n");
            auto r = test::run_cli("fleet status " + (d / "m.csv").string(), "TTIGCTL_API_KEY=NNSXS.X");
            CHECK(r.rc == 8);
            CHECK(r.err.find("[fleet.manifest]") != std::string::npos);
        }
        SUBCASE("a journal that does not exist") {
            test::temp_dir d;
            test::write_file(d / "m.csv", "gateway_id\ngw-00001\n");
            auto r = test::run_cli("fleet status " + (d / "m.csv").string() + " --journal " + (d / "none.db").string() + " --tts https://127.0.0.1:9",
                                   "TTIGCTL_API_KEY=NNSXS.X");
            CHECK(r.rc == 8);
            CHECK(r.err.find("[fleet.journal]") != std::string::npos);
        }
        SUBCASE("fleet report without an input") {
            test::temp_dir d;
            auto r = test::run_cli("fleet report --out-dir " + (d / "o").string());
            CHECK(r.rc == 64);
            auto r2 = test::run_cli("fleet report --journal " + (d / "none.db").string() + " --out-dir " + (d / "o").string());
            CHECK(r2.rc == 8);
            CHECK(r2.err.find("[fleet.journal]") != std::string::npos);
        }
    }
}
