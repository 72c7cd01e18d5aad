// byte_stream: a raw TCP/TLS client on flex_stream for callers that write exact bytes themselves
// (the emulated Basics Station).
//
// Per connection: a strand, the flex_stream (socket + SSL with released buffers), the handlers and
// two strings for writes (empty, without capacity, when idle). Reading keeps no buffer: the
// connection waits for readability (flex_stream::async_wait_readable), then reads with
// flex_stream::try_read_some into a stack buffer and hands the bytes to on_data synchronously.
// TLS contexts are cached by a digest of their settings (weak references), so connections with the
// same trust and identity share one SSL_CTX.
#include "net/detail.hpp"

#include <ttig/net/byte_stream.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <arpa/inet.h>
#include <map>
#include <mutex>

// GCC 12 at -O2 reports asio's coroutine frame operator delete as mismatched with its operator new
// (a known false positive, as in client.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ttig::net {

namespace detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Bytes read per try_read_some: one TLS record's plaintext at most.
constexpr std::size_t read_chunk = 16 * 1024;
// Reads per strand turn before yielding to other connections.
constexpr int reads_per_turn = 16;
constexpr std::chrono::milliseconds close_linger{5000};

bool is_ip_literal(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string as_string(const proto::bytes& b) {
    return std::string(b.begin(), b.end());
}

// ---- shared TLS contexts -------------------------------------------------------------------------

void add_field(std::string& key, std::string_view name, std::string_view value) {
    key += fmt::format("{}:{}:", name, value.size());
    key += value;
}

std::string sha256(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return data;  // key as is
    return std::string(reinterpret_cast<const char*>(md), len);
}

proto::result<ssl_ctx_ptr> shared_client_ctx(const byte_stream_options& o) {
    if (o.client_cert.has_value() != o.client_key.has_value())
        return proto::make_error(tls_errc::bad_config, "a client certificate needs its key and a key its certificate");
    std::string key;
    add_field(key, "min", to_string(o.min_version));
    add_field(key, "max", to_string(o.max_version));
    add_field(key, "depth", std::to_string(o.max_chain_depth));
    add_field(key, "bytes", std::to_string(o.max_chain_bytes));
    add_field(key, "trust", o.trust ? proto::as_chars(*o.trust) : std::string_view("<system>"));
    add_field(key, "crt", o.client_cert ? proto::as_chars(*o.client_cert) : std::string_view());
    add_field(key, "key", o.client_key ? proto::as_chars(*o.client_key) : std::string_view());
    const std::string digest = sha256(key);

    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<SSL_CTX>> cache;
    {
        std::lock_guard lock(mu);
        if (auto it = cache.find(digest); it != cache.end())
            if (auto ctx = it->second.lock()) return ctx;
    }

    tls_client_config cfg;
    cfg.min_version = o.min_version;
    cfg.max_version = o.max_version;
    cfg.max_chain_depth = o.max_chain_depth;
    cfg.max_chain_bytes = o.max_chain_bytes;
    if (o.trust) {
        cfg.use_system_store = false;
        cfg.ca_pem.push_back(as_string(*o.trust));  // PEM bundle or one DER certificate (pki reads both)
    }
    if (o.client_cert) {
        cfg.cert_chain_pem = as_string(*o.client_cert);
        cfg.key_pem = as_string(*o.client_key);
    }
    auto made = make_client_ctx(cfg);
    if (!made) {
        proto::error e = std::move(made).err();
        if (o.trust && e.code == make_error_code(tls_errc::bad_config)) e.detail = "trust: " + e.detail;
        return e;
    }
    ssl_ctx_ptr ctx = std::move(*made);
    // A station (mbedTLS) accepts a chain that reaches any certificate of its trust file.
    if (o.trust) X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx.get()), X509_V_FLAG_PARTIAL_CHAIN);

    std::lock_guard lock(mu);
    if (auto it = cache.find(digest); it != cache.end())
        if (auto other = it->second.lock()) return other;  // another thread made it meanwhile
    if (cache.size() >= 64) std::erase_if(cache, [](const auto& kv) { return kv.second.expired(); });
    cache[digest] = ctx;
    return ctx;
}

template <class F, class... Args>
void call_user(F& f, Args&&... args) noexcept {
    if (!f) return;
    try {  // a throwing callback must not unwind through Asio
        f(std::forward<Args>(args)...);
    } catch (...) {
    }
}

