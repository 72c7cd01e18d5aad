#include <ttig/fleet/limiter.hpp>

#include <algorithm>
#include <cmath>
#include <thread>

namespace ttig::fleet {

using namespace std::chrono_literals;
using fsec = std::chrono::duration<double>;

limiter::limiter(const proto::clock& clock, double max_rate, std::function<void(std::chrono::nanoseconds)> sleep, std::uint64_t seed)
    : clock_(clock), cap_(max_rate), sleep_(std::move(sleep)), rng_(seed ? seed : std::random_device{}()) {
    rate_ = cap_ > 0 ? cap_ : 0;
    tokens_ = rate_ > 0 ? std::max(1.0, rate_) : 0;
    last_refill_ = clock_.now();
}

void limiter::acquire() {
    for (;;) {
        std::chrono::nanoseconds wait{0};
        {
            std::lock_guard lock(mu_);
            const auto now = clock_.now();
            if (now < paused_until_) {
                wait = paused_until_ - now;
            } else if (rate_ <= 0) {
                ++stats_.requests;
                sent_.push_back(now);
                while (!sent_.empty() && now - sent_.front() > 1s) sent_.pop_front();
                return;
            } else {
                const double dt = fsec(now - last_refill_).count();
                last_refill_ = now;
                // The bucket holds at most a second's worth, and at most half the server's burst.
                double capacity = rate_;
                if (server_burst_ > 0) capacity = std::min(capacity, server_burst_ / 2.0);
                tokens_ = std::min(std::max(1.0, capacity), tokens_ + dt * rate_);
                if (tokens_ >= 1.0) {
                    tokens_ -= 1.0;
                    ++stats_.requests;
                    sent_.push_back(now);
                    while (!sent_.empty() && now - sent_.front() > 1s) sent_.pop_front();
                    return;
                }
                wait = std::chrono::nanoseconds(static_cast<std::int64_t>((1.0 - tokens_) / rate_ * 1e9));
            }
        }
        wait = std::max<std::chrono::nanoseconds>(wait, 50us);
        if (sleep_) sleep_(wait);
        else std::this_thread::sleep_for(wait);
    }
}

void limiter::set_rate(double r) {
    if (cap_ > 0) r = std::min(r, cap_);
    r = std::max(0.5, r);
    if (rate_ <= 0) {  // pacing starts now: no saved-up tokens
        tokens_ = 0;
        last_refill_ = clock_.now();
    }
    rate_ = r;
}

void limiter::observe(int status, const std::optional<tts::rate_limit_info>& info) {
    std::lock_guard lock(mu_);
    const auto now = clock_.now();
    while (!sent_.empty() && now - sent_.front() > 1s) sent_.pop_front();

    // Measure the server's refill rate from answers of a bucket at most half full.
    const bool headers = info && info->limit > 0 && info->available >= 0;
    if (headers) {
        server_burst_ = info->limit;
        if (status != 429) ++accepted_;
        if (info->available * 2 <= info->limit) {
            samples_.push_back({now, info->available, accepted_});
            while (!samples_.empty() && now - samples_.front().at > 3s) samples_.pop_front();
            const sample& a = samples_.front();
            const sample& b = samples_.back();
            const double dt = fsec(b.at - a.at).count();
            if (dt >= 0.5 && b.accepted - a.accepted >= 8) {
                const double refill = static_cast<double>(b.available - a.available) + static_cast<double>(b.accepted - a.accepted);
                if (refill > 0) measured_ = refill / dt;
            }
        }
    }

    if (status == 429) {
        ++stats_.throttled;
        last_429_ = now;
        // Retry is truncated to whole seconds: 0 means "within a second", i.e. about one emission interval.
        const std::chrono::nanoseconds interval =
            measured_ > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / measured_)) : std::chrono::nanoseconds(100ms);
        std::chrono::nanoseconds retry = info ? std::chrono::nanoseconds(info->retry) : 0ns;
        if (retry <= 0ns) retry = interval;
        std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(1, interval.count()));
        paused_until_ = std::max(paused_until_, now + retry + std::chrono::nanoseconds(jitter(rng_)));
        // The requests in flight when the first 429 came get theirs too: one cut per second at most.
        const bool cut_recently = last_cut_ != proto::time_point{} && now - last_cut_ < 1s;
        // A burst this small leaves Available at 0 whatever the pace: nothing can be measured.
        const bool small_burst = server_burst_ > 0 && server_burst_ < 4;
        if (measured_ > 0 && !small_burst) {
            set_rate(0.98 * measured_);
        } else if (!cut_recently) {
            if (small_burst && rate_ > 0) {
                set_rate(0.9 * rate_);
            } else {
                const double recent = static_cast<double>(sent_.size());
                set_rate(0.7 * std::max(1.0, rate_ > 0 ? std::min(rate_, recent) : recent));
            }
            last_cut_ = now;
        }
        tokens_ = 0;
        last_refill_ = paused_until_;
        return;
    }
    if (rate_ <= 0) return;
    if (headers && info->available * 2 > info->limit) {
        // The server's bucket is filling up: well below its rate.
        rate_ *= 1.02;
    } else if (now - last_429_ >= 5s) {
        // No 429 for a while: probe upwards, 20 % a second (whatever the answer rate); the next 429 measures again.
        const double dt = std::min(1.0, fsec(now - std::max(last_raise_, last_429_ + 5s)).count());
        rate_ *= std::exp(0.2 * dt);
        last_raise_ = now;
    } else {
        return;
    }
    if (cap_ > 0) rate_ = std::min(rate_, cap_);
    else if (rate_ > 1e5) rate_ = 0;  // far above anything seen: unpaced again
}

limiter_stats limiter::stats() const {
    std::lock_guard lock(mu_);
    auto s = stats_;
    s.rate = rate_;
    s.measured = measured_;
    return s;
}

}  // namespace ttig::fleet
