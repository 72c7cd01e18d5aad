#include <ttig/proto/lns.hpp>
#include <ttig/proto/router_config.hpp>

#include <doctest/doctest.h>

#include "support/vectors.hpp"
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <string_view>

using namespace ttig::proto;

namespace {

constexpr std::string_view eu_vector = ttig::test::eu_router_config_vector;

// §4.6, US902-928 (US_902_928_FSB_2), same conditions: 1106 bytes.
constexpr std::string_view us_vector =
    R"({"msgtype":"router_config","NetID":null,"JoinEui":null,"region":"US902","hwspec":"sx1301/1",)"
    R"("freq_range":[923000000,928000000],"DRs":[[10,125,0],[9,125,0],[8,125,0],[7,125,0],[8,500,0],)"
    R"([0,0,0],[0,0,0],[0,0,0],[12,500,0],[11,500,0],[10,500,0],[9,500,0],[8,500,0],[7,500,0],[0,0,0],[0,0,0]],)"
    R"("sx1301_conf":[{"radio_0":{"enable":true,"freq":904300000},"radio_1":{"enable":true,"freq":905000000},)"
    R"("chan_multiSF_0":{"enable":true,"radio":0,"if":-400000},"chan_multiSF_1":{"enable":true,"radio":0,"if":-200000},)"
    R"("chan_multiSF_2":{"enable":true,"radio":0,"if":0},"chan_multiSF_3":{"enable":true,"radio":0,"if":200000},)"
    R"("chan_multiSF_4":{"enable":true,"radio":1,"if":-300000},"chan_multiSF_5":{"enable":true,"radio":1,"if":-100000},)"
    R"("chan_multiSF_6":{"enable":true,"radio":1,"if":100000},"chan_multiSF_7":{"enable":true,"radio":1,"if":300000},)"
    R"("chan_Lora_std":{"enable":true,"radio":0,"if":300000,"bandwidth":500000,"spread_factor":8},)"
    R"("chan_FSK":{"enable":false}}],"MuxTime":1735689600.123456,)"
    R"("bcning":{"DR":8,"layout":[5,11,23],"freqs":[923300000,923900000,924500000,925100000,925700000,926300000,926900000,927500000]}})";

// AU915-928 FSB 2 built by the same rules: AU_915_928 band (RP002-1.0.4: DR6 SF8/500, DR7
// LR-FHSS, DR8-13 SF12..7/500), radios 917.2/917.9 MHz, channels 916.8-918.2 MHz, 500 kHz
// channel 917.5 MHz, no FSK, US/AU beacon.
constexpr std::string_view au_vector =
    R"({"msgtype":"router_config","NetID":null,"JoinEui":null,"region":"AU915","hwspec":"sx1301/1",)"
    R"("freq_range":[915000000,928000000],"DRs":[[12,125,0],[11,125,0],[10,125,0],[9,125,0],[8,125,0],)"
    R"([7,125,0],[8,500,0],[0,0,0],[12,500,0],[11,500,0],[10,500,0],[9,500,0],[8,500,0],[7,500,0],[0,0,0],[0,0,0]],)"
    R"("sx1301_conf":[{"radio_0":{"enable":true,"freq":917200000},"radio_1":{"enable":true,"freq":917900000},)"
    R"("chan_multiSF_0":{"enable":true,"radio":0,"if":-400000},"chan_multiSF_1":{"enable":true,"radio":0,"if":-200000},)"
    R"("chan_multiSF_2":{"enable":true,"radio":0,"if":0},"chan_multiSF_3":{"enable":true,"radio":0,"if":200000},)"
    R"("chan_multiSF_4":{"enable":true,"radio":1,"if":-300000},"chan_multiSF_5":{"enable":true,"radio":1,"if":-100000},)"
    R"("chan_multiSF_6":{"enable":true,"radio":1,"if":100000},"chan_multiSF_7":{"enable":true,"radio":1,"if":300000},)"
    R"("chan_Lora_std":{"enable":true,"radio":0,"if":300000,"bandwidth":500000,"spread_factor":8},)"
    R"("chan_FSK":{"enable":false}}],"MuxTime":1735689600.123456,)"
    R"("bcning":{"DR":8,"layout":[5,11,23],"freqs":[923300000,923900000,924500000,925100000,925700000,926300000,926900000,927500000]}})";

std::string encode(const frequency_plan& p, const router_config_options& o) {
    auto out = encode_router_config(p, o);
    REQUIRE(out.has_value());
    return *out;
}

router_config make(const frequency_plan& p, const router_config_options& o) {
    auto rc = make_router_config(p, o);
    REQUIRE(rc.has_value());
    return *rc;
}

const frequency_plan& plan(std::string_view id) {
    auto p = frequency_plan_by_id(id);
    REQUIRE(p.has_value());
    return **p;
}

router_config_options vector_options() {
    router_config_options o;
    o.production = true;
    o.mux_time = 1735689600.123456;
    o.antenna_gain = 0;
    return o;
}

std::string replace_once(std::string s, std::string_view from, std::string_view to) {
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return s;
}

}  // namespace

