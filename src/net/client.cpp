// Client side: connection set-up (host map, DNS, TCP, TLS), the HTTP client with its keep-alive
// pool, and the probe. Coroutines with as_tuple(use_awaitable): no exception on the I/O path.
#include "net/detail.hpp"

#include <ttig/net/http_client.hpp>
#include <ttig/net/probe.hpp>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <map>

// GCC 12 at -O2 reports asio's coroutine frame operator delete as mismatched with its operator new
// in open_stream (a known false positive: awaitable_frame_base defines both). CI builds with -Werror.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ttig::net {

namespace detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

void log(const client_config& cfg, log_level level, const std::string& msg) {
    if (cfg.log) cfg.log(level, msg);
}

}  // namespace

std::shared_ptr<watchdog> arm_watchdog(asio::any_io_executor ex, std::chrono::milliseconds d) {
    auto w = std::make_shared<watchdog>(std::move(ex));
    if (d.count() > 0) {
        w->timer.expires_after(d);
        w->timer.async_wait([w](error_code ec) {
            if (ec || w->expired) return;
            w->expired = true;
            if (auto f = std::move(w->on_expire)) f();
        });
    }
    return w;
}

void disarm(watchdog& w) noexcept {
    w.on_expire = nullptr;
    w.timer.cancel();
}

asio::awaitable<proto::result<flex_stream>> open_stream(const url& u, const client_config& cfg, SSL_CTX* ctx, bool record_only,
                                                       watchdog& wd, connect_report* report) {
    auto ex = co_await asio::this_coro::executor;
    connect_report local;
    connect_report& r = report ? *report : local;
    using clock = std::chrono::steady_clock;

    // 1. Addresses: host map, IP literal, or DNS.
    auto t0 = clock::now();
    std::vector<tcp::endpoint> eps;
    if (auto mapped = cfg.hosts.lookup(u.host, u.port)) {
        r.mapped = true;
        for (const auto& a : *mapped) {
            error_code aec;
            auto addr = asio::ip::make_address(a, aec);
            if (!aec) eps.emplace_back(addr, u.port);
        }
    } else {
        error_code aec;
        auto addr = asio::ip::make_address(u.host, aec);
        if (!aec) {
            eps.emplace_back(addr, u.port);
        } else {
            tcp::resolver resolver(ex);
            wd.on_expire = [&resolver] { resolver.cancel(); };
            auto [ec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_tuple);
            wd.on_expire = nullptr;
            if (ec || results.empty()) {
                r.failed_phase = "dns";
                r.dns_ms = ms_since(t0);
                if (!ec) ec = asio::error::host_not_found;
                co_return map_error(ec, wd.expired, fmt::format("resolve {}", u.host));
            }
            for (const auto& e : results) eps.push_back(e.endpoint());
        }
    }
    r.dns_ms = ms_since(t0);
    for (const auto& ep : eps) r.addresses.push_back(ep.address().to_string());
    if (eps.empty()) {
        r.failed_phase = "dns";
        co_return proto::make_error(net_errc::resolve_failed, "resolve {}: no usable address", u.host);
    }

    // 2. TCP: each address in turn, within the one deadline.
    auto t1 = clock::now();
    tcp::socket sock(ex);
    error_code last = asio::error::host_not_found;
    for (const auto& ep : eps) {
        if (wd.expired) break;
        error_code ignored;
        sock.close(ignored);
        wd.on_expire = [&sock] {
            error_code i;
            sock.close(i);
        };
        auto [ec] = co_await sock.async_connect(ep, use_tuple);
        wd.on_expire = nullptr;
        last = ec;
        if (!ec) {
            r.connected = endpoint_string(ep);
            break;
        }
    }
    r.tcp_ms = ms_since(t1);
    if (last || !sock.is_open()) {
        r.failed_phase = "tcp";
        co_return map_error(last ? last : error_code(asio::error::operation_aborted), wd.expired,
                            fmt::format("connect to {} ({})", u.host_header(), fmt::join(r.addresses, ", ")));
    }
    log(cfg, log_level::debug,
        fmt::format("connected to {} at {}{} ({:.1f} ms)", u.host_header(), r.connected, r.mapped ? " (host map)" : "", r.tcp_ms));
    error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    flex_stream s(std::move(sock));
    if (!u.tls()) co_return s;

    // 3. TLS: SNI, verification (chain + host name), handshake.
    auto t2 = clock::now();
    if (!ctx) {
        r.failed_phase = "tls";
        co_return proto::make_error(tls_errc::bad_config, "no TLS context for {}", u.host_header());
    }
    if (auto st = s.start_tls_client(ctx, u.host, cfg.tls.insecure, record_only); !st) {
        r.failed_phase = "tls";
        co_return std::move(st).err();
    }
    wd.on_expire = [&s] { s.close(); };
    auto [hec] = co_await s.async_handshake(use_tuple);
    wd.on_expire = nullptr;
    r.tls_ms = ms_since(t2);
    if (hec) {
        r.failed_phase = "tls";
        log(cfg, log_level::debug, fmt::format("TLS handshake with {} failed", u.host_header()));
        if (wd.expired) co_return proto::make_error(net_errc::timeout, "TLS handshake with {}: deadline expired", u.host_header());
        if (s.tls_failure().code) {
            proto::error e = s.tls_failure();
            e.detail = fmt::format("{}: {}", u.host_header(), e.detail);
            co_return e;
        }
        co_return map_error(hec, false, fmt::format("TLS handshake with {}", u.host_header()));
    }
    log(cfg, log_level::debug, fmt::format("TLS {} with {} ({:.1f} ms)", SSL_get_version(s.ssl()), u.host_header(), r.tls_ms));
    co_return s;
}

