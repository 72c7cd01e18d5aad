// `ttigctl claim` as a process against the emulated TTS (in this test process, on loopback): exit
// codes of docs/exit-codes.md, the stable --json object, one-line errors with the cause and fix,
// owner-token sources, idempotency, and no owner token or API key secret in any output.
#include "support/run_cli.hpp"

#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/clock.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <thread>

using namespace ttig;
using test::run_cli;
namespace fs = std::filesystem;

namespace {

// basicstation-protocol.md §5.5: label code 58A0CB123456 → EUI 58A0CBFFFE123456.
const std::string label = "58A0CB123456";
const std::string label_eui = "58A0CBFFFE123456";
const std::string owner_token = "Zq7-wifi-Pass-9K";
const std::string owner_token_b64 = "WnE3LXdpZmktUGFzcy05Sw";  // base64 of it, as a claim body carries it

struct emulator {
    test::temp_dir dir;
    boost::asio::io_context ioc;
    proto::system_clock clock;
    std::unique_ptr<emu::tts_emulator> tts;
    nlohmann::ordered_json cfg;
    std::thread io;
    std::string key;   // alice's API key (a user, not an admin)
    std::string base;  // the options every run needs

    explicit emulator(const std::string& scenario = {}) {
        emu::emulator_config c;
        c.ca_dir = dir / "tts";
        if (!scenario.empty()) {
            test::write_file(dir / "scenario.json", scenario);
            c.scenario_path = (dir / "scenario.json").string();
        }
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        tts = std::move(*e);
        cfg = tts->config_json();
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
        emu::user_info alice;
        alice.user_id = "alice";
        REQUIRE(tts->state().put_user(alice));
        auto k = tts->state().create_api_key(emu::entity_ref::user("alice"), "cli", emu::rights{emu::right::all});
        REQUIRE(k.has_value());
        key = k->token;
        secret_file("key", key);
        secret_file("token", owner_token + "\n");
        REQUIRE(tts->state().put_claimable(
            {proto::parse_eui(label_eui)->eui, owner_token, false, emu::claimable_gateway::upstream_state::unclaimed, {}}));
        base = "claim --tts " + cfg["api_url"].get<std::string>() + " --api-key-file " + (dir / "key").string() + " --ca " +
               cfg["ca_file"].get<std::string>();
    }
    ~emulator() {
        tts->stop();
        ioc.stop();
        io.join();
    }
    void secret_file(const std::string& name, const std::string& content) {
        test::write_file(dir / name, content);
        fs::permissions(dir / name, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    }
    std::string claim(const std::string& rest) const { return base + " " + rest; }
    std::string token_file() const { return " --owner-token-file " + (dir / "token").string(); }
    std::size_t gateways_with_eui() {
        std::size_t n = 0;
        for (const auto& g : tts->state().gateways())
            if (g.eui() && g.eui()->hex() == label_eui) ++n;
        return n;
    }
    // Neither the owner token nor the API key's secret appears in any output.
    void check_clean(const test::cli_result& r) const {
        const std::string secret = key.substr(key.rfind('.') + 1);
        for (const std::string* s : {&r.out, &r.err}) {
            CHECK(s->find(owner_token) == std::string::npos);
            CHECK(s->find(owner_token_b64) == std::string::npos);
            CHECK(s->find("wrong-password") == std::string::npos);
            CHECK(s->find(secret) == std::string::npos);
        }
    }
};

nlohmann::json parse(const std::string& s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), s);
    return j;
}

