// Tests for scenario files: every error is one line naming the JSON path.
#include <doctest/doctest.h>

#include <ttig/emu/scenario.hpp>

#include "support/run_cli.hpp"

#include <nlohmann/json.hpp>

using namespace ttig;
using json = nlohmann::json;

namespace {

std::string error_of(const std::string& text) {
    auto s = emu::parse_scenario(text);
    if (s) return "ok";
    CHECK(s.err().id() == "emu.bad_scenario");
    return s.err().detail;
}

const std::string key = "NNSXS." + std::string(39, 'K') + "." + std::string(52, 'S');

}  // namespace

TEST_SUITE("emu.scenario") {
    TEST_CASE("parse errors name the JSON path") {
        CHECK(error_of("[]") == "/: a scenario is a JSON object");
        CHECK(error_of("{\"users\": ").rfind("not JSON: byte ", 0) == 0);
        CHECK(error_of(R"({"gatways": []})") == "/gatways: unknown key");
        CHECK(error_of(R"({"users": [{"name": "x"}]})") == "/users/0/user_id: required");
        CHECK(error_of(R"({"users": [{"user_id": "a", "state": "STATE_HAPPY"}]})") ==
              "/users/0/state: unknown state \"STATE_HAPPY\"");
        CHECK(error_of(R"({"options": {"rights_cache_ttl": "2 minutes"}})") ==
              "/options/rights_cache_ttl: expected a duration (\"120s\", \"0.5s\") or a number of seconds");
        CHECK(error_of(R"({"gateways": [{"gateway": {"ids": {"gateway_id": "gw-one"}, "name": 5}, "owner": {"user_id": "a"}}]})") ==
              "/gateways/0/gateway: invalid value for string field name: 5");
        CHECK(error_of(R"({"gateways": [{"gateway": {"ids": {"gateway_id": "Bad"}}, "owner": {"user_id": "a"}}]})") ==
              "/gateways/0/gateway/ids/gateway_id: invalid `gateway_id`: value does not match regex pattern "
              "\"^[a-z0-9](?:[-]?[a-z0-9]){2,}$\"");
        CHECK(error_of(R"({"gateways": [{"gateway": {"ids": {"gateway_id": "gw-one"}}}]})") ==
              "/gateways/0/owner: required: {\"user_id\": ...} or {\"organization_id\": ...}");
        CHECK(error_of(R"({"api_keys": [{"owner": {"user_id": "a"}, "key": "NNSXS.x", "rights": ["RIGHT_ALL"]}]})") ==
              "/api_keys/0/key: not an API key (NNSXS.<id>.<secret>)");
        CHECK(error_of(R"({"api_keys": [{"owner": {"user_id": "a"}, "key": ")" + key + R"(", "rights": ["RIGHT_EVERYTHING"]}]})") ==
              "/api_keys/0/rights/0: unknown right \"RIGHT_EVERYTHING\"");
        CHECK(error_of(R"({"claimable": [{"eui": "not-an-eui", "owner_token": "x"}]})").rfind("/claimable/0/eui: [eui.", 0) == 0);
        CHECK(error_of(R"({"rate_limits": [{"max_per_min": 0, "associations": ["grpc:method"]}]})") ==
              "/rate_limits/0/max_per_min: required: a positive integer");
        CHECK(error_of(R"({"rate_limits": [{"max_per_min": 5, "associations": ["grpc:method"], "shared": 1}]})") ==
              "/rate_limits/0/shared: expected true or false");
        CHECK(error_of(R"({"faults": [{"error_ratio": 2}]})") == "/faults/0/error_ratio: expected 0..1");
        CHECK(error_of(R"({"faults": [{"error": "pkg/nope:nothing"}]})").rfind("/faults/0/error: unknown TTS error", 0) == 0);
        CHECK(error_of(R"({"clusters": [{"name": "eu1", "address": "a"}, {"name": "eu1", "address": "b"}]})") ==
              "/clusters/1/name: duplicate cluster \"eu1\"");
        CHECK(error_of(R"({"gateways": [{"gateway": {"ids": {"gateway_id": "gw-one"}}, "owner": {"user_id": "a"},
                           "connection": {"cluster": "eu1"}}]})") ==
              "/gateways/0/connection: connected_at or disconnected_at is required");
    }

    TEST_CASE("apply errors name the JSON path too") {
        proto::manual_clock clock;
        auto apply = [&](const std::string& text) -> std::string {
            auto s = emu::parse_scenario(text);
            REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.err().what()));
            emu::state_options o;
            o.pbkdf2_iterations = 5;
            auto st = emu::tts_state::open(clock, o);
            REQUIRE(st);
            auto r = emu::apply_scenario(*s, **st);
            return r ? "ok" : r.err().detail;
        };
        CHECK(apply(R"({"gateways": [{"gateway": {"ids": {"gateway_id": "gw-one"}}, "owner": {"user_id": "nobody"}}]})") ==
              "/gateways/0/owner: unknown user \"nobody\"");
        CHECK(apply(R"({"users": [{"user_id": "a"}], "gateways": [
              {"gateway": {"ids": {"gateway_id": "gw-one", "eui": "58A0CBFFFE800001"}}, "owner": {"user_id": "a"}},
              {"gateway": {"ids": {"gateway_id": "gw-two", "eui": "58A0CBFFFE800001"}}, "owner": {"user_id": "a"}}]})")
                  .rfind("/gateways/1/gateway: error:pkg/identityserver:gateway_eui_taken", 0) == 0);
        CHECK(apply(R"({"users": [{"user_id": "a"}], "api_keys": [
              {"owner": {"user_id": "a"}, "key": ")" + key + R"(", "rights": ["RIGHT_ALL"]},
              {"owner": {"user_id": "a"}, "key": ")" + key + R"(", "rights": ["RIGHT_ALL"]}]})") == "/api_keys/1/key: duplicate key ID");
        CHECK(apply(R"({"users": [{"user_id": "a"}], "gateways": [{"gateway": {"ids": {"gateway_id": "gw-one"}},
              "owner": {"user_id": "a"}, "connection": {"cluster": "mars1", "connected_at": "2025-01-01T00:00:00Z"}}]})") ==
              "/gateways/0/connection/cluster: unknown cluster \"mars1\"");
        CHECK(apply(R"({"organizations": [{"organization_id": "org", "members": [{"user_id": "ghost", "rights": ["RIGHT_ALL"]}]}]})") ==
              "/organizations/0/members/0: unknown user \"ghost\"");
    }

    TEST_CASE("options, faults and a file on disk") {
        test::temp_dir dir;
        test::write_file(dir / "s.json", R"({
          "options": {"rights_cache_ttl": "30s", "restore_window": 3600, "users_create_gateways": false, "seed": 9},
          "faults": [{"rpc": "GatewayRegistry.Get", "delay_ms": 100, "error_ratio": 0.25,
                      "error": {"namespace": "pkg/errors", "name": "context_deadline_exceeded"}},
                     {"path_prefix": "/api/v3/gs/", "error": {"namespace": "x/y", "name": "boom", "code": 13, "message_format": "boom {what}"}}],
          "rate_limits": [{"name": "all", "max_per_min": 100, "associations": ["grpc:method"], "shared": true}]})");
        auto s = emu::load_scenario_file((dir / "s.json").string());
        REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.err().what()));
        emu::state_options o;
        emu::apply_options(*s, o);
        CHECK(o.rights_cache_ttl == std::chrono::seconds(30));
        CHECK(o.restore_window == std::chrono::hours(1));
        CHECK_FALSE(o.users_create_gateways);
        REQUIRE(s->faults.size() == 2);
        CHECK(s->faults[0].delay == std::chrono::milliseconds(100));
        CHECK(s->faults[0].error.full_name() == "pkg/errors:context_deadline_exceeded");
        CHECK(s->faults[0].error.code == 4);
        CHECK(s->faults[1].error.code == 13);
        CHECK(s->faults[1].error.message_format == "boom {what}");
        CHECK(s->rate_limits.at(0).max_per_min == 100);
        CHECK(s->rate_limits.at(0).shared);
        auto missing = emu::load_scenario_file((dir / "nope.json").string());
        REQUIRE_FALSE(missing.has_value());
        CHECK(missing.err().id() == "emu.bad_scenario");
        CHECK(missing.err().detail.find("nope.json: cannot read the file") != std::string::npos);
    }
}
