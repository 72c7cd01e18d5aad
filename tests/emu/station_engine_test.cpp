// The station engine, sans-io, on virtual time: the bytes it asks to write are checked against the
// captures of a real Basics Station v2.0.6 (basicstation-protocol §6.1 TV-S1..TV-S4) and its
// timing and fallback rules against §3.4–§3.6. No network, no sleeping.
#include <doctest/doctest.h>

#include <ttig/emu/station_engine.hpp>
#include <ttig/proto/station_wire.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_home {
    fs::path path;
    temp_home() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("ttig-engine-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_home() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void put(const std::string& name, std::string_view content) const {
        std::ofstream(path / name, std::ios::binary) << content;
    }
    std::optional<std::string> get(const std::string& name) const {
        if (!fs::exists(path / name)) return std::nullopt;
        std::ifstream in(path / name, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
};

std::string unhex(std::string_view hex) {
    std::string out;
    int hi = -1;
    for (char c : hex) {
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0) continue;
        if (hi < 0) hi = v;
        else {
            out += static_cast<char>(hi * 16 + v);
            hi = -1;
        }
    }
    return out;
}

proto::bytes to_bytes(std::string_view s) { return proto::bytes(s.begin(), s.end()); }

// A 397-byte DER-shaped certificate (SEQUENCE, long form 0x0189 = 393 content bytes), the size of
// the CA in TV-S4.
std::string fake_der_ca() {
    std::string d = unhex("30820189");
    d += std::string(393, '\x42');
    return d;
}

// TV-S4: the CUPS answer the real station applied (§6.1), built from its documented layout:
// 00 · 15 "wss://127.0.0.1:19454" · 0000 · b401 + (397-byte DER CA ‖ 00000000 ‖ token) · 00000000 · 00000000.
std::string tv_s4_body() {
    std::string body;
    body += '\x00';
    body += '\x15';
    body += "wss://127.0.0.1:19454";
    body += unhex("0000");
    const std::string cred = fake_der_ca() + unhex("00000000") + "Authorization: Bearer NNSXS.TCKEY\r\n";
    REQUIRE(cred.size() == 0x01b4);
    body += unhex("b401");
    body += cred;
    body += unhex("00000000");
    body += unhex("00000000");
    REQUIRE(body.size() == 471);
    return body;
}

const std::string pem_ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

struct rig {
    temp_home home;
    proto::manual_clock clock;
    std::optional<emu::station_engine> engine;
    std::vector<emu::station_event> events;
    std::vector<emu::station_action> actions;

    explicit rig(bool with_cups = true) {
        if (with_cups) {
            home.put("cups.uri", "https://127.0.0.1:19443");
            home.put("cups.trust", pem_ca);
            home.put("cups.key", "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n");
        }
    }
    void start(emu::station_profile p = emu::station_profile::basicstation()) {
        p.station = "2.0.6(linux/testsim) 2026-11-30 11:29:24";
        p.version_station = "2.0.6(linux/testsim)";
        engine.emplace(station::home(home.path), proto::parse_eui("58A0CBFFFE800123")->eui, p, clock);
        engine->set_event_sink([this](const emu::station_event& e) { events.push_back(e); });
        engine->start();
        engine->tick();
        pull();
    }
    void pull() {
        auto a = engine->take_actions();
        actions.insert(actions.end(), a.begin(), a.end());
    }
    // Advances virtual time to the next deadline (at most `limit` ahead) and fires it.
    bool step(std::chrono::seconds limit = 48h) {
        auto d = engine->next_deadline();
        if (!d || *d > clock.now() + limit) return false;
        if (*d > clock.now()) clock.set(*d);
        engine->tick();
        pull();
        return true;
    }
    std::optional<emu::station_action> take(emu::station_action::kind k, int channel) {
        for (auto it = actions.begin(); it != actions.end(); ++it)
            if (it->what == k && it->channel == channel) {
                auto a = *it;
                actions.erase(it);
                return a;
            }
        return std::nullopt;
    }
    // Steps until the engine asks for `k` on `channel`; returns the seconds that passed.
    std::optional<double> until(emu::station_action::kind k, int channel, std::chrono::seconds limit = 48h) {
        const auto t0 = clock.now();
        for (int i = 0; i < 100; ++i) {
            for (const auto& a : actions)
                if (a.what == k && a.channel == channel) return std::chrono::duration<double>(clock.now() - t0).count();
            if (!step(limit)) return std::nullopt;
        }
        return std::nullopt;
    }
    void respond_cups(int status, std::string body, bool content_length = true) {
        REQUIRE(take(emu::station_action::kind::cups_request, emu::channel_cups));
        engine->on_cups_response(status, content_length, to_bytes(body));
        pull();
    }
};

