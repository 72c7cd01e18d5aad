// HTTP(S) server: listeners, connections, routing, responders and connection faults.
// WebSocket sessions live in ws.cpp; this file hands an accepted upgrade over to them.
#include "net/detail.hpp"

#include <ttig/net/http_client.hpp>

#include <fmt/format.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <deque>
#include <optional>

namespace ttig::net {

namespace asio = boost::asio;

// ---- route matching ------------------------------------------------------------------------------

namespace {

std::vector<std::string_view> split_path(std::string_view p) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i <= p.size()) {
        const auto j = p.find('/', i);
        out.push_back(p.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
        if (j == std::string_view::npos) break;
        i = j + 1;
    }
    return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

proto::http_response text_response(int status, std::string body) {
    proto::http_response r;
    r.status = status;
    r.headers.set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body);
    return r;
}

// 3 exact, 2 with parameters, 1 prefix.
int pattern_rank(std::string_view pattern) {
    if (!pattern.empty() && pattern.back() == '*') return 1;
    return pattern.find('{') != std::string_view::npos ? 2 : 3;
}

}  // namespace

std::optional<route_params> match_route(std::string_view pattern, std::string_view path) {
    if (!pattern.empty() && pattern.back() == '*') {
        const auto prefix = pattern.substr(0, pattern.size() - 1);
        if (path.substr(0, prefix.size()) == prefix) return route_params{};
        return std::nullopt;
    }
    const auto ps = split_path(pattern);
    const auto xs = split_path(path);
    if (ps.size() != xs.size()) return std::nullopt;
    route_params params;
    for (std::size_t i = 0; i < ps.size(); ++i) {
        if (is_param(ps[i])) {
            if (xs[i].empty()) return std::nullopt;
            params.emplace_back(std::string(ps[i].substr(1, ps[i].size() - 2)), proto::percent_decode(xs[i]));
        } else if (ps[i] != xs[i]) {
            return std::nullopt;
        }
    }
    return params;
}

namespace detail {

void server_core::add(std::uint64_t id, std::weak_ptr<closable> c) {
    std::lock_guard lock(mu);
    conns[id] = std::move(c);
}

void server_core::remove(std::uint64_t id) {
    std::lock_guard lock(mu);
    conns.erase(id);
}

bool server_core::is_stopped() const {
    std::lock_guard lock(mu);
    return stopped;
}

void server_core::log(log_level level, std::string_view msg) const {
    if (opts.log) opts.log(level, msg);
}

struct http_route {
    std::string method;
    std::string pattern;
    int rank = 0;
    http_handler handler;
};

class listener;
class http_session;

struct server_state : server_core {
    std::vector<std::shared_ptr<const http_route>> routes;
    std::vector<std::shared_ptr<const ws_route>> ws_routes;
    accept_hook hook;
    http_handler not_found;
    std::vector<std::shared_ptr<listener>> listeners;
    std::vector<std::uint16_t> ports;
    // Handshake admission (guarded by mu).
    std::size_t hs_active = 0;
    std::deque<std::shared_ptr<http_session>> hs_waiting;

    // True: go ahead. False: queued; start_queued_handshake() is called when a slot frees.
    bool admit_handshake(const std::shared_ptr<http_session>& s);
    void release_handshake();
};

class http_session;

struct responder_state {
    responder_state(std::weak_ptr<http_session> s, asio::any_io_executor e, std::uint64_t q, std::uint64_t c, route_params p,
                    std::size_t limit)
        : session(std::move(s)), ex(std::move(e)), seq(q), conn_id(c), params(std::move(p)), stream_limit(limit) {}
    ~responder_state();

    std::weak_ptr<http_session> session;
    asio::any_io_executor ex;
    std::uint64_t seq;
    std::uint64_t conn_id;
    route_params params;
    std::size_t stream_limit;
    std::atomic<bool> done{false};
};

// One chunked response (responder::stream), shared by the writers and the session.
struct stream_state {
    stream_state(std::weak_ptr<http_session> s, asio::any_io_executor e, std::size_t l)
        : session(std::move(s)), ex(std::move(e)), limit(l) {}

    std::weak_ptr<http_session> session;
    asio::any_io_executor ex;
    std::size_t limit;
    std::atomic<bool> open{true};        // writes accepted
    std::atomic<std::size_t> queued{0};  // payload bytes written by the handler, not yet on the wire
    std::mutex mu;
    std::function<void(bool)> on_close;  // guarded by mu
    bool fired = false;                  // guarded by mu
    bool ended = false;                  // guarded by mu

