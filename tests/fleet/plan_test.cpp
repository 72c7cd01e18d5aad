// fleet plan against the emulated The Things Stack (in this process, real TLS on loopback): the
// current state read with one list call per page (GET only, nothing changed), the diff per row
// and the steps apply would make. Expected calls from tts-api.md §4.2 (list), §7 (pagination:
// pages = ceil(X-Total-Count / limit)) and docs/rotate.md / docs/claim.md (the steps).
#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <ttig/fleet/manifest.hpp>
#include <ttig/fleet/plan.hpp>
#include <ttig/tts/client.hpp>

#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <mutex>
#include <regex>

using namespace ttig;
namespace fs = std::filesystem;

namespace {

struct plan_world : test::tts_world {
    std::mutex mu;
    std::vector<std::string> log;      // one line per request the client made
    std::vector<std::string> all_log;  // every line

    void add(const std::string& id, const std::string& hex, const std::string& gsa, const std::string& plan = "EU_863_870_TTN") {
        rest("POST", "/api/v3/users/admin/gateways",
             R"({"gateway":{"ids":{"gateway_id":")" + id + R"(","eui":")" + hex + R"("},"frequency_plan_ids":[")" + plan +
                 R"("],"gateway_server_address":")" + gsa + R"("}})");
    }
    tts::client client() {
        tts::client_options o;
        o.base_url = cfg["api_url"].get<std::string>();
        o.api_key = admin();
        o.tls.ca_pem = {tts->ca_pem()};
        o.tls.use_system_store = false;
        o.deadline = std::chrono::milliseconds(5000);
        o.log = [this](net::log_level, std::string_view line) {
            // Requests only ("GET /api/v3/… (Rpc): 200 in …"), not connection lines.
            static const std::regex request("^[A-Z]+ /.*");
            std::lock_guard lock(mu);
            all_log.emplace_back(line);
            if (std::regex_match(std::string(line), request)) log.emplace_back(line);
        };
        return tts::client(o);
    }
    fleet::manifest manifest(const std::string& csv) {
        const auto p = dir.path / "fleet.csv";
        test::write_file(p, csv);
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
        auto m = fleet::read_manifest(p.string());
        std::string errs;
        for (const auto& e : m.errors) errs += e.text() + "\n";
        REQUIRE_MESSAGE(m.ok(), errs);
        return m;
    }
    std::string gsa_of(const std::string& id) {
        return rest("GET", "/api/v3/gateways/" + id + "?field_mask=gateway_server_address").value("gateway_server_address", "");
    }
};

const fleet::row_plan& row(const fleet::plan_result& p, const std::string& id) {
    for (const auto& r : p.rows)
        if (r.gateway_id == id) return r;
    FAIL("no row " << id);
    throw std::logic_error("unreachable");
}

std::vector<std::string> kinds(const fleet::row_plan& r) {
    std::vector<std::string> k;
    for (const auto& s : r.steps) k.emplace_back(fleet::to_string(s.kind));
    return k;
}

}  // namespace

