// The emulated CUPS server against the protocol doc: basicstation-protocol §1.4–§1.8 and the
// vectors TV1, TV4, TV6, TV11. Expected bytes are written from the doc's layout, not produced by
// our encoder.
#include <ttig/emu/cups.hpp>
#include <ttig/emu/tts_api.hpp>
#include <ttig/proto/bytes.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <regex>

using namespace ttig;
using namespace ttig::emu;

namespace {

std::string unhex(std::string_view h) {
    proto::bytes b;
    REQUIRE(proto::from_hex(h, b));
    return std::string(b.begin(), b.end());
}

// TTS's blob for trust "LETS NOT ENCRYPT" and key "token" (TV1), and the station CRC of it.
const char* tv1_hex = "4c455453204e4f5420454e435259505400000000417574686f72697a6174696f6e3a20746f6b656e0d0a";
constexpr std::uint32_t tv1_crc = 2538017681u;
// TV6: tcUri wss://lns.example.com:8887 + tcCred TV1.
const char* tv6_hex =
    "001a7773733a2f2f6c6e732e6578616d706c652e636f6d3a3838383700002a004c455453204e4f5420454e435259505400000000417574686f"
    "72697a6174696f6e3a20746f6b656e0d0a000000000000000000000000";

struct cups_fixture {
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};
    std::unique_ptr<tts_state> state;
    std::unique_ptr<tts_api> api;
    rate_limiter limiter{clock};
    std::unique_ptr<cups_server> cups;
    std::string admin, cups_key;
    std::vector<std::string> trust_lookups;

    cups_fixture() {
        state_options o;
        o.pbkdf2_iterations = 1000;
        auto s = tts_state::open(clock, o);
        REQUIRE(s.has_value());
        state = std::move(*s);
        REQUIRE(state->set_clusters({cluster_info{"eu1", "lns.example.com", true}}).has_value());
        auto a = state->bootstrap_admin();
        REQUIRE(a.has_value());
        admin = a->token;
        api = std::make_unique<tts_api>(*state);
        // TTS dials the address and takes the root of the verified chain; here the "root" is the
        // doc's 16-byte placeholder so that blobs equal TV1.
        cups = std::make_unique<cups_server>(*state, limiter, cups_options{}, [this](const std::string& hp) -> proto::result<proto::bytes> {
            trust_lookups.push_back(hp);
            return proto::to_bytes("LETS NOT ENCRYPT");
        });
        call("POST", "/api/v3/users/admin/gateways",
             R"({"gateway":{"ids":{"gateway_id":"ttig-1","eui":"58A0CBFFFE123456"},"frequency_plan_ids":["EU_863_870_TTN"],
                 "gateway_server_address":"wss://lns.example.com:8887"}})");
        auto key = call("POST", "/api/v3/gateways/ttig-1/api-keys",
                        R"({"name":"cups","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"]})");
        cups_key = key["key"].get<std::string>();
    }

    nlohmann::json call(const std::string& method, const std::string& target, const std::string& body = {}) {
        proto::http_request r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.headers.set("Authorization", "Bearer " + admin);
        r.headers.set("Content-Type", "application/json");
        auto res = api->handle(r);
        REQUIRE_MESSAGE(res.response.status == 200, target, " -> ", res.response.body);
        return nlohmann::json::parse(res.response.body);
    }
    void set_lns_secret(const std::string& secret) {
        call("PUT", "/api/v3/gateways/ttig-1",
             nlohmann::json{{"gateway", {{"lbs_lns_secret", {{"value", base64_encode(secret)}}}}}, {"field_mask", {{"paths", {"lbs_lns_secret"}}}}}.dump());
    }
    proto::http_response update_info(const std::string& body, std::optional<std::string> authorization) {
        proto::http_request r;
        r.method = "POST";
        r.target = "/update-info";
        r.body = body;
        r.remote_address = "127.0.0.1:40000";
        r.headers.set("Content-Type", "application/json");
        r.headers.set("Content-Length", fmt::format("{:>5}", body.size()));
        if (authorization) r.headers.set("Authorization", *authorization);
        return cups->handle(r);
    }
};