// ---- the connection ------------------------------------------------------------------------------

enum class bs_state : std::uint8_t { idle, connecting, open, closing, closed };

class byte_stream_impl final : public byte_stream {
public:
    explicit byte_stream_impl(asio::any_io_executor ex) : strand_(asio::make_strand(std::move(ex))), s_(tcp::socket(strand_)) {}

    ~byte_stream_impl() override { s_.close(); }

    void connect(byte_stream_options opts, std::function<void(proto::result<void>)> on_done) override {
        asio::dispatch(strand_, [self = self(), o = std::move(opts), d = std::move(on_done)]() mutable {
            self->start_connect(std::move(o), std::move(d));
        });
    }

    void write(std::string bytes) override {
        asio::dispatch(strand_, [self = self(), b = std::move(bytes)]() mutable { self->do_write(std::move(b)); });
    }

    void set_handlers(std::function<void(std::string_view)> on_data, std::function<void(proto::error)> on_end) override {
        asio::dispatch(strand_, [self = self(), d = std::move(on_data), e = std::move(on_end)]() mutable {
            if (self->state_ == bs_state::closing || self->state_ == bs_state::closed) return;
            self->on_data_ = std::move(d);
            self->on_end_ = std::move(e);
            self->start_read();
        });
    }

    void close() override {
        asio::dispatch(strand_, [self = self()] { self->do_close(false); });
    }

    void abort() override {
        asio::dispatch(strand_, [self = self()] { self->do_close(true); });
    }

    std::string_view tls_protocol() const noexcept override {
        const char* v = tls_protocol_.load();
        return v ? std::string_view(v) : std::string_view();
    }

    std::string_view peer_key_type() const noexcept override {
        const char* v = peer_key_type_.load();
        return v ? std::string_view(v) : std::string_view();
    }

private:
    std::shared_ptr<byte_stream_impl> self() { return std::static_pointer_cast<byte_stream_impl>(shared_from_this()); }

    // ---- connect ----

    void start_connect(byte_stream_options o, std::function<void(proto::result<void>)> on_done) {
        if (state_ != bs_state::idle) {
            const char* why =
                state_ == bs_state::connecting || state_ == bs_state::open ? "connect was already called" : "the connection was closed";
            asio::post(strand_, [d = std::move(on_done), why]() mutable {
                call_user(d, proto::result<void>(proto::make_error(net_errc::aborted, "byte_stream: {}", why)));
            });
            return;
        }
        state_ = bs_state::connecting;
        on_done_ = std::move(on_done);
        asio::co_spawn(strand_, run_connect(self(), std::move(o)), asio::bind_executor(strand_, [self = self()](std::exception_ptr e) {
                           if (e && self->on_done_)
                               self->connected(proto::make_error(net_errc::io, "byte_stream: connect failed unexpectedly"));
                       }));
    }

    static asio::awaitable<void> run_connect(std::shared_ptr<byte_stream_impl> self, byte_stream_options o) {
        proto::result<void> r = co_await self->open(o);
        self->connected(std::move(r));
    }

