// Tests for the GCRA rate limiter (tts-api.md §6) on virtual time: no test sleeps.
#include <doctest/doctest.h>

#include <ttig/emu/rate_limit.hpp>

using namespace ttig;
using namespace std::chrono_literals;

TEST_SUITE("emu.rate_limit") {
    TEST_CASE("no profile: not limited, no headers") {
        proto::manual_clock clock;
        emu::rate_limiter rl(clock);
        CHECK_FALSE(rl.take(emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/Get", "gateway:gw", "")).has_value());
    }

    TEST_CASE("burst, refill and headers as throttled's GCRA") {
        proto::manual_clock clock;
        // 60/min (one per second), burst 3.
        emu::rate_limiter rl(clock, {{"p", 60, 3, {"grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"}}});
        const auto res = emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/Get", "gateway:gw", "KEYID");
        CHECK(res.key == "grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get:gateway:gw:token:KEYID");
        CHECK(res.classes == std::vector<std::string>{"grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get", "grpc:method"});

        auto r1 = rl.take(res);
        REQUIRE(r1);
        CHECK_FALSE(r1->limited);
        CHECK(r1->limit == 3);
        CHECK(r1->remaining == 2);
        CHECK(r1->reset_after == 1s);
        CHECK(r1->retry_after == 0s);
        auto r2 = rl.take(res);
        auto r3 = rl.take(res);
        REQUIRE(r3);
        CHECK_FALSE(r3->limited);
        CHECK(r3->remaining == 0);
        CHECK(r3->reset_after == 3s);
        auto r4 = rl.take(res);
        REQUIRE(r4);
        CHECK(r4->limited);
        CHECK(r4->remaining == 0);
        CHECK(r4->retry_after == 1s);
        CHECK(r4->reset_after == 3s);

        proto::http_fields h;
        r4->apply_headers(h);
        CHECK(h.get("X-Rate-Limit-Limit") == "3");
        CHECK(h.get("X-Rate-Limit-Available") == "0");
        CHECK(h.get("X-Rate-Limit-Reset") == "3");
        CHECK(h.get("X-Rate-Limit-Retry") == "1");

        clock.advance(500ms);  // Retry rounds down: 0 on a 429 (tts-api.md §6)
        auto r5 = rl.take(res);
        REQUIRE(r5);
        CHECK(r5->limited);
        CHECK(r5->retry_after == 500ms);
        proto::http_fields h5;
        r5->apply_headers(h5);
        CHECK(h5.get("X-Rate-Limit-Retry") == "0");

        clock.advance(500ms);
        auto r6 = rl.take(res);
        REQUIRE(r6);
        CHECK_FALSE(r6->limited);
        clock.advance(10s);
        auto r7 = rl.take(res);
        REQUIRE(r7);
        CHECK(r7->remaining == 2);  // refilled

        // Another token or entity is another bucket.
        auto other = rl.take(emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/Get", "gateway:gw", "OTHER"));
        REQUIRE(other);
        CHECK(other->remaining == 2);
    }

    TEST_CASE("first matching class decides, max_burst defaults to max_per_min") {
        proto::manual_clock clock;
        emu::rate_limiter rl(clock, {{"all", 120, 0, {"grpc:method"}}, {"get", 1, 1, {"grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"}}});
        auto get = emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/Get", "", "");
        auto r = rl.take(get);
        REQUIRE(r);
        CHECK(r->profile == "get");
        CHECK(r->limit == 1);
        CHECK(rl.take(get)->limited);
        auto list = rl.take(emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/List", "", ""));
        REQUIRE(list);
        CHECK(list->profile == "all");
        CHECK(list->limit == 120);
        CHECK(list->remaining == 119);
    }

    TEST_CASE("HTTP resources: CUPS and LNS accept classes") {
        auto cups = emu::http_resource("http:gcs:cups", "/update-info", "", "203.0.113.7", "/update-info");
        CHECK(cups.key == "http:gcs:cups:ip:203.0.113.7:url:/update-info");
        CHECK(cups.classes == std::vector<std::string>{"http:gcs:cups:/update-info", "http:gcs:cups", "http"});
        auto tok = emu::http_resource("http:gcs:cups", "", "KEYID", "203.0.113.7", "/update-info");
        CHECK(tok.key == "http:gcs:cups:token:KEYID:url:/update-info");
        CHECK(emu::gateway_up_resource("office-ttig").key == "gs:up:gtw:office-ttig");
    }
}
