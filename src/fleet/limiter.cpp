#include <ttig/fleet/limiter.hpp>

#include <algorithm>
#include <thread>

namespace ttig::fleet {

using namespace std::chrono_literals;

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
                return;
            } else {
                const double dt = std::chrono::duration<double>(now - last_refill_).count();
                last_refill_ = now;
                tokens_ = std::min(std::max(1.0, rate_), tokens_ + dt * rate_);
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
        wait = std::max<std::chrono::nanoseconds>(wait, 100us);
        if (sleep_) sleep_(wait);
        else std::this_thread::sleep_for(wait);
    }
}

void limiter::observe(int status, const std::optional<tts::rate_limit_info>& info) {
    std::lock_guard lock(mu_);
    const auto now = clock_.now();
    while (!sent_.empty() && now - sent_.front() > 1s) sent_.pop_front();
    if (status == 429) {
        ++stats_.throttled;
        ++stats_.paused;
        const auto retry = std::max<std::chrono::nanoseconds>(1s, info ? std::chrono::nanoseconds(info->retry) : 0ns);
        std::uniform_int_distribution<int> jitter(0, 250);
        paused_until_ = std::max(paused_until_, now + retry + std::chrono::milliseconds(jitter(rng_)));
        const double recent = static_cast<double>(sent_.size());
        double next = 0.7 * std::max(1.0, rate_ > 0 ? std::min(rate_, recent) : recent);
        if (cap_ > 0) next = std::min(next, cap_);
        rate_ = std::max(0.5, next);
        tokens_ = 0;
        last_refill_ = paused_until_;
        return;
    }
    if (!info || info->limit <= 0) return;
    if (info->available == 0) {
        ++stats_.paused;
        paused_until_ = std::max(paused_until_, now + std::max<std::chrono::nanoseconds>(info->retry, 200ms));
        return;
    }
    if (rate_ > 0 && info->available * 2 > info->limit) {
        rate_ *= 1.05;
        if (cap_ > 0) rate_ = std::min(rate_, cap_);
        else if (rate_ > 1e5) rate_ = 0;  // far above anything seen: unpaced again
    }
}

limiter_stats limiter::stats() const {
    std::lock_guard lock(mu_);
    auto s = stats_;
    s.rate = rate_;
    return s;
}

}  // namespace ttig::fleet
