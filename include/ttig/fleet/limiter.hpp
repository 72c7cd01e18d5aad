// The request pacing of a fleet run, shared by every worker: a token bucket whose rate follows The
// Things Stack's rate-limit headers (tts-api.md §6) and never exceeds --max-rate.
//
// The server's limit is a GCRA bucket: burst `X-Rate-Limit-Limit`, `X-Rate-Limit-Available` tokens
// left, refilled at a rate R it does not state. R is measured from the answers: between two answers
// of a bucket that was not full, R = (Available now - Available then + requests accepted in between)
// / elapsed time (at least 0.5 s and 8 answers apart). Then:
//
//  - Start: with --max-rate R the bucket starts at R requests/s (burst: one second's worth, at
//    least 1, and once the headers told it, at most half the server's burst); without it the run
//    starts unpaced.
//  - A 429 pauses every worker until X-Rate-Limit-Retry has passed — truncated to whole seconds, so
//    a Retry of 0 means "less than a second": then one measured emission interval (1/R), or 100 ms
//    while R is unknown — plus jitter; the rate becomes 98 % of the measured R, or 70 % of what was
//    sent in the last second while R is unknown (multiplicative decrease). A server burst under 4
//    tells nothing (Available stays 0 whatever the pace): the rate becomes 90 % of the current one.
//  - Answers with more than half the burst left raise the rate by 2 % each: the server's bucket is
//    filling up, the run is well below its rate.
//  - Otherwise, after 5 s without a 429, the rate goes up by 20 % a second (continuously):
//    a probe for a server rate that went up; the next 429 measures it again.
//  - Never above --max-rate; without a cap, a rate far above anything seen drops the pacing.
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
    double rate = 0;            // the current paced rate (0: unpaced)
    double measured = 0;        // the server's refill rate measured from its headers (0: not yet)
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
    struct sample {
        proto::time_point at;
        int available;
        std::size_t accepted;  // accepted_ when this answer arrived (itself included)
    };
    void set_rate(double r);

    const proto::clock& clock_;
    const double cap_;
    std::function<void(std::chrono::nanoseconds)> sleep_;
    mutable std::mutex mu_;
    double rate_ = 0;  // 0: unpaced
    double tokens_ = 0;
    proto::time_point last_refill_{};
    proto::time_point paused_until_{};
    std::deque<proto::time_point> sent_;  // send times within the last second
    std::deque<sample> samples_;          // answers of a bucket that was not full, last 3 s
    std::size_t accepted_ = 0;            // answers with headers that were not 429
    double measured_ = 0;
    int server_burst_ = 0;  // the last X-Rate-Limit-Limit seen
    proto::time_point last_429_{};
    proto::time_point last_raise_{};
    proto::time_point last_cut_{};
    std::mt19937_64 rng_;
    limiter_stats stats_;
};

}  // namespace ttig::fleet