std::size_t lines(const std::string& s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_SUITE("cli.claim") {
    TEST_CASE("claim: a label code is claimed and a second run reports the state, exit 0 both times") {
        emulator e;
        auto first = e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN --json" + e.token_file());
        auto r = run_cli(first);
        INFO(r.out, r.err);
        CHECK(r.rc == 0);
        auto j = parse(r.out);
        // The stable object: these keys, in this order, first.
        std::vector<std::string> keys;
        const auto ordered = nlohmann::ordered_json::parse(r.out);
        for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
        REQUIRE(keys.size() >= 7);
        CHECK(std::vector<std::string>(keys.begin(), keys.begin() + 4) ==
              std::vector<std::string>{"gateway_id", "eui", "claimed", "already"});
        CHECK(j["gateway_id"] == "office-ttig");
        CHECK(j["eui"] == label_eui);
        CHECK(j["claimed"] == true);
        CHECK(j["already"] == false);
        CHECK(j["cause"].is_null());
        CHECK(j["fix"].is_null());
        CHECK(j["exit_code"] == 0);
        CHECK(j["gateway"]["gateway_id"] == "office-ttig");
        CHECK(j["gateway"]["gateway_server_address"] == e.cfg["api_url"].get<std::string>().substr(8));  // host:port, no scheme
        CHECK(j["gateway"]["frequency_plan_ids"] == nlohmann::json::array({"EU_863_870_TTN"}));
        CHECK(j["gateway"]["lns_secret_set"] == true);
        CHECK(j["gateway"]["cups_last_seen"].is_null());
        e.check_clean(r);
        const auto keys_before = e.tts->state().api_keys(emu::entity_ref::gateway("office-ttig")).size();

        auto text = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN" + e.token_file()));
        CHECK(text.rc == 0);
        CHECK(text.out.find("ok: 58A0CBFFFE123456 is already claimed as gateway office-ttig") != std::string::npos);
        CHECK(text.out.find("LNS key (lbs_lns_secret)") != std::string::npos);
        CHECK(text.out.find("next: ") != std::string::npos);
        e.check_clean(text);
        auto again = run_cli(first);
        CHECK(again.rc == 0);
        auto j2 = parse(again.out);
        CHECK(j2["already"] == true);
        CHECK(j2["claimed"] == false);
        CHECK(j2["cause"].is_null());
        for (const auto& c : j2["api_calls"]) CHECK(c["writes"] == false);
        e.check_clean(again);
        CHECK(e.gateways_with_eui() == 1);
        CHECK(e.tts->state().api_keys(emu::entity_ref::gateway("office-ttig")).size() == keys_before);
    }

    TEST_CASE("claim: refusals exit 14 with the cause id and its fix on one line") {
        emulator e;
        SUBCASE("wrong owner token from the environment") {
            auto r = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN"), "TTIGCTL_OWNER_TOKEN=wrong-password");
            CHECK(r.rc == 14);
            CHECK(r.err.starts_with("ttigctl claim: [owner-token-mismatch] "));
            CHECK(r.err.find("; fix: ") != std::string::npos);
            CHECK(lines(r.err) == 1);
            e.check_clean(r);
            auto js =
                run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN --json"), "TTIGCTL_OWNER_TOKEN=wrong-password");
            CHECK(js.rc == 14);
            auto j = parse(js.out);
            CHECK(j["cause"] == "owner-token-mismatch");
            CHECK(j["claimed"] == false);
            CHECK(j["fix"].get<std::string>().find("Wi-Fi password") != std::string::npos);
            CHECK(j["error"]["id"] == "owner-token-mismatch");
            CHECK(j["error"]["exit_code"] == 14);
            CHECK(js.err.empty());
            e.check_clean(js);
            CHECK(e.gateways_with_eui() == 0);
        }
        SUBCASE("not claimable") {
            auto r = run_cli(e.claim("58A0CBFFFE999999 --id office-ttig --frequency-plan EU_863_870_TTN" + e.token_file()));
            CHECK(r.rc == 14);
            CHECK(r.err.starts_with("ttigctl claim: [eui-not-claimable] "));
            CHECK(lines(r.err) == 1);
            e.check_clean(r);
        }
        SUBCASE("gateway ID taken") {
            // Another user's gateway holds the ID (set up in the emulator's state).
            emu::user_info bob;
            bob.user_id = "bob";
            REQUIRE(e.tts->state().put_user(bob));
            auto doc = emu::normalize_gateway(nlohmann::json::parse(R"({"ids":{"gateway_id":"office-ttig","eui":"58A0CBFFFE000001"}})"),
                                              std::vector<std::string>{"ids"}, "CreateGatewayRequest");
            REQUIRE(doc.has_value());
            REQUIRE(e.tts->state().create_gateway(*doc, emu::entity_ref::user("bob")).has_value());
            auto r = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN --json" + e.token_file()));
            CHECK(r.rc == 14);
            auto j = parse(r.out);
            CHECK(j["cause"] == "gateway-id-taken");
            CHECK(j["fix"].get<std::string>().find("another --id") != std::string::npos);
            CHECK(e.gateways_with_eui() == 0);
            e.check_clean(r);
        }
    }

    TEST_CASE("claim: another refusal of The Things Stack exits 4 with its namespace and name as the id") {
        emulator e(
            R"({"faults":[{"rpc":"GatewayClaimingServer.Claim","error_ratio":1,)"
            R"("error":{"namespace":"pkg/deviceclaimingserver","name":"claim gateway","code":10,"message_format":"claim gateway"}}]})");
        auto r = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN" + e.token_file()));
        CHECK(r.rc == 4);
        CHECK(r.err.starts_with("ttigctl claim: [tts.pkg/deviceclaimingserver:claim gateway] "));
        CHECK(lines(r.err) == 1);
        e.check_clean(r);
    }

    TEST_CASE("claim: owner token sources - a 0600 file, the environment, argv with a warning, never none") {
        emulator e;
        const std::string args = label + " --id office-ttig --frequency-plan EU_863_870_TTN --dry-run";
        SUBCASE("a file others can read is refused") {
            test::write_file(e.dir / "loose", owner_token);
            fs::permissions(e.dir / "loose",
                            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                            fs::perm_options::replace);
            auto r = run_cli(e.claim(args + " --owner-token-file " + (e.dir / "loose").string()));
            CHECK(r.rc == 8);
            CHECK(r.err.find("[cli.insecure_file]") != std::string::npos);
            e.check_clean(r);
        }
        SUBCASE("argv works but is warned about") {
            auto r = run_cli(e.claim(args + " --owner-token " + owner_token), "TTIGCTL_OWNER_TOKEN=");
            CHECK(r.rc == 0);
            CHECK(r.err.find("warning: --owner-token on the command line") != std::string::npos);
            e.check_clean(r);
        }
        SUBCASE("none at all") {
            auto r = run_cli(e.claim(args), "TTIGCTL_OWNER_TOKEN=");
            CHECK(r.rc == 64);
            CHECK(r.err.starts_with("ttigctl claim: [cli.bad_option] no owner token"));
        }
    }

    TEST_CASE("claim: dry run, usage errors and an unreachable API") {
        emulator e;
        SUBCASE("dry run") {
            auto r = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_TTN --dry-run" + e.token_file()));
            CHECK(r.rc == 0);
            CHECK(r.out.find("dry run:") != std::string::npos);
            CHECK(r.out.find("POST /api/v3/gcls/claim -> not sent (dry run)") != std::string::npos);
            CHECK(r.out.find("would send: ") != std::string::npos);
            CHECK(r.out.find("<owner token, 16 bytes, not shown>") != std::string::npos);
            CHECK(e.gateways_with_eui() == 0);
            e.check_clean(r);
        }
        SUBCASE("unknown frequency plan") {
            auto r = run_cli(e.claim(label + " --id office-ttig --frequency-plan EU_863_870_NOPE" + e.token_file()));
            CHECK(r.rc == 64);
            CHECK(r.err.starts_with("ttigctl claim: [claim.unknown_frequency_plan] frequency plan EU_863_870_NOPE"));
            CHECK(e.gateways_with_eui() == 0);
        }
        SUBCASE("bad label code and bad ID") {
            auto code = run_cli(e.claim("58A0CB12345 --id office-ttig --frequency-plan EU_863_870_TTN" + e.token_file()));
            CHECK(code.rc == 64);
            CHECK(code.err.starts_with("ttigctl claim: [eui."));
            auto id = run_cli(e.claim(label + " --id Office_TTIG --frequency-plan EU_863_870_TTN" + e.token_file()));
            CHECK(id.rc == 64);
            CHECK(id.err.starts_with("ttigctl claim: [claim.bad_gateway_id]"));
        }
        SUBCASE("missing --id is CLI11's") {
            auto r = run_cli(e.claim(label + " --frequency-plan EU_863_870_TTN" + e.token_file()));
            CHECK(r.rc == 106);
        }
        SUBCASE("nothing listens") {
            auto r = run_cli("claim " + label +
                             " --id office-ttig --frequency-plan EU_863_870_TTN --tts https://127.0.0.1:9 --timeout 2 "
                             "--api-key-file " +
                             (e.dir / "key").string() + e.token_file());
            CHECK(r.rc == 12);
            CHECK(r.err.find("GET /api/v3/auth_info on https://127.0.0.1:9") != std::string::npos);
            CHECK(lines(r.err) == 1);
            e.check_clean(r);
        }
    }
}
