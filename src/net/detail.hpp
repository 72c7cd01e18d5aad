// Internal to the net layer: the TLS-or-plain stream, TLS contexts, shared server state and the
// HTTP value conversions. Not installed; included only by src/net/*.cpp.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/net/error.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/net/server.hpp>
#include <ttig/net/tls.hpp>
#include <ttig/proto/http.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace ttig::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// ---- TLS contexts (tls.cpp) ----------------------------------------------------------------------

using ssl_ctx_ptr = std::shared_ptr<SSL_CTX>;
proto::result<ssl_ctx_ptr> make_server_ctx(const tls_server_config& cfg);
proto::result<ssl_ctx_ptr> make_client_ctx(const tls_client_config& cfg);

// What the verify callback saw (kept per connection). In "record" mode (probe) verification errors
// are recorded and the handshake goes on.
struct verify_record {
    long first_error = 0;  // X509_V_OK
    int depth = -1;
    bool record_only = false;
};

// Maps a failed handshake (SSL_ERROR_SSL) to a tls error, using the verify record and the
// OpenSSL error queue (which it clears).
proto::error handshake_error(SSL* ssl, const verify_record* rec);

// ---- flex_stream (stream.cpp) --------------------------------------------------------------------
//
// A TCP socket with an optional TLS layer driven by OpenSSL directly on the file descriptor
// (custom BIO with send(MSG_NOSIGNAL)/recv; waits through socket.async_wait). No intermediate
// buffers: with SSL_MODE_RELEASE_BUFFERS an idle TLS session holds only OpenSSL's SSL object.
// Satisfies AsyncReadStream/AsyncWriteStream for Beast (HTTP parser, websocket::stream).
// Operations on one stream must be serialized by one strand (the caller's).
class flex_stream {
public:
    using executor_type = asio::any_io_executor;
    using io_signature = void(error_code, std::size_t);
    using ec_signature = void(error_code);

    explicit flex_stream(tcp::socket socket) noexcept;
    flex_stream(flex_stream&& other) noexcept;
    flex_stream& operator=(flex_stream&& other) noexcept;
    flex_stream(const flex_stream&) = delete;
    flex_stream& operator=(const flex_stream&) = delete;
    ~flex_stream();

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    tcp::socket& socket() noexcept { return socket_; }
    bool is_open() const noexcept { return socket_.is_open(); }
    bool is_tls() const noexcept { return ssl_ != nullptr; }
    SSL* ssl() const noexcept { return ssl_; }
    const verify_record* verify_info() const noexcept { return verify_.get(); }
    // Why the last TLS operation failed (tls.* id, OpenSSL reason); code is empty otherwise.
    const proto::error& tls_failure() const noexcept { return tls_failure_; }

    proto::result<void> start_tls_server(SSL_CTX* ctx);
    // SNI = host (unless it is an IP literal); verification per the context, host name checked
    // unless insecure. record_only: verification errors are recorded, not fatal (probe).
    proto::result<void> start_tls_client(SSL_CTX* ctx, const std::string& host, bool insecure, bool record_only);

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        asio::mutable_buffer first;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            if (asio::mutable_buffer b(*it); b.size() > 0) {
                first = b;
                break;
            }
        }
        return asio::async_initiate<Token, io_signature>(
            [this](auto handler, asio::mutable_buffer b) {
                read_some_impl(b, asio::any_completion_handler<io_signature>(std::move(handler)));
            },
            token, first);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        buffer_list list;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers) && list.count < list.items.size(); ++it) {
            if (asio::const_buffer b(*it); b.size() > 0) list.items[list.count++] = b;
        }
        return asio::async_initiate<Token, io_signature>(
            [this](auto handler, buffer_list l) {
                write_some_impl(l, asio::any_completion_handler<io_signature>(std::move(handler)));
            },
            token, list);
    }

    template <class Token>
    auto async_handshake(Token&& token) {
        return asio::async_initiate<Token, ec_signature>(
            [this](auto handler) { handshake_impl(asio::any_completion_handler<ec_signature>(std::move(handler))); }, token);
    }

    // Sends TLS close_notify (no wait for the peer's), then shuts the TCP connection down and
    // closes it. Plain: shutdown + close.
    template <class Token>
    auto async_teardown(Token&& token) {
        return asio::async_initiate<Token, ec_signature>(
            [this](auto handler) { teardown_impl(asio::any_completion_handler<ec_signature>(std::move(handler))); }, token);
    }

    // Completes when bytes are readable (or buffered in TLS).
    template <class Token>
    auto async_wait_readable(Token&& token) {
        return asio::async_initiate<Token, ec_signature>(
            [this](auto handler) { wait_readable_impl(asio::any_completion_handler<ec_signature>(std::move(handler))); }, token);
    }

    // One non-blocking read attempt, on the caller's strand, for readers that hold no buffer while
    // idle (byte_stream: async_wait_readable, then this with a transient buffer). n > 0: bytes read.
    // Otherwise ec: would_block with want_write false = wait readable and retry, with want_write
    // true = TLS must write first (wait writable and retry); eof = clean close; bad_descriptor =
    // closed locally; another code = failure (for a TLS error tls_failure() has the reason).
    struct read_attempt {
        std::size_t n = 0;
        error_code ec;
        bool want_write = false;
    };
    read_attempt try_read_some(asio::mutable_buffer b) noexcept;

    void close() noexcept;  // FIN, no close_notify, no close frame
    void reset() noexcept;  // RST (SO_LINGER 0)
    // True when an idle connection cannot be reused: closed, EOF or unexpected bytes pending.
    bool unusable_when_idle() noexcept;

    friend void beast_close_socket(flex_stream& s) { s.close(); }

    struct buffer_list {
        std::array<asio::const_buffer, 16> items{};
        std::size_t count = 0;
    };