TEST_SUITE("proto.router_config") {

TEST_CASE("router_config §4.6: EU_863_870_TTN for a production station encodes the 1060-byte vector") {
    const std::string out = encode(plan("EU_863_870_TTN"), vector_options());
    CHECK(out.size() == 1060);
    CHECK(out == eu_vector);
}

TEST_CASE("router_config §4.6: US_902_928_FSB_2 for a production station encodes the 1106-byte vector") {
    const std::string out = encode(plan("US_902_928_FSB_2"), vector_options());
    CHECK(out.size() == 1106);
    CHECK(out == us_vector);
}

TEST_CASE("router_config: AU_915_928_FSB_2 follows the same rules (region AU915, 500 kHz DRs, no FSK)") {
    CHECK(encode(plan("AU_915_928_FSB_2"), vector_options()) == au_vector);
}

TEST_CASE("router_config §4.6: a non-production station gets nocca/nodc/nodwell between sx1301_conf and MuxTime") {
    auto o = vector_options();
    o.production = false;
    const std::string expected =
        replace_once(std::string(eu_vector), R"(}}],"MuxTime")", R"(}}],"nocca":true,"nodc":true,"nodwell":true,"MuxTime")");
    CHECK(encode(plan("EU_863_870_TTN"), o) == expected);
}

TEST_CASE("router_config: a non-zero antenna gain is written in every radio, zero is omitted") {
    auto o = vector_options();
    o.antenna_gain = 3;
    std::string expected = replace_once(std::string(eu_vector), R"("freq":867500000})", R"("freq":867500000,"antenna_gain":3})");
    expected = replace_once(expected, R"("freq":868500000})", R"("freq":868500000,"antenna_gain":3})");
    CHECK(encode(plan("EU_863_870_TTN"), o) == expected);
}

TEST_CASE("router_config: MuxTime is written as Go writes a float64, which nlohmann does not always match") {
    CHECK(tts_router_config_mux_time(1735689600, 123456000) == 1735689600.123456);
    CHECK(go_float_text(1735689600.123456) == "1735689600.123456");
    CHECK(nlohmann::json(1735689600.123456).dump() == "1735689600.123456");
    // Integral seconds: Go writes no fraction, nlohmann appends ".0".
    CHECK(go_float_text(1735689600.0) == "1735689600");
    CHECK(nlohmann::json(1735689600.0).dump() == "1735689600.0");
    auto o = vector_options();
    o.mux_time = 1735689600.0;
    CHECK(encode(plan("EU_863_870_TTN"), o).find(R"("MuxTime":1735689600,"bcning")") != std::string::npos);
    // Go switches to an exponent only from 1e21 (nlohmann from 1e16) and below 1e-6.
    CHECK(go_float_text(1e16) == "10000000000000000");
    CHECK(nlohmann::json(1e16).dump() == "1e+16");
    CHECK(go_float_text(1e21) == "1e+21");
    CHECK(go_float_text(1.5e-7) == "1.5e-7");
    CHECK(go_float_text(0.0) == "0");
    CHECK(go_float_text(0.5) == "0.5");
    CHECK(go_float_text(-2.25) == "-2.25");
}

TEST_CASE("router_config: the reference-region-names flag renames only the listed bands") {
    CHECK(tts_region_name("EU_863_870") == "EU863");
    CHECK(tts_region_name("AS_923_4") == "AS923");
    CHECK(tts_region_name("AU_915_928") == "AU915");
    CHECK(tts_region_name("AS_923_4", true) == "IL915");
    CHECK(tts_region_name("AS_923", true) == "AS923JP");
    CHECK(tts_region_name("IN_865_867", true) == "IN865");
    auto o = vector_options();
    o.reference_region_names = true;
    CHECK(make(plan("US_902_928_FSB_2"), o).region == "US902");
}

TEST_CASE("frequency_plan_by_id: the three built-in plans are found — anything else is tc.unknown_frequency_plan") {
    CHECK(frequency_plans().size() == 3);
    for (auto id : {"EU_863_870_TTN", "US_902_928_FSB_2", "AU_915_928_FSB_2"}) {
        CAPTURE(id);
        auto p = frequency_plan_by_id(id);
        REQUIRE(p.has_value());
        CHECK((*p)->id == id);
    }
    auto bad = frequency_plan_by_id("EU_863_870_ttn");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.err().what() ==
          "[tc.unknown_frequency_plan] unknown frequency plan: 'EU_863_870_ttn' (known: EU_863_870_TTN, "
          "US_902_928_FSB_2, AU_915_928_FSB_2)");
}

