#include <ttig/tts/client.hpp>

#include <ttig/net/error.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <thread>

namespace ttig::tts {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::string origin_of(std::string_view base_url) {
    auto u = net::parse_url(base_url);
    return u ? u->origin() : std::string(base_url);
}

std::string rate_text(const std::optional<rate_limit_info>& r) {
    if (!r) return {};
    return fmt::format(" [rate limit: {} of {} available, reset {} s, retry {} s]", r->available, r->limit, r->reset.count(),
                       r->retry.count());
}

}  // namespace

struct client::impl : std::enable_shared_from_this<impl> {
    client_options opts;
    std::optional<boost::asio::any_io_executor> ex;  // set for an async client
    std::unique_ptr<net::http_client> http;
    proto::system_clock system;
    const proto::clock* clock = nullptr;
    rate_limit_tracker limits;
    std::string redacted;

    explicit impl(client_options o) : opts(std::move(o)) {
        clock = opts.clock ? opts.clock : &system;
        redacted = redact_key(opts.api_key);
    }

    net::client_config net_config() const {
        net::client_config c;
        c.tls = opts.tls;
        c.hosts = opts.hosts;
        c.user_agent = opts.user_agent;
        if (opts.log) {
            // The net layer promises no secrets; redact anyway (defence in depth).
            c.log = [sink = opts.log, key = opts.api_key](net::log_level l, std::string_view m) { sink(l, redact_secrets(m, key)); };
        }
        return c;
    }

    void log(net::log_level level, const std::string& line) const {
        if (opts.log) opts.log(level, redact_secrets(line, opts.api_key));
    }

    const std::string& base_of(const request_head& h) const { return h.base_url.empty() ? opts.base_url : h.base_url; }
    std::string bucket(const request_head& h) const { return origin_of(base_of(h)) + " " + h.rpc + " " + h.entity; }

    proto::http_request prepare(const request_head& h) const {
        proto::http_request r = h.http;
        if (!opts.api_key.empty()) r.headers.set("Authorization", "Bearer " + opts.api_key);
        r.headers.set("Accept", "application/json");
        if (!r.body.empty()) r.headers.set("Content-Type", "application/json");
        return r;
    }

    net::request_options request_opts(const request_head& h) const {
        net::request_options o;
        o.base_url = base_of(h);
        o.deadline = h.deadline.value_or(opts.deadline);
        o.body_limit = opts.body_limit;
        return o;
    }

    std::string what(const request_head& h) const { return fmt::format("{} {}", h.http.method, h.http.target); }

    // The wait before a request, or the error when it is too long.
    std::optional<proto::error> check_wait(const request_head& h, std::chrono::nanoseconds wait, bool can_sleep) const {
        if (wait <= 0ns) return std::nullopt;
        const auto secs = std::chrono::duration<double>(wait).count();
        if (wait > opts.rate_limit.max_wait)
            return proto::make_error(tts_errc::rate_limit_wait, "{} ({}): the server's rate limit asks for {:.1f} s, more than the {} s allowed",
                                     h.rpc, h.entity.empty() ? "no entity" : h.entity, secs, opts.rate_limit.max_wait.count());
        if (!can_sleep)
            return proto::make_error(tts_errc::rate_limit_wait, "{} ({}): the server's rate limit asks for {:.1f} s and no async sleeper is set",
                                     h.rpc, h.entity.empty() ? "no entity" : h.entity, secs);
        log(net::log_level::warning, fmt::format("rate limit: waiting {:.3f} s before {} ({})", secs, h.rpc,
                                                 h.entity.empty() ? "no entity" : h.entity));
        return std::nullopt;
    }

    result<proto::http_response> finish(const request_head& h, net::response_result r, std::chrono::steady_clock::time_point started) {
        const double ms = ms_since(started);
        if (!r) {
            proto::error e = std::move(r).err();
            e.detail = redact_secrets(e.detail, opts.api_key);
            log(net::log_level::info, fmt::format("{} ({}): failed after {:.1f} ms: {}", what(h), h.rpc, ms, e.what()));
            return result<proto::http_response>(std::move(e));
        }
        auto info = parse_rate_limit(r->headers, clock->now());
        if (r->status == 429) {
            // The bucket is empty whatever the headers say (a 429 from a proxy may carry none).
            rate_limit_info t = info.value_or(rate_limit_info{});
            t.observed_at = clock->now();
            if (t.available < 0) t.available = 0;
            t.retry = std::max(t.retry, std::chrono::seconds{1});
            limits.record(bucket(h), t);
        } else if (info) {
            limits.record(bucket(h), *info);
        }
        if (r->status >= 200 && r->status <= 299) {
            log(net::log_level::debug, fmt::format("{} ({}): {} in {:.1f} ms{}", what(h), h.rpc, r->status, ms, rate_text(info)));
            return std::move(*r);
        }
        api_error e = decode_api_error(r->status, r->body);
        e.rate_limit = info;
        e.message = redact_secrets(e.message, opts.api_key);
        e.body_excerpt = redact_secrets(e.body_excerpt, opts.api_key);
        proto::error pe = to_proto_error(e);
        pe.detail = redact_secrets(pe.detail, opts.api_key);
        log(net::log_level::info, fmt::format("{} ({}): {} {} in {:.1f} ms{}", what(h), h.rpc, r->status,
                                              e.named() ? e.full_name() : pe.id(), ms, rate_text(info)));
        return result<proto::http_response>(std::move(pe), std::make_shared<const api_error>(std::move(e)));
    }
};

