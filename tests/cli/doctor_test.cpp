// `ttigctl doctor` as a process: exit codes of docs/exit-codes.md, --json, --html, one-line errors,
// no secret in any output. The emulated TTS runs in this test process on loopback.
#include "support/run_cli.hpp"

#include <doctest/doctest.h>

#include <ttig/emu/tts_emulator.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/proto/clock.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <thread>

using namespace ttig;
using test::run_cli;
namespace fs = std::filesystem;

namespace {

struct emulator {
    test::temp_dir dir;
    boost::asio::io_context ioc;
    proto::system_clock clock;
    std::unique_ptr<emu::tts_emulator> tts;
    nlohmann::ordered_json cfg;
    std::thread io;
    std::string base;  // the doctor options every run needs

    emulator() {
        emu::emulator_config c;
        c.ca_dir = dir / "tts";
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        tts = std::move(*e);
        cfg = tts->config_json();
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
        test::write_file(dir / "key", cfg["admin_api_key"].get<std::string>());
        fs::permissions(dir / "key", fs::perms::owner_read | fs::perms::owner_write);
        base = "doctor --tts " + cfg["api_url"].get<std::string>() + " --api-key-file " + (dir / "key").string() + " --ca " +
               cfg["ca_file"].get<std::string>();
    }
    ~emulator() {
        tts->stop();
        ioc.stop();
        io.join();
    }
    void post(const std::string& target, const std::string& body) {
        net::client_config cc;
        cc.tls.ca_pem = {tts->ca_pem()};
        cc.tls.use_system_store = false;
        net::http_client http(cc);
        proto::http_request r;
        r.method = "POST";
        r.target = target;
        r.body = body;
        r.headers.set("Authorization", "Bearer " + cfg["admin_api_key"].get<std::string>());
        r.headers.set("Content-Type", "application/json");
        auto res = http.request(std::move(r), net::request_options{cfg["api_url"].get<std::string>()});
        REQUIRE(res);
        REQUIRE_MESSAGE(res->status == 200, res->body);
    }
};

}  // namespace

TEST_SUITE("cli.doctor") {
    TEST_CASE("doctor: a broken gateway exits 10 with the cause, as text, JSON and a self-contained HTML report") {
        emulator e;
        // A gateway with no Gateway Server address: "Status unknown" in the Console.
        e.post("/api/v3/users/admin/gateways", R"({"gateway":{"ids":{"gateway_id":"desk-ttig","eui":"58A0CBFFFE800999"},"frequency_plan_ids":["EU_863_870_TTN"]}})");
        auto text = run_cli(e.base + " desk-ttig");
        CHECK(text.rc == 10);
        CHECK(text.out.find("verdict: gs-address-wrong-or-unreachable") != std::string::npos);
        CHECK(text.out.find("record.gs_address.empty (D)") != std::string::npos);

        const auto html = e.dir / "report.html";
        auto js = run_cli(e.base + " desk-ttig --json --verbose --html " + html.string());
        CHECK(js.rc == 10);
        auto j = nlohmann::json::parse(js.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["verdict"]["verdict"] == "gs-address-wrong-or-unreachable");
        CHECK(j["exit_code"] == 10);
        CHECK(j["api_calls"].get<int>() <= 8);
        auto verbose = run_cli(e.base + " desk-ttig --verbose --thorough");  // every raw exchange, P12 included
        CHECK(verbose.out.find("probes:") != std::string::npos);
        const std::string page = test::slurp(html);
        CHECK(page.find("gs-address-wrong-or-unreachable") != std::string::npos);
        // The admin key's secret part appears nowhere.
        const std::string key = e.cfg["admin_api_key"].get<std::string>();
        const std::string secret = key.substr(key.rfind('.') + 1);
        for (const std::string* out : std::initializer_list<const std::string*>{&text.out, &text.err, &js.out, &js.err, &verbose.out, &verbose.err, &page})
            CHECK(out->find(secret) == std::string::npos);
    }

    TEST_CASE("doctor --fix: the plan without --yes changes nothing — with --yes it is applied and proven") {
        emulator e;
        e.post("/api/v3/users/admin/gateways", R"({"gateway":{"ids":{"gateway_id":"desk-ttig","eui":"58A0CBFFFE800999"},"frequency_plan_ids":["EU_863_870_TTN"]}})");
        const std::string lns = e.cfg["lns_url"].get<std::string>().substr(6);  // host:port
        auto plan_only = run_cli(e.base + " desk-ttig --fix --gs-address " + lns);
        CHECK(plan_only.rc == 10);
        CHECK(plan_only.out.find("[A2] set gateway_server_address to " + lns) != std::string::npos);
        CHECK(plan_only.out.find("not applied: run again with --yes") != std::string::npos);
        auto still = run_cli(e.base + " desk-ttig --json");
        CHECK(nlohmann::json::parse(still.out)["verdict"]["verdict"] == "gs-address-wrong-or-unreachable");

        auto fixed = run_cli(e.base + " desk-ttig --fix --yes --json --gs-address " + lns);
        auto j = nlohmann::json::parse(fixed.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["fix_plan"]["steps"][0]["action"] == "A2");
        CHECK(j["fix"]["applied"] == true);
        CHECK(j["fix"]["proven"] == true);
        CHECK(j["fix"]["after"]["verdict"]["verdict"] != "gs-address-wrong-or-unreachable");
        CHECK(fixed.rc == j["exit_code"].get<int>());
    }

    TEST_CASE("doctor: usage errors exit 64, an unreachable API exits 12 naming the hop") {
        emulator e;
        auto led = run_cli(e.base + " desk-ttig --led purple");
        CHECK(led.rc == 64);
        CHECK(led.err.find("[cli.bad_option] --led purple") != std::string::npos);
        auto answer = run_cli(e.base + " desk-ttig --answer colour=blue");
        CHECK(answer.rc == 64);
        auto nokey = run_cli("doctor desk-ttig --tts https://127.0.0.1:9", "TTIGCTL_API_KEY=");
        CHECK(nokey.rc == 64);
        CHECK(nokey.err.find("no API key") != std::string::npos);
        auto down = run_cli("doctor desk-ttig --tts https://127.0.0.1:9 --timeout 2 --api-key-file " + (e.dir / "key").string());
        CHECK(down.rc == 12);
        CHECK(down.out.find("127.0.0.1:9") != std::string::npos);
    }
}