proto::http_request to_proto(beast_request&& req) {
    proto::http_request out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& f : req) out.headers.add(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(req.body());
    return out;
}

std::string serialize_response(const proto::http_response& res, bool head_request, bool close) {
    const int status = res.status;
    std::string_view reason = reason_phrase(status);
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n", status, reason.empty() ? "Unknown" : reason);
    for (const auto& [name, value] : res.headers.items) {
        if (proto::iequals(name, "Content-Length") || proto::iequals(name, "Transfer-Encoding")) continue;
        if (close && proto::iequals(name, "Connection")) continue;
        if (name.empty() || has_crlf(name) || has_crlf(value)) continue;  // never let a field inject lines
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    const bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
    if (!no_body) out += fmt::format("Content-Length: {}\r\n", res.body.size());
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    if (!no_body && !head_request) out += res.body;
    return out;
}

std::string serialize_request(const proto::http_request& req, const std::string& host_header, const std::string& user_agent) {
    std::string out = fmt::format("{} {} HTTP/1.1\r\n", req.method.empty() ? "GET" : req.method, req.target.empty() ? "/" : req.target);
    if (!req.headers.contains("Host")) out += fmt::format("Host: {}\r\n", host_header);
    if (!user_agent.empty() && !req.headers.contains("User-Agent")) out += fmt::format("User-Agent: {}\r\n", user_agent);
    for (const auto& [name, value] : req.headers.items) {
        if (proto::iequals(name, "Content-Length") || proto::iequals(name, "Transfer-Encoding")) continue;
        if (name.empty() || has_crlf(name) || has_crlf(value)) continue;
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    const bool wants_length = !req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (wants_length) out += fmt::format("Content-Length: {}\r\n", req.body.size());
    out += "\r\n";
    out += req.body;
    return out;
}

namespace {

proto::http_response to_proto(http::response<http::string_body>&& res) {
    proto::http_response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.add(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    return out;
}

// Reads one response; first_byte (optional) receives the time until the first byte.
asio::awaitable<proto::result<http::response<http::string_body>>> read_response(flex_stream& s, beast::flat_buffer& buf, bool head,
                                                                                std::size_t body_limit, watchdog& wd,
                                                                                const std::string& who, double* first_byte) {
    if (first_byte && buf.size() == 0) {
        auto t = std::chrono::steady_clock::now();
        auto [wec] = co_await s.async_wait_readable(use_tuple);
        if (wec) co_return map_error(wec, wd.expired, fmt::format("read response from {}", who));
        *first_byte = ms_since(t);
    }
    http::response_parser<http::string_body> parser;
    parser.header_limit(64u << 10);
    parser.body_limit(body_limit);
    if (head) parser.skip(true);
    auto [ec, n] = co_await http::async_read(s, buf, parser, use_tuple);
    if (ec) co_return map_error(ec, wd.expired, fmt::format("read response from {}", who));
    co_return parser.release();
}

}  // namespace

}  // namespace detail

// ---- http_client ---------------------------------------------------------------------------------

using namespace detail;

struct http_client::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor e, client_config c) : ex(std::move(e)), cfg(std::move(c)) {}

    struct conn {
        explicit conn(flex_stream s) : stream(std::move(s)) {}
        flex_stream stream;
        beast::flat_buffer buffer;
        std::chrono::steady_clock::time_point idle_since;
    };

    asio::any_io_executor ex;
    client_config cfg;
    mutable std::mutex mu;
    std::optional<client_tls> tls;  // built on first TLS use
    std::map<std::string, std::vector<std::unique_ptr<conn>>> pool;
    std::atomic<std::size_t> opened{0};

    proto::result<ssl_ctx_ptr> tls_ctx() {
        std::lock_guard lock(mu);
        if (!tls) tls.emplace(cfg.tls);
        return tls->ctx;
    }

    std::unique_ptr<conn> take(const std::string& key) {
        std::lock_guard lock(mu);
        auto it = pool.find(key);
        if (it == pool.end()) return nullptr;
        auto& v = it->second;
        const auto now = std::chrono::steady_clock::now();
        while (!v.empty()) {
            auto c = std::move(v.back());
            v.pop_back();
            // A connection the server closed (or that sat idle too long) is dropped here, before
            // anything is sent on it: that is not a retry.
            if (now - c->idle_since > cfg.idle_timeout || c->stream.unusable_when_idle()) continue;
            return c;
        }
        return nullptr;
    }

    void put(const std::string& key, std::unique_ptr<conn> c) {
        std::lock_guard lock(mu);
        auto& v = pool[key];
        if (v.size() >= cfg.max_idle_per_origin) return;
        c->idle_since = std::chrono::steady_clock::now();
        c->buffer.shrink_to_fit();
        v.push_back(std::move(c));
    }
};