private:
    void read_some_impl(asio::mutable_buffer b, asio::any_completion_handler<io_signature> h);
    void write_some_impl(buffer_list l, asio::any_completion_handler<io_signature> h);
    void handshake_impl(asio::any_completion_handler<ec_signature> h);
    void teardown_impl(asio::any_completion_handler<ec_signature> h);
    void wait_readable_impl(asio::any_completion_handler<ec_signature> h);
    void free_ssl() noexcept;

    tcp::socket socket_;
    SSL* ssl_ = nullptr;
    std::unique_ptr<verify_record> verify_;
    proto::error tls_failure_;

    friend struct tls_op;
};

// Beast websocket teardown customisation (found by ADL).
template <class Handler>
void async_teardown(beast::role_type, flex_stream& s, Handler&& handler) {
    s.async_teardown(std::forward<Handler>(handler));
}
void teardown(beast::role_type, flex_stream& s, error_code& ec);

// ---- errors (stream.cpp) -------------------------------------------------------------------------

// Maps a transport error to a net error. timed_out: the caller's deadline fired (then net.timeout).
proto::error map_error(const error_code& ec, bool timed_out, std::string_view what);
std::string endpoint_string(const tcp::endpoint& ep);

// ---- client plumbing (client.cpp) ----------------------------------------------------------------

// Deadline of one client operation: when it fires, on_expire runs (closes the socket, cancels the
// resolver) and expired becomes true. Lives in a shared_ptr because the timer's handler may run
// after the operation ended.
struct watchdog {
    explicit watchdog(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool expired = false;
    std::function<void()> on_expire;
};
std::shared_ptr<watchdog> arm_watchdog(asio::any_io_executor ex, std::chrono::milliseconds d);
void disarm(watchdog& w) noexcept;

struct connect_report {
    std::vector<std::string> addresses;
    std::string connected;
    bool mapped = false;
    double dns_ms = -1, tcp_ms = -1, tls_ms = -1;
    std::string failed_phase;
};

// Resolves (host map first), connects (each address in turn) and, for TLS URLs, handshakes.
asio::awaitable<proto::result<flex_stream>> open_stream(const url& u, const client_config& cfg, SSL_CTX* ctx, bool record_only,
                                                       watchdog& wd, connect_report* report);

// A client-side TLS context built once from cfg.tls (or the error it gave).
struct client_tls {
    explicit client_tls(const tls_client_config& cfg);
    proto::result<ssl_ctx_ptr> ctx;
};

// ---- HTTP values (client.cpp) --------------------------------------------------------------------

using beast_request = http::request<http::string_body>;
proto::http_request to_proto(beast_request&& req);
// Serialized response: status line, fields (minus Content-Length / Transfer-Encoding), Content-Length
// (not for 1xx/204/304), optional "Connection: close", body (not for HEAD).
std::string serialize_response(const proto::http_response& res, bool head_request, bool close);
std::string serialize_request(const proto::http_request& req, const std::string& host_header, const std::string& user_agent);

// ---- server state (server.cpp) -------------------------------------------------------------------

class closable {
public:
    virtual ~closable() = default;
    virtual void close_from_server() = 0;  // posted to the connection's strand
};

struct ws_route {
    std::string pattern;
    ws_upgrade_handler handler;
};

struct server_core {
    asio::any_io_executor ex;
    server_options opts;

    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, std::weak_ptr<closable>> conns;
    bool stopped = false;

    std::atomic<std::uint64_t> next_id{1};
    std::atomic<std::uint64_t> accepted{0}, requests{0}, ws_sessions{0};

    void add(std::uint64_t id, std::weak_ptr<closable> c);
    void remove(std::uint64_t id);
    bool is_stopped() const;
    void log(log_level level, std::string_view msg) const;
};

class ws_session_iface {
public:
    virtual ~ws_session_iface() = default;
    virtual bool send(int kind, std::string data, std::uint16_t code) = 0;  // 0 text, 1 binary, 2 ping, 3 close
    virtual void drop(bool rst) = 0;
    virtual bool is_open() const noexcept = 0;
    virtual std::uint64_t id() const noexcept = 0;
    virtual const std::string& remote() const noexcept = 0;
    virtual const route_params& params() const noexcept = 0;
};

// Creates a session object (not started) on the connection's strand.
std::shared_ptr<ws_session_iface> make_ws_session(std::shared_ptr<server_core> core, asio::any_io_executor strand,
                                                  std::uint64_t id, std::string remote, route_params params);
// Starts it: WebSocket handshake on the stream with the upgrade request, then the session.
void start_ws_session(const std::shared_ptr<ws_session_iface>& s, flex_stream&& stream, beast_request&& req, ws_handlers&& h);

}  // namespace ttig::net::detail