TEST_CASE("make_router_config: several plans of one band give sx1301/N and one sx1301_conf each") {
    const frequency_plan* two[] = {&plan("EU_863_870_TTN"), &plan("EU_863_870_TTN")};
    auto rc = make_router_config(two, vector_options());
    REQUIRE(rc.has_value());
    CHECK(rc->hwspec == "sx1301/2");
    CHECK(rc->sx1301_conf.size() == 2);
    CHECK(rc->freq_range == std::array<std::uint64_t, 2>{863000000, 870000000});
}

TEST_CASE("make_router_config: plans of different bands, or none, are tc.bad_frequency_plan") {
    const frequency_plan* mixed[] = {&plan("EU_863_870_TTN"), &plan("US_902_928_FSB_2")};
    auto rc = make_router_config(mixed, vector_options());
    REQUIRE_FALSE(rc.has_value());
    CHECK(rc.err().what() ==
          "[tc.bad_frequency_plan] frequency plans cannot form a router_config: US_902_928_FSB_2: band US_902_928 "
          "differs from EU_863_870 of EU_863_870_TTN");
    auto none = encode_router_config(std::span<const frequency_plan* const>{}, vector_options());
    REQUIRE_FALSE(none.has_value());
    CHECK(none.err().what() == "[tc.bad_frequency_plan] frequency plans cannot form a router_config: no frequency plan");
}

TEST_CASE("make_router_config: a plan TTS could not use is tc.bad_frequency_plan, not a silent default") {
    frequency_plan no_tx = plan("EU_863_870_TTN");
    no_tx.radios[0].tx.reset();
    auto a = encode_router_config(no_tx, vector_options());
    REQUIRE_FALSE(a.has_value());
    CHECK(a.err().what() == "[tc.bad_frequency_plan] frequency plans cannot form a router_config: EU_863_870_TTN: radio 0 has no TX frequency range");
    frequency_plan bad_radio = plan("EU_863_870_TTN");
    bad_radio.uplink_channels[0].radio = 2;
    auto b = make_router_config(bad_radio, vector_options());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.err().what() == "[tc.bad_frequency_plan] frequency plans cannot form a router_config: EU_863_870_TTN: channel 868100000 Hz on missing radio 2");
}

TEST_CASE("make_router_config: a plan with fewer than 8 uplink channels is padded with disabled channels") {
    frequency_plan p = plan("EU_863_870_TTN");
    p.uplink_channels.resize(3);
    p.fsk_channel.reset();
    const std::string out = encode(p, vector_options());
    CHECK(out.find(R"("chan_multiSF_2":{"enable":true,"radio":1,"if":0},"chan_multiSF_3":{"enable":false})") != std::string::npos);
    CHECK(out.find(R"("chan_multiSF_7":{"enable":false},"chan_Lora_std")") != std::string::npos);
    CHECK(out.find(R"("chan_FSK":{"enable":false}})") != std::string::npos);
}

TEST_CASE("decode_router_config: the station reads the EU vector") {
    auto rc = decode_router_config(eu_vector);
    REQUIRE(rc.has_value());
    CHECK(rc->region == "EU863");
    CHECK(rc->region_recognised);
    CHECK(rc->station_region == "EU868");
    CHECK(rc->hwspec == "sx1301/1");
    CHECK(rc->freq_range == std::array<std::uint64_t, 2>{863000000, 870000000});
    CHECK(rc->drs[0] == dr_entry{12, 125, 0});
    CHECK(rc->drs[6] == dr_entry{7, 250, 0});
    CHECK(rc->drs[7] == dr_entry{0, 0, 0});
    REQUIRE(rc->sx1301_conf.size() == 1);
    const auto& c = rc->sx1301_conf[0];
    CHECK(c.radios.size() == 2);
    CHECK(c.radios[1].freq == 868500000);
    CHECK(c.multi_sf.size() == 8);
    CHECK(c.multi_sf[0] == sx1301_channel{true, 1, -400000, 0, 0, 0});
    REQUIRE(c.lora_std.has_value());
    CHECK(*c.lora_std == sx1301_channel{true, 1, -200000, 250000, 7, 0});
    REQUIRE(c.fsk.has_value());
    CHECK(c.fsk->datarate == 50000);
    CHECK(rc->mux_time == 1735689600.123456);
    REQUIRE(rc->bcning.has_value());
    CHECK(rc->bcning->layout == std::array<std::uint64_t, 3>{2, 8, 17});
    CHECK_FALSE(rc->net_id.has_value());
    CHECK_FALSE(rc->join_eui.has_value());
    CHECK_FALSE(rc->nocca.has_value());
}