std::string request_body(const std::string& tc_uri_json, std::uint32_t tc_crc, const std::string& cups_uri_json = R"("https://lns.example.com:443")") {
    return fmt::format(R"({{"router":"58a0:cbff:fe12:3456","cupsUri":{},"tcUri":{},"cupsCredCrc":2077607535,"tcCredCrc":{},"station":"2.0.6(minihub/std) 2024-05-01 12:00:00","model":"minihub","package":"1.0.0","keys":[]}})",
                       cups_uri_json, tc_uri_json, tc_crc);
}

// The body with every correlation_id replaced by "X".
std::string normalise(const std::string& body) {
    static const std::regex cid(R"("correlation_id": "[0-9a-f]{32}")");
    return std::regex_replace(body, cid, R"("correlation_id": "X")");
}

}  // namespace

TEST_SUITE("emu.cups") {
    TEST_CASE_FIXTURE(cups_fixture, "update-info: new LNS URI and credentials is TV6 byte for byte") {
        set_lns_secret("token");
        auto res = update_info(request_body("null", 2077607535u), cups_key);  // no Bearer: TTS prepends it
        REQUIRE_MESSAGE(res.status == 200, res.body);
        CHECK(res.headers.get("Content-Type") == "application/octet-stream");
        CHECK(res.body == unhex(tv6_hex));
        CHECK(trust_lookups == std::vector<std::string>{"lns.example.com:8887"});
        // cups-* attributes written by the CUPS server, cups-last-seen as Go's time.RFC3339
        auto gw = state->get_gateway("ttig-1");
        REQUIRE(gw.has_value());
        auto attrs = gw->attributes();
        CHECK(attrs["cups-last-seen"] == "2025-01-01T00:00:00Z");
        CHECK(attrs["cups-station"] == "2.0.6(minihub/std) 2024-05-01 12:00:00");
        CHECK(attrs["cups-model"] == "minihub");
        CHECK(attrs["cups-package"] == "1.0.0");
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: no change is TV4's 18 zero bytes, and the trust is cached per address") {
        set_lns_secret("token");
        auto res = update_info(request_body(R"("wss://lns.example.com:8887")", tv1_crc), "Bearer " + cups_key);
        REQUIRE_MESSAGE(res.status == 200, res.body);
        CHECK(res.body == std::string(18, '\0'));
        auto again = update_info(request_body(R"("wss://lns.example.com:8887")", tv1_crc), cups_key);
        CHECK(again.body == std::string(18, '\0'));
        CHECK(trust_lookups.size() == 1);
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: CUPS key rotation (branch B) sends only the CUPS blob") {
        set_lns_secret("token");
        call("PUT", "/api/v3/gateways/ttig-1",
             nlohmann::json{{"gateway", {{"target_cups_key", {{"value", base64_encode("token")}}}}}, {"field_mask", {{"paths", {"target_cups_key"}}}}}.dump());
        auto res = update_info(request_body("null", 2077607535u), cups_key);
        REQUIRE_MESSAGE(res.status == 200, res.body);
        // cupsUriLen 0, tcUriLen 0, cupsCredLen 42 + TV1, tcCredLen 0, sigLen 0, keyCRC 0, updLen 0
        CHECK(res.body == unhex(std::string("0000") + "2a00" + tv1_hex + "0000" + "00000000" + "00000000" + "00000000"));
        CHECK(trust_lookups == std::vector<std::string>{"lns.example.com:443"});  // the request's cupsUri
        // once the station holds the new key, nothing more (and still no LNS settings)
        auto done = update_info(request_body("null", 2077607535u).replace(request_body("null", 2077607535u).find("2077607535"), 10,
                                                                         std::to_string(tv1_crc)),
                                cups_key);
        CHECK(done.body == std::string(18, '\0'));
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: CUPS redirect (branch A) only with the server option") {
        set_lns_secret("token");
        call("PUT", "/api/v3/gateways/ttig-1",
             nlohmann::json{{"gateway", {{"target_cups_uri", "https://cups.example.com:443"}, {"target_cups_key", {{"value", base64_encode("token")}}}}},
                            {"field_mask", {{"paths", {"target_cups_uri", "target_cups_key"}}}}}
                 .dump());
        cups_options allow;
        allow.allow_cups_uri_update = true;
        cups_server redirecting(*state, limiter, allow, [](const std::string&) -> proto::result<proto::bytes> { return proto::to_bytes("LETS NOT ENCRYPT"); });
        proto::http_request r;
        r.method = "POST";
        r.target = "/update-info";
        r.body = request_body("null", 2077607535u);
        r.headers.set("Authorization", cups_key);
        auto res = redirecting.handle(r);
        REQUIRE_MESSAGE(res.status == 200, res.body);
        // TV7's cupsUri segment, then the CUPS blob (TV1), no LNS fields
        CHECK(res.body == unhex(std::string("1c68747470733a2f2f637570732e6578616d706c652e636f6d3a343433") + "00" + "2a00" + tv1_hex + "0000" +
                                "000000000000000000000000"));
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: unknown EUI is TTS's 404, tab-indented, equal up to correlation_id") {
        auto res = update_info(R"({"router":"58a0:cbff:fe12:3457","cupsUri":null,"tcUri":null,"cupsCredCrc":0,"tcCredCrc":0,"station":"","model":"","package":null,"keys":[]})",
                               cups_key);
        CHECK(res.status == 404);
        CHECK(res.headers.get("Content-Type") == "application/json");
        const std::string want =
            "{\n"
            "\t\"code\": 5,\n"
            "\t\"message\": \"error:pkg/identityserver/store:gateway_not_found_by_eui (gateway with eui `58A0CBFFFE123457` not found)\",\n"
            "\t\"details\": [\n"
            "\t\t{\n"
            "\t\t\t\"@type\": \"type.googleapis.com/ttn.lorawan.v3.ErrorDetails\",\n"
            "\t\t\t\"namespace\": \"pkg/identityserver/store\",\n"
            "\t\t\t\"name\": \"gateway_not_found_by_eui\",\n"
            "\t\t\t\"message_format\": \"gateway with eui `{gateway_eui}` not found\",\n"
            "\t\t\t\"attributes\": {\n"
            "\t\t\t\t\"gateway_eui\": \"58A0CBFFFE123457\"\n"
            "\t\t\t},\n"
            "\t\t\t\"correlation_id\": \"X\",\n"
            "\t\t\t\"code\": 5\n"
            "\t\t}\n"
            "\t]\n"
            "}\n";
        CHECK(normalise(res.body) == want);
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: a bad key is 401 unauthenticated with the auth error as cause") {
        set_lns_secret("token");
        auto res = update_info(request_body("null", 0), "Bearer NNSXS.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        CHECK(res.status == 401);
        auto j = nlohmann::json::parse(res.body);
        CHECK(j["code"] == 16);
        CHECK(j["message"] == "error:pkg/basicstation/cups:unauthenticated (call was not authenticated)");
        CHECK(j["details"][0]["namespace"] == "pkg/basicstation/cups");
        CHECK(j["details"][0]["name"] == "unauthenticated");
        CHECK(j["details"][0]["message_format"] == "call was not authenticated");
        CHECK(j["details"][0].contains("cause"));
        // no header at all: same outer error
        auto none = update_info(request_body("null", 0), std::nullopt);
        CHECK(none.status == 401);
        CHECK(nlohmann::json::parse(none.body)["details"][0]["name"] == "unauthenticated");
        // an LNS-only key (INFO + LINK) lacks SETTINGS_BASIC and READ_SECRETS
        auto lns = call("POST", "/api/v3/gateways/ttig-1/api-keys", R"({"name":"lns","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]})");
        auto weak = update_info(request_body("null", 0), lns["key"].get<std::string>());
        CHECK(weak.status == 401);
        CHECK(nlohmann::json::parse(weak.body)["details"][0]["cause"]["name"] == "insufficient_gateway_rights");
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: missing LNS key is 404 lns_credentials_not_found naming the gateway") {
        auto res = update_info(request_body("null", 0), cups_key);
        CHECK(res.status == 404);
        auto j = nlohmann::json::parse(res.body);
        CHECK(j["message"] == "error:pkg/basicstation/cups:lns_credentials_not_found (LNS credentials not found for gateway `ttig-1`)");
        CHECK(j["details"][0]["attributes"]["gateway_uid"] == "ttig-1");
        CHECK(j["details"][0]["code"] == 5);
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: parse errors are 409, a zero router 400") {
        auto bad = update_info("{", cups_key);
        CHECK(bad.status == 409);
        CHECK(nlohmann::json::parse(bad.body)["message"] == "error:pkg/basicstation/cups:parse (request body parsing)");
        auto upper = update_info(R"({"router":"58A0:CBFF:FE12:3456"})", cups_key);
        CHECK(upper.status == 409);
        CHECK(nlohmann::json::parse(upper.body)["details"][0]["cause"]["name"] == "format");
        auto zero = update_info(R"({"router":"::0"})", cups_key);
        CHECK(zero.status == 400);
        CHECK(nlohmann::json::parse(zero.body)["message"] == "error:pkg/basicstation/cups:missing_router (missing router)");
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: a plain ws:// address gets the URI but no credentials, an unknown host 404 server_trust") {
        set_lns_secret("token");
        call("PUT", "/api/v3/gateways/ttig-1", R"({"gateway":{"gateway_server_address":"ws://192.168.2.3"},"field_mask":{"paths":["gateway_server_address"]}})");
        auto res = update_info(request_body("null", 2077607535u), cups_key);
        REQUIRE(res.status == 200);
        // tcUri ws://192.168.2.3:1887, nothing else
        CHECK(res.body == std::string("\x00\x15", 2) + "ws://192.168.2.3:1887" + std::string(16, '\0'));
        cups_server failing(*state, limiter, cups_options{}, [](const std::string& hp) -> proto::result<proto::bytes> {
            return proto::error{std::make_error_code(std::errc::host_unreachable), "dial tcp: lookup " + hp};
        });
        call("PUT", "/api/v3/gateways/ttig-1", R"({"gateway":{"gateway_server_address":"wss://nowhere.example:8887"},"field_mask":{"paths":["gateway_server_address"]}})");
        proto::http_request r;
        r.method = "POST";
        r.target = "/update-info";
        r.body = request_body("null", 0);
        r.headers.set("Authorization", cups_key);
        auto fail = failing.handle(r);
        CHECK(fail.status == 404);
        CHECK(nlohmann::json::parse(fail.body)["message"] ==
              "error:pkg/basicstation/cups:server_trust (fetch server trust for address `wss://nowhere.example:8887`)");
    }

    TEST_CASE_FIXTURE(cups_fixture, "update-info: the http:gcs:cups rate limit answers 429 with TTS's headers") {
        set_lns_secret("token");
        limiter.set_profiles({rate_profile{"cups", 2, 2, {"http:gcs:cups"}}});
        CHECK(update_info(request_body("null", 0), cups_key).status == 200);
        CHECK(update_info(request_body("null", 0), cups_key).status == 200);
        auto limited = update_info(request_body("null", 0), cups_key);
        CHECK(limited.status == 429);
        CHECK(limited.headers.get("X-Rate-Limit-Limit") == "2");
        CHECK(nlohmann::json::parse(limited.body)["details"][0]["name"] == "rate_limit_exceeded");
        clock.advance(std::chrono::seconds(60));
        CHECK(update_info(request_body("null", 0), cups_key).status == 200);
    }
}