namespace {

// The URL of a request: the client's base URL (its path as a prefix) and the request's target.
proto::result<url> request_url(const std::string& base_url, const std::string& request_target) {
    auto base = parse_url(base_url);
    if (!base) return std::move(base).err();
    if (base->websocket()) return proto::make_error(net_errc::bad_url, "\"{}\": use a ws_client for ws/wss URLs", base_url);
    url u = *base;
    std::string prefix = base->target == "/" ? std::string{} : base->target;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    std::string target = request_target.empty() ? "/" : request_target;
    if (target.front() != '/') target.insert(target.begin(), '/');
    u.target = prefix + target;
    return u;
}

// An idle pooled connection to `key`, or a new one (TLS with the client's context) within `wd`.
// Arguments are references to the caller's locals (GCC 12: no temporaries across co_await).
asio::awaitable<proto::result<std::unique_ptr<http_client::impl::conn>>> pooled_connection(const std::shared_ptr<http_client::impl>& self,
                                                                                           const url& u, const std::string& key, watchdog& wd) {
    using conn = http_client::impl::conn;
    if (auto c = self->take(key)) co_return std::move(c);
    ssl_ctx_ptr ctx;
    if (u.tls()) {
        auto made = self->tls_ctx();
        if (!made) co_return made.err();
        ctx = *made;
    }
    auto s = co_await open_stream(u, self->cfg, ctx.get(), false, wd, nullptr);
    if (!s) co_return std::move(s).err();
    self->opened.fetch_add(1);
    co_return std::make_unique<conn>(std::move(*s));
}

asio::awaitable<response_result> run_request(std::shared_ptr<http_client::impl> self, proto::http_request req, request_options opts) {
    auto ex = co_await asio::this_coro::executor;
    auto target = request_url(opts.base_url, req.target);
    if (!target) co_return std::move(target).err();
    const url& u = *target;
    auto wd = arm_watchdog(ex, opts.deadline);
    struct guard_t {
        watchdog& w;
        ~guard_t() { disarm(w); }
    } guard{*wd};

    const std::string key = u.scheme + "://" + u.host_header();
    auto taken = co_await pooled_connection(self, u, key, *wd);
    if (!taken) co_return std::move(taken).err();
    auto c = std::move(*taken);
    wd->on_expire = [st = &c->stream] { st->close(); };
    const bool head = req.method == "HEAD";
    req.target = u.target;
    const std::string wire = serialize_request(req, u.host_header(), self->cfg.user_agent);
    auto [wec, wn] = co_await asio::async_write(c->stream, asio::buffer(wire), use_tuple);
    if (wec) co_return map_error(wec, wd->expired, fmt::format("send request to {}", u.host_header()));
    auto res = co_await read_response(c->stream, c->buffer, head, opts.body_limit, *wd, u.host_header(), nullptr);
    if (!res) co_return std::move(res).err();
    const bool reuse = res->keep_alive() && !wd->expired && c->stream.is_open() && c->buffer.size() == 0;
    wd->on_expire = nullptr;
    if (reuse) self->put(key, std::move(c));
    co_return to_proto(std::move(*res));
}

// A request whose body is read piece by piece until it ends, the deadline expires or on_data says stop.
asio::awaitable<stream_result> run_stream_request(std::shared_ptr<http_client::impl> self, proto::http_request req, stream_options opts) {
    auto ex = co_await asio::this_coro::executor;
    auto target = request_url(opts.base_url, req.target);
    if (!target) co_return std::move(target).err();
    const url& u = *target;
    auto wd = arm_watchdog(ex, opts.deadline);
    struct guard_t {
        watchdog& w;
        ~guard_t() { disarm(w); }
    } guard{*wd};

    const std::string key = u.scheme + "://" + u.host_header();
    auto taken = co_await pooled_connection(self, u, key, *wd);
    if (!taken) co_return std::move(taken).err();
    auto c = std::move(*taken);
    wd->on_expire = [st = &c->stream] { st->close(); };
    req.target = u.target;
    const std::string who = u.host_header();
    const std::string wire = serialize_request(req, who, self->cfg.user_agent);
    auto [wec, wn] = co_await asio::async_write(c->stream, asio::buffer(wire), use_tuple);
    if (wec) co_return map_error(wec, wd->expired, fmt::format("send request to {}", who));

    http::response_parser<http::buffer_body> parser;
    parser.header_limit(64u << 10);
    parser.body_limit(opts.body_limit);
    if (req.method == "HEAD") parser.skip(true);
    auto [hec, hn] = co_await http::async_read_header(c->stream, c->buffer, parser, use_tuple);
    if (hec) co_return map_error(hec, wd->expired, fmt::format("read response from {}", who));
    streamed_response out;
    out.response.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) out.response.headers.add(std::string(f.name_string()), std::string(f.value()));
    if (opts.on_head && !opts.on_head(out.response)) out.stopped = true;

