// flex_stream: TCP with optional TLS, OpenSSL driven directly on the socket.
//
// Why not asio::ssl::stream: its stream_core owns two 17 KiB buffers and its BIO pair two more
// (allocated on first use), ~70 KiB per session that never shrinks. Here OpenSSL reads and writes
// the socket through a tiny BIO (recv/send with MSG_DONTWAIT | MSG_NOSIGNAL); when it wants more
// input or output space, the operation waits with socket.async_wait and retries. With
// SSL_MODE_RELEASE_BUFFERS an idle session keeps no record buffers at all.
//
// Rules that keep this correct:
// - every operation runs on the handler's associated executor (the connection's strand), so SSL
//   calls on one stream never overlap;
// - after close()/reset() the SSL object is never called again (the descriptor number may be
//   reused by another connection);
// - no completion is invoked from inside the initiating function (immediate results are posted).
#include "net/detail.hpp"

#include <ttig/pki/pem.hpp>

#include <fmt/format.h>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

namespace ttig::net::detail {

namespace {

// ---- a minimal socket BIO: recv/send without blocking and without SIGPIPE ----------------------

struct fd_bio_state {
    int fd = -1;
    int last_errno = 0;
};

fd_bio_state* state_of(BIO* b) { return static_cast<fd_bio_state*>(BIO_get_data(b)); }

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int fd_bio_write(BIO* b, const char* data, int len) {
    auto* st = state_of(b);
    BIO_clear_retry_flags(b);
    if (!st || len <= 0) return 0;
    const ssize_t n = ::send(st->fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
        st->last_errno = errno;
        if (would_block(st->last_errno)) BIO_set_retry_write(b);
        return -1;
    }
    return static_cast<int>(n);
}

int fd_bio_read(BIO* b, char* data, int len) {
    auto* st = state_of(b);
    BIO_clear_retry_flags(b);
    if (!st || len <= 0) return 0;
    const ssize_t n = ::recv(st->fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT);
    if (n < 0) {
        st->last_errno = errno;
        if (would_block(st->last_errno)) BIO_set_retry_read(b);
        return -1;
    }
    if (n == 0) {
        st->last_errno = 0;
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    }
    return static_cast<int>(n);
}

long fd_bio_ctrl(BIO* b, int cmd, long num, void*) {
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    case BIO_CTRL_EOF:
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_CTRL_GET_CLOSE:
        return BIO_get_shutdown(b);
    case BIO_CTRL_SET_CLOSE:
        BIO_set_shutdown(b, static_cast<int>(num));
        return 1;
    default:
        return 0;
    }
}

int fd_bio_create(BIO* b) {
    BIO_set_data(b, nullptr);
    BIO_set_init(b, 0);
    return 1;
}

int fd_bio_destroy(BIO* b) {
    if (!b) return 0;
    delete state_of(b);
    BIO_set_data(b, nullptr);
    return 1;
}

BIO_METHOD* fd_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ttig fd");
        BIO_meth_set_write(m, fd_bio_write);
        BIO_meth_set_read(m, fd_bio_read);
        BIO_meth_set_ctrl(m, fd_bio_ctrl);
        BIO_meth_set_create(m, fd_bio_create);
        BIO_meth_set_destroy(m, fd_bio_destroy);
        return m;
    }();
    return method;
}

BIO* new_fd_bio(int fd) {
    BIO* b = BIO_new(fd_bio_method());
    if (!b) return nullptr;
    BIO_set_data(b, new fd_bio_state{fd, 0});
    BIO_set_init(b, 1);
    return b;
}

int last_errno(SSL* ssl) {
    BIO* b = SSL_get_rbio(ssl);
    auto* st = b ? state_of(b) : nullptr;
    return st ? st->last_errno : 0;
}

// ---- verification record (probe mode) ----------------------------------------------------------

int verify_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int verify_callback(int preverify_ok, X509_STORE_CTX* store) {
    if (preverify_ok) return 1;
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* rec = ssl ? static_cast<verify_record*>(SSL_get_ex_data(ssl, verify_index())) : nullptr;
    if (!rec) return 0;
    if (rec->first_error == X509_V_OK) {
        rec->first_error = X509_STORE_CTX_get_error(store);
        rec->depth = X509_STORE_CTX_get_error_depth(store);
    }
    return rec->record_only ? 1 : 0;
}

