// `ttigctl serve` (provision::serve_server) end to end: emulated stations (emu::station_fleet) talk
// to serve on loopback over real TLS and WebSockets; the hand-over and relay cases end at the
// emulated The Things Stack (emu::tts_emulator). Station timers and serve's pings run on a
// manual clock; only real I/O is waited for.
#include <doctest/doctest.h>

#include "support/run_cli.hpp"
#include "support/vectors.hpp"

#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/provision/serve.hpp>
#include <ttig/tts/redact.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <thread>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// basicstation-protocol §4.6: EU863-870, MuxTime 1735689600.123456 (1060 bytes).
constexpr std::string_view eu_router_config = test::eu_router_config_vector;

std::optional<std::string> slurp(const fs::path& p) {
    if (!fs::exists(p)) return std::nullopt;
    return test::slurp(p);
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

proto::bytes der_of(const std::string& pem) {
    auto d = pki::certificate_der(proto::as_bytes(pem));
    REQUIRE(d);
    return *d;
}

struct harness {
    test::temp_dir dir;
    boost::asio::io_context ioc;
    // 1735689600.123456: the MuxTime of the protocol document's router_config vector.
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600} + std::chrono::microseconds{123456}}};
    std::unique_ptr<emu::tts_emulator> tts;
    nlohmann::ordered_json cfg;
    std::unique_ptr<net::http_client> http;
    std::unique_ptr<provision::serve_server> serve;
    std::unique_ptr<emu::station_fleet> fleet;
    std::thread io;
    std::mutex mu;
    std::vector<provision::serve_event> events;
    std::vector<emu::station_event> station_events;
    std::string cups_key, lns_key;
    const std::string gw = "desk-gw";
    const std::string eui_text = "58A0CBFFFE800123";
    const proto::eui64 eui = proto::parse_eui("58A0CBFFFE800123")->eui;
    emu::station_profile profile = emu::station_profile::basicstation();

    explicit harness(bool with_tts) {
        if (with_tts) {
            emu::emulator_config c;
            c.ca_dir = dir.path / "tts";
            c.real_time_ticks = false;
            auto e = emu::tts_emulator::start(ioc, clock, c);
            REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
            tts = std::move(*e);
            cfg = tts->config_json();
            net::client_config cc;
            cc.tls.ca_pem = {tts->ca_pem()};
            cc.tls.use_system_store = false;
            http = std::make_unique<net::http_client>(cc);
        }
        profile.features = "rmtsh prod";  // a production build: router_config without nocca/nodc/nodwell
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
    }
    ~harness() {
        fleet.reset();
        if (serve) serve->stop();
        if (tts) tts->stop();
        ioc.stop();
        if (io.joinable()) io.join();
    }

    provision::serve_options options() {
        provision::serve_options o;
        o.bind = "127.0.0.1";
        o.cups_port = 0;
        o.lns_port = 0;
        o.state_dir = dir.path / "serve";
        return o;
    }

    void start_serve(provision::serve_options o) {
        auto s = provision::serve_server::start(ioc, clock, std::move(o), [this](const provision::serve_event& e) {
            std::lock_guard lock(mu);
            events.push_back(e);
        });
        REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.err().what()));
        serve = std::move(*s);
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

    std::string create_key(const std::string& name, const std::string& rights) {
        auto r = rest("POST", "/api/v3/gateways/" + gw + "/api-keys", R"({"name":")" + name + R"(","rights":)" + rights + "}");
        REQUIRE(r);
        REQUIRE_MESSAGE(r->status == 200, r->body);
        return nlohmann::json::parse(r->body)["key"].get<std::string>();
    }

    // The gateway as The Things Stack holds it: registered, a CUPS key, an LNS key in lbs_lns_secret.
    void register_gateway() {
        const std::string lns = cfg["lns_url"].get<std::string>();
        auto r = rest("POST", "/api/v3/users/admin/gateways",
                      R"({"gateway":{"ids":{"gateway_id":")" + gw + R"(","eui":")" + eui_text +
                          R"("},"frequency_plan_ids":["EU_863_870_TTN"],"gateway_server_address":")" + lns + R"("}})");
        REQUIRE(r);
        REQUIRE_MESSAGE(r->status == 200, r->body);
        cups_key = create_key("cups", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"])");
        lns_key = create_key("lns", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"])");
        auto u = rest("PUT", "/api/v3/gateways/" + gw,
                      R"({"gateway":{"lbs_lns_secret":{"value":")" + emu::base64_encode(lns_key) + R"("}},"field_mask":{"paths":["lbs_lns_secret"]}})");
        REQUIRE(u);
        REQUIRE_MESSAGE(u->status == 200, u->body);
    }

    bool connected_at_tts() {
        auto stats = rest("GET", "/api/v3/gs/gateways/" + gw + "/connection/stats");
        if (!stats || stats->status != 200) return false;
        return nlohmann::json::parse(stats->body, nullptr, false).contains("connected_at");
    }

    // A generic Basics Station whose user edited cups.uri to point at serve, with serve's CA as trust.
    fs::path home() const { return dir.path / "station"; }
    void make_home() {
        fs::create_directories(home());
        std::ofstream(home() / "cups.uri") << serve->endpoints().cups_uri;
        std::ofstream(home() / "cups.trust") << serve->pki().ca_pem;
    }

    void start_fleet() {
        emu::fleet_options fo;
        fo.homes = {home()};
        fo.euis = {eui};
        fo.profile = profile;
        fo.on_event = [this](std::size_t, const emu::station_event& e) {
            std::lock_guard lock(mu);
            station_events.push_back(e);
        };
        fleet = std::make_unique<emu::station_fleet>(ioc, clock, std::move(fo));
        fleet->start();
    }

    // Real time for I/O only: polls until `pred` holds.
    template <class P>
    bool wait_for(P pred, std::chrono::seconds limit = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred()) return true;
            std::this_thread::sleep_for(20ms);  // waits for real I/O, never for a timer
        }
        return false;
    }
    bool idle() {
        return wait_for([&] { return fleet->summary().in_flight == 0; }, 30s);
    }
    // Advances virtual time in steps; every exchange in progress finishes before each step.
    void advance(std::chrono::seconds total, std::chrono::seconds step = 5s) {
        for (auto t = 0s; t < total; t += step) {
            REQUIRE(idle());
            clock.advance(step);
            if (tts) tts->tick();
            serve->tick();
            fleet->wake();
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE(idle());
    }
    bool station_connected() {
        auto s = fleet->summary();
        return s.leds.count("green_solid") && s.leds.at("green_solid") == 1;
    }

    std::vector<provision::serve_event> of(provision::serve_event_kind k) {
        std::lock_guard lock(mu);
        std::vector<provision::serve_event> out;
        for (const auto& e : events)
            if (e.kind == k) out.push_back(e);
        return out;
    }
    std::size_t count(provision::serve_event_kind k) { return of(k).size(); }
    bool seen(provision::serve_event_kind k, std::size_t n = 1) {
        return wait_for([&] { return count(k) >= n; });
    }
    std::string station_router_config() {
        std::promise<std::string> p;
        auto f = p.get_future();
        boost::asio::post(ioc, [&] { p.set_value(fleet->engine(0).router_config()); });
        return f.get();
    }
    std::string all_events_json() {
        std::lock_guard lock(mu);
        std::string s;
        for (const auto& e : events) s += provision::to_json(e).dump() + "\n";
        return s;
    }
    void dump() {
        std::lock_guard lock(mu);
        for (const auto& e : events) MESSAGE(provision::to_text(e));
        for (const auto& e : station_events) MESSAGE("station " << e.kind << " " << e.detail);
    }
};

