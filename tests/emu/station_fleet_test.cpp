// Emulated stations against `emulate tts` on loopback, end to end: real TLS, the station's own
// bytes, the emulator's CUPS and LNS. Station timers run on virtual time; only I/O is real.
#include <doctest/doctest.h>

#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/net/http_client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path = fs::temp_directory_path() / ("ttig-fleet-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}()));
    temp_dir() { fs::create_directories(path); }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::optional<std::string> slurp(const fs::path& p) {
    if (!fs::exists(p)) return std::nullopt;
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct e2e {
    temp_dir dir;
    boost::asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};
    std::unique_ptr<emu::tts_emulator> tts;
    nlohmann::ordered_json cfg;
    std::unique_ptr<net::http_client> http;
    std::unique_ptr<emu::station_fleet> fleet;
    std::thread io;
    std::mutex mu;
    std::vector<emu::station_event> events;
    std::string cups_key, cups_key_id, lns_key, lns_key_id;
    const std::string gw = "office-ttig";
    const std::string eui = "58A0CBFFFE800123";

    emu::station_profile profile = emu::station_profile::ttig();

    explicit e2e(bool allow_cups_uri_update = false, std::chrono::milliseconds header_timeout = {}) {
        emu::emulator_config c;
        c.cups.allow_cups_uri_update = allow_cups_uri_update;
        c.header_timeout = header_timeout;
        c.ca_dir = dir.path / "tts";
        fs::create_directories(c.ca_dir);
        c.real_time_ticks = false;
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        tts = std::move(*e);
        cfg = tts->config_json();
        net::client_config cc;
        cc.tls.ca_pem = {tts->ca_pem()};
        cc.tls.use_system_store = false;
        http = std::make_unique<net::http_client>(cc);
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
    }
    ~e2e() {
        fleet.reset();
        if (tts) tts->stop();
        ioc.stop();
        if (io.joinable()) io.join();
    }

    net::response_result rest(std::string method, std::string target, std::string body = {}) {
        proto::http_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + cfg["admin_api_key"].get<std::string>());
        if (!r.body.empty()) r.headers.set("Content-Type", "application/json");
        return http->request(std::move(r), net::request_options{cfg["api_url"].get<std::string>()});
    }

    std::pair<std::string, std::string> create_key(const std::string& name, const std::string& rights) {
        auto r = rest("POST", "/api/v3/gateways/" + gw + "/api-keys", R"({"name":")" + name + R"(","rights":)" + rights + "}");
        REQUIRE(r);
        REQUIRE_MESSAGE(r->status == 200, r->body);
        auto j = nlohmann::json::parse(r->body);
        return {j["key"].get<std::string>(), j["id"].get<std::string>()};
    }

    // A claimed TTIG as TTS holds it: registry record, CUPS key, LNS key in lbs_lns_secret.
    void register_gateway() {
        const std::string lns = cfg["lns_url"].get<std::string>();
        auto r = rest("POST", "/api/v3/users/admin/gateways",
                      R"({"gateway":{"ids":{"gateway_id":")" + gw + R"(","eui":")" + eui +
                          R"("},"frequency_plan_ids":["EU_863_870_TTN"],"gateway_server_address":")" + lns + R"("}})");
        REQUIRE(r);
        REQUIRE_MESSAGE(r->status == 200, r->body);
        std::tie(cups_key, cups_key_id) = create_key("cups", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"])");
        std::tie(lns_key, lns_key_id) = create_key("lns", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"])");
        auto u = rest("PUT", "/api/v3/gateways/" + gw,
                      R"({"gateway":{"lbs_lns_secret":{"value":")" + emu::base64_encode(lns_key) + R"("}},"field_mask":{"paths":["lbs_lns_secret"]}})");
        REQUIRE(u);
        REQUIRE_MESSAGE(u->status == 200, u->body);
    }

    // The station home a claimed TTIG has: CUPS URI, the CA, its CUPS key.
    fs::path home() const { return dir.path / "station"; }
    void make_home() {
        fs::create_directories(home());
        std::ofstream(home() / "cups.uri") << cfg["cups_url"].get<std::string>();
        std::ofstream(home() / "cups.trust") << tts->ca_pem();
        std::ofstream(home() / "cups.key") << "Authorization: Bearer " << cups_key << "\r\n";
    }

    // A TTIG fresh from the factory: only the factory CUPS URI and its trust, mapped to the
    // emulator's factory listener the way --resolve maps it.
    net::host_map factory_hosts;
    void make_factory_home() {
        fs::create_directories(home());
        const std::string entry = cfg["factory_cups_resolve"].get<std::string>();  // rjs.sm.tc:PORT:127.0.0.1
        REQUIRE(factory_hosts.add(entry));
        const std::string port = entry.substr(entry.find(':') + 1, entry.rfind(':') - entry.find(':') - 1);
        std::ofstream(home() / "cups.uri") << "https://rjs.sm.tc:" << port;
        std::ofstream(home() / "cups.trust") << tts->ca_pem();
    }

    void start_fleet() {
        emu::fleet_options fo;
        if (!factory_hosts.empty()) fo.hosts = &factory_hosts;
        fo.homes = {home()};
        fo.euis = {proto::parse_eui(eui)->eui};
        fo.profile = profile;
        fo.on_event = [this](std::size_t, const emu::station_event& e) {
            std::lock_guard lock(mu);
            events.push_back(e);
        };
        fleet = std::make_unique<emu::station_fleet>(ioc, clock, std::move(fo));
        fleet->start();
    }

    // Real time for I/O, virtual time for the station's timers: polls the fleet until `pred`.
    template <class P>
    bool wait_for(P pred, std::chrono::seconds limit = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred(fleet->summary())) return true;
            std::this_thread::sleep_for(20ms);  // waits for real I/O, never for a timer
        }
        return false;
    }
    // Advances virtual time in steps; before each step every exchange in progress finishes (real
    // I/O must not lose a race against virtual timeouts).
    void advance(std::chrono::seconds total, std::chrono::seconds step = 5s) {
        for (auto t = 0s; t < total; t += step) {
            REQUIRE(wait_for([](const emu::fleet_summary& s) { return s.in_flight == 0; }, 30s));
            clock.advance(step);
            tts->tick();
            fleet->wake();
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE(wait_for([](const emu::fleet_summary& s) { return s.in_flight == 0; }, 30s));
    }
    station::variant engine_set() {
        std::promise<station::variant> v;
        auto f = v.get_future();
        boost::asio::post(ioc, [&] { v.set_value(fleet->engine(0).cups_set_in_use()); });
        return f.get();
    }
    std::size_t count(const std::string& kind) {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (const auto& e : events) n += e.kind == kind;
        return n;
    }
};