    std::array<char, 16384> piece{};
    while (!out.stopped && !parser.is_done()) {
        parser.get().body().data = piece.data();
        parser.get().body().size = piece.size();
        auto [rec, rn] = co_await http::async_read_some(c->stream, c->buffer, parser, use_tuple);
        const std::size_t got = piece.size() - parser.get().body().size;
        if (got > 0) {
            const std::string_view data(piece.data(), got);
            out.response.body.append(data);
            if (opts.on_data && !opts.on_data(data)) {
                out.stopped = true;
                break;
            }
        }
        if (rec == http::error::need_buffer) continue;
        if (rec) {
            if (wd->expired) out.deadline_expired = true;
            else out.error = map_error(rec, false, fmt::format("read response body from {}", who));
            break;
        }
    }
    out.complete = parser.is_done();
    const bool reuse = out.complete && parser.keep_alive() && !wd->expired && c->stream.is_open() && c->buffer.size() == 0;
    wd->on_expire = nullptr;
    if (reuse) self->put(key, std::move(c));
    else if (c) c->stream.close();
    co_return out;
}

}  // namespace

http_client::http_client(asio::any_io_executor ex, client_config cfg) : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg))) {}

http_client::http_client(client_config cfg)
    : own_ioc_(std::make_unique<asio::io_context>(1)), impl_(std::make_shared<impl>(own_ioc_->get_executor(), std::move(cfg))) {}

http_client::~http_client() {
    close_idle();
    impl_.reset();
}

