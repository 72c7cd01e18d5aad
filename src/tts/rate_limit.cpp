#include <ttig/tts/rate_limit.hpp>

#include <charconv>

namespace ttig::tts {

namespace {

std::optional<long long> non_negative(std::optional<std::string_view> v) {
    if (!v) return std::nullopt;
    std::string_view s = *v;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    long long n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n < 0) return std::nullopt;
    return n;
}

}  // namespace

std::optional<rate_limit_info> parse_rate_limit(const proto::http_fields& headers, proto::time_point now) {
    const auto limit = non_negative(headers.get("X-Rate-Limit-Limit"));
    const auto available = non_negative(headers.get("X-Rate-Limit-Available"));
    const auto reset = non_negative(headers.get("X-Rate-Limit-Reset"));
    auto retry = non_negative(headers.get("X-Rate-Limit-Retry"));
    if (!retry) retry = non_negative(headers.get("Retry-After"));
    if (!limit && !available && !reset && !retry) return std::nullopt;
    rate_limit_info r;
    constexpr long long int_max = 1LL << 30;
    if (limit) r.limit = static_cast<int>(std::min(*limit, int_max));
    if (available) r.available = static_cast<int>(std::min(*available, int_max));
    constexpr long long max_seconds = 10LL * 365 * 24 * 3600;  // keeps time arithmetic far from overflow
    if (reset) r.reset = std::chrono::seconds{std::min(*reset, max_seconds)};
    if (retry) r.retry = std::chrono::seconds{std::min(*retry, max_seconds)};
    r.observed_at = now;
    return r;
}

void rate_limit_tracker::record(const std::string& bucket, const rate_limit_info& info) {
    std::lock_guard lock(mu_);
    buckets_[bucket] = info;
    last_ = info;
}

std::chrono::nanoseconds rate_limit_tracker::wait_before(const std::string& bucket, proto::time_point now,
                                                         const rate_limit_policy& policy) const {
    if (!policy.honour) return std::chrono::nanoseconds{0};
    std::lock_guard lock(mu_);
    auto it = buckets_.find(bucket);
    if (it == buckets_.end() || !it->second.exhausted()) return std::chrono::nanoseconds{0};
    const auto& r = it->second;
    const proto::time_point until = r.observed_at + std::max(r.reset, r.retry) + policy.margin;
    if (until <= now) return std::chrono::nanoseconds{0};
    return until - now;
}

std::optional<rate_limit_info> rate_limit_tracker::last() const {
    std::lock_guard lock(mu_);
    return last_;
}

std::optional<rate_limit_info> rate_limit_tracker::bucket(const std::string& bucket) const {
    std::lock_guard lock(mu_);
    auto it = buckets_.find(bucket);
    if (it == buckets_.end()) return std::nullopt;
    return it->second;
}

void rate_limit_tracker::clear() {
    std::lock_guard lock(mu_);
    buckets_.clear();
    last_.reset();
}

}  // namespace ttig::tts