    // The stream is over: runs the callback once (on the strand, or from the session's destructor).
    void finish(bool ended_ok) {
        open = false;
        std::function<void(bool)> f;
        {
            std::lock_guard lock(mu);
            if (fired) return;
            fired = true;
            ended = ended_ok;
            f = std::move(on_close);
            on_close = nullptr;
        }
        if (f) f(ended_ok);
    }
};

namespace {

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Status line and fields of a chunked response (Content-Length and Transfer-Encoding of `head`
// are replaced).
std::string serialize_stream_head(const proto::http_response& head, bool close) {
    std::string_view reason = reason_phrase(head.status);
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n", head.status, reason.empty() ? "Unknown" : reason);
    for (const auto& [name, value] : head.headers.items) {
        if (proto::iequals(name, "Content-Length") || proto::iequals(name, "Transfer-Encoding")) continue;
        if (close && proto::iequals(name, "Connection")) continue;
        if (name.empty() || has_line_break(name) || has_line_break(value)) continue;
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "Transfer-Encoding: chunked\r\n";
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    return out;
}

}  // namespace

class http_session final : public closable, public std::enable_shared_from_this<http_session> {
public:
    http_session(std::shared_ptr<server_state> core, std::uint64_t id, tcp::socket socket, ssl_ctx_ptr ctx,
                 std::chrono::milliseconds hs_delay, bool blackhole)
        : core_(std::move(core)),
          id_(id),
          stream_(std::move(socket)),
          ex_(stream_.get_executor()),
          timer_(ex_),
          ctx_(std::move(ctx)),
          hs_delay_(hs_delay),
          blackhole_(blackhole) {
        error_code ec;
        const auto ep = stream_.socket().remote_endpoint(ec);
        remote_ = ec ? std::string("?") : endpoint_string(ep);
    }

    ~http_session() override {
        if (!handed_over_) core_->remove(id_);
        if (auto st = std::exchange(chunked_, nullptr)) st->finish(false);
    }

    void run() {
        asio::dispatch(ex_, [self = shared_from_this()] { self->on_start(); });
    }

    void close_from_server() override {
        asio::post(ex_, [self = shared_from_this()] { self->do_close(); });
    }

    // Called on the strand by responders.
    void deliver(std::uint64_t seq, proto::http_response res, std::chrono::milliseconds delay) {
        if (closed_ || seq != seq_ || !awaiting_) return;
        if (delay.count() > 0) {
            if (!delay_timer_) delay_timer_.emplace(ex_);
            delay_timer_->expires_after(delay);
            delay_timer_->async_wait([self = shared_from_this(), seq, res = std::move(res)](error_code ec) mutable {
                if (!ec) self->deliver(seq, std::move(res), std::chrono::milliseconds{0});
            });
            return;
        }
        awaiting_ = false;
        release_keep();
        bool close = !keep_alive_ || core_->is_stopped();
        if (auto c = res.headers.get("Connection"); c && proto::iequals(*c, "close")) close = true;
        write_response(serialize_response(res, head_, close), close);
    }

    // ---- chunked responses (called on the strand by responders and stream writers) ----

    void deliver_stream(std::uint64_t seq, const proto::http_response& head, const std::shared_ptr<stream_state>& st) {
        if (closed_ || seq != seq_ || !awaiting_) return st->finish(false);
        awaiting_ = false;
        release_keep();
        bool close = !keep_alive_ || core_->is_stopped();
        if (auto c = head.headers.get("Connection"); c && proto::iequals(*c, "close")) close = true;
        chunked_ = st;
        chunk_ending_ = false;
        chunk_close_after_ = close;
        chunk_q_.emplace_back(serialize_stream_head(head, close), 0);
        start_watch();
        pump();
    }

    void stream_write(const std::shared_ptr<stream_state>& st, std::string chunk) {
        const std::size_t n = chunk.size();
        if (closed_ || chunked_ != st || chunk_ending_) {
            st->queued -= n;
            return;
        }
        std::string framed = fmt::format("{:x}\r\n", n);
        framed += chunk;
        framed += "\r\n";
        chunk_q_.emplace_back(std::move(framed), n);
        pump();
    }

    void stream_end(const std::shared_ptr<stream_state>& st) {
        if (closed_ || chunked_ != st || chunk_ending_) return;
        chunk_ending_ = true;
        chunk_q_.emplace_back("0\r\n\r\n", 0);
        pump();
    }

    void stream_abort(const std::shared_ptr<stream_state>& st) {
        if (closed_ || chunked_ != st) return;
        core_->log(log_level::debug, fmt::format("connection {} from {}: chunked response aborted", id_, remote_));
        do_close();
    }

    void reset_by_responder(std::uint64_t seq) {
        if (closed_ || seq != seq_ || !awaiting_) return;
        core_->log(log_level::debug, fmt::format("connection {} from {}: reset by handler", id_, remote_));
        closed_ = true;
        release_keep();
        timer_.cancel();
        stream_.reset();
        core_->remove(id_);
    }

    // Called (from any thread) when a handshake slot was given to this queued session.
    void start_queued_handshake() {
        asio::post(ex_, [self = shared_from_this()] {
            self->holds_slot_ = true;
            if (self->closed_) return self->release_slot();
            self->do_handshake_admitted();
        });
    }

    void stall_by_responder(std::uint64_t seq) {
        if (closed_ || seq != seq_ || !awaiting_) return;
        stalled_ = true;
        release_keep();
        timer_.cancel();
        do_discard(false);
    }

private:
    // Writes what is queued, several chunks per write.
    void pump() {
        if (closed_ || chunk_writing_ || chunk_q_.empty()) return;
        chunk_writing_ = true;
        out_.clear();
        std::size_t payload = 0;
        while (!chunk_q_.empty() && (out_.empty() || out_.size() + chunk_q_.front().first.size() <= (64u << 10))) {
            out_ += chunk_q_.front().first;
            payload += chunk_q_.front().second;
            chunk_q_.pop_front();
        }
        arm(core_->opts.write_timeout);
        asio::async_write(stream_, asio::buffer(out_), [self = shared_from_this(), payload](error_code ec, std::size_t) {
            self->on_chunks_written(ec, payload);
        });
    }

    void on_chunks_written(error_code ec, std::size_t payload) {
        timer_.cancel();
        chunk_writing_ = false;
        out_ = std::string{};
        if (chunked_) chunked_->queued -= payload;
        if (closed_) return;
        if (ec) {
            core_->log(log_level::debug, fmt::format("connection {} from {}: chunked write failed: {}", id_, remote_, ec.message()));
            return do_close();
        }
        if (!chunk_q_.empty()) return pump();
        if (!chunk_ending_ || !chunked_) return;
        // The terminal chunk is out: the response is complete.
        auto st = std::exchange(chunked_, nullptr);
        chunk_ending_ = false;
        st->finish(true);
        if (closed_) return;
        if (watching_) {
            // Stop watching; on_watch goes on with the next request (or the close).
            error_code ignored;
            stream_.socket().cancel(ignored);
            return;
        }
        after_stream();
    }

    void after_stream() {
        if (chunk_close_after_) return do_linger_close();
        do_read();
    }

    // While a chunked response is open: a read that notices the client going away. Bytes that
    // arrive (a pipelined request) are kept for the next request.
    void start_watch() {
        if (watching_ || closed_) return;
        if (!scratch_) scratch_ = std::make_unique<std::array<char, 512>>();
        watching_ = true;
        stream_.async_read_some(asio::buffer(*scratch_), [self = shared_from_this()](error_code ec, std::size_t n) { self->on_watch(ec, n); });
    }

    void on_watch(error_code ec, std::size_t n) {
        watching_ = false;
        if (closed_) return;
        if (n > 0) {
            auto dst = buffer_.prepare(n);
            asio::buffer_copy(dst, asio::buffer(scratch_->data(), n));
            buffer_.commit(n);
        }
        if (chunked_) {
            if (ec) {
                core_->log(log_level::debug, fmt::format("connection {} from {}: client went away during a chunked response", id_, remote_));
                return do_close();
            }
            if (buffer_.size() > core_->opts.header_limit + core_->opts.body_limit) return do_close();
            return start_watch();
        }
        if (ec && ec != asio::error::operation_aborted) return do_close();
        after_stream();
    }

    void on_start() {
        core_->add(id_, weak_from_this());
        if (core_->is_stopped()) return do_close();
        if (blackhole_) return do_discard(false);
        if (!ctx_) return do_read();
        if (hs_delay_.count() > 0) {
            timer_.expires_after(hs_delay_);
            timer_.async_wait([self = shared_from_this()](error_code ec) {
                if (!ec && !self->closed_) self->do_handshake();
            });
            return;
        }
        do_handshake();
    }

    void arm(std::chrono::milliseconds d) {
        if (d.count() <= 0) return;
        timer_.expires_after(d);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->closed_) return;
            self->core_->log(log_level::debug, fmt::format("connection {} from {}: deadline expired", self->id_, self->remote_));
            self->do_close();
        });
    }

