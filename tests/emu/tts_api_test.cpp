// Tests for the emulated The Things Stack REST API. Expected shapes, statuses and error names are
// copied from tts-api.md (as literals: tests never read /work/shared).
#include <doctest/doctest.h>

#include <ttig/emu/scenario.hpp>
#include <ttig/emu/tts_api.hpp>
#include <ttig/emu/tts_state.hpp>

#include "support/run_cli.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

using namespace ttig;
using namespace std::chrono_literals;
using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

namespace {

// A syntactically valid API key: NNSXS.<39 base32>.<52 base32>.
std::string token(const std::string& id_seed, const std::string& secret_seed) {
    auto pad = [](std::string s, std::size_t n, char c) {
        s.resize(n, c);
        return s;
    };
    return "NNSXS." + pad(id_seed, 39, 'A') + "." + pad(secret_seed, 52, 'B');
}
std::string key_id(const std::string& tok) { return tok.substr(6, 39); }

const std::string admin_tok = token("ADMIN", "ADMINSECRET");
const std::string alice_tok = token("ALICE", "ALICESECRET");          // RIGHT_ALL
const std::string alice_status_tok = token("ALICESTATUS", "S");      // RIGHT_GATEWAY_STATUS_READ only
const std::string alice_list_tok = token("ALICELIST", "L");          // RIGHT_USER_GATEWAYS_LIST only
const std::string alice_info_tok = token("ALICEINFO", "I");          // RIGHT_GATEWAY_INFO only
const std::string bob_tok = token("BOB", "BOBSECRET");               // RIGHT_ALL
const std::string office_lns_tok = token("OFFICELNS", "LNS");        // gateway key: INFO + LINK
const std::string expired_tok = token("EXPIRED", "E");

std::string scenario_text() {
    json s = {
        {"options", {{"pbkdf2_iterations", 10}, {"seed", 7}}},
        {"clusters",
         {{{"name", "eu1"}, {"address", "eu1.cloud.thethings.network"}, {"identity_server", true}},
          {{"name", "nam1"}, {"address", "nam1.cloud.thethings.network"}}}},
        {"users",
         {{{"user_id", "admin"}, {"admin", true}},
          {{"user_id", "alice"}, {"name", "Alice"}},
          {{"user_id", "bob"}},
          {{"user_id", "sus"}, {"state", "STATE_SUSPENDED"}}}},
        {"organizations", {{{"organization_id", "acme"}, {"members", {{{"user_id", "alice"}, {"rights", {"RIGHT_ALL"}}}}}}}},
        {"gateways",
         {
             {{"gateway",
               {{"ids", {{"gateway_id", "office-ttig"}, {"eui", "58A0CBFFFE801234"}}},
                {"name", "Office TTIG"},
                {"attributes", {{"cups-last-seen", "2024-09-10T08:12:01Z"}}},
                {"gateway_server_address", "eu1.cloud.thethings.network"},
                {"frequency_plan_ids", {"EU_863_870_TTN"}},
                {"status_public", true},
                {"location_public", true},
                {"enforce_duty_cycle", true},
                {"schedule_anytime_delay", "0.530s"},
                {"lbs_lns_secret", {{"value", "Tk5TWFMuM0ZXWkVCNUVFWTRTNk5SQTJPMkY1S1pTRk5RRFI3SlZKMzRUVjdZLjJSQlpXTTI3U1dTVVlZSUFQSFdST0lLWEo3WlJTT1VLMkY0Wko2VUxINEZMN1hYTDdXNkE="}}},
                {"require_authenticated_connection", true}}},
              {"owner", {{"user_id", "alice"}}},
              {"connection",
               {{"cluster", "eu1"},
                {"connected_at", "2024-09-10T08:12:05.100Z"},
                {"last_status_received_at", "2024-09-10T09:40:06Z"},
                {"uplink_count", 1287},
                {"remote_ip", "203.0.113.7"}}}},
             {{"gateway", {{"ids", {{"gateway_id", "lab-ttig"}, {"eui", "58A0CBFFFE805678"}}}}},
              {"owner", {{"user_id", "alice"}}},
              {"connection", {{"cluster", "eu1"}, {"disconnected_at", "2024-09-09T22:01:44.500Z"}}}},
             {{"gateway", {{"ids", {{"gateway_id", "old-ttig"}}}}}, {"owner", {{"user_id", "alice"}}}},
             {{"gateway", {{"ids", {{"gateway_id", "nam-ttig"}}}, {"gateway_server_address", "nam1.cloud.thethings.network"}}},
              {"owner", {{"user_id", "alice"}}},
              {"connection", {{"cluster", "nam1"}, {"connected_at", "2024-09-10T09:00:00Z"}}}},
             {{"gateway", {{"ids", {{"gateway_id", "acme-gw"}}}, {"name", "ACME"}}}, {"owner", {{"organization_id", "acme"}}}},
             {{"gateway", {{"ids", {{"gateway_id", "bob-gw"}, {"eui", "0000000000000B0B"}}}, {"name", "Bob's"}}},
              {"owner", {{"user_id", "bob"}}}},
         }},
        {"api_keys",
         {{{"owner", {{"user_id", "admin"}}}, {"key", admin_tok}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_tok}, {"name", "alice"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_status_tok}, {"rights", {"RIGHT_GATEWAY_STATUS_READ"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_list_tok}, {"rights", {"RIGHT_USER_GATEWAYS_LIST"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_info_tok}, {"rights", {"RIGHT_GATEWAY_INFO"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", expired_tok}, {"rights", {"RIGHT_ALL"}}, {"expires_at", "2024-09-10T10:30:00Z"}},
          {{"owner", {{"user_id", "bob"}}}, {"key", bob_tok}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"gateway_id", "office-ttig"}}},
           {"key", office_lns_tok},
           {"name", "lns-api-key-1725955200000"},
           {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}}}},
        {"claimable",
         {{{"eui", "58A0CBFFFE800001"}, {"owner_token", "wifi-pass-1"}},
          {{"eui", "58A0CBFFFE800002"}, {"owner_token", "wifi-pass-2"}, {"claimed_elsewhere", true}},
          {{"eui", "58A0CBFFFE801234"}, {"owner_token", "office"}},
          {{"eui", "EC656EFFFE000001"}, {"owner_token", "managed"}, {"managed", true}}}},
    };
    return s.dump();
}

struct response {
    int status = 0;
    ojson body;
    proto::http_fields headers;
    emu::api_result::action act = emu::api_result::action::respond;
    std::chrono::milliseconds delay{0};
};

struct world {
    proto::manual_clock clock{*emu::parse_time("2024-09-10T10:00:00Z")};
    std::unique_ptr<emu::tts_state> state;
    std::unique_ptr<emu::tts_api> api;

    explicit world(const std::string& path = ":memory:", bool load = true) {
        auto sc = emu::parse_scenario(scenario_text());
        REQUIRE_MESSAGE(sc.has_value(), (sc ? "" : sc.err().what()));
        emu::state_options o;
        o.path = path;
        emu::apply_options(*sc, o);
        auto st = emu::tts_state::open(clock, o);
        REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.err().what()));
        state = std::move(*st);
        if (load) {
            auto r = emu::apply_scenario(*sc, *state);
            REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.err().what()));
        }
        api = std::make_unique<emu::tts_api>(*state);
        emu::apply_scenario(*sc, *api);
    }

    response call(const std::string& method, const std::string& target, const std::string& tok = {},
                  const std::string& body = {}, const std::string& cluster = {}) {
        proto::http_request req;
        req.method = method;
        req.target = target;
        if (!tok.empty()) req.headers.add("Authorization", tok.find(' ') == std::string::npos ? "Bearer " + tok : tok);
        req.body = body;
        auto r = api->handle(req, cluster);
        response out;
        out.status = r.response.status;
        out.headers = r.response.headers;
        out.act = r.act;
        out.delay = r.delay;
        if (!r.response.body.empty()) out.body = ojson::parse(r.response.body);
        return out;
    }
};

std::string err_name(const response& r) {
    if (!r.body.contains("details")) return "<no details>";
    const auto& d = r.body["details"][0];
    return d["namespace"].get<std::string>() + ":" + d["name"].get<std::string>();
}

std::vector<std::string> keys_of(const ojson& o) {
    std::vector<std::string> k;
    for (const auto& [key, v] : o.items()) k.push_back(key);
    return k;
}

bool is_hex32(const std::string& s) { return std::regex_match(s, std::regex("^[0-9a-f]{32}$")); }

}  // namespace

