// fleet status against the in-process emulated The Things Stack: batch stats at 100 IDs per call,
// bisection of batches one unknown or forbidden gateway makes fail, retries counted, causes from
// doctor's rules on the stats, pending check-ins from a journal.
#include <ttig/fleet/status.hpp>
#include <ttig/store/journal.hpp>

#include "support/tts_world.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace ttig;
using namespace std::chrono_literals;

namespace {

std::string token(char fill) { return "NNSXS." + std::string(39, fill) + "." + std::string(52, fill); }

std::string gw_id(std::size_t i) { return fmt::format("gw-{:05}", i); }

// Gateway i: every 10th disconnected (i % 10 == 3), every 25th without stats (i % 25 == 7), the
// rest connected. Owned by `owner`.
enum class kind { connected, disconnected, no_stats };
kind kind_of(std::size_t i) {
    if (i % 25 == 7) return kind::no_stats;
    if (i % 10 == 3) return kind::disconnected;
    return kind::connected;
}

nlohmann::json gateways_json(std::size_t n, const std::string& owner, std::size_t first = 0, const std::string& prefix = "gw-") {
    nlohmann::json arr = nlohmann::json::array();
    for (std::size_t i = first; i < first + n; ++i) {
        nlohmann::json g;
        g["gateway"] = {{"ids", {{"gateway_id", prefix == "gw-" ? gw_id(i) : prefix + std::to_string(i)}}},
                        {"frequency_plan_ids", {"EU_863_870_TTN"}},
                        {"gateway_server_address", "eu1.cloud.thethings.network"}};
        g["owner"] = {{"user_id", owner}};
        switch (kind_of(i)) {
            case kind::connected: g["connection"] = {{"connected_at", "2025-12-31T23:00:00Z"}, {"protocol", "semtechws/lbslns"}}; break;
            case kind::disconnected:
                g["connection"] = {{"connected_at", "2025-12-31T10:00:00Z"}, {"disconnected_at", "2025-12-31T20:00:00Z"}, {"protocol", "semtechws/lbslns"}};
                break;
            case kind::no_stats: break;
        }
        arr.push_back(std::move(g));
    }
    return arr;
}

std::string scenario(std::size_t n, std::size_t bob_gateways = 0) {
    nlohmann::json s;
    s["users"] = {{{"user_id", "admin"}, {"admin", true}}, {{"user_id", "alice"}}, {{"user_id", "bob"}}};
    auto gws = gateways_json(n, "alice");
    for (auto& g : gateways_json(bob_gateways, "bob", 0, "bob-gw-")) gws.push_back(std::move(g));
    s["gateways"] = std::move(gws);
    s["api_keys"] = {{{"owner", {{"user_id", "alice"}}}, {"key", token('A')}, {"name", "fleet"}, {"rights", {"RIGHT_ALL"}}},
                     {{"owner", {{"user_id", "alice"}}}, {"key", token('B')}, {"name", "info-only"}, {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_USER_GATEWAYS_LIST"}}}};
    s["options"] = {{"pbkdf2_iterations", 1000}};
    return s.dump();
}

struct world : test::tts_world {
    using test::tts_world::tts_world;
    fleet::status_options options(const std::string& key) {
        fleet::status_options o;
        o.api.base_url = cfg["api_url"].get<std::string>();
        o.api.api_key = key;
        o.api.tls.ca_pem = {tts->ca_pem()};
        o.api.tls.use_system_store = false;
        o.api.clock = &clock;
        o.retry_wait = [](int) {};
        return o;
    }
};

std::vector<std::string> ids(std::size_t n) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(gw_id(i));
    return v;
}

const fleet::gateway_status* find(const fleet::status_result& r, const std::string& id) {
    for (const auto& g : r.gateways)
        if (g.gateway_id == id) return &g;
    return nullptr;
}

// Every gateway of the generated fleet has the state its scenario entry gives it.
void check_states(const fleet::status_result& r, std::size_t n, const std::string& except = {}) {
    std::size_t checked = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto* g = find(r, gw_id(i));
        REQUIRE(g);
        if (g->gateway_id == except) continue;
        const auto want = kind_of(i) == kind::connected      ? fleet::gateway_state::connected
                          : kind_of(i) == kind::disconnected ? fleet::gateway_state::disconnected
                                                             : fleet::gateway_state::no_stats;
        if (g->state != want) FAIL_CHECK(g->gateway_id << " is " << fleet::to_string(g->state) << ", want " << fleet::to_string(want));
        if (want != fleet::gateway_state::connected && g->cause.empty()) FAIL_CHECK(g->gateway_id << " has no cause");
        ++checked;
    }
    CHECK(checked > 0);
}

}  // namespace

TEST_SUITE("fleet status") {
    TEST_CASE("1,250 gateways: one batch call per 100 IDs, plus the list pages with --all") {
        const std::size_t n = 1250;
        world w(test::world_options{scenario(n)});
        SUBCASE("from a manifest's IDs") {
            auto o = w.options(token('A'));
            o.gateway_ids = ids(n);
            auto r = fleet::fleet_status(o);
            REQUIRE_FALSE(r.failure);
            CHECK(r.calls.batches == 13);  // ceil(1250 / 100)
            CHECK(r.calls.total() == 13);
            CHECK(r.calls.bisect == 0);
            CHECK(r.calls.retries == 0);
            REQUIRE(r.gateways.size() == n);
            check_states(r, n);
            CHECK(r.counts["no-stats"] == 50);
            CHECK(r.counts["disconnected"] + r.counts["no-stats"] + r.counts["connected"] == n);
            CHECK_FALSE(r.all_connected());
            // Doctor's rules on the stats alone: a cause for every gateway that is not connected.
            const auto* d = find(r, gw_id(3));
            REQUIRE(d);
            CHECK(d->atoms == std::vector<std::string>{"stats.disconnected_at"});
            CHECK(d->cause != "healthy");
            const auto* ns = find(r, gw_id(7));
            REQUIRE(ns);
            CHECK(ns->atoms == std::vector<std::string>{"stats.404"});
            const auto j = fleet::to_json(r);
            CHECK(j["api_calls"]["total"] == 13);
            CHECK(j["counts"]["no-stats"] == 50);
        }
        SUBCASE("--all: every gateway the key can list") {
            auto o = w.options(token('A'));
            o.all = true;
            auto r = fleet::fleet_status(o);
            REQUIRE_FALSE(r.failure);
            CHECK(r.calls.list == 2);  // 1000 a page
            CHECK(r.calls.batches == 13);
            CHECK(r.calls.total() <= 13 + 2);
            REQUIRE(r.gateways.size() == n);
            check_states(r, n);
            // The list's records add P2 atoms.
            const auto* d = find(r, gw_id(3));
            REQUIRE(d);
            CHECK(std::find(d->atoms.begin(), d->atoms.end(), "record.found") != d->atoms.end());
            CHECK(std::find(d->atoms.begin(), d->atoms.end(), "attr.cups_last_seen.absent") != d->atoms.end());
        }
        SUBCASE("duplicate IDs are asked once") {
            auto o = w.options(token('A'));
            o.gateway_ids = ids(150);
            for (std::size_t i = 0; i < 50; ++i) o.gateway_ids.push_back(gw_id(i));
            auto r = fleet::fleet_status(o);
            REQUIRE_FALSE(r.failure);
            CHECK(r.gateways.size() == 150);
            CHECK(r.calls.batches == 2);
        }
    }

    TEST_CASE("one unknown gateway in a batch: bisection finds it, every other gateway keeps its state") {
        const std::size_t n = 300;
        world w(test::world_options{scenario(n)});
        auto list = ids(n);
        list.insert(list.begin() + 150, "no-such-gateway");
        SUBCASE("admin key: 404 some_gateways_not_found") {
            auto o = w.options(w.admin());
            o.gateway_ids = list;
            auto r = fleet::fleet_status(o);
            REQUIRE_FALSE(r.failure);
            const auto* u = find(r, "no-such-gateway");
            REQUIRE(u);
            CHECK(u->state == fleet::gateway_state::unknown);
            CHECK(u->error_id == "tts.pkg/identityserver:some_gateways_not_found");
            check_states(r, n);
            // 4 chunks (301 IDs); the bad one costs at most 2 calls per halving of its chunk of 100.
            const std::size_t bound = 4 + 2 * static_cast<std::size_t>(std::ceil(std::log2(100.0)));
            CHECK(r.calls.total() <= bound);
            CHECK(r.calls.bisect > 0);
            CHECK(r.counts["unknown"] == 1);
        }
        SUBCASE("user key: 403, reported as forbidden") {
            auto o = w.options(token('A'));
            o.gateway_ids = list;
            auto r = fleet::fleet_status(o);
            REQUIRE_FALSE(r.failure);
            const auto* u = find(r, "no-such-gateway");
            REQUIRE(u);
            CHECK(u->state == fleet::gateway_state::forbidden);
            check_states(r, n);
            CHECK(r.calls.auth == 1);  // one look at the key's rights before bisecting
            CHECK(r.calls.total() <= 4 + 1 + 14);
        }
    }

    TEST_CASE("a gateway of another user: forbidden, found by bisection, the others unaffected") {
        const std::size_t n = 200;
        world w(test::world_options{scenario(n, 2)});
        auto o = w.options(token('A'));
        o.gateway_ids = ids(n);
        o.gateway_ids.insert(o.gateway_ids.begin() + 17, "bob-gw-0");
        o.gateway_ids.insert(o.gateway_ids.begin() + 180, "bob-gw-1");
        auto r = fleet::fleet_status(o);
        REQUIRE_FALSE(r.failure);
        for (const char* id : {"bob-gw-0", "bob-gw-1"}) {
            const auto* b = find(r, id);
            REQUIRE(b);
            CHECK(b->state == fleet::gateway_state::forbidden);
            CHECK(b->error_id == "tts.pkg/identityserver:insufficient_rights");
        }
        check_states(r, n);
        CHECK(r.counts["forbidden"] == 2);
        // 3 chunks; two of them bisected down to one gateway: O(log n) each.
        CHECK(r.calls.total() <= 3 + 1 + 2 * 14);
    }

    TEST_CASE("a key without STATUS_READ: one clear failure, not a bisection of every gateway") {
        world w(test::world_options{scenario(120)});
        auto o = w.options(token('B'));
        o.gateway_ids = ids(120);
        auto r = fleet::fleet_status(o);
        REQUIRE(r.failure);
        CHECK(r.failure->id == "fleet.no_status_read");
        CHECK(r.calls.total() == 2);  // the batch and auth_info
    }

    TEST_CASE("transient 503s are retried, and the retries are counted") {
        nlohmann::json s = nlohmann::json::parse(scenario(400));
        s["faults"] = {{{"rpc", "Gs.BatchGetGatewayConnectionStats"}, {"error_ratio", 0.4}, {"error", "pkg/util/store:database_unavailable"}}};
        s["options"]["seed"] = 7;
        world w(test::world_options{s.dump()});
        auto o = w.options(token('A'));
        o.gateway_ids = ids(400);
        o.max_retries = 20;
        int waits = 0;
        o.retry_wait = [&](int) { ++waits; };
        auto r = fleet::fleet_status(o);
        REQUIRE_FALSE(r.failure);
        check_states(r, 400);
        CHECK(r.calls.retries > 0);
        CHECK(r.calls.batches == 4 + r.calls.retries);
        CHECK(waits == static_cast<int>(r.calls.retries));
        CHECK(fleet::to_json(r)["api_calls"]["retries"] == r.calls.retries);
    }

    TEST_CASE("an API that cannot be reached: a failure naming the hop") {
        fleet::status_options o;
        o.api.base_url = "https://127.0.0.1:9";
        o.api.api_key = token('A');
        o.api.deadline = 2s;
        o.gateway_ids = {"gw-00001"};
        o.max_retries = 1;
        o.retry_wait = [](int) {};
        auto r = fleet::fleet_status(o);
        REQUIRE(r.failure);
        CHECK(r.failure->hop == "batch");
        CHECK(r.failure->id.starts_with("net."));
        CHECK(r.calls.batches == 2);
        CHECK(r.calls.retries == 1);
    }

    TEST_CASE("pending-check-in operations of rotate and fleet come from the journal") {
        world w(test::world_options{scenario(30)});
        const auto jpath = (w.dir.path / "journal.db").string();
        {
            auto j = store::journal::open(jpath);
            REQUIRE(j);
            auto a = j->begin("rotate", "gateway:gw-00003", "pending-check-in", nlohmann::json::object());
            REQUIRE(a);
            auto b = j->begin("fleet", "gateway:elsewhere-gw", "pending-check-in", nlohmann::json::object());
            REQUIRE(b);
            auto c = j->begin("rotate", "gateway:gw-00004", "cups.install", nlohmann::json::object());  // not waiting
            REQUIRE(c);
            auto d = j->begin("fleet", "gateway:gw-00005", "pending-check-in", nlohmann::json::object());
            REQUIRE(d);
            REQUIRE(j->finish(*d, "done", store::journal_step{0, 0, "done", "done", nlohmann::json::object(), ""}));
            auto e = j->begin("fleet-run", "run:1", "pending-check-in", nlohmann::json::object());  // not a gateway
            REQUIRE(e);
        }
        auto o = w.options(token('A'));
        o.gateway_ids = ids(30);
        o.journal_path = jpath;
        auto r = fleet::fleet_status(o);
        REQUIRE_FALSE(r.failure);
        REQUIRE(r.pending.size() == 2);
        CHECK(r.pending[0].gateway_id == "elsewhere-gw");
        CHECK(r.pending[0].kind == "fleet");
        CHECK_FALSE(r.pending[0].in_scope);
        CHECK(r.pending[1].gateway_id == "gw-00003");
        CHECK(r.pending[1].kind == "rotate");
        CHECK(r.pending[1].in_scope);
        CHECK(find(r, "gw-00003")->pending);
        CHECK_FALSE(find(r, "gw-00004")->pending);
        SUBCASE("a journal path that does not exist fails before any call") {
            o.journal_path = (w.dir.path / "nope.db").string();
            auto r2 = fleet::fleet_status(o);
            REQUIRE(r2.failure);
            CHECK(r2.failure->id == "fleet.journal");
            CHECK(r2.calls.total() == 0);
        }
    }

    TEST_CASE("the status JSON reads back") {
        world w(test::world_options{scenario(40)});
        auto o = w.options(token('A'));
        o.gateway_ids = ids(40);
        o.gateway_ids.push_back("no-such-gateway");
        auto r = fleet::fleet_status(o);
        REQUIRE_FALSE(r.failure);
        auto back = fleet::status_from_json(nlohmann::json::parse(fleet::to_json(r).dump()));
        REQUIRE(back);
        CHECK(back->gateways.size() == r.gateways.size());
        CHECK(back->counts == r.counts);
        CHECK(back->causes == r.causes);
        CHECK(back->calls.total() == r.calls.total());
        CHECK_FALSE(fleet::status_from_json(nlohmann::json::parse(R"({"gateways":[{"gateway_id":"a","state":"odd"}]})")));
    }

    TEST_CASE("--doctor N runs the full doctor on at most N disconnected gateways") {
        world w(test::world_options{scenario(30)});
        auto o = w.options(w.admin());
        o.gateway_ids = ids(30);
        diag::doctor_options d;
        d.tts_url = w.cfg["api_url"].get<std::string>();
        d.api_key = w.admin();
        d.ca_pem = {w.tts->ca_pem()};
        d.use_system_store = false;
        d.clock = &w.clock;
        d.timeout = 10s;
        d.events_window = 300ms;
        o.doctor = d;
        o.doctor_max = 1;
        auto r = fleet::fleet_status(o);
        REQUIRE_FALSE(r.failure);
        std::size_t with_report = 0;
        for (const auto& g : r.gateways)
            if (!g.doctor.is_null()) ++with_report;
        CHECK(with_report == 1);
        CHECK(r.calls.doctor > 0);
        CHECK(r.calls.total() == r.calls.batches + r.calls.doctor);
    }
}