TEST_CASE("router_config round trip: encode(decode(x)) == x for every vector") {
    auto nonprod = vector_options();
    nonprod.production = false;
    const std::string vectors[] = {std::string(eu_vector), std::string(us_vector), std::string(au_vector),
                                   encode(plan("US_902_928_FSB_2"), nonprod)};
    const std::string_view plans[] = {"EU_863_870_TTN", "US_902_928_FSB_2", "AU_915_928_FSB_2", "US_902_928_FSB_2"};
    for (std::size_t i = 0; i < std::size(vectors); ++i) {
        CAPTURE(i);
        auto rc = decode_router_config(vectors[i]);
        REQUIRE(rc.has_value());
        CHECK(encode_router_config(*rc) == vectors[i]);
        CHECK(*rc == make(plan(plans[i]), i == 3 ? nonprod : vector_options()));
    }
}

TEST_CASE("decode_router_config: the station's region table — other regions are accepted but flagged") {
    struct row {
        std::string_view sent;
        std::string_view station;
    };
    constexpr row recognised[] = {{"EU863", "EU868"}, {"EU868", "EU868"}, {"IL915", "IL915"},   {"KR920", "KR920"},
                                  {"AS923JP", "AS923-1"}, {"AS923-1", "AS923-1"}, {"US902", "US915"}, {"US915", "US915"},
                                  {"AU915", "AU915"}};
    for (const auto& r : recognised) {
        CAPTURE(r.sent);
        auto rc = decode_router_config(replace_once(std::string(eu_vector), R"("region":"EU863")", fmt::format(R"("region":"{}")", r.sent)));
        REQUIRE(rc.has_value());
        CHECK(rc->region_recognised);
        CHECK(rc->station_region == r.station);
    }
    for (std::string_view other : {"AS923", "IN865", "CN470", "eu863", ""}) {
        CAPTURE(other);
        auto rc = decode_router_config(replace_once(std::string(eu_vector), R"("region":"EU863")", fmt::format(R"("region":"{}")", other)));
        REQUIRE(rc.has_value());
        CHECK_FALSE(rc->region_recognised);
        CHECK(rc->station_region.empty());
        CHECK(rc->region == other);
    }
}

TEST_CASE("decode_router_config: hwspec and an sx130x configuration are required, under any of the five names") {
    for (std::string_view name : {"SX1301_conf", "sx1302_conf", "SX1302_conf", "radio_conf"}) {
        CAPTURE(name);
        auto rc = decode_router_config(replace_once(std::string(eu_vector), R"("sx1301_conf")", fmt::format(R"("{}")", name)));
        REQUIRE(rc.has_value());
        CHECK(rc->sx1301_conf.size() == 1);
    }
    auto no_hwspec = decode_router_config(replace_once(std::string(eu_vector), R"("hwspec":"sx1301/1",)", ""));
    REQUIRE_FALSE(no_hwspec.has_value());
    CHECK(no_hwspec.err().what() == "[tc.missing_field] LNS message lacks a required field: router_config: no 'hwspec'");
    auto empty_hwspec = decode_router_config(replace_once(std::string(eu_vector), R"("hwspec":"sx1301/1")", R"("hwspec":"")"));
    REQUIRE_FALSE(empty_hwspec.has_value());
    CHECK(empty_hwspec.err().id() == "tc.missing_field");
    auto no_conf = decode_router_config(R"({"msgtype":"router_config","hwspec":"sx1301/1","region":"EU863"})");
    REQUIRE_FALSE(no_conf.has_value());
    CHECK(no_conf.err().what() ==
          "[tc.missing_field] LNS message lacks a required field: router_config: no 'sx1301_conf' or 'sx1302_conf'");
}