bool is_ip_literal(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

// ---- TLS operations ------------------------------------------------------------------------------

enum class tls_kind { read, write, handshake, shutdown };

struct tls_op {
    template <class Sig>
    struct op {
        flex_stream* s;
        tls_kind kind;
        asio::mutable_buffer rbuf{};
        asio::const_buffer wbuf{};
        std::string joined;  // owns the bytes written when several buffers were joined
        asio::any_completion_handler<Sig> handler;

        const void* wdata() const { return joined.empty() ? wbuf.data() : joined.data(); }
        std::size_t wsize() const { return joined.empty() ? wbuf.size() : joined.size(); }

        void finish(error_code ec, std::size_t n, bool first) {
            if (first) {
                if constexpr (std::is_same_v<Sig, flex_stream::io_signature>)
                    asio::post(s->socket_.get_executor(), asio::append(std::move(handler), ec, n));
                else
                    asio::post(s->socket_.get_executor(), asio::append(std::move(handler), ec));
            } else {
                invoke(std::move(handler), ec, n);
            }
        }

        static void invoke(asio::any_completion_handler<Sig>&& h, error_code ec, std::size_t n) {
            if constexpr (std::is_same_v<Sig, flex_stream::io_signature>) std::move(h)(ec, n);
            else std::move(h)(ec);
        }

        void wait(tcp::socket::wait_type w) {
            auto ex = asio::get_associated_executor(handler, s->socket_.get_executor());
            auto slot = asio::get_associated_cancellation_slot(handler);
            tcp::socket& sock = s->socket_;
            sock.async_wait(w, asio::bind_cancellation_slot(slot, asio::bind_executor(ex, [self = std::move(*this)](error_code ec) mutable {
                                                                if (ec) self.finish(ec, 0, false);
                                                                else self.run(false);
                                                            })));
        }

        void run(bool first) {
            if (!s->socket_.is_open() || !s->ssl_) return finish(asio::error::operation_aborted, 0, first);
            SSL* ssl = s->ssl_;
            ERR_clear_error();
            std::size_t n = 0;
            int r = 0;
            switch (kind) {
            case tls_kind::read:
                if (rbuf.size() == 0) return finish({}, 0, first);
                r = SSL_read_ex(ssl, rbuf.data(), rbuf.size(), &n);
                break;
            case tls_kind::write:
                if (wsize() == 0) return finish({}, 0, first);
                r = SSL_write_ex(ssl, wdata(), wsize(), &n);
                break;
            case tls_kind::handshake:
                r = SSL_do_handshake(ssl);
                break;
            case tls_kind::shutdown:
                r = SSL_shutdown(ssl);
                if (r >= 0) return finish({}, 0, first);  // close_notify sent; we do not wait for the peer's
                break;
            }
            if (r == 1) return finish({}, n, first);
            const int e = SSL_get_error(ssl, r);
            switch (e) {
            case SSL_ERROR_WANT_READ:
                return wait(tcp::socket::wait_read);
            case SSL_ERROR_WANT_WRITE:
                return wait(tcp::socket::wait_write);
            case SSL_ERROR_ZERO_RETURN:
                if (kind == tls_kind::handshake)
                    s->tls_failure_ = proto::make_error(tls_errc::handshake_failed, "the peer closed the connection during the handshake");
                return finish(asio::error::eof, 0, first);
            case SSL_ERROR_SYSCALL: {
                const int err = last_errno(ssl);
                ERR_clear_error();
                if (err == 0 || err == EAGAIN) {
                    if (kind == tls_kind::handshake)
                        s->tls_failure_ = proto::make_error(tls_errc::handshake_failed, "the peer closed the connection during the handshake");
                    return finish(asio::error::eof, 0, first);
                }
                return finish(error_code(err, boost::system::system_category()), 0, first);
            }
            default: {
                const unsigned long code = ERR_peek_error();
                if (kind == tls_kind::handshake) {
                    s->tls_failure_ = handshake_error(ssl, s->verify_.get());
                } else {
                    char buf[256];
                    ERR_error_string_n(code, buf, sizeof buf);
                    s->tls_failure_ = proto::make_error(net_errc::protocol, "TLS: {}", buf);
                    ERR_clear_error();
                }
                return finish(error_code(static_cast<int>(code ? code : 1), asio::error::get_ssl_category()), 0, first);
            }
            }
        }
    };
};

// ---- flex_stream ---------------------------------------------------------------------------------

flex_stream::flex_stream(tcp::socket socket) noexcept : socket_(std::move(socket)) {}

flex_stream::flex_stream(flex_stream&& o) noexcept
    : socket_(std::move(o.socket_)), ssl_(std::exchange(o.ssl_, nullptr)), verify_(std::move(o.verify_)), tls_failure_(std::move(o.tls_failure_)) {}

flex_stream& flex_stream::operator=(flex_stream&& o) noexcept {
    if (this != &o) {
        free_ssl();
        socket_ = std::move(o.socket_);
        ssl_ = std::exchange(o.ssl_, nullptr);
        verify_ = std::move(o.verify_);
        tls_failure_ = std::move(o.tls_failure_);
    }
    return *this;
}

flex_stream::~flex_stream() { free_ssl(); }

void flex_stream::free_ssl() noexcept {
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
}

proto::result<void> flex_stream::start_tls_server(SSL_CTX* ctx) {
    ERR_clear_error();
    free_ssl();
    ssl_ = SSL_new(ctx);
    BIO* bio = ssl_ ? new_fd_bio(socket_.native_handle()) : nullptr;
    if (!bio) {
        free_ssl();
        return proto::make_error(tls_errc::handshake_failed, "cannot create the TLS session: {}", pki::detail::openssl_reason());
    }
    SSL_set_bio(ssl_, bio, bio);
    SSL_set_accept_state(ssl_);
    return {};
}

proto::result<void> flex_stream::start_tls_client(SSL_CTX* ctx, const std::string& host, bool insecure, bool record_only) {
    ERR_clear_error();
    free_ssl();
    ssl_ = SSL_new(ctx);
    BIO* bio = ssl_ ? new_fd_bio(socket_.native_handle()) : nullptr;
    if (!bio) {
        free_ssl();
        return proto::make_error(tls_errc::handshake_failed, "cannot create the TLS session: {}", pki::detail::openssl_reason());
    }
    SSL_set_bio(ssl_, bio, bio);
    SSL_set_connect_state(ssl_);
    const bool ip = is_ip_literal(host);
    if (!ip && SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1)
        return proto::make_error(tls_errc::bad_config, "cannot set SNI \"{}\": {}", host, pki::detail::openssl_reason());
    verify_ = std::make_unique<verify_record>();
    verify_->record_only = record_only;
    SSL_set_ex_data(ssl_, verify_index(), verify_.get());
    if (insecure && !record_only) {
        SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
        return {};
    }
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, verify_callback);
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) : SSL_set1_host(ssl_, host.c_str());
    if (ok != 1) return proto::make_error(tls_errc::bad_config, "cannot set the host name to verify \"{}\"", host);
    return {};
}

