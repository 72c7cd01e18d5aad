// WebSocket: the server session and the generic client. The only TU that instantiates
// beast::websocket::stream<flex_stream>.
#include "net/detail.hpp"

#include <ttig/net/http_client.hpp>
#include <ttig/net/ws_client.hpp>

#include <fmt/format.h>

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <deque>

namespace ttig::net {

namespace detail {

namespace websocket = beast::websocket;
using ws_stream = websocket::stream<flex_stream>;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class ws_state : int { created, handshaking, open, closed };

proto::http_response to_proto_response(const websocket::response_type& res) {
    proto::http_response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.add(std::string(f.name_string()), std::string(f.value()));
    out.body = res.body();
    return out;
}

ws_close_info close_info_from(ws_stream* ws, const error_code& ec, bool timed_out, std::string_view what) {
    ws_close_info info;
    if (ec == websocket::error::closed && ws) {
        info.code = static_cast<std::uint16_t>(ws->reason().code);
        info.reason = std::string(ws->reason().reason.data(), ws->reason().reason.size());
        return info;
    }
    info.code = 1006;
    info.error = map_error(ec, timed_out, what);
    return info;
}

// ---- server session ------------------------------------------------------------------------------

class ws_session final : public ws_session_iface, public closable, public std::enable_shared_from_this<ws_session> {
public:
    ws_session(std::shared_ptr<server_core> core, asio::any_io_executor ex, std::uint64_t id, std::string remote, route_params params)
        : core_(std::move(core)), ex_(std::move(ex)), id_(id), remote_(std::move(remote)), params_(std::move(params)) {}

    // ---- ws_session_iface (any thread) ----
    bool send(int kind, std::string data, std::uint16_t code) override {
        const auto st = state_.load();
        if (st == ws_state::closed) return false;
        if (queued_.fetch_add(1) >= core_->opts.ws_queue_limit) {
            queued_.fetch_sub(1);
            return false;
        }
        asio::post(ex_, [self = shared_from_this(), kind, data = std::move(data), code]() mutable { self->enqueue(kind, std::move(data), code); });
        return true;
    }

    // Ordered after the messages queued before it (as with gorilla, where WriteMessage returns
    // before Conn.Close runs): those are written first, later ones are discarded.
    void drop(bool rst) override {
        asio::post(ex_, [self = shared_from_this(), rst] { self->request_drop(rst); });
    }

    bool is_open() const noexcept override { return state_.load() == ws_state::open; }
    std::uint64_t id() const noexcept override { return id_; }
    const std::string& remote() const noexcept override { return remote_; }
    const route_params& params() const noexcept override { return params_; }

    // ---- closable ----
    void close_from_server() override {
        asio::post(ex_, [self = shared_from_this()] { self->do_drop(false); });
    }

    // ---- on the strand ----
    void start(flex_stream&& stream, beast_request&& req, ws_handlers&& h) {
        if (state_.load() == ws_state::closed) {  // dropped before it started
            stream.close();
            return;
        }
        h_ = std::move(h);
        state_ = ws_state::handshaking;
        core_->add(id_, std::weak_ptr<closable>(shared_from_this()));
        core_->ws_sessions.fetch_add(1);
        ws_.emplace(std::move(stream));
        const auto& o = core_->opts;
        ws_->read_message_max(o.ws_read_message_max);
        ws_->auto_fragment(false);     // server frames are never masked: no copy through the write buffer
        ws_->write_buffer_bytes(256);  // so the buffer Beast allocates per session stays tiny
        websocket::stream_base::timeout t{};
        t.handshake_timeout = o.ws_handshake_timeout.count() > 0 ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(o.ws_handshake_timeout)
                                                                 : websocket::stream_base::none();
        t.idle_timeout = o.ws_idle_timeout.count() > 0 ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(o.ws_idle_timeout)
                                                       : websocket::stream_base::none();
        t.keep_alive_pings = false;  // the application pings (TTS: every 30 s ± 10 %)
        ws_->set_option(t);
        if (h_.response_headers.items.empty()) {
            ws_->set_option(websocket::stream_base::decorator([](websocket::response_type& res) { res.erase(http::field::server); }));
        } else {
            ws_->set_option(websocket::stream_base::decorator([fields = std::make_shared<proto::http_fields>(h_.response_headers)](websocket::response_type& res) {
                res.erase(http::field::server);
                for (const auto& [n, v] : fields->items) res.set(n, v);
            }));
        }
        ws_->control_callback([this](websocket::frame_type kind, beast::string_view payload) {
            if (kind == websocket::frame_type::pong && h_.on_pong) call([&] { h_.on_pong(std::string(payload)); });
        });
        req_ = std::make_unique<beast_request>(std::move(req));
        ws_->async_accept(*req_, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
    }

private:
    template <class F>
    void call(F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            core_->log(log_level::error, fmt::format("ws session {}: handler threw: {}", id_, e.what()));
        } catch (...) {
            core_->log(log_level::error, fmt::format("ws session {}: handler threw", id_));
        }
    }