TEST_SUITE("emu.tts_api") {
    TEST_CASE("§5.1 error body: insufficient_gateway_rights for a secret without READ_SECRETS") {
        world w;
        auto r = w.call("GET", "/api/v3/gateways/office-ttig?field_mask=name,lbs_lns_secret", alice_info_tok);
        CHECK(r.status == 403);
        CHECK(r.headers.get("Content-Type") == "application/json");
        // The doc's example, key by key and in order (correlation_id is random).
        CHECK(keys_of(r.body) == std::vector<std::string>{"code", "message", "details"});
        CHECK(r.body["code"] == 7);
        CHECK(r.body["message"] ==
              "error:pkg/auth/rights:insufficient_gateway_rights (insufficient rights for gateway `office-ttig`)");
        const auto& d = r.body["details"][0];
        CHECK(keys_of(d) == std::vector<std::string>{"@type", "namespace", "name", "message_format", "attributes",
                                                     "correlation_id", "code"});
        CHECK(d["@type"] == "type.googleapis.com/ttn.lorawan.v3.ErrorDetails");
        CHECK(d["namespace"] == "pkg/auth/rights");
        CHECK(d["name"] == "insufficient_gateway_rights");
        CHECK(d["message_format"] == "insufficient rights for gateway `{uid}`");
        CHECK(d["attributes"] == ojson::parse(R"({"missing": ["RIGHT_GATEWAY_READ_SECRETS"], "uid": "office-ttig"})"));
        CHECK(is_hex32(d["correlation_id"].get<std::string>()));
        CHECK(d["code"] == 7);
    }

    TEST_CASE("§2.2 authentication outcomes") {
        world w;
        // No header: Get requires a caller; update goes straight to rights; list is empty; GS is 401.
        auto get = w.call("GET", "/api/v3/gateways/office-ttig");
        CHECK(get.status == 401);
        CHECK(err_name(get) == "pkg/identityserver:unauthenticated");
        CHECK(get.headers.get("WWW-Authenticate") == "error:pkg/identityserver:unauthenticated (unauthenticated)");
        auto put = w.call("PUT", "/api/v3/gateways/lab-ttig", "", R"({"gateway":{"name":"x"},"field_mask":{"paths":["name"]}})");
        CHECK(put.status == 403);
        CHECK(err_name(put) == "pkg/auth/rights:no_gateway_rights");
        // On a status_public gateway the anonymous caller holds the public STATUS_READ right
        // (identityserver GatewayRights), so the answer is "insufficient", as upstream v3.32.1 does.
        auto put_public = w.call("PUT", "/api/v3/gateways/office-ttig", "", R"({"gateway":{"name":"x"},"field_mask":{"paths":["name"]}})");
        CHECK(put_public.status == 403);
        CHECK(err_name(put_public) == "pkg/auth/rights:insufficient_gateway_rights");
        auto list = w.call("GET", "/api/v3/gateways");
        CHECK(list.status == 200);
        CHECK(list.body == ojson::object());
        auto gs = w.call("GET", "/api/v3/gs/gateways/office-ttig/connection/stats");
        CHECK(gs.status == 401);
        CHECK(err_name(gs) == "pkg/rpcmetadata:unauthenticated");

        auto basic = w.call("GET", "/api/v3/gateways/office-ttig", "Basic dXNlcjpwYXNz");
        CHECK(basic.status == 401);
        CHECK(err_name(basic) == "pkg/identityserver:unsupported_authorization");
        auto malformed = w.call("GET", "/api/v3/gateways/office-ttig", "Bearer not-a-token");
        CHECK(malformed.status == 400);
        CHECK(err_name(malformed) == "pkg/auth:token");
        CHECK(malformed.body["message"] == "error:pkg/auth:token (invalid token)");
        auto unknown = w.call("GET", "/api/v3/gateways/office-ttig", token("NOSUCHKEY", "X"));
        CHECK(unknown.status == 401);
        CHECK(err_name(unknown) == "pkg/identityserver:api_key_not_found");
        CHECK(unknown.body["message"] == "error:pkg/identityserver:api_key_not_found (API key not found)");
        CHECK(unknown.headers.get("WWW-Authenticate") == "error:pkg/identityserver:api_key_not_found (API key not found)");
        auto wrong = w.call("GET", "/api/v3/gateways/office-ttig", key_id(alice_tok).insert(0, "NNSXS.") + "." + std::string(52, 'C'));
        CHECK(wrong.status == 401);
        CHECK(err_name(wrong) == "pkg/identityserver:invalid_authorization");
        // Expired 30 minutes after the scenario's "now".
        auto fresh = w.call("GET", "/api/v3/gateways/office-ttig", expired_tok);
        CHECK(fresh.status == 200);
        w.clock.advance(31min);
        auto expired = w.call("GET", "/api/v3/gateways/office-ttig", expired_tok);
        CHECK(expired.status == 401);
        CHECK(err_name(expired) == "pkg/identityserver:api_key_expired");
        // Scheme compared case-insensitively.
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig", "bearer " + alice_tok).status == 200);
    }

    TEST_CASE("§2.7 auth_info for a user key, an admin key and a gateway key") {
        world w;
        auto r = w.call("GET", "/api/v3/auth_info", alice_info_tok);
        REQUIRE(r.status == 200);
        CHECK(keys_of(r.body) == std::vector<std::string>{"api_key"});
        CHECK(r.body["api_key"]["api_key"]["id"] == key_id(alice_info_tok));
        CHECK(r.body["api_key"]["api_key"]["rights"] == ojson::array({"RIGHT_GATEWAY_INFO"}));
        CHECK(r.body["api_key"]["entity_ids"] == ojson::parse(R"({"user_ids": {"user_id": "alice"}})"));
        CHECK_FALSE(r.body["api_key"]["api_key"].contains("key"));

        auto a = w.call("GET", "/api/v3/auth_info", admin_tok);
        REQUIRE(a.status == 200);
        CHECK(a.body["is_admin"] == true);
        CHECK(a.body["api_key"]["entity_ids"] == ojson::parse(R"({"user_ids": {"user_id": "admin"}})"));
        CHECK(a.body["universal_rights"]["rights"].size() > 0);

        auto g = w.call("GET", "/api/v3/auth_info", office_lns_tok);
        REQUIRE(g.status == 200);
        CHECK(g.body["api_key"]["entity_ids"] == ojson::parse(R"({"gateway_ids": {"gateway_id": "office-ttig"}})"));
        CHECK(g.body["api_key"]["api_key"]["rights"] == ojson::array({"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}));
        CHECK(w.call("GET", "/api/v3/auth_info").body == ojson::object());
    }

    TEST_CASE("§4.1 get: field masks, always-returned fields, public subset, secrets") {
        world w;
        // No field_mask: ids, created_at, updated_at only.
        auto bare = w.call("GET", "/api/v3/gateways/office-ttig", alice_tok);
        REQUIRE(bare.status == 200);
        CHECK(keys_of(bare.body) == std::vector<std::string>{"ids", "created_at", "updated_at"});
        CHECK(bare.body["ids"] == ojson::parse(R"({"gateway_id": "office-ttig", "eui": "58A0CBFFFE801234"})"));
        CHECK(bare.body["created_at"] == "2024-09-10T10:00:00Z");

        // The doc's request of §4.1; output in proto field order, secret in plaintext base64.
        auto r = w.call("GET",
                        "/api/v3/gateways/office-ttig?field_mask=name,gateway_server_address,frequency_plan_ids,"
                        "require_authenticated_connection,attributes,lbs_lns_secret",
                        alice_tok);
        REQUIRE(r.status == 200);
        CHECK(keys_of(r.body) == std::vector<std::string>{"ids", "created_at", "updated_at", "name", "attributes",
                                                          "gateway_server_address", "frequency_plan_id",
                                                          "frequency_plan_ids", "lbs_lns_secret",
                                                          "require_authenticated_connection"});
        CHECK(r.body["frequency_plan_id"] == "EU_863_870_TTN");
        CHECK(r.body["frequency_plan_ids"] == ojson::array({"EU_863_870_TTN"}));
        CHECK(r.body["lbs_lns_secret"] ==
              ojson::parse(R"({"value": "Tk5TWFMuM0ZXWkVCNUVFWTRTNk5SQTJPMkY1S1pTRk5RRFI3SlZKMzRUVjdZLjJSQlpXTTI3U1dTVVlZSUFQSFdST0lLWEo3WlJTT1VLMkY0Wko2VUxINEZMN1hYTDdXNkE="})"));
        CHECK(r.body["attributes"] == ojson::parse(R"({"cups-last-seen": "2024-09-10T08:12:01Z"})"));

        // Zero values are omitted even when requested; message fields are always there.
        auto z = w.call("GET", "/api/v3/gateways/old-ttig?field_mask=name,status_public,version_ids,schedule_anytime_delay,frequency_plan_ids,frequency_plan_id",
                        alice_tok);
        REQUIRE(z.status == 200);
        CHECK(keys_of(z.body) == std::vector<std::string>{"ids", "created_at", "updated_at", "version_ids",
                                                          "frequency_plan_ids", "schedule_anytime_delay"});
        CHECK(z.body["version_ids"] == ojson::object());
        CHECK(z.body["schedule_anytime_delay"] == "0s");
        CHECK(z.body["frequency_plan_ids"] == ojson::array({""}));  // bunstore: strings.Split("", " ")

        // Unknown path.
        auto bad = w.call("GET", "/api/v3/gateways/office-ttig?field_mask=name,nonsense", alice_tok);
        CHECK(bad.status == 400);
        CHECK(err_name(bad) == "pkg/rpcmiddleware/validator:field_mask_paths");
        CHECK(bad.body["details"][0]["attributes"]["forbidden_paths"] == ojson::array({"nonsense"}));
        CHECK(bad.body["message"] == "error:pkg/rpcmiddleware/validator:field_mask_paths (forbidden path(s) in field mask)");

        // field_mask.paths form and nested paths.
        auto nested = w.call("GET", "/api/v3/gateways/office-ttig?field_mask.paths=lbs_lns_secret.value&field_mask.paths=name",
                             alice_tok);
        REQUIRE(nested.status == 200);
        CHECK(nested.body["name"] == "Office TTIG");
        CHECK(nested.body["lbs_lns_secret"].contains("value"));
    }

    TEST_CASE("§2.5 / §5.4 rights on someone else's gateway and on one's own") {
        world w;
        // A key without RIGHT_GATEWAY_INFO (status read only) on a private gateway of the same user.
        auto st = w.call("GET", "/api/v3/gateways/lab-ttig?field_mask=attributes", alice_status_tok);
        CHECK(st.status == 403);
        CHECK(err_name(st) == "pkg/auth/rights:insufficient_gateway_rights");
        CHECK(st.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_GATEWAY_INFO"}));
        // ... public fields only: allowed.
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig?field_mask=name", alice_status_tok).status == 200);

        // Private gateway of someone else: non-public mask -> no_gateway_rights; public mask -> 200.
        auto priv = w.call("GET", "/api/v3/gateways/bob-gw?field_mask=attributes", alice_tok);
        CHECK(priv.status == 403);
        CHECK(err_name(priv) == "pkg/auth/rights:no_gateway_rights");
        CHECK(priv.body["details"][0]["attributes"] == ojson::parse(R"({"uid": "bob-gw"})"));
        auto pub = w.call("GET", "/api/v3/gateways/bob-gw?field_mask=name", alice_tok);
        CHECK(pub.status == 200);
        CHECK(pub.body["name"] == "Bob's");
        // status_public gateway of someone else: insufficient (missing INFO); public mask shows the address.
        auto sp = w.call("GET", "/api/v3/gateways/office-ttig?field_mask=attributes", bob_tok);
        CHECK(sp.status == 403);
        CHECK(err_name(sp) == "pkg/auth/rights:insufficient_gateway_rights");
        auto spp = w.call("GET", "/api/v3/gateways/office-ttig?field_mask=name,gateway_server_address,status_public", bob_tok);
        CHECK(spp.status == 200);
        CHECK(spp.body["gateway_server_address"] == "eu1.cloud.thethings.network");
        // Non-existent ID: non-admin 403 (non-public mask) / 404 (public mask); admin 404.
        auto ne = w.call("GET", "/api/v3/gateways/no-such-gw?field_mask=attributes", alice_tok);
        CHECK(ne.status == 403);
        CHECK(err_name(ne) == "pkg/auth/rights:no_gateway_rights");
        auto nep = w.call("GET", "/api/v3/gateways/no-such-gw?field_mask=name", alice_tok);
        CHECK(nep.status == 404);
        CHECK(err_name(nep) == "pkg/identityserver/store:gateway_not_found");
        CHECK(nep.body["details"][0]["attributes"] == ojson::parse(R"({"gateway_id": "no-such-gw"})"));
        auto nea = w.call("GET", "/api/v3/gateways/no-such-gw?field_mask=attributes", admin_tok);
        CHECK(nea.status == 404);
        CHECK(err_name(nea) == "pkg/identityserver/store:gateway_not_found");
        // A gateway key with LINK (implies INFO) reads its own gateway, not others.
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig?field_mask=attributes", office_lns_tok).status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig?field_mask=attributes", office_lns_tok).status == 403);
        // Through an organization membership.
        CHECK(w.call("GET", "/api/v3/gateways/acme-gw?field_mask=name,attributes", alice_tok).status == 200);
        // Suspended users are refused before rights.
        auto sus_key = w.state->create_api_key(emu::entity_ref::user("sus"), "k", emu::rights{emu::right::all});
        REQUIRE(sus_key);
        auto sus = w.call("GET", "/api/v3/gateways/office-ttig", sus_key->token);
        CHECK(sus.status == 403);
        CHECK(err_name(sus) == "pkg/identityserver:user_suspended");
        // §4.7 the caller's rights.
        auto rights = w.call("GET", "/api/v3/gateways/office-ttig/rights", office_lns_tok);
        CHECK(rights.body == ojson::parse(R"({"rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK", "RIGHT_GATEWAY_LOCATION_READ", "RIGHT_GATEWAY_STATUS_READ"]})"));
        CHECK(w.call("GET", "/api/v3/gateways/bob-gw/rights", alice_tok).body == ojson::object());
    }

    TEST_CASE("§4.4 create: the doc's body, then EUI and ID conflicts") {
        world w;
        const std::string body = R"({"gateway": {
  "ids": {"gateway_id": "new-ttig", "eui": "58A0CBFFFE809999"}, "name": "Office TTIG",
  "gateway_server_address": "eu1.cloud.thethings.network", "frequency_plan_ids": ["EU_863_870_TTN"],
  "require_authenticated_connection": true, "status_public": true, "location_public": true,
  "enforce_duty_cycle": true, "schedule_anytime_delay": "0.530s"}})";
        auto r = w.call("POST", "/api/v3/users/alice/gateways", alice_tok, body);
        REQUIRE_MESSAGE(r.status == 200, r.body.dump());
        CHECK(r.body["ids"] == ojson::parse(R"({"gateway_id": "new-ttig", "eui": "58A0CBFFFE809999"})"));
        CHECK(r.body["administrative_contact"] == ojson::parse(R"({"user_ids": {"user_id": "alice"}})"));
        CHECK(r.body["technical_contact"] == ojson::parse(R"({"user_ids": {"user_id": "alice"}})"));
        CHECK(r.body["schedule_anytime_delay"] == "0.530s");
        CHECK(r.body["frequency_plan_id"] == "EU_863_870_TTN");
        CHECK(r.body["created_at"] == "2024-09-10T10:00:00Z");
        CHECK_FALSE(r.body.contains("auto_update"));  // false: omitted

        // Same EUI: 409 gateway_eui_taken with the holder.
        auto e = w.call("POST", "/api/v3/users/alice/gateways", alice_tok,
                        R"({"gateway": {"ids": {"gateway_id": "other-ttig", "eui": "58a0cbfffe801234"}}})");
        CHECK(e.status == 409);
        CHECK(err_name(e) == "pkg/identityserver:gateway_eui_taken");
        CHECK(e.body["details"][0]["attributes"] ==
              ojson::parse(R"({"administrative_contact": "alice", "gateway_eui": "58A0CBFFFE801234", "gateway_id": "office-ttig"})"));
        CHECK(e.body["message"] == "error:pkg/identityserver:gateway_eui_taken (a gateway with EUI `58A0CBFFFE801234` is "
                                   "already registered (by you or someone else) as `office-ttig`)");
        // Same ID, also after a soft delete: pkg/util/store:id_taken.
        auto id = w.call("POST", "/api/v3/users/alice/gateways", alice_tok, R"({"gateway": {"ids": {"gateway_id": "old-ttig"}}})");
        CHECK(id.status == 409);
        CHECK(err_name(id) == "pkg/util/store:id_taken");
        CHECK(id.body["details"][0]["cause"]["name"] == "already_exists");
        REQUIRE(w.call("DELETE", "/api/v3/gateways/old-ttig", alice_tok).status == 200);
        CHECK(err_name(w.call("POST", "/api/v3/users/alice/gateways", alice_tok,
                              R"({"gateway": {"ids": {"gateway_id": "old-ttig"}}})")) == "pkg/util/store:id_taken");
        // Rights: bob cannot create under alice; a list-only key lacks the create right.
        auto nr = w.call("POST", "/api/v3/users/alice/gateways", bob_tok, R"({"gateway": {"ids": {"gateway_id": "bobs-try"}}})");
        CHECK(nr.status == 403);
        CHECK(err_name(nr) == "pkg/auth/rights:no_user_rights");
        auto ins = w.call("POST", "/api/v3/users/alice/gateways", alice_list_tok,
                          R"({"gateway": {"ids": {"gateway_id": "list-try"}}})");
        CHECK(ins.status == 403);
        CHECK(err_name(ins) == "pkg/auth/rights:insufficient_user_rights");
        CHECK(ins.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_USER_GATEWAYS_CREATE"}));
        // Organization route.
        CHECK(w.call("POST", "/api/v3/organizations/acme/gateways", alice_tok, R"({"gateway": {"ids": {"gateway_id": "acme-two"}}})")
                  .status == 200);
        CHECK(err_name(w.call("POST", "/api/v3/organizations/acme/gateways", bob_tok,
                              R"({"gateway": {"ids": {"gateway_id": "acme-three"}}})")) ==
              "pkg/auth/rights:no_organization_rights");
        // Validation: nested cause names the field.
        auto v = w.call("POST", "/api/v3/users/alice/gateways", alice_tok,
                        R"({"gateway": {"ids": {"gateway_id": "ok-id"}, "name": ")" + std::string(51, 'n') + R"("}})");
        CHECK(v.status == 400);
        CHECK(err_name(v) == "pkg/errors:validation");
        CHECK(v.body["details"][0]["attributes"]["field"] == "gateway");
        CHECK(v.body["details"][0]["cause"]["attributes"] ==
              ojson::parse(R"({"field": "name", "name": "GatewayValidationError", "reason": "value length must be at most 50 runes"})"));
        auto bid = w.call("POST", "/api/v3/users/alice/gateways", alice_tok, R"({"gateway": {"ids": {"gateway_id": "Bad_ID"}}})");
        CHECK(bid.status == 400);
        CHECK(bid.body["details"][0]["cause"]["cause"]["attributes"]["field"] == "gateway_id");
        // Malformed JSON: 400 with code 3 and no details.
        auto mj = w.call("POST", "/api/v3/users/alice/gateways", alice_tok, "{\"gateway\": ");
        CHECK(mj.status == 400);
        CHECK(mj.body["code"] == 3);
        CHECK_FALSE(mj.body.contains("details"));
    }

    TEST_CASE("§4.5 update: the doc's body, field mask semantics, rights") {
        world w;
        const std::string body = R"({"gateway": {"gateway_server_address": "nam1.cloud.thethings.network", "frequency_plan_ids": ["US_902_928_FSB_2"],
             "require_authenticated_connection": true,
             "lbs_lns_secret": {"value": "Tk5TWFMuWkZURzdGUVZKNjdLNlVKV0JWS09MWVJGUDVES0VJUjU0TkxDQkpBLi4u"},
             "attributes": {"cups-last-seen": "2024-09-10T08:12:01Z", "site": "hq-3rd-floor"}},
 "field_mask": {"paths": ["gateway_server_address", "frequency_plan_ids", "require_authenticated_connection", "lbs_lns_secret", "attributes"]}})";
        w.clock.advance(1h);
        auto r = w.call("PUT", "/api/v3/gateways/office-ttig", alice_tok, body);
        REQUIRE_MESSAGE(r.status == 200, r.body.dump());
        CHECK(keys_of(r.body) == std::vector<std::string>{"ids", "created_at", "updated_at", "attributes", "gateway_server_address",
                                                          "frequency_plan_id", "frequency_plan_ids", "lbs_lns_secret",
                                                          "require_authenticated_connection"});
        CHECK(r.body["updated_at"] == "2024-09-10T11:00:00Z");
        CHECK(r.body["lbs_lns_secret"]["value"] == "Tk5TWFMuWkZURzdGUVZKNjdLNlVKV0JWS09MWVJGUDVES0VJUjU0TkxDQkpBLi4u");
        CHECK(r.body["attributes"] == ojson::parse(R"({"cups-last-seen": "2024-09-10T08:12:01Z", "site": "hq-3rd-floor"})"));
        auto gw = w.state->get_gateway("office-ttig");
        REQUIRE(gw);
        CHECK(gw->lbs_lns_secret() == "NNSXS.ZFTG7FQVJ67K6UJWBVKOLYRFP5DKEIR54NLCBJA...");
        CHECK(gw->name() == "Office TTIG");  // not in the mask: untouched

        // A path with a zero value clears the field; attributes replace the whole map.
        auto clear = w.call("PUT", "/api/v3/gateways/office-ttig", alice_tok,
                            R"({"gateway": {"attributes": {"only": "one"}}, "field_mask": {"paths": ["status_public", "attributes", "lbs_lns_secret"]}})");
        REQUIRE(clear.status == 200);
        gw = w.state->get_gateway("office-ttig");
        CHECK_FALSE(gw->status_public());
        CHECK(gw->attributes() == std::map<std::string, std::string>{{"only", "one"}});
        CHECK_FALSE(gw->lbs_lns_secret().has_value());
        // String form of the mask; frequency_plan_id is folded into frequency_plan_ids.
        auto fp = w.call("PUT", "/api/v3/gateways/office-ttig", alice_tok,
                         R"({"gateway": {"frequency_plan_id": "AU_915_928_FSB_2"}, "field_mask": "frequency_plan_id"})");
        REQUIRE(fp.status == 200);
        CHECK(fp.body["frequency_plan_ids"] == ojson::array({"AU_915_928_FSB_2"}));

        // Rights: the LNS key (INFO + LINK) may write only antennas/attributes; secrets need WRITE_SECRETS.
        auto link = w.call("PUT", "/api/v3/gateways/office-ttig", office_lns_tok,
                           R"({"gateway": {"attributes": {"cups-last-seen": "2024-09-10T09:00:00Z"}}, "field_mask": {"paths": ["attributes"]}})");
        CHECK(link.status == 200);
        auto nolink = w.call("PUT", "/api/v3/gateways/office-ttig", office_lns_tok,
                             R"({"gateway": {"name": "x"}, "field_mask": {"paths": ["name"]}})");
        CHECK(nolink.status == 403);
        CHECK(err_name(nolink) == "pkg/auth/rights:insufficient_gateway_rights");
        CHECK(nolink.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_GATEWAY_SETTINGS_BASIC"}));
        auto basic_key = w.state->create_api_key(emu::entity_ref::gateway("office-ttig"), "cups",
                                                 emu::rights{emu::right::gateway_info, emu::right::gateway_settings_basic,
                                                             emu::right::gateway_read_secrets});
        REQUIRE(basic_key);
        auto secret = w.call("PUT", "/api/v3/gateways/office-ttig", basic_key->token,
                             R"({"gateway": {"target_cups_key": {"value": "YWJj"}}, "field_mask": {"paths": ["target_cups_key"]}})");
        CHECK(secret.status == 403);
        CHECK(secret.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_GATEWAY_WRITE_SECRETS"}));
        // 11 attributes fail validation (the CUPS server's write would too).
        json many = json::object();
        for (int i = 0; i < 11; ++i) many[fmt::format("key-{}", i)] = "v";
        auto too_many = w.call("PUT", "/api/v3/gateways/office-ttig", alice_tok,
                               json{{"gateway", {{"attributes", many}}}, {"field_mask", {{"paths", {"attributes"}}}}}.dump());
        CHECK(too_many.status == 400);
        CHECK(too_many.body["details"][0]["cause"]["attributes"]["reason"] == "value must contain no more than 10 pair(s)");
        // ids.eui to a taken EUI.
        auto eui = w.call("PUT", "/api/v3/gateways/old-ttig", alice_tok,
                          R"({"gateway": {"ids": {"eui": "58A0CBFFFE805678"}}, "field_mask": {"paths": ["ids.eui"]}})");
        CHECK(eui.status == 409);
        CHECK(err_name(eui) == "pkg/util/store:eui_taken");
        // Empty mask: only updated_at changes.
        w.clock.advance(1min);
        auto none = w.call("PUT", "/api/v3/gateways/office-ttig", alice_tok, R"({"gateway": {"name": "ignored"}})");
        REQUIRE(none.status == 200);
        CHECK(w.state->get_gateway("office-ttig")->name() == "Office TTIG");
        CHECK(none.body["updated_at"] == "2024-09-10T11:01:00Z");
    }

    TEST_CASE("§4.6 delete, restore within the window, purge by admins only") {
        world w;
        REQUIRE(w.call("DELETE", "/api/v3/gateways/lab-ttig", alice_tok).body == ojson::object());
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig?field_mask=name", alice_tok).status == 404);
        // The EUI is released.
        CHECK(w.call("POST", "/api/v3/users/bob/gateways", bob_tok,
                     R"({"gateway": {"ids": {"gateway_id": "bob-lab", "eui": "58A0CBFFFE805678"}}})")
                  .status == 200);
        auto listed = w.call("GET", "/api/v3/gateways?deleted=true", alice_tok);
        REQUIRE(listed.status == 200);
        REQUIRE(listed.body["gateways"].size() == 1);
        CHECK(listed.body["gateways"][0]["deleted_at"] == "2024-09-10T10:00:00Z");
        // Restore keeps the ID; the EUI was taken meanwhile, so it is cleared (bunstore RestoreGateway).
        REQUIRE(w.call("POST", "/api/v3/gateways/lab-ttig/restore", alice_tok).status == 200);
        auto restored = w.state->get_gateway("lab-ttig");
        REQUIRE(restored);
        CHECK_FALSE(restored->eui().has_value());
        // Restore window.
        REQUIRE(w.call("DELETE", "/api/v3/gateways/lab-ttig", alice_tok).status == 200);
        w.clock.advance(25h);
        auto late = w.call("POST", "/api/v3/gateways/lab-ttig/restore", alice_tok);
        CHECK(late.status == 400);
        CHECK(err_name(late) == "pkg/identityserver:restore_window_expired");
        // Purge.
        auto np = w.call("DELETE", "/api/v3/gateways/lab-ttig/purge", alice_tok);
        CHECK(np.status == 403);
        CHECK(err_name(np) == "pkg/identityserver:admins_purge_gateways");
        CHECK(w.call("DELETE", "/api/v3/gateways/lab-ttig/purge", admin_tok).status == 200);
        CHECK(w.call("POST", "/api/v3/users/alice/gateways", alice_tok, R"({"gateway": {"ids": {"gateway_id": "lab-ttig"}}})")
                  .status == 200);
        // Delete rights.
        CHECK(err_name(w.call("DELETE", "/api/v3/gateways/office-ttig", bob_tok)) == "pkg/auth/rights:insufficient_gateway_rights");
    }

    TEST_CASE("§4.2 / §7 list and pagination, §4.3 search") {
        world w;
        auto all = w.call("GET", "/api/v3/gateways?field_mask=name&limit=2&page=1", alice_tok);
        REQUIRE(all.status == 200);
        CHECK(all.headers.get("X-Total-Count") == "5");  // 4 own + 1 via acme (indirect)
        REQUIRE(all.body["gateways"].size() == 2);
        CHECK(all.body["gateways"][0]["ids"]["gateway_id"] == "acme-gw");
        auto page3 = w.call("GET", "/api/v3/gateways?field_mask=name&limit=2&page=3", alice_tok);
        CHECK(page3.body["gateways"].size() == 1);
        auto beyond = w.call("GET", "/api/v3/gateways?limit=2&page=9", alice_tok);
        CHECK(beyond.status == 200);
        CHECK(beyond.body == ojson::object());
        CHECK(beyond.headers.get("X-Total-Count") == "5");
        auto direct = w.call("GET", "/api/v3/users/alice/gateways?order=-gateway_id", alice_tok);
        CHECK(direct.headers.get("X-Total-Count") == "4");
        CHECK(direct.body["gateways"][0]["ids"]["gateway_id"] == "old-ttig");
        CHECK(err_name(w.call("GET", "/api/v3/users/alice/gateways", bob_tok)) == "pkg/auth/rights:no_user_rights");
        auto lim = w.call("GET", "/api/v3/gateways?limit=1001", alice_tok);
        CHECK(lim.status == 400);
        CHECK(err_name(lim) == "pkg/errors:validation");
        CHECK(w.call("GET", "/api/v3/gateways?order=eui", alice_tok).status == 400);
        // A list-only key sees entries through memberships (listGateways uses membership rights).
        CHECK(w.call("GET", "/api/v3/gateways?field_mask=name", alice_list_tok).status == 200);
        // A gateway key is neither user nor organization: {}.
        CHECK(w.call("GET", "/api/v3/gateways", office_lns_tok).body == ojson::object());
        // Filter route.
        auto filt = w.call("POST", "/api/v3/gateways/filter", alice_tok,
                           R"({"field_mask": {"paths": ["name"]}, "filters": [{"updated_since": "2024-09-10T09:00:00Z"}]})");
        CHECK(filt.headers.get("X-Total-Count") == "5");

        // Search by EUI (case-insensitive substring); a foreign TTIG is invisible, not a 403.
        auto s = w.call("GET", "/api/v3/search/gateways?eui_contains=58a0cbfffe801234&field_mask=name,gateway_server_address&limit=10",
                        alice_tok);
        REQUIRE(s.status == 200);
        CHECK(s.headers.get("X-Total-Count") == "1");
        CHECK(s.body["gateways"][0]["name"] == "Office TTIG");
        CHECK(w.call("GET", "/api/v3/search/gateways?eui_contains=58A0CBFFFE801234", bob_tok).body == ojson::object());
        auto sf = w.call("GET", "/api/v3/search/gateways?eui_contains=58A0", office_lns_tok);
        CHECK(sf.status == 403);
        CHECK(err_name(sf) == "pkg/identityserver:search_forbidden");
        CHECK(w.call("GET", "/api/v3/search/gateways?eui_contains=0B0B", admin_tok).headers.get("X-Total-Count") == "1");
        CHECK(w.call("GET", "/api/v3/search/gateways?attributes_contain%5Bcups-last-seen%5D=2024", alice_tok)
                  .headers.get("X-Total-Count") == "1");
    }

    TEST_CASE("§4.8 API keys: create (doc example), list, get, update, revoke, delete") {
        world w;
        auto c = w.call("POST", "/api/v3/gateways/office-ttig/api-keys", alice_tok,
                        R"({"name": "lns-api-key-1725955200000", "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"], "expires_at": "2025-09-10T00:00:00Z"})");
        REQUIRE_MESSAGE(c.status == 200, c.body.dump());
        CHECK(keys_of(c.body) == std::vector<std::string>{"id", "key", "name", "rights", "created_at", "updated_at", "expires_at"});
        const std::string tok = c.body["key"];
        CHECK(tok.size() == 98);
        CHECK(tok.substr(0, 46) == "NNSXS." + c.body["id"].get<std::string>() + ".");
        CHECK(c.body["rights"] == ojson::array({"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}));
        CHECK(c.body["expires_at"] == "2025-09-10T00:00:00Z");
        // The new key works.
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig?field_mask=name", tok).status == 200);

        auto l = w.call("GET", "/api/v3/gateways/office-ttig/api-keys", alice_tok);
        REQUIRE(l.status == 200);
        CHECK(l.headers.get("X-Total-Count") == "2");
        for (const auto& k : l.body["api_keys"]) CHECK_FALSE(k.contains("key"));
        auto g = w.call("GET", "/api/v3/gateways/office-ttig/api-keys/" + c.body["id"].get<std::string>(), alice_tok);
        CHECK(g.body["name"] == "lns-api-key-1725955200000");
        CHECK_FALSE(g.body.contains("key"));
        auto nf = w.call("GET", "/api/v3/gateways/office-ttig/api-keys/NOPE", alice_tok);
        CHECK(nf.status == 404);
        CHECK(err_name(nf) == "pkg/identityserver/store:api_key_not_found");
        CHECK(nf.body["details"][0]["attributes"]["api_key_id"] == "NOPE");

        // Update (doc example).
        auto u = w.call("PUT", "/api/v3/gateways/office-ttig/api-keys/" + c.body["id"].get<std::string>(), alice_tok,
                        R"({"api_key": {"name": "lns-2024-09", "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"]}, "field_mask": {"paths": ["name", "rights"]}})");
        REQUIRE(u.status == 200);
        CHECK(u.body["name"] == "lns-2024-09");
        // Revocation via update: rights [] with rights in the mask deletes the key and returns {}.
        auto rv = w.call("PUT", "/api/v3/gateways/office-ttig/api-keys/" + c.body["id"].get<std::string>(), alice_tok,
                         R"({"api_key": {"rights": []}, "field_mask": {"paths": ["rights"]}})");
        CHECK(rv.status == 200);
        CHECK(rv.body == ojson::object());
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig/api-keys/" + c.body["id"].get<std::string>(), alice_tok).status == 404);
        CHECK(err_name(w.call("GET", "/api/v3/gateways/office-ttig?field_mask=name", tok)) == "pkg/identityserver:api_key_not_found");

        // Validation and rights.
        auto past = w.call("POST", "/api/v3/gateways/office-ttig/api-keys", alice_tok,
                           R"({"rights": ["RIGHT_GATEWAY_INFO"], "expires_at": "2020-01-01T00:00:00Z"})");
        CHECK(past.status == 400);
        CHECK(past.body["details"][0]["attributes"] ==
              ojson::parse(R"({"field": "expires_at", "name": "CreateGatewayAPIKeyRequestValidationError", "reason": "value must be greater than now"})"));
        CHECK(w.call("POST", "/api/v3/gateways/office-ttig/api-keys", alice_tok, R"({"rights": []})").status == 400);
        auto esc = w.call("POST", "/api/v3/gateways/office-ttig/api-keys", office_lns_tok, R"({"rights": ["RIGHT_GATEWAY_INFO"]})");
        CHECK(esc.status == 403);
        CHECK(esc.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_GATEWAY_SETTINGS_API_KEYS"}));
        // A key holding SETTINGS_API_KEYS cannot grant more than it has.
        auto keymgr = w.state->create_api_key(emu::entity_ref::gateway("office-ttig"), "mgr",
                                              emu::rights{emu::right::gateway_settings_api_keys, emu::right::gateway_info});
        REQUIRE(keymgr);
        auto more = w.call("POST", "/api/v3/gateways/office-ttig/api-keys", keymgr->token,
                           R"({"rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_DELETE"]})");
        CHECK(more.status == 403);
        CHECK(more.body["details"][0]["attributes"]["missing"] == ojson::array({"RIGHT_GATEWAY_DELETE"}));
        // Delete.
        CHECK(w.call("DELETE", "/api/v3/gateways/office-ttig/api-keys/" + key_id(office_lns_tok), alice_tok).status == 200);
        CHECK(err_name(w.call("GET", "/api/v3/auth_info", office_lns_tok)) == "pkg/identityserver:api_key_not_found");
    }

    TEST_CASE("rights cache: GS accepts a deleted or reduced key until the TTL passes, the IS does not") {
        world w;
        w.state->set_rights_cache_ttl(2min);
        auto k = w.call("POST", "/api/v3/gateways/lab-ttig/api-keys", alice_tok, R"({"rights": ["RIGHT_GATEWAY_STATUS_READ", "RIGHT_GATEWAY_INFO"]})");
        REQUIRE(k.status == 200);
        const std::string tok = k.body["key"];
        const std::string id = k.body["id"];
        CHECK(w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok).status == 200);
        // Remove STATUS_READ: the IS sees it at once, the GS keeps its cached answer.
        REQUIRE(w.call("PUT", "/api/v3/gateways/lab-ttig/api-keys/" + id, alice_tok,
                       R"({"api_key": {"rights": ["RIGHT_GATEWAY_INFO"]}, "field_mask": {"paths": ["rights"]}})")
                    .status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig/rights", tok).body == ojson::parse(R"({"rights": ["RIGHT_GATEWAY_INFO"]})"));
        w.clock.advance(119s);
        CHECK(w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok).status == 200);
        w.clock.advance(2s);
        auto after = w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok);
        CHECK(after.status == 403);
        CHECK(err_name(after) == "pkg/auth/rights:insufficient_gateway_rights");
        // Deleted key: also cached (failures too), then 401.
        auto k2 = w.call("POST", "/api/v3/gateways/lab-ttig/api-keys", alice_tok, R"({"rights": ["RIGHT_GATEWAY_STATUS_READ"]})");
        const std::string tok2 = k2.body["key"];
        CHECK(w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok2).status == 200);
        REQUIRE(w.call("DELETE", "/api/v3/gateways/lab-ttig/api-keys/" + k2.body["id"].get<std::string>(), alice_tok).status == 200);
        CHECK(w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok2).status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig?field_mask=name", tok2).status == 401);
        w.clock.advance(121s);
        auto gone = w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", tok2);
        CHECK(gone.status == 401);
        CHECK(err_name(gone) == "pkg/identityserver:api_key_not_found");
        // authorize_gateway: the call the CUPS/LNS emulation makes.
        auto lns = w.state->authorize_gateway("Bearer " + office_lns_tok, "office-ttig",
                                              emu::rights{emu::right::gateway_info, emu::right::gateway_link});
        CHECK(lns.has_value());
        auto cups = w.state->authorize_gateway("Bearer " + office_lns_tok, "office-ttig",
                                               emu::rights{emu::right::gateway_info, emu::right::gateway_settings_basic,
                                                           emu::right::gateway_read_secrets});
        REQUIRE_FALSE(cups.has_value());
        CHECK(cups.err().name == "insufficient_gateway_rights");
        CHECK(w.state->authorize_gateway(std::nullopt, "office-ttig", {}).err().full_name() == "pkg/rpcmetadata:unauthenticated");
    }

    TEST_CASE("§4.10 connection stats: single, other cluster, lifecycle, batch (doc example)") {
        world w;
        auto s = w.call("GET", "/api/v3/gs/gateways/office-ttig/connection/stats", alice_tok);
        REQUIRE(s.status == 200);
        CHECK(s.body == ojson::parse(R"({"connected_at": "2024-09-10T08:12:05.100Z", "protocol": "semtechws/lbslns",
            "last_status_received_at": "2024-09-10T09:40:06Z", "uplink_count": "1287", "gateway_remote_address": {"ip": "203.0.113.7"}})"));
        auto lab = w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", alice_tok);
        CHECK(lab.body["disconnected_at"] == "2024-09-09T22:01:44.500Z");
        CHECK_FALSE(lab.body.contains("connected_at"));
        auto nc = w.call("GET", "/api/v3/gs/gateways/old-ttig/connection/stats", alice_tok);
        CHECK(nc.status == 404);
        CHECK(err_name(nc) == "pkg/gatewayserver:not_connected");
        CHECK(nc.body["message"] == "error:pkg/gatewayserver:not_connected (gateway `old-ttig` not connected)");
        CHECK(nc.body["details"][0]["cause"]["namespace"] == "pkg/redis");
        // Connected to nam1: not visible on eu1 (explicitly, or by Host header), visible on nam1.
        CHECK(w.call("GET", "/api/v3/gs/gateways/nam-ttig/connection/stats", alice_tok).status == 404);
        CHECK(w.call("GET", "/api/v3/gs/gateways/nam-ttig/connection/stats", alice_tok, "", "nam1").status == 200);
        {
            proto::http_request req;
            req.method = "GET";
            req.target = "/api/v3/gs/gateways/nam-ttig/connection/stats";
            req.headers.add("Authorization", "Bearer " + alice_tok);
            req.headers.add("Host", "nam1.cloud.thethings.network:443");
            CHECK(w.api->handle(req).response.status == 200);
        }
        // Rights: someone else's private gateway / public status.
        CHECK(err_name(w.call("GET", "/api/v3/gs/gateways/old-ttig/connection/stats", bob_tok)) == "pkg/auth/rights:no_gateway_rights");
        CHECK(w.call("GET", "/api/v3/gs/gateways/office-ttig/connection/stats", bob_tok).status == 200);  // status_public
        CHECK(err_name(w.call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", alice_info_tok)) ==
              "pkg/auth/rights:insufficient_gateway_rights");

        // The LNS emulation's calls.
        const auto t0 = w.clock.now();
        REQUIRE(w.state->gateway_connected("old-ttig", "eu1", t0, "semtechws/lbslns", "198.51.100.1"));
        REQUIRE(w.state->record_uplink("old-ttig", t0 + 1s));
        REQUIRE(w.state->record_uplink("old-ttig", t0 + 2s));
        REQUIRE(w.state->record_status("old-ttig", t0 + 3s, json{{"time", "2024-09-10T10:00:03Z"}}));
        auto c = w.call("GET", "/api/v3/gs/gateways/old-ttig/connection/stats", alice_tok);
        REQUIRE(c.status == 200);
        CHECK(c.body["uplink_count"] == "2");
        CHECK(c.body["last_uplink_received_at"] == "2024-09-10T10:00:02Z");
        CHECK(c.body["last_status"] == ojson::parse(R"({"time": "2024-09-10T10:00:03Z"})"));
        REQUIRE(w.state->gateway_disconnected("old-ttig", t0 + 10s));
        // By EUI, as a station presents itself.
        REQUIRE(w.state->record_uplink(proto::eui64{0x58A0CBFFFE805678}, t0));
        CHECK(w.state->connection_stats_of("lab-ttig")->uplink_count == 1);
        auto unknown_eui = w.state->gateway_connected(proto::eui64{0x0102030405060708}, "eu1", t0);
        REQUIRE_FALSE(unknown_eui.has_value());
        CHECK(unknown_eui.err().id() == "emu.state_failed");
        auto d = w.call("GET", "/api/v3/gs/gateways/old-ttig/connection/stats", alice_tok);
        CHECK(d.body["disconnected_at"] == "2024-09-10T10:00:10Z");
        CHECK(d.body["uplink_count"] == "2");  // kept after disconnect
        w.clock.advance(48h + 11s);
        CHECK(w.call("GET", "/api/v3/gs/gateways/old-ttig/connection/stats", alice_tok).status == 404);
    }

    TEST_CASE("§4.10 batch stats: the doc's request, unknown gateways, non-user callers") {
        world w;
        const std::string body = R"({"gateway_ids": [{"gateway_id": "office-ttig"}, {"gateway_id": "lab-ttig"}, {"gateway_id": "old-ttig"}],
 "field_mask": {"paths": ["connected_at", "disconnected_at", "last_status_received_at", "uplink_count"]}})";
        auto r = w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_tok, body);
        REQUIRE_MESSAGE(r.status == 200, r.body.dump());
        // The doc's response (map order is not significant).
        CHECK(json::parse(r.body.dump()) == json::parse(R"({"entries": {
  "office-ttig": {"connected_at": "2024-09-10T08:12:05.100Z", "last_status_received_at": "2024-09-10T09:40:06Z", "uplink_count": "1287"},
  "lab-ttig": {"disconnected_at": "2024-09-09T22:01:44.500Z"}
}})"));
        // An unknown gateway in the batch: non-admins get insufficient_rights, admins some_gateways_not_found.
        const std::string unknown = R"({"gateway_ids": [{"gateway_id": "office-ttig"}, {"gateway_id": "ghost-ttig"}]})";
        auto u = w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_tok, unknown);
        CHECK(u.status == 403);
        CHECK(err_name(u) == "pkg/identityserver:insufficient_rights");
        CHECK(u.body["message"] == "error:pkg/identityserver:insufficient_rights (insufficient rights)");
        auto ua = w.call("POST", "/api/v3/gs/gateways/connection/stats", admin_tok, unknown);
        CHECK(ua.status == 404);
        CHECK(err_name(ua) == "pkg/identityserver:some_gateways_not_found");
        // A private gateway of someone else: insufficient_rights; a public one is fine.
        CHECK(err_name(w.call("POST", "/api/v3/gs/gateways/connection/stats", bob_tok,
                              R"({"gateway_ids": [{"gateway_id": "lab-ttig"}]})")) == "pkg/identityserver:insufficient_rights");
        CHECK(w.call("POST", "/api/v3/gs/gateways/connection/stats", bob_tok, R"({"gateway_ids": [{"gateway_id": "office-ttig"}]})")
                  .status == 200);
        // Token without STATUS_READ; gateway key; empty list; bad mask.
        CHECK(err_name(w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_info_tok,
                              R"({"gateway_ids": [{"gateway_id": "lab-ttig"}]})")) == "pkg/identityserver:insufficient_rights");
        CHECK(err_name(w.call("POST", "/api/v3/gs/gateways/connection/stats", office_lns_tok,
                              R"({"gateway_ids": [{"gateway_id": "office-ttig"}]})")) ==
              "pkg/identityserver:neither_user_nor_organization");
        auto empty = w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_tok, R"({"gateway_ids": []})");
        CHECK(empty.status == 400);
        CHECK(empty.body["details"][0]["attributes"]["reason"] == "value must contain between 1 and 100 items, inclusive");
        CHECK(err_name(w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_tok,
                              R"({"gateway_ids": [{"gateway_id": "lab-ttig"}], "field_mask": {"paths": ["name"]}})")) ==
              "pkg/rpcmiddleware/validator:field_mask_paths");
        // Duplicates are fine; no stats at all: {}.
        CHECK(w.call("POST", "/api/v3/gs/gateways/connection/stats", alice_tok,
                     R"({"gateway_ids": [{"gateway_id": "old-ttig"}, {"gateway_id": "old-ttig"}]})")
                  .body == ojson::object());
    }

    TEST_CASE("§4.9 claiming: info, success, and every error") {
        world w;
        auto info = w.call("POST", "/api/v3/gcls/claim/info", alice_tok, R"({"eui": "58A0CBFFFE800001"})");
        CHECK(info.body == ojson::parse(R"({"eui": "58A0CBFFFE800001", "supports_claiming": true})"));
        CHECK(w.call("POST", "/api/v3/gcls/claim/info", alice_tok, R"({"eui": "0011223344556677"})").body ==
              ojson::parse(R"({"eui": "0011223344556677"})"));
        CHECK(w.call("POST", "/api/v3/gcls/claim/info", alice_tok, R"({"eui": "EC656EFFFE000001"})").body ==
              ojson::parse(R"({"eui": "EC656EFFFE000001", "supports_claiming": true, "is_managed": true})"));
        CHECK(err_name(w.call("POST", "/api/v3/gcls/claim/info", "", R"({"eui": "58A0CBFFFE800001"})")) ==
              "pkg/rpcmetadata:unauthenticated");

        auto claim = [&](const std::string& eui, const std::string& code_b64, const std::string& id, const std::string& tok = alice_tok) {
            return w.call("POST", "/api/v3/gcls/claim", tok,
                          R"({"authenticated_identifiers": {"gateway_eui": ")" + eui + R"(", "authentication_code": ")" + code_b64 +
                              R"("}, "collaborator": {"user_ids": {"user_id": "alice"}}, "target_gateway_id": ")" + id +
                              R"(", "target_gateway_server_address": "eu1.cloud.thethings.network", "target_frequency_plan_ids": ["EU_863_870_TTN"]})");
        };
        // Already registered (anyone's gateway).
        auto exists = claim("58A0CBFFFE801234", "b2ZmaWNl", "x-ttig");
        CHECK(exists.status == 409);
        CHECK(err_name(exists) == "pkg/deviceclaimingserver:gateway_already_exists");
        CHECK(exists.body["details"][0]["attributes"] == ojson::parse(R"({"eui": "58A0CBFFFE801234"})"));
        // Not in any upstream range.
        auto ns = claim("0011223344556677", "YWJj", "x-ttig");
        CHECK(ns.status == 409);
        CHECK(err_name(ns) == "pkg/deviceclaimingserver:gateway_claiming_not_supported");
        // Wrong owner token: "claim gateway" (with a space) and the upstream cause.
        auto wrong = claim("58A0CBFFFE800001", "d3Jvbmc=", "new-ttig");
        CHECK(wrong.status == 409);
        CHECK(err_name(wrong) == "pkg/deviceclaimingserver:claim gateway");
        CHECK(wrong.body["message"] == "error:pkg/deviceclaimingserver:claim gateway (claim gateway)");
        CHECK(wrong.body["details"][0]["cause"]["name"] == "owner_token_mismatch");
        // Claimed in another deployment.
        auto elsewhere = claim("58A0CBFFFE800002", "d2lmaS1wYXNzLTI=", "new-ttig");
        CHECK(err_name(elsewhere) == "pkg/deviceclaimingserver:claim gateway");
        CHECK(elsewhere.body["details"][0]["cause"]["name"] == "gateway_claimed_elsewhere");
        // ID taken: create_gateway wrapping pkg/util/store:id_taken; the upstream claim is rolled back.
        auto taken = claim("58A0CBFFFE800001", "d2lmaS1wYXNzLTE=", "old-ttig");
        CHECK(taken.status == 409);
        CHECK(err_name(taken) == "pkg/deviceclaimingserver:create_gateway");
        CHECK(taken.body["details"][0]["cause"]["namespace"] == "pkg/util/store");
        CHECK(taken.body["details"][0]["cause"]["name"] == "id_taken");
        CHECK(w.state->claimable(proto::eui64{0x58A0CBFFFE800001})->state == emu::claimable_gateway::upstream_state::unclaimed);
        // No create rights: create_gateway wrapping no_user_rights.
        auto norights = claim("58A0CBFFFE800001", "d2lmaS1wYXNzLTE=", "new-ttig", bob_tok);
        CHECK(err_name(norights) == "pkg/deviceclaimingserver:create_gateway");
        CHECK(norights.body["details"][0]["cause"]["name"] == "no_user_rights");
        // QR code: 501.
        auto qr = w.call("POST", "/api/v3/gcls/claim", alice_tok, R"({"qr_code": "VVJOOkxXOkRQ"})");
        CHECK(qr.status == 501);
        CHECK(err_name(qr) == "pkg/deviceclaimingserver:gateway_claiming_with_qrcodes_not_implemented");
        // Success: the Wi-Fi password as base64.
        auto ok = claim("58A0CBFFFE800001", "d2lmaS1wYXNzLTE=", "new-ttig");
        REQUIRE_MESSAGE(ok.status == 200, ok.body.dump());
        CHECK(ok.body == ojson::parse(R"({"gateway_id": "new-ttig", "eui": "58A0CBFFFE800001"})"));
        auto gw = w.call("GET", "/api/v3/gateways/new-ttig?field_mask=gateway_server_address,frequency_plan_ids,require_authenticated_connection,enforce_duty_cycle",
                         alice_tok);
        CHECK(gw.body["gateway_server_address"] == "eu1.cloud.thethings.network");
        CHECK(gw.body["require_authenticated_connection"] == true);
        CHECK(gw.body["enforce_duty_cycle"] == true);
        CHECK(gw.body["frequency_plan_ids"] == ojson::array({"EU_863_870_TTN"}));
        // Unclaim: releases the upstream claim, the registry entry stays.
        CHECK(err_name(w.call("DELETE", "/api/v3/gcls/claim/new-ttig", bob_tok)) == "pkg/auth/rights:no_gateway_rights");
        CHECK(w.call("DELETE", "/api/v3/gcls/claim/new-ttig", alice_tok).body == ojson::object());
        CHECK(w.call("GET", "/api/v3/gateways/new-ttig", alice_tok).status == 200);
        CHECK(err_name(w.call("DELETE", "/api/v3/gcls/claim/old-ttig", alice_tok)) == "pkg/deviceclaimingserver:no_eui");
        CHECK(err_name(w.call("DELETE", "/api/v3/gcls/claim/bob-gw", bob_tok)) ==
              "pkg/deviceclaimingserver:gateway_claiming_not_supported");
        CHECK(w.call("POST", "/api/v3/gcls/gateways/new-ttig/authorize", alice_tok).status == 501);
    }

    TEST_CASE("§6 rate limits: headers on success and on 429, per token and entity, virtual time") {
        world w;
        w.api->set_rate_limits({{"get", 6, 2, {"grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"}}});
        auto r1 = w.call("GET", "/api/v3/gateways/office-ttig", alice_tok);
        CHECK(r1.status == 200);
        CHECK(r1.headers.get("X-Rate-Limit-Limit") == "2");
        CHECK(r1.headers.get("X-Rate-Limit-Available") == "1");
        CHECK(r1.headers.get("X-Rate-Limit-Reset") == "10");
        CHECK(r1.headers.get("X-Rate-Limit-Retry") == "0");
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig", alice_tok).status == 200);
        auto r3 = w.call("GET", "/api/v3/gateways/office-ttig", alice_tok);
        CHECK(r3.status == 429);
        CHECK(err_name(r3) == "pkg/ratelimit:rate_limit_exceeded");
        CHECK(r3.headers.get("X-Rate-Limit-Retry") == "10");
        CHECK(r3.headers.get("X-Rate-Limit-Available") == "0");
        const std::string key = "grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get:gateway:office-ttig:token:" + key_id(alice_tok);
        CHECK(r3.body["details"][0]["attributes"] == ojson{{"key", key}, {"rate", 2}});
        CHECK(r3.body["message"] == "error:pkg/ratelimit:rate_limit_exceeded (rate limit of `2` accesses per minute exceeded for resource `" + key + "`)");
        CHECK_FALSE(r3.headers.contains("Retry-After"));
        // Other token, other entity, other method: own buckets / no profile.
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig", bob_tok).status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig", alice_tok).status == 200);
        auto list = w.call("GET", "/api/v3/gateways", alice_tok);
        CHECK(list.status == 200);
        CHECK_FALSE(list.headers.contains("X-Rate-Limit-Limit"));
        // Validation comes before the limiter: a bad mask is a 400 even when limited.
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig?field_mask=bad", alice_tok).status == 400);
        w.clock.advance(10s);
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig", alice_tok).status == 200);
    }

    TEST_CASE("rate limits: a shared profile is one bucket for every method, entity and token it names") {
        world w;
        emu::rate_profile all{"deployment", 60, 3, {"grpc:method"}};
        all.shared = true;
        w.api->set_rate_limits({all});
        CHECK(w.call("GET", "/api/v3/gateways/office-ttig", alice_tok).status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig", alice_tok).status == 200);
        auto r = w.call("GET", "/api/v3/gateways", bob_tok);
        CHECK(r.status == 200);
        CHECK(r.headers.get("X-Rate-Limit-Available") == "0");
        auto limited = w.call("GET", "/api/v3/gateways/office-ttig", bob_tok);
        CHECK(limited.status == 429);
        CHECK(limited.headers.get("X-Rate-Limit-Retry") == "1");
        // One token a second comes back, for whoever asks first.
        w.clock.advance(1s);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig", bob_tok).status == 200);
        CHECK(w.call("GET", "/api/v3/gateways/lab-ttig", alice_tok).status == 429);
    }

    TEST_CASE("faults: latency, errors, resets and blackholes, seeded") {
        world w;
        emu::fault_rule slow;
        slow.rpc = "Gs.GetGatewayConnectionStats";
        slow.delay = 250ms;
        emu::fault_rule fail;
        fail.rpc = "GatewayRegistry.Get";
        fail.error_ratio = 1.0;
        emu::fault_rule reset;
        reset.path_prefix = "/api/v3/gcls/";
        reset.reset_ratio = 1.0;
        emu::fault_rule hole;
        hole.rpc = "GatewayRegistry.List";
        hole.method = "GET";
        hole.blackhole_ratio = 1.0;
        w.api->set_faults({slow, fail, reset, hole});
        auto s = w.call("GET", "/api/v3/gs/gateways/office-ttig/connection/stats", alice_tok);
        CHECK(s.status == 200);
        CHECK(s.delay == 250ms);
        auto f = w.call("GET", "/api/v3/gateways/office-ttig", alice_tok);
        CHECK(f.status == 503);
        CHECK(err_name(f) == "pkg/util/store:database_unavailable");
        CHECK(w.call("POST", "/api/v3/gcls/claim/info", alice_tok, "{}").act == emu::api_result::action::reset);
        CHECK(w.call("GET", "/api/v3/gateways", alice_tok).act == emu::api_result::action::blackhole);
        CHECK(w.call("GET", "/api/v3/auth_info", alice_tok).act == emu::api_result::action::respond);

        // A ratio draws from the seeded RNG: the same seed gives the same sequence.
        auto run = [&](std::uint64_t seed) {
            w.api->reseed(seed);
            emu::fault_rule half;
            half.rpc = "EntityAccess.AuthInfo";
            half.error_ratio = 0.5;
            half.error = emu::tts_error::make("pkg/errors:context_deadline_exceeded");
            w.api->set_faults({half});
            std::string seq;
            for (int i = 0; i < 32; ++i) seq += w.call("GET", "/api/v3/auth_info", alice_tok).status == 200 ? '.' : 'x';
            return seq;
        };
        const auto a = run(42), b = run(42), c = run(43);
        CHECK(a == b);
        CHECK(a != c);
        CHECK(a.find('x') != std::string::npos);
        CHECK(a.find('.') != std::string::npos);
    }

    TEST_CASE("routing: unknown route 404, wrong method 501, frequency plans, events refused without identifiers") {
        world w;
        auto nf = w.call("GET", "/api/v3/nothing/here", alice_tok);
        CHECK(nf.status == 404);
        CHECK(nf.body == ojson::parse(R"({"code": 5, "message": "Not Found"})"));
        auto mna = w.call("PATCH", "/api/v3/gateways/office-ttig", alice_tok);
        CHECK(mna.status == 501);
        CHECK(mna.body == ojson::parse(R"({"code": 12, "message": "Method Not Allowed"})"));
        auto fp = w.call("GET", "/api/v3/configuration/frequency-plans?gateways_only=true&band_id=EU_863_870");
        REQUIRE(fp.status == 200);
        CHECK(fp.body == ojson::parse(R"j({"frequency_plans": [{"id": "EU_863_870_TTN", "base_id": "EU_863_870",
            "name": "Europe 863-870 MHz (SF9 for RX2 - recommended)", "base_frequency": 868, "band_id": "EU_863_870"}]})j"));
        CHECK(w.call("GET", "/api/v3/configuration/frequency-plans?base_frequency=915").body["frequency_plans"].size() == 2);
        // Events.Stream is a chunked stream served by the driver (events_test.cpp); a refusal before
        // the first message is {"error": Status}.
        auto ev = w.call("POST", "/api/v3/events", alice_tok, "{}");
        CHECK(ev.act == emu::api_result::action::stream);
        CHECK(ev.status == 400);
        CHECK(ev.body["error"]["details"][0]["name"] == "no_identifiers");
    }

    TEST_CASE("state file: survives a restart, no token or secret at rest") {
        test::temp_dir dir;
        const std::string path = (dir / "tts.db").string();
        std::string created_token, created_id;
        {
            world w(path);
            auto c = w.call("POST", "/api/v3/gateways/office-ttig/api-keys", alice_tok, R"({"name": "rotated", "rights": ["RIGHT_GATEWAY_INFO"]})");
            REQUIRE(c.status == 200);
            created_token = c.body["key"];
            created_id = c.body["id"];
            REQUIRE(w.call("PUT", "/api/v3/gateways/lab-ttig", alice_tok,
                           R"({"gateway": {"name": "Lab"}, "field_mask": {"paths": ["name"]}})")
                        .status == 200);
            REQUIRE(w.state->record_uplink("office-ttig", w.clock.now()));
            auto admin = w.state->bootstrap_admin("root");
            REQUIRE(admin);
            CHECK(admin->token.size() == 98);
        }
        // Scan every file of the database (main file and WAL) for secrets.
        std::string bytes;
        for (const auto& e : std::filesystem::directory_iterator(dir.path)) bytes += test::slurp(e.path());
        CHECK(bytes.find(created_id) != std::string::npos);  // the public ID is there: the scan works
        CHECK(bytes.find(created_token) == std::string::npos);
        CHECK(bytes.find(created_token.substr(46)) == std::string::npos);      // the secret part
        CHECK(bytes.find(alice_tok.substr(46)) == std::string::npos);          // scenario tokens are hashed on load
        CHECK(bytes.find(alice_tok) == std::string::npos);
        CHECK(bytes.find("PBKDF2$sha256$10$") != std::string::npos);

        world again(path, false);  // reopen without loading the scenario again
        auto g = again.call("GET", "/api/v3/gateways/lab-ttig?field_mask=name", alice_tok);
        REQUIRE(g.status == 200);
        CHECK(g.body["name"] == "Lab");
        CHECK(again.call("GET", "/api/v3/gateways/office-ttig?field_mask=name", created_token).status == 200);
        CHECK(again.call("GET", "/api/v3/gs/gateways/office-ttig/connection/stats", alice_tok).body["uplink_count"] == "1288");
        CHECK(again.state->clusters().size() == 2);
        CHECK(again.state->claimables().size() == 4);
        CHECK(again.state->user("root")->admin);
    }

    TEST_CASE("CUPS-side helpers: gateway by EUI with its secrets, attribute writes validated as TTS does") {
        world w;
        auto gw = w.state->find_gateway_by_eui(proto::eui64{0x58A0CBFFFE801234});
        REQUIRE(gw);
        CHECK(gw->id() == "office-ttig");
        CHECK(gw->lbs_lns_secret() ==
              "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A");
        CHECK(gw->gateway_server_address() == "eu1.cloud.thethings.network");
        CHECK(gw->frequency_plan_ids() == std::vector<std::string>{"EU_863_870_TTN"});
        CHECK(gw->require_authenticated_connection());
        CHECK_FALSE(w.state->find_gateway_by_eui(proto::eui64{0x58A0CBFFFE800001}).has_value());
        // cups-last-seen in UTC, second precision, merged into the map.
        const auto seen = emu::format_time(std::chrono::floor<std::chrono::seconds>(w.clock.now() + 1500ms));
        CHECK(seen == "2024-09-10T10:00:01Z");
        auto r = w.state->set_attributes("office-ttig", {{"cups-last-seen", seen}, {"cups-station", "2.0.6(minihub/debug)"}});
        REQUIRE(r);
        CHECK(r->attributes().at("cups-last-seen") == seen);
        CHECK(r->attributes().size() == 2);
        std::map<std::string, std::string> nine;
        for (int i = 0; i < 9; ++i) nine[fmt::format("user-{}", i)] = "x";
        REQUIRE(w.state->set_attributes("lab-ttig", nine, false));
        REQUIRE(w.state->set_attributes("lab-ttig", {{"cups-last-seen", seen}}));  // 10 pairs: fine
        auto full = w.state->set_attributes("lab-ttig", {{"cups-model", "minihub"}});  // 11: refused
        REQUIRE_FALSE(full.has_value());
        CHECK(full.err().full_name() == "pkg/errors:validation");
        CHECK(full.err().cause->attributes["reason"] == "value must contain no more than 10 pair(s)");
    }

    TEST_CASE("bootstrap_admin: an admin key with all rights, token returned once") {
        proto::manual_clock clock;
        emu::state_options o;
        o.pbkdf2_iterations = 10;
        auto st = emu::tts_state::open(clock, o);
        REQUIRE(st);
        auto admin = (*st)->bootstrap_admin();
        REQUIRE(admin);
        emu::tts_api api(**st);
        proto::http_request req;
        req.method = "GET";
        req.target = "/api/v3/auth_info";
        req.headers.add("Authorization", "Bearer " + admin->token);
        auto r = api.handle(req);
        REQUIRE(r.response.status == 200);
        const auto body = json::parse(r.response.body);
        CHECK(body["is_admin"] == true);
        CHECK(body["api_key"]["api_key"]["id"] == admin->key.id);
        // The admin creates gateways for itself.
        req.method = "POST";
        req.target = "/api/v3/users/admin/gateways";
        req.body = R"({"gateway": {"ids": {"gateway_id": "first-gw", "eui": "58A0CBFFFE800009"}}})";
        CHECK(api.handle(req).response.status == 200);
        CHECK((*st)->find_gateway_by_eui(proto::eui64{0x58A0CBFFFE800009})->id() == "first-gw");
    }
}
