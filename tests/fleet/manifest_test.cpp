// fleet manifests: CSV (quoted fields) and JSON read, every error at once with file:line, owner
// tokens never in an error text, file modes. Expected EUIs from basicstation-protocol.md §5.5 (label
// code 58A0CB123456 -> EUI 58A0CBFFFE123456); the gateway ID pattern from tts-api.md
// (^[a-z0-9](?:[-]?[a-z0-9]){2,}$, at most 36).
#include "support/run_cli.hpp"

#include <ttig/fleet/manifest.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

using namespace ttig;
namespace fs = std::filesystem;

namespace {

const std::string token = "Zq7-wifi,Pass\"9K";  // distinctive (a comma and a quote: CSV needs quoting)
const std::string token_csv = "\"Zq7-wifi,Pass\"\"9K\"";

fs::path write(const test::temp_dir& d, const std::string& name, const std::string& text, bool secure = true) {
    const auto p = d / name;
    test::write_file(p, text);
    fs::permissions(p, secure ? (fs::perms::owner_read | fs::perms::owner_write)
                              : (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
    return p;
}

bool mentions_token(const fleet::manifest& m) {
    for (const auto& e : m.errors)
        if (e.text().find("Zq7") != std::string::npos || e.text().find("Pass") != std::string::npos) return true;
    return false;
}

std::string all_errors(const fleet::manifest& m) {
    std::string s;
    for (const auto& e : m.errors) s += e.text() + "\n";
    return s;
}

}  // namespace

TEST_CASE("fleet manifest: a CSV with quoted fields, columns in any order, label codes and action lists") {
    test::temp_dir d;
    const auto p = write(d, "fleet.csv",
                         "gateway_id, actions ,eui,frequency_plan,cluster,owner_token\r\n"
                         "# a comment line\r\n"
                         "office-ttig,claim|rotate,(92)58A0CB123456,EU_863_870_TTN|EU_863_870_ROAMING_DRAFT,eu1.cloud.thethings.network," +
                             token_csv +
                             "\r\n"
                             "\r\n"
                             "\"lab-gw\",set-gs,58-A0-CB-FF-FE-12-34-57,\"EU_863_870_TTN\",\"nam1.cloud.thethings.network:1887\",\r\n"
                             "attic-gw,,,,,\n");
    auto m = fleet::read_manifest(p.string());
    REQUIRE_MESSAGE(m.ok(), all_errors(m));
    REQUIRE(m.rows.size() == 3);
    const auto& a = m.rows[0];
    CHECK(a.line == 3);
    CHECK(a.where() == p.string() + ":3");
    CHECK(a.gateway_id == "office-ttig");
    REQUIRE(a.eui);
    CHECK(a.eui->hex() == "58A0CBFFFE123456");
    CHECK(a.frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN", "EU_863_870_ROAMING_DRAFT"});
    CHECK(a.cluster == "eu1.cloud.thethings.network");
    CHECK(a.actions == std::set<fleet::action>{fleet::action::claim, fleet::action::rotate_cups, fleet::action::rotate_lns});
    CHECK(a.owner_token == token);
    const auto& b = m.rows[1];
    CHECK(b.line == 5);
    CHECK(b.gateway_id == "lab-gw");
    CHECK(b.eui->hex() == "58A0CBFFFE123457");
    CHECK(b.cluster == "nam1.cloud.thethings.network:1887");
    CHECK(b.actions == std::set<fleet::action>{fleet::action::set_gs});
    CHECK(b.owner_token.empty());
    CHECK(m.rows[2].line == 6);
    CHECK_FALSE(m.rows[2].eui);
    CHECK(m.rows[2].actions.empty());
}

TEST_CASE("fleet manifest: a quoted field over two lines keeps the line numbers of later rows") {
    test::temp_dir d;
    const auto p = write(d, "m.csv",
                         "gateway_id,cluster\n"
                         "gw-one,\"eu1.cloud.thethings.network\n"
                         "\"\n"  // a line break inside the quotes: an invalid cluster, reported on line 2
                         "gw-two,bad/path\n");
    auto m = fleet::read_manifest(p.string());
    REQUIRE(m.errors.size() == 2);
    CHECK(m.errors[0].line == 2);
    CHECK(m.errors[0].column == "cluster");
    CHECK(m.errors[1].line == 4);
    CHECK(m.errors[1].column == "cluster");
}

TEST_CASE("fleet manifest: every error at once, each with file and line, never the token") {
    test::temp_dir d;
    const std::string text =
        "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n"                                          // 1
        "58A0CB123456,office-ttig,EU_863_870_TTN,eu1.cloud.thethings.network,claim," + token_csv + "\n"        // 2 ok
        "58A0CBZZ3456,Bad_ID,EU_863_870_TTN,,claim|fly," + token_csv + "\n"                                    // 3: eui, id, action
        "58A0CB123456,office-ttig,,,,\n"                                                                        // 4: duplicate EUI and ID
        ",gw-three,,,claim,\n"                                                                                  // 5: claim without eui, plan, token
        "58A0CBFFFE000001,gw-four,,https://eu1.cloud.thethings.network,set-gs|move,\n"                          // 6: cluster with a scheme
        "58A0CBFFFE000002,gw-five,,,set-gs,\n"                                                                  // 7: set-gs without cluster
        "58A0CBFFFE000003,gw-six,EU,x\n"                                                                        // 8: 4 fields
        "58A0CBFFFE000004,ab,,,,\n"                                                                             // 9: ID too short
        "58A0CBFFFE000005,gw-seven,,,,\"unterminated\n";                                                        // 10: open quote
    const auto p = write(d, "bad.csv", text);
    auto m = fleet::read_manifest(p.string());
    CHECK_FALSE(m.ok());
    CHECK(m.rows.empty());
    const std::string all = all_errors(m);
    INFO(all);
    auto has = [&](std::size_t line, const std::string& column) {
        for (const auto& e : m.errors)
            if (e.line == line && e.column == column && e.file == p.string()) return true;
        return false;
    };
    CHECK(has(3, "eui"));
    CHECK(has(3, "gateway_id"));
    CHECK(has(3, "actions"));
    CHECK(has(4, "eui"));
    CHECK(has(4, "gateway_id"));
    CHECK(has(5, "eui"));
    CHECK(has(5, "frequency_plan"));
    CHECK(has(5, "owner_token"));
    CHECK(has(6, "cluster"));
    CHECK(has(7, "cluster"));
    CHECK(has(8, ""));
    CHECK(has(9, "gateway_id"));
    CHECK(has(10, ""));
    // "file:line: column: message"
    CHECK(all.find(p.string() + ":3: gateway_id: `Bad_ID` is not a valid gateway ID") != std::string::npos);
    CHECK(all.find(p.string() + ":4: eui: EUI 58A0CBFFFE123456 is also on " + p.string() + ":2") != std::string::npos);
    CHECK_FALSE(mentions_token(m));
}

TEST_CASE("fleet manifest: a token in the wrong column is not echoed") {
    test::temp_dir d;
    // The token column and the EUI column swapped by mistake: the "EUI" is the token.
    const auto p = write(d, "swap.csv", "owner_token,gateway_id,eui\nSecretTokenXYZ,gw-one,SecretTokenXYZ\n");
    auto m = fleet::read_manifest(p.string());
    REQUIRE(m.errors.size() == 1);
    CHECK(m.errors[0].column == "eui");
    CHECK(m.errors[0].text().find("SecretTokenXYZ") == std::string::npos);
}

TEST_CASE("fleet manifest: header problems") {
    test::temp_dir d;
    SUBCASE("unknown and doubled columns, no gateway_id") {
        auto m = fleet::read_manifest(write(d, "h.csv", "eui,code,colour\n58A0CB123456,,red\n").string());
        REQUIRE(m.errors.size() == 3);
        for (const auto& e : m.errors) CHECK(e.line == 1);
    }
    SUBCASE("an empty file") {
        auto m = fleet::read_manifest(write(d, "e.csv", "").string());
        REQUIRE(m.errors.size() == 1);
        CHECK(m.errors[0].line == 0);
    }
    SUBCASE("a header alone is an empty fleet") {
        auto m = fleet::read_manifest(write(d, "only.csv", "gateway_id,eui\n").string());
        CHECK(m.ok());
        CHECK(m.rows.empty());
    }
    SUBCASE("a missing file") {
        auto m = fleet::read_manifest((d / "nope.csv").string());
        REQUIRE(m.errors.size() == 1);
        CHECK(m.errors[0].text().find("nope.csv: cannot read the file") != std::string::npos);
    }
}

TEST_CASE("fleet manifest: gateway ID pattern and length") {
    test::temp_dir d;
    const std::string ok36(36, 'a');
    const std::string bad37(37, 'a');
    for (const std::string id : {"abc", "a-b-c", "0ab", "eui-58a0cbfffe123456", ok36.c_str()}) {
        auto m = fleet::read_manifest(write(d, "ok.csv", "gateway_id\n" + id + "\n").string());
        CHECK_MESSAGE(m.ok(), id);
    }
    for (const std::string id : {"ab", "a--b", "-ab", "ab-", "ABC", "a_b", bad37.c_str()}) {
        auto m = fleet::read_manifest(write(d, "bad.csv", "gateway_id\n" + id + "\n").string());
        REQUIRE_MESSAGE(m.errors.size() == 1, id);
        CHECK(m.errors[0].column == "gateway_id");
    }
}

TEST_CASE("fleet manifest: owner tokens and file modes") {
    test::temp_dir d;
    const std::string with_token =
        "eui,gateway_id,frequency_plan,actions,owner_token\n58A0CB123456,office-ttig,EU_863_870_TTN,claim," + token_csv + "\n";
    SUBCASE("tokens in a manifest others can read") {
        auto m = fleet::read_manifest(write(d, "loose.csv", with_token, false).string());
        REQUIRE(m.errors.size() == 1);
        CHECK(m.errors[0].line == 0);
        CHECK(m.errors[0].column == "owner_token");
        CHECK(m.errors[0].text().find("chmod 600") != std::string::npos);
        CHECK_FALSE(mentions_token(m));
    }
    SUBCASE("a manifest without tokens may be readable by others") {
        auto m = fleet::read_manifest(write(d, "open.csv", "eui,gateway_id\n58A0CB123456,office-ttig\n", false).string());
        CHECK(m.ok());
    }
    SUBCASE("the mode check can be turned off") {
        fleet::manifest_options o;
        o.check_file_modes = false;
        CHECK(fleet::read_manifest(write(d, "loose2.csv", with_token, false).string(), o).ok());
    }
    SUBCASE("tokens from a separate 0600 file, by EUI in any form") {
        const auto tokens = write(d, "tokens.csv", "eui,owner_token\n58A0CBFFFE123456," + token_csv + "\n");
        fleet::manifest_options o;
        o.owner_tokens_file = tokens.string();
        auto m = fleet::read_manifest(write(d, "m.csv", "eui,gateway_id,frequency_plan,actions\n58A0CB123456,office-ttig,EU_863_870_TTN,claim\n", false).string(), o);
        REQUIRE_MESSAGE(m.ok(), all_errors(m));
        CHECK(m.rows[0].owner_token == token);
    }
    SUBCASE("a token file others can read is refused") {
        const auto tokens = write(d, "tokens.csv", "58A0CB123456," + token_csv + "\n", false);
        fleet::manifest_options o;
        o.owner_tokens_file = tokens.string();
        auto m = fleet::read_manifest(write(d, "m.csv", "eui,gateway_id,frequency_plan,actions\n58A0CB123456,office-ttig,EU_863_870_TTN,claim\n").string(), o);
        CHECK_FALSE(m.ok());
        bool file_error = false;
        for (const auto& e : m.errors) file_error |= e.file == tokens.string() && e.line == 0;
        CHECK(file_error);
        CHECK_FALSE(mentions_token(m));
    }
    SUBCASE("bad lines of the token file name that file and line, not the value") {
        const auto tokens = write(d, "tokens.csv", "58A0CB123456," + token_csv + "\n" + token_csv + ",58A0CB123457\nonly-one-field\n");
        fleet::manifest_options o;
        o.owner_tokens_file = tokens.string();
        auto m = fleet::read_manifest(write(d, "m.csv", "eui,gateway_id\n58A0CB123456,office-ttig\n").string(), o);
        REQUIRE(m.errors.size() == 2);
        CHECK(m.errors[0].text().starts_with(tokens.string() + ":2: eui: "));
        CHECK(m.errors[1].text().starts_with(tokens.string() + ":3: "));
        CHECK_FALSE(mentions_token(m));
    }
}

TEST_CASE("fleet manifest: JSON, errors by object index") {
    test::temp_dir d;
    SUBCASE("valid, lists as arrays or '|' strings") {
        const auto p = write(d, "m.json",
                             R"({"gateways":[
  {"code":"58A0CB123456","gateway_id":"office-ttig","frequency_plan":["EU_863_870_TTN"],"cluster":"eu1.cloud.thethings.network","actions":["claim","rotate-lns"],"owner_token":"tok-123456"},
  {"eui":"58a0cbfffe123457","gateway_id":"lab-gw","frequency_plan":"EU_863_870_TTN|US_902_928_FSB_2","actions":"move","cluster":"nam1.cloud.thethings.network"}
]})");
        auto m = fleet::read_manifest(p.string());
        REQUIRE_MESSAGE(m.ok(), all_errors(m));
        REQUIRE(m.rows.size() == 2);
        CHECK(m.rows[0].eui->hex() == "58A0CBFFFE123456");
        CHECK(m.rows[0].actions == std::set<fleet::action>{fleet::action::claim, fleet::action::rotate_lns});
        CHECK(m.rows[0].owner_token == "tok-123456");
        CHECK(m.rows[1].line == 2);
        CHECK(m.rows[1].where() == p.string() + ":#2");
        CHECK(m.rows[1].frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN", "US_902_928_FSB_2"});
        CHECK(m.rows[1].actions == std::set<fleet::action>{fleet::action::move});
    }
    SUBCASE("every object's errors") {
        const auto p = write(d, "bad.json",
                             R"({"gateways":[{"gateway_id":"ok-gw"},{"gateway_id":7,"colour":"red"},"x",{"eui":"nope","gateway_id":"gw-3","actions":["claim"]}]})");
        auto m = fleet::read_manifest(p.string());
        const std::string all = all_errors(m);
        INFO(all);
        CHECK(all.find(p.string() + ":#2: gateway_id: must be a string") != std::string::npos);
        CHECK(all.find(p.string() + ":#2: unknown key `colour`") != std::string::npos);
        CHECK(all.find(p.string() + ":#3: not an object") != std::string::npos);
        CHECK(all.find(p.string() + ":#4: eui: `nope` is not an EUI") != std::string::npos);
    }
    SUBCASE("a syntax error names line and column but not the text") {
        const auto p = write(d, "syntax.json", "{\"gateways\":[\n{\"owner_token\":\"Zq7-wifi-Pass\n}]}");
        auto m = fleet::read_manifest(p.string());
        REQUIRE(m.errors.size() == 1);
        CHECK(m.errors[0].text().find("line 2") != std::string::npos);
        CHECK_FALSE(mentions_token(m));
    }
    SUBCASE("tokens in a JSON manifest others can read") {
        auto m = fleet::read_manifest(write(d, "loose.json", R"({"gateways":[{"gateway_id":"gw-1","owner_token":"abcdefgh"}]})", false).string());
        REQUIRE(m.errors.size() == 1);
        CHECK(m.errors[0].column == "owner_token");
    }
}

TEST_CASE("fleet manifest: written manifests read back as the same rows, without tokens") {
    test::temp_dir d;
    fleet::manifest_row r;
    r.eui = proto::parse_eui("58A0CBFFFE123456")->eui;
    r.gateway_id = "office-ttig";
    r.frequency_plan_ids = {"EU_863_870_TTN", "US_902_928_FSB_2"};
    r.cluster = "eu1.cloud.thethings.network";
    r.actions = {fleet::action::set_gs};
    r.owner_token = "never-written";
    fleet::manifest_row bare;
    bare.gateway_id = "no-eui-gw";
    for (auto f : {fleet::manifest_format::csv, fleet::manifest_format::json}) {
        const std::string text = fleet::format_manifest({r, bare}, f);
        CHECK(text.find("never-written") == std::string::npos);
        const auto p = write(d, f == fleet::manifest_format::csv ? "out.csv" : "out.json", text, false);
        auto m = fleet::read_manifest(p.string());
        REQUIRE_MESSAGE(m.ok(), all_errors(m));
        REQUIRE(m.rows.size() == 2);
        CHECK(m.rows[0].eui == r.eui);
        CHECK(m.rows[0].gateway_id == r.gateway_id);
        CHECK(m.rows[0].frequency_plan_ids == r.frequency_plan_ids);
        CHECK(m.rows[0].cluster == r.cluster);
        CHECK(m.rows[0].actions == r.actions);
        CHECK(m.rows[0].owner_token.empty());
        CHECK_FALSE(m.rows[1].eui);
    }
    CHECK(fleet::format_for_path("x.JSON") == fleet::manifest_format::json);
    CHECK(fleet::format_for_path("x.csv") == fleet::manifest_format::csv);
}