    void on_accept(error_code ec) {
        req_.reset();
        if (ec) return end(ec);
        if (state_.load() == ws_state::closed) return;
        state_ = ws_state::open;
        ws_->set_option(websocket::stream_base::decorator([](websocket::response_type&) {}));
        do_read();
        if (head_ < queue_.size() && !writing_) do_write();
    }

    void do_read() { ws_->async_read(rbuf_, beast::bind_front_handler(&ws_session::on_read, shared_from_this())); }

    void on_read(error_code ec, std::size_t) {
        if (ec) return end(ec);
        std::string msg = beast::buffers_to_string(rbuf_.data());
        rbuf_.consume(rbuf_.size());
        rbuf_.shrink_to_fit();  // an idle session holds no read buffer
        const bool text = ws_->got_text();
        if (text && h_.on_text) call([&] { h_.on_text(std::move(msg)); });
        else if (!text && h_.on_binary) call([&] { h_.on_binary(std::move(msg)); });
        if (state_.load() == ws_state::open) do_read();
    }

    struct out_msg {
        int kind;
        std::string data;
        std::uint16_t code;
    };

    void enqueue(int kind, std::string data, std::uint16_t code) {
        if (state_.load() == ws_state::closed || drop_pending_) {
            queued_.fetch_sub(1);
            return;
        }
        queue_.push_back(out_msg{kind, std::move(data), code});
        if (state_.load() == ws_state::open && !writing_) do_write();
    }

    // A peer that stops reading must not hold a write (and the queue) forever.
    void arm_write_deadline() {
        const auto d = core_->opts.write_timeout;
        if (d.count() <= 0) return;
        if (!wtimer_) wtimer_ = std::make_unique<asio::steady_timer>(ex_);
        wtimer_->expires_after(d);
        wtimer_->async_wait([self = shared_from_this()](error_code ec) {
            if (ec || !self->writing_ || !self->ws_) return;
            self->write_timed_out_ = true;
            self->ws_->next_layer().close();
        });
    }

    void do_write() {
        if (head_ >= queue_.size() || closing_) return;
        writing_ = true;
        arm_write_deadline();
        out_msg& m = queue_[head_];
        auto self = shared_from_this();
        switch (m.kind) {
        case 0:
        case 1:
            ws_->text(m.kind == 0);
            ws_->async_write(asio::buffer(m.data), [self](error_code ec, std::size_t) { self->on_write(ec); });
            break;
        case 2:
            if (m.data.size() > 125) m.data.resize(125);
            ws_->async_ping(websocket::ping_data(m.data.data(), m.data.size()), [self](error_code ec) { self->on_write(ec); });
            break;
        default: {
            closing_ = true;
            std::string reason = m.data.substr(0, 123);
            ws_->async_close(websocket::close_reason(static_cast<websocket::close_code>(m.code), reason), [self, code = m.code, reason](error_code ec) {
                self->writing_ = false;
                if (self->wtimer_) self->wtimer_->cancel();
                if (!ec || ec == websocket::error::closed) {
                    ws_close_info info;
                    info.code = code;
                    info.reason = reason;
                    return self->finish(std::move(info));
                }
                self->end(ec);
            });
            break;
        }
        }
    }