    void release_slot() {
        if (!holds_slot_) return;
        holds_slot_ = false;
        core_->release_handshake();
    }

    void do_handshake() {
        if (!core_->admit_handshake(shared_from_this())) return;  // queued
        holds_slot_ = true;
        do_handshake_admitted();
    }

    void do_handshake_admitted() {
        if (auto r = stream_.start_tls_server(ctx_.get()); !r) {
            core_->log(log_level::warning, fmt::format("connection {}: {}", id_, r.err().what()));
            return do_close();
        }
        arm(core_->opts.handshake_timeout);
        stream_.async_handshake(beast::bind_front_handler(&http_session::on_handshake, shared_from_this()));
    }

    void on_handshake(error_code ec) {
        timer_.cancel();
        release_slot();
        if (closed_) return;
        if (ec) {
            const proto::error e = stream_.tls_failure().code ? stream_.tls_failure() : map_error(ec, false, "TLS handshake");
            core_->log(log_level::debug, fmt::format("connection {} from {}: {}", id_, remote_, e.what()));
            return do_close();
        }
        do_read();
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(core_->opts.header_limit, UINT32_MAX)));
        parser_->body_limit(core_->opts.body_limit);
        arm(core_->opts.read_timeout);
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
    }

    void on_read(error_code ec, std::size_t) {
        timer_.cancel();
        if (closed_) return;
        if (ec) {
            if (ec == http::error::header_limit) return send_error(431, "431 Request Header Fields Too Large");
            if (ec == http::error::body_limit) return send_error(413, "413 Request Entity Too Large");
            if (ec.category() == make_error_code(http::error::bad_target).category() && ec != http::error::end_of_stream &&
                ec != http::error::partial_message)
                return send_error(400, "400 Bad Request");
            return do_close();
        }
        core_->requests.fetch_add(1);
        beast_request breq = parser_->release();
        parser_.reset();
        keep_alive_ = breq.keep_alive();
        head_ = breq.method() == http::verb::head;
        if (beast::websocket::is_upgrade(breq) && try_upgrade(breq)) return;
        dispatch(to_proto(std::move(breq)));
    }

    void fill(proto::http_request& req) const {
        req.tls = stream_.is_tls();
        req.remote_address = remote_;
        if (auto h = req.headers.get("Host")) req.local_host = std::string(*h);
    }

    void dispatch(proto::http_request req) {
        fill(req);
        const std::string path(req.path());
        std::shared_ptr<const http_route> best;
        route_params best_params;
        bool other_method = false;
        std::vector<std::string> allowed;
        http_handler fallback;
        {
            std::lock_guard lock(core_->mu);
            for (const auto& r : core_->routes) {
                auto m = match_route(r->pattern, path);
                if (!m) continue;
                if (r->method != "*" && r->method != req.method) {
                    other_method = true;
                    allowed.push_back(r->method);
                    continue;
                }
                if (!best || r->rank > best->rank || (r->rank == best->rank && r->pattern.size() > best->pattern.size())) {
                    best = r;
                    best_params = std::move(*m);
                }
            }
            fallback = core_->not_found;
        }
        ++seq_;
        awaiting_ = true;
        // The session keeps itself alive until the handler answers (or the connection closes):
        // the handler may answer later from any thread, holding only the responder.
        keep_until_answered();
        auto state =
            std::make_shared<responder_state>(weak_from_this(), ex_, seq_, id_, std::move(best_params), core_->opts.stream_queue_limit);
        responder resp(state);
        http_handler handler;
        if (best) {
            handler = best->handler;
        } else if (other_method) {
            std::sort(allowed.begin(), allowed.end());
            allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
            auto res = text_response(405, "405 method not allowed\n");
            res.headers.set("Allow", fmt::format("{}", fmt::join(allowed, ", ")));
            resp.send(std::move(res));
            return;
        } else if (fallback) {
            handler = fallback;
        } else {
            resp.send(text_response(404, "404 page not found\n"));
            return;
        }
        try {
            handler(std::move(req), resp);
        } catch (const std::exception& e) {
            core_->log(log_level::error, fmt::format("connection {}: handler threw: {}", id_, e.what()));
            resp.send(text_response(500, "500 internal server error\n"));
        } catch (...) {
            resp.send(text_response(500, "500 internal server error\n"));
        }
    }

    // True when a WebSocket route took the request (accepted or refused).
    bool try_upgrade(beast_request& breq) {
        const std::string target(breq.target());
        const std::string path = target.substr(0, target.find('?'));
        std::shared_ptr<const ws_route> best;
        route_params params;
        {
            std::lock_guard lock(core_->mu);
            for (const auto& r : core_->ws_routes) {
                auto m = match_route(r->pattern, path);
                if (!m) continue;
                const int rank = pattern_rank(r->pattern);
                if (!best || rank > pattern_rank(best->pattern) || (rank == pattern_rank(best->pattern) && r->pattern.size() > best->pattern.size())) {
                    best = r;
                    params = std::move(*m);
                }
            }
        }
        if (!best) return false;
        beast_request copy = breq;
        proto::http_request preq = to_proto(std::move(copy));
        fill(preq);
        auto session = make_ws_session(core_, ex_, id_, remote_, params);
        std::variant<proto::http_response, ws_handlers> decision;
        try {
            decision = best->handler(preq, ws_connection(session));
        } catch (...) {
            decision = text_response(500, "500 internal server error\n");
        }
        if (auto* refusal = std::get_if<proto::http_response>(&decision)) {
            ++seq_;
            awaiting_ = true;
            session->drop(false);  // a refused handle stays closed
            deliver(seq_, std::move(*refusal), std::chrono::milliseconds{0});
            return true;
        }
        handed_over_ = true;
        core_->remove(id_);
        timer_.cancel();
        closed_ = true;
        buffer_ = {};
        start_ws_session(session, std::move(stream_), std::move(breq), std::move(std::get<ws_handlers>(decision)));
        return true;
    }

    void send_error(int status, std::string text) {
        keep_alive_ = false;
        head_ = false;
        awaiting_ = false;
        write_response(serialize_response(text_response(status, std::move(text) + "\n"), false, true), true);
    }

    void write_response(std::string wire, bool close) {
        out_ = std::move(wire);
        close_after_ = close;
        arm(core_->opts.write_timeout);
        asio::async_write(stream_, asio::buffer(out_), beast::bind_front_handler(&http_session::on_write, shared_from_this()));
    }

    void on_write(error_code ec, std::size_t) {
        timer_.cancel();
        out_ = std::string{};
        if (closed_) return;
        if (ec) return do_close();
        if (close_after_) return do_linger_close();
        do_read();
    }

    // After a response with "Connection: close": stop sending, drain what the client still sends
    // (so the kernel does not answer it with RST and destroy our response), close after 1 s at most.
    void do_linger_close() {
        if (stream_.ssl()) {
            stream_.async_teardown([self = shared_from_this()](error_code) { self->do_close(); });
            return;
        }
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        arm(std::chrono::milliseconds{1000});
        do_discard(true);
    }

    // Reads and discards until the peer closes (blackhole, stall, lingering close).
    void do_discard(bool lingering) {
        if (!scratch_) scratch_ = std::make_unique<std::array<char, 512>>();
        stream_.socket().async_read_some(asio::buffer(*scratch_), [self = shared_from_this(), lingering](error_code ec, std::size_t) {
            if (self->closed_) return;
            if (ec) return self->do_close();
            self->do_discard(lingering);
        });
    }

    void do_close() {
        if (closed_) return;
        closed_ = true;
        release_keep();
        release_slot();
        timer_.cancel();
        if (delay_timer_) delay_timer_->cancel();
        stream_.close();
        core_->remove(id_);
        chunk_q_.clear();
        if (auto st = std::exchange(chunked_, nullptr)) st->finish(false);
    }

    std::shared_ptr<server_state> core_;
    std::uint64_t id_;
    flex_stream stream_;
    asio::any_io_executor ex_;
    asio::steady_timer timer_;
    std::optional<asio::steady_timer> delay_timer_;
    ssl_ctx_ptr ctx_;
    std::chrono::milliseconds hs_delay_;
    bool blackhole_;
    std::string remote_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::string out_;
    std::unique_ptr<std::array<char, 512>> scratch_;
    std::uint64_t seq_ = 0;
    bool awaiting_ = false;
    // While awaiting_, a wait that never expires holds the session (see dispatch). It is an
    // operation, not a member pointing back at the session: an io_context that is stopped and
    // destroyed before the answer destroys the wait and with it the session, where a
    // self-reference would have kept the session alive for good (a leak LeakSanitizer found).
    std::optional<asio::steady_timer> keep_timer_;
    bool keeping_ = false;

    void keep_until_answered() {
        if (!keep_timer_) keep_timer_.emplace(ex_);
        keep_timer_->expires_at(asio::steady_timer::time_point::max());
        keep_timer_->async_wait([self = shared_from_this()](error_code) {});
        keeping_ = true;
    }
    void release_keep() {
        if (!keeping_) return;
        keeping_ = false;
        keep_timer_->cancel();  // the wait completes (operation_aborted) and lets the session go
    }
    bool keep_alive_ = true;
    bool head_ = false;
    bool close_after_ = false;
    bool closed_ = false;
    bool stalled_ = false;
    bool handed_over_ = false;
    bool holds_slot_ = false;  // counts against max_concurrent_handshakes
    // The chunked response in progress, if any.
    std::shared_ptr<stream_state> chunked_;
    std::deque<std::pair<std::string, std::size_t>> chunk_q_;  // framed bytes, payload size
    bool chunk_writing_ = false;
    bool chunk_ending_ = false;  // the terminal chunk is queued
    bool chunk_close_after_ = false;
    bool watching_ = false;  // start_watch's read is pending
};

