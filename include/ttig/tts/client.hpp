// tts::client: The Things Stack REST client ttigctl uses, over net::http_client.
//
//   tts::client_options o;
//   o.base_url = "https://eu1.cloud.thethings.network";
//   o.api_key = key;                           // sent as "Authorization: Bearer <key>"
//   tts::client c(o);                          // owns an io_context: blocking calls
//   auto gw = c.get_gateway("office-ttig", {"name", "gateway_server_address"});
//   if (!gw) fmt::print("{}\n", gw.err());     // [tts.pkg/auth/rights:no_gateway_rights] …
//   else if (const tts::api_error* e = gw.api()) …
//
// Asynchronous use (a client on an executor; completions run on that executor, so use it from
// coroutines on the same single-threaded io_context):
//   tts::client c(ioc.get_executor(), o);
//   auto call = tts::calls::get_gateway(id, {"name"});  // GCC 12 rejects a braced list inside a
//   auto r = co_await c.async_run(std::move(call), asio::use_awaitable);  // co_await ("array used as initializer")
//
// Behaviour:
//  - One deadline per request (resolve, connect, TLS, send, read); TLS verification on unless
//    tls.insecure; --resolve entries in `hosts`. Transport and TLS failures are net/tls errors.
//  - No silent retries anywhere: every failure, including 429, is returned.
//  - Rate limits (rate_limit.hpp): the X-Rate-Limit-* headers of every answer are recorded per
//    bucket (RPC, entity, origin); before a request in an exhausted bucket the client waits until
//    its reset (blocking: options.sleep; async: options.async_sleep, without which the call fails
//    with tts.rate_limit_wait). A 429 is returned as pkg/ratelimit:rate_limit_exceeded with
//    api_error::retry_after(); its bucket is recorded as empty for at least max(1 s, Retry) even
//    when the answer has no rate-limit headers, so the next call in that bucket waits.
//  - Secrets: the API key is never logged nor put in an error detail; logs show "NNSXS.ABCD…".
//    The log sink gets one line per request (method, path, status, duration, rate-limit state).
//  - Not thread-safe: one blocking call at a time per client (the net layer's rule).
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/net/tls.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/http.hpp>
#include <ttig/tts/calls.hpp>
#include <ttig/tts/error.hpp>
#include <ttig/tts/events.hpp>
#include <ttig/tts/models.hpp>
#include <ttig/tts/rate_limit.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ttig::tts {

using sleeper = std::function<void(std::chrono::nanoseconds)>;
using async_sleeper = std::function<void(std::chrono::nanoseconds, boost::asio::any_completion_handler<void()>)>;

struct client_options {
    std::string base_url = "https://eu1.cloud.thethings.network";  // the Identity Server's host (§1.1)
    std::string api_key;  // empty: no Authorization header (anonymous caller)
    std::chrono::milliseconds deadline{30000};
    net::tls_client_config tls;  // verification on by default
    net::host_map hosts;         // --resolve
    std::string user_agent = "ttigctl";
    std::size_t body_limit = 16u << 20;
    rate_limit_policy rate_limit;
    const proto::clock* clock = nullptr;  // nullptr: the system clock (must outlive the client)
    sleeper sleep;                        // nullptr: std::this_thread::sleep_for
    async_sleeper async_sleep;            // nullptr: async calls that would wait fail (tts.rate_limit_wait)
    net::log_sink log;                    // optional; never receives secrets
    // Optional gate shared by many clients (fleet's adaptive limiter): `before` runs before every
    // request is sent (it may block), `after` with the answer's status (0: transport failure) and
    // rate-limit headers. Blocking calls only.
    std::function<void()> before_request;
    std::function<void(int status, const std::optional<rate_limit_info>& info)> after_response;
};

// The outcome of batch_connection_stats over any number of IDs.
struct batch_failure {
    std::vector<std::string> gateway_ids;  // the chunk that failed
    proto::error error;
    std::shared_ptr<const api_error> api;  // when The Things Stack answered with an error
};
struct batch_stats {
    std::map<std::string, connection_stats> entries;  // gateways with stats on that cluster
    std::vector<std::string> absent;                   // asked for in a successful chunk, no stats
    std::vector<batch_failure> failures;               // TTS errors (and transport errors) as values
    std::size_t calls = 0;                             // HTTP requests made (one per ≤100 IDs)
    bool complete() const noexcept { return failures.empty(); }
};

namespace detail {
template <class T>
result<T> finish(result<proto::http_response> raw, const decoder<T>& decode) {
    if (!raw) return result<T>(raw.err(), raw.api_ptr());
    auto v = decode(*raw);
    if constexpr (std::is_void_v<T>) {
        if (!v) return result<T>(std::move(v).err());
        return result<T>();
    } else {
        if (!v) return result<T>(std::move(v).err());
        return result<T>(std::move(*v));
    }
}
}  // namespace detail

class client {
public:
    // A client owning a private io_context: blocking calls.
    explicit client(client_options options);
    // A client on an external executor: async_run only (blocking calls fail with net.aborted).
    client(boost::asio::any_io_executor ex, client_options options);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    const std::string& base_url() const noexcept;
    std::string redacted_key() const;  // "NNSXS.ABCD…", or "" without a key

    // ---- generic ----
    template <class T>
    result<T> run(const call<T>& c) {
        return detail::finish<T>(exec(c.head), c.decode);
    }