    void on_write(error_code ec) {
        writing_ = false;
        if (wtimer_) wtimer_->cancel();
        if (head_ < queue_.size()) {
            queue_[head_++] = out_msg{};
            queued_.fetch_sub(1);
        }
        if (head_ == queue_.size()) {
            queue_.clear();
            queue_.shrink_to_fit();
            head_ = 0;
        }
        if (ec) {
            ws_->next_layer().close();  // the pending read ends the session
            return;
        }
        if (drop_pending_ && head_ >= queue_.size()) return do_drop(drop_rst_);
        if (state_.load() == ws_state::open) do_write();
    }

    void request_drop(bool rst) {
        if (state_.load() == ws_state::open && (writing_ || head_ < queue_.size())) {
            drop_pending_ = true;
            drop_rst_ = rst;
            return;
        }
        do_drop(rst);
    }

    void do_drop(bool rst) {
        if (state_.load() == ws_state::created) {
            state_ = ws_state::closed;
            return;
        }
        if (!ws_) return;
        dropped_locally_ = true;
        if (rst) ws_->next_layer().reset();
        else ws_->next_layer().close();
    }

    void end(error_code ec) {
        if (state_.load() == ws_state::closed) return;
        ws_close_info info = close_info_from(ws_ ? &*ws_ : nullptr, ec, ec == beast::error::timeout || write_timed_out_, "websocket");
        if (dropped_locally_ && info.error) info.error = proto::make_error(net_errc::aborted, "dropped locally");
        finish(std::move(info));
    }

    void finish(ws_close_info info) {
        if (state_.load() == ws_state::closed) return;
        state_ = ws_state::closed;
        queued_.fetch_sub(queue_.size() - head_);
        queue_.clear();
        queue_.shrink_to_fit();
        head_ = 0;
        if (wtimer_) wtimer_->cancel();
        core_->remove(id_);
        if (ws_ && ws_->next_layer().is_open() && !writing_ && !ws_->is_open()) ws_->next_layer().close();
        ws_handlers h = std::move(h_);
        h_ = ws_handlers{};  // handlers often hold ws_connection copies: break the cycle
        if (h.on_close) call([&] { h.on_close(info); });
    }

    std::shared_ptr<server_core> core_;
    asio::any_io_executor ex_;
    std::uint64_t id_;
    std::string remote_;
    route_params params_;
    std::atomic<ws_state> state_{ws_state::created};
    std::atomic<std::size_t> queued_{0};
    std::optional<ws_stream> ws_;
    std::unique_ptr<beast_request> req_;
    beast::flat_buffer rbuf_;
    ws_handlers h_;
    std::vector<out_msg> queue_;
    std::size_t head_ = 0;
    std::unique_ptr<asio::steady_timer> wtimer_;  // created on the first write
    bool writing_ = false;
    bool write_timed_out_ = false;
    bool drop_pending_ = false;  // drop once the queue is written
    bool drop_rst_ = false;
    bool closing_ = false;
    bool dropped_locally_ = false;
};

}  // namespace

std::shared_ptr<ws_session_iface> make_ws_session(std::shared_ptr<server_core> core, asio::any_io_executor strand, std::uint64_t id,
                                                  std::string remote, route_params params) {
    return std::make_shared<ws_session>(std::move(core), std::move(strand), id, std::move(remote), std::move(params));
}

void start_ws_session(const std::shared_ptr<ws_session_iface>& s, flex_stream&& stream, beast_request&& req, ws_handlers&& h) {
    static_cast<ws_session&>(*s).start(std::move(stream), std::move(req), std::move(h));
}

}  // namespace detail

// ---- ws_connection -------------------------------------------------------------------------------

bool ws_connection::send_text(std::string text) const {
    auto s = s_.lock();
    return s && s->send(0, std::move(text), 0);
}
bool ws_connection::send_binary(std::string data) const {
    auto s = s_.lock();
    return s && s->send(1, std::move(data), 0);
}
bool ws_connection::ping(std::string payload) const {
    auto s = s_.lock();
    return s && s->send(2, std::move(payload), 0);
}
void ws_connection::close(std::uint16_t code, std::string reason) const {
    if (auto s = s_.lock()) s->send(3, std::move(reason), code);
}
void ws_connection::drop() const {
    if (auto s = s_.lock()) s->drop(false);
}
void ws_connection::reset() const {
    if (auto s = s_.lock()) s->drop(true);
}
bool ws_connection::is_open() const noexcept {
    auto s = s_.lock();
    return s && s->is_open();
}
std::uint64_t ws_connection::id() const noexcept {
    auto s = s_.lock();
    return s ? s->id() : 0;
}
std::string ws_connection::remote_endpoint() const {
    auto s = s_.lock();
    return s ? s->remote() : std::string{};
}
route_params ws_connection::params() const {
    auto s = s_.lock();
    return s ? s->params() : route_params{};
}