void flex_stream::read_some_impl(asio::mutable_buffer b, asio::any_completion_handler<io_signature> h) {
    if (!ssl_) {
        socket_.async_read_some(b, std::move(h));
        return;
    }
    tls_op::op<io_signature>{this, tls_kind::read, b, {}, {}, std::move(h)}.run(true);
}

void flex_stream::write_some_impl(buffer_list l, asio::any_completion_handler<io_signature> h) {
    if (!ssl_) {
        socket_.async_write_some(l.items, std::move(h));
        return;
    }
    tls_op::op<io_signature> op{this, tls_kind::write, {}, {}, {}, std::move(h)};
    // One TLS record per write: join small buffers (a WebSocket header and its payload) so that
    // they do not become two records; a large first buffer goes out alone.
    constexpr std::size_t join_limit = 16 * 1024;
    if (l.count <= 1 || l.items[0].size() >= join_limit / 2) {
        op.wbuf = l.count ? l.items[0] : asio::const_buffer{};
    } else {
        for (std::size_t i = 0; i < l.count && op.joined.size() < join_limit; ++i) {
            const auto take = std::min(l.items[i].size(), join_limit - op.joined.size());
            op.joined.append(static_cast<const char*>(l.items[i].data()), take);
        }
    }
    op.run(true);
}

void flex_stream::handshake_impl(asio::any_completion_handler<ec_signature> h) {
    tls_failure_ = {};
    if (!ssl_) {
        asio::post(socket_.get_executor(), asio::append(std::move(h), error_code{}));
        return;
    }
    tls_op::op<ec_signature>{this, tls_kind::handshake, {}, {}, {}, std::move(h)}.run(true);
}

void flex_stream::teardown_impl(asio::any_completion_handler<ec_signature> h) {
    if (ssl_ && socket_.is_open()) {
        // Best effort, one attempt: a close_notify fits in the socket buffer of any live connection.
        ERR_clear_error();
        SSL_shutdown(ssl_);
        ERR_clear_error();
    }
    error_code ignored;
    if (socket_.is_open()) socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    asio::post(socket_.get_executor(), asio::append(std::move(h), error_code{}));
}

void flex_stream::wait_readable_impl(asio::any_completion_handler<ec_signature> h) {
    if (ssl_ && socket_.is_open() && SSL_has_pending(ssl_)) {
        asio::post(socket_.get_executor(), asio::append(std::move(h), error_code{}));
        return;
    }
    socket_.async_wait(tcp::socket::wait_read, std::move(h));
}