namespace {

// Runs `work` on a new strand of the client's executor and hands its result to `handler` on the
// handler's executor; an exception becomes net.io.
template <class Result, class Sig>
void spawn_request(const std::shared_ptr<http_client::impl>& self, asio::awaitable<Result> work, asio::any_completion_handler<Sig> handler) {
    auto strand = asio::make_strand(self->ex);
    auto hex = asio::get_associated_executor(handler, self->ex);
    auto out = std::make_shared<std::optional<Result>>();
    auto body = [](asio::awaitable<Result> w, std::shared_ptr<std::optional<Result>> slot) -> asio::awaitable<void> {
        slot->emplace(co_await std::move(w));
    };
    asio::co_spawn(strand, body(std::move(work), out),
                   asio::bind_executor(hex, [h = std::move(handler), out](std::exception_ptr e) mutable {
                       if (e || !*out) std::move(h)(Result(proto::make_error(net_errc::io, "internal error in the HTTP client")));
                       else std::move(h)(std::move(**out));
                   }));
}

}  // namespace

void http_client::request_impl(proto::http_request req, request_options opts, asio::any_completion_handler<signature> handler) {
    spawn_request<response_result>(impl_, run_request(impl_, std::move(req), std::move(opts)), std::move(handler));
}

response_result http_client::request(proto::http_request req, const request_options& opts) {
    if (!own_ioc_) return proto::make_error(net_errc::aborted, "blocking request() needs a client that owns its io_context");
    std::optional<response_result> out;
    async_request(std::move(req), opts, [&out](response_result r) { out.emplace(std::move(r)); });
    own_ioc_->restart();
    own_ioc_->run();
    if (!out) return proto::make_error(net_errc::aborted, "the request did not complete");
    return std::move(*out);
}

void http_client::stream_impl(proto::http_request req, stream_options opts, asio::any_completion_handler<stream_signature> handler) {
    spawn_request<stream_result>(impl_, run_stream_request(impl_, std::move(req), std::move(opts)), std::move(handler));
}

stream_result http_client::request_stream(proto::http_request req, const stream_options& opts) {
    if (!own_ioc_) return proto::make_error(net_errc::aborted, "blocking request_stream() needs a client that owns its io_context");
    std::optional<stream_result> out;
    async_request_stream(std::move(req), opts, [&out](stream_result r) { out.emplace(std::move(r)); });
    own_ioc_->restart();
    own_ioc_->run();
    if (!out) return proto::make_error(net_errc::aborted, "the request did not complete");
    return std::move(*out);
}

std::size_t http_client::connections_opened() const noexcept { return impl_->opened.load(); }

std::size_t http_client::idle_connections() const noexcept {
    std::lock_guard lock(impl_->mu);
    std::size_t n = 0;
    for (const auto& [k, v] : impl_->pool) n += v.size();
    return n;
}

void http_client::close_idle() {
    if (!impl_) return;
    std::lock_guard lock(impl_->mu);
    impl_->pool.clear();
}

proto::result<void> expect_status(const proto::http_response& res, int lo, int hi) {
    if (res.status >= lo && res.status <= hi) return {};
    std::string body = res.body.substr(0, 200);
    std::string_view reason = reason_phrase(res.status);
    if (body.empty()) return proto::make_error(net_errc::http_status, "HTTP {} {}", res.status, reason);
    return proto::make_error(net_errc::http_status, "HTTP {} {}: {}", res.status, reason, body);
}

std::string_view reason_phrase(int status) noexcept {
    if (status < 100 || status > 999) return {};
    auto s = http::int_to_status(static_cast<unsigned>(status));
    if (s == http::status::unknown) return {};
    auto r = http::obsolete_reason(s);
    return {r.data(), r.size()};
}

// ---- probe ---------------------------------------------------------------------------------------