// ---- ws_client -----------------------------------------------------------------------------------

using namespace detail;

struct ws_client::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor e, client_config c) : ex(asio::make_strand(e)), cfg(std::move(c)) {}

    struct item {
        int kind;
        std::string data;
        std::uint16_t code;
        asio::any_completion_handler<write_signature> handler;
    };

    asio::any_io_executor ex;  // strand
    client_config cfg;
    std::optional<client_tls> tls;
    std::optional<ws_stream> ws;
    std::optional<proto::http_response> handshake;
    mutable std::mutex mu;  // guards closed
    std::optional<ws_close_info> closed;
    beast::flat_buffer rbuf;
    ws_connect_options opts;
    std::deque<item> queue;
    bool writing = false;
    bool reading = false;
    bool connecting = false;
    std::atomic<bool> open{false};

    void set_closed(ws_close_info info) {
        open = false;
        std::lock_guard lock(mu);
        if (!closed) closed = std::move(info);
    }

    proto::error closed_error() const {
        std::lock_guard lock(mu);
        if (!closed) return proto::make_error(net_errc::aborted, "not connected");
        if (closed->error) return *closed->error;
        return proto::make_error(net_errc::ws_closed, "close code {}{}{}", closed->code, closed->reason.empty() ? "" : ": ", closed->reason);
    }
};

namespace {

template <class Sig, class R>
void complete(asio::any_completion_handler<Sig>& h, const asio::any_io_executor& def, R&& r) {
    asio::post(def, asio::append(std::move(h), std::forward<R>(r)));
}

asio::awaitable<proto::result<proto::http_response>> run_connect(std::shared_ptr<ws_client::impl> self, std::string url_text,
                                                                 ws_connect_options opts) {
    auto ex = co_await asio::this_coro::executor;
    if (self->ws || self->connecting) co_return proto::make_error(net_errc::aborted, "this ws_client is already connected");
    auto u = parse_url(url_text);
    if (!u) co_return std::move(u).err();
    if (!u->websocket()) co_return proto::make_error(net_errc::bad_url, "\"{}\": not a ws:// or wss:// URL", url_text);
    std::vector<std::pair<std::string, std::string>> fields;
    for (const auto& line : opts.headers) {
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0 || line.find_first_of("\r\n") != std::string::npos)
            co_return proto::make_error(net_errc::bad_header, "\"{}\" is not \"Name: value\"", line.substr(0, line.find(':')));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
        fields.emplace_back(line.substr(0, colon), std::move(value));
    }
    ssl_ctx_ptr ctx;
    if (u->tls()) {
        if (!self->tls) self->tls.emplace(self->cfg.tls);
        if (!self->tls->ctx) co_return self->tls->ctx.err();
        ctx = *self->tls->ctx;
    }
    self->connecting = true;
    struct reset_t {
        ws_client::impl& i;
        ~reset_t() { i.connecting = false; }
    } reset_guard{*self};
    auto wd = arm_watchdog(ex, opts.deadline);
    struct guard_t {
        watchdog& w;
        ~guard_t() { disarm(w); }
    } guard{*wd};
    auto s = co_await open_stream(*u, self->cfg, ctx.get(), false, *wd, nullptr);
    if (!s) co_return std::move(s).err();
    self->opts = std::move(opts);
    self->ws.emplace(std::move(*s));
    ws_stream& ws = *self->ws;
    ws.read_message_max(self->opts.read_message_max);
    ws.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(), false});
    ws.set_option(websocket::stream_base::decorator([fields = std::move(fields), ua = self->cfg.user_agent](websocket::request_type& req) {
        if (!ua.empty()) req.set(http::field::user_agent, ua);
        for (const auto& [n, v] : fields) req.set(n, v);
    }));
    ws.control_callback([raw = self.get()](websocket::frame_type kind, beast::string_view payload) {
        const std::string_view p(payload.data(), payload.size());
        try {  // a throwing callback must not unwind through Beast
            if (kind == websocket::frame_type::pong && raw->opts.on_pong) raw->opts.on_pong(p);
            if (kind == websocket::frame_type::ping && raw->opts.on_ping) raw->opts.on_ping(p);
        } catch (...) {
        }
    });
    wd->on_expire = [&ws] { ws.next_layer().close(); };
    websocket::response_type res;
    auto [ec] = co_await ws.async_handshake(res, u->host_header(), u->target, use_tuple);
    wd->on_expire = nullptr;
    self->handshake = to_proto_response(res);
    if (ec) {
        self->ws.reset();
        if (ec == websocket::error::upgrade_declined) {
            std::string body = res.body().substr(0, 200);
            std::string_view reason = reason_phrase(static_cast<int>(res.result_int()));
            co_return proto::make_error(net_errc::http_status, "WebSocket upgrade refused by {}: HTTP {} {}{}{}", u->host_header(),
                                        res.result_int(), reason, body.empty() ? "" : ": ", body);
        }
        co_return map_error(ec, wd->expired, fmt::format("WebSocket handshake with {}", u->host_header()));
    }
    self->open = true;
    co_return *self->handshake;
}