client::client(client_options options) : p_(std::make_shared<impl>(std::move(options))) {
    p_->http = std::make_unique<net::http_client>(p_->net_config());
    p_->log(net::log_level::debug, fmt::format("tts client for {}, API key {}", p_->opts.base_url,
                                               p_->redacted.empty() ? std::string("(none)") : p_->redacted));
}

client::client(boost::asio::any_io_executor ex, client_options options) : p_(std::make_shared<impl>(std::move(options))) {
    p_->ex = ex;
    p_->http = std::make_unique<net::http_client>(std::move(ex), p_->net_config());
    p_->log(net::log_level::debug, fmt::format("tts client for {}, API key {}", p_->opts.base_url,
                                               p_->redacted.empty() ? std::string("(none)") : p_->redacted));
}

client::~client() = default;

const std::string& client::base_url() const noexcept { return p_->opts.base_url; }
std::string client::redacted_key() const { return p_->redacted; }

std::optional<rate_limit_info> client::last_rate_limit() const { return p_->limits.last(); }

std::optional<rate_limit_info> client::rate_limit_of(std::string_view rpc, std::string_view entity, std::string_view base_url) const {
    request_head h;
    h.rpc = std::string(rpc);
    h.entity = std::string(entity);
    h.base_url = std::string(base_url);
    return p_->limits.bucket(p_->bucket(h));
}

result<proto::http_response> client::exec(const request_head& h) {
    impl& p = *p_;
    if (h.invalid) {
        p.log(net::log_level::info, fmt::format("{}: not sent: {}", h.rpc, h.invalid->what()));
        return result<proto::http_response>(*h.invalid);
    }
    const auto wait = p.limits.wait_before(p.bucket(h), p.clock->now(), p.opts.rate_limit);
    if (auto e = p.check_wait(h, wait, true)) return result<proto::http_response>(std::move(*e));
    if (wait > 0ns) {
        if (p.opts.sleep) p.opts.sleep(wait);
        else std::this_thread::sleep_for(wait);
    }
    if (p.opts.before_request) p.opts.before_request();
    const auto started = std::chrono::steady_clock::now();
    auto r = p.http->request(p.prepare(h), p.request_opts(h));
    if (p.opts.after_response)
        p.opts.after_response(r ? r->status : 0, r ? parse_rate_limit(r->headers, p.clock->now()) : std::nullopt);
    return p.finish(h, std::move(r), started);
}

void client::async_exec(request_head h, boost::asio::any_completion_handler<void(result<proto::http_response>)> handler) {
    auto self = p_;
    if (!self->ex) {
        std::move(handler)(result<proto::http_response>(
            proto::make_error(net::net_errc::aborted, "async_run needs a tts::client constructed on an executor")));
        return;
    }
    // Completes without I/O, never inside the initiating call.
    auto complete_later = [self](boost::asio::any_completion_handler<void(result<proto::http_response>)> hd, proto::error e) {
        auto ex = self->ex->require(boost::asio::execution::blocking.never);
        ex.execute([hd = std::move(hd), e = std::move(e)]() mutable { std::move(hd)(result<proto::http_response>(std::move(e))); });
    };
    if (h.invalid) {
        self->log(net::log_level::info, fmt::format("{}: not sent: {}", h.rpc, h.invalid->what()));
        proto::error e = *h.invalid;
        complete_later(std::move(handler), std::move(e));
        return;
    }
    const auto wait = self->limits.wait_before(self->bucket(h), self->clock->now(), self->opts.rate_limit);
    if (auto e = self->check_wait(h, wait, static_cast<bool>(self->opts.async_sleep))) {
        complete_later(std::move(handler), std::move(*e));
        return;
    }
    auto send = [self, h, hd = std::move(handler)]() mutable {
        const auto started = std::chrono::steady_clock::now();
        self->http->async_request(self->prepare(h), self->request_opts(h),
                                  [self, h, hd = std::move(hd), started](net::response_result r) mutable {
                                      std::move(hd)(self->finish(h, std::move(r), started));
                                  });
    };
    if (wait > 0ns) self->opts.async_sleep(wait, boost::asio::any_completion_handler<void()>(std::move(send)));
    else send();
}

