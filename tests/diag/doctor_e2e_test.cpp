// doctor end to end: each cause of the disconnected-catalogue that the emulators can produce is set
// up through the emulated TTS's REST API, its faults and scenario, or the emulated station's
// controls; doctor must name that cause first. Real TLS and WebSockets on loopback; the station's
// timers and the emulator's clock are virtual (only I/O is real).
#include <doctest/doctest.h>

#include <ttig/diag/doctor.hpp>
#include <ttig/diag/fix.hpp>
#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>

#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A valid-looking TTS token for scenario users (tts-api.md §2.1 shape; not a real key).
std::string token(char fill) { return "NNSXS." + std::string(39, fill) + "." + std::string(52, fill); }

using test::world_options;

struct world : test::tts_world {
    using test::tts_world::tts_world;

    diag::doctor_options doctor(std::string gateway = {}) const {
        diag::doctor_options o;
        o.tts_url = cfg["api_url"].get<std::string>();
        o.api_key = admin();
        o.gateway = gateway.empty() ? gw : gateway;
        o.ca_pem = {tts->ca_pem()};
        o.use_system_store = false;
        o.clock = &clock;
        o.timeout = 10s;
        // The emulator runs in this process under ASan next to other tests: a fixed, generous
        // tail window keeps the replay whole (the adaptive default is measured in bench/).
        o.events_window = 1s;
        return o;
    }
};

// A failed precondition of one row: reported, and the other rows still run.
struct setup_failed : std::runtime_error {
    using std::runtime_error::runtime_error;
};
void must(bool ok, const char* what) {
    if (!ok) throw setup_failed(what);
}

std::string describe(const diag::report& r) {
    std::string s = "verdict " + r.v.cause + "\n";
    for (const auto& a : r.atoms) s += "  " + a.id + " [" + a.probe + "] " + a.detail + "\n";
    for (const auto& p : r.probes) s += "  probe " + p.id + " " + p.target + " -> " + p.outcome + "\n";
    if (r.api_failure) s += "  api failure: " + *r.api_failure + "\n";
    return s;
}

struct row {
    const char* cause;
    std::function<diag::report(world&)> run;  // sets the world up, runs doctor
    world_options options = {};
};