// POSTs an update-info body to serve's CUPS and decodes the answer as a station reads it.
proto::result<proto::update_info_response> ask_cups(harness& h, const proto::update_info_request& r) {
    net::client_config cc;
    cc.tls.ca_pem = {h.serve->pki().ca_pem};
    cc.tls.use_system_store = false;
    net::http_client c(cc);
    proto::http_request req;
    req.method = "POST";
    req.target = "/update-info";
    req.body = proto::encode_update_info_request(r);
    req.headers.set("Content-Type", "application/json");
    auto res = c.request(std::move(req), net::request_options{h.serve->endpoints().cups_uri});
    if (!res) return res.err();
    REQUIRE_MESSAGE(res->status == 200, res->body);
    return proto::decode_update_info_response(proto::as_bytes(res->body), proto::cups_dialect::station);
}

}  // namespace

TEST_SUITE("provision.serve") {
    TEST_CASE("serve end to end: a station pointed at serve is handed over to the emulated TTS and connects there") {
        harness h(true);
        h.register_gateway();
        auto o = h.options();
        o.defaults.policy = provision::serve_policy::handover;
        o.defaults.handover.cups_uri = h.cfg["cups_url"].get<std::string>();
        o.defaults.handover.cups_trust = der_of(h.tts->ca_pem());
        o.defaults.handover.cups_key = h.cups_key;
        h.start_serve(std::move(o));
        h.make_home();
        h.start_fleet();

        REQUIRE(h.seen(provision::serve_event_kind::cups_answer));
        // The request as the station sent it: its URIs and CRCs.
        const auto req = h.of(provision::serve_event_kind::cups_request).at(0);
        CHECK(req.station == h.eui);
        CHECK(req.data["cupsUri"] == h.serve->endpoints().cups_uri);
        CHECK(req.data["tcUri"].is_null());
        CHECK(req.data["cupsCredCrc"] == test::reference_set_crc(h.serve->pki().ca_pem, "", ""));
        CHECK(req.data["tcCredCrc"] == 2077607535u);  // no tc.* files (TV3)
        CHECK(req.data["model"] == "linux");
        CHECK(req.data["tls"] == true);
        CHECK(req.data["auth"].is_null());
        // The answer: the TTS CUPS URI and its credentials (trust + "Authorization: <key>").
        const auto ans = h.of(provision::serve_event_kind::cups_answer).at(0);
        CHECK(ans.data["policy"] == "handover");
        CHECK(ans.data["cupsUri"] == h.cfg["cups_url"]);
        CHECK(ans.data["tcUri"].is_null());
        const std::string expected_blob_text = std::string(proto::as_chars(der_of(h.tts->ca_pem()))) + std::string(4, '\0') +
                                               "Authorization: " + h.cups_key + "\r\n";
        CHECK(ans.data["cupsCred"]["bytes"] == expected_blob_text.size());
        CHECK(ans.data["cupsCred"]["crc"] == test::reference_crc32(expected_blob_text));

        // A minute later (the station's interval after a CUPS change) it asks the TTS CUPS, gets
        // its LNS settings and connects to the TTS LNS.
        h.advance(90s);
        if (!h.wait_for([&] { return h.station_connected(); })) {
            h.dump();
            FAIL("the station did not connect to the emulated TTS");
        }
        CHECK(slurp(h.home() / "cups.uri") == h.cfg["cups_url"].get<std::string>());
        CHECK(slurp(h.home() / "cups.key") == "Authorization: " + h.cups_key + "\r\n");
        CHECK(slurp(h.home() / "cups-bak.uri") == h.serve->endpoints().cups_uri);  // serve's set got the first 200
        CHECK(slurp(h.home() / "tc.uri") == h.cfg["lns_url"].get<std::string>());
        CHECK(h.connected_at_tts());
        CHECK(h.count(provision::serve_event_kind::lns_connect) == 0);  // never on serve's LNS
        // Keys never appear in full in what serve reports.
        const std::string all = h.all_events_json();
        CHECK(all.find(h.cups_key) == std::string::npos);
        CHECK(all.find(tts::redact_key(h.cups_key)) != std::string::npos);
        auto st = h.serve->stations();
        REQUIRE(st.size() == 1);
        CHECK(st[0].phase == "handed-over");
        CHECK(st[0].cups_requests == 1);
    }

    TEST_CASE("serve end to end: capture keeps the station on serve's LNS — router_config, uplinks, pings") {
        harness h(false);
        h.profile.uplink_interval = 10s;
        h.start_serve(h.options());
        h.make_home();
        h.start_fleet();

        if (!h.wait_for([&] { return h.station_connected() && h.count(provision::serve_event_kind::router_config) >= 1; })) {
            h.dump();
            FAIL("the station did not connect to serve's LNS");
        }
        const auto& ep = h.serve->endpoints();
        const std::string ca_der(proto::as_chars(h.serve->pki().ca_der));
        // CUPS gave it serve's LNS and serve's CA as tc.trust, no key.
        const auto ans = h.of(provision::serve_event_kind::cups_answer).at(0);
        CHECK(ans.data["policy"] == "capture");
        CHECK(ans.data["cupsUri"].is_null());
        CHECK(ans.data["tcUri"] == ep.lns_uri);
        CHECK(ans.data["tcCred"]["crc"] == test::reference_set_crc(ca_der, "", ""));
        CHECK(slurp(h.home() / "tc.uri") == ep.lns_uri);
        CHECK(slurp(h.home() / "tc.trust") == ca_der);
        CHECK(slurp(h.home() / "tc.key") == "");
        // Discovery, traffic, version, router_config.
        const auto disc = h.of(provision::serve_event_kind::lns_discovery).at(0);
        CHECK(disc.data["uri"] == ep.lns_uri + "/traffic/eui-58A0CBFFFE800123");
        CHECK(disc.data["tls"] == true);
        CHECK(h.count(provision::serve_event_kind::lns_connect) == 1);
        const auto ver = h.of(provision::serve_event_kind::version).at(0);
        CHECK(ver.data["model"] == "linux");
        CHECK(ver.data["production"] == true);
        const auto rc = h.of(provision::serve_event_kind::router_config).at(0);
        CHECK(rc.data["source"] == "serve");
        CHECK(rc.data["region"] == "EU863");
        CHECK(rc.data["bytes"] == eu_router_config.size());
        CHECK(h.station_router_config() == eu_router_config);  // the protocol document's bytes

        // Uplinks every 10 s of virtual time; a ping every 30 s, answered.
        h.advance(35s);
        REQUIRE(h.seen(provision::serve_event_kind::pong));
        REQUIRE(h.seen(provision::serve_event_kind::uplink, 3));
        const auto up = h.of(provision::serve_event_kind::uplink).at(0);
        CHECK(up.data["msgtype"] == "updf");
        CHECK(up.data["DevAddr"] == "26011234");
        CHECK(up.data["FCnt"] == 0);
        CHECK(up.data["Freq"] == 868100000);
        CHECK(h.count(provision::serve_event_kind::ping) == 1);
        CHECK(h.of(provision::serve_event_kind::ping).at(0).data["n"] == 1);

        // The next CUPS check (24 h while TC is connected) reports the tc set it holds now; serve
        // has nothing more to send.
        h.advance(25h, 1h);
        REQUIRE(h.seen(provision::serve_event_kind::cups_answer, 2));
        const auto again = h.of(provision::serve_event_kind::cups_request).at(1);
        CHECK(again.data["tcUri"] == ep.lns_uri);
        CHECK(again.data["tcCredCrc"] == test::reference_set_crc(ca_der, "", ""));
        CHECK(h.of(provision::serve_event_kind::cups_answer).at(1).data["no_change"] == true);
        CHECK(h.station_connected());
        auto st = h.serve->stations();
        REQUIRE(st.size() == 1);
        CHECK(st[0].phase == "connected");  // a CUPS check while connected does not change it
        CHECK(st[0].connected);
        CHECK(st[0].cups_requests == 2);
        CHECK(st[0].uplinks >= 3);
        CHECK(st[0].pongs >= 1);
        CHECK(st[0].model == "linux");

        // The station goes away: a disconnect event.
        h.fleet->set_network(0, false);
        REQUIRE(h.seen(provision::serve_event_kind::disconnect));
    }

    TEST_CASE("serve end to end: relay carries a captured station's traffic to the emulated TTS LNS with its LNS key") {
        harness h(true);
        h.register_gateway();
        auto o = h.options();
        o.defaults.policy = provision::serve_policy::relay;
        o.defaults.relay.lns_uri = h.cfg["lns_url"].get<std::string>();
        o.defaults.relay.lns_key = h.lns_key;
        o.relay_client.tls.ca_pem = {h.tts->ca_pem()};
        o.relay_client.tls.use_system_store = false;
        h.start_serve(std::move(o));
        h.make_home();
        h.start_fleet();
        if (!h.wait_for([&] { return h.station_connected() && h.count(provision::serve_event_kind::router_config) >= 1; })) {
            h.dump();
            FAIL("the relayed station did not get a router_config");
        }
        // The station is on serve's LNS; TTS sees the gateway connected through the relay.
        CHECK(slurp(h.home() / "tc.uri") == h.serve->endpoints().lns_uri);
        CHECK(h.wait_for([&] { return h.connected_at_tts(); }));
        const auto rc = h.of(provision::serve_event_kind::router_config).at(0);
        CHECK(rc.data["source"] == "relay");
        CHECK(rc.data["region"] == "EU863");
        CHECK(h.station_router_config().find(R"("region":"EU863")") != std::string::npos);
        bool relay_up = false;
        for (const auto& e : h.of(provision::serve_event_kind::relay)) relay_up = relay_up || e.data["state"] == "connected";
        CHECK(relay_up);
        CHECK(h.all_events_json().find(h.lns_key) == std::string::npos);
        auto st = h.serve->stations();
        REQUIRE(st.size() == 1);
        CHECK(st[0].phase == "relaying");
    }

    TEST_CASE("serve relay: an LNS that refuses the key drops the station and says why") {
        harness h(true);
        h.register_gateway();
        auto o = h.options();
        o.defaults.policy = provision::serve_policy::relay;
        o.defaults.relay.lns_uri = h.cfg["lns_url"].get<std::string>();
        auto unknown_key = emu::generate_api_key();  // well formed, never issued by this emulator
        REQUIRE(unknown_key);
        o.defaults.relay.lns_key = unknown_key->token;
        o.relay_client.tls.ca_pem = {h.tts->ca_pem()};
        o.relay_client.tls.use_system_store = false;
        h.start_serve(std::move(o));
        h.make_home();
        h.start_fleet();
        REQUIRE(h.wait_for([&] {
            for (const auto& e : h.of(provision::serve_event_kind::relay))
                if (e.data["state"] == "failed") return true;
            return false;
        }));
        std::string reason;
        for (const auto& e : h.of(provision::serve_event_kind::relay))
            if (e.data["state"] == "failed") reason = e.data["reason"].get<std::string>();
        CHECK(reason.find("Unauthorized") != std::string::npos);
        CHECK(reason.find("BBBBBBBBBBBBBBBB") == std::string::npos);
        REQUIRE(h.seen(provision::serve_event_kind::disconnect));
    }

    TEST_CASE("serve CUPS answers: hand-over sends only what differs, per-EUI policies apply") {
        harness h(false);
        auto o = h.options();
        const std::string trust_pem = pki::make_ca("test TTS CA")->cert_pem;
        o.defaults.policy = provision::serve_policy::capture;
        provision::station_settings hand;
        hand.policy = provision::serve_policy::handover;
        hand.handover.cups_uri = "https://eu1.cloud.thethings.network:443";
        hand.handover.cups_trust = der_of(trust_pem);
        hand.handover.cups_key = "NNSXS.EXAMPLEKEY";
        hand.handover.tc_uri = "wss://eu1.cloud.thethings.network:8887";
        hand.handover.tc_trust = der_of(trust_pem);
        hand.handover.tc_key = "NNSXS.LNSKEY";
        const proto::eui64 other{0x0016C001FF100001};
        o.stations[other] = hand;
        h.start_serve(std::move(o));

        proto::update_info_request r;
        r.router = other;
        r.station = "2.0.6(rpi/std) 2024-05-01 12:00:00";
        r.model = "rpi";
        r.cups_uri = h.serve->endpoints().cups_uri;
        auto a = ask_cups(h, r);
        REQUIRE(a);
        CHECK(a->cups_uri == "https://eu1.cloud.thethings.network:443");
        CHECK(a->tc_uri == "wss://eu1.cloud.thethings.network:8887");
        const std::string trust(proto::as_chars(der_of(trust_pem)));
        CHECK(proto::as_chars(a->cups_cred) == trust + std::string(4, '\0') + "Authorization: NNSXS.EXAMPLEKEY\r\n");
        CHECK(proto::as_chars(a->tc_cred) == trust + std::string(4, '\0') + "Authorization: NNSXS.LNSKEY\r\n");

        // A station that already holds all of it: "no change", 14 bytes in the station's dialect.
        r.cups_uri = "https://eu1.cloud.thethings.network:443";
        r.tc_uri = "wss://eu1.cloud.thethings.network:8887";
        r.cups_cred_crc = test::reference_set_crc(trust, "", "Authorization: NNSXS.EXAMPLEKEY\r\n");
        r.tc_cred_crc = test::reference_set_crc(trust, "", "Authorization: NNSXS.LNSKEY\r\n");
        a = ask_cups(h, r);
        REQUIRE(a);
        CHECK(a->no_change());
        const auto last = h.of(provision::serve_event_kind::cups_answer).back();
        CHECK(last.data["bytes"] == 14);
        CHECK(last.data["no_change"] == true);

        // Any other EUI gets the default policy: capture.
        r.router = h.eui;
        r.cups_uri = h.serve->endpoints().cups_uri;
        r.tc_uri.reset();
        r.cups_cred_crc = r.tc_cred_crc = proto::empty_set_crc;
        a = ask_cups(h, r);
        REQUIRE(a);
        CHECK(a->cups_uri.empty());
        CHECK(a->tc_uri == h.serve->endpoints().lns_uri);
        CHECK(h.serve->settings_for(other).policy == provision::serve_policy::handover);
        CHECK(h.serve->settings_for(h.eui).policy == provision::serve_policy::capture);

        // An undecodable body: 400 and a cups_refused event.
        net::client_config cc;
        cc.tls.ca_pem = {h.serve->pki().ca_pem};
        cc.tls.use_system_store = false;
        net::http_client c(cc);
        proto::http_request bad;
        bad.method = "POST";
        bad.target = "/update-info";
        bad.body = "{not json";
        auto res = c.request(std::move(bad), net::request_options{h.serve->endpoints().cups_uri});
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(h.count(provision::serve_event_kind::cups_refused) == 1);
    }

    TEST_CASE("serve binds only the address it is given") {
        harness h(false);
        h.start_serve(h.options());
        const auto port = h.serve->endpoints().cups_port;
        net::client_config cc;
        cc.tls.insecure = true;
        net::http_client c(cc);
        proto::http_request get;
        get.method = "POST";
        get.target = "/update-info";
        get.body = "{}";
        // 127.0.0.2 is this machine too (loopback /8), but serve is bound to 127.0.0.1 alone.
        auto other = c.request(get, net::request_options{"https://127.0.0.2:" + std::to_string(port), 3000ms});
        REQUIRE_FALSE(other);
        CHECK(other.err().id() == "net.connect_refused");
        auto same = c.request(get, net::request_options{"https://127.0.0.1:" + std::to_string(port), 3000ms});
        REQUIRE(same);
        CHECK(same->status == 400);

        CHECK_FALSE(provision::check_bind_address("0.0.0.0"));
        CHECK_FALSE(provision::check_bind_address("::"));
        CHECK_FALSE(provision::check_bind_address("localhost"));
        CHECK_FALSE(provision::check_bind_address(""));
        CHECK(provision::check_bind_address("0.0.0.0").err().id() == "serve.bad_bind");
        CHECK(provision::check_bind_address("127.0.0.1"));
        CHECK(provision::check_bind_address("::1"));
        CHECK(provision::check_bind_address("192.168.1.20"));
    }

    TEST_CASE("serve keeps its CA: keys 0600, reused, the server certificate re-made when the names change") {
        test::temp_dir d;
        const auto state = d.path / "serve";
        auto a = provision::prepare_pki(state, {"127.0.0.1", "localhost"});
        REQUIRE_MESSAGE(a, (a ? "" : a.err().what()));
        CHECK(a->ca_created);
        CHECK(a->server_created);
        CHECK(mode_of(state / "ca.key") == 0600);
        CHECK(mode_of(state / "server.key") == 0600);
        CHECK(mode_of(state) == 0700);
        CHECK(test::slurp(state / "ca.pem") == a->ca_pem);
        auto b = provision::prepare_pki(state, {"127.0.0.1", "localhost"});
        REQUIRE(b);
        CHECK_FALSE(b->ca_created);
        CHECK_FALSE(b->server_created);
        CHECK(b->ca_pem == a->ca_pem);
        CHECK(b->server_cert_pem == a->server_cert_pem);
        auto c = provision::prepare_pki(state, {"127.0.0.1", "gw-desk.lan"});
        REQUIRE(c);
        CHECK_FALSE(c->ca_created);
        CHECK(c->server_created);
        CHECK(c->ca_pem == a->ca_pem);
        CHECK(c->server_cert_pem != a->server_cert_pem);
        // A CA key others can read is refused, not used.
        ::chmod((state / "ca.key").c_str(), 0644);
        auto loose = provision::prepare_pki(state, {"127.0.0.1"});
        REQUIRE_FALSE(loose);
        CHECK(loose.err().id() == "serve.state_dir");
        CHECK(loose.err().detail.find("chmod 600") != std::string::npos);
        // Half a CA is refused too.
        ::chmod((state / "ca.key").c_str(), 0600);
        fs::remove(state / "ca.key");
        auto half = provision::prepare_pki(state, {"127.0.0.1"});
        REQUIRE_FALSE(half);
        CHECK(half.err().id() == "serve.state_dir");
    }

    TEST_CASE("serve settings file: defaults, station entries, trust files, errors that name the JSON path") {
        test::temp_dir d;
        const std::string pem = pki::make_ca("file CA")->cert_pem;
        test::write_file(d / "tts-ca.pem", pem);
        auto f = provision::parse_settings_file(
            R"({"policy":"handover","cups_uri":"https://eu1.cloud.thethings.network:443","cups_trust":"tts-ca.pem",
                "cups_key":"Authorization: Bearer NNSXS.TOP\n",
                "stations":{"58A0CB800123":{"policy":"relay","relay_lns":"wss://eu1.cloud.thethings.network:8887","relay_key":"NNSXS.GW"}}})",
            d.path);
        REQUIRE_MESSAGE(f, (f ? "" : f.err().what()));
        provision::station_settings s;
        f->top.apply_to(s);
        CHECK(s.policy == provision::serve_policy::handover);
        CHECK(s.handover.cups_key == "NNSXS.TOP");
        CHECK(s.handover.cups_trust == der_of(pem));
        CHECK(provision::validate(s, "default"));
        REQUIRE(f->stations.size() == 1);
        const auto& [e, patch] = *f->stations.begin();
        CHECK(e.hex() == "58A0CBFFFE800123");
        provision::station_settings gw = s;
        patch.apply_to(gw);
        CHECK(gw.policy == provision::serve_policy::relay);
        CHECK(gw.relay.lns_key == "NNSXS.GW");
        CHECK(provision::validate(gw, e.hex()));

        auto bad_json = provision::parse_settings_file("{", d.path);
        REQUIRE_FALSE(bad_json);
        CHECK(bad_json.err().id() == "serve.bad_settings_file");
        auto unknown = provision::parse_settings_file(R"({"stations":{"58A0CBFFFE800123":{"cups_urii":"x"}}})", d.path);
        REQUIRE_FALSE(unknown);
        CHECK(unknown.err().detail == "/stations/58A0CBFFFE800123/cups_urii: unknown key");
        auto policy = provision::parse_settings_file(R"({"policy":"steal"})", d.path);
        REQUIRE_FALSE(policy);
        CHECK(policy.err().id() == "serve.bad_policy");
        auto missing = provision::parse_settings_file(R"({"cups_trust":"nope.pem"})", d.path);
        REQUIRE_FALSE(missing);
        CHECK(missing.err().detail.starts_with("/cups_trust: "));

        provision::station_settings incomplete;
        incomplete.policy = provision::serve_policy::handover;
        incomplete.handover.cups_uri = "https://eu1.cloud.thethings.network";  // no port: a station refuses it
        auto v = provision::validate(incomplete, "default");
        REQUIRE_FALSE(v);
        CHECK(v.err().id() == "serve.bad_target");
        incomplete.handover.cups_uri = "https://eu1.cloud.thethings.network:443";
        v = provision::validate(incomplete, "default");
        REQUIRE_FALSE(v);
        CHECK(v.err().id() == "serve.bad_policy");
        provision::station_settings relay;
        relay.policy = provision::serve_policy::relay;
        CHECK(provision::validate(relay, "x").err().id() == "serve.bad_policy");
    }

    TEST_CASE("serve events as JSON lines and text") {
        provision::serve_event e;
        e.time = proto::time_point{std::chrono::seconds{1735689600} + std::chrono::milliseconds{42}};
        e.kind = provision::serve_event_kind::cups_request;
        e.station = proto::eui64{0x58A0CBFFFE800123};
        e.remote = "127.0.0.1:40000";
        e.data["cupsCredCrc"] = 2077607535u;
        e.data["tcUri"] = nullptr;
        e.data["station"] = "2.0.6(rpi/std) 2024-05-01 12:00:00";
        const auto j = provision::to_json(e);
        CHECK(j.dump() ==
              R"({"time":"2025-01-01T00:00:00.042Z","event":"cups_request","eui":"58A0CBFFFE800123","remote":"127.0.0.1:40000","cupsCredCrc":2077607535,"tcUri":null,"station":"2.0.6(rpi/std) 2024-05-01 12:00:00"})");
        CHECK(provision::to_text(e) == "00:00:00 58A0CBFFFE800123 cups_request cupsCredCrc=2077607535 tcUri=- station=2.0.6(rpi/std) 2024-05-01 12:00:00");
        CHECK(provision::parse_serve_policy("relay") == provision::serve_policy::relay);
        CHECK_FALSE(provision::parse_serve_policy("RELAY"));
    }

    TEST_CASE("every serve error id is listed in docs/errors.md") {
        const std::string doc = test::slurp(fs::path(TTIG_SOURCE_DIR) / "docs" / "errors.md");
        REQUIRE_FALSE(doc.empty());
        for (const proto::table_category* cat : provision::serve_categories())
            for (const auto& entry : cat->entries()) {
                const std::string id = fmt::format("`{}.{}`", cat->domain(), entry.name);
                CHECK_MESSAGE(doc.find(id) != std::string::npos, id << " is missing from docs/errors.md");
            }
    }
}
