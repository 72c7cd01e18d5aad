// CUPS update-info request and response: basicstation-protocol §1, TV4–TV7, TV11, TV-S1.
#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>

#include <doctest/doctest.h>

#include <random>

using namespace ttig::proto;

namespace {
bytes hex(std::string_view h) {
    bytes out;
    REQUIRE(from_hex(h, out));
    return out;
}

// Decodes the whole buffer, then byte by byte, then at random split points; all must agree.
result<update_info_response> decode_all_ways(byte_view body, cups_dialect d) {
    auto whole = decode_update_info_response(body, d);
    if (d == cups_dialect::station && body.size() < 3) return whole;
    auto chunked = [&](auto next_size) {
        cups_response_parser p(d);
        std::size_t off = 0;
        while (off < body.size() && p.status() == cups_response_parser::state::need_more) {
            std::size_t n = std::min(next_size(), body.size() - off);
            off += p.consume(body.subspan(off, n));
        }
        p.finish();
        return p;
    };
    auto one = chunked([] { return std::size_t{1}; });
    std::mt19937 rng(42);
    auto rnd = chunked([&] { return std::size_t{1} + rng() % 7; });
    for (auto* p : {&one, &rnd}) {
        if (whole) {
            CHECK(p->status() == cups_response_parser::state::done);
            if (p->status() == cups_response_parser::state::done) CHECK(p->response() == *whole);
        } else if (whole.err().id() != "cups.trailing_bytes") {
            CHECK(p->status() == cups_response_parser::state::failed);
            CHECK(p->err() == whole.err());
        }
    }
    return whole;
}

const char* tv11_body =
    R"({"router":"58a0:cbff:fe12:3456","cupsUri":"https://eu1.cloud.thethings.network:443","tcUri":"wss://eu1.cloud.thethings.network:8887","cupsCredCrc":2863012879,"tcCredCrc":2077607535,"station":"2.0.6(rpi/std) 2024-05-01 12:00:00","model":"rpi","package":"1.0.0","keys":[]})";
}  // namespace