constexpr auto cups_req = emu::station_action::kind::cups_request;
constexpr auto ws_open = emu::station_action::kind::ws_open;
constexpr auto ws_send = emu::station_action::kind::ws_send;

}  // namespace

TEST_SUITE("emu") {
    TEST_CASE("station engine: factory CUPS -> TC update (TV-S4) -> discovery (TV-S2, TV-S3) -> traffic, byte for byte") {
        rig r;
        r.start();
        // TV-S1: the first request at power-on, with the regular set (PEM trust + token).
        auto req = r.take(cups_req, emu::channel_cups);
        REQUIRE(req);
        CHECK(req->uri == "https://127.0.0.1:19443");
        CHECK(req->host == "127.0.0.1");
        REQUIRE(req->trust);
        const auto body_at = req->wire.find("\r\n\r\n");
        REQUIRE(body_at != std::string::npos);
        const std::string head = req->wire.substr(0, body_at + 4);
        CHECK(head ==
              "POST /update-info HTTP/1.1\r\nHost: 127.0.0.1:19443\r\nContent-Type: application/json\r\n"
              "Content-Length:   222\r\nAuthorization: Bearer NNSXS.EXAMPLEKEY\r\n\r\n");
        // The capture's body, except its cupsCredCrc, which is over its real 595-byte CA.
        const std::string body = req->wire.substr(body_at + 4);
        CHECK(body.starts_with(R"({"router":"58a0:cbff:fe80:123","cupsUri":"https://127.0.0.1:19443","tcUri":null,"cupsCredCrc":)"));
        CHECK(body.ends_with(
            R"(,"tcCredCrc":2077607535,"station":"2.0.6(linux/testsim) 2026-11-30 11:29:24","model":"linux","package":null,"keys":[]})"));
        CHECK(r.engine->led() == emu::station_led::green_blink_fast);

        // TV-S4 applied: tc.* written through temp files, an empty tc.crt, cups-bak taken on the 200.
        r.engine->on_cups_response(200, true, to_bytes(tv_s4_body()));
        r.pull();
        CHECK(r.home.get("tc.uri") == "wss://127.0.0.1:19454");
        CHECK(r.home.get("tc.trust") == fake_der_ca());
        CHECK(r.home.get("tc.crt") == "");
        CHECK(r.home.get("tc.key") == "Authorization: Bearer NNSXS.TCKEY\r\n");
        CHECK_FALSE(r.home.get("tc-temp.uri"));
        CHECK(r.home.get("cups-bak.uri") == "https://127.0.0.1:19443");
        CHECK(r.home.get("cups-bak.done"));
        CHECK_FALSE(r.home.get("tc-bak.done"));  // only once traffic is up

        // TV-S2: the discovery upgrade.
        REQUIRE(r.until(ws_open, emu::channel_discovery) == 0.0);
        auto disc = r.take(ws_open, emu::channel_discovery);
        CHECK(disc->uri == "wss://127.0.0.1:19454/router-info");
        CHECK(disc->wire ==
              "GET /router-info HTTP/1.1\r\nHost: 127.0.0.1:19454\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
              "Sec-WebSocket-Key: bpse8nVmEl6ZlX4lSb6RMw==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer NNSXS.TCKEY\r\n\r\n");
        REQUIRE(disc->trust);
        CHECK(*disc->trust == to_bytes(fake_der_ca()));
        // TV-S3: the discovery frame.
        r.engine->on_ws_open(emu::channel_discovery, 101);
        r.pull();
        auto frame = r.take(ws_send, emu::channel_discovery);
        REQUIRE(frame);
        CHECK(frame->wire == unhex("819f 01010101 7a23736e74756473233b23343960313b626367673b676439313b303332237c"));
        // The reply: close(1000) with the zero mask, then the traffic upgrade with the same headers.
        r.engine->on_ws_text(emu::channel_discovery,
                             R"({"router":"58a0:cbff:fe80:123","muxs":"muxs-::0","uri":"wss://127.0.0.1:19454/traffic/eui-58A0CBFFFE800123"})");
        r.pull();
        auto close = r.take(emu::station_action::kind::ws_close, emu::channel_discovery);
        REQUIRE(close);
        CHECK(close->wire == unhex("8882 00000000 03e8"));
        auto traffic = r.take(ws_open, emu::channel_traffic);
        REQUIRE(traffic);
        CHECK(traffic->wire.starts_with("GET /traffic/eui-58A0CBFFFE800123 HTTP/1.1\r\nHost: 127.0.0.1:19454\r\nUpgrade: websocket\r\n"));
        CHECK(traffic->wire.ends_with("Authorization: Bearer NNSXS.TCKEY\r\n\r\n"));
        r.engine->on_ws_open(emu::channel_traffic, 101);
        r.pull();
        auto version = r.take(ws_send, emu::channel_traffic);
        REQUIRE(version);
        proto::ws_frame_reader rd;
        rd.consume(version->wire);
        REQUIRE(rd.has_frame());
        CHECK(rd.take().payload ==
              R"j({"msgtype":"version","station":"2.0.6(linux/testsim)","firmware":null,"package":null,"model":"linux","protocol":2,"features":"rmtsh"})j");
        CHECK(r.home.get("tc-bak.done"));
        CHECK(r.home.get("tc-bak.key") == "Authorization: Bearer NNSXS.TCKEY\r\n");
        r.engine->on_ws_text(emu::channel_traffic, R"({"msgtype":"router_config","region":"EU863"})");
        CHECK(r.engine->led() == emu::station_led::green_solid);
        // Pings are answered with the payload, masked.
        r.engine->on_ws_ping(emu::channel_traffic, "hi");
        r.pull();
        auto pong = r.take(ws_send, emu::channel_traffic);
        REQUIRE(pong);
        CHECK(pong->wire == unhex("8a82 01010101 6968"));
        // TC changed, CUPS did not: the next regular check is 24 h away.
        REQUIRE(r.engine->next_cups_at());
        CHECK(*r.engine->next_cups_at() - r.clock.now() == std::chrono::hours(24));

        // The second request reports the new TC set: tcUri and the CRC of the files written.
        REQUIRE(r.until(cups_req, emu::channel_cups) == doctest::Approx(24 * 3600.0));
        auto req2 = r.take(cups_req, emu::channel_cups);
        CHECK(req2->wire.find(R"("tcUri":"wss://127.0.0.1:19454")") != std::string::npos);
        CHECK(req2->wire.find(R"("tcCredCrc":2077607535)") == std::string::npos);
    }

    TEST_CASE("station engine: a 404 with only the regular set costs one real request every 180 s (§6.1)") {
        rig r;
        r.start();
        std::vector<double> times{0};
        r.respond_cups(404, "{}");
        for (int i = 0; i < 3; ++i) {
            auto dt = r.until(cups_req, emu::channel_cups);
            REQUIRE(dt);
            times.push_back(times.back() + *dt);
            r.respond_cups(404, "{}");
        }
        CHECK(times == std::vector<double>{0, 180, 360, 540});
        CHECK(r.engine->cups_failures() == 10);  // 4 real + 6 empty slots
        CHECK_FALSE(r.home.get("cups-bak.done"));  // no 200 ever
    }

    TEST_CASE("station engine: transport failures retry every 60 s on the regular set until the 8th") {
        temp_home extra;
        rig r;
        r.home.put("cups-boot.uri", "https://boot.example:443");
        r.start();
        std::vector<std::string> sets;
        for (int i = 0; i < 10; ++i) {
            auto a = r.take(cups_req, emu::channel_cups);
            REQUIRE(a);
            sets.push_back(a->uri);
            r.engine->on_cups_response(0, false, {}, "connection refused");
            r.pull();
            auto dt = r.until(cups_req, emu::channel_cups);
            REQUIRE(dt);
            // Empty bak slot: one more interval without a request.
            CHECK((*dt == 60.0 || *dt == 120.0));
        }
        const std::string reg = "https://127.0.0.1:19443", boot = "https://boot.example:443";
        // Failures 1..8 on the regular set; from the 8th on every failure rotates (bak has no URI).
        CHECK(sets == std::vector<std::string>{reg, reg, reg, reg, reg, reg, reg, reg, boot, reg});
    }

    TEST_CASE("station engine: discovery back-off 0,10,...,60 and the 11th failure hands over to CUPS") {
        rig r;
        r.home.put("tc.uri", "wss://127.0.0.1:19454");
        r.home.put("tc.trust", pem_ca);
        r.home.put("tc.key", "Authorization: Bearer NNSXS.TCKEY\r\n");
        r.start();
        r.respond_cups(200, std::string(14, '\0'));  // no change: next CUPS in 24 h
        std::vector<double> gaps;
        for (int i = 0; i < 11; ++i) {
            auto dt = r.until(ws_open, emu::channel_discovery);
            REQUIRE(dt);
            gaps.push_back(*dt);
            REQUIRE(r.take(ws_open, emu::channel_discovery));
            r.engine->on_ws_open(emu::channel_discovery, 0, "connection refused");
            r.pull();
        }
        CHECK(gaps == std::vector<double>{0, 0, 10, 20, 30, 40, 50, 60, 60, 60, 60});
        CHECK(r.engine->tc_state() == emu::tc_phase::stopped);
        auto dt = r.until(cups_req, emu::channel_cups);
        REQUIRE(dt);
        CHECK(*dt == 60.0);  // handed over: CUPS in 60 s, not in 24 h
    }

    TEST_CASE("station engine: a rejected discovery goes to CUPS at once — traffic drops back off 1,2,4,8,16 s") {
        rig r;
        r.home.put("tc.uri", "wss://127.0.0.1:19454");
        r.home.put("tc.trust", pem_ca);
        r.home.put("tc.key", "Authorization: Bearer NNSXS.TCKEY\r\n");
        r.start();
        r.respond_cups(200, std::string(18, '\0'));
        REQUIRE(r.until(ws_open, emu::channel_discovery));
        REQUIRE(r.take(ws_open, emu::channel_discovery));
        r.engine->on_ws_open(emu::channel_discovery, 101);
        r.engine->on_ws_text(emu::channel_discovery, R"({"router":"::0","muxs":"::0","error":"Unauthorized"})");
        r.pull();
        CHECK(r.engine->tc_state() == emu::tc_phase::stopped);
        REQUIRE(r.until(cups_req, emu::channel_cups) == 60.0);
        r.respond_cups(200, std::string(18, '\0'));
        // TC restarts at the end of the CUPS interaction; this time discovery works.
        REQUIRE(r.until(ws_open, emu::channel_discovery) == 0.0);
        REQUIRE(r.take(ws_open, emu::channel_discovery));
        r.engine->on_ws_open(emu::channel_discovery, 101);
        r.engine->on_ws_text(emu::channel_discovery, R"({"router":"58a0:cbff:fe80:123","muxs":"muxs-::0","uri":"wss://127.0.0.1:19454/traffic/eui-58A0CBFFFE800123"})");
        r.pull();
        std::vector<double> gaps;
        for (int i = 0; i < 6; ++i) {
            auto dt = r.until(ws_open, emu::channel_traffic);
            REQUIRE(dt);
            gaps.push_back(*dt);
            REQUIRE(r.take(ws_open, emu::channel_traffic));
            r.engine->on_ws_open(emu::channel_traffic, 101);
            r.engine->on_ws_closed(emu::channel_traffic, "closed by peer");
            r.pull();
        }
        CHECK(gaps == std::vector<double>{0, 1, 2, 4, 8, 16});
        // The 6th drop (r > 4): the traffic URI is forgotten, discovery after 10 s.
        CHECK(r.until(ws_open, emu::channel_discovery) == 10.0);
    }

    TEST_CASE("station engine: a corrupted credential update changes nothing and counts as a failure") {
        rig r;
        r.start();
        std::string body = tv_s4_body();
        body[27] = '\xff';  // the credential length now runs past the body
        body[28] = '\x7f';
        r.respond_cups(200, body);
        CHECK_FALSE(r.home.get("tc.uri"));
        CHECK_FALSE(r.home.get("tc.key"));
        CHECK_FALSE(r.home.get("tc-temp.uri"));
        CHECK(r.engine->cups_failures() == 1);
        CHECK(r.home.get("cups-bak.done"));  // the 200 still took the backup (§6.1)
        CHECK(r.until(cups_req, emu::channel_cups) == 60.0);
        // A 200 without Content-Length is a failure too; 13 bytes are a protocol error.
        r.respond_cups(200, std::string(14, '\0'), false);
        CHECK(r.engine->cups_failures() == 2);
        REQUIRE(r.until(cups_req, emu::channel_cups));
        r.respond_cups(200, std::string(13, '\0'));
        CHECK(r.engine->cups_failures() == 3);
    }

    TEST_CASE("station engine: TTIG buttons — RESET keeps cups.*, erases tc.* — SETUP is config mode — LEDs") {
        rig r;
        r.start(emu::station_profile::ttig());
        auto req = r.take(cups_req, emu::channel_cups);
        REQUIRE(req);
        CHECK(req->wire.find(R"("model":"minihub")") != std::string::npos);
        r.engine->on_cups_response(200, true, to_bytes(tv_s4_body()));
        r.pull();
        REQUIRE(r.home.get("tc.key"));
        r.engine->press_setup();
        CHECK(r.engine->led() == emu::station_led::red_blink_fast);
        CHECK_FALSE(r.engine->next_deadline());  // not forwarding, nothing scheduled
        r.engine->press_setup();                 // SETUP in configuration mode: reboot
        CHECK(r.engine->led() == emu::station_led::green_blink_fast);
        r.engine->press_reset();
        CHECK(r.engine->led() == emu::station_led::green_red_alternating);
        CHECK_FALSE(r.home.get("tc.uri"));
        CHECK_FALSE(r.home.get("tc.key"));
        CHECK_FALSE(r.home.get("tc-bak.done"));
        CHECK(r.home.get("cups.key") == "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n");
        // It contacts CUPS again at once.
        r.actions.clear();
        r.engine->tick();
        r.pull();
        REQUIRE(r.take(cups_req, emu::channel_cups));
        bool saw_reset = false;
        for (const auto& e : r.events) saw_reset = saw_reset || e.kind == "button.reset";
        CHECK(saw_reset);
        // The reset shows until CUPS answers; then network loss: slow green blink.
        r.engine->on_cups_response(200, true, to_bytes(std::string(14, '\0')));
        CHECK(r.engine->led() == emu::station_led::green_blink_fast);
        r.engine->set_network(false);
        CHECK(r.engine->led() == emu::station_led::green_blink_slow);
    }
}
