// fleet apply end to end against the emulated The Things Stack: claims, Gateway Server addresses
// and a rotation proven by its station, under 5xx errors, resets before and after the server did
// the work, and 429 bursts. Every gateway must be done exactly once: the emulator's state is the judge.
#include <doctest/doctest.h>

#include <ttig/fleet/apply.hpp>
#include <ttig/store/journal.hpp>

#include "support/tts_world.hpp"

#include <map>
#include <set>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct fleet_world : test::tts_world {
    fleet::manifest m;
    fleet::apply_env env;
    fleet::apply_options opts;
    std::vector<std::string> claim_euis;

    explicit fleet_world(std::size_t claims = 20, std::size_t addresses = 20) {
        register_claimed();  // office-ttig with its station: the rotate row
        start_stations();
        REQUIRE(wait_for(connected));
        advance(60s);
        const std::string lns = lns_address();
        for (std::size_t i = 0; i < claims; ++i) {
            const std::string e = fmt::format("58A0CBFFFE91{:04X}", i);
            REQUIRE(tts->state().put_claimable({proto::parse_eui(e)->eui, fmt::format("pass-{}", i), false,
                                                emu::claimable_gateway::upstream_state::unclaimed, {}}));
            fleet::manifest_row r;
            r.file = "m.csv";
            r.line = m.rows.size() + 2;
            r.eui = proto::parse_eui(e)->eui;
            r.gateway_id = fmt::format("claimed-{}", i);
            r.frequency_plan_ids = {"EU_863_870_TTN"};
            r.cluster = lns;
            r.actions = {fleet::action::claim};
            r.owner_token = fmt::format("pass-{}", i);
            m.rows.push_back(r);
            claim_euis.push_back(e);
        }
        for (std::size_t i = 0; i < addresses; ++i) {
            const std::string id = fmt::format("moved-{}", i);
            rest("POST", "/api/v3/users/admin/gateways",
                 fmt::format(R"({{"gateway":{{"ids":{{"gateway_id":"{}","eui":"58A0CBFFFE92{:04X}"}},"frequency_plan_ids":["EU_863_870_TTN"],"gateway_server_address":"old.example.com"}}}})",
                             id, i));
            fleet::manifest_row r;
            r.file = "m.csv";
            r.line = m.rows.size() + 2;
            r.gateway_id = id;
            r.cluster = lns;
            r.actions = {fleet::action::set_gs};
            m.rows.push_back(r);
        }
        fleet::manifest_row r;
        r.file = "m.csv";
        r.line = m.rows.size() + 2;
        r.gateway_id = gw;
        r.actions = {fleet::action::rotate_cups, fleet::action::rotate_lns};
        m.rows.push_back(r);

        env.api.base_url = cfg["api_url"].get<std::string>();
        env.api.api_key = admin();
        env.api.tls.ca_pem = {tts->ca_pem()};
        env.api.tls.use_system_store = false;
        env.api.clock = &clock;
        env.api.deadline = 5s;
        env.net.tls = env.api.tls;
        env.clock = &clock;
        // Back-off and limiter pauses on the virtual clock; only I/O takes real time.
        env.sleep = [this](std::chrono::nanoseconds d) { clock.advance(d); };
        opts.journal_path = (dir.path / "fleet.db").string();
        opts.concurrency = 6;
        opts.backoff_base = 50ms;
        opts.max_attempts = 8;
        opts.seed = 7;
    }

    // Applies until nothing is pending; a day of the station's life between runs.
    std::size_t retries = 0, throttled = 0;  // over every run of apply_all
    fleet::apply_result apply_all() {
        fleet::apply_result r;
        for (int i = 0; i < 4; ++i) {
            r = fleet::apply(m, opts, env);
            retries += r.retries;
            throttled += r.throttled;
            if (r.pending == 0) break;
            advance(25h, 10min);
        }
        return r;
    }

    std::map<std::string, std::vector<std::string>> key_names() {
        std::map<std::string, std::vector<std::string>> out;
        for (const auto& row : m.rows) {
            auto j = rest("GET", "/api/v3/gateways/" + row.gateway_id + "/api-keys?limit=1000");
            for (const auto& k : j.value("api_keys", nlohmann::json::array())) out[row.gateway_id].push_back(k.value("name", ""));
        }
        return out;
    }
};

}  // namespace

