// tts models and calls without a server: JSON shapes from tts-api.md (copied as literals) decoded
// and encoded, and the HTTP requests the typed calls build.
#include <ttig/tts/calls.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/tts/models.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using namespace ttig;
using namespace ttig::tts;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string doc_key = "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A";

// tts-api.md §3.3.
constexpr std::string_view doc_gateway = R"J({
  "ids": {"gateway_id": "office-ttig", "eui": "58A0CBFFFE801234"},
  "created_at": "2024-03-01T10:00:00.123456Z",
  "updated_at": "2024-09-10T08:12:01.654321Z",
  "name": "Office TTIG",
  "attributes": {"cups-last-seen": "2024-09-10T08:12:01Z", "cups-station": "2.0.6(minihub/debug)",
                 "cups-model": "minihub", "cups-package": "2.0.6"},
  "administrative_contact": {"user_ids": {"user_id": "alice"}},
  "technical_contact": {"user_ids": {"user_id": "alice"}},
  "gateway_server_address": "eu1.cloud.thethings.network",
  "frequency_plan_id": "EU_863_870_TTN",
  "frequency_plan_ids": ["EU_863_870_TTN"],
  "antennas": [{"location": {"latitude": 52.37, "longitude": 4.89, "altitude": 5, "source": "SOURCE_REGISTRY"}, "placement": "INDOOR"}],
  "status_public": true, "location_public": true, "enforce_duty_cycle": true, "schedule_anytime_delay": "0.530s",
  "lbs_lns_secret": {"value": "Tk5TWFMuM0ZXWkVCNUVFWTRTNk5SQTJPMkY1S1pTRk5RRFI3SlZKMzRUVjdZLjJSQlpXTTI3U1dTVVlZSUFQSFdST0lLWEo3WlJTT1VLMkY0Wko2VUxINEZMN1hYTDdXNkE="},
  "require_authenticated_connection": true
})J";

proto::time_point at(std::int64_t unix_seconds, std::int64_t ns = 0) {
    return proto::time_point{std::chrono::seconds{unix_seconds} + std::chrono::nanoseconds{ns}};
}

}  // namespace