bool server_state::admit_handshake(const std::shared_ptr<http_session>& s) {
    std::lock_guard lock(mu);
    if (opts.max_concurrent_handshakes == 0 || hs_active < opts.max_concurrent_handshakes) {
        ++hs_active;
        return true;
    }
    hs_waiting.push_back(s);
    return false;
}

void server_state::release_handshake() {
    std::shared_ptr<http_session> next;
    {
        std::lock_guard lock(mu);
        if (hs_active > 0) --hs_active;
        if (hs_waiting.empty()) return;
        next = std::move(hs_waiting.front());
        hs_waiting.pop_front();
        ++hs_active;
    }
    next->start_queued_handshake();
}

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(std::shared_ptr<server_state> core, ssl_ctx_ptr ctx, std::chrono::milliseconds hs_delay)
        : core_(std::move(core)),
          acceptor_(asio::make_strand(core_->ex)),
          retry_(acceptor_.get_executor()),
          ctx_(std::move(ctx)),
          hs_delay_(hs_delay) {}

    proto::result<std::uint16_t> open(const std::string& host, std::uint16_t port) {
        error_code ec;
        const auto addr = asio::ip::make_address(host, ec);
        if (ec) return proto::make_error(net_errc::listen_failed, "\"{}\" is not an IP address", host);
        const tcp::endpoint ep(addr, port);
        acceptor_.open(ep.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(ep, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return proto::make_error(net_errc::listen_failed, "{}: {}", endpoint_string(ep), ec.message());
        return acceptor_.local_endpoint().port();
    }

    void start() { do_accept(); }

    void stop() {
        asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
            error_code ignored;
            self->acceptor_.close(ignored);
            self->retry_.cancel();
        });
    }

