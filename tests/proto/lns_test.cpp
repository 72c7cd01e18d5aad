#include <ttig/proto/lns.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>

using namespace ttig::proto;

namespace {

// TV10/TV12: the TTIG EUI of label 58A0CB123456.
constexpr eui64 tv10_eui{0x58A0CBFFFE123456ull};

struct error_row {
    std::string input;
    std::string what;
};

template <class T, class V>
const T& as(const V& v) {
    REQUIRE(std::holds_alternative<T>(v));
    return std::get<T>(v);
}

// Station-written upstream messages (BS s2e.c/lora.c/tc.c key order and number formats).
constexpr std::string_view version_vector =  // §6.1, observed from a v2.0.6 station
    R"x({"msgtype":"version","station":"2.0.6(linux/testsim)","firmware":null,"package":null,"model":"linux","protocol":2,"features":"rmtsh"})x";
constexpr std::string_view jreq_vector =
    R"({"msgtype":"jreq","MHdr":0,"JoinEui":"70-B3-D5-7E-D0-00-00-01","DevEui":"00-04-A3-0B-00-1B-B0-DF","DevNonce":12345,)"
    R"("MIC":-1412567296,"RefTime":1735689601.234567,"DR":5,"Freq":868100000,"upinfo":{"rctx":0,"xtime":3940649674203424,)"
    R"("gpstime":1419724818123456,"fts":-1,"rssi":-53,"snr":9.25,"rxtime":1735689601.250000}})";
constexpr std::string_view updf_vector =
    R"({"msgtype":"updf","MHdr":64,"DevAddr":638054401,"FCtrl":128,"FCnt":42,"FOpts":"","FPort":1,"FRMPayload":"0A1B2C",)"
    R"("MIC":-559038737,"RefTime":0.000000,"DR":0,"Freq":867100000,"upinfo":{"rctx":0,"xtime":3940649674203424,)"
    R"("gpstime":0,"fts":-1,"rssi":-110,"snr":-7.5,"rxtime":1735689601.250000}})";
constexpr std::string_view propdf_vector =
    R"({"msgtype":"propdf","FRMPayload":"E0010203","RefTime":0.000000,"DR":5,"Freq":868300000,"upinfo":{"rctx":1,)"
    R"("xtime":3940649674203424,"gpstime":0,"fts":-1,"rssi":-80,"snr":12,"rxtime":1735689601.000001}})";
constexpr std::string_view dntxed_vector =
    R"({"msgtype":"dntxed","seqno":12,"diid":12,"DR":5,"Freq":868100000,"DevEui":"00-00-00-00-00-00-00-01","rctx":0,)"
    R"("xtime":3940649675203424,"txtime":1735689602.000000,"gpstime":0})";
constexpr std::string_view timesync_up_vector = R"({"msgtype":"timesync","txtime":123456789012})";

// §4.7: the dnmsg example, byte for byte.
constexpr std::string_view dnmsg_vector =
    R"({"msgtype":"dnmsg","DevEui":"00-00-00-00-00-00-00-01","dC":0,"diid":12,"pdu":"60aabbccdd","priority":25,"rctx":0,)"
    R"("MuxTime":1735689600.5,"RxDelay":1,"RX1DR":5,"RX1Freq":868100000,"xtime":3940649674203424})";
constexpr std::string_view dnmsg_class_b_vector =
    R"({"msgtype":"dnmsg","DevEui":"00-00-00-00-00-00-00-01","dC":1,"diid":13,"pdu":"60aabbccdd","priority":25,"rctx":0,)"
    R"("MuxTime":1735689600.5,"DR":8,"Freq":869525000,"gpstime":1419724818000000})";

std::string updf_with(std::string_view from, std::string_view to) {
    std::string s(updf_vector);
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return s;
}

router_config eu_config() {
    auto p = frequency_plan_by_id("EU_863_870_TTN");
    REQUIRE(p.has_value());
    router_config_options o;
    o.mux_time = 1735689600.5;
    auto rc = make_router_config(**p, o);
    REQUIRE(rc.has_value());
    return *rc;
}

}  // namespace