bool connected(const emu::fleet_summary& s) { return s.leds.count("green_solid") && s.leds.at("green_solid") == 1; }

}  // namespace

TEST_SUITE("emu.station") {
    TEST_CASE("end to end: a claimed TTIG goes from CUPS to a connected LNS session, seen in the connection stats") {
        e2e t;
        t.register_gateway();
        t.make_home();
        t.start_fleet();
        REQUIRE_MESSAGE(t.wait_for(connected), "the station did not connect");
        // What CUPS wrote, as a real station holds it.
        CHECK(slurp(t.home() / "tc.uri") == t.cfg["lns_url"].get<std::string>());
        CHECK(slurp(t.home() / "tc.key") == "Authorization: " + t.lns_key + "\r\n");
        CHECK(slurp(t.home() / "tc.crt") == "");
        CHECK(slurp(t.home() / "cups-bak.done"));
        CHECK(slurp(t.home() / "tc-bak.done"));
        // The emulated TTS sees it connected.
        auto stats = t.rest("GET", "/api/v3/gs/gateways/" + t.gw + "/connection/stats");
        REQUIRE(stats);
        CHECK_MESSAGE(stats->status == 200, stats->body);
        auto sj = nlohmann::json::parse(stats->body, nullptr, false);
        CHECK(sj.contains("connected_at"));
        CHECK(sj["protocol"] == "semtechws/lbslns");
        auto g = t.rest("GET", "/api/v3/gateways/" + t.gw + "?field_mask=attributes");
        REQUIRE(g);
        CHECK(g->body.find("cups-last-seen") != std::string::npos);
        CHECK(g->body.find(R"("cups-model":"minihub")") != std::string::npos);
    }

    TEST_CASE("end to end: a TTIG goes from its factory CUPS to the TTS CUPS to a connected LNS session once it is claimed") {
        e2e t;
        REQUIRE(t.tts->state().put_claimable({proto::parse_eui(t.eui)->eui, "WIFIPASS", false,
                                              emu::claimable_gateway::upstream_state::unclaimed, {}}));
        t.make_factory_home();
        const auto factory_uri = slurp(t.home() / "cups.uri");
        t.start_fleet();
        // Not claimed yet: the factory CUPS has nothing for it; the station retries every minute.
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") >= 1; }));
        t.advance(2min);
        CHECK(t.count("cups.fail") >= 2);
        CHECK_FALSE(connected(t.fleet->summary()));
        CHECK_FALSE(fs::exists(t.home() / "tc.uri"));

        // The owner claims it (what `ttigctl claim` does): the claim provisions a CUPS key and an LNS key.
        const std::string lns = t.cfg["lns_url"].get<std::string>();  // wss://127.0.0.1:PORT
        const std::string gs_address = lns.substr(6);                   // the claim takes host:port
        auto claim = t.rest("POST", "/api/v3/gcls/claim",
                            R"({"authenticated_identifiers":{"gateway_eui":")" + t.eui + R"(","authentication_code":")" +
                                emu::base64_encode("WIFIPASS") + R"("},"collaborator":{"user_ids":{"user_id":"admin"}},"target_gateway_id":")" +
                                t.gw + R"(","target_gateway_server_address":")" + gs_address + R"(","target_frequency_plan_ids":["EU_863_870_TTN"]})");
        REQUIRE(claim);
        REQUIRE_MESSAGE(claim->status == 200, claim->body);

        // At its next retry the factory CUPS redirects it; a minute later (the station's interval
        // after an update) it asks the TTS CUPS, which sends the LNS settings; then it connects.
        t.advance(3min);
        if (!t.wait_for(connected)) {
            std::lock_guard lock(t.mu);
            for (const auto& e : t.events) MESSAGE(e.kind << " " << e.detail);
            FAIL("the claimed TTIG did not connect");
        }
        CHECK(slurp(t.home() / "cups.uri") == t.cfg["cups_url"].get<std::string>());
        CHECK(slurp(t.home() / "cups-bak.uri") == factory_uri);  // the first set that got a 200
        CHECK(slurp(t.home() / "tc.uri") == lns);
        auto keys = t.rest("GET", "/api/v3/gateways/" + t.gw + "/api-keys");
        REQUIRE(keys);
        const auto kj = nlohmann::json::parse(keys->body);
        std::string cups_key_id;
        for (const auto& k : kj["api_keys"])
            if (k["name"] == "cups-key-claim") cups_key_id = k["id"];
        REQUIRE_FALSE(cups_key_id.empty());
        // The station holds the CUPS key the claim made: "Authorization: NNSXS.<id>.<secret>".
        const auto ck = slurp(t.home() / "cups.key");
        REQUIRE(ck);
        CHECK(ck->starts_with("Authorization: NNSXS." + cups_key_id + "."));
        auto stats = t.rest("GET", "/api/v3/gs/gateways/" + t.gw + "/connection/stats");
        REQUIRE(stats);
        CHECK_MESSAGE(stats->status == 200, stats->body);
        CHECK(nlohmann::json::parse(stats->body).contains("connected_at"));
    }

    TEST_CASE("end to end: a corrupted credential update writes nothing, the station retries every minute and takes the next good one") {
        e2e t;
        t.register_gateway();
        t.make_home();
        t.tts->set_cups_corrupt_tc_cred(true);
        t.start_fleet();
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") >= 1; }));
        t.advance(3min);
        // Each answer carries a tcCred whose certificate overruns the blob: refused, nothing of
        // tc.* written (not even through the temp files), never connected.
        CHECK(t.count("cups.fail") >= 3);
        CHECK(t.count("cups.ok") == 0);
        CHECK_FALSE(fs::exists(t.home() / "tc.uri"));
        CHECK_FALSE(fs::exists(t.home() / "tc.key"));
        CHECK_FALSE(fs::exists(t.home() / "tc-temp.key"));
        CHECK(slurp(t.home() / "cups-bak.done"));  // the 200 itself counted: cups-bak taken anyway
        CHECK_FALSE(connected(t.fleet->summary()));
        // The server mends its answer: the next retry (60 s) takes it and the station connects.
        t.tts->set_cups_corrupt_tc_cred(false);
        t.advance(2min);
        REQUIRE(t.wait_for(connected));
        CHECK(slurp(t.home() / "tc.key") == "Authorization: " + t.lns_key + "\r\n");
    }

    TEST_CASE("end to end: a deleted LNS key ends in CUPS answering without LNS credentials — the station keeps asking") {
        e2e t;
        t.register_gateway();
        t.make_home();
        t.start_fleet();
        REQUIRE(t.wait_for(connected));
        auto del = t.rest("DELETE", "/api/v3/gateways/" + t.gw + "/api-keys/" + t.lns_key_id);
        REQUIRE(del);
        REQUIRE(del->status == 200);
        // The Gateway Server's re-read (10 min ± 20 %) drops the session; reconnects are refused.
        t.advance(13min);
        REQUIRE(t.wait_for([](const emu::fleet_summary& s) { return !connected(s); }));
        t.advance(15min);
        CHECK(t.count("tc.to_cups") >= 1);  // discovery said Unauthorized: back to CUPS
        // CUPS still hands out the deleted key (lbs_lns_secret is unchanged): the station cannot
        // recover by itself until the registry gets a working LNS key.
        CHECK(t.count("cups.ok") >= 2);
        CHECK_FALSE(connected(t.fleet->summary()));
    }

    TEST_CASE("end to end: a deleted CUPS key leaves a station CUPS cannot reach any more (bak holds the same key)") {
        e2e t;
        t.register_gateway();
        t.make_home();
        t.start_fleet();
        REQUIRE(t.wait_for(connected));
        auto del = t.rest("DELETE", "/api/v3/gateways/" + t.gw + "/api-keys/" + t.cups_key_id);
        REQUIRE(del);
        REQUIRE(del->status == 200);
        // LNS still works (its key is fine); every regular CUPS check (24 h while TC is connected)
        // fails: regular and bak are refused, boot has no URI.
        t.advance(25h, 30min);
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") >= 1; }));
        t.advance(50h, 30min);
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") >= 3; }));
        CHECK(t.count("cups.ok") == 1);  // only the first contact, before the key was deleted
        // A power cycle does not help either: CUPS at once, refused again.
        const auto before = t.count("cups.fail");
        t.fleet->power_cycle(0);
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") > before; }));
        CHECK(slurp(t.home() / "cups-bak.key") == slurp(t.home() / "cups.key"));
        CHECK(t.wait_for(connected));  // still forwarding through the LNS
    }

    TEST_CASE("end to end: a wrong target_cups_uri moves the station away — it gets back to CUPS only through cups-bak, after 8 daily failures") {
        e2e t(true);  // gcs.basic-station.allow-cups-uri-update
        t.register_gateway();
        t.make_home();
        t.start_fleet();
        REQUIRE(t.wait_for(connected));
        const std::string good = t.cfg["cups_url"].get<std::string>();
        const std::string wrong = "https://127.0.0.1:1";  // nothing listens there
        auto u = t.rest("PUT", "/api/v3/gateways/" + t.gw,
                        R"({"gateway":{"target_cups_uri":")" + wrong + R"(","target_cups_key":{"value":")" + emu::base64_encode(t.cups_key) +
                            R"("}},"field_mask":{"paths":["target_cups_uri","target_cups_key"]}})");
        REQUIRE(u);
        REQUIRE_MESSAGE(u->status == 200, u->body);
        // The next regular check (24 h while TC is connected) follows the redirect.
        t.advance(25h, 1h);
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return slurp(t.home() / "cups.uri") == wrong; }));
        CHECK(slurp(t.home() / "cups-bak.uri") == good);  // the first set that ever worked
        const auto ok_before = t.count("cups.ok");
        // Connection refused is a failure, not a rejection: the regular set is tried 8 times, once a
        // day while TC is connected (§3.4, §3.5); the 9th contact uses cups-bak and succeeds.
        t.advance(8 * 24h, 2h);
        CHECK(t.count("cups.fail") == 8);
        CHECK(t.count("cups.ok") == ok_before);
        t.advance(26h, 2h);
        const bool back = t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.ok") > ok_before; });
        if (!back) {
            std::lock_guard lock(t.mu);
            for (const auto& e : t.events) MESSAGE(e.kind << ": " << e.detail);
        }
        REQUIRE(back);
        // Success resets to the regular set, which still holds the wrong URI: the cycle repeats.
        CHECK(slurp(t.home() / "cups.uri") == wrong);
        CHECK(t.engine_set() == station::variant::regular);
        CHECK(t.wait_for(connected));  // LNS unaffected throughout
    }

    TEST_CASE("end to end: a slow ECDSA handshake against a short header timeout never gets through (tls-handshake-too-slow)") {
        // The emulator's certificates are ECDSA; its listeners close a connection that sends no
        // request head within 300 ms (TTS's LBS listener had 5 s before 3.30.2). These are real
        // timeouts on both sides, so this test takes about a second of real time.
        e2e t(false, 300ms);
        t.register_gateway();
        t.make_home();
        t.profile.ecdsa_handshake_delay = 800ms;
        t.start_fleet();
        REQUIRE(t.wait_for([&](const emu::fleet_summary&) { return t.count("cups.fail") >= 1; }));
        CHECK(t.count("cups.ok") == 0);
        CHECK_FALSE(slurp(t.home() / "tc.uri"));
        CHECK_FALSE(slurp(t.home() / "cups-bak.done"));  // no 200 ever

        // The same station, fast enough for the timeout: provisioned and connected.
        e2e fast(false, 2000ms);
        fast.register_gateway();
        fast.make_home();
        fast.profile.ecdsa_handshake_delay = 100ms;
        fast.start_fleet();
        CHECK(fast.wait_for(connected));
    }
}