TEST_SUITE("proto.cups") {
    TEST_CASE("update-info request: TV11 encodes byte for byte and decodes back") {
        update_info_request r;
        r.router = eui64{0x58A0CBFFFE123456ull};
        r.cups_uri = "https://eu1.cloud.thethings.network:443";
        r.tc_uri = "wss://eu1.cloud.thethings.network:8887";
        r.cups_cred_crc = 0xAAA61C0Fu;
        r.tc_cred_crc = 0x7BD5C66Fu;
        r.station = "2.0.6(rpi/std) 2024-05-01 12:00:00";
        r.model = "rpi";
        r.package = "1.0.0";
        const std::string body = encode_update_info_request(r);
        CHECK(body == tv11_body);
        CHECK(body.size() == 270);
        auto http = station_update_info_http("eu1.cloud.thethings.network:443", body, "");
        CHECK(http.find("\r\nContent-Length:   270\r\n") != std::string::npos);
        auto back = tts_decode_update_info_request(body);
        REQUIRE(back.has_value());
        CHECK(*back == r);
    }

    TEST_CASE("update-info request: TV-S1, the captured 370-byte request") {
        update_info_request r;
        r.router = eui64{0x58A0CBFFFE800123ull};
        r.cups_uri = "https://127.0.0.1:19443";
        r.cups_cred_crc = 1725286151u;
        r.station = "2.0.6(linux/testsim) 2026-11-30 11:29:24";
        r.model = "linux";
        const std::string want =
            "POST /update-info HTTP/1.1\r\n"
            "Host: 127.0.0.1:19443\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length:   222\r\n"
            "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n"
            "\r\n"
            R"({"router":"58a0:cbff:fe80:123","cupsUri":"https://127.0.0.1:19443","tcUri":null,"cupsCredCrc":1725286151,"tcCredCrc":2077607535,"station":"2.0.6(linux/testsim) 2026-11-30 11:29:24","model":"linux","package":null,"keys":[]})";
        const auto got = station_update_info_http("127.0.0.1:19443", encode_update_info_request(r),
                                                  "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n");
        CHECK(got == want);
        CHECK(got.size() == 370);
        auto back = tts_decode_update_info_request(encode_update_info_request(r));
        REQUIRE(back.has_value());
        CHECK_FALSE(back->tc_uri.has_value());
        CHECK_FALSE(back->package.has_value());
        CHECK(*back == r);
    }

    TEST_CASE("update-info request: TTS's tolerant decoding") {
        // unknown keys ignored, keys matched case-insensitively, whitespace allowed, keys absent
        auto r = tts_decode_update_info_request(R"( {"Router":"58-A0-CB-FF-FE-12-34-56", "CUPSURI":"x", "extra":[1,2], "keys":[1,2]} )");
        REQUIRE(r.has_value());
        CHECK(r->router.value == 0x58A0CBFFFE123456ull);
        CHECK(r->cups_uri == "x");
        CHECK(r->keys == std::vector<std::uint32_t>{1, 2});
        CHECK(r->cups_cred_crc == 0);  // absent: Go zero value
        // Go's json.Decoder stops after the first value: trailing bytes are ignored
        auto trailing = tts_decode_update_info_request(R"({"router":"58a0:cbff:fe12:3456"} trailing garbage)");
        REQUIRE(trailing.has_value());
        CHECK(trailing->router.value == 0x58A0CBFFFE123456ull);
        // a null document decodes to the zero request: missing router (400), not a parse error
        CHECK(tts_decode_update_info_request("null").err().id() == "cups.missing_router");
    }

    TEST_CASE("update-info request: exact errors (TTS 409 parse / 400 missing_router)") {
        const std::pair<const char*, const char*> cases[] = {
            {"", "[cups.bad_json] update-info request is not valid JSON: 0 bytes"},
            {"{", "[cups.bad_json] update-info request is not valid JSON: 1 bytes"},
            {"[]", "[cups.not_object] update-info request is not a JSON object: got a JSON array"},
            {"{}", "[cups.missing_router] missing router"},
            {R"({"router":"::0"})", "[cups.missing_router] missing router"},
            {R"({"router":"58A0:CBFF:FE12:3456"})",
             "[cups.bad_router] router is not a valid EUI: router \"58A0:CBFF:FE12:3456\": [eui.tts_format] invalid format (The Things Stack ID6 parser): '58A0:CBFF:FE12:3456'"},
            {R"({"router":"58a0:cbff:fe12:3456","cupsCredCrc":-1})", "[cups.bad_crc] CRC is not an unsigned 32-bit number: cupsCredCrc = -1 is negative"},
            {R"({"router":"58a0:cbff:fe12:3456","tcCredCrc":4294967296})", "[cups.bad_crc] CRC is not an unsigned 32-bit number: tcCredCrc = 4294967296 exceeds 32 bits"},
            {R"({"router":"58a0:cbff:fe12:3456","tcCredCrc":1.5})", "[cups.bad_crc] CRC is not an unsigned 32-bit number: tcCredCrc = 1.5 is not an integer"},
            {R"({"router":"58a0:cbff:fe12:3456","cupsUri":5})", "[cups.bad_field_type] update-info field has the wrong JSON type: cupsUri is a JSON number, want a string"},
            {R"({"router":"58a0:cbff:fe12:3456","keys":{}})", "[cups.bad_field_type] update-info field has the wrong JSON type: keys is a JSON object, want an array"},
            {R"({"router":"58a0:cbff:fe12:3456","keys":[1,"a"]})", "[cups.bad_crc] CRC is not an unsigned 32-bit number: keys[1] is a JSON string, want an unsigned number"},
        };
        for (auto [body, msg] : cases) {
            CAPTURE(body);
            auto r = tts_decode_update_info_request(body);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().what() == msg);
        }
    }

    TEST_CASE("response: TV4, TV5, TV6, TV7 in the TTS dialect") {
        update_info_response none;
        CHECK(to_hex(*encode_update_info_response(none, cups_dialect::tts)) == "000000000000000000000000000000000000");
        CHECK(to_hex(*encode_update_info_response(none, cups_dialect::station)) == "0000000000000000000000000000");

        update_info_response tv6;
        tv6.tc_uri = "wss://lns.example.com:8887";
        tv6.tc_cred = tts_token_blob(as_bytes("LETS NOT ENCRYPT"), "token");
        const char* tv6_hex =
            "001a7773733a2f2f6c6e732e6578616d706c652e636f6d3a3838383700002a004c455453204e4f5420454e435259505400000000417574686f"
            "72697a6174696f6e3a20746f6b656e0d0a000000000000000000000000";
        auto enc6 = encode_update_info_response(tv6, cups_dialect::tts);
        REQUIRE(enc6.has_value());
        CHECK(to_hex(*enc6) == tv6_hex);
        CHECK(enc6->size() == 86);

        update_info_response tv7;
        tv7.cups_uri = "https://cups.example.com:443";
        auto enc7 = encode_update_info_response(tv7, cups_dialect::tts);
        CHECK(to_hex(*enc7) == "1c68747470733a2f2f637570732e6578616d706c652e636f6d3a3434330000000000000000000000000000000000");
        CHECK(enc7->size() == 46);

        // Decoding the spec bytes (not our encoder's output).
        auto d6 = decode_all_ways(hex(tv6_hex), cups_dialect::tts);
        REQUIRE(d6.has_value());
        CHECK(*d6 == tv6);
        auto d4 = decode_all_ways(hex("000000000000000000000000000000000000"), cups_dialect::tts);
        REQUIRE(d4.has_value());
        CHECK(d4->no_change());
    }

    TEST_CASE("response: the station reads TTS's 18-byte no-change body and the 14-byte minimum") {
        auto d18 = decode_all_ways(hex("000000000000000000000000000000000000"), cups_dialect::station);
        REQUIRE(d18.has_value());
        CHECK(d18->no_change());
        auto d14 = decode_all_ways(hex("0000000000000000000000000000"), cups_dialect::station);
        REQUIRE(d14.has_value());
        CHECK(d14->no_change());
        // TV6 as a station reads it: framing accepted (the blob itself is rejected later, §2.2)
        auto d6 = decode_all_ways(hex("001a7773733a2f2f6c6e732e6578616d706c652e636f6d3a3838383700002a004c455453204e4f5420454e435259505400000000417574686f"
                                      "72697a6174696f6e3a20746f6b656e0d0a000000000000000000000000"),
                                  cups_dialect::station);
        REQUIRE(d6.has_value());
        CHECK(d6->tc_uri == "wss://lns.example.com:8887");
        CHECK_FALSE(station_parse_blob(d6->tc_cred).has_value());
    }

    TEST_CASE("response: every truncation of TV6 names the field and offset") {
        const bytes tv6 = hex("001a7773733a2f2f6c6e732e6578616d706c652e636f6d3a3838383700002a004c455453204e4f5420454e435259505400000000417574686f"
                              "72697a6174696f6e3a20746f6b656e0d0a000000000000000000000000");
        for (std::size_t n = 0; n < tv6.size(); ++n) {
            CAPTURE(n);
            auto r = decode_all_ways(byte_view(tv6).subspan(0, n), cups_dialect::tts);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().id() == "cups.truncated");
        }
        CHECK(decode_update_info_response(byte_view(tv6).subspan(0, 40), cups_dialect::tts).err().what() ==
              "[cups.truncated] CUPS response truncated: body ends at byte 40 inside tcCred (starts at byte 32): 8 of 42 bytes present");
        CHECK(decode_update_info_response(byte_view(tv6).subspan(0, 80), cups_dialect::tts).err().what() ==
              "[cups.truncated] CUPS response truncated: body ends at byte 80 inside keyCRC (starts at byte 78): 2 of 4 bytes present");
        // station dialect: 0..2 bytes malformed, 3..13 truncated
        for (std::size_t n = 0; n < 14; ++n) {
            CAPTURE(n);
            bytes z(n, 0);
            auto r = decode_update_info_response(z, cups_dialect::station);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().id() == (n < 3 ? "cups.short_body" : "cups.truncated"));
        }
        CHECK(decode_update_info_response(bytes(13, 0), cups_dialect::station).err().what() ==
              "[cups.truncated] CUPS response truncated: body ends at byte 13 inside updLen (starts at byte 10): 3 of 4 bytes present");
    }

    TEST_CASE("response: signature lengths in both dialects") {
        update_info_response r;
        r.sig = bytes(70, 0x5A);
        r.key_crc = 0x01020304;
        r.update = to_bytes("firmware");
        for (auto d : {cups_dialect::tts, cups_dialect::station}) {
            CAPTURE(to_string(d));
            auto enc = encode_update_info_response(r, d);
            REQUIRE(enc.has_value());
            auto dec = decode_all_ways(*enc, d);
            REQUIRE(dec.has_value());
            CHECK(*dec == r);
        }
        // sigLen field: TTS 70, station 74
        CHECK((*encode_update_info_response(r, cups_dialect::tts))[6] == 70);
        CHECK((*encode_update_info_response(r, cups_dialect::station))[6] == 74);
        // station: non-zero sigLen below 8 is a protocol error naming the offset
        auto bad = decode_update_info_response(hex("0000000000000500000000000000000000"), cups_dialect::station);
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.err().what() == "[cups.bad_sig_len] CUPS signature length out of range: sigLen 5 at byte 6: want 0 or 8..132 (key CRC included)");
        // TTS dialect: trailing bytes are an error; station ignores them
        bytes trailing = hex("000000000000000000000000000000000000ff");
        CHECK(decode_update_info_response(trailing, cups_dialect::tts).err().id() == "cups.trailing_bytes");
        CHECK(decode_update_info_response(trailing, cups_dialect::station).has_value());
    }

    TEST_CASE("response: oversized fields are refused on encode and hostile lengths on decode") {
        update_info_response r;
        r.tc_uri.assign(256, 'a');
        CHECK(encode_update_info_response(r, cups_dialect::tts).err().what() ==
              "[cups.field_length] CUPS field too long for its length prefix: length of `tcUri` (`256`) exceeds maximum `255`");
        r.tc_uri.clear();
        r.cups_cred.assign(65536, 1);
        CHECK(encode_update_info_response(r, cups_dialect::tts).err().id() == "cups.field_length");
        // updLen of 0xFFFFFFFF: refused at once, nothing buffered
        auto big = decode_update_info_response(hex("0000000000000000000000000000ffffffff"), cups_dialect::tts);
        REQUIRE_FALSE(big.has_value());
        CHECK(big.err().id() == "cups.field_length");
    }

    TEST_CASE("station_check_uri: the station's scheme://host:port rule") {
        auto ok = station_check_uri("HTTPS://eu1.cloud.thethings.network:443", {"http", "https"});
        REQUIRE(ok.has_value());
        CHECK(ok->scheme == "https");
        CHECK(ok->host == "eu1.cloud.thethings.network");
        CHECK(ok->port == 443);
        CHECK(station_check_uri("wss://[::1]:8887", {"ws", "wss"})->host == "::1");
        CHECK(station_check_uri("https://host", {"https"}).err().what() ==
              "[cups.bad_uri] URI is not scheme://host:port: 'https://host': port is mandatory");
        CHECK(station_check_uri("https://host:443/", {"https"}).err().what() ==
              "[cups.bad_uri] URI is not scheme://host:port: 'https://host:443/': a path is not allowed (not even '/')");
        CHECK(station_check_uri("ftp://host:21", {"https"}).err().id() == "cups.bad_uri");
        CHECK(station_check_uri("https://host:99999", {"https"}).err().id() == "cups.bad_uri");
        CHECK(station_check_uri(std::string(120, 'a') + "://h:1", {"https"}).err().id() == "cups.bad_uri");
    }
}