    template <class T, class CompletionToken>
    auto async_run(call<T> c, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(result<T>)>(
            [this](auto handler, call<T> cl) {
                auto decode = std::move(cl.decode);
                async_exec(std::move(cl.head),
                           boost::asio::any_completion_handler<void(result<proto::http_response>)>(
                               [h = std::move(handler), d = std::move(decode)](result<proto::http_response> r) mutable {
                                   std::move(h)(detail::finish<T>(std::move(r), d));
                               }));
            },
            token, std::move(c));
    }

    // ---- rate limits ----
    std::optional<rate_limit_info> last_rate_limit() const;  // the last answer's headers
    // The bucket of an RPC ("GatewayAccess.ListRights") and entity ("gateway:gw1", or "").
    std::optional<rate_limit_info> rate_limit_of(std::string_view rpc, std::string_view entity,
                                                 std::string_view base_url = {}) const;

    // ---- typed blocking calls (tts-api.md §2.7, §4) ----
    result<auth_info> get_auth_info() { return run(calls::get_auth_info()); }
    result<gateway> get_gateway(const std::string& gateway_id, const std::vector<std::string>& field_mask = {}) {
        return run(calls::get_gateway(gateway_id, field_mask));
    }
    result<page<gateway>> list_gateways(const list_scope& scope = list_scope::caller(), const list_options& options = {}) {
        return run(calls::list_gateways(scope, options));
    }
    // Every page from options.page on, re-reading X-Total-Count on each (at most max_pages).
    result<std::vector<gateway>> list_all_gateways(const list_scope& scope = list_scope::caller(), list_options options = {},
                                                   std::size_t max_pages = 10000);
    result<page<gateway>> search_gateways_by_eui(proto::eui64 eui, const list_options& options = {}) {
        return run(calls::search_gateways_by_eui(eui, options));
    }
    result<gateway> create_gateway(const account_ids& owner, const gateway& g) { return run(calls::create_gateway(owner, g)); }
    result<gateway> update_gateway(const std::string& gateway_id, const gateway_update& update) {
        return run(calls::update_gateway(gateway_id, update));
    }
    result<void> delete_gateway(const std::string& gateway_id) { return run(calls::delete_gateway(gateway_id)); }
    result<void> restore_gateway(const std::string& gateway_id) { return run(calls::restore_gateway(gateway_id)); }
    result<void> purge_gateway(const std::string& gateway_id) { return run(calls::purge_gateway(gateway_id)); }
    result<std::vector<std::string>> list_gateway_rights(const std::string& gateway_id) {
        return run(calls::list_gateway_rights(gateway_id));
    }

    result<api_key> create_api_key(const std::string& gateway_id, const std::string& name, const std::vector<std::string>& rights,
                                   std::optional<time_point> expires_at = std::nullopt) {
        return run(calls::create_api_key(gateway_id, name, rights, expires_at));
    }
    result<page<api_key>> list_api_keys(const std::string& gateway_id, std::uint32_t limit = 100, std::uint32_t page_number = 1,
                                        const std::string& order = {}) {
        return run(calls::list_api_keys(gateway_id, limit, page_number, order));
    }
    result<api_key> get_api_key(const std::string& gateway_id, const std::string& key_id) {
        return run(calls::get_api_key(gateway_id, key_id));
    }
    result<api_key> update_api_key(const std::string& gateway_id, const std::string& key_id, const api_key_update& update) {
        return run(calls::update_api_key(gateway_id, key_id, update));
    }
    result<void> delete_api_key(const std::string& gateway_id, const std::string& key_id,
                                api_key_delete how = api_key_delete::update_empty_rights) {
        return run(calls::delete_api_key(gateway_id, key_id, how));
    }

    result<claim_info> get_claim_info(proto::eui64 eui) { return run(calls::get_claim_info(eui)); }
    result<claim_result> claim_gateway(const claim_request& request) { return run(calls::claim_gateway(request)); }
    result<void> unclaim_gateway(const std::string& gateway_id) { return run(calls::unclaim_gateway(gateway_id)); }

    result<connection_stats> get_connection_stats(const std::string& gateway_id, const std::string& cluster_url = {}) {
        return run(calls::get_connection_stats(gateway_id, cluster_url));
    }
    // Any number of IDs, in calls of at most 100 (duplicates removed first). Never fails as a
    // whole: each chunk's failure is reported in batch_stats::failures.
    batch_stats batch_connection_stats(std::span<const std::string> gateway_ids, const std::vector<std::string>& field_mask = {},
                                       const std::string& cluster_url = {});

    // ---- events (events.hpp) ----
    // Opens the events stream and reads it for at most `window` (connecting included), or until
    // max_events events (0: no limit) arrived, or the server ends it; what arrived is the answer.
    // Errors: the stream's refusal (400 unknown_event_name, 403 no_gateway_rights, 429, ...) as
    // for any call, transport failures before the response header (net.timeout when the window
    // ends first). Blocking only.
    result<events_read> read_events(const events_request& request, std::chrono::milliseconds window, std::size_t max_events = 0);

    result<std::vector<frequency_plan>> list_frequency_plans(const std::string& band_id = {}, std::uint32_t base_frequency = 0) {
        return run(calls::list_frequency_plans(band_id, base_frequency));
    }

    struct impl;  // opaque

private:
    result<proto::http_response> exec(const request_head& head);
    void async_exec(request_head head, boost::asio::any_completion_handler<void(result<proto::http_response>)> handler);

    std::shared_ptr<impl> p_;
};

}  // namespace ttig::tts