std::vector<row> rows() {
    std::vector<row> r;
    r.push_back({"healthy", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.advance(30s);  // an uplink
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"lns-key-revoked", [](world& w) {
                     w.register_claimed();
                     w.rest("DELETE", "/api/v3/gateways/" + w.gw + "/api-keys/" + w.lns_key_id);
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"lns-key-missing", [](world& w) {
                     w.register_claimed(false);
                     auto o = w.doctor();
                     o.thorough = true;  // P12: TTS CUPS answers lns_credentials_not_found
                     return diag::run_doctor(o);
                 }});
    r.push_back({"require-auth-mismatch", [](world& w) {
                     w.register_claimed(false);
                     auto o = w.doctor();
                     o.answers.push_back({"user.lns_key_cleared", "user", "pointed at a local LNS"});
                     return diag::run_doctor(o);
                 }});
    r.push_back({"cups-target-mode-stuck", [](world& w) {
                     w.register_claimed();
                     w.put(R"({"target_cups_uri":"https://cups.example.invalid:443","target_cups_key":{"value":")" + emu::base64_encode(w.cups_key) + R"("}})",
                           R"(["target_cups_uri","target_cups_key"])");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"gs-address-wrong-or-unreachable", [](world& w) {
                     w.register_claimed();
                     w.put(R"({"gateway_server_address":""})", R"(["gateway_server_address"])");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"frequency-plan-missing", [](world& w) {
                     w.register_claimed();
                     w.put(R"({"frequency_plan_ids":[]})", R"(["frequency_plan_ids"])");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"frequency-plan-missing", [](world& w) {  // a plan ID the deployment does not know
                     w.register_claimed();
                     w.put(R"({"frequency_plan_ids":["EU_863_870_TYPO"]})", R"(["frequency_plan_ids"])");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"gateway-deleted", [](world& w) {
                     w.register_claimed();
                     w.rest("DELETE", "/api/v3/gateways/" + w.gw);
                     auto o = w.doctor(w.eui);  // by EUI: P3 finds nothing, P11 asks CUPS who knows it
                     o.anonymous_cups_probe = true;
                     return diag::run_doctor(o);
                 }});
    r.push_back({"eui-not-claimable", [](world& w) {
                     return diag::run_doctor(w.doctor("58A0CB0A1B2C3D4E"));  // no FFFE: a MAC-like EUI, not in the inventory
                 }});
    r.push_back({"registered-manually-not-claimed", [](world& w) {
                     must(w.tts->state().put_claimable({proto::parse_eui(w.eui)->eui, "WIFIPASS", false,
                                                           emu::claimable_gateway::upstream_state::unclaimed, {}}).has_value(), "put_claimable");
                     // The Console's manual form: no authentication required, no keys, no LNS secret.
                     w.rest("POST", "/api/v3/users/admin/gateways",
                            R"({"gateway":{"ids":{"gateway_id":")" + w.gw + R"(","eui":")" + w.eui +
                                R"("},"frequency_plan_ids":["EU_863_870_TTN"],"gateway_server_address":")" + w.lns_address() + R"("}})");
                     w.clock.advance(48h);
                     auto o = w.doctor();
                     // What doctor asks when the evidence cannot separate this from lns-key-missing (§5.5 example A).
                     o.answers.push_back({"user.manual_registration", "user", "used Register gateway"});
                     return diag::run_doctor(o);
                 }});
    r.push_back({"cups-not-yet-contacted", [](world& w) {
                     w.register_claimed(true, 0h);  // claimed a moment ago; the TTIG has not asked TTS CUPS yet
                     auto o = w.doctor();
                     o.thorough = true;  // P12: the TTS side is ready
                     return diag::run_doctor(o);
                 }});
    r.push_back({"cups-key-revoked", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.fleet->stop();  // the TTIG goes quiet
                     w.fleet.reset();
                     w.clock.advance(26h);
                     w.rest("DELETE", "/api/v3/gateways/" + w.gw + "/api-keys/" + w.cups_key_id);
                     auto o = w.doctor();
                     o.thorough = true;
                     return diag::run_doctor(o);
                 }});
    r.push_back({"recreated-stale-credentials", [](world& w) {
                     w.register_claimed();
                     w.rest("DELETE", "/api/v3/gateways/" + w.gw);
                     w.gw = "office-ttig-2";  // the old ID stays reserved
                     w.register_claimed(true, 1h);
                     auto o = w.doctor();
                     o.answers.push_back({"user.recreated", "user", "deleted and re-added"});
                     return diag::run_doctor(o);
                 }});
    r.push_back({"duplicate-connection", [](world& w) {
                     w.register_claimed();
                     w.start_stations(2);  // a second station with the same EUI and the same keys
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.advance(60s);
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"settings-change-disconnect", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.put(R"({"enforce_duty_cycle":true})", R"(["enforce_duty_cycle"])");
                     w.advance(13min);  // the Gateway Server's re-read: gateway_changed, then a reconnect
                     must(w.wait_for(world::connected), "the station did not connect");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"backhaul-flapping", [](world& w) {
                     w.profile = emu::station_profile::basicstation();
                     w.profile.uplink_interval = 20s;
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     for (int i = 0; i < 3; ++i) {  // the link dies silently; TTS's pings go unanswered
                         w.fleet->set_network(0, false);
                         w.advance(2min);
                         w.fleet->set_network(0, true);
                         w.advance(1min);
                         must(w.wait_for(world::connected), "the station did not connect");
                     }
                     w.fleet->set_network(0, false);
                     w.advance(2min);
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"api-rate-limited", [](world& w) {
                     w.register_claimed();
                     w.rest("POST", "/emu/v1/rate-limits",
                            R"({"rate_limits":[{"name":"all","max_per_min":1,"max_burst":1,"associations":["grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"]}]})");
                     w.rest("GET", "/api/v3/gateways/" + w.gw);  // the budget is spent
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"firewall-blocks-ports", [](world& w) {
                     w.register_claimed();
                     w.put(R"({"gateway_server_address":"127.0.0.1:9"})", R"(["gateway_server_address"])");  // nothing listens
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"dns-failure", [](world& w) {
                     w.register_claimed();
                     w.put(R"({"gateway_server_address":"lns.doctor-test.invalid:8887"})", R"(["gateway_server_address"])");
                     return diag::run_doctor(w.doctor());
                 }});
    r.push_back({"tls-trust-mismatch",
                 [](world& w) {
                     w.register_claimed();
                     // The GS address points at the second cluster, whose certificate comes from an unknown CA.
                     const auto lns2 = w.cfg["clusters"][1]["lns_url"].get<std::string>().substr(6);
                     w.put(R"({"gateway_server_address":")" + lns2 + R"("})", R"(["gateway_server_address"])");
                     return diag::run_doctor(w.doctor());
                 },
                 {R"({"clusters":[{"name":"local","address":"localhost","identity_server":true},{"name":"other","address":"other.localhost"}],
                      "tls":{"other":{"certificate":"unknown_ca"}}})"}});
    r.push_back({"config-mode-active", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.fleet->press_setup(0);
                     must(w.wait_for([&](const emu::fleet_summary&) { return w.led() == "red_blink_fast"; }), "the LED never showed red_blink_fast");
                     auto o = w.doctor();
                     o.answers.push_back({"user.led." + w.led(), "user", "the LED the emulated TTIG shows"});
                     w.advance(2min);
                     return diag::run_doctor(o);
                 }});
    r.push_back({"wifi-not-joined", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.fleet->set_network(0, false);
                     must(w.wait_for([&](const emu::fleet_summary&) { return w.led() == "green_blink_slow"; }), "the LED never showed green_blink_slow");
                     auto o = w.doctor();
                     o.answers.push_back({"user.led." + w.led(), "user", "the LED the emulated TTIG shows"});
                     w.advance(3min);
                     return diag::run_doctor(o);
                 }});
    r.push_back({"stale-console", [](world& w) {
                     w.register_claimed();
                     w.start_stations();
                     must(w.wait_for(world::connected), "the station did not connect");
                     w.advance(30s);  // it forwards an uplink, then it is unplugged
                     auto o = w.doctor();
                     o.answers.push_back({"user.device_off", "user", "unplugged a minute ago"});
                     return diag::run_doctor(o);
                 }});
    r.push_back({"clock-skew", [](world& w) {
                     w.register_claimed();
                     // doctor's host runs 2 h fast: its TLS and time verdicts cannot be trusted.
                     static proto::manual_clock fast{proto::time_point{}};
                     fast.set(w.clock.now() + 2h);
                     auto o = w.doctor();
                     o.clock = &fast;
                     return diag::run_doctor(o);
                 }});
    r.push_back({"eui-claimed-elsewhere",
                 [](world& w) {
                     // bob's gateway; doctor runs with alice's key, who cannot see it.
                     auto o = w.doctor(w.eui);
                     o.api_key = token('A');
                     o.anonymous_cups_probe = true;
                     return diag::run_doctor(o);
                 },
                 {R"({"users":[{"user_id":"alice"},{"user_id":"bob"}],
                      "gateways":[{"gateway":{"ids":{"gateway_id":"bobs-ttig","eui":"58A0CBFFFE800123"},"frequency_plan_ids":["EU_863_870_TTN"]},"owner":{"user_id":"bob"}}],
                      "api_keys":[{"owner":{"user_id":"alice"},"key":")" + token('A') + R"(","name":"doctor","rights":["RIGHT_USER_ALL"]}]})"}});
    return r;
}

}  // namespace

TEST_SUITE("diag.doctor") {
    TEST_CASE("every cause the emulators can produce is named first, end to end") {
        const auto all = rows();
        CHECK(all.size() >= 21);  // at least 20 causes + healthy
        for (std::size_t i = 0; i < all.size(); ++i) {
            const auto& r = all[i];
            const std::string name = std::to_string(i) + " " + r.cause;  // unique: a cause may have two set-ups
            SUBCASE(name.c_str()) {
                world w(r.options);
                try {
                    const auto rep = r.run(w);
                    INFO(describe(rep));
                    CHECK_FALSE(rep.api_failure);
                    CHECK(rep.v.cause == std::string(r.cause));
                } catch (const setup_failed& e) {
                    FAIL_CHECK(r.cause << ": the emulated world could not be set up: " << e.what());
                }
            }
        }
    }

    TEST_CASE("--fix: a revoked LNS key is replaced, proven at /router-info, and the station reconnects by itself") {
        world w;
        w.register_claimed();
        w.start_stations();
        REQUIRE(w.wait_for(world::connected));
        w.rest("DELETE", "/api/v3/gateways/" + w.gw + "/api-keys/" + w.lns_key_id);
        w.advance(13min);  // the Gateway Server's re-read drops the session; reconnects are refused
        REQUIRE(w.wait_for([](const emu::fleet_summary& s) { return !world::connected(s); }));
        const auto keys_before = w.rest("GET", "/api/v3/gateways/" + w.gw + "/api-keys")["api_keys"].size();

        const auto d = w.doctor();
        const auto before = diag::run_doctor(d);
        INFO(describe(before));
        REQUIRE(before.v.cause == "lns-key-revoked");
        const auto plan = diag::plan_fix(before, d, {});
        REQUIRE(plan.steps.size() == 1);
        CHECK(plan.steps[0].action == "A1");
        CHECK_FALSE(plan.warnings.empty());  // the e-mail to the administrative contact
        const auto res = diag::apply_fix(plan, before, d, {});
        INFO(describe(res.after));
        CHECK(res.applied);
        CHECK(res.proven);
        CHECK(res.proof == "lnsinfo.ok");  // /router-info accepts the new key
        // Nothing was revoked: one key more than before.
        CHECK(w.rest("GET", "/api/v3/gateways/" + w.gw + "/api-keys")["api_keys"].size() == keys_before + 1);
        // The station, refused at discovery, goes to CUPS, which now sends the new key (its CRC changed).
        w.advance(3min);
        REQUIRE(w.wait_for(world::connected));
        w.advance(30s);
        const auto after = diag::run_doctor(d);
        INFO(describe(after));
        CHECK(after.v.cause == "healthy");
    }

    TEST_CASE("--station-dir: the station's own CUPS key, gone from the gateway, is decisive") {
        world w;
        w.register_claimed();
        w.start_stations();
        REQUIRE(w.wait_for(world::connected));
        w.fleet->stop();
        w.fleet.reset();
        w.rest("DELETE", "/api/v3/gateways/" + w.gw + "/api-keys/" + w.cups_key_id);
        w.clock.advance(26h);  // noticed a day later: the last good CUPS exchange is stale
        auto d = w.doctor();
        d.station_dir = w.home(0);
        const auto rep = diag::run_doctor(d);
        INFO(describe(rep));
        CHECK(rep.v.cause == "cups-key-revoked");
        CHECK(rep.v.confidence == diag::confidence::high);
        const auto it = std::find_if(rep.atoms.begin(), rep.atoms.end(), [](const diag::atom& a) { return a.id == "station.cups_key.revoked"; });
        REQUIRE(it != rep.atoms.end());
        CHECK(it->detail.find(w.cups_key_id) != std::string::npos);
        // The tc set the station holds still matches the registry: no tc atoms.
        CHECK(std::none_of(rep.atoms.begin(), rep.atoms.end(), [](const diag::atom& a) { return a.id.starts_with("station.tc_"); }));
    }

    TEST_CASE("--fix plans only what the API can fix, and says what it needs") {
        world w;
        w.register_claimed();
        w.put(R"({"frequency_plan_ids":[]})", R"(["frequency_plan_ids"])");
        const auto d = w.doctor();
        const auto rep = diag::run_doctor(d);
        REQUIRE(rep.v.cause == "frequency-plan-missing");
        const auto without = diag::plan_fix(rep, d, {});
        CHECK(without.empty());
        CHECK(without.not_fixable.find("--frequency-plan") != std::string::npos);
        const auto plan = diag::plan_fix(rep, d, {"", "EU_863_870_TTN"});
        REQUIRE(plan.steps.size() == 1);
        const auto res = diag::apply_fix(plan, rep, d, {"", "EU_863_870_TTN"});
        CHECK(res.proven);
        CHECK(res.after.v.cause != "frequency-plan-missing");
        // A cause outside the API's reach gets no plan.
        diag::report other = rep;
        other.v.cause = "wifi-not-joined";
        CHECK(diag::plan_fix(other, d, {}).empty());
    }

    TEST_CASE("the healthy ladder makes at most 8 API calls and never opens /traffic") {
        world w;
        w.register_claimed();
        w.start_stations();
        REQUIRE(w.wait_for(world::connected));
        w.advance(30s);
        const auto connects = w.fleet->summary().tc_connects;
        const auto rep = diag::run_doctor(w.doctor());
        INFO(describe(rep));
        CHECK(rep.v.cause == "healthy");
        CHECK(rep.api_calls <= 8);
        for (const auto& p : rep.probes) CHECK(p.target.find("/traffic") == std::string::npos);
        w.advance(10s);
        CHECK(w.fleet->summary().tc_connects == connects);  // the real gateway was not kicked off
        CHECK(world::connected(w.fleet->summary()));
    }

    TEST_CASE("no secret appears in the report, verbose included") {
        world w;
        w.register_claimed();
        auto o = w.doctor();
        o.verbose = true;
        o.thorough = true;  // P12's answer carries the LNS key
        const auto rep = diag::run_doctor(o);
        const std::string text = diag::to_json(rep).dump();
        auto secret_of = [](const std::string& k) { return k.substr(k.rfind('.') + 1); };
        CHECK(text.find(secret_of(w.admin())) == std::string::npos);
        CHECK(text.find(secret_of(w.lns_key)) == std::string::npos);
        CHECK(text.find(secret_of(w.cups_key)) == std::string::npos);
        CHECK(text.find(w.lns_key_id) != std::string::npos);  // key IDs are shown
    }

    TEST_CASE("an API that cannot be reached: the hop is named and the timeout honoured") {
        world w;
        auto o = w.doctor();
        o.tts_url = "https://127.0.0.1:9";  // nothing listens
        o.timeout = 2s;
        const auto t0 = std::chrono::steady_clock::now();
        const auto rep = diag::run_doctor(o);
        CHECK(std::chrono::steady_clock::now() - t0 < 4s);
        REQUIRE(rep.api_failure);
        CHECK(rep.api_failure->find("127.0.0.1") != std::string::npos);
        const auto bad = diag::run_doctor([&] {
            auto k = w.doctor();
            k.api_key = token('B');  // not a key of this deployment
            return k;
        }());
        REQUIRE(bad.api_failure);
    }
}