TEST_CASE("fleet apply: claims, addresses and a rotation, each done once") {
    fleet_world w;
    auto r = w.apply_all();
    INFO(fleet::to_json(r).dump(1));
    CHECK(r.failed == 0);
    CHECK(r.pending == 0);
    CHECK(r.done == w.m.rows.size());
    // A second run finds everything done in the journal and calls nothing.
    auto again = fleet::apply(w.m, w.opts, w.env);
    CHECK(again.done == w.m.rows.size());
    CHECK(again.requests == 0);
    for (const auto& row : w.m.rows)
        if (row.actions.count(fleet::action::set_gs))
            CHECK(w.rest("GET", "/api/v3/gateways/" + row.gateway_id + "?field_mask=gateway_server_address")["gateway_server_address"] == w.lns_address());
    auto keys = w.key_names();
    for (const auto& id : {std::string("claimed-0"), std::string("claimed-19")}) CHECK(keys[id].size() == 2);
    std::multiset<std::string> rotated;
    for (const auto& n : keys[w.gw]) rotated.insert(n.substr(0, n.rfind('-')));
    CHECK(rotated == std::multiset<std::string>{"cups-key-ttigctl", "lns-key-ttigctl"});
    CHECK(w.wait_for(test::tts_world::connected));
}

TEST_CASE("fleet apply soak: 5 % 5xx, 2 % resets, 3 % lost answers and 429 bursts, every gateway exactly once") {
    fleet_world w(40, 30);
    emu::fault_rule errors;
    errors.rpc = "*";
    errors.path_prefix = "/api/v3/";
    errors.error_ratio = 0.05;
    errors.reset_ratio = 0.02;
    errors.lost_answer_ratio = 0.03;
    w.tts->api().set_faults({errors});
    // 429 bursts: claims share one bucket (the request names no entity): 10 at once, 600 a minute.
    emu::rate_profile claims{"claims", 600, 10, {"grpc:method:/ttn.lorawan.v3.GatewayClaimingServer/Claim"}};
    w.tts->api().set_rate_limits({claims});
    auto r = w.apply_all();
    INFO(fleet::to_json(r).dump(1));
    CHECK(r.failed == 0);
    CHECK(r.done == w.m.rows.size());
    CHECK(w.retries > 0);
    CHECK(w.throttled > 0);
    w.tts->api().set_faults({});
    // Exactly once: one gateway per EUI, the IDs asked for, two keys per claimed gateway, two new keys on the rotated one.
    for (std::size_t i = 0; i < w.claim_euis.size(); ++i) {
        auto s = w.rest("GET", "/api/v3/search/gateways?eui_contains=" + w.claim_euis[i] + "&field_mask=ids");
        REQUIRE(s["gateways"].size() == 1);
        CHECK(s["gateways"][0]["ids"]["gateway_id"] == fmt::format("claimed-{}", i));
    }
    auto keys = w.key_names();
    for (std::size_t i = 0; i < w.claim_euis.size(); ++i) {
        const auto& k = keys[fmt::format("claimed-{}", i)];
        CHECK(std::multiset<std::string>(k.begin(), k.end()) == std::multiset<std::string>{"cups-key-claim", "lns-key-claim"});
    }
    std::multiset<std::string> rotated;
    for (const auto& n : keys[w.gw]) rotated.insert(n.substr(0, n.rfind('-')));
    CHECK(rotated == std::multiset<std::string>{"cups-key-ttigctl", "lns-key-ttigctl"});
    CHECK(w.wait_for(test::tts_world::connected));
    w.advance(25h, 10min);
    CHECK(w.led() == "green_solid");
}

TEST_CASE("fleet apply: a refused claim fails its row only, and --canary stops after N rows") {
    fleet_world w(4, 0);
    w.m.rows[1].owner_token = "wrong";
    SUBCASE("refused row") {
        auto r = w.apply_all();
        CHECK(r.failed == 1);
        CHECK(r.rows[1].status == fleet::row_status::failed);
        CHECK(r.rows[1].error_id == "owner-token-mismatch");
        CHECK(r.rows[1].message.find("wrong") == std::string::npos);
        CHECK(r.done == w.m.rows.size() - 1);
    }
    SUBCASE("canary") {
        w.opts.canary = 2;
        w.opts.concurrency = 1;
        auto r = fleet::apply(w.m, w.opts, w.env);
        CHECK(r.canary);
        CHECK(r.done + r.failed == 2);
        CHECK(r.not_started == w.m.rows.size() - 2);
    }
}

TEST_CASE("fleet rollback: unfinished rotations and addresses set by the run are undone") {
    fleet_world w(0, 3);
    auto r = fleet::apply(w.m, w.opts, w.env);
    REQUIRE(r.pending == 1);  // the rotation waits for its station
    auto rb = fleet::rollback(w.opts.journal_path, w.env);
    CHECK(rb.error.empty());
    CHECK(rb.undone.size() == 4);  // 3 addresses + 1 rotation
    for (int i = 0; i < 3; ++i)
        CHECK(w.rest("GET", fmt::format("/api/v3/gateways/moved-{}?field_mask=gateway_server_address", i))["gateway_server_address"] == "old.example.com");
    CHECK_FALSE(w.rest("GET", "/api/v3/gateways/" + w.gw + "?field_mask=target_cups_key").contains("target_cups_key"));
}