TEST_SUITE("proto.cups") {
    TEST_CASE("tts_parse_address: the §1.5.1 normalisation table") {
        const std::pair<const char*, const char*> table[] = {
            {"eu1.cloud.thethings.network", "wss://eu1.cloud.thethings.network:8887"},
            {"eu1.cloud.thethings.network:8887", "wss://eu1.cloud.thethings.network:8887"},
            {"wss://eu1.cloud.thethings.network", "wss://eu1.cloud.thethings.network:8887"},
            {"wss://host:8887/", "wss://host:8887"},
            {"ws://192.168.2.3:1885", "ws://192.168.2.3:1885"},
            {"ws://192.168.2.3", "ws://192.168.2.3:1887"},
            {"thethings.example.com:443", "wss://thethings.example.com:443"},
        };
        for (auto [stored, sent] : table) {
            CAPTURE(stored);
            auto a = tts_parse_address("wss", stored);
            REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.err().what()));
            CHECK(a->uri() == sent);
        }
        // Default ports by scheme (trust is dialled with default scheme https)
        CHECK(tts_parse_address("https", "http://h")->host_port() == "h:80");
        CHECK(tts_parse_address("https", "https://h")->host_port() == "h:443");
        CHECK(tts_parse_address("https", "h")->host_port() == "h:443");
        CHECK(tts_parse_address("https", "h:8887")->host_port() == "h:8887");
        CHECK(tts_parse_address("wss", "wss://[::1]:8887")->uri() == "wss://[::1]:8887");
        CHECK(tts_parse_address("wss", "wss://h:port").err().id() == "cups.bad_uri");
        CHECK(tts_parse_address("wss", "")->host.empty());
    }
}