private:
    void do_accept() {
        acceptor_.async_accept(asio::make_strand(core_->ex), beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(error_code ec, tcp::socket socket) {
        if (!acceptor_.is_open() || core_->is_stopped()) return;
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            // EMFILE and friends: wait a little instead of spinning.
            core_->log(log_level::warning, fmt::format("accept: {}", ec.message()));
            retry_.expires_after(std::chrono::milliseconds{50});
            retry_.async_wait([self = shared_from_this()](error_code e) {
                if (!e) self->do_accept();
            });
            return;
        }
        core_->accepted.fetch_add(1);
        handle(std::move(socket));
        do_accept();
    }

    void handle(tcp::socket socket) {
        error_code ec;
        const auto ep = socket.remote_endpoint(ec);
        const std::string remote = ec ? std::string("?") : endpoint_string(ep);
        accept_action action = accept_action::accept;
        accept_hook hook;
        {
            std::lock_guard lock(core_->mu);
            hook = core_->hook;
        }
        if (hook) {
            try {
                action = hook(remote);
            } catch (...) {
                action = accept_action::reset;
            }
        }
        socket.set_option(tcp::no_delay(true), ec);
        const std::uint64_t id = core_->next_id.fetch_add(1);
        switch (action) {
        case accept_action::reset: {
            core_->log(log_level::debug, fmt::format("connection {} from {}: reset by accept hook", id, remote));
            error_code ignored;
            socket.set_option(asio::socket_base::linger(true, 0), ignored);
            socket.close(ignored);
            return;
        }
        case accept_action::blackhole:
            std::make_shared<http_session>(core_, id, std::move(socket), nullptr, std::chrono::milliseconds{0}, true)->run();
            return;
        case accept_action::tls_delay:
            std::make_shared<http_session>(core_, id, std::move(socket), ctx_, ctx_ ? core_->opts.tls_delay_fault : std::chrono::milliseconds{0},
                                           false)
                ->run();
            return;
        case accept_action::accept:
            break;
        }
        std::make_shared<http_session>(core_, id, std::move(socket), ctx_, hs_delay_, false)->run();
    }

    std::shared_ptr<server_state> core_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_;
    ssl_ctx_ptr ctx_;
    std::chrono::milliseconds hs_delay_;
};

