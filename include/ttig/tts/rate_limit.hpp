// The Things Stack's rate-limit headers and how the client honours them (tts-api.md §6).
//
// TTS limits every /api/v3 call per bucket = (gRPC method, entity, API key) with GCRA and reports
// the bucket on every response of a limited class (success or 429):
//   X-Rate-Limit-Limit      burst size
//   X-Rate-Limit-Available  requests still allowed now
//   X-Rate-Limit-Reset      whole seconds until the bucket is full again (truncated)
//   X-Rate-Limit-Retry      whole seconds until the next request is allowed (0 when not limited,
//                           and can be 0 on a 429 because of the truncation)
// The client remembers the last values per bucket. Before a request in a bucket whose last answer
// said Available = 0, it waits until that answer's Reset (+ a margin for the truncation) has
// passed, on an injectable clock and sleeper. A 429 is never retried: it is returned as an error.
#pragma once

#include <ttig/proto/clock.hpp>
#include <ttig/proto/http.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace ttig::tts {

// One response's rate-limit headers. Absent headers keep the defaults below.
struct rate_limit_info {
    int limit = -1;      // X-Rate-Limit-Limit, -1 when absent
    int available = -1;  // X-Rate-Limit-Available, -1 when absent
    std::chrono::seconds reset{0};
    std::chrono::seconds retry{0};
    proto::time_point observed_at{};  // the client's clock when the response arrived

    bool exhausted() const noexcept { return available == 0; }
    friend bool operator==(const rate_limit_info&, const rate_limit_info&) = default;
};

// The four headers of a response; nullopt when none is present (no profile applies). Values
// that are not non-negative decimal integers are ignored (treated as absent). A Retry-After in
// seconds (not produced by TTS; an edge proxy might add one) stands in for a missing
// X-Rate-Limit-Retry.
std::optional<rate_limit_info> parse_rate_limit(const proto::http_fields& headers, proto::time_point now);

struct rate_limit_policy {
    bool honour = true;  // wait before requests in an exhausted bucket
    // Added to every wait: the headers are truncated to whole seconds, so the bucket is only
    // certainly full one second after Reset.
    std::chrono::milliseconds margin{1000};
    // A wait longer than this is not done: the call fails with tts.rate_limit_wait instead.
    std::chrono::seconds max_wait{300};
};

// The last rate-limit values per bucket. Thread-safe.
class rate_limit_tracker {
public:
    void record(const std::string& bucket, const rate_limit_info& info);
    // How long to wait before sending a request in `bucket` (zero: send now). A bucket is waited
    // for when its last answer had Available = 0, until observed_at + max(Reset, Retry) + margin.
    std::chrono::nanoseconds wait_before(const std::string& bucket, proto::time_point now,
                                         const rate_limit_policy& policy) const;
    std::optional<rate_limit_info> last() const;  // the most recent response's values
    std::optional<rate_limit_info> bucket(const std::string& bucket) const;
    void clear();

private:
    mutable std::mutex mu_;
    std::map<std::string, rate_limit_info, std::less<>> buckets_;
    std::optional<rate_limit_info> last_;
};

}  // namespace ttig::tts
