// Conformance of tts::client against the emulated The Things Stack (emu::tts_emulator) on
// 127.0.0.1:0 over HTTPS. Expected statuses, error names and JSON shapes are copied from
// tts-api.md as literals (tests never read /work/shared).
#include "tts_fixture.hpp"

#include <ttig/tts/client.hpp>
#include <ttig/tts/redact.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

using namespace ttig;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::key_id;
using test::token;

namespace {

const std::string alice_tok = token("ALICE", "ALICESECRET");              // user alice, RIGHT_ALL
const std::string alice_info_tok = token("ALICEINFO", "INFOSECRET");      // user alice, RIGHT_GATEWAY_INFO only
const std::string alice_status_tok = token("ALICESTATUS", "STATUSSECRET");  // user alice, RIGHT_GATEWAY_STATUS_READ only
const std::string bob_tok = token("BOB", "BOBSECRET");                    // user bob, RIGHT_ALL
const std::string office_lns_tok = token("OFFICELNS", "LNSSECRET");       // gateway key of office-ttig: INFO + LINK
const std::string expired_tok = token("EXPIRED", "EXPIREDSECRET");        // alice, expired
const std::string unknown_tok = token("UNKNOWN", "UNKNOWNSECRET");        // never registered

// tts-api.md §3.3: lbs_lns_secret.value of the example.
const std::string doc_lns_secret_b64 =
    "Tk5TWFMuM0ZXWkVCNUVFWTRTNk5SQTJPMkY1S1pTRk5RRFI3SlZKMzRUVjdZLjJSQlpXTTI3U1dTVVlZSUFQSFdST0lLWEo3WlJTT1VLMkY0Wko2VUxINEZMN1hYTDdXNkE=";
const std::string doc_key = "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A";

json scenario() {
    json gateways = json::array();
    gateways.push_back({{"gateway",
                         {{"ids", {{"gateway_id", "office-ttig"}, {"eui", "58A0CBFFFE801234"}}},
                          {"name", "Office TTIG"},
                          {"attributes", {{"cups-last-seen", "2024-09-10T08:12:01Z"}}},
                          {"gateway_server_address", "eu1.cloud.thethings.network"},
                          {"frequency_plan_ids", {"EU_863_870_TTN"}},
                          {"status_public", true},
                          {"location_public", true},
                          {"enforce_duty_cycle", true},
                          {"schedule_anytime_delay", "0.530s"},
                          {"lbs_lns_secret", {{"value", doc_lns_secret_b64}}},
                          {"require_authenticated_connection", true}}},
                        {"owner", {{"user_id", "alice"}}},
                        {"connection",
                         {{"cluster", "eu1"},
                          {"protocol", "semtechws/lbslns"},
                          {"connected_at", "2024-12-31T23:00:05.100Z"},
                          {"last_status_received_at", "2024-12-31T23:40:06Z"},
                          {"uplink_count", 1287},
                          {"remote_ip", "203.0.113.7"}}}});
    gateways.push_back({{"gateway", {{"ids", {{"gateway_id", "lab-ttig"}, {"eui", "58A0CBFFFE805678"}}}}},
                        {"owner", {{"user_id", "alice"}}},
                        {"connection", {{"cluster", "eu1"}, {"disconnected_at", "2024-12-31T22:01:44.500Z"}}}});
    gateways.push_back({{"gateway", {{"ids", {{"gateway_id", "old-ttig"}}}, {"name", "Old"}}}, {"owner", {{"user_id", "alice"}}}});
    gateways.push_back({{"gateway", {{"ids", {{"gateway_id", "nam-ttig"}}}, {"gateway_server_address", "nam1.cloud.thethings.network"}}},
                        {"owner", {{"user_id", "alice"}}},
                        {"connection", {{"cluster", "nam1"}, {"connected_at", "2024-12-31T23:59:00Z"}}}});
    gateways.push_back({{"gateway", {{"ids", {{"gateway_id", "bob-gw"}, {"eui", "0011223344556677"}}}}}, {"owner", {{"user_id", "bob"}}}});
    gateways.push_back({{"gateway", {{"ids", {{"gateway_id", "acme-gw"}}}}}, {"owner", {{"organization_id", "acme"}}}});

    return {
        {"options", {{"pbkdf2_iterations", 10}, {"seed", 7}}},
        {"clusters",
         {{{"name", "eu1"}, {"address", "eu1.cloud.thethings.network"}, {"identity_server", true}},
          {{"name", "nam1"}, {"address", "nam1.cloud.thethings.network"}}}},
        {"users", {{{"user_id", "admin"}, {"admin", true}}, {{"user_id", "alice"}, {"name", "Alice"}}, {{"user_id", "bob"}}}},
        {"organizations", {{{"organization_id", "acme"}, {"members", {{{"user_id", "alice"}, {"rights", {"RIGHT_ALL"}}}}}}}},
        {"gateways", gateways},
        {"api_keys",
         {{{"owner", {{"user_id", "alice"}}}, {"key", alice_tok}, {"name", "alice"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_info_tok}, {"name", "info"}, {"rights", {"RIGHT_GATEWAY_INFO"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_status_tok}, {"name", "status"}, {"rights", {"RIGHT_GATEWAY_STATUS_READ"}}},
          {{"owner", {{"user_id", "bob"}}}, {"key", bob_tok}, {"name", "bob"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"gateway_id", "office-ttig"}}},
           {"key", office_lns_tok},
           {"name", "lns"},
           {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}},
          {{"owner", {{"user_id", "alice"}}},
           {"key", expired_tok},
           {"name", "old"},
           {"rights", {"RIGHT_ALL"}},
           {"expires_at", "2024-06-01T00:00:00Z"}}}},
        {"claimable",
         {{{"eui", "58A0CBFFFE80ABCD"}, {"owner_token", "wifi-password"}},
          {{"eui", "58A0CBFFFE80EEEE"}, {"owner_token", "other"}, {"claimed_elsewhere", true}},
          {{"eui", "EC656EFFFE000001"}, {"owner_token", "managed-token"}, {"managed", true}}}},
        {"rate_limits",
         {{{"name", "rights"}, {"max_per_min", 60}, {"max_burst", 2}, {"associations", {"grpc:method:/ttn.lorawan.v3.GatewayAccess/ListRights"}}}}},
    };
}

struct world {
    proto::manual_clock clock;
    test::temp_dir dir;
    std::unique_ptr<test::emu_run> run;
    std::vector<std::chrono::nanoseconds> sleeps;  // every wait the clients asked for
    test::log_capture logs;

    explicit world(const json& sc = scenario(), std::string state_path = ":memory:") { start(sc, std::move(state_path)); }

    void start(const json& sc, std::string state_path) {
        test::write_file(dir / "scenario.json", sc.dump());
        emu::emulator_config cfg;
        cfg.listen_host = "127.0.0.1";
        cfg.listen_port = 0;
        cfg.ca_dir = dir / "ca";
        cfg.real_time_ticks = false;
        cfg.scenario_path = (dir / "scenario.json").string();
        cfg.state_path = std::move(state_path);
        run = std::make_unique<test::emu_run>(clock, std::move(cfg));
    }

    tts::client_options options(const std::string& key) {
        tts::client_options o;
        o.base_url = run->api_url();
        o.api_key = key;
        o.deadline = 10s;
        o.tls.ca_pem = {run->ca_pem()};
        o.tls.use_system_store = false;
        o.clock = &clock;
        o.sleep = [this](std::chrono::nanoseconds d) {
            sleeps.push_back(d);
            clock.advance(d);
        };
        o.log = logs.sink();
        return o;
    }
    std::unique_ptr<tts::client> client(const std::string& key) { return std::make_unique<tts::client>(options(key)); }
    emu::tts_state& state() { return run->emu().state(); }
};