asio::awaitable<proto::result<ws_message>> run_read(std::shared_ptr<ws_client::impl> self, std::chrono::milliseconds deadline) {
    auto ex = co_await asio::this_coro::executor;
    if (!self->ws || !self->open) co_return self->closed_error();
    if (self->reading) co_return proto::make_error(net_errc::aborted, "a read is already pending");
    self->reading = true;
    auto wd = arm_watchdog(ex, deadline);
    struct guard_t {
        watchdog& w;
        ~guard_t() { disarm(w); }
    } guard{*wd};
    ws_stream& ws = *self->ws;
    wd->on_expire = [&ws] { ws.next_layer().close(); };
    auto [ec, n] = co_await ws.async_read(self->rbuf, use_tuple);
    wd->on_expire = nullptr;
    self->reading = false;
    if (ec) {
        self->set_closed(close_info_from(&ws, ec, wd->expired, "WebSocket read"));
        if (wd->expired) co_return proto::make_error(net_errc::timeout, "WebSocket read: deadline expired");
        co_return self->closed_error();
    }
    ws_message m;
    m.binary = !ws.got_text();
    m.data = beast::buffers_to_string(self->rbuf.data());
    self->rbuf.consume(self->rbuf.size());
    co_return m;
}

asio::awaitable<void> run_writer(std::shared_ptr<ws_client::impl> self) {
    auto ex = co_await asio::this_coro::executor;
    while (!self->queue.empty()) {
        ws_client::impl::item it = std::move(self->queue.front());
        self->queue.pop_front();
        if (!self->ws || !self->open) {
            complete(it.handler, self->ex, proto::result<void>(self->closed_error()));
            continue;
        }
        ws_stream& ws = *self->ws;
        error_code ec;
        bool timed_out = false;
        switch (it.kind) {
        case 0:
        case 1: {
            auto wd = arm_watchdog(ex, self->opts.write_deadline);
            wd->on_expire = [&ws] { ws.next_layer().close(); };
            ws.text(it.kind == 0);
            auto [e, n] = co_await ws.async_write(asio::buffer(it.data), use_tuple);
            timed_out = wd->expired;
            disarm(*wd);
            ec = e;
            break;
        }
        case 2: {
            if (it.data.size() > 125) {
                complete(it.handler, self->ex, proto::result<void>(proto::make_error(net_errc::too_large, "ping payload over 125 bytes")));
                continue;
            }
            auto wd = arm_watchdog(ex, self->opts.write_deadline);
            wd->on_expire = [&ws] { ws.next_layer().close(); };
            auto [e] = co_await ws.async_ping(websocket::ping_data(it.data.data(), it.data.size()), use_tuple);
            timed_out = wd->expired;
            disarm(*wd);
            ec = e;
            break;
        }
        default: {
            auto wd = arm_watchdog(ex, std::chrono::milliseconds{5000});
            wd->on_expire = [&ws] { ws.next_layer().close(); };
            const std::string reason = it.data.substr(0, 123);
            auto [e] = co_await ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(it.code), reason), use_tuple);
            timed_out = wd->expired;
            disarm(*wd);
            ec = e;
            ws_close_info info;
            info.code = it.code;
            info.reason = reason;
            self->set_closed(std::move(info));
            if (ec == websocket::error::closed) ec = {};
            break;
        }
        }
        if (ec) {
            self->set_closed(close_info_from(&ws, ec, timed_out, "WebSocket write"));
            complete(it.handler, self->ex, proto::result<void>(map_error(ec, timed_out, "WebSocket write")));
        } else {
            complete(it.handler, self->ex, proto::result<void>());
        }
    }
    self->writing = false;
}

}  // namespace

