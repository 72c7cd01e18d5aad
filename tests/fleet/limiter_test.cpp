// The fleet limiter against The Things Stack's own rate limiter (emu::rate_limiter: GCRA, headers as
// TTS writes them) on virtual time: requests go out when the limiter allows, the server bucket
// decides, its headers come back through the client's header parser after a loopback-like latency.
// The limiter must reach the server's rate without being told it, waste few requests on 429s, and
// never exceed --max-rate.
#include <doctest/doctest.h>

#include <ttig/emu/rate_limit.hpp>
#include <ttig/fleet/limiter.hpp>
#include <ttig/tts/rate_limit.hpp>

#include <deque>
#include <vector>

using namespace ttig;
using namespace std::chrono_literals;

namespace {

struct outcome {
    std::size_t sent = 0, accepted = 0, throttled = 0;
    std::size_t max_in_one_second = 0;  // accepted or not, in any 1 s window
    double measured = 0;
};

// `workers` requests in flight: each worker acquires and sends in turn (the server decides at send
// time), then the answers of the round arrive `latency` later, all of them — as answers to
// concurrent requests do, after the state they describe has moved on.
outcome simulate(double server_rate, int burst, double max_rate, std::chrono::seconds length, std::chrono::microseconds latency,
                 int workers = 1) {
    proto::manual_clock clock;
    emu::rate_profile p{"deployment", static_cast<int>(server_rate * 60), burst, {"grpc:method"}};
    p.shared = true;
    emu::rate_limiter server(clock, {p});
    fleet::limiter lim(clock, max_rate, [&](std::chrono::nanoseconds d) { clock.advance(d); }, 42);
    const auto end = clock.now() + length;
    const auto resource = emu::grpc_method_resource("/ttn.lorawan.v3.GatewayRegistry/Update", "gateway:gw-1", "KEYID");
    outcome o;
    std::deque<proto::time_point> window;
    while (clock.now() < end) {
        std::vector<emu::rate_result> round;
        for (int w = 0; w < workers; ++w) {
            lim.acquire();
            const auto sent_at = clock.now();
            ++o.sent;
            window.push_back(sent_at);
            while (sent_at - window.front() >= 1s) window.pop_front();
            o.max_in_one_second = std::max(o.max_in_one_second, window.size());
            auto r = server.take(resource);
            REQUIRE(r.has_value());
            round.push_back(*r);
        }
        clock.advance(latency);
        for (const auto& r : round) {
            proto::http_fields headers;
            r.apply_headers(headers);
            if (r.limited) ++o.throttled;
            else ++o.accepted;
            lim.observe(r.limited ? 429 : 200, tts::parse_rate_limit(headers, clock.now()));
        }
    }
    o.measured = lim.stats().measured;
    return o;
}

}  // namespace

TEST_CASE("fleet limiter: finds an unstated server rate from the headers and runs just under it") {
    // 100 requests/s, burst 50; the client starts unpaced and could send 500/s.
    const auto o = simulate(100, 50, 0, 120s, 2ms);
    INFO("sent " << o.sent << " accepted " << o.accepted << " 429 " << o.throttled << " measured " << o.measured);
    const double possible = 100.0 * 120 + 50;  // what the server can accept in the run
    CHECK(static_cast<double>(o.accepted) >= 0.95 * possible);
    CHECK(static_cast<double>(o.accepted) <= possible);
    CHECK(static_cast<double>(o.throttled) <= 0.02 * static_cast<double>(o.sent));
    CHECK(o.measured == doctest::Approx(100).epsilon(0.05));
}

TEST_CASE("fleet limiter: 16 requests in flight when the first 429 comes do not cut the rate 16 times") {
    const auto o = simulate(50, 50, 0, 120s, 3ms, 16);
    INFO("sent " << o.sent << " accepted " << o.accepted << " 429 " << o.throttled << " measured " << o.measured);
    CHECK(static_cast<double>(o.accepted) >= 0.95 * (50.0 * 120 + 50));
    CHECK(static_cast<double>(o.throttled) <= 0.03 * static_cast<double>(o.sent));
}

TEST_CASE("fleet limiter: a slow server rate and a burst of one") {
    // Available is always 0 here, so nothing can be measured: the limiter backs off and probes.
    // A burst of one is the worst case (every request must be one emission interval apart).
    const auto o = simulate(5, 1, 0, 120s, 5ms);
    INFO("sent " << o.sent << " accepted " << o.accepted << " 429 " << o.throttled << " measured " << o.measured);
    CHECK(static_cast<double>(o.accepted) >= 0.75 * (5.0 * 120));
    CHECK(static_cast<double>(o.throttled) <= 0.05 * static_cast<double>(o.sent));
}

TEST_CASE("fleet limiter: --max-rate below the server's rate is never exceeded") {
    const auto o = simulate(100, 50, 40, 60s, 2ms);
    INFO("sent " << o.sent << " accepted " << o.accepted << " 429 " << o.throttled);
    CHECK(o.throttled == 0);
    CHECK(o.max_in_one_second <= 2 * 40 + 1);  // the first second: R plus the bucket's one second's worth
    CHECK(static_cast<double>(o.sent) <= 40 * 60 + 40 + 1);
    CHECK(static_cast<double>(o.sent) >= 0.97 * 40 * 60);
}

TEST_CASE("fleet limiter: --max-rate above the server's rate still converges on the server's") {
    const auto o = simulate(100, 20, 300, 60s, 1ms);
    INFO("sent " << o.sent << " accepted " << o.accepted << " 429 " << o.throttled << " measured " << o.measured);
    CHECK(static_cast<double>(o.accepted) >= 0.95 * (100.0 * 60 + 20));
    CHECK(static_cast<double>(o.throttled) <= 0.03 * static_cast<double>(o.sent));
}

TEST_CASE("fleet limiter: without headers and without a cap nothing is paced") {
    proto::manual_clock clock;
    fleet::limiter lim(clock, 0, [&](std::chrono::nanoseconds d) { clock.advance(d); }, 1);
    const auto start = clock.now();
    for (int i = 0; i < 1000; ++i) {
        lim.acquire();
        lim.observe(200, std::nullopt);
    }
    CHECK(clock.now() == start);
    CHECK(lim.stats().requests == 1000);
    CHECK(lim.stats().rate == 0);
}