TEST_SUITE("proto.lns") {

// ---- number and string text ----------------------------------------------------------------------

TEST_CASE("station_time_text: the station's %.6f, also for zero and sub-microsecond values") {
    CHECK(station_time_text(0) == "0.000000");
    CHECK(station_time_text(1735689600.123456) == "1735689600.123456");
    CHECK(station_time_text(1735689600.1234567) == "1735689600.123457");
    CHECK(station_time_text(-0.0) == "-0.000000");
}

TEST_CASE("JSON strings: Go escapes HTML characters and invalid UTF-8, the station only control characters") {
    CHECK(detail::go_json_string("a<b>&\"\\\n\x1f") == R"("a\u003cb\u003e\u0026\"\\\n\u001f")");
    CHECK(detail::go_json_string("\xff ok \xe2\x80\xa8 \xc3\xa9") == "\"\\ufffd ok \\u2028 \xc3\xa9\"");
    CHECK(detail::station_json_string("a<b>&\"\\\n\x1f\xc3\xa9") == "\"a<b>&\\\"\\\\\\n\\u001F\xc3\xa9\"");
}

// ---- discovery (§4.3, TV12, TV13) ------------------------------------------------------------------

TEST_CASE("router_info_request TV12: the station sends 32 bytes") {
    const std::string out = encode_router_info_request({tv10_eui, {}});
    CHECK(out == R"({"router":"58a0:cbff:fe12:3456"})");
    CHECK(out.size() == 32);
    CHECK(encode_router_info_request({eui64{0x000A00000000000Bull}, {}}) == R"({"router":"a::b"})");
    CHECK(encode_router_info_request({tv10_eui, "router"}) == R"({"router":"router-58a0:cbff:fe12:3456"})");
}

TEST_CASE("router_info_request §4.3: the router forms TTS accepts") {
    struct row {
        std::string_view input;
        std::uint64_t eui;
        std::string_view prefix;
    };
    const row rows[] = {
        {R"({"router":"58a0:cbff:fe12:3456"})", 0x58A0CBFFFE123456ull, ""},
        {R"({"router":"router-58a0:cbff:fe12:3456"})", 0x58A0CBFFFE123456ull, "router"},
        {R"({"router":"58-A0-CB-FF-FE-12-34-56"})", 0x58A0CBFFFE123456ull, ""},
        {R"({"router":"58:a0:cb:ff:fe:12:34:56"})", 0x58A0CBFFFE123456ull, ""},
        {R"({"router":6386328571951068246})", 0x58A0CBFFFE123456ull, ""},
        {R"({"router":"a::b"})", 0x000A00000000000Bull, ""},
        {R"({"ROUTER":"58a0:cbff:fe12:3456","other":[1,{}]})", 0x58A0CBFFFE123456ull, ""},  // Go: case-insensitive key
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto req = decode_router_info_request(r.input);
        REQUIRE(req.has_value());
        CHECK(req->eui == eui64{r.eui});
        CHECK(req->prefix == r.prefix);
    }
}

TEST_CASE("router_info_request §4.3: what TTS refuses, with its reply text as the detail") {
    constexpr std::string_view parse = "discovery router is not an EUI The Things Stack accepts: Failed to parse discover query message";
    const std::string empty = "[tc.empty_router] discovery router EUI is absent or zero: Empty router EUI provided";
    const std::string bad = fmt::format("[tc.bad_router] {}", parse);
    const error_row rows[] = {
        {R"({"router":"58A0:CBFF:FE12:3456"})", bad},  // upper-case ID6
        {R"({"router":"58A0CBFFFE123456"})", bad},     // bare hex
        {R"({"router":"6386328571951068246"})", bad},  // decimal in a string
        {R"({"router":null})", bad},                   // id6.EUI.UnmarshalJSON sees "null"
        {R"({"router":-1})", bad},
        {R"({"router":1.5})", bad},
        {R"({"router":true})", bad},
        {R"({"router":"58a0:cbff:fe12:3456")", "[tc.bad_json] LNS message is not valid JSON: Failed to parse discover query message"},
        {R"(["58a0:cbff:fe12:3456"])", "[tc.not_object] LNS message is not a JSON object: Failed to parse discover query message"},
        {R"({})", empty},
        {R"({"router":"::0"})", empty},
        {R"({"router":"00-00-00-00-00-00-00-00"})", empty},
        {R"({"router":0})", empty},
        {R"(null)", empty},  // Go: unmarshalling null into a struct is a no-op
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto req = decode_router_info_request(r.input);
        REQUIRE_FALSE(req.has_value());
        CHECK(req.err().what() == r.what);
    }
    CHECK(decode_router_info_request("{}").err().detail == tts_discovery_empty_eui);
    CHECK(decode_router_info_request("x").err().detail == tts_discovery_parse_error);
}

TEST_CASE("router_info_response TV12: TTS's success reply for a TLS request with Host eu1...:8887") {
    auto req = decode_router_info_request(R"({"router":"58a0:cbff:fe12:3456"})");
    REQUIRE(req.has_value());
    const auto uri = tts_traffic_uri("wss", "eu1.cloud.thethings.network:8887", req->eui);
    CHECK(uri == "wss://eu1.cloud.thethings.network:8887/traffic/eui-58A0CBFFFE123456");
    const auto reply = tts_router_info_response(*req, uri);
    CHECK(encode_router_info_response(reply) ==
          R"({"router":"58a0:cbff:fe12:3456","muxs":"muxs-::0","uri":"wss://eu1.cloud.thethings.network:8887/traffic/eui-58A0CBFFFE123456"})");
    // The request's prefix is echoed; TTS's ID6 encoder differs from the station's (§5.3).
    auto prefixed = decode_router_info_request(R"({"router":"router-a::b"})");
    REQUIRE(prefixed.has_value());
    CHECK(tts_router_info_response(*prefixed, "ws://h:1887/traffic/eui-000A00000000000B").router == "router-a:::b");
}

TEST_CASE("router_info_response TV13: TTS's error reply keeps router and muxs") {
    auto req = decode_router_info_request(R"({"router":"::0"})");
    REQUIRE_FALSE(req.has_value());
    CHECK(encode_router_info_response(tts_router_info_error(req.err().detail)) ==
          R"({"router":"::0","muxs":"::0","error":"Empty router EUI provided"})");
    CHECK(encode_router_info_response(tts_router_info_error(
              "Failed to fetch gateway: error:pkg/gatewayserver:gateway_eui_not_registered (gateway EUI `58A0CBFFFE123456` is not registered)")) ==
          R"x({"router":"::0","muxs":"::0","error":"Failed to fetch gateway: error:pkg/gatewayserver:gateway_eui_not_registered (gateway EUI `58A0CBFFFE123456` is not registered)"})x");
}

TEST_CASE("router_info_response: the station reads TV12 and round-trips it") {
    constexpr std::string_view tv12 =
        R"({"router":"58a0:cbff:fe12:3456","muxs":"muxs-::0","uri":"wss://eu1.cloud.thethings.network:8887/traffic/eui-58A0CBFFFE123456"})";
    auto r = decode_router_info_response(tv12);
    REQUIRE(r.has_value());
    CHECK(r->router == "58a0:cbff:fe12:3456");
    CHECK(r->muxs == "muxs-::0");
    CHECK(r->uri == "wss://eu1.cloud.thethings.network:8887/traffic/eui-58A0CBFFFE123456");
    CHECK(r->error.empty());
    CHECK(encode_router_info_response(*r) == tv12);
    auto odd = decode_router_info_response(R"({"uri":"WS://[::1]:1887/traffic/58a0:cbff:fe80:123","extra":{"a":[1]}})");
    REQUIRE(odd.has_value());
    CHECK(odd->router.empty());
}

TEST_CASE("router_info_response: the station rejects an error reply or a missing uri, and fails on a bad uri") {
    const std::string long_uri = "wss://h:1/" + std::string(118, 'p');  // 128 bytes
    const std::string ok_uri = "wss://h:1/" + std::string(117, 'p');    // 127 bytes
    const error_row rows[] = {
        {R"({"router":"::0","muxs":"::0","error":"Empty router EUI provided"})",
         "[tc.infos_rejected] router-info discovery answered with an error: Empty router EUI provided"},
        {R"({"router":"58a0:cbff:fe12:3456","muxs":"muxs-::0"})", "[tc.infos_rejected] router-info discovery answered with an error: no uri"},
        {R"({"uri":"wss://h:1/x","error":"Unauthorized"})", "[tc.infos_rejected] router-info discovery answered with an error: Unauthorized"},
        {R"({"uri":"http://h:1/x"})", "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'http://h:1/x': must be ws://.. or wss://.."},
        {R"({"uri":"wss://h/traffic"})",
         "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'wss://h/traffic': no port (the station needs an explicit port)"},
        {R"({"uri":"wss://h:8887"})",
         "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'wss://h:8887': no path (the station needs one, e.g. /traffic/...)"},
        {R"({"uri":"wss://h:/x"})", "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'wss://h:/x': empty port"},
        {R"({"uri":"wss://:1/x"})", "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'wss://:1/x': empty host"},
        {R"({"uri":"wss:h:1/x"})", "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'wss:h:1/x': no '//' after the scheme"},
        // A bad uri fails the exchange even when an error is present: fields are checked in order.
        {R"({"error":"Unauthorized","uri":"ftp://h:1/x"})",
         "[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri 'ftp://h:1/x': must be ws://.. or wss://.."},
        {R"({"router":5,"uri":"wss://h:1/x"})", "[tc.bad_field_type] LNS message field has the wrong JSON type: router: expecting a string value, got number"},
        {R"({"error":null})", "[tc.bad_field_type] LNS message field has the wrong JSON type: error: expecting a string value, got null"},
        {"[]", "[tc.not_object] LNS message is not a JSON object: got a JSON array"},
        {"{", "[tc.bad_json] LNS message is not valid JSON: 1 bytes"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto res = decode_router_info_response(r.input);
        REQUIRE_FALSE(res.has_value());
        CHECK(res.err().what() == r.what);
    }
    auto too_long = decode_router_info_response(fmt::format(R"({{"uri":"{}"}})", long_uri));
    REQUIRE_FALSE(too_long.has_value());
    CHECK(too_long.err().what() == fmt::format("[tc.bad_uri] muxs URI is not ws(s)://host:port/path under 128 bytes: uri '{}': 128 bytes, "
                                               "the station allows at most 127",
                                               long_uri));
    CHECK(decode_router_info_response(fmt::format(R"({{"uri":"{}"}})", ok_uri)).has_value());
}

TEST_CASE("tts_traffic_uri: the Host header through Go's SplitHostPort/JoinHostPort") {
    struct row {
        std::string_view scheme, host, uri;
    };
    const row rows[] = {
        {"wss", "eu1.cloud.thethings.network:8887", "wss://eu1.cloud.thethings.network:8887/traffic/eui-58A0CBFFFE123456"},
        {"wss", "eu1.cloud.thethings.network", "wss://eu1.cloud.thethings.network:443/traffic/eui-58A0CBFFFE123456"},
        {"ws", "192.168.2.3", "ws://192.168.2.3:80/traffic/eui-58A0CBFFFE123456"},
        {"ws", "192.168.2.3:1887", "ws://192.168.2.3:1887/traffic/eui-58A0CBFFFE123456"},
        {"wss", "[::1]:8887", "wss://[::1]:8887/traffic/eui-58A0CBFFFE123456"},
        // Go quirks kept on purpose: a bracketed host without port is bracketed again, an empty
        // port stays empty.
        {"wss", "[::1]", "wss://[[::1]]:443/traffic/eui-58A0CBFFFE123456"},
        {"wss", "h:", "wss://h:/traffic/eui-58A0CBFFFE123456"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.host);
        CHECK(tts_traffic_uri(r.scheme, r.host, tv10_eui) == r.uri);
    }
}

// ---- upstream (§4.5) -----------------------------------------------------------------------------

TEST_CASE("upstream round trip: encode(decode(x)) == x for station-written messages") {
    for (auto v : {version_vector, jreq_vector, updf_vector, propdf_vector, dntxed_vector, timesync_up_vector}) {
        CAPTURE(v);
        auto m = decode_upstream(v);
        REQUIRE(m.has_value());
        CHECK(encode_upstream(*m) == v);
    }
}

TEST_CASE("upstream version §6.1: the observed v2.0.6 message, and IsProduction") {
    auto m = decode_upstream(version_vector);
    REQUIRE(m.has_value());
    const auto& v = as<version_msg>(*m);
    CHECK(v.station == "2.0.6(linux/testsim)");
    CHECK_FALSE(v.firmware.has_value());
    CHECK_FALSE(v.package.has_value());
    CHECK(v.model == "linux");
    CHECK(v.protocol == 2);
    CHECK(v.features == "rmtsh");
    CHECK_FALSE(is_production(v));
    version_msg p{"2.0.6(minihub/std)", "1.0.0", "1.0.0", "minihub", 2, "rmtsh prod gps"};
    CHECK(is_production(p));
    CHECK(encode_upstream(p) ==
          R"x({"msgtype":"version","station":"2.0.6(minihub/std)","firmware":"1.0.0","package":"1.0.0","model":"minihub","protocol":2,"features":"rmtsh prod gps"})x");
}

TEST_CASE("upstream jreq/updf: frame fields, then RefTime, DR, Freq, upinfo") {
    auto j = decode_upstream(jreq_vector);
    REQUIRE(j.has_value());
    const auto& jr = as<jreq_msg>(*j);
    CHECK(jr.join_eui == eui64{0x70B3D57ED0000001ull});
    CHECK(jr.dev_eui == eui64{0x0004A30B001BB0DFull});
    CHECK(jr.dev_nonce == 12345);
    CHECK(jr.mic == -1412567296);
    CHECK(jr.meta.ref_time == 1735689601.234567);
    CHECK(jr.meta.upinfo.gpstime == 1419724818123456);
    CHECK(jr.meta.upinfo.snr == 9.25);

    updf_msg u;
    u.mhdr = 0x40;
    u.dev_addr = 638054401;
    u.fctrl = 0x80;
    u.fcnt = 42;
    u.fport = 1;
    u.frm_payload = "0A1B2C";
    u.mic = static_cast<std::int32_t>(0xDEADBEEFu);
    u.meta = {0.0, 0, 867100000, {0, 3940649674203424, 0, -1, -110, -7.5, 1735689601.25}};
    CHECK(encode_upstream(u) == updf_vector);
    auto back = decode_upstream(updf_vector);
    REQUIRE(back.has_value());
    CHECK(as<updf_msg>(*back) == u);
}

TEST_CASE("upstream dntxed and timesync: the station's key order and number formats") {
    dntxed_msg d{12, 12, 5, 868100000, eui64{1}, 0, 3940649675203424, 1735689602.0, 0};
    CHECK(encode_upstream(d) == dntxed_vector);
    CHECK(encode_upstream(timesync_request{123456789012.0}) == timesync_up_vector);
    CHECK(encode_upstream(ignored_message{"rmtsh"}) == R"({"msgtype":"rmtsh"})");
}

TEST_CASE("upstream decoding is TTS-tolerant: keys case-insensitively, nulls as zero, unknown keys ignored") {
    SUBCASE("FCnt matches TTS's Fcnt in any case") {
        for (std::string_view key : {R"("Fcnt")", R"("fcnt")", R"("FCNT")"}) {
            CAPTURE(key);
            auto m = decode_upstream(updf_with(R"("FCnt")", key));
            REQUIRE(m.has_value());
            CHECK(as<updf_msg>(*m).fcnt == 42);
        }
    }
    SUBCASE("msgtype and other keys too, including Go's long-s fold") {
        auto m = decode_upstream(R"({"MsgType":"version","\u017Ftation":"x","MODEL":"y","Protocol":2})");
        REQUIRE(m.has_value());
        CHECK(as<version_msg>(*m).station == "x");
        CHECK(as<version_msg>(*m).model == "y");
    }
    SUBCASE("null and absent fields are zero values") {
        auto m = decode_upstream(R"({"msgtype":"updf","MHdr":null,"FPort":null,"upinfo":null,"unknown":{"deep":[1,2]}})");
        REQUIRE(m.has_value());
        const auto& u = as<updf_msg>(*m);
        CHECK(u.mhdr == 0);
        CHECK(u.fport == 0);  // TTS: absent FPort reads as port 0, not -1
        CHECK(u.meta.upinfo.fts == 0);
        auto v = decode_upstream(R"({"msgtype":"version","station":null,"features":null})");
        REQUIRE(v.has_value());
        CHECK(as<version_msg>(*v).station.empty());
    }
    SUBCASE("upinfo.rctx and fts are not TTS fields: any value is accepted") {
        auto m = decode_upstream(updf_with(R"("rctx":0)", R"("rctx":"antenna-2")"));
        REQUIRE(m.has_value());
        CHECK(as<updf_msg>(*m).meta.upinfo.rctx == 0);
    }
    SUBCASE("fractional rssi and a float txtime, which TTS reads as floats") {
        auto m = decode_upstream(updf_with(R"("rssi":-110)", R"("rssi":-110.5)"));
        REQUIRE(m.has_value());
        CHECK(as<updf_msg>(*m).meta.upinfo.rssi == -110.5);
        auto t = decode_upstream(R"({"msgtype":"timesync","txtime":1.5})");
        REQUIRE(t.has_value());
        CHECK(as<timesync_request>(*t).txtime == 1.5);
        CHECK(encode_upstream(*t) == R"({"msgtype":"timesync","txtime":1.5})");
    }
}

TEST_CASE("upstream: types TTS does not handle are ignored, not errors") {
    for (std::string_view type : {"rejoin", "rmtsh", "dndf", "jacc", "getxtime", ""}) {
        CAPTURE(type);
        auto m = decode_upstream(fmt::format(R"({{"msgtype":"{}","MHdr":"not checked"}})", type));
        REQUIRE(m.has_value());
        CHECK(as<ignored_message>(*m).msgtype == type);
    }
}

TEST_CASE("upstream: malformed messages are refused with a one-line message naming the field") {
    const std::string jreq_bad_eui = [] {
        std::string s(jreq_vector);
        s.replace(s.find("00-04-A3-0B-00-1B-B0-DF"), 23, "58A0:CBFF:FE12:3456");
        return s;
    }();
    const error_row rows[] = {
        {"hello", "[tc.bad_json] LNS message is not valid JSON: 5 bytes"},
        {"[1]", "[tc.not_object] LNS message is not a JSON object: got a JSON array"},
        {"{}", "[tc.missing_msgtype] LNS message has no msgtype"},
        {R"({"msgtype":null})", "[tc.missing_msgtype] LNS message has no msgtype"},
        {R"({"msgtype":5})", "[tc.bad_field_type] LNS message field has the wrong JSON type: msgtype: want a string, got number"},
        {updf_with(R"("FCnt":42)", R"("FCnt":"42")"),
         "[tc.bad_field_type] LNS message field has the wrong JSON type: FCnt: want an unsigned integer, got string"},
        {updf_with(R"("FCnt":42)", R"("FCnt":-1)"),
         "[tc.bad_value] LNS message field value out of range: FCnt: -1 is negative, want an unsigned integer"},
        {updf_with(R"("FCnt":42)", R"("FCnt":4.2e1)"),
         "[tc.bad_field_type] LNS message field has the wrong JSON type: FCnt: want an unsigned integer, got a fraction/exponent number"},
        {updf_with(R"("MIC":-559038737)", R"("MIC":2147483648)"),
         "[tc.bad_value] LNS message field value out of range: MIC: 2147483648 not in range [-2147483648..2147483647]"},
        {updf_with(R"("DevAddr":638054401)", R"("DevAddr":-2147483649)"),
         "[tc.bad_value] LNS message field value out of range: DevAddr: -2147483649 not in range [-2147483648..2147483647]"},
        {updf_with(R"("FOpts":"")", R"("FOpts":[])"), "[tc.bad_field_type] LNS message field has the wrong JSON type: FOpts: want a string, got array"},
        {updf_with(R"("upinfo":{)", R"("upinfo":5,"x":{)"),
         "[tc.bad_field_type] LNS message field has the wrong JSON type: upinfo: want an object, got number"},
        {updf_with(R"("rssi":-110)", R"("rssi":"-110")"),
         "[tc.bad_field_type] LNS message field has the wrong JSON type: upinfo.rssi: want a number, got string"},
        {updf_with(R"("rssi":-110)", R"("rssi":1e39)"), "[tc.bad_value] LNS message field value out of range: upinfo.rssi: 1e+39 overflows a float32"},
        {updf_with(R"("RefTime":0.000000)", R"("RefTime":1e999)"), "[tc.bad_json] LNS message is not valid JSON: 286 bytes"},  // Go fails too
        {updf_with(R"("rctx":0)", R"("rctx":0,"rtcx":"x")"),
         "[tc.bad_field_type] LNS message field has the wrong JSON type: upinfo.rtcx: want an integer, got string"},
        {R"({"msgtype":"version","protocol":"2"})", "[tc.bad_field_type] LNS message field has the wrong JSON type: protocol: want an integer, got string"},
        {R"({"msgtype":"jreq","DevNonce":1.5})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: DevNonce: want an unsigned integer, got a fraction/exponent number"},
        {R"({"msgtype":"dntxed","txtime":"now"})", "[tc.bad_field_type] LNS message field has the wrong JSON type: txtime: want a number, got string"},
        {R"({"msgtype":"timesync","txtime":true})", "[tc.bad_field_type] LNS message field has the wrong JSON type: txtime: want a number, got boolean"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto m = decode_upstream(r.input);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.err().what() == r.what);
    }
    SUBCASE("an EUI TTS's ID6 parser refuses: bad_value carrying the eui cause") {
        auto m = decode_upstream(jreq_bad_eui);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.err().id() == "tc.bad_value");
        CHECK(m.err().detail.starts_with("DevEui: [eui.tts_format]"));
        auto n = decode_upstream(R"({"msgtype":"dntxed","DevEui":null})");
        REQUIRE_FALSE(n.has_value());
        CHECK(n.err().detail.starts_with("DevEui: [eui.tts_format]"));
    }
}

// ---- downstream (§4.7) ---------------------------------------------------------------------------

TEST_CASE("dnmsg §4.7: the class A example encodes byte for byte") {
    dnmsg m;
    m.diid = 12;
    m.pdu = {0x60, 0xAA, 0xBB, 0xCC, 0xDD};
    m.rctx = 0;
    m.mux_time = 1735689600.5;
    m.rx_delay = 1;
    m.rx1_dr = 5;
    m.rx1_freq = 868100000;
    m.xtime = tts_class_a_xtime(14ll << 48 | 0x123456, 1254240);
    CHECK(*m.xtime == 3940649674203424);
    CHECK(encode_downstream(m) == dnmsg_vector);
}

TEST_CASE("dnmsg: class B carries DR, Freq and gpstime instead") {
    dnmsg m;
    m.dc = 1;
    m.diid = 13;
    m.pdu = {0x60, 0xAA, 0xBB, 0xCC, 0xDD};
    m.mux_time = 1735689600.5;
    m.dr = 8;
    m.freq = 869525000;
    m.gpstime = 1419724818000000;
    CHECK(encode_downstream(m) == dnmsg_class_b_vector);
}

TEST_CASE("downstream round trip: the station reads TTS's messages back to the same bytes") {
    const std::string_view vectors[] = {
        dnmsg_vector,
        dnmsg_class_b_vector,
        R"({"msgtype":"timesync","txtime":123456789012,"gpstime":1419724818123456,"MuxTime":1735689600.5})",
        R"({"msgtype":"timesync","gpstime":0,"MuxTime":1735689600.5})",
        R"({"msgtype":"timesync","xtime":3940649674203424,"gpstime":1419724818123456,"MuxTime":1735689600.5})",
    };
    for (auto v : vectors) {
        CAPTURE(v);
        auto m = decode_downstream(v);
        REQUIRE(m.has_value());
        CHECK(encode_downstream(*m) == v);
    }
    auto d = decode_downstream(dnmsg_vector);
    REQUIRE(d.has_value());
    const auto& m = as<dnmsg>(*d);
    CHECK(m.dev_eui == eui64{1});
    CHECK(m.pdu == bytes{0x60, 0xAA, 0xBB, 0xCC, 0xDD});
    CHECK(m.rx1_freq == 868100000u);
    CHECK(m.xtime == 3940649674203424);
}

TEST_CASE("timesync §4.7: TTS's reply to a station request and its periodic transfer") {
    auto req = decode_upstream(timesync_up_vector);
    REQUIRE(req.has_value());
    const auto reply = tts_timesync_reply(as<timesync_request>(*req), 1419724818123456, 1735689600.5);
    CHECK(encode_downstream(reply) == R"({"msgtype":"timesync","txtime":123456789012,"gpstime":1419724818123456,"MuxTime":1735689600.5})");
    CHECK(encode_downstream(tts_timesync_transfer(1735689600.5)) == R"({"msgtype":"timesync","gpstime":0,"MuxTime":1735689600.5})");
    CHECK(tts_unix_seconds(1735689600500000000) == 1735689600.5);
}

TEST_CASE("dnmsg: the station's acceptance rules") {
    SUBCASE("seqno stands for diid, DevEUI for DevEui, an EUI may be a number or undashed hex") {
        auto m = decode_downstream(R"({"msgtype":"dnmsg","DevEUI":1,"dC":2,"seqno":7,"pdu":""})");
        REQUIRE(m.has_value());
        CHECK(as<dnmsg>(*m).diid == 7);
        CHECK(as<dnmsg>(*m).dev_eui == eui64{1});
        auto h = decode_downstream(R"({"msgtype":"dnmsg","DevEui":"58A0cbFFFE123456","dC":0,"diid":1,"pdu":"AB"})");
        REQUIRE(h.has_value());
        CHECK(as<dnmsg>(*h).dev_eui == tv10_eui);
    }
    SUBCASE("a 255-byte pdu is accepted, 256 bytes are not") {
        const std::string ok = fmt::format(R"({{"msgtype":"dnmsg","DevEui":1,"dC":0,"diid":1,"pdu":"{}"}})", std::string(510, 'a'));
        CHECK(decode_downstream(ok).has_value());
    }
    const std::string pdu256 = std::string(512, 'a');
    const std::string dn = R"({"msgtype":"dnmsg","DevEui":"00-00-00-00-00-00-00-01","dC":0,"diid":1,"pdu":"60")";
    const error_row rows[] = {
        {R"({"msgtype":"dnmsg","dC":0,"diid":1,"pdu":"60"})", "[tc.missing_field] LNS message lacks a required field: dnmsg: DevEui is mandatory"},
        {R"({"msgtype":"dnmsg","DevEui":1,"diid":1,"pdu":"60"})", "[tc.missing_field] LNS message lacks a required field: dnmsg: dC is mandatory"},
        {R"({"msgtype":"dnmsg","DevEui":1,"dC":0,"pdu":"60"})", "[tc.missing_field] LNS message lacks a required field: dnmsg: diid is mandatory"},
        {R"({"msgtype":"dnmsg","DevEui":1,"dC":0,"diid":1})", "[tc.missing_field] LNS message lacks a required field: dnmsg: pdu is mandatory"},
        {fmt::format(R"({{"msgtype":"dnmsg","DevEui":1,"dC":0,"diid":1,"pdu":"{}"}})", pdu256),
         "[tc.bad_value] LNS message field value out of range: pdu: TX pdu too large (256 bytes), maximum is 255 bytes"},
        {dn + R"(,"RX1DR":5})", "[tc.missing_field] LNS message lacks a required field: dnmsg: RX1Freq: RX1DR/DR given without RX1Freq/Freq"},
        {dn + R"(,"RX1Freq":868100000})", "[tc.missing_field] LNS message lacks a required field: dnmsg: RX1DR: RX1Freq/Freq given without RX1DR/DR"},
        {dn + R"(,"RX2DR":0})", "[tc.missing_field] LNS message lacks a required field: dnmsg: RX2Freq: RX2DR given without RX2Freq"},
        {dn + R"(,"RX2Freq":869525000})", "[tc.missing_field] LNS message lacks a required field: dnmsg: RX2DR: RX2Freq given without RX2DR"},
        {R"({"msgtype":"dnmsg","DevEui":1,"dC":3,"diid":1,"pdu":"60"})", "[tc.bad_value] LNS message field value out of range: dC: value not in range [0..2]: 3"},
        {R"({"msgtype":"dnmsg","DevEui":1,"dC":0,"diid":1,"pdu":"6"})",
         "[tc.bad_value] LNS message field value out of range: pdu: hex string has odd number of characters"},
        {R"({"msgtype":"dnmsg","DevEui":1,"dC":0,"diid":1,"pdu":"zz"})",
         "[tc.bad_value] LNS message field value out of range: pdu: hex string contains illegal characters"},
        {R"({"msgtype":"dnmsg","DevEui":"00-00-00-00-00-00-00-0x","dC":0,"diid":1,"pdu":"60"})",
         "[tc.bad_value] LNS message field value out of range: DevEui: EUI contains illegal hex characters: '0x'"},
        {R"({"msgtype":"dnmsg","DevEui":1.5,"dC":0,"diid":1,"pdu":"60"})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: DevEui: expecting a string value with an EUI, got number"},
        {dn + R"(,"RxDelay":16})", "[tc.bad_value] LNS message field value out of range: RxDelay: value not in range [0..15]: 16"},
        {dn + R"(,"priority":256})", "[tc.bad_value] LNS message field value out of range: priority: value not in range [0..255]: 256"},
        {dn + R"(,"gpstime":-1})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: gpstime: expecting a positive integer value, got a negative number"},
        {dn + R"(,"RX1DR":16,"RX1Freq":868100000})",
         "[tc.bad_value] LNS message field value out of range: RX1DR: illegal datarate value: 16 for region (none)"},
        {dn + R"(,"MuxTime":"x"})", "[tc.bad_field_type] LNS message field has the wrong JSON type: MuxTime: expecting a number, got string"},
        {R"({"msgtype":"timesync","txtime":1.5})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: txtime: expecting an integer value, got a fraction/exponent number"},
        {"{}", "[tc.missing_msgtype] LNS message has no msgtype"},
        {"1", "[tc.not_object] LNS message is not a JSON object: got a JSON number"},
        {R"({"msgtype":["dnmsg"]})", "[tc.bad_field_type] LNS message field has the wrong JSON type: msgtype: want a string, got array"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto m = decode_downstream(r.input);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.err().what() == r.what);
    }
}

TEST_CASE("dnmsg: with a router_config in force, frequency range, DR table and region are checked") {
    const router_config eu = eu_config();
    REQUIRE(eu.region_recognised);
    CHECK(decode_downstream(dnmsg_vector, &eu).has_value());
    const std::string out_of_range = [] {
        std::string s(dnmsg_vector);
        s.replace(s.find("868100000"), 9, "915000000");
        return s;
    }();
    auto f = decode_downstream(out_of_range, &eu);
    REQUIRE_FALSE(f.has_value());
    CHECK(f.err().what() == "[tc.bad_value] LNS message field value out of range: RX1Freq: illegal frequency value: 915000000 - not in range 863000000..870000000");
    CHECK(decode_downstream(out_of_range).has_value());  // without context only the type is checked
    router_config undefined_dr = eu;
    undefined_dr.drs[5].sf = -1;
    auto d = decode_downstream(dnmsg_vector, &undefined_dr);
    REQUIRE_FALSE(d.has_value());
    CHECK(d.err().what() == "[tc.bad_value] LNS message field value out of range: RX1DR: illegal datarate value: 5 for region EU868");
    auto as923 = decode_router_config(R"({"region":"AS923","hwspec":"sx1301/1","sx1301_conf":[]})");
    REQUIRE(as923.has_value());
    auto r = decode_downstream(dnmsg_vector, &*as923);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.err().what() == "[tc.unknown_region] router_config region not recognised: dnmsg dropped: region 'AS923' not recognised by the station");
    // timesync is still processed.
    CHECK(decode_downstream(R"({"msgtype":"timesync","gpstime":0,"MuxTime":1})", &*as923).has_value());
}

TEST_CASE("decode_downstream: router_config is dispatched, other LNS types are ignored") {
    const std::string rc = encode_router_config(eu_config());
    auto m = decode_downstream(rc);
    REQUIRE(m.has_value());
    CHECK(as<router_config>(*m) == eu_config());
    CHECK(encode_downstream(*m) == rc);
    for (std::string_view type : {"dnsched", "runcmd", "rmtsh", "getxtime", "error", "dnframe"}) {
        CAPTURE(type);
        auto i = decode_downstream(fmt::format(R"({{"msgtype":"{}","anything":[null]}})", type));
        REQUIRE(i.has_value());
        CHECK(as<ignored_message>(*i).msgtype == type);
    }
    auto bad = decode_downstream(R"({"msgtype":"router_config","region":"EU863"})");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.err().id() == "tc.missing_field");
}

}  // TEST_SUITE