TEST_CASE("fleet plan: the diff per row against the emulated stack, with one GET") {
    plan_world w;
    w.add("gw-same", "58A0CBFFFE000001", "eu1.cloud.thethings.network");
    w.add("gw-setgs", "58A0CBFFFE000002", "eu1.cloud.thethings.network");
    w.add("gw-rotate", "58A0CBFFFE000003", "eu1.cloud.thethings.network");
    w.add("gw-wrong-eui", "58A0CBFFFE000004", "eu1.cloud.thethings.network");
    w.add("gw-move", "58A0CBFFFE000005", "eu1.cloud.thethings.network", "US_902_928_FSB_2");
    auto m = w.manifest(
        "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n"
        "58A0CBFFFE000001,gw-same,EU_863_870_TTN,eu1.cloud.thethings.network,claim|set-gs,tok-same-1\n"  // 2: nothing
        ",gw-setgs,,nam1.cloud.thethings.network,set-gs,\n"                                              // 3: set-gs
        "58A0CB800010,gw-new,EU_863_870_TTN,eu1.cloud.thethings.network,claim|rotate-cups,tok-new-12\n"   // 4: claim + rotate-cups
        "58A0CBFFFE000003,gw-rotate,,,rotate,\n"                                                         // 5: rotate
        "58A0CBFFFE000002,gw-elsewhere,,,,\n"                                                            // 6: EUI of gw-setgs
        ",gw-absent,,nam1.cloud.thethings.network,set-gs,\n"                                             // 7: missing, no claim
        "58A0CBFFFE000099,gw-wrong-eui,,,,\n"                                                            // 8: EUI differs
        "58A0CBFFFE000005,gw-move,EU_863_870_TTN,au1.cloud.thethings.network:1887,move|set-gs,\n");      // 9: move
    auto c = w.client();
    const auto p = fleet::plan_fleet(c, m);
    REQUIRE_MESSAGE(p.ok, p.error_message);
    CHECK(p.scope == "caller");
    CHECK(p.gateways_seen == 5);
    CHECK(p.read_calls == 1);
    REQUIRE_MESSAGE(w.log.size() == 1, fmt::format("{}", fmt::join(w.all_log, "\n")));
    CHECK(w.log[0].starts_with("GET /api/v3/gateways?"));
    CHECK(w.log[0].find("limit=1000") != std::string::npos);

    const auto& same = row(p, "gw-same");
    CHECK(same.state == fleet::row_state::exists);
    CHECK(same.steps.empty());
    CHECK(same.kind() == fleet::step_kind::nothing);
    CHECK(same.notes.size() == 2);  // claim: exists already; set-gs: already

    const auto& setgs = row(p, "gw-setgs");
    CHECK(kinds(setgs) == std::vector<std::string>{"set-gs"});
    REQUIRE(setgs.steps[0].calls.size() == 1);
    CHECK(setgs.steps[0].calls[0].method == "PUT");
    CHECK(setgs.steps[0].calls[0].path == "/api/v3/gateways/gw-setgs");
    CHECK(setgs.steps[0].calls[0].writes);
    CHECK(setgs.steps[0].gateway_server_address == "nam1.cloud.thethings.network");
    CHECK(setgs.expected_calls == 1);
    REQUIRE(setgs.changes.size() == 1);
    CHECK(setgs.changes[0] == "gateway_server_address: eu1.cloud.thethings.network -> nam1.cloud.thethings.network");

    const auto& fresh = row(p, "gw-new");
    CHECK(fresh.state == fleet::row_state::missing);
    CHECK(kinds(fresh) == std::vector<std::string>{"claim", "rotate-cups"});
    const auto& claim = fresh.steps[0];
    REQUIRE(claim.eui);
    CHECK(claim.eui->hex() == "58A0CBFFFE800010");  // label code 58A0CB800010 (basicstation-protocol §5.5)
    CHECK(claim.frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN"});
    CHECK(claim.gateway_server_address == "eu1.cloud.thethings.network");
    // claim.md: auth_info, claim info, search by EUI, the claim, the read-back.
    REQUIRE(claim.calls.size() == 5);
    CHECK(claim.calls[1].path == "/api/v3/gcls/claim/info");
    CHECK(claim.calls[2].path == "/api/v3/search/gateways?eui_contains=58A0CBFFFE800010");
    CHECK(claim.calls[3].method == "POST");
    CHECK(claim.calls[3].path == "/api/v3/gcls/claim");
    CHECK(claim.calls[3].writes);
    CHECK(fresh.steps[1].rotate_cups);
    CHECK_FALSE(fresh.steps[1].rotate_lns);

    const auto& rot = row(p, "gw-rotate");
    CHECK(kinds(rot) == std::vector<std::string>{"rotate"});
    CHECK(rot.steps[0].rotate_cups);
    CHECK(rot.steps[0].rotate_lns);
    CHECK(rot.steps[0].move_to.empty());
    CHECK(rot.expected_calls == rot.steps[0].calls.size());
    // rotate.md: the preflight reads first, the new keys posted, one cutover PUT.
    CHECK(rot.steps[0].calls[0].method == "GET");
    CHECK(std::count_if(rot.steps[0].calls.begin(), rot.steps[0].calls.end(),
                        [](const fleet::planned_call& x) { return x.method == "POST" && x.path == "/api/v3/gateways/gw-rotate/api-keys"; }) == 2);

    const auto& elsewhere = row(p, "gw-elsewhere");
    CHECK(elsewhere.state == fleet::row_state::conflict);
    CHECK(elsewhere.problem_id == "fleet.eui_elsewhere");
    CHECK(elsewhere.problem.find("gw-setgs") != std::string::npos);
    CHECK(elsewhere.steps.empty());

    const auto& absent = row(p, "gw-absent");
    CHECK(absent.state == fleet::row_state::conflict);
    CHECK(absent.problem_id == "fleet.gateway_missing");

    const auto& wrong = row(p, "gw-wrong-eui");
    CHECK(wrong.problem_id == "fleet.eui_mismatch");
    REQUIRE(wrong.current);
    CHECK(wrong.current->eui->hex() == "58A0CBFFFE000004");

    const auto& mv = row(p, "gw-move");
    CHECK(kinds(mv) == std::vector<std::string>{"move"});  // set-gs is the move's cutover
    CHECK(mv.steps[0].move_to == "au1.cloud.thethings.network:1887");
    CHECK(mv.steps[0].rotate_lns);
    CHECK_FALSE(mv.steps[0].rotate_cups);
    bool plan_note = false;
    for (const auto& n : mv.notes) plan_note |= n.find("US_902_928_FSB_2") != std::string::npos;
    CHECK(plan_note);  // frequency plan drift is reported, not acted on

    CHECK(p.conflicts == 3);
    CHECK(p.rows_unchanged == 1);
    CHECK(p.rows_with_changes == 4);
    REQUIRE(p.shared_calls.size() == 1);
    CHECK(p.shared_calls[0].path == "/api/v3/configuration/frequency-plans");
    std::size_t sum = p.shared_calls.size();
    for (const auto& r : p.rows) sum += r.expected_calls;
    CHECK(p.planned_calls == sum);

    // Nothing changed on the server.
    CHECK(w.gsa_of("gw-setgs") == "eu1.cloud.thethings.network");
    CHECK(w.gsa_of("gw-move") == "eu1.cloud.thethings.network");

    // JSON and text never hold an owner token.
    const std::string j = fleet::to_json(p).dump();
    const std::string t = fleet::to_text(p, true);
    for (const auto* tok : {"tok-same-1", "tok-new-12"}) {
        CHECK(j.find(tok) == std::string::npos);
        CHECK(t.find(tok) == std::string::npos);
    }
    CHECK(t.find("8 rows: 4 to change, 1 unchanged, 3 conflicts") != std::string::npos);
}

TEST_CASE("fleet plan: pages of the list follow X-Total-Count") {
    plan_world w;
    for (int i = 1; i <= 5; ++i) w.add(fmt::format("gw-{}", i), fmt::format("58A0CBFFFE00010{}", i), "eu1.cloud.thethings.network");
    auto m = w.manifest("gateway_id\ngw-1\ngw-5\n");
    auto c = w.client();
    fleet::plan_options o;
    o.page_limit = 2;
    const auto p = fleet::plan_fleet(c, m, o);
    REQUIRE(p.ok);
    CHECK(p.gateways_seen == 5);
    CHECK(p.read_calls == 3);  // ceil(5 / 2)
    REQUIRE_MESSAGE(w.log.size() == 3, fmt::format("{}", fmt::join(w.all_log, "\n")));
    for (const auto& l : w.log) CHECK(l.starts_with("GET /api/v3/gateways?"));
    CHECK(p.rows_unchanged == 2);
    CHECK(p.planned_calls == 0);
}

TEST_CASE("fleet plan: a user or organization scope, and a refused list") {
    plan_world w;
    w.add("gw-admin", "58A0CBFFFE000201", "eu1.cloud.thethings.network");
    auto m = w.manifest("gateway_id\ngw-admin\n");
    auto c = w.client();
    SUBCASE("the user's own gateways") {
        fleet::plan_options o;
        o.scope = tts::list_scope::user("admin");
        const auto p = fleet::plan_fleet(c, m, o);
        REQUIRE_MESSAGE(p.ok, p.error_message);
        CHECK(p.scope == "user admin");
        CHECK(p.rows_unchanged == 1);
        REQUIRE_MESSAGE(w.log.size() == 1, fmt::format("{}", fmt::join(w.all_log, "\n")));
        CHECK(w.log[0].starts_with("GET /api/v3/users/admin/gateways?"));
    }
    SUBCASE("an organization that does not exist") {
        fleet::plan_options o;
        o.scope = tts::list_scope::organization("no-such-org");
        const auto p = fleet::plan_fleet(c, m, o);
        CHECK_FALSE(p.ok);
        CHECK(p.error_id.starts_with("tts."));
        CHECK(p.rows.empty());
        CHECK(p.read_calls == 1);
    }
    SUBCASE("a manifest with errors is not planned, and nothing is called") {
        fleet::manifest bad;
        bad.errors.push_back({"x.csv", 2, "eui", "bad", false});
        const auto p = fleet::plan_fleet(c, bad);
        CHECK_FALSE(p.ok);
        CHECK(p.error_id == "fleet.manifest");
        CHECK(w.log.empty());
    }
}

TEST_CASE("fleet export: the gateways as manifest rows, and a plan of them changes nothing") {
    plan_world w;
    w.add("gw-b", "58A0CBFFFE000302", "wss://nam1.cloud.thethings.network:8887");
    w.add("gw-a", "58A0CBFFFE000301", "eu1.cloud.thethings.network", "US_902_928_FSB_2");
    auto c = w.client();
    const auto e = fleet::export_gateways(c);
    REQUIRE(e.ok);
    CHECK(e.read_calls == 1);
    REQUIRE(e.rows.size() == 2);
    CHECK(e.rows[0].gateway_id == "gw-a");
    CHECK(e.rows[0].eui->hex() == "58A0CBFFFE000301");
    CHECK(e.rows[0].frequency_plan_ids == std::vector<std::string>{"US_902_928_FSB_2"});
    CHECK(e.rows[0].cluster == "eu1.cloud.thethings.network");
    CHECK(e.rows[1].cluster == "nam1.cloud.thethings.network:8887");
    CHECK(e.rows[1].actions.empty());
    for (auto f : {fleet::manifest_format::csv, fleet::manifest_format::json}) {
        const auto p = w.dir.path / (f == fleet::manifest_format::csv ? "export.csv" : "export.json");
        test::write_file(p, fleet::format_manifest(e.rows, f));
        auto m = fleet::read_manifest(p.string());
        REQUIRE(m.ok());
        const auto plan = fleet::plan_fleet(c, m);
        REQUIRE(plan.ok);
        CHECK(plan.rows_unchanged == 2);
        CHECK(plan.conflicts == 0);
        CHECK(plan.planned_calls == 0);
        for (const auto& r : plan.rows) CHECK(r.notes.empty());
    }
}