TEST_CASE("decode_router_config: malformed input is refused with a one-line message naming the field") {
    struct row {
        std::string_view input;
        std::string_view what;
    };
    const row rows[] = {
        {"{", "[tc.bad_json] LNS message is not valid JSON: 1 bytes"},
        {"[]", "[tc.not_object] LNS message is not a JSON object: got a JSON array"},
        {R"({"hwspec":5,"sx1301_conf":[]})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: hwspec: expecting a string value, got number"},
        {R"({"hwspec":"sx1301/1/and-a-very-long-suffix-xxxxx","sx1301_conf":[]})",
         "[tc.bad_value] LNS message field value out of range: hwspec: hardware specifier is too long (37 > 31 bytes)"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"freq_range":[863000000]})",
         "[tc.bad_value] LNS message field value out of range: freq_range: expecting 2 elements, got 1"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"freq_range":[-1,2]})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: freq_range[0]: expecting a positive integer value, got a negative number"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"DRs":[[12,125]]})",
         "[tc.bad_value] LNS message field value out of range: DRs[0]: expecting 3 elements, got 2"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"DRs":[[12,125.5,0]]})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: DRs[0][1]: expecting an integer value, got a fraction/exponent number"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":{}})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: sx1301_conf: expecting an array, got object"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[{"radio_0":{"enable":1}}]})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: sx1301_conf[0].radio_0.enable: expecting a bool value, got number"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[{"radio_1":{"enable":true,"freq":1}}]})",
         "[tc.bad_value] LNS message field value out of range: sx1301_conf[0].radio_1: indices must run from 0 without gaps"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[{"chan_multiSF_0":{"enable":true,"radio":0,"if":4294967296}}]})",
         "[tc.bad_value] LNS message field value out of range: sx1301_conf[0].chan_multiSF_0.if: value not in range [-2147483648..2147483647]: 4294967296"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"nocca":"yes"})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: nocca: expecting a bool value, got string"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"bcning":{"layout":[1,2]}})",
         "[tc.bad_value] LNS message field value out of range: bcning.layout: expecting 3 elements, got 2"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"MuxTime":"now"})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: MuxTime: expecting a number, got string"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"NetID":[1,-1]})",
         "[tc.bad_field_type] LNS message field has the wrong JSON type: NetID[1]: expecting a positive integer value, got a negative number"},
        {R"({"hwspec":"sx1301/1","sx1301_conf":[],"upchannels":[[868100000,0,8]]})",
         "[tc.bad_value] LNS message field value out of range: upchannels[0][2]: value not in range [0..7]: 8"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        auto rc = decode_router_config(r.input);
        REQUIRE_FALSE(rc.has_value());
        CHECK(rc.err().what() == r.what);
    }
}

TEST_CASE("decode_router_config: filters, nulls and unknown keys are read the station's way") {
    auto rc = decode_router_config(
        R"({"msgtype":"router_config","NetID":[0,19],"JoinEUI":[[1,2],[18446744073709551615,18446744073709551615]],)"
        R"("hwspec":"sx1301/1","sx1301_conf":null,"bcning":null,"future":{"x":[1]},"nocca":false,"max_eirp":16.5})");
    REQUIRE(rc.has_value());
    CHECK(rc->net_id == std::vector<std::uint64_t>{0, 19});
    REQUIRE(rc->join_eui.has_value());
    CHECK(rc->join_eui->at(1).first == 0xFFFFFFFFFFFFFFFFull);
    CHECK(rc->sx1301_conf.empty());
    CHECK_FALSE(rc->bcning.has_value());
    CHECK(rc->nocca == false);
    CHECK_FALSE(rc->region_recognised);
    // Re-encoded as TTS would: nocca=false is omitted, the empty configuration list is null.
    CHECK(encode_router_config(*rc) ==
          R"({"msgtype":"router_config","NetID":[0,19],"JoinEui":[[1,2],[18446744073709551615,18446744073709551615]],)"
          R"("region":"","hwspec":"sx1301/1","freq_range":[0,0],"DRs":[[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],)"
          R"([-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0]],)"
          R"("sx1301_conf":null,"MuxTime":0,"bcning":null})");
}

TEST_CASE("decode_router_config: more than 16 DRs entries overwrite DR15, as the station does") {
    std::string drs;
    for (int i = 0; i < 18; ++i) drs += fmt::format("{}[{},125,0]", i ? "," : "", i);
    auto rc = decode_router_config(fmt::format(R"({{"hwspec":"sx1301/1","sx1301_conf":[],"DRs":[{}]}})", drs));
    REQUIRE(rc.has_value());
    CHECK(rc->drs[14].sf == 14);
    CHECK(rc->drs[15].sf == 17);
}

}  // TEST_SUITE
