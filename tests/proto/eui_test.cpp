// EUI-64, ID6 (both dialects) and TTIG label codes: basicstation-protocol §5, TV9, TV10, TV14.
#include <ttig/proto/eui.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace ttig::proto;

namespace {
eui64 must_parse(std::string_view s) {
    auto r = parse_eui(s);
    REQUIRE_MESSAGE(r.has_value(), s, " -> ", (r ? "" : r.err().what()));
    return r->eui;
}
}  // namespace

TEST_SUITE("proto.eui") {
    TEST_CASE("station_id6: TV9 canonical forms") {
        const std::pair<std::uint64_t, const char*> tv9[] = {
            {0x0, "::0"},
            {0x1, "::1"},
            {0x0000000200030004ull, "0:2:3:4"},
            {0x000A00000000000Bull, "a::b"},
            {0x1234000000000000ull, "1234::"},
            {0x0000000000010002ull, "::1:2"},
            {0x58A0CBFFFE800019ull, "58a0:cbff:fe80:19"},
        };
        for (auto [v, text] : tv9) {
            CAPTURE(text);
            CHECK(station_id6(eui64{v}) == text);
            auto back = station_parse_eui(text);
            REQUIRE(back.has_value());
            CHECK(back->value == v);
        }
        // §6.1 capture: EUI 58A0CBFFFE800123 is sent as "58a0:cbff:fe80:123"
        CHECK(station_id6(eui64{0x58A0CBFFFE800123ull}) == "58a0:cbff:fe80:123");
        // remaining row of the §5.2 table: g2 = g3 = 0, g1 != 0
        CHECK(station_id6(eui64{0x12345678'00000000ull}) == "1234:5678::");
    }

    TEST_CASE("tts_id6: the §5.3 encoder table") {
        const std::pair<std::uint64_t, const char*> rows[] = {
            {0x0, "::0"},
            {0x1, "::1"},
            {0x0000000200030004ull, "2:3:4"},
            {0x000A00000000000Bull, "a:::b"},
            {0x1234000000000000ull, "1234:::0"},
            {0x0000000000010002ull, ":1:2"},
            {0x58A0CBFFFE800019ull, "58a0:cbff:fe80:19"},
        };
        for (auto [v, text] : rows) {
            CAPTURE(text);
            CHECK(tts_id6(eui64{v}) == text);
        }
        CHECK(tts_id6(eui64{0x58A0CBFFFE123456ull}, "router") == "router-58a0:cbff:fe12:3456");
    }

    TEST_CASE("tts_parse_eui: TV14 and the §4.3 acceptance table") {
        using nlohmann::json;
        auto ok = [](const json& j, std::uint64_t want, std::string prefix = {}) {
            CAPTURE(j.dump());
            auto r = tts_parse_eui(j);
            REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.err().what()));
            CHECK(r->eui.value == want);
            CHECK(r->prefix == prefix);
        };
        auto rejected = [](const json& j) {
            CAPTURE(j.dump());
            auto r = tts_parse_eui(j);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().id() == "eui.tts_format");
        };
        rejected("58A0:CBFF:FE80:19");
        rejected("58A0CBFFFE800019");
        ok(json(6386328571958263833ull), 0x58A0CBFFFE800019ull);
        ok("58-A0-CB-FF-FE-80-00-19", 0x58A0CBFFFE800019ull);
        ok("58a0:cbff:fe12:3456", 0x58A0CBFFFE123456ull);
        ok("router-58a0:cbff:fe12:3456", 0x58A0CBFFFE123456ull, "router");
        ok("58:a0:cb:ff:fe:12:34:56", 0x58A0CBFFFE123456ull);
        ok(json(6386328571951068246ull), 0x58A0CBFFFE123456ull);
        rejected("6386328571951068246");  // decimal inside a string
        rejected(json(-1));
        rejected(json(1.5));
        ok("::0", 0);
        // The TTS encoder's own forms read back through its positional pattern with Go's
        // leftmost-first semantics. Expected groups were obtained from an independent
        // leftmost-first engine (Python re) on the same pattern: "2:3:4" -> ('2','','3','4').
        for (std::uint64_t v : {0x000A00000000000Bull, 0x1234000000000000ull, 0x0000000000010002ull}) {
            CAPTURE(v);
            auto r = tts_parse_eui_text(tts_id6(eui64{v}));
            REQUIRE(r.has_value());
            CHECK(r->eui.value == v);
        }
        // TTS does not read back its own ID6 when the first group is 0 and the second is not.
        ok("2:3:4", 0x0002000000030004ull);
        ok("966a:1b2c:3d00", 0x966A00001B2C3D00ull);
        ok(":1:2", 0x0000000000010002ull);
        rejected("1:2:3:4:5");
        rejected("12345:1:2:3");
    }

    TEST_CASE("eui_from_ttig_label: TV10") {
        auto e = eui_from_ttig_label("58A0CB123456");
        REQUIRE(e.has_value());
        CHECK(e->hex() == "58A0CBFFFE123456");
        CHECK(e->value == 6386328571951068246ull);
        CHECK(station_id6(*e) == "58a0:cbff:fe12:3456");
        CHECK(e->gateway_id() == "eui-58a0cbfffe123456");
        CHECK(e->traffic_path() == "/traffic/eui-58A0CBFFFE123456");
        CHECK(e->looks_like_ttig());
        CHECK(eui_from_ttig_label("(92)58A0CB123456")->value == e->value);
        auto bad = eui_from_ttig_label("58A0CB12345G");
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.err().what() == "[eui.bad_label] not a TTIG label code (12 hex digits): 'G' at offset 11 in '58A0CB12345G'");
    }

    TEST_CASE("parse_eui: every user-facing form gives the same EUI") {
        const std::uint64_t want = 0x58A0CBFFFE800001ull;
        const std::pair<const char*, eui_form> forms[] = {
            {"58A0CBFFFE800001", eui_form::hex},
            {"58a0cbfffe800001", eui_form::hex},
            {"58-A0-CB-FF-FE-80-00-01", eui_form::dashed},
            {"58:a0:cb:ff:fe:80:00:01", eui_form::colon},
            {"eui-58a0cbfffe800001", eui_form::eui_prefix},
            {"58a0:cbff:fe80:1", eui_form::id6},
            {"58A0CB800001", eui_form::ttig_label},
            {"(92)58A0CB800001", eui_form::ttig_label},
            {" 58A0CBFFFE800001\n", eui_form::hex},
            {"6386328571958263809", eui_form::decimal},
        };
        for (auto [text, form] : forms) {
            CAPTURE(text);
            auto r = parse_eui(text);
            REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.err().what()));
            CHECK(r->eui.value == want);
            CHECK(r->form == form);
        }
        CHECK(must_parse("::1").value == 1);
    }

    TEST_CASE("parse_eui: exact errors for bad forms") {
        const std::pair<const char*, const char*> cases[] = {
            {"", "[eui.empty] empty EUI"},
            {"58A0CBFFFE80000", "[eui.bad_group] EUI separator groups are malformed: '58A0CBFFFE80000' has 15 hex digits, want 16 (or 12 for a TTIG label code)"},
            {"58A0CBFFFE8000011", "[eui.too_long] EUI has more than 16 hex digits: 17 hex digits in '58A0CBFFFE8000011'"},
            {"58A0CBFFFE80000Z", "[eui.bad_character] invalid character in EUI: 'Z' at offset 15 in '58A0CBFFFE80000Z'"},
            {"58-A0:CB-FF-FE-80-00-01", "[eui.mixed_separators] EUI mixes '-' and ':' separators: '58-A0:CB-FF-FE-80-00-01'"},
            {"58-A0-CB-FF-FE-80-0-001", "[eui.bad_group] EUI separator groups are malformed: '58-A0-CB-FF-FE-80-0-001': want 8 two-digit groups"},
            {"12345:1::", "[eui.bad_id6] malformed ID6: '12345:1::'"},
            {"eui-58a0", "[eui.bad_group] EUI separator groups are malformed: 'eui-58a0': want eui- and 16 hex digits"},
            {"58A0 CBFF", "[eui.bad_character] invalid character in EUI: ' ' at offset 4 in '58A0 CBFF'"},
            {"\x01\xff", "[eui.bad_character] invalid character in EUI: '\\x01' at offset 0 in '\\x01\\xff'"},
        };
        for (auto [text, msg] : cases) {
            CAPTURE(text);
            auto r = parse_eui(text);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().what() == msg);
        }
    }

    TEST_CASE("station_parse_eui: the station's tolerant configuration forms") {
        CHECK(station_parse_eui("123456")->value == 0x123456);                            // leading zeros implied
        CHECK(station_parse_eui("12-34-56-78-9a-bc-de-f0")->value == 0x123456789ABCDEF0ull);
        CHECK(station_parse_eui("1:2:3")->value == 0x000100020003ull);                    // 3 groups, no ::
        CHECK(station_parse_eui("1::2")->value == 0x0001000000000002ull);
        CHECK_FALSE(station_parse_eui("1-2:3").has_value());
        CHECK_FALSE(station_parse_eui(":::").has_value());
    }

    TEST_CASE("round trip: station_id6 then station_parse_eui over many values") {
        std::uint64_t x = 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < 2000; ++i) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            // zero out random groups so every :: shape is exercised
            std::uint64_t v = x;
            for (int g = 0; g < 4; ++g)
                if ((x >> (60 - g)) & 1) v &= ~(0xFFFFull << (16 * g));
            CAPTURE(v);
            auto back = station_parse_eui(station_id6(eui64{v}));
            REQUIRE(back.has_value());
            CHECK(back->value == v);
            auto tts_back = tts_parse_eui_text(tts_id6(eui64{v}));
            REQUIRE(tts_back.has_value());
            if (eui64{v}.group(0) != 0 || eui64{v}.group(1) == 0) CHECK(tts_back->eui.value == v);
        }
    }
}
