// The request pacing of a fleet run, shared by every worker: a token bucket whose rate adapts to
// The Things Stack's answers (tts-api.md §6) and never exceeds --max-rate.
//
//  - With --max-rate R the bucket starts at R requests/s (burst: one second's worth, at least 1).
//    Without it the run starts unpaced.
//  - A 429 pauses every worker until max(1 s, X-Rate-Limit-Retry) plus jitter has passed, and cuts
//    the rate to 70 % of what was sent in the last second (multiplicative decrease).
//  - An answer whose headers say Available = 0 pauses until its Retry (no request is wasted on a 429).
//  - Answers with headers showing more than half the burst left raise the rate by 5 %, up to R (or,
//    without R, until the pacing is dropped again).
// Time and sleep are injected (tests drive them).
#pragma once

#include <ttig/proto/clock.hpp>
#include <ttig/tts/rate_limit.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>

namespace ttig::fleet {

struct limiter_stats {
    std::size_t requests = 0;
    std::size_t throttled = 0;  // 429 answers
    std::size_t paused = 0;     // pauses ordered by headers or 429s
    double rate = 0;            // the current paced rate (0: unpaced)
};

class limiter {
public:
    limiter(const proto::clock& clock, double max_rate, std::function<void(std::chrono::nanoseconds)> sleep, std::uint64_t seed = 0);

    // Blocks until a request may be sent.
    void acquire();
    // The answer of a request sent after acquire(): its HTTP status (0: transport failure) and headers.
    void observe(int status, const std::optional<tts::rate_limit_info>& info);

    limiter_stats stats() const;

private:
    const proto::clock& clock_;
    const double cap_;
    std::function<void(std::chrono::nanoseconds)> sleep_;
    mutable std::mutex mu_;
    double rate_ = 0;  // 0: unpaced
    double tokens_ = 0;
    proto::time_point last_refill_{};
    proto::time_point paused_until_{};
    std::deque<proto::time_point> sent_;  // send times within the last second
    std::mt19937_64 rng_;
    limiter_stats stats_;
};

}  // namespace ttig::fleet