flex_stream::read_attempt flex_stream::try_read_some(asio::mutable_buffer b) noexcept {
    read_attempt a;
    if (!socket_.is_open()) {
        a.ec = asio::error::bad_descriptor;
        return a;
    }
    if (b.size() == 0) return a;
    if (!ssl_) {
        const ssize_t n = ::recv(socket_.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
        if (n > 0) a.n = static_cast<std::size_t>(n);
        else if (n == 0) a.ec = asio::error::eof;
        else if (would_block(errno)) a.ec = asio::error::would_block;
        else a.ec = error_code(errno, boost::system::system_category());
        return a;
    }
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, b.data(), b.size(), &n);
    if (r == 1) {
        a.n = n;
        return a;
    }
    switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
        a.ec = asio::error::would_block;
        return a;
    case SSL_ERROR_WANT_WRITE:
        a.ec = asio::error::would_block;
        a.want_write = true;
        return a;
    case SSL_ERROR_ZERO_RETURN:
        a.ec = asio::error::eof;
        return a;
    case SSL_ERROR_SYSCALL: {
        const int err = last_errno(ssl_);
        ERR_clear_error();
        if (err == 0 || err == EAGAIN) a.ec = asio::error::eof;
        else a.ec = error_code(err, boost::system::system_category());
        return a;
    }
    default: {
        const unsigned long code = ERR_peek_error();
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        tls_failure_ = proto::make_error(net_errc::protocol, "TLS: {}", buf);
        ERR_clear_error();
        a.ec = error_code(static_cast<int>(code ? code : 1), asio::error::get_ssl_category());
        return a;
    }
    }
}

void flex_stream::close() noexcept {
    error_code ignored;
    socket_.close(ignored);
}

void flex_stream::reset() noexcept {
    error_code ignored;
    if (socket_.is_open()) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
}

bool flex_stream::unusable_when_idle() noexcept {
    if (!socket_.is_open()) return true;
    if (ssl_ && SSL_has_pending(ssl_)) return true;
    char c;
    const ssize_t n = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    return true;  // EOF, unexpected bytes (or a TLS alert), or an error
}

void teardown(beast::role_type, flex_stream& s, error_code& ec) {
    ec = {};
    s.close();
}

// ---- error mapping -------------------------------------------------------------------------------

std::string endpoint_string(const tcp::endpoint& ep) {
    const auto a = ep.address();
    if (a.is_v6()) return fmt::format("[{}]:{}", a.to_string(), ep.port());
    return fmt::format("{}:{}", a.to_string(), ep.port());
}

proto::error map_error(const error_code& ec, bool timed_out, std::string_view what) {
    namespace ae = asio::error;
    namespace ws = beast::websocket;
    const std::string msg = ec.message();
    if (timed_out) return proto::make_error(net_errc::timeout, "{}: deadline expired", what);
    if (ec == ae::connection_refused) return proto::make_error(net_errc::connect_refused, "{}: {}", what, msg);
    if (ec == ae::connection_reset || ec == ae::broken_pipe) return proto::make_error(net_errc::reset, "{}: {}", what, msg);
    if (ec == ae::eof || ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::ssl::error::stream_truncated)
        return proto::make_error(net_errc::closed, "{}: {}", what, msg);
    if (ec == ws::error::closed) return proto::make_error(net_errc::ws_closed, "{}: {}", what, msg);
    if (ec == ae::operation_aborted || ec == ae::bad_descriptor) return proto::make_error(net_errc::aborted, "{}: {}", what, msg);
    if (ec == ae::host_not_found || ec == ae::host_not_found_try_again || ec == ae::no_data || ec == ae::no_recovery ||
        ec == ae::service_not_found)
        return proto::make_error(net_errc::resolve_failed, "{}: {}", what, msg);
    if (ec == ae::network_unreachable || ec == ae::host_unreachable || ec == ae::network_down)
        return proto::make_error(net_errc::unreachable, "{}: {}", what, msg);
    if (ec == beast::error::timeout) return proto::make_error(net_errc::timeout, "{}: {}", what, msg);
    if (ec == ae::timed_out) return proto::make_error(net_errc::timeout, "{}: {}", what, msg);
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow ||
        ec == ws::error::message_too_big || ec == ws::error::buffer_overflow)
        return proto::make_error(net_errc::too_large, "{}: {}", what, msg);
    if (ec.category() == make_error_code(http::error::bad_target).category() ||
        ec.category() == make_error_code(ws::error::bad_opcode).category() ||
        ec == ws::condition::protocol_violation || ec == ws::condition::handshake_failed)
        return proto::make_error(net_errc::protocol, "{}: {}", what, msg);
    if (ec.category() == asio::error::get_ssl_category()) return proto::make_error(net_errc::protocol, "{}: TLS: {}", what, msg);
    return proto::make_error(net_errc::io, "{}: {}", what, msg);
}

}  // namespace ttig::net::detail