result<events_read> client::read_events(const events_request& request, std::chrono::milliseconds window, std::size_t max_events) {
    impl& p = *p_;
    const request_head h = calls::stream_events(request);
    if (h.invalid) {
        p.log(net::log_level::info, fmt::format("{}: not sent: {}", h.rpc, h.invalid->what()));
        return result<events_read>(*h.invalid);
    }
    const auto wait = p.limits.wait_before(p.bucket(h), p.clock->now(), p.opts.rate_limit);
    if (auto e = p.check_wait(h, wait, true)) return result<events_read>(std::move(*e));
    if (wait > 0ns) {
        if (p.opts.sleep) p.opts.sleep(wait);
        else std::this_thread::sleep_for(wait);
    }
    proto::http_request http = p.prepare(h);
    if (request.event_stream_framing) http.headers.set("Accept", "text/event-stream");
    events_read out;
    std::string pending;
    bool success = false;
    net::stream_options o;
    o.base_url = p.base_of(h);
    o.deadline = window;
    o.body_limit = p.opts.body_limit;
    o.on_head = [&success](const proto::http_response& head) {
        success = head.status >= 200 && head.status <= 299;
        return true;
    };
    o.on_data = [&](std::string_view piece) {
        if (!success) return true;  // an error body: read it whole
        pending += piece;
        pending = decode_event_messages(pending, out);
        if (max_events > 0 && out.events.size() >= max_events) {
            out.limit_reached = true;
            out.events.resize(max_events);
            return false;
        }
        return true;
    };
    const auto started = std::chrono::steady_clock::now();
    auto r = p.http->request_stream(std::move(http), o);
    if (!r) {
        auto f = p.finish(h, net::response_result(r.err()), started);
        return result<events_read>(f.err(), f.api_ptr());
    }
    proto::http_response res = std::move(r->response);
    if (res.status < 200 || res.status > 299) {
        // A stream error before the first message: {"error": Status} and the delimiter (a body
        // that could not be decoded gets the unary form).
        const json j = json::parse(res.body, nullptr, false);
        if (j.is_object() && j.contains("error") && j["error"].is_object()) res.body = j["error"].dump();
        auto f = p.finish(h, net::response_result(std::move(res)), started);
        return result<events_read>(f.err(), f.api_ptr());
    }
    if (!pending.empty() && r->complete) (void)decode_event_messages(pending + "\n", out);
    out.window_expired = r->deadline_expired;
    out.ended = r->complete || r->error.has_value();
    res.body.clear();
    (void)p.finish(h, net::response_result(std::move(res)), started);  // rate-limit headers, log line
    p.log(net::log_level::debug, fmt::format("{}: {} events in {:.1f} ms{}{}", h.rpc, out.events.size(), ms_since(started),
                                             out.window_expired ? ", window ended" : "", out.ended ? ", stream ended" : ""));
    return out;
}

result<std::vector<gateway>> client::list_all_gateways(const list_scope& scope, list_options options, std::size_t max_pages) {
    std::vector<gateway> all;
    if (options.page == 0) options.page = 1;
    for (std::size_t n = 0; n < max_pages; ++n) {
        auto p = list_gateways(scope, options);
        if (!p) return result<std::vector<gateway>>(p.err(), p.api_ptr());
        const bool more = p->has_more() && !p->items.empty();
        for (auto& g : p->items) all.push_back(std::move(g));
        if (!more) break;
        ++options.page;
    }
    return all;
}

batch_stats client::batch_connection_stats(std::span<const std::string> gateway_ids, const std::vector<std::string>& field_mask,
                                           const std::string& cluster_url) {
    batch_stats out;
    std::vector<std::string> unique;
    std::set<std::string, std::less<>> seen;
    for (const auto& id : gateway_ids)
        if (seen.insert(id).second) unique.push_back(id);
    for (std::size_t start = 0; start < unique.size(); start += batch_stats_max_ids) {
        const std::size_t n = std::min(batch_stats_max_ids, unique.size() - start);
        std::span<const std::string> chunk(unique.data() + start, n);
        const auto c = calls::batch_connection_stats(chunk, field_mask, cluster_url);
        if (!c.head.invalid) ++out.calls;
        auto r = run(c);
        if (!r) {
            out.failures.push_back({std::vector<std::string>(chunk.begin(), chunk.end()), r.err(), r.api_ptr()});
            continue;
        }
        for (const auto& id : chunk)
            if (!r->count(id)) out.absent.push_back(id);
        for (auto& [id, s] : *r) out.entries.insert_or_assign(id, std::move(s));
    }
    return out;
}

}  // namespace ttig::tts
