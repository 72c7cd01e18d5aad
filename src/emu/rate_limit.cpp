#include <ttig/emu/rate_limit.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace ttig::emu {

void rate_result::apply_headers(proto::http_fields& headers) const {
    using std::chrono::seconds;
    headers.set("X-Rate-Limit-Limit", std::to_string(limit));
    headers.set("X-Rate-Limit-Available", std::to_string(remaining));
    headers.set("X-Rate-Limit-Reset", std::to_string(std::chrono::duration_cast<seconds>(reset_after).count()));
    headers.set("X-Rate-Limit-Retry", std::to_string(std::chrono::duration_cast<seconds>(retry_after).count()));
}

rate_limiter::rate_limiter(const proto::clock& clock, std::vector<rate_profile> profiles) : clock_(&clock) {
    set_profiles(std::move(profiles));
}

void rate_limiter::set_profiles(std::vector<rate_profile> profiles) {
    std::lock_guard lock(mu_);
    profiles_.clear();
    for (auto& p : profiles)
        if (p.max_per_min > 0 && !p.associations.empty()) profiles_.push_back(std::move(p));
    tat_.assign(profiles_.size(), {});
}

std::vector<rate_profile> rate_limiter::profiles() const {
    std::lock_guard lock(mu_);
    return profiles_;
}

std::optional<rate_result> rate_limiter::take(const rate_resource& resource) {
    std::lock_guard lock(mu_);
    // muxRateLimiter: the first class with an associated profile decides.
    std::size_t index = profiles_.size();
    for (const auto& cls : resource.classes) {
        for (std::size_t i = 0; i < profiles_.size() && index == profiles_.size(); ++i) {
            const auto& a = profiles_[i].associations;
            if (std::find(a.begin(), a.end(), cls) != a.end()) index = i;
        }
        if (index != profiles_.size()) break;
    }
    if (index == profiles_.size()) return std::nullopt;
    const rate_profile& p = profiles_[index];
    const int burst = p.max_burst > 0 ? p.max_burst : p.max_per_min;

    // throttled.NewGCRARateLimiterCtx(store, RateQuota{PerMin(max_per_min), MaxBurst: burst - 1}).
    using std::chrono::nanoseconds;
    const nanoseconds emission = nanoseconds(std::chrono::minutes(1)) / p.max_per_min;
    const nanoseconds tolerance = emission * burst;
    const proto::time_point now = clock_->now();
    auto& buckets = tat_[index];
    const std::string& key = p.shared ? p.name : resource.key;
    auto it = buckets.find(key);
    const proto::time_point tat = it == buckets.end() ? now : it->second;
    const proto::time_point new_tat = (now > tat ? now : tat) + emission;
    const proto::time_point allow_at = new_tat - tolerance;

    rate_result r;
    r.limit = burst;
    r.profile = p.name;
    nanoseconds ttl{0};
    if (now < allow_at) {
        r.limited = true;
        r.retry_after = allow_at - now;
        ttl = tat - now;
    } else {
        buckets[key] = new_tat;
        ttl = new_tat - now;
    }
    const nanoseconds next = tolerance - ttl;
    if (next > -emission) r.remaining = static_cast<int>(next / emission);
    r.reset_after = ttl;
    return r;
}

rate_resource grpc_method_resource(std::string_view full_method, std::string_view entity, std::string_view token_id) {
    rate_resource r;
    r.key = fmt::format("grpc:method:{}:{}", full_method, entity);
    if (!token_id.empty()) r.key += fmt::format(":token:{}", token_id);
    r.classes = {fmt::format("grpc:method:{}", full_method), "grpc:method"};
    return r;
}

rate_resource http_resource(std::string_view class_name, std::string_view route_template, std::string_view token_id,
                            std::string_view remote_ip, std::string_view url_path) {
    rate_resource r;
    const std::string caller = token_id.empty() ? fmt::format("ip:{}", remote_ip) : fmt::format("token:{}", token_id);
    r.key = fmt::format("{}:{}:url:{}", class_name, caller, url_path);
    if (!route_template.empty()) r.classes.push_back(fmt::format("{}:{}", class_name, route_template));
    r.classes.emplace_back(class_name);
    r.classes.emplace_back("http");
    return r;
}

rate_resource gateway_up_resource(std::string_view gateway_id) {
    rate_resource r;
    r.key = fmt::format("gs:up:gtw:{}", gateway_id);
    r.classes = {"gs:up"};
    return r;
}

}  // namespace ttig::emu
