// Rate limiting as The Things Stack does it (lorawan-stack v3.32.1 pkg/ratelimit over
// throttled/throttled v2.12.0 GCRA; tts-api.md §6), on an injected clock.
//
// A profile {max_per_min, max_burst (default max_per_min), associations = class names} limits
// every resource whose first matching class is associated with it; a resource no profile
// matches is not limited (and gets no headers). Buckets are per resource key (a `shared` profile,
// an emulator extension: one bucket for the whole profile).
//
//   GCRA: emission interval T = 1 min / max_per_min, tolerance tau = T * max_burst,
//   limit = max_burst. A request at `now` with stored theoretical arrival time tat (or now):
//   new_tat = max(now, tat) + T; limited iff now < new_tat - tau (retry after the difference);
//   otherwise tat := new_tat. reset = tat - now; remaining = floor((tau - reset) / T).
//
// Headers (Result.SetHTTPHeaders): X-Rate-Limit-Limit, -Available, -Reset, -Retry, durations in
// whole seconds truncated (so Retry can be 0 on a 429). The 429 body is
// pkg/ratelimit:rate_limit_exceeded with attributes key and rate (= the limit).
#pragma once

#include <ttig/proto/clock.hpp>
#include <ttig/proto/http.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

struct rate_profile {
    std::string name;
    int max_per_min = 0;  // > 0
    int max_burst = 0;    // 0: max_per_min
    std::vector<std::string> associations;  // classes, e.g. "grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"
    // Emulator extension, not The Things Stack: one bucket for every resource of the profile (every
    // method, entity and key it matches), as a deployment-wide limit in front of the stack (a proxy,
    // a tenant quota) would count. Benchmarks state a rate R this way (bench/fleet_bench.cpp).
    bool shared = false;
};

// The thing being limited: a key (one bucket) and its classes, most specific first.
struct rate_resource {
    std::string key;
    std::vector<std::string> classes;
};

struct rate_result {
    bool limited = false;
    int limit = 0;      // burst size
    int remaining = 0;  // requests still allowed now
    std::chrono::nanoseconds reset_after{0};
    std::chrono::nanoseconds retry_after{0};  // 0 when not limited
    std::string profile;

    // Sets the four X-Rate-Limit-* headers.
    void apply_headers(proto::http_fields& headers) const;
};

class rate_limiter {
public:
    explicit rate_limiter(const proto::clock& clock, std::vector<rate_profile> profiles = {});

    // Replaces the profiles and forgets every bucket.
    void set_profiles(std::vector<rate_profile> profiles);
    std::vector<rate_profile> profiles() const;

    // Takes one token for the resource. nullopt: no profile applies (not limited, no headers).
    std::optional<rate_result> take(const rate_resource& resource);

private:
    const proto::clock* clock_;
    mutable std::mutex mu_;
    std::vector<rate_profile> profiles_;
    std::vector<std::map<std::string, proto::time_point>> tat_;  // per profile: key -> theoretical arrival time
};

// The resources TTS uses (pkg/ratelimit/resource.go).
// gRPC unary method called over /api/v3: key "grpc:method:<method>:<entity>[:token:<id>]",
// classes "grpc:method:<method>", "grpc:method". `entity` is "gateway:<id>" for requests naming one
// entity, else empty; `token_id` is the API key ID, empty when unauthenticated.
rate_resource grpc_method_resource(std::string_view full_method, std::string_view entity, std::string_view token_id);
// A plain HTTP route (ratelimit.HTTPMiddleware): key "<class>:token:<id>:url:<path>" or
// "<class>:ip:<ip>:url:<path>", classes "<class>:<route template>", "<class>", "http". CUPS uses
// class "http:gcs:cups"; the LNS WebSocket accept uses "gs:accept:semtechws/lbslns".
rate_resource http_resource(std::string_view class_name, std::string_view route_template, std::string_view token_id,
                            std::string_view remote_ip, std::string_view url_path);
// Upstream messages of a connected gateway: key "gs:up:gtw:<gateway id>", class "gs:up".
rate_resource gateway_up_resource(std::string_view gateway_id);

}  // namespace ttig::emu
