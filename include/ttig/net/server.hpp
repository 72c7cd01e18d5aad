// HTTP(S) + WebSocket server with routing and fault hooks, for the emulators.
//
// A server runs on an executor (usually one io_context driven by one thread). It may have several
// listeners, each plain or TLS, each on host:port (port 0 = ephemeral, port() gives the real one).
// Every connection has its own strand; handlers run on it.
//
// HTTP: keep-alive HTTP/1.1; requests on one connection are handled one after the other (the next
// request is not read before the current one is answered, so pipelined requests wait their turn).
// Responses carry Content-Length (except 1xx/204/304); a handler that wants a chunked body asks
// for it explicitly with responder::stream (server-streaming RPCs: the TTS events stream). Limits:
// header bytes (431) and body bytes (413, 1 MiB by default); malformed requests get 400. Each such
// error response closes the connection.
//
// WebSocket: handle_ws(pattern, handler) routes GET upgrade requests; the handler refuses with an
// http_response or accepts with ws_handlers. Sessions are kept small (no permessage-deflate, no
// auto-fragmentation, a small write buffer, no read buffer while idle; TLS record buffers are
// released while idle; at most max_concurrent_handshakes TLS handshakes at once). Measured with
// 10,000 idle sessions (release build): ~7.5 KiB RSS per ws session, ~17 KiB per wss session.
// The 101 response carries Beast's "Server: Boost.Beast/345" unless response_headers set Server.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/net/tls.hpp>
#include <ttig/net/websocket.hpp>
#include <ttig/proto/http.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ttig::net {

namespace detail {
struct responder_state;
struct stream_state;
class ws_session_iface;
struct server_core;
}  // namespace detail

// Values of "{name}" segments of the matched route, in pattern order.
using route_params = std::vector<std::pair<std::string, std::string>>;

// A chunked response in progress (responder::stream). Copies share the stream; thread-safe (each
// call is posted to the connection's strand, in call order). While a stream is open the server keeps
// a read pending on the connection, so a client that goes away is noticed without writing.
class stream_writer {
public:
    stream_writer() = default;
    explicit stream_writer(std::shared_ptr<detail::stream_state> s) : s_(std::move(s)) {}

    // Queues `chunk` as one HTTP/1.1 chunk (an empty chunk is ignored: it would end the body).
    // False when the stream is over, or when more than stream_queue_limit bytes are waiting to be
    // written (a client that does not read): then the connection is closed.
    bool write(std::string chunk) const;
    // Writes the terminal 0-chunk; the connection then goes on with the next request (keep-alive)
    // or closes as after any response. Later writes are ignored.
    void end() const;
    // Closes the connection without the terminal chunk (the client sees a truncated body).
    void abort() const;
    bool is_open() const noexcept;  // false once ended, aborted, or the connection closed
    // Runs once, on the connection's strand, when the stream is over: ended = true after the
    // terminal chunk was written, false when the client went away, a write failed, the server
    // stopped or abort() was called. Registered after that, it runs at once (posted). One callback
    // per stream (a later registration replaces an earlier one that has not run).
    void on_close(std::function<void(bool ended)> callback) const;

private:
    std::shared_ptr<detail::stream_state> s_;
};

// How a handler answers one request. Copyable; the first of send/send_after/reset/stall/stream wins
// and later calls are ignored. Thread-safe (each call is posted to the connection's strand). When every
// copy is destroyed without an answer, the server answers 500.
class responder {
public:
    explicit responder(std::shared_ptr<detail::responder_state> state) : state_(std::move(state)) {}

    void send(proto::http_response res) const;
    void send_after(proto::http_response res, std::chrono::milliseconds delay) const;
    void reset() const;  // close with TCP RST (SO_LINGER 0), no response
    void stall() const;  // never answer; keep the connection open ("blackhole")
    // Starts a chunked response: `head` (status and headers; its body is ignored) goes out with
    // Transfer-Encoding: chunked and no Content-Length, then what the writer writes. A closed
    // writer when another answer won.
    stream_writer stream(proto::http_response head) const;

    const route_params& params() const noexcept;
    std::string_view param(std::string_view name) const noexcept;  // "" when absent
    std::uint64_t connection_id() const noexcept;

private:
    std::shared_ptr<detail::responder_state> state_;
};

using http_handler = std::function<void(proto::http_request, responder)>;

// A WebSocket session handle; copies share the session. Thread-safe; operations on a closed (or
// refused) session do nothing and return false. The handle does not keep the session alive (it
// holds a weak reference), so handlers may capture it without creating a cycle.
class ws_connection {
public:
    ws_connection() = default;
    explicit ws_connection(const std::shared_ptr<detail::ws_session_iface>& s) : s_(s) {}