TEST_SUITE("tts.models") {
    TEST_CASE("timestamps: 0/3/6/9 fraction digits, UTC 'Z' (§0)") {
        CHECK(format_time(at(1725955925)) == "2024-09-10T08:12:05Z");
        CHECK(format_time(at(1725955925, 100'000'000)) == "2024-09-10T08:12:05.100Z");
        CHECK(format_time(at(1725955925, 123'456'000)) == "2024-09-10T08:12:05.123456Z");
        CHECK(format_time(at(1725955925, 123'456'789)) == "2024-09-10T08:12:05.123456789Z");
        for (const char* s : {"2024-09-10T08:12:05Z", "2024-09-10T08:12:05.100Z", "2024-09-10T08:12:05.123456Z",
                              "2024-03-01T10:00:00.123456Z", "2000-02-29T23:59:59.999999999Z"}) {
            CAPTURE(s);
            auto t = parse_time(s);
            REQUIRE(t);
            CHECK(format_time(*t) == s);
        }
        CHECK(parse_time("2024-09-10T08:12:05.1Z") == at(1725955925, 100'000'000));
        CHECK_FALSE(parse_time("2024-09-10T08:12:05+02:00"));  // offsets are rejected by TTS
        CHECK_FALSE(parse_time("2024-09-10T08:12:05"));
        CHECK_FALSE(parse_time("2023-02-29T00:00:00Z"));
        CHECK_FALSE(parse_time("2024-09-10T24:00:00Z"));
        CHECK_FALSE(parse_time("2024-09-10T08:12:05.Z"));
    }

    TEST_CASE("base64 and EUIs as TTS writes and accepts them") {
        CHECK(base64_encode("abcd1234") == "YWJjZDEyMzQ=");
        CHECK(base64_decode("YWJjZDEyMzQ=") == "abcd1234");
        CHECK(base64_decode("YWJjZDEyMzQ") == "abcd1234");
        CHECK_FALSE(base64_decode("YW*j"));
        CHECK(parse_eui_json("58A0CBFFFE801234") == proto::eui64{0x58A0CBFFFE801234});
        CHECK(parse_eui_json("58a0cbfffe801234") == proto::eui64{0x58A0CBFFFE801234});
        CHECK(parse_eui_json(base64_encode(std::string("\x58\xA0\xCB\xFF\xFE\x80\x12\x34", 8))) == proto::eui64{0x58A0CBFFFE801234});
        CHECK_FALSE(parse_eui_json("58A0CBFFFE8012"));
        CHECK_FALSE(parse_eui_json(json(42)));
        CHECK(url_encode("a b/c,d~") == "a%20b%2Fc%2Cd~");
    }

    TEST_CASE("gateway: the §3.3 example") {
        const auto g = json::parse(doc_gateway).get<gateway>();
        CHECK(g.ids.gateway_id == "office-ttig");
        CHECK(g.ids.eui == proto::eui64{0x58A0CBFFFE801234});
        REQUIRE(g.created_at);
        CHECK(format_time(*g.created_at) == "2024-03-01T10:00:00.123456Z");
        CHECK(g.name == "Office TTIG");
        CHECK(g.attributes.at("cups-station") == "2.0.6(minihub/debug)");
        CHECK(g.administrative_contact == account_ids::user("alice"));
        CHECK(g.gateway_server_address == "eu1.cloud.thethings.network");
        CHECK(g.frequency_plan_ids == std::vector<std::string>{"EU_863_870_TTN"});
        CHECK(g.status_public);
        CHECK(g.location_public);
        CHECK(g.enforce_duty_cycle);
        CHECK(g.require_authenticated_connection);
        CHECK_FALSE(g.schedule_downlink_late);
        CHECK(g.schedule_anytime_delay == "0.530s");
        REQUIRE(g.lbs_lns_secret);
        CHECK(g.lbs_lns_secret->value == doc_key);  // value = base64 of the raw API key string
        CHECK(g.raw["antennas"][0]["placement"] == "INDOOR");

        // Written back (a Create body): read-only and derived fields are dropped, unmodelled kept.
        const json out = g;
        CHECK_FALSE(out.contains("created_at"));
        CHECK_FALSE(out.contains("updated_at"));
        CHECK_FALSE(out.contains("frequency_plan_id"));
        CHECK(out["antennas"] == g.raw["antennas"]);
        CHECK(out["lbs_lns_secret"] == json::parse(doc_gateway)["lbs_lns_secret"]);
        CHECK(out["ids"] == json{{"gateway_id", "office-ttig"}, {"eui", "58A0CBFFFE801234"}});
        CHECK(out.get<gateway>().raw == out);

        // A modelled field cleared locally disappears (zero values are omitted).
        gateway g2 = g;
        g2.name.clear();
        g2.status_public = false;
        const json out2 = g2;
        CHECK_FALSE(out2.contains("name"));
        CHECK_FALSE(out2.contains("status_public"));
    }

    TEST_CASE("gateway: zero values are omitted by the server, so absent fields read as zero") {
        const auto g = json::parse(R"J({"ids":{"gateway_id":"lab-ttig"},"created_at":"2024-04-02T09:00:00Z","updated_at":"2024-04-02T09:00:00Z"})J")
                           .get<gateway>();
        CHECK(g.ids.gateway_id == "lab-ttig");
        CHECK_FALSE(g.ids.eui);
        CHECK(g.name.empty());
        CHECK(g.attributes.empty());
        CHECK_FALSE(g.lbs_lns_secret);
        CHECK_FALSE(g.status_public);
        CHECK_FALSE(g.deleted_at);
        CHECK_THROWS(json::parse(R"J({"ids":{"gateway_id":"x","eui":"nope"}})J").get<gateway>());
        CHECK_THROWS(json::parse(R"J({"name": 5})J").get<gateway>());
    }

    TEST_CASE("API key: the §4.8 create answer — raw never keeps the key") {
        const auto k = json::parse(R"J({
  "id": "3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y",
  "key": "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A",
  "name": "lns-api-key-1725955200000",
  "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"],
  "created_at": "2024-09-10T08:00:00.123Z",
  "updated_at": "2024-09-10T08:00:00.123Z",
  "expires_at": "2025-09-10T00:00:00Z"
})J")
                           .get<api_key>();
        CHECK(k.id == "3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y");
        CHECK(k.key == doc_key);
        CHECK(k.name == "lns-api-key-1725955200000");
        CHECK(k.rights == rights::lns_key());
        REQUIRE(k.expires_at);
        CHECK(format_time(*k.expires_at) == "2025-09-10T00:00:00Z");
        CHECK_FALSE(k.raw.contains("key"));
        CHECK(k.raw.dump().find("2RBZWM27") == std::string::npos);
        // Written back: the wire form without the token.
        const json out = k;
        CHECK_FALSE(out.contains("key"));
        CHECK(out == json::parse(R"J({"id": "3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y", "name": "lns-api-key-1725955200000",
  "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"], "created_at": "2024-09-10T08:00:00.123Z",
  "updated_at": "2024-09-10T08:00:00.123Z", "expires_at": "2025-09-10T00:00:00Z"})J"));
    }

    TEST_CASE("auth_info: the §2.7 example") {
        const auto a = json::parse(R"J({"api_key": {"api_key": {"id": "3FWZ", "name": "admin", "rights": ["RIGHT_ALL"],
                         "created_at": "2024-09-10T08:00:00Z", "updated_at": "2024-09-10T08:00:00Z"},
             "entity_ids": {"user_ids": {"user_id": "admin"}}},
 "universal_rights": {"rights": ["RIGHT_ALL"]},
 "is_admin": true})J")
                           .get<auth_info>();
        CHECK(a.access_method == "api_key");
        REQUIRE(a.key);
        CHECK(a.key->id == "3FWZ");
        CHECK(a.key->rights == std::vector<std::string>{"RIGHT_ALL"});
        REQUIRE(a.entity);
        CHECK(a.entity->type == entity_ids::kind::user);
        CHECK(a.entity->id == "admin");
        CHECK(a.account() == account_ids::user("admin"));
        CHECK(a.universal_rights == std::vector<std::string>{"RIGHT_ALL"});
        CHECK(a.is_admin);
        const auto anon = json::object().get<auth_info>();
        CHECK(anon.access_method.empty());
        CHECK_FALSE(anon.account());
        const auto gw = json::parse(R"J({"api_key":{"api_key":{"id":"X"},"entity_ids":{"gateway_ids":{"gateway_id":"gw1"}}}})J").get<auth_info>();
        CHECK(gw.entity->type == entity_ids::kind::gateway);
        CHECK_FALSE(gw.account());
    }

    TEST_CASE("connection stats: the §4.10 example (uint64 as strings)") {
        const json wire = json::parse(R"J({
  "connected_at": "2024-09-10T08:12:05.100Z",
  "protocol": "semtechws/lbslns",
  "last_status_received_at": "2024-09-10T08:12:06.200Z",
  "last_status": {"time": "2024-09-10T08:12:06Z", "advanced": {"model": "minihub", "features": "…"},
    "versions": {"station": "2.0.6(minihub/debug)", "firmware": "…", "package": "…", "platform": "minihub - Firmware … - Protocol 2"}},
  "last_uplink_received_at": "2024-09-10T09:40:12.345Z", "uplink_count": "1287",
  "last_downlink_received_at": "2024-09-10T09:31:00.001Z", "downlink_count": "14",
  "last_tx_acknowledgment_received_at": "2024-09-10T09:31:01.020Z", "tx_acknowledgment_count": "14",
  "round_trip_times": {"min": "0.041s", "max": "0.210s", "median": "0.062s", "count": 20},
  "sub_bands": [
    {"min_frequency": "863000000", "max_frequency": "865000000", "downlink_utilization_limit": 0.001},
    {"min_frequency": "868000000", "max_frequency": "868600000", "downlink_utilization_limit": 0.01, "downlink_utilization": 0.0004}
  ],
  "gateway_remote_address": {"ip": "203.0.113.7"}
})J");
        const auto s = wire.get<connection_stats>();
        CHECK(json(s) == wire);
        CHECK(s.connected());
        CHECK(s.protocol == "semtechws/lbslns");
        CHECK(s.uplink_count == 1287);
        CHECK(s.downlink_count == 14);
        CHECK(s.tx_acknowledgment_count == 14);
        CHECK(s.remote_ip == "203.0.113.7");
        CHECK(s.last_status["versions"]["station"] == "2.0.6(minihub/debug)");
        CHECK(s.round_trip_times["count"] == 20);
        CHECK(s.sub_bands.size() == 2);
        CHECK(format_time(*s.last_uplink_received_at) == "2024-09-10T09:40:12.345Z");
        const auto d = json::parse(R"J({"disconnected_at": "2024-09-09T22:01:44.500Z"})J").get<connection_stats>();
        CHECK_FALSE(d.connected());
        CHECK_THROWS(json::parse(R"J({"uplink_count":"12x"})J").get<connection_stats>());
    }

    TEST_CASE("claiming: the §4.9 request and answers") {
        claim_request c;
        c.gateway_eui = proto::eui64{0x58A0CBFFFE801234};
        c.authentication_code = "abcd1234";
        c.collaborator = account_ids::user("alice");
        c.target_gateway_id = "office-ttig";
        c.target_gateway_server_address = "eu1.cloud.thethings.network";
        c.target_frequency_plan_ids = {"EU_863_870_TTN"};
        CHECK(json(c) == json::parse(R"J({"authenticated_identifiers": {"gateway_eui": "58A0CBFFFE801234", "authentication_code": "YWJjZDEyMzQ="},
 "collaborator": {"user_ids": {"user_id": "alice"}}, "target_gateway_id": "office-ttig",
 "target_gateway_server_address": "eu1.cloud.thethings.network", "target_frequency_plan_ids": ["EU_863_870_TTN"]})J"));
        const auto r = json::parse(R"J({"gateway_id": "office-ttig", "eui": "58A0CBFFFE801234"})J").get<claim_result>();
        CHECK(r.gateway_id == "office-ttig");
        CHECK(r.eui == proto::eui64{0x58A0CBFFFE801234});
        const auto i = json::parse(R"J({"eui": "58A0CBFFFE801234", "supports_claiming": true})J").get<claim_info>();
        CHECK(i.supports_claiming);
        CHECK_FALSE(i.is_managed);
        CHECK_FALSE(json::parse(R"J({"eui": "58A0CBFFFE801234"})J").get<claim_info>().supports_claiming);
        CHECK(json(i) == json::parse(R"J({"eui": "58A0CBFFFE801234", "supports_claiming": true})J"));
        CHECK(json(r) == json::parse(R"J({"gateway_id": "office-ttig", "eui": "58A0CBFFFE801234"})J"));
    }

    TEST_CASE("frequency plans: the §4.12 shape") {
        const auto p = json::parse(R"J({"id": "EU_863_870_TTN", "base_id": "EU_863_870", "name": "…", "base_frequency": 868, "band_id": "EU_863_870"})J")
                           .get<frequency_plan>();
        CHECK(p.id == "EU_863_870_TTN");
        CHECK(p.base_id == "EU_863_870");
        CHECK(p.band_id == "EU_863_870");
        CHECK(p.base_frequency == 868);
        CHECK(json(p) == p.raw);
        CHECK(json(entity_ids{entity_ids::kind::gateway, "gw1"}) == json::parse(R"J({"gateway_ids": {"gateway_id": "gw1"}})J"));
    }

    TEST_CASE("page::has_more follows X-Total-Count (§7)") {
        page<int> p;
        p.limit = 2;
        p.number = 1;
        p.total = 5;
        CHECK(p.has_more());
        p.number = 3;
        CHECK_FALSE(p.has_more());
        p.total.reset();
        p.items = {1, 2};
        CHECK(p.has_more());
    }
}