template <class T>
void check_api_error(const tts::result<T>& r, int status, const std::string& full_name) {
    REQUIRE_FALSE(r.has_value());
    INFO(r.err().what());
    REQUIRE(r.api() != nullptr);
    CHECK(r.api()->http_status == status);
    CHECK(r.api()->full_name() == full_name);
    CHECK(r.err().id() == "tts." + full_name);
    CHECK_FALSE(r.api()->correlation_id.empty());
}

std::vector<std::string> ids_of(const std::vector<tts::gateway>& gws) {
    std::vector<std::string> out;
    for (const auto& g : gws) out.push_back(g.ids.gateway_id);
    return out;
}

}  // namespace

TEST_SUITE("tts.client") {
    TEST_CASE("auth_info: who the key belongs to (§2.7)") {
        world w;
        auto alice = w.client(alice_tok);
        auto a = alice->get_auth_info();
        REQUIRE(a);
        CHECK(a->access_method == "api_key");
        REQUIRE(a->key);
        CHECK(a->key->id == key_id(alice_tok));
        CHECK(a->key->name == "alice");
        CHECK(a->key->key.empty());
        CHECK(a->account() == tts::account_ids::user("alice"));
        CHECK(a->raw["api_key"]["entity_ids"] == json{{"user_ids", {{"user_id", "alice"}}}});
        CHECK_FALSE(a->is_admin);
        CHECK_FALSE(a->raw.contains("is_admin"));  // false is a zero value: omitted

        auto admin = w.client(w.run->admin_key());
        auto b = admin->get_auth_info();
        REQUIRE(b);
        CHECK(b->is_admin);
        CHECK(b->account() == tts::account_ids::user("admin"));
        CHECK_FALSE(b->universal_rights.empty());

        auto gw = w.client(office_lns_tok)->get_auth_info();
        REQUIRE(gw);
        REQUIRE(gw->entity);
        CHECK(gw->entity->type == tts::entity_ids::kind::gateway);
        CHECK(gw->entity->id == "office-ttig");
    }

    TEST_CASE("authentication errors (§2.2)") {
        world w;
        SUBCASE("unknown key id: 401 pkg/identityserver:api_key_not_found") {
            auto r = w.client(unknown_tok)->get_gateway("office-ttig", {"name"});
            check_api_error(r, 401, "pkg/identityserver:api_key_not_found");
            CHECK(r.api()->grpc_code == 16);
        }
        SUBCASE("wrong secret: 401 pkg/identityserver:invalid_authorization") {
            auto r = w.client(token("ALICE", "WRONGSECRET"))->get_auth_info();
            check_api_error(r, 401, "pkg/identityserver:invalid_authorization");
        }
        SUBCASE("malformed token: 400 pkg/auth:token") {
            auto r = w.client("not-a-token")->get_gateway("office-ttig", {"name"});
            check_api_error(r, 400, "pkg/auth:token");
            CHECK(r.api()->grpc_code == 3);
        }
        SUBCASE("expired key: 401 pkg/identityserver:api_key_expired") {
            check_api_error(w.client(expired_tok)->get_auth_info(), 401, "pkg/identityserver:api_key_expired");
        }
        SUBCASE("no key: IS 401 pkg/identityserver:unauthenticated, GS 401 pkg/rpcmetadata:unauthenticated") {
            auto anon = w.client("");
            check_api_error(anon->get_gateway("office-ttig", {"name"}), 401, "pkg/identityserver:unauthenticated");
            check_api_error(anon->get_connection_stats("office-ttig"), 401, "pkg/rpcmetadata:unauthenticated");
            check_api_error(anon->get_claim_info(proto::eui64{0x58A0CBFFFE80ABCD}), 401, "pkg/rpcmetadata:unauthenticated");
            // Calls that go straight to a rights check: an anonymous caller simply has no rights.
            check_api_error(anon->update_gateway("lab-ttig", tts::gateway_update().name("x")), 403, "pkg/auth/rights:no_gateway_rights");
            // On a status_public gateway even an anonymous caller holds STATUS_READ (IS GatewayRights
            // adds the public rights without looking at the caller): insufficient, not none.
            check_api_error(anon->update_gateway("office-ttig", tts::gateway_update().name("x")), 403,
                            "pkg/auth/rights:insufficient_gateway_rights");
            tts::gateway g;
            g.ids.gateway_id = "anon-gw";
            check_api_error(anon->create_gateway(tts::account_ids::user("alice"), g), 403, "pkg/auth/rights:no_user_rights");
            // GET /gateways names no collaborator: 200 {}.
            auto l = anon->list_gateways();
            REQUIRE(l);
            CHECK(l->items.empty());
            CHECK(anon->redacted_key().empty());
        }
    }

    TEST_CASE("get gateway: field masks, always-returned fields, rights (§4.1)") {
        world w;
        auto alice = w.client(alice_tok);
        auto g = alice->get_gateway("office-ttig", {"name", "gateway_server_address", "frequency_plan_ids",
                                                   "require_authenticated_connection", "attributes", "lbs_lns_secret"});
        REQUIRE(g);
        CHECK(g->ids.gateway_id == "office-ttig");
        CHECK(g->ids.eui == proto::eui64{0x58A0CBFFFE801234});
        CHECK(g->raw["ids"]["eui"] == "58A0CBFFFE801234");  // upper-case hex (§0)
        CHECK(g->created_at);
        CHECK(g->updated_at);
        CHECK(g->name == "Office TTIG");
        CHECK(g->gateway_server_address == "eu1.cloud.thethings.network");
        CHECK(g->frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN"});
        CHECK(g->raw["frequency_plan_id"] == "EU_863_870_TTN");  // mirrors frequency_plan_ids[0]
        CHECK(g->require_authenticated_connection);
        CHECK(g->attributes == std::map<std::string, std::string>{{"cups-last-seen", "2024-09-10T08:12:01Z"}});
        REQUIRE(g->lbs_lns_secret);
        CHECK(g->lbs_lns_secret->value == doc_key);
        CHECK_FALSE(g->raw.contains("status_public"));  // not in the mask

        // Without a field mask only ids, created_at, updated_at.
        auto bare = alice->get_gateway("office-ttig");
        REQUIRE(bare);
        std::set<std::string> keys;
        for (const auto& [k, v] : bare->raw.items()) keys.insert(k);
        CHECK(keys == std::set<std::string>{"ids", "created_at", "updated_at"});

        SUBCASE("secrets without READ_SECRETS: 403 insufficient_gateway_rights, missing READ_SECRETS") {
            auto r = w.client(alice_info_tok)->get_gateway("office-ttig", {"name", "lbs_lns_secret"});
            check_api_error(r, 403, "pkg/auth/rights:insufficient_gateway_rights");
            CHECK(r.api()->attributes["uid"] == "office-ttig");
            CHECK(r.api()->attributes["missing"] == json::array({"RIGHT_GATEWAY_READ_SECRETS"}));
            CHECK(r.api()->grpc_code == 7);
        }
        SUBCASE("someone else's private gateway: 403 pkg/auth/rights:no_gateway_rights (attr uid)") {
            auto r = alice->get_gateway("bob-gw", {"attributes"});
            check_api_error(r, 403, "pkg/auth/rights:no_gateway_rights");
            CHECK(r.api()->attributes["uid"] == "bob-gw");
        }
        SUBCASE("public-only fields (§2.5) are readable by any authenticated caller") {
            auto r = w.client(bob_tok)->get_gateway("office-ttig", {"name"});
            REQUIRE(r);
            CHECK(r->name == "Office TTIG");
            auto p = alice->get_gateway("bob-gw", {"name", "frequency_plan_ids"});
            REQUIRE(p);
            CHECK(p->ids.gateway_id == "bob-gw");
        }
        SUBCASE("a bad mask path: 400 pkg/rpcmiddleware/validator:field_mask_paths") {
            auto r = alice->get_gateway("office-ttig", {"name", "no_such_field"});
            check_api_error(r, 400, "pkg/rpcmiddleware/validator:field_mask_paths");
            CHECK(r.api()->attributes["forbidden_paths"] == json::array({"no_such_field"}));
        }
        SUBCASE("an admin asking for a missing gateway: 404 pkg/identityserver/store:gateway_not_found") {
            auto r = w.client(w.run->admin_key())->get_gateway("nope-gw", {"name"});
            check_api_error(r, 404, "pkg/identityserver/store:gateway_not_found");
            CHECK(r.api()->attributes["gateway_id"] == "nope-gw");
        }
        SUBCASE("an empty ID is refused before sending") {
            auto r = alice->get_gateway("", {"name"});
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "tts.bad_argument");
            CHECK(r.api() == nullptr);
        }
    }

    TEST_CASE("list gateways: scopes, pagination with X-Total-Count (§4.2, §7)") {
        world w;
        auto alice = w.client(alice_tok);
        tts::list_options o;
        o.limit = 2;
        o.field_mask = {"name"};
        auto p1 = alice->list_gateways(tts::list_scope::caller(), o);
        REQUIRE(p1);
        // alice: office, lab, old, nam directly + acme-gw through organization acme.
        CHECK(p1->total == 5u);
        CHECK(p1->items.size() == 2);
        CHECK(p1->has_more());
        CHECK(ids_of(p1->items) == std::vector<std::string>{"acme-gw", "lab-ttig"});  // default order: by ID

        o.page = 3;
        auto p3 = alice->list_gateways(tts::list_scope::caller(), o);
        REQUIRE(p3);
        CHECK(p3->items.size() == 1);
        CHECK_FALSE(p3->has_more());
        o.page = 9;  // beyond the end: {}
        auto p9 = alice->list_gateways(tts::list_scope::caller(), o);
        REQUIRE(p9);
        CHECK(p9->items.empty());
        CHECK(p9->total == 5u);

        o.page = 1;
        auto all = alice->list_all_gateways(tts::list_scope::caller(), o);
        REQUIRE(all);
        CHECK(ids_of(*all) == std::vector<std::string>{"acme-gw", "lab-ttig", "nam-ttig", "office-ttig", "old-ttig"});

        // Direct collaborators only on the user route; the organization route lists the org's.
        auto direct = alice->list_all_gateways(tts::list_scope::user("alice"), o);
        REQUIRE(direct);
        CHECK(ids_of(*direct) == std::vector<std::string>{"lab-ttig", "nam-ttig", "office-ttig", "old-ttig"});
        auto org = alice->list_gateways(tts::list_scope::organization("acme"), {});
        REQUIRE(org);
        CHECK(ids_of(org->items) == std::vector<std::string>{"acme-gw"});
        CHECK(org->total == 1u);

        o = {};
        o.order = "-gateway_id";
        o.limit = 1;
        auto desc = alice->list_gateways(tts::list_scope::user("alice"), o);
        REQUIRE(desc);
        CHECK(ids_of(desc->items) == std::vector<std::string>{"old-ttig"});

        SUBCASE("a key without the LIST right: 403 pkg/auth/rights:insufficient_user_rights") {
            // A gateway right is an entity right a user key may hold (identityserver/rights.go
            // allPotentialRights), so the key has *some* rights on its user: insufficient, not none.
            auto r = w.client(alice_status_tok)->list_gateways(tts::list_scope::user("alice"), {});
            check_api_error(r, 403, "pkg/auth/rights:insufficient_user_rights");
            CHECK(r.api()->attributes["missing"] == json::array({"RIGHT_USER_GATEWAYS_LIST"}));
        }
        SUBCASE("another user's gateways: 403") {
            auto r = w.client(bob_tok)->list_gateways(tts::list_scope::user("alice"), {});
            check_api_error(r, 403, "pkg/auth/rights:no_user_rights");
        }
        SUBCASE("a gateway key on /gateways gets {}") {
            auto r = w.client(office_lns_tok)->list_gateways();
            REQUIRE(r);
            CHECK(r->items.empty());
        }
    }

    TEST_CASE("search by EUI (§4.3): own gateways only, gateway keys refused") {
        world w;
        tts::list_options o;
        o.field_mask = {"name", "gateway_server_address"};
        o.limit = 10;
        auto r = w.client(alice_tok)->search_gateways_by_eui(proto::eui64{0x58A0CBFFFE801234}, o);
        REQUIRE(r);
        REQUIRE(r->items.size() == 1);
        CHECK(r->items[0].ids.gateway_id == "office-ttig");
        CHECK(r->items[0].name == "Office TTIG");
        CHECK(r->total == 1u);
        // A foreign gateway is invisible: {} rather than a 403.
        auto foreign = w.client(bob_tok)->search_gateways_by_eui(proto::eui64{0x58A0CBFFFE801234}, o);
        REQUIRE(foreign);
        CHECK(foreign->items.empty());
        CHECK(foreign->total == 0u);
        check_api_error(w.client(office_lns_tok)->search_gateways_by_eui(proto::eui64{0x58A0CBFFFE801234}, o), 403,
                        "pkg/identityserver:search_forbidden");
    }

    TEST_CASE("create gateway: user and organization owners, conflicts (§4.4)") {
        world w;
        auto alice = w.client(alice_tok);
        tts::gateway g;
        g.ids.gateway_id = "new-ttig";
        g.ids.eui = proto::eui64{0x58A0CBFFFE80AAAA};
        g.name = "New TTIG";
        g.gateway_server_address = "eu1.cloud.thethings.network";
        g.frequency_plan_ids = {"EU_863_870_TTN"};
        g.require_authenticated_connection = true;
        g.status_public = true;
        g.location_public = true;
        g.enforce_duty_cycle = true;
        g.schedule_anytime_delay = "0.530s";
        g.attributes = {{"site", "hq"}};
        auto c = alice->create_gateway(tts::account_ids::user("alice"), g);
        REQUIRE(c);
        CHECK(c->ids == g.ids);
        CHECK(c->name == "New TTIG");
        CHECK(c->created_at);
        CHECK(c->frequency_plan_ids == g.frequency_plan_ids);
        CHECK(c->require_authenticated_connection);
        CHECK(c->schedule_anytime_delay == "0.530s");
        CHECK(c->attributes == g.attributes);
        CHECK(c->administrative_contact == tts::account_ids::user("alice"));  // defaults to the collaborator

        auto back = alice->get_gateway("new-ttig", {"name", "status_public", "attributes"});
        REQUIRE(back);
        CHECK(back->status_public);

        SUBCASE("EUI of a live gateway: 409 pkg/identityserver:gateway_eui_taken") {
            tts::gateway dup;
            dup.ids.gateway_id = "dup-eui";
            dup.ids.eui = proto::eui64{0x58A0CBFFFE801234};
            auto r = alice->create_gateway(tts::account_ids::user("alice"), dup);
            check_api_error(r, 409, "pkg/identityserver:gateway_eui_taken");
            CHECK(r.api()->attributes["gateway_eui"] == "58A0CBFFFE801234");
            CHECK(r.api()->attributes["gateway_id"] == "office-ttig");
        }
        SUBCASE("ID in use: 409 pkg/util/store:id_taken (cause pkg/util/store:already_exists)") {
            tts::gateway dup;
            dup.ids.gateway_id = "office-ttig";
            auto r = alice->create_gateway(tts::account_ids::user("alice"), dup);
            check_api_error(r, 409, "pkg/util/store:id_taken");
            REQUIRE(r.api()->cause);
            CHECK(r.api()->cause->full_name() == "pkg/util/store:already_exists");
        }
        SUBCASE("organization owner") {
            tts::gateway og;
            og.ids.gateway_id = "acme-two";
            auto r = alice->create_gateway(tts::account_ids::organization("acme"), og);
            REQUIRE(r);
            CHECK(r->administrative_contact == tts::account_ids::organization("acme"));
            auto l = alice->list_gateways(tts::list_scope::organization("acme"), {});
            REQUIRE(l);
            CHECK(l->total == 2u);
        }
        SUBCASE("under another user: 403 pkg/auth/rights:no_user_rights") {
            tts::gateway og;
            og.ids.gateway_id = "bobs-new";
            check_api_error(w.client(bob_tok)->create_gateway(tts::account_ids::user("alice"), og), 403, "pkg/auth/rights:no_user_rights");
        }
        SUBCASE("invalid field: 400 pkg/errors:validation") {
            tts::gateway bad;
            bad.ids.gateway_id = "Bad_ID";
            check_api_error(alice->create_gateway(tts::account_ids::user("alice"), bad), 400, "pkg/errors:validation");
        }
    }

    TEST_CASE("update gateway with a field mask (§4.5): the fields ttigctl writes") {
        world w;
        auto alice = w.client(alice_tok);
        const std::string new_key = token("NEWLNS", "NEWLNSSECRET");
        auto u = tts::gateway_update()
                     .gateway_server_address("nam1.cloud.thethings.network")
                     .frequency_plan_ids({"US_902_928_FSB_2"})
                     .lbs_lns_secret(new_key)
                     .target_cups_uri("https://nam1.cloud.thethings.network:443")
                     .target_cups_key(token("CUPS", "CUPSSECRET"))
                     .attributes({{"cups-last-seen", "2024-09-10T08:12:01Z"}, {"site", "hq-3rd-floor"}})
                     .status_public(false);
        auto r = alice->update_gateway("office-ttig", u);
        REQUIRE(r);
        CHECK(r->gateway_server_address == "nam1.cloud.thethings.network");
        CHECK(r->frequency_plan_ids == std::vector<std::string>{"US_902_928_FSB_2"});
        REQUIRE(r->lbs_lns_secret);
        CHECK(r->lbs_lns_secret->value == new_key);  // echoed in plaintext (§4.5)
        CHECK(r->target_cups_uri == "https://nam1.cloud.thethings.network:443");
        CHECK(r->attributes.at("site") == "hq-3rd-floor");
        CHECK_FALSE(r->status_public);
        CHECK(r->raw.contains("ids"));
        CHECK(r->raw.contains("created_at"));
        CHECK_FALSE(r->raw.contains("name"));  // not in the mask

        auto g = alice->get_gateway("office-ttig", {"name", "gateway_server_address", "lbs_lns_secret", "target_cups_key", "status_public",
                                                   "attributes", "enforce_duty_cycle"});
        REQUIRE(g);
        CHECK(g->name == "Office TTIG");  // untouched
        CHECK(g->enforce_duty_cycle);     // untouched
        CHECK_FALSE(g->status_public);
        REQUIRE(g->target_cups_key);
        CHECK(g->target_cups_key->value == token("CUPS", "CUPSSECRET"));
        CHECK(g->attributes.size() == 2);

        // null with the path in the mask clears a secret.
        auto cleared = alice->update_gateway("office-ttig", tts::gateway_update().lbs_lns_secret(std::nullopt).target_cups_key(std::nullopt));
        REQUIRE(cleared);
        g = alice->get_gateway("office-ttig", {"lbs_lns_secret", "target_cups_key"});
        REQUIRE(g);
        CHECK_FALSE(g->lbs_lns_secret);
        CHECK_FALSE(g->target_cups_key);

        // read-modify-write through gateway_update::from
        auto cur = alice->get_gateway("office-ttig", {"name", "attributes"});
        REQUIRE(cur);
        cur->attributes["extra"] = "1";
        cur->name = "Renamed";
        REQUIRE(alice->update_gateway("office-ttig", tts::gateway_update::from(*cur, {"name", "attributes"})));
        auto after = alice->get_gateway("office-ttig", {"name", "attributes"});
        REQUIRE(after);
        CHECK(after->name == "Renamed");
        CHECK(after->attributes.at("extra") == "1");

        SUBCASE("without SETTINGS_BASIC: 403 insufficient_gateway_rights") {
            auto e = w.client(alice_info_tok)->update_gateway("office-ttig", tts::gateway_update().name("x"));
            check_api_error(e, 403, "pkg/auth/rights:insufficient_gateway_rights");
            CHECK(e.api()->attributes["missing"] == json::array({"RIGHT_GATEWAY_SETTINGS_BASIC"}));
        }
        SUBCASE("a LINK key may update attributes only") {
            auto lns = w.client(office_lns_tok);
            CHECK(lns->update_gateway("office-ttig", tts::gateway_update().attributes({{"cups-last-seen", "2025-01-01T00:00:00Z"}})));
            check_api_error(lns->update_gateway("office-ttig", tts::gateway_update().name("y")), 403,
                            "pkg/auth/rights:insufficient_gateway_rights");
        }
        SUBCASE("an unknown path: 400 pkg/rpcmiddleware/validator:field_mask_paths") {
            check_api_error(alice->update_gateway("office-ttig", tts::gateway_update().set("supports_lrfhss", true)), 400,
                            "pkg/rpcmiddleware/validator:field_mask_paths");
        }
        SUBCASE("more than 10 attributes: 400 pkg/errors:validation") {
            std::map<std::string, std::string> many;
            for (int i = 0; i < 11; ++i) many["key-" + std::to_string(100 + i)] = "v";
            check_api_error(alice->update_gateway("office-ttig", tts::gateway_update().attributes(many)), 400, "pkg/errors:validation");
        }
    }

    TEST_CASE("delete, restore, purge (§4.6)") {
        world w;
        auto alice = w.client(alice_tok);
        auto admin = w.client(w.run->admin_key());
        REQUIRE(alice->delete_gateway("old-ttig"));
        check_api_error(admin->get_gateway("old-ttig", {"name"}), 404, "pkg/identityserver/store:gateway_not_found");
        tts::list_options o;
        o.deleted = true;
        auto deleted = alice->list_gateways(tts::list_scope::user("alice"), o);
        REQUIRE(deleted);
        CHECK(ids_of(deleted->items) == std::vector<std::string>{"old-ttig"});
        REQUIRE(deleted->items[0].deleted_at);

        REQUIRE(alice->restore_gateway("old-ttig"));
        auto back = alice->get_gateway("old-ttig", {"name"});
        REQUIRE(back);
        CHECK(back->name == "Old");

        // The ID stays reserved after a soft delete; purge (admins only) frees it.
        REQUIRE(alice->delete_gateway("old-ttig"));
        tts::gateway again;
        again.ids.gateway_id = "old-ttig";
        check_api_error(alice->create_gateway(tts::account_ids::user("alice"), again), 409, "pkg/util/store:id_taken");
        check_api_error(alice->purge_gateway("old-ttig"), 403, "pkg/identityserver:admins_purge_gateways");
        REQUIRE(admin->purge_gateway("old-ttig"));
        CHECK(alice->create_gateway(tts::account_ids::user("alice"), again));

        check_api_error(w.client(bob_tok)->delete_gateway("office-ttig"), 403, "pkg/auth/rights:insufficient_gateway_rights");
        check_api_error(w.client(bob_tok)->delete_gateway("lab-ttig"), 403, "pkg/auth/rights:no_gateway_rights");

        // Delete releases the EUI; a restore keeps it only while no live gateway took it
        // (bunstore RestoreGateway clears a taken EUI).
        REQUIRE(alice->delete_gateway("lab-ttig"));
        tts::gateway taker;
        taker.ids = {"lab-new", proto::eui64{0x58A0CBFFFE805678}};
        REQUIRE(alice->create_gateway(tts::account_ids::user("alice"), taker));
        REQUIRE(alice->restore_gateway("lab-ttig"));
        auto restored = alice->get_gateway("lab-ttig");
        REQUIRE(restored);
        CHECK_FALSE(restored->ids.eui);
        REQUIRE(alice->delete_gateway("office-ttig"));
        REQUIRE(alice->restore_gateway("office-ttig"));
        auto kept = alice->get_gateway("office-ttig");
        REQUIRE(kept);
        CHECK(kept->ids.eui == proto::eui64{0x58A0CBFFFE801234});

        // Restore only within the window (stack default 24 h).
        REQUIRE(alice->delete_gateway("nam-ttig"));
        w.clock.advance(25h);
        check_api_error(alice->restore_gateway("nam-ttig"), 400, "pkg/identityserver:restore_window_expired");
    }

    TEST_CASE("generic run(): answers that are not TTS errors (§5.1: unknown route, wrong method)") {
        world w;
        auto alice = w.client(alice_tok);
        tts::call<json> raw;
        raw.head.rpc = "Custom";
        raw.head.http.method = "GET";
        raw.head.http.target = "/api/v3/no/such/route";
        raw.decode = [](const proto::http_response& res) -> proto::result<json> { return json::parse(res.body); };
        auto r = alice->run(raw);
        REQUIRE_FALSE(r);
        REQUIRE(r.api());
        CHECK(r.api()->http_status == 404);
        CHECK(r.api()->grpc_code == 5);
        CHECK_FALSE(r.api()->named());
        CHECK(r.err().id() == "tts.api_error");
        CHECK(r.err().detail == "HTTP 404: Not Found (gRPC code 5)");

        raw.head.http.method = "DELETE";
        raw.head.http.target = "/api/v3/auth_info";
        r = alice->run(raw);
        REQUIRE_FALSE(r);
        CHECK(r.api()->http_status == 501);
        CHECK(r.err().detail == "HTTP 501: Method Not Allowed (gRPC code 12)");

        raw.head.http.method = "GET";
        r = alice->run(raw);
        REQUIRE(r);
        CHECK((*r)["api_key"]["entity_ids"]["user_ids"]["user_id"] == "alice");
    }

    TEST_CASE("the caller's rights on a gateway (§4.7)") {
        world w;
        auto r = w.client(office_lns_tok)->list_gateway_rights("office-ttig");
        REQUIRE(r);
        // The key's INFO + LINK, plus STATUS_READ and LOCATION_READ that anyone gets on a
        // status_public + location_public gateway (§2.3).
        CHECK(*r == std::vector<std::string>{"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK", "RIGHT_GATEWAY_LOCATION_READ",
                                             "RIGHT_GATEWAY_STATUS_READ"});
        auto all = w.client(alice_tok)->list_gateway_rights("office-ttig");
        REQUIRE(all);
        CHECK(std::find(all->begin(), all->end(), "RIGHT_GATEWAY_WRITE_SECRETS") != all->end());
        // bob on a status_public + location_public gateway
        auto pub = w.client(bob_tok)->list_gateway_rights("office-ttig");
        REQUIRE(pub);
        CHECK(*pub == std::vector<std::string>{"RIGHT_GATEWAY_LOCATION_READ", "RIGHT_GATEWAY_STATUS_READ"});
        auto none = w.client(bob_tok)->list_gateway_rights("lab-ttig");
        REQUIRE(none);
        CHECK(none->empty());
    }

    TEST_CASE("gateway API keys: the token only once, list/get/update/delete (§4.8)") {
        world w;
        auto alice = w.client(alice_tok);
        auto k = alice->create_api_key("office-ttig", "lns-api-key-1725955200000", tts::rights::lns_key(),
                                       proto::time_point{std::chrono::seconds{1893456000}});  // 2030-01-01
        REQUIRE(k);
        CHECK(k->key.size() == 98);
        CHECK(k->key.rfind("NNSXS." + k->id + ".", 0) == 0);
        CHECK(k->name == "lns-api-key-1725955200000");
        CHECK(k->rights == tts::rights::lns_key());
        REQUIRE(k->expires_at);
        CHECK(tts::format_time(*k->expires_at) == "2030-01-01T00:00:00Z");

        auto list = alice->list_api_keys("office-ttig");
        REQUIRE(list);
        CHECK(list->total == 2u);  // the scenario's LNS key and the new one
        bool found = false;
        for (const auto& x : list->items) {
            CHECK(x.key.empty());  // never in a list
            if (x.id == k->id) found = true;
        }
        CHECK(found);
        auto p1 = alice->list_api_keys("office-ttig", 1, 1, "name");
        auto p2 = alice->list_api_keys("office-ttig", 1, 2, "name");
        REQUIRE(p1);
        REQUIRE(p2);
        REQUIRE(p1->items.size() == 1);
        REQUIRE(p2->items.size() == 1);
        CHECK(p1->has_more());
        CHECK_FALSE(p2->has_more());
        CHECK(p1->items[0].name == "lns");  // ordered by name
        CHECK(p2->items[0].name == "lns-api-key-1725955200000");
        auto one = alice->get_api_key("office-ttig", k->id);
        REQUIRE(one);
        CHECK(one->key.empty());
        CHECK(one->name == k->name);

        // The new key works as a credential.
        auto as_key = w.client(k->key)->get_gateway("office-ttig", {"name"});
        REQUIRE(as_key);

        tts::api_key_update u;
        u.name = "lns-2024-09";
        u.rights = std::vector<std::string>{"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK", "RIGHT_GATEWAY_STATUS_READ"};
        u.expires_at = std::optional<proto::time_point>{};
        auto up = alice->update_api_key("office-ttig", k->id, u);
        REQUIRE(up);
        CHECK(up->name == "lns-2024-09");
        CHECK(up->rights.size() == 3);
        CHECK_FALSE(up->expires_at);
        CHECK(up->key.empty());

        // Delete = update with empty rights: answers {}; the key is gone and no longer authenticates.
        REQUIRE(alice->delete_api_key("office-ttig", k->id));
        auto gone = alice->get_api_key("office-ttig", k->id);
        check_api_error(gone, 404, "pkg/identityserver/store:api_key_not_found");
        CHECK(gone.api()->attributes["api_key_id"] == k->id);
        check_api_error(w.client(k->key)->get_auth_info(), 401, "pkg/identityserver:api_key_not_found");
        check_api_error(alice->delete_api_key("office-ttig", k->id), 404, "pkg/identityserver/store:api_key_not_found");

        // The dedicated DELETE route works as well.
        auto k2 = alice->create_api_key("office-ttig", "cups", tts::rights::cups_key());
        REQUIRE(k2);
        REQUIRE(alice->delete_api_key("office-ttig", k2->id, tts::api_key_delete::delete_route));
        check_api_error(alice->get_api_key("office-ttig", k2->id), 404, "pkg/identityserver/store:api_key_not_found");

        SUBCASE("granting a right the caller lacks: 403 insufficient_gateway_rights") {
            auto admin_key = alice->create_api_key("office-ttig", "key-admin", {"RIGHT_GATEWAY_SETTINGS_API_KEYS", "RIGHT_GATEWAY_INFO"});
            REQUIRE(admin_key);
            auto r = w.client(admin_key->key)->create_api_key("office-ttig", "x", tts::rights::lns_key());
            check_api_error(r, 403, "pkg/auth/rights:insufficient_gateway_rights");
            CHECK(r.api()->attributes["missing"] == json::array({"RIGHT_GATEWAY_LINK"}));
        }
        SUBCASE("without SETTINGS_API_KEYS: 403") {
            check_api_error(w.client(office_lns_tok)->list_api_keys("office-ttig"), 403, "pkg/auth/rights:insufficient_gateway_rights");
            check_api_error(w.client(bob_tok)->list_api_keys("lab-ttig"), 403, "pkg/auth/rights:no_gateway_rights");
        }
        SUBCASE("expires_at in the past: 400 pkg/errors:validation") {
            check_api_error(alice->create_api_key("office-ttig", "x", tts::rights::lns_key(), proto::time_point{std::chrono::seconds{1}}),
                            400, "pkg/errors:validation");
        }
    }

    TEST_CASE("claiming (§4.9): info, claim, the error names, unclaim") {
        world w;
        auto alice = w.client(alice_tok);
        auto info = alice->get_claim_info(proto::eui64{0x58A0CBFFFE80ABCD});
        REQUIRE(info);
        CHECK(info->supports_claiming);
        CHECK_FALSE(info->is_managed);
        CHECK(info->raw == json{{"eui", "58A0CBFFFE80ABCD"}, {"supports_claiming", true}});
        auto managed = alice->get_claim_info(proto::eui64{0xEC656EFFFE000001});
        REQUIRE(managed);
        CHECK(managed->is_managed);
        auto no = alice->get_claim_info(proto::eui64{0x0102030405060708});
        REQUIRE(no);
        CHECK_FALSE(no->supports_claiming);
        CHECK(no->raw == json{{"eui", "0102030405060708"}});  // "not claimable" is {"eui": …}

        tts::claim_request c;
        c.gateway_eui = proto::eui64{0x58A0CBFFFE80ABCD};
        c.authentication_code = "wifi-password";
        c.collaborator = tts::account_ids::user("alice");
        c.target_gateway_id = "claimed-ttig";
        c.target_gateway_server_address = "eu1.cloud.thethings.network";
        c.target_frequency_plan_ids = {"EU_863_870_TTN"};

        SUBCASE("wrong owner token: 409 pkg/deviceclaimingserver:claim gateway, with a cause") {
            c.authentication_code = "wrong";
            auto r = alice->claim_gateway(c);
            check_api_error(r, 409, "pkg/deviceclaimingserver:claim gateway");
            CHECK(r.err().id() == "tts.pkg/deviceclaimingserver:claim gateway");
            REQUIRE(r.api()->cause);
            CHECK(r.api()->grpc_code == 10);
        }
        SUBCASE("claimed in another deployment: 409 claim gateway") {
            c.gateway_eui = proto::eui64{0x58A0CBFFFE80EEEE};
            check_api_error(alice->claim_gateway(c), 409, "pkg/deviceclaimingserver:claim gateway");
        }
        SUBCASE("EUI already registered: 409 pkg/deviceclaimingserver:gateway_already_exists (attr eui)") {
            c.gateway_eui = proto::eui64{0x58A0CBFFFE801234};
            auto r = alice->claim_gateway(c);
            check_api_error(r, 409, "pkg/deviceclaimingserver:gateway_already_exists");
            CHECK(r.api()->attributes["eui"] == "58A0CBFFFE801234");
        }
        SUBCASE("EUI in no upstream's range: 409 pkg/deviceclaimingserver:gateway_claiming_not_supported") {
            c.gateway_eui = proto::eui64{0x0102030405060708};
            check_api_error(alice->claim_gateway(c), 409, "pkg/deviceclaimingserver:gateway_claiming_not_supported");
        }
        SUBCASE("target ID taken: 409 pkg/deviceclaimingserver:create_gateway, cause pkg/util/store:id_taken") {
            c.target_gateway_id = "office-ttig";
            auto r = alice->claim_gateway(c);
            check_api_error(r, 409, "pkg/deviceclaimingserver:create_gateway");
            CHECK(r.api()->is("pkg/util/store:id_taken"));
            CHECK(r.err().detail.find("cause pkg/util/store:id_taken") != std::string::npos);
            // Rolled back upstream: a correct claim still works.
            c.target_gateway_id = "claimed-ttig";
            CHECK(alice->claim_gateway(c));
        }
        SUBCASE("success, then unclaim") {
            auto r = alice->claim_gateway(c);
            REQUIRE(r);
            CHECK(r->gateway_id == "claimed-ttig");
            CHECK(r->eui == proto::eui64{0x58A0CBFFFE80ABCD});
            auto g = alice->get_gateway("claimed-ttig", {"gateway_server_address", "frequency_plan_ids", "require_authenticated_connection",
                                                         "enforce_duty_cycle"});
            REQUIRE(g);
            CHECK(g->gateway_server_address == "eu1.cloud.thethings.network");
            CHECK(g->frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN"});
            CHECK(g->require_authenticated_connection);
            CHECK(g->enforce_duty_cycle);
            REQUIRE(alice->unclaim_gateway("claimed-ttig"));
            CHECK(alice->get_gateway("claimed-ttig"));  // unclaim does not delete
            check_api_error(alice->unclaim_gateway("old-ttig"), 400, "pkg/deviceclaimingserver:no_eui");
            check_api_error(w.client(bob_tok)->unclaim_gateway("lab-ttig"), 403, "pkg/auth/rights:no_gateway_rights");
        }
    }

    TEST_CASE("connection stats: single (§4.10)") {
        world w;
        auto alice = w.client(alice_tok);
        auto s = alice->get_connection_stats("office-ttig");
        REQUIRE(s);
        CHECK(s->connected());
        CHECK(s->protocol == "semtechws/lbslns");
        CHECK(s->uplink_count == 1287);
        CHECK(s->raw["uplink_count"] == "1287");  // uint64 as a JSON string (§0)
        CHECK(s->remote_ip == "203.0.113.7");
        CHECK(tts::format_time(*s->connected_at) == "2024-12-31T23:00:05.100Z");
        auto lab = alice->get_connection_stats("lab-ttig");
        REQUIRE(lab);
        CHECK_FALSE(lab->connected());
        CHECK(tts::format_time(*lab->disconnected_at) == "2024-12-31T22:01:44.500Z");

        auto never = alice->get_connection_stats("old-ttig");
        check_api_error(never, 404, "pkg/gatewayserver:not_connected");
        CHECK(never.api()->attributes["gateway_uid"] == "old-ttig");
        // Connected to another cluster: not connected here.
        check_api_error(alice->get_connection_stats("nam-ttig"), 404, "pkg/gatewayserver:not_connected");
        check_api_error(w.client(bob_tok)->get_connection_stats("lab-ttig"), 403, "pkg/auth/rights:no_gateway_rights");
        check_api_error(w.client(alice_info_tok)->get_connection_stats("lab-ttig"), 403, "pkg/auth/rights:insufficient_gateway_rights");
        // status_public: anyone authenticated may read it.
        CHECK(w.client(bob_tok)->get_connection_stats("office-ttig"));
    }

    TEST_CASE("connection stats: batches of at most 100 IDs — TTS errors as values (§4.10)") {
        world w;
        std::vector<std::string> ids;
        for (int i = 0; i < 230; ++i) {
            const std::string id = fmt::format("fleet-{:03}", i);
            ids.push_back(id);
            nlohmann::ordered_json doc{{"ids", {{"gateway_id", id}}}};
            REQUIRE(w.state().create_gateway(doc, emu::entity_ref::user("alice")));
            if (i % 3 == 0) REQUIRE(w.state().gateway_connected(id, "eu1", w.clock.now()));
        }
        ids.push_back("fleet-000");  // a duplicate is asked for once
        auto alice = w.client(alice_tok);
        auto b = alice->batch_connection_stats(ids, {"connected_at", "disconnected_at"});
        CHECK(b.calls == 3);  // 230 unique IDs: 100 + 100 + 30
        CHECK(b.complete());
        CHECK(b.entries.size() == 77);  // i % 3 == 0 for i < 230
        CHECK(b.absent.size() == 230 - 77);
        REQUIRE(b.entries.count("fleet-003"));
        CHECK(b.entries.at("fleet-003").connected());
        CHECK(b.entries.at("fleet-003").raw.size() == 1);  // masked to connected_at

        // One chunk names a gateway the caller has no rights on: that chunk fails with
        // 403 pkg/identityserver:insufficient_rights, the others still answer.
        ids[150] = "bob-gw";
        b = alice->batch_connection_stats(ids);
        CHECK(b.calls == 3);
        REQUIRE(b.failures.size() == 1);
        CHECK(b.failures[0].gateway_ids.size() == 100);
        CHECK(b.failures[0].gateway_ids.front() == "fleet-100");
        CHECK(b.failures[0].error.id() == "tts.pkg/identityserver:insufficient_rights");
        REQUIRE(b.failures[0].api);
        CHECK(b.failures[0].api->http_status == 403);
        CHECK(b.entries.size() == 34 + 10);  // chunks 1 (0..99) and 3 (200..229)

        auto gwkey = w.client(office_lns_tok)->batch_connection_stats(std::vector<std::string>{"office-ttig"});
        REQUIRE(gwkey.failures.size() == 1);
        CHECK(gwkey.failures[0].error.id() == "tts.pkg/identityserver:neither_user_nor_organization");
        CHECK(alice->batch_connection_stats(std::vector<std::string>{}).calls == 0);

        auto unknown = w.client(w.run->admin_key())->batch_connection_stats(std::vector<std::string>{"office-ttig", "no-such-gw"});
        REQUIRE(unknown.failures.size() == 1);
        CHECK(unknown.failures[0].error.id() == "tts.pkg/identityserver:some_gateways_not_found");
        CHECK(unknown.failures[0].api->http_status == 404);
    }

    TEST_CASE("frequency plans (§4.12)") {
        world w;
        auto p = w.client(alice_tok)->list_frequency_plans();
        REQUIRE(p);
        auto eu = std::find_if(p->begin(), p->end(), [](const tts::frequency_plan& f) { return f.id == "EU_863_870_TTN"; });
        REQUIRE(eu != p->end());
        CHECK(eu->base_frequency == 868);
        CHECK(eu->band_id == "EU_863_870");
        auto us = w.client(alice_tok)->list_frequency_plans("US_902_928");
        REQUIRE(us);
        REQUIRE_FALSE(us->empty());
        for (const auto& f : *us) CHECK(f.band_id == "US_902_928");
    }

    TEST_CASE("rate limits (§6): headers recorded, waits honoured on the injected clock, 429 returned, never retried") {
        world w;
        auto alice = w.client(alice_tok);
        const auto t0 = w.clock.now();
        // max_burst 2: two calls pass, the bucket is then empty.
        auto r1 = alice->list_gateway_rights("office-ttig");
        REQUIRE(r1);
        auto l1 = alice->last_rate_limit();
        REQUIRE(l1);
        CHECK(l1->limit == 2);
        CHECK(l1->available == 1);
        CHECK(l1->retry == 0s);
        REQUIRE(alice->list_gateway_rights("office-ttig"));
        auto l2 = alice->rate_limit_of("GatewayAccess.ListRights", "gateway:office-ttig");
        REQUIRE(l2);
        CHECK(l2->available == 0);
        CHECK(l2->reset == 2s);
        CHECK(w.sleeps.empty());

        // Other RPCs and other gateways are other buckets: no wait.
        REQUIRE(alice->get_gateway("office-ttig", {"name"}));
        CHECK(w.sleeps.empty());
        CHECK_FALSE(alice->rate_limit_of("GatewayRegistry.Get", "gateway:office-ttig"));  // no profile: no headers

        // The third call in the bucket waits Reset + 1 s margin (the headers are truncated), then passes.
        auto r3 = alice->list_gateway_rights("office-ttig");
        REQUIRE(r3);
        REQUIRE(w.sleeps.size() == 1);
        CHECK(w.sleeps[0] == 3s);
        CHECK(w.clock.now() - t0 == 3s);

        SUBCASE("a client that does not know the bucket is empty gets the 429 as an error") {
            // Another client with the same key shares the server's bucket (per method, entity and token).
            auto other = w.client(alice_tok);
            REQUIRE(other->list_gateway_rights("office-ttig"));  // takes the last token
            auto fresh = w.client(alice_tok);
            const auto before = w.logs.lines.size();
            auto limited = fresh->list_gateway_rights("office-ttig");
            check_api_error(limited, 429, "pkg/ratelimit:rate_limit_exceeded");
            CHECK(limited.api()->grpc_code == 8);
            REQUIRE(limited.api()->rate_limit);
            CHECK(limited.api()->rate_limit->limit == 2);
            CHECK(limited.api()->rate_limit->available == 0);
            CHECK(limited.api()->retry_after() >= 1s);
            CHECK(limited.api()->attributes["rate"] == 2);
            CHECK(limited.api()->attributes["key"].get<std::string>().rfind("grpc:method:/ttn.lorawan.v3.GatewayAccess/ListRights:gateway:office-ttig", 0) == 0);
            CHECK(limited.err().detail.find("retry after") != std::string::npos);
            CHECK(w.sleeps.size() == 1);  // no wait, no retry: exactly one request was sent
            std::size_t requests = 0;
            for (std::size_t i = before; i < w.logs.lines.size(); ++i)
                if (w.logs.lines[i].find("/rights (GatewayAccess.ListRights)") != std::string::npos) ++requests;
            CHECK(requests == 1);

            // Its next call honours the 429's headers: it waits, then passes.
            REQUIRE(fresh->list_gateway_rights("office-ttig"));
            REQUIRE(w.sleeps.size() == 2);
            CHECK(w.sleeps[1] >= 2s);
        }
        SUBCASE("honour = false: no waiting, the 429 comes back") {
            auto o = w.options(alice_tok);
            o.rate_limit.honour = false;
            tts::client c(o);
            REQUIRE(c.list_gateway_rights("lab-ttig"));
            REQUIRE(c.list_gateway_rights("lab-ttig"));
            check_api_error(c.list_gateway_rights("lab-ttig"), 429, "pkg/ratelimit:rate_limit_exceeded");
            CHECK(w.sleeps.size() == 1);
        }
        SUBCASE("a wait above max_wait is refused without sending") {
            auto o = w.options(alice_tok);
            o.rate_limit.max_wait = 1s;
            tts::client c(o);
            REQUIRE(c.list_gateway_rights("lab-ttig"));
            REQUIRE(c.list_gateway_rights("lab-ttig"));
            auto r = c.list_gateway_rights("lab-ttig");
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "tts.rate_limit_wait");
            CHECK(r.api() == nullptr);
            CHECK(w.sleeps.size() == 1);
        }
    }

    TEST_CASE("rate limits: a 429 without rate-limit headers (e.g. from a proxy) still empties the bucket") {
        world w;
        emu::fault_rule f;
        f.rpc = "GatewayRegistry.Get";
        f.error_ratio = 1;
        f.error = emu::tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", "edge"}, {"rate", 1}});
        w.run->emu().api().set_faults({f});
        auto alice = w.client(alice_tok);
        auto r = alice->get_gateway("office-ttig", {"name"});
        check_api_error(r, 429, "pkg/ratelimit:rate_limit_exceeded");
        CHECK_FALSE(r.api()->rate_limit);  // no headers on this answer
        CHECK(r.api()->retry_after() == 1s);
        CHECK(w.sleeps.empty());
        w.run->emu().api().set_faults({});
        REQUIRE(alice->get_gateway("office-ttig", {"name"}));
        REQUIRE(w.sleeps.size() == 1);
        CHECK(w.sleeps[0] == 2s);  // max(1 s, Retry) + 1 s margin
        REQUIRE(alice->get_gateway("office-ttig", {"name"}));  // no headers now: no more waiting
        CHECK(w.sleeps.size() == 1);
    }

    TEST_CASE("TLS verification is on: the emulator's CA is needed (tls.unknown_ca without it)") {
        world w;
        auto o = w.options(alice_tok);
        o.tls.ca_pem.clear();
        o.tls.use_system_store = true;
        tts::client untrusted(o);
        auto r = untrusted.get_auth_info();
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.unknown_ca");
        CHECK(r.api() == nullptr);
        CHECK(r.err().detail.find("ALICESECRET") == std::string::npos);

        o.tls.insecure = true;  // explicit opt-out
        CHECK(tts::client(o).get_auth_info());
    }

    TEST_CASE("--resolve: clusters reached by their real names through the host map") {
        world w;
        const auto eu1 = w.run->cluster_port("eu1");
        const auto nam1 = w.run->cluster_port("nam1");
        REQUIRE(eu1 != 0);
        REQUIRE(nam1 != 0);
        auto o = w.options(alice_tok);
        o.base_url = fmt::format("https://eu1.cloud.thethings.network:{}", eu1);
        REQUIRE(o.hosts.add(fmt::format("eu1.cloud.thethings.network:{}:127.0.0.1", eu1)));
        REQUIRE(o.hosts.add(fmt::format("nam1.cloud.thethings.network:{}:127.0.0.1", nam1)));
        tts::client c(o);
        auto a = c.get_auth_info();
        REQUIRE(a);
        CHECK(a->account() == tts::account_ids::user("alice"));

        // Gateway Server calls go to the gateway's cluster, derived from gateway_server_address.
        auto g = c.get_gateway("nam-ttig", {"gateway_server_address"});
        REQUIRE(g);
        const std::string nam_url = tts::cluster_base_url(g->gateway_server_address, nam1);
        CHECK(nam_url == fmt::format("https://nam1.cloud.thethings.network:{}", nam1));
        auto s = c.get_connection_stats("nam-ttig", nam_url);
        REQUIRE(s);
        CHECK(s->connected());
        check_api_error(c.get_connection_stats("nam-ttig"), 404, "pkg/gatewayserver:not_connected");
        auto b = c.batch_connection_stats(std::vector<std::string>{"nam-ttig", "office-ttig"}, {}, nam_url);
        CHECK(b.complete());
        CHECK(b.entries.size() == 1);
        CHECK(b.entries.count("nam-ttig") == 1);
    }

    TEST_CASE("secrets: API keys never appear in logs or error details") {
        world w;
        auto alice = w.client(alice_tok);
        CHECK(alice->redacted_key() == "NNSXS.ALIC\xE2\x80\xA6");
        REQUIRE(alice->get_auth_info());
        auto created = alice->create_api_key("office-ttig", "tmp", tts::rights::lns_key());
        REQUIRE(created);
        REQUIRE(alice->update_gateway("office-ttig", tts::gateway_update().lbs_lns_secret(created->key)));
        REQUIRE(alice->get_gateway("office-ttig", {"lbs_lns_secret"}));
        std::vector<proto::error> errors;
        for (const std::string& key : {unknown_tok, token("ALICE", "WRONGSECRET"), std::string("malformed-secret-value"), expired_tok}) {
            auto c = w.client(key);
            auto r = c->get_gateway("office-ttig", {"name"});
            REQUIRE_FALSE(r);
            errors.push_back(r.err());
        }
        auto o = w.options(alice_tok);
        o.tls.ca_pem.clear();
        auto tls_fail = tts::client(o).get_auth_info();
        REQUIRE_FALSE(tls_fail);
        errors.push_back(tls_fail.err());

        const std::string logs = w.logs.all();
        CHECK(logs.find("API key NNSXS.ALIC\xE2\x80\xA6") != std::string::npos);
        for (const std::string& secret : {alice_tok.substr(46), created->key.substr(46), token("UNKNOWN", "UNKNOWNSECRET").substr(46),
                                          token("ALICE", "WRONGSECRET").substr(46), std::string("malformed-secret-value"),
                                          expired_tok.substr(46)}) {
            CAPTURE(secret);
            CHECK(logs.find(secret) == std::string::npos);
            for (const auto& e : errors) CHECK(e.what().find(secret) == std::string::npos);
        }
        // No token-shaped string at all in the logs.
        CHECK_FALSE(std::regex_search(logs, std::regex("[A-Z2-7]{5}\\.[A-Z2-7]{16,}\\.[A-Z2-7]{16,}")));
    }

    TEST_CASE("async_run: the same calls as completions on an executor — async rate-limit waits") {
        world w;
        boost::asio::io_context ioc;
        auto o = w.options(alice_tok);
        std::vector<std::chrono::nanoseconds> async_waits;
        o.async_sleep = [&](std::chrono::nanoseconds d, boost::asio::any_completion_handler<void()> h) {
            async_waits.push_back(d);
            w.clock.advance(d);
            std::move(h)();
        };
        tts::client c(ioc.get_executor(), o);
        std::optional<tts::result<tts::gateway>> got;
        c.async_run(tts::calls::get_gateway("office-ttig", {"name"}), [&](tts::result<tts::gateway> r) { got.emplace(std::move(r)); });
        ioc.run();
        REQUIRE(got);
        REQUIRE(*got);
        CHECK((*got)->name == "Office TTIG");

        std::optional<tts::result<tts::gateway>> denied;
        c.async_run(tts::calls::get_gateway("bob-gw", {"attributes"}), [&](tts::result<tts::gateway> r) { denied.emplace(std::move(r)); });
        ioc.restart();
        ioc.run();
        REQUIRE(denied);
        check_api_error(*denied, 403, "pkg/auth/rights:no_gateway_rights");

        // An invalid call completes later, not inside async_run.
        std::optional<tts::result<void>> invalid;
        c.async_run(tts::calls::delete_gateway(""), [&](tts::result<void> r) { invalid.emplace(std::move(r)); });
        CHECK_FALSE(invalid);
        ioc.restart();
        ioc.run();
        REQUIRE(invalid);
        CHECK(invalid->err().id() == "tts.bad_argument");

        // Rate limit: the third call waits through async_sleep.
        int done = 0;
        for (int i = 0; i < 3; ++i) {
            c.async_run(tts::calls::list_gateway_rights("office-ttig"), [&](tts::result<std::vector<std::string>> r) {
                CHECK(r.has_value());
                ++done;
            });
            ioc.restart();
            ioc.run();
        }
        CHECK(done == 3);
        REQUIRE(async_waits.size() == 1);
        CHECK(async_waits[0] == 3s);

        // Without an async sleeper the wait is refused as tts.rate_limit_wait.
        auto o2 = w.options(alice_tok);
        tts::client c2(ioc.get_executor(), o2);
        std::vector<std::string> outcome;
        for (int i = 0; i < 3; ++i) {
            c2.async_run(tts::calls::list_gateway_rights("lab-ttig"),
                         [&](tts::result<std::vector<std::string>> r) { outcome.push_back(r ? "ok" : r.err().id()); });
            ioc.restart();
            ioc.run();
        }
        CHECK(outcome == std::vector<std::string>{"ok", "ok", "tts.rate_limit_wait"});

        // A blocking call on an executor client is refused (the net layer's rule).
        CHECK(c2.get_auth_info().err().id() == "net.aborted");
    }

    TEST_CASE("restart: gateways and keys survive in the state file") {
        test::temp_dir state_dir;
        const std::string state_path = (state_dir / "tts.sqlite").string();
        const json sc{{"options", {{"pbkdf2_iterations", 10}}}};
        std::string first_admin, gw_key, gw_key_id;
        {
            world w(sc, state_path);
            first_admin = w.run->admin_key();
            auto admin = w.client(first_admin);
            tts::gateway g;
            g.ids.gateway_id = "persist-gw";
            g.ids.eui = proto::eui64{0x58A0CBFFFE80BEEF};
            g.name = "Persistent";
            g.attributes = {{"site", "lab"}};
            REQUIRE(admin->create_gateway(tts::account_ids::user("admin"), g));
            auto k = admin->create_api_key("persist-gw", "keeper",
                                           {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_SETTINGS_API_KEYS"});
            REQUIRE(k);
            gw_key = k->key;
            gw_key_id = k->id;
            w.run->stop();
        }
        world w(sc, state_path);
        CHECK(w.run->admin_key() != first_admin);  // a new admin key on every start
        auto c = w.client(gw_key);
        auto g = c->get_gateway("persist-gw", {"name", "attributes"});
        REQUIRE(g);
        CHECK(g->name == "Persistent");
        CHECK(g->ids.eui == proto::eui64{0x58A0CBFFFE80BEEF});
        CHECK(g->attributes.at("site") == "lab");
        auto keys = c->list_api_keys("persist-gw");
        REQUIRE(keys);
        REQUIRE(keys->items.size() == 1);
        CHECK(keys->items[0].id == gw_key_id);
        CHECK(keys->items[0].name == "keeper");
        CHECK(c->update_gateway("persist-gw", tts::gateway_update().name("Still here")));
        // The first run's admin key is a stored key like any other.
        auto old_admin = w.client(first_admin)->get_auth_info();
        CHECK(old_admin.has_value());
        auto found = w.client(w.run->admin_key())->search_gateways_by_eui(proto::eui64{0x58A0CBFFFE80BEEF});
        REQUIRE(found);
        CHECK(ids_of(found->items) == std::vector<std::string>{"persist-gw"});
    }
}