ws_client::ws_client(asio::any_io_executor ex, client_config cfg) : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg))) {}

ws_client::~ws_client() { drop(); }

void ws_client::connect_impl(std::string url, ws_connect_options opts, asio::any_completion_handler<connect_signature> h) {
    auto self = impl_;
    auto hex = asio::get_associated_executor(h, self->ex);
    auto out = std::make_shared<std::optional<proto::result<proto::http_response>>>();
    auto body = [](std::shared_ptr<impl> s, std::string u, ws_connect_options o,
                   std::shared_ptr<std::optional<proto::result<proto::http_response>>> slot) -> asio::awaitable<void> {
        slot->emplace(co_await run_connect(std::move(s), std::move(u), std::move(o)));
    };
    asio::co_spawn(self->ex, body(self, std::move(url), std::move(opts), out),
                   asio::bind_executor(hex, [h = std::move(h), out](std::exception_ptr e) mutable {
                       if (e || !*out) std::move(h)(proto::result<proto::http_response>(proto::make_error(net_errc::io, "internal error in ws_client")));
                       else std::move(h)(std::move(**out));
                   }));
}

void ws_client::read_impl(std::chrono::milliseconds deadline, asio::any_completion_handler<read_signature> h) {
    auto self = impl_;
    auto hex = asio::get_associated_executor(h, self->ex);
    auto out = std::make_shared<std::optional<proto::result<ws_message>>>();
    auto body = [](std::shared_ptr<impl> s, std::chrono::milliseconds d,
                   std::shared_ptr<std::optional<proto::result<ws_message>>> slot) -> asio::awaitable<void> {
        slot->emplace(co_await run_read(std::move(s), d));
    };
    asio::co_spawn(self->ex, body(self, deadline, out), asio::bind_executor(hex, [h = std::move(h), out](std::exception_ptr e) mutable {
                       if (e || !*out) std::move(h)(proto::result<ws_message>(proto::make_error(net_errc::io, "internal error in ws_client")));
                       else std::move(h)(std::move(**out));
                   }));
}

void ws_client::write_impl(int kind, std::string data, std::uint16_t code, asio::any_completion_handler<write_signature> h) {
    auto self = impl_;
    asio::dispatch(self->ex, [self, kind, data = std::move(data), code, h = std::move(h)]() mutable {
        self->queue.push_back(impl::item{kind, std::move(data), code, std::move(h)});
        if (self->writing) return;
        self->writing = true;
        asio::co_spawn(self->ex, run_writer(self), [](std::exception_ptr) {});
    });
}

void ws_client::drop() {
    if (!impl_) return;
    asio::dispatch(impl_->ex, [self = impl_] {
        if (self->ws) self->ws->next_layer().close();
        if (self->open) {
            ws_close_info info;
            info.error = proto::make_error(net_errc::aborted, "dropped locally");
            self->set_closed(std::move(info));
        }
    });
}

bool ws_client::is_open() const noexcept { return impl_->open.load(); }

const std::optional<proto::http_response>& ws_client::handshake_response() const noexcept { return impl_->handshake; }

std::optional<ws_close_info> ws_client::close_info() const {
    std::lock_guard lock(impl_->mu);
    return impl_->closed;
}

}  // namespace ttig::net