responder_state::~responder_state() {
    if (done.exchange(true)) return;
    // Every copy of the responder is gone and nobody answered.
    asio::post(ex, [s = session, q = seq] {
        if (auto p = s.lock()) p->deliver(q, text_response(500, "500 handler did not answer\n"), std::chrono::milliseconds{0});
    });
}

}  // namespace detail

// ---- responder -----------------------------------------------------------------------------------

void responder::send(proto::http_response res) const {
    if (!state_ || state_->done.exchange(true)) return;
    asio::post(state_->ex, [s = state_->session, q = state_->seq, res = std::move(res)]() mutable {
        if (auto p = s.lock()) p->deliver(q, std::move(res), std::chrono::milliseconds{0});
    });
}

void responder::send_after(proto::http_response res, std::chrono::milliseconds delay) const {
    if (!state_ || state_->done.exchange(true)) return;
    asio::post(state_->ex, [s = state_->session, q = state_->seq, res = std::move(res), delay]() mutable {
        if (auto p = s.lock()) p->deliver(q, std::move(res), delay);
    });
}

void responder::reset() const {
    if (!state_ || state_->done.exchange(true)) return;
    asio::post(state_->ex, [s = state_->session, q = state_->seq] {
        if (auto p = s.lock()) p->reset_by_responder(q);
    });
}