    asio::awaitable<proto::result<void>> open(const byte_stream_options& o) {
        if (o.host.empty() || o.port == 0)
            co_return proto::make_error(net_errc::bad_url, "byte_stream: host and port are required (got \"{}\" port {})", o.host, o.port);
        ssl_ctx_ptr ctx;
        if (o.tls) {
            auto c = shared_client_ctx(o);
            if (!c) co_return std::move(c).err();
            ctx = std::move(*c);
        }
        url u;
        u.scheme = o.tls ? "tls" : "tcp";  // not http(s): open_stream stops after TCP; TLS is set up below
        u.host = o.host;
        u.port = o.port;
        who_ = u.host_header();
        client_config cfg;
        if (o.hosts) cfg.hosts = *o.hosts;
        cfg.user_agent.clear();

        wd_ = arm_watchdog(strand_, o.connect_timeout);
        struct guard_t {
            byte_stream_impl& i;
            ~guard_t() {
                disarm(*i.wd_);
                i.wd_.reset();
            }
        } guard{*this};
        watchdog& wd = *wd_;
        auto s = co_await open_stream(u, cfg, nullptr, false, wd, nullptr);
        if (!s) co_return std::move(s).err();
        if (state_ != bs_state::connecting) co_return aborted();
        s_ = std::move(*s);
        if (!o.tls) co_return proto::result<void>{};

        if (auto st = s_.start_tls_client(ctx.get(), o.host, false, false); !st) co_return std::move(st).err();
        SSL* ssl = s_.ssl();
        const bool ip = is_ip_literal(o.host);
        // flex_stream sends no SNI for an IP literal; a station sends whatever its URI holds.
        if (ip && SSL_set_tlsext_host_name(ssl, o.host.c_str()) != 1)
            co_return proto::make_error(tls_errc::bad_config, "cannot set SNI \"{}\"", o.host);
        if (!o.verify_host) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            X509_VERIFY_PARAM_set1_host(param, nullptr, 0);
            X509_VERIFY_PARAM_set1_ip(param, nullptr, 0);
        }
        wd.on_expire = [this] { s_.close(); };
        auto [hec] = co_await s_.async_handshake(use_tuple);
        wd.on_expire = nullptr;
        if (state_ != bs_state::connecting) co_return aborted();
        if (hec) {
            if (wd.expired) co_return proto::make_error(net_errc::timeout, "TLS handshake with {}: deadline expired", who_);
            if (s_.tls_failure().code) {
                proto::error e = s_.tls_failure();
                e.detail = fmt::format("{}: {}", who_, e.detail);
                co_return e;
            }
            co_return map_error(hec, false, fmt::format("TLS handshake with {}", who_));
        }
        co_return proto::result<void>{};
    }

    proto::error aborted() const { return proto::make_error(net_errc::aborted, "connect to {}: closed locally", who_); }

    void connected(proto::result<void> r) {
        auto done = std::move(on_done_);
        on_done_ = nullptr;
        if (state_ != bs_state::connecting) r = aborted();  // close()/abort() came first (whatever the connect saw)
        if (!r) {
            if (state_ == bs_state::connecting) state_ = bs_state::closed;
            s_.close();
            pending_ = std::string();
            on_data_ = nullptr;
            on_end_ = nullptr;
            call_user(done, std::move(r));
            return;
        }
        state_ = bs_state::open;
        if (s_.is_tls()) {
            tls_protocol_.store(SSL_get_version(s_.ssl()));
            const char* kind = "other";
            if (X509* peer = SSL_get0_peer_certificate(s_.ssl()))
                if (EVP_PKEY* k = X509_get0_pubkey(peer)) {
                    const int id = EVP_PKEY_get_base_id(k);
                    kind = id == EVP_PKEY_EC ? "EC" : id == EVP_PKEY_RSA ? "RSA" : "other";
                }
            peer_key_type_.store(kind);
        }
        error_code ignored;
        s_.socket().set_option(tcp::no_delay(true), ignored);
        if (!pending_.empty()) flush();
        call_user(done, proto::result<void>{});
        start_read();
    }

    // ---- reading ----

    void start_read() {
        if (reading_ || state_ != bs_state::open || !on_data_) return;
        reading_ = true;
        s_.async_wait_readable(asio::bind_executor(strand_, [self = self()](error_code ec) { self->on_readable(ec); }));
    }

    void on_readable(error_code ec) {
        reading_ = false;
        if (state_ != bs_state::open) return;
        if (ec) return fail(map_error(ec, false, fmt::format("read from {}", who_)));
        char buf[read_chunk];
        for (int i = 0; i < reads_per_turn; ++i) {
            const auto a = s_.try_read_some(asio::buffer(buf));
            if (a.n > 0) {
                call_user(on_data_, std::string_view(buf, a.n));
                if (state_ != bs_state::open || !on_data_) return;  // closed (or handlers dropped) by the callback
                continue;
            }
            if (a.ec == asio::error::would_block) {
                if (!a.want_write) {
                    // Idle again. SSL_MODE_RELEASE_BUFFERS does not release the read buffer after
                    // handshake records (TLS 1.3 NewSessionTicket): ~17 KiB kept per connection
                    // without this. A no-op while a record is partly read or a write is pending;
                    // called only after SSL_read said WANT_READ, so no decrypted record is left
                    // unread in the buffer (the CVE-2024-4741 condition cannot arise).
                    if (s_.is_tls()) SSL_free_buffers(s_.ssl());
                    return start_read();
                }
                reading_ = true;
                s_.socket().async_wait(tcp::socket::wait_write,
                                       asio::bind_executor(strand_, [self = self()](error_code wec) { self->on_readable(wec); }));
                return;
            }
            if (a.ec.category() == asio::error::get_ssl_category() && s_.tls_failure().code) {
                proto::error e = s_.tls_failure();
                e.detail = fmt::format("read from {}: {}", who_, e.detail);
                return fail(std::move(e));
            }
            return fail(map_error(a.ec, false, fmt::format("read from {}", who_)));
        }
        // More may be waiting: let other connections on this executor run first.
        reading_ = true;
        asio::post(strand_, [self = self()] { self->on_readable({}); });
    }

    // ---- writing ----

    void do_write(std::string b) {
        if (b.empty() || state_ == bs_state::closing || state_ == bs_state::closed) return;
        if (pending_.empty())
            pending_ = std::move(b);
        else
            pending_ += b;
        if (!writing_ && state_ == bs_state::open) flush();
    }

    void flush() {
        out_.swap(pending_);
        writing_ = true;
        asio::async_write(s_, asio::buffer(out_),
                          asio::bind_executor(strand_, [self = self()](error_code ec, std::size_t) { self->on_written(ec); }));
    }

    void on_written(error_code ec) {
        writing_ = false;
        out_ = std::string();  // no capacity kept while idle
        if (state_ == bs_state::closed) return;
        if (ec) {
            if (state_ == bs_state::closing) return finish_close();
            return fail(map_error(ec, false, fmt::format("write to {}", who_)));
        }
        if (!pending_.empty()) return flush();
        if (state_ == bs_state::closing) finish_close();
    }

    // ---- ending ----

    void do_close(bool now) {
        switch (state_) {
            case bs_state::closed:
                return;
            case bs_state::idle:
                state_ = bs_state::closed;
                release();
                return;
            case bs_state::connecting:
                // The connect ends with net.aborted (connected() reports it).
                state_ = bs_state::closed;
                pending_ = std::string();
                if (wd_) {
                    wd_->expired = true;  // stops open_stream from trying further addresses
                    if (auto f = std::move(wd_->on_expire)) f();
                    wd_->timer.cancel();
                }
                s_.close();
                on_data_ = nullptr;
                on_end_ = nullptr;
                return;
            case bs_state::open:
            case bs_state::closing:
                break;
        }
        on_data_ = nullptr;
        on_end_ = nullptr;
        if (now) {
            state_ = bs_state::closed;
            release();
            return;
        }
        if (state_ == bs_state::closing) return;
        state_ = bs_state::closing;
        if (!writing_) return finish_close();
        // Let the queued writes go out, within close_linger.
        auto wd = arm_watchdog(strand_, close_linger);
        wd->on_expire = [self = self()] { self->finish_close(); };
        linger_ = wd;
    }

    void finish_close() {
        if (state_ == bs_state::closed) return;
        state_ = bs_state::closed;
        if (auto l = linger_.lock()) disarm(*l);
        linger_.reset();
        pending_ = std::string();
        s_.async_teardown(asio::bind_executor(strand_, [self = self()](error_code) {}));
    }

    void fail(proto::error e) {
        if (state_ == bs_state::closed) return;
        state_ = bs_state::closed;
        auto end = std::move(on_end_);
        on_end_ = nullptr;
        on_data_ = nullptr;
        release();
        call_user(end, std::move(e));
    }

    // Closes the socket at once and drops what is queued. The SSL object stays until destruction
    // (flex_stream never calls it after close).
    void release() {
        s_.close();
        pending_ = std::string();
        on_data_ = nullptr;
        on_end_ = nullptr;
    }

    asio::strand<asio::any_io_executor> strand_;
    flex_stream s_;
    std::function<void(proto::result<void>)> on_done_;
    std::function<void(std::string_view)> on_data_;
    std::function<void(proto::error)> on_end_;
    std::string out_;                 // being written
    std::string pending_;             // queued behind it
    std::string who_;                 // "host:port", for error details
    std::shared_ptr<watchdog> wd_;    // during connect
    std::weak_ptr<watchdog> linger_;  // during a graceful close with writes in flight
    std::atomic<const char*> tls_protocol_{nullptr};
    std::atomic<const char*> peer_key_type_{nullptr};
    bs_state state_ = bs_state::idle;
    bool reading_ = false;
    bool writing_ = false;
};

}  // namespace

}  // namespace detail

std::shared_ptr<byte_stream> byte_stream::create(boost::asio::any_io_executor ex) {
    return std::make_shared<detail::byte_stream_impl>(std::move(ex));
}

}  // namespace ttig::net