TEST_SUITE("tts.calls") {
    TEST_CASE("get and search: routes, field masks and query encoding (§4.1, §4.3)") {
        auto g = calls::get_gateway("office-ttig", {"name", "gateway_server_address", "frequency_plan_ids",
                                                   "require_authenticated_connection", "attributes", "lbs_lns_secret"});
        CHECK(g.head.http.method == "GET");
        CHECK(g.head.http.target ==
              "/api/v3/gateways/office-ttig?field_mask=name,gateway_server_address,frequency_plan_ids,require_authenticated_connection,"
              "attributes,lbs_lns_secret");
        CHECK(g.head.rpc == "GatewayRegistry.Get");
        CHECK(g.head.entity == "gateway:office-ttig");
        CHECK(g.head.http.body.empty());
        CHECK(calls::get_gateway("a/b", {}).head.http.target == "/api/v3/gateways/a%2Fb");

        list_options o;
        o.field_mask = {"name", "gateway_server_address"};
        o.limit = 10;
        auto s = calls::search_gateways_by_eui(proto::eui64{0x58A0CBFFFE801234}, o);
        CHECK(s.head.http.target ==
              "/api/v3/search/gateways?eui_contains=58A0CBFFFE801234&field_mask=name,gateway_server_address&limit=10&page=1");
        CHECK(s.head.rpc == "EntityRegistrySearch.SearchGateways");

        o = {};
        o.order = "-created_at";
        o.deleted = true;
        CHECK(calls::list_gateways(list_scope::organization("acme"), o).head.http.target ==
              "/api/v3/organizations/acme/gateways?order=-created_at&limit=100&page=1&deleted=true");
        CHECK(calls::list_gateways(list_scope::user("alice"), {}).head.http.target == "/api/v3/users/alice/gateways?limit=100&page=1");
        CHECK(calls::list_gateways(list_scope::caller(), {}).head.http.target == "/api/v3/gateways?limit=100&page=1");
    }

    TEST_CASE("update: the §4.5 body shape, secrets as base64, null clears") {
        auto u = gateway_update()
                     .gateway_server_address("nam1.cloud.thethings.network")
                     .frequency_plan_ids({"US_902_928_FSB_2"})
                     .require_authenticated_connection(true)
                     .lbs_lns_secret("NNSXS.ZFTG7FQVJ67K6UJWBVKOLYRFP5DKEIR54NLCBJA...")
                     .attributes({{"cups-last-seen", "2024-09-10T08:12:01Z"}, {"site", "hq-3rd-floor"}});
        auto c = calls::update_gateway("office-ttig", u);
        CHECK(c.head.http.method == "PUT");
        CHECK(c.head.http.target == "/api/v3/gateways/office-ttig");
        const json body = json::parse(c.head.http.body);
        CHECK(body == json::parse(R"J({"gateway": {"ids": {"gateway_id": "office-ttig"},
             "gateway_server_address": "nam1.cloud.thethings.network", "frequency_plan_ids": ["US_902_928_FSB_2"],
             "require_authenticated_connection": true,
             "lbs_lns_secret": {"value": "Tk5TWFMuWkZURzdGUVZKNjdLNlVKV0JWS09MWVJGUDVES0VJUjU0TkxDQkpBLi4u"},
             "attributes": {"cups-last-seen": "2024-09-10T08:12:01Z", "site": "hq-3rd-floor"}},
 "field_mask": {"paths": ["gateway_server_address", "frequency_plan_ids", "require_authenticated_connection", "lbs_lns_secret", "attributes"]}})J"));

        auto clear = calls::update_gateway("gw1", gateway_update().lbs_lns_secret(std::nullopt).target_cups_key(std::nullopt).set("version_ids.model_id", "m"));
        const json cb = json::parse(clear.head.http.body);
        CHECK(cb["gateway"]["lbs_lns_secret"].is_null());
        CHECK(cb["gateway"]["target_cups_key"].is_null());
        CHECK(cb["gateway"]["version_ids"] == json{{"model_id", "m"}});
        CHECK(cb["field_mask"]["paths"] == json{"lbs_lns_secret", "target_cups_key", "version_ids.model_id"});

        gateway g;
        g.name = "n";
        auto from = gateway_update::from(g, {"name", "status_public", "lbs_lns_secret"});
        CHECK(from.values() == json{{"name", "n"}, {"status_public", false}, {"lbs_lns_secret", nullptr}});
    }

    TEST_CASE("API keys: create, update, and delete as an update with empty rights (§4.8)") {
        auto c = calls::create_api_key("office-ttig", "lns-api-key-1725955200000", rights::lns_key(), at(1757462400));
        CHECK(c.head.http.method == "POST");
        CHECK(c.head.http.target == "/api/v3/gateways/office-ttig/api-keys");
        CHECK(json::parse(c.head.http.body) == json::parse(R"J({"name": "lns-api-key-1725955200000", "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"], "expires_at": "2025-09-10T00:00:00Z"})J"));
        CHECK(calls::create_api_key("gw", "x", {}).head.invalid);

        api_key_update u;
        u.name = "lns-2024-09";
        u.rights = rights::lns_key();
        auto up = calls::update_api_key("office-ttig", "KEYID", u);
        CHECK(up.head.http.method == "PUT");
        CHECK(up.head.http.target == "/api/v3/gateways/office-ttig/api-keys/KEYID");
        CHECK(json::parse(up.head.http.body) == json::parse(R"J({"api_key": {"id": "KEYID", "name": "lns-2024-09", "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"]}, "field_mask": {"paths": ["name", "rights"]}})J"));
        u = {};
        u.expires_at = std::optional<time_point>{};
        CHECK(json::parse(calls::update_api_key("gw", "K", u).head.http.body)["api_key"]["expires_at"].is_null());
        CHECK(calls::update_api_key("gw", "K", {}).head.invalid);  // nothing to update
        u = {};
        u.rights = std::vector<std::string>{};
        CHECK(calls::update_api_key("gw", "K", u).head.invalid);  // would delete

        auto d = calls::delete_api_key("office-ttig", "KEYID");
        CHECK(d.head.http.method == "PUT");
        CHECK(d.head.rpc == "GatewayAccess.UpdateAPIKey");
        CHECK(json::parse(d.head.http.body) == json::parse(R"J({"api_key": {"id": "KEYID", "rights": []}, "field_mask": {"paths": ["rights"]}})J"));
        auto dr = calls::delete_api_key("office-ttig", "KEYID", api_key_delete::delete_route);
        CHECK(dr.head.http.method == "DELETE");
        CHECK(dr.head.http.target == "/api/v3/gateways/office-ttig/api-keys/KEYID");
    }

    TEST_CASE("batch stats: 1 to 100 IDs per call (§4.10)") {
        std::vector<std::string> ids{"office-ttig", "lab-ttig", "old-ttig"};
        auto b = calls::batch_connection_stats(ids, {"connected_at", "disconnected_at", "last_status_received_at", "uplink_count"});
        CHECK(b.head.http.method == "POST");
        CHECK(b.head.http.target == "/api/v3/gs/gateways/connection/stats");
        CHECK(json::parse(b.head.http.body) == json::parse(R"J({"gateway_ids": [{"gateway_id": "office-ttig"}, {"gateway_id": "lab-ttig"}, {"gateway_id": "old-ttig"}],
 "field_mask": {"paths": ["connected_at", "disconnected_at", "last_status_received_at", "uplink_count"]}})J"));
        const std::vector<std::string> many(101, "gw");
        CHECK(calls::batch_connection_stats(many).head.invalid);
        CHECK(calls::batch_connection_stats(std::span<const std::string>{}).head.invalid);
        auto entries = b.decode(proto::http_response{200, {}, R"J({"entries": {
  "office-ttig": {"connected_at": "2024-09-10T08:12:05.100Z", "last_status_received_at": "2024-09-10T09:40:06Z", "uplink_count": "1287"},
  "lab-ttig": {"disconnected_at": "2024-09-09T22:01:44.500Z"}
}})J"});
        REQUIRE(entries);
        CHECK(entries->size() == 2);
        CHECK(entries->at("office-ttig").uplink_count == 1287);
        CHECK_FALSE(entries->at("lab-ttig").connected());
        auto none = b.decode(proto::http_response{200, {}, "{}"});
        REQUIRE(none);
        CHECK(none->empty());
    }

    TEST_CASE("claim, unclaim, stats, plans, delete/restore/purge: routes") {
        CHECK(calls::get_claim_info(proto::eui64{0x58A0CBFFFE801234}).head.http.body == R"J({"eui":"58A0CBFFFE801234"})J");
        CHECK(calls::get_claim_info(proto::eui64{1}).head.http.target == "/api/v3/gcls/claim/info");
        CHECK(calls::unclaim_gateway("office-ttig").head.http.method == "DELETE");
        CHECK(calls::unclaim_gateway("office-ttig").head.http.target == "/api/v3/gcls/claim/office-ttig");
        claim_request cr;
        cr.collaborator = account_ids::user("alice");
        cr.target_gateway_id = "gw";
        cr.target_gateway_server_address = "wss://eu1.cloud.thethings.network";
        CHECK(calls::claim_gateway(cr).head.invalid);  // no scheme allowed (§4.9)
        auto s = calls::get_connection_stats("office-ttig", "https://nam1.cloud.thethings.network");
        CHECK(s.head.http.target == "/api/v3/gs/gateways/office-ttig/connection/stats");
        CHECK(s.head.base_url == "https://nam1.cloud.thethings.network");
        CHECK(calls::list_frequency_plans("EU_863_870", 868).head.http.target ==
              "/api/v3/configuration/frequency-plans?gateways_only=true&band_id=EU_863_870&base_frequency=868");
        CHECK(calls::delete_gateway("gw").head.http.target == "/api/v3/gateways/gw");
        CHECK(calls::restore_gateway("gw").head.http.target == "/api/v3/gateways/gw/restore");
        CHECK(calls::restore_gateway("gw").head.http.method == "POST");
        CHECK(calls::purge_gateway("gw").head.http.target == "/api/v3/gateways/gw/purge");
        CHECK(calls::delete_gateway("").head.invalid);
        CHECK(calls::delete_gateway("").head.invalid->id() == "tts.bad_argument");
    }

    TEST_CASE("decoders: a 2xx body that is not the expected JSON is tts.bad_response") {
        auto g = calls::get_gateway("gw", {});
        auto r = g.decode(proto::http_response{200, {}, "<html>"});
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tts.bad_response");
        r = g.decode(proto::http_response{200, {}, R"J({"ids":{"gateway_id":5}})J"});
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tts.bad_response");
        CHECK(r.err().detail.find("GatewayRegistry.Get") == 0);
    }

    TEST_CASE("cluster_base_url strips scheme and port from gateway_server_address (§1.1)") {
        CHECK(cluster_base_url("eu1.cloud.thethings.network") == "https://eu1.cloud.thethings.network");
        CHECK(cluster_base_url("wss://nam1.cloud.thethings.network:8887") == "https://nam1.cloud.thethings.network");
        CHECK(cluster_base_url("nam1.cloud.thethings.network:1887", 8443) == "https://nam1.cloud.thethings.network:8443");
        CHECK(cluster_base_url("") == "");
    }
}