void responder::stall() const {
    if (!state_ || state_->done.exchange(true)) return;
    asio::post(state_->ex, [s = state_->session, q = state_->seq] {
        if (auto p = s.lock()) p->stall_by_responder(q);
    });
}

stream_writer responder::stream(proto::http_response head) const {
    if (!state_ || state_->done.exchange(true)) {
        auto closed = std::make_shared<detail::stream_state>(std::weak_ptr<detail::http_session>{}, asio::any_io_executor{}, 0);
        closed->open = false;
        closed->fired = true;
        return stream_writer(std::move(closed));
    }
    auto st = std::make_shared<detail::stream_state>(state_->session, state_->ex, state_->stream_limit);
    asio::post(state_->ex, [s = state_->session, q = state_->seq, head = std::move(head), st]() mutable {
        if (auto p = s.lock()) p->deliver_stream(q, head, st);
        else st->finish(false);
    });
    return stream_writer(std::move(st));
}

// ---- stream_writer -------------------------------------------------------------------------------

bool stream_writer::write(std::string chunk) const {
    if (!s_ || !s_->open) return false;
    if (chunk.empty()) return true;
    const std::size_t n = chunk.size();
    if (s_->queued.fetch_add(n) + n > s_->limit) {
        s_->queued -= n;
        abort();
        return false;
    }
    asio::post(s_->ex, [st = s_, chunk = std::move(chunk)]() mutable {
        if (auto p = st->session.lock()) p->stream_write(st, std::move(chunk));
        else st->finish(false);
    });
    return true;
}

void stream_writer::end() const {
    if (!s_ || !s_->open.exchange(false)) return;
    asio::post(s_->ex, [st = s_] {
        if (auto p = st->session.lock()) p->stream_end(st);
        else st->finish(false);
    });
}

void stream_writer::abort() const {
    if (!s_) return;
    s_->open = false;
    if (!s_->ex) return;
    asio::post(s_->ex, [st = s_] {
        if (auto p = st->session.lock()) p->stream_abort(st);
        st->finish(false);
    });
}

bool stream_writer::is_open() const noexcept { return s_ && s_->open; }