namespace {

asio::awaitable<void> run_probe(std::string url_text, probe_options opts, std::shared_ptr<probe_report> rep) {
    probe_report& r = *rep;
    r.url = url_text;
    auto ex = co_await asio::this_coro::executor;
    auto u = parse_url(url_text);
    if (!u) {
        r.error = u.err();
        r.failed_phase = "url";
        co_return;
    }
    r.host = u->host;
    r.port = u->port;
    ssl_ctx_ptr ctx;
    if (u->tls()) {
        auto c = make_client_ctx(opts.client.tls);
        if (!c) {
            r.error = c.err();
            r.failed_phase = "tls";
            co_return;
        }
        ctx = *c;
    }
    auto wd = arm_watchdog(ex, opts.deadline);
    struct guard_t {
        watchdog& w;
        ~guard_t() { disarm(w); }
    } guard{*wd};

    connect_report cr;
    auto s = co_await open_stream(*u, opts.client, ctx.get(), true, *wd, &cr);
    r.addresses = cr.addresses;
    r.mapped = cr.mapped;
    r.connected_address = cr.connected;
    if (cr.dns_ms >= 0) r.dns_ms = cr.dns_ms;
    if (cr.tcp_ms >= 0) r.tcp_ms = cr.tcp_ms;
    if (cr.tls_ms >= 0) r.tls_ms = cr.tls_ms;
    if (!s) {
        r.error = s.err();
        r.failed_phase = cr.failed_phase;
        co_return;
    }
    flex_stream& st = *s;
    if (SSL* ssl = st.ssl()) {
        r.tls_version = SSL_get_version(ssl);
        if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) r.cipher = SSL_CIPHER_get_name(c);
        if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
            for (int i = 0; i < sk_X509_num(chain); ++i) {
                X509* x = sk_X509_value(chain, i);
                unsigned char* der = nullptr;
                const int len = i2d_X509(x, &der);
                if (len > 0) r.chain_der.emplace_back(der, der + len);
                OPENSSL_free(der);
            }
        }
        const verify_record* vr = st.verify_info();
        if (vr && vr->first_error != X509_V_OK) {
            proto::error e = tls_verify_error(vr->first_error, vr->depth);
            e.detail = fmt::format("{}: {}", u->host_header(), e.detail);
            r.verify_error = std::move(e);
        } else {
            r.verify_ok = true;
        }
    }
    if (!opts.request) {
        co_await st.async_teardown(use_tuple);
        co_return;
    }
    if (st.is_tls() && !r.verify_ok && !opts.client.tls.insecure) {
        // Never send a request over a connection we could not verify.
        st.close();
        co_return;
    }
    wd->on_expire = [p = &st] { p->close(); };
    proto::http_request req = *opts.request;
    if (req.target.empty()) req.target = u->target;
    const std::string wire = serialize_request(req, u->host_header(), opts.client.user_agent);
    auto [wec, wn] = co_await asio::async_write(st, asio::buffer(wire), use_tuple);
    if (wec) {
        r.error = map_error(wec, wd->expired, fmt::format("send request to {}", u->host_header()));
        r.failed_phase = "http";
        co_return;
    }
    beast::flat_buffer buf;
    double first_byte = -1;
    auto res = co_await read_response(st, buf, req.method == "HEAD", 64u << 20, *wd, u->host_header(), &first_byte);
    if (first_byte >= 0) r.first_byte_ms = first_byte;
    if (!res) {
        r.error = res.err();
        r.failed_phase = "http";
        co_return;
    }
    r.http_status = static_cast<int>(res->result_int());
    r.response = to_proto(std::move(*res));
    wd->on_expire = nullptr;
    co_await st.async_teardown(use_tuple);
}

}  // namespace

void async_probe_impl(asio::any_io_executor ex, std::string url, probe_options opts, asio::any_completion_handler<probe_signature> handler) {
    auto strand = asio::make_strand(ex);
    auto hex = asio::get_associated_executor(handler, ex);
    auto rep = std::make_shared<probe_report>();
    asio::co_spawn(strand, run_probe(std::move(url), std::move(opts), rep),
                   asio::bind_executor(hex, [h = std::move(handler), rep](std::exception_ptr e) mutable {
                       if (e && !rep->error) {
                           rep->error = proto::make_error(net_errc::io, "internal error in the probe");
                       }
                       std::move(h)(std::move(*rep));
                   }));
}

probe_report probe(const std::string& url, const probe_options& opts) {
    asio::io_context ioc(1);
    std::optional<probe_report> out;
    async_probe(ioc.get_executor(), url, opts, [&out](probe_report r) { out.emplace(std::move(r)); });
    ioc.run();
    if (!out) {
        probe_report r;
        r.url = url;
        r.error = proto::make_error(net_errc::aborted, "the probe did not complete");
        return r;
    }
    return std::move(*out);
}

}  // namespace ttig::net