    bool send_text(std::string text) const;    // false when closed or the write queue is full
    bool send_binary(std::string data) const;  // same
    bool ping(std::string payload = {}) const;
    // close/drop/reset are ordered after the messages sent before them (those are written first);
    // messages sent after them are discarded.
    void close(std::uint16_t code = 1000, std::string reason = {}) const;  // close frame, then TCP close
    void drop() const;   // TCP close without a close frame (as gorilla's Conn.Close)
    void reset() const;  // TCP RST (SO_LINGER 0)

    bool is_open() const noexcept;
    std::uint64_t id() const noexcept;    // 0 once the session is gone
    std::string remote_endpoint() const;  // "127.0.0.1:54321"; "" once the session is gone
    route_params params() const;          // "{name}" values of the matched route

    explicit operator bool() const noexcept { return !s_.expired(); }
    friend bool operator==(const ws_connection& a, const ws_connection& b) noexcept {
        return !a.s_.owner_before(b.s_) && !b.s_.owner_before(a.s_);
    }

private:
    std::weak_ptr<detail::ws_session_iface> s_;
};

// Called on the session's strand.
struct ws_handlers {
    std::function<void(std::string)> on_text;
    std::function<void(std::string)> on_binary;
    std::function<void(std::string)> on_pong;  // payload of a pong (answers to ping())
    std::function<void(const ws_close_info&)> on_close;  // exactly once, when the session ends
    proto::http_fields response_headers;  // extra fields for the 101 response
};

// Refuse with a response, or accept with handlers. The request's body is empty.
using ws_upgrade_handler =
    std::function<std::variant<proto::http_response, ws_handlers>(const proto::http_request&, ws_connection)>;

enum class accept_action {
    accept,     // serve normally
    reset,      // close at once with TCP RST
    blackhole,  // accept, read and discard, never answer
    tls_delay,  // delay the TLS handshake by server_options::tls_delay_fault (TLS listeners)
};
using accept_hook = std::function<accept_action(const std::string& remote)>;

struct server_options {
    std::size_t header_limit = 64u << 10;  // request line + fields
    std::size_t body_limit = 1u << 20;
    std::chrono::milliseconds handshake_timeout{10000};  // TLS handshake
    std::chrono::milliseconds read_timeout{120000};      // waiting for and reading a request (keep-alive idle)
    std::chrono::milliseconds write_timeout{30000};      // each HTTP response and each WebSocket write
    std::chrono::milliseconds tls_delay_fault{10000};    // accept_action::tls_delay
    // TLS handshakes in progress at once (0 = no limit); further connections wait their turn. Bounds
    // CPU and the memory peak when thousands of gateways reconnect together.
    std::size_t max_concurrent_handshakes = 64;
    std::size_t ws_read_message_max = 64u << 10;
    std::chrono::milliseconds ws_handshake_timeout{30000};
    std::chrono::milliseconds ws_idle_timeout{0};  // 0 = none (the application pings and decides)
    std::size_t ws_queue_limit = 64;               // queued outgoing messages per session
    std::size_t stream_queue_limit = 8u << 20;     // bytes of a chunked response waiting to be written
    log_sink log;
};

struct listener_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::optional<tls_server_config> tls;
};

struct server_stats {
    std::uint64_t accepted = 0;     // TCP connections accepted (all listeners)
    std::uint64_t requests = 0;     // HTTP requests read
    std::uint64_t ws_sessions = 0;  // WebSocket sessions accepted
    std::size_t open_connections = 0;  // HTTP connections and WebSocket sessions now open
};

class server {
public:
    explicit server(boost::asio::any_io_executor ex, server_options opts = {});
    explicit server(boost::asio::io_context& ioc, server_options opts = {}) : server(ioc.get_executor(), std::move(opts)) {}
    ~server();  // stop()
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Routes. pattern: exact ("/a/b"), with "{name}" segments ("/api/v3/gateways/{id}"), or a
    // prefix ending in "*" ("/static/*"). method "*" matches any. Exact beats "{param}" beats
    // prefix; longer prefixes win. Path matches with another method get 405. Register routes before
    // listen(); routes added later apply to new requests.
    void handle(std::string method, std::string pattern, http_handler handler);
    void handle_ws(std::string pattern, ws_upgrade_handler handler);
    void set_accept_hook(accept_hook hook);
    void set_not_found(http_handler handler);  // default: 404 "404 page not found\n" (Go's text)

    // Starts a listener; returns its port. Errors: net.listen_failed, tls.bad_config.
    proto::result<std::uint16_t> listen(listener_config cfg);
    std::uint16_t port(std::size_t listener_index = 0) const;

    // Closes the listeners and every connection (WebSocket sessions end without a close frame);
    // cancels delayed responses. Idempotent.
    void stop();

    server_stats stats() const;

private:
    std::shared_ptr<detail::server_core> core_;
};

// Route matching, exposed for tests and for applications that share patterns.
std::optional<route_params> match_route(std::string_view pattern, std::string_view path);

}  // namespace ttig::net