void stream_writer::on_close(std::function<void(bool)> callback) const {
    if (!s_ || !callback) return;
    bool ended = false;
    {
        std::lock_guard lock(s_->mu);
        if (!s_->fired) {
            s_->on_close = std::move(callback);
            return;
        }
        ended = s_->ended;
    }
    if (s_->ex) asio::post(s_->ex, [f = std::move(callback), ended] { f(ended); });
    else callback(ended);
}

const route_params& responder::params() const noexcept {
    static const route_params none;
    return state_ ? state_->params : none;
}

std::string_view responder::param(std::string_view name) const noexcept {
    for (const auto& [k, v] : params())
        if (k == name) return v;
    return {};
}

std::uint64_t responder::connection_id() const noexcept { return state_ ? state_->conn_id : 0; }

// ---- server --------------------------------------------------------------------------------------

namespace {
detail::server_state& state_of(const std::shared_ptr<detail::server_core>& c) { return static_cast<detail::server_state&>(*c); }
}  // namespace

server::server(asio::any_io_executor ex, server_options opts) {
    auto st = std::make_shared<detail::server_state>();
    st->ex = std::move(ex);
    st->opts = std::move(opts);
    core_ = std::move(st);
}

server::~server() { stop(); }

void server::handle(std::string method, std::string pattern, http_handler handler) {
    auto r = std::make_shared<detail::http_route>();
    r->method = std::move(method);
    r->rank = pattern_rank(pattern);
    r->pattern = std::move(pattern);
    r->handler = std::move(handler);
    auto& st = state_of(core_);
    std::lock_guard lock(st.mu);
    st.routes.push_back(std::move(r));
}

void server::handle_ws(std::string pattern, ws_upgrade_handler handler) {
    auto r = std::make_shared<detail::ws_route>();
    r->pattern = std::move(pattern);
    r->handler = std::move(handler);
    auto& st = state_of(core_);
    std::lock_guard lock(st.mu);
    st.ws_routes.push_back(std::move(r));
}

void server::set_accept_hook(accept_hook hook) {
    auto& st = state_of(core_);
    std::lock_guard lock(st.mu);
    st.hook = std::move(hook);
}

void server::set_not_found(http_handler handler) {
    auto& st = state_of(core_);
    std::lock_guard lock(st.mu);
    st.not_found = std::move(handler);
}

proto::result<std::uint16_t> server::listen(listener_config cfg) {
    auto& st = state_of(core_);
    if (st.is_stopped()) return proto::make_error(net_errc::listen_failed, "the server is stopped");
    detail::ssl_ctx_ptr ctx;
    std::chrono::milliseconds delay{0};
    if (cfg.tls) {
        auto c = detail::make_server_ctx(*cfg.tls);
        if (!c) return std::move(c).err();
        ctx = *c;
        delay = cfg.tls->handshake_delay;
    }
    auto l = std::make_shared<detail::listener>(std::static_pointer_cast<detail::server_state>(core_), ctx, delay);
    auto port = l->open(cfg.host, cfg.port);
    if (!port) return port;
    {
        std::lock_guard lock(st.mu);
        st.listeners.push_back(l);
        st.ports.push_back(*port);
    }
    l->start();
    return port;
}

std::uint16_t server::port(std::size_t listener_index) const {
    auto& st = state_of(core_);
    std::lock_guard lock(st.mu);
    return listener_index < st.ports.size() ? st.ports[listener_index] : 0;
}

void server::stop() {
    auto& st = state_of(core_);
    std::vector<std::shared_ptr<detail::listener>> ls;
    std::vector<std::shared_ptr<detail::closable>> cs;
    std::deque<std::shared_ptr<detail::http_session>> waiting;  // destroyed (closed) after the lock is released
    {
        std::lock_guard lock(st.mu);
        if (st.stopped) return;
        st.stopped = true;
        ls.swap(st.listeners);
        waiting.swap(st.hs_waiting);
        for (auto& [id, w] : st.conns)
            if (auto c = w.lock()) cs.push_back(std::move(c));
    }
    for (auto& l : ls) l->stop();
    for (auto& c : cs) c->close_from_server();
}

server_stats server::stats() const {
    auto& st = state_of(core_);
    server_stats s;
    s.accepted = st.accepted.load();
    s.requests = st.requests.load();
    s.ws_sessions = st.ws_sessions.load();
    std::lock_guard lock(st.mu);
    s.open_connections = st.conns.size();
    return s;
}

}  // namespace ttig::net
