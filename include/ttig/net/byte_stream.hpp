// A raw byte-stream client (TCP, optionally TLS) for callers that write exact bytes themselves and
// read raw bytes back: an emulated Basics Station writes its own HTTP request and WebSocket frames
// (proto/station_wire) and parses the server's bytes with its own bounded readers.
//
// TLS is the net layer's own stream (OpenSSL on the socket, no asio::ssl::stream), with the
// station's trust rules: the trust bytes (PEM when the first byte is '-', else DER) are the only
// trust anchors and every certificate in them is one (partial chains accepted, as mbedTLS does);
// without trust bytes the system store is used. SNI is always sent, even for an IP literal (as a
// station sends it); the certificate is checked against the name (DNS SAN) or the IP literal (IP
// SAN) unless verify_host is false.
//
// Memory: an idle connection keeps no read buffer (a read waits for readability, then reads into a
// transient stack buffer), no write buffer once its writes are done, and TLS record buffers are
// released while idle. TLS contexts are shared between connections with the same settings (trust,
// identity, versions, limits), so 10,000 stations with one trust file share one SSL_CTX.
// Measured (release build, 10,000 idle connections after a WebSocket upgrade): ~1.9 KiB RSS per
// plain connection, ~19.4 KiB per TLS 1.3 connection (test "byte_stream memory", manual).
#pragma once

#include <ttig/net/host_map.hpp>
#include <ttig/net/tls.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ttig::net {

struct byte_stream_options {
    std::string host;  // connect target (DNS name or IP literal); also the SNI and the name verified
    std::uint16_t port = 0;
    bool tls = false;
    // TLS trust: a station's .trust file bytes, PEM (first byte '-') or DER; every certificate in it
    // is a trust anchor. nullopt = no trust file: the system store.
    std::optional<proto::bytes> trust;
    // Mutual TLS: certificate (chain) and key, PEM or DER; both or neither.
    std::optional<proto::bytes> client_cert, client_key;
    tls_version min_version = tls_version::tls1_2;
    tls_version max_version = tls_version::tls1_3;
    int max_chain_depth = -1;                          // as tls_client_config::max_chain_depth
    std::size_t max_chain_bytes = 0;                   // as tls_client_config::max_chain_bytes
    bool verify_host = true;                           // false: the chain is still verified, the name is not
    std::chrono::milliseconds connect_timeout{30000};  // resolve + TCP + TLS handshake; 0 = none
    const host_map* hosts = nullptr;                   // optional --resolve mapping; must outlive the connect
};

// One client connection. Thread-safe: every member may be called from any thread (the work is
// dispatched to the connection's own strand, in call order). Callbacks run on that strand. Pending
// operations keep the object alive; a connection that is open stays open until close()/abort() or
// the peer ends it, even when the caller drops its pointer.
class byte_stream : public std::enable_shared_from_this<byte_stream> {
public:
    // ex: any executor (an io_context's); the connection makes its own strand on it.
    static std::shared_ptr<byte_stream> create(boost::asio::any_io_executor ex);
    virtual ~byte_stream() = default;
    byte_stream(const byte_stream&) = delete;
    byte_stream& operator=(const byte_stream&) = delete;

    // Resolves (host map first), connects and, with tls, handshakes, all within connect_timeout.
    // on_done runs exactly once: success, or net.* / tls.* as the other net clients report them
    // (net.connect_refused, net.timeout, net.resolve_failed, tls.unknown_ca, tls.hostname_mismatch,
    // tls.chain_too_long, tls.chain_too_big, tls.version_mismatch, tls.bad_config, ...); net.aborted
    // when close()/abort() came first or connect was already called. net.bad_url: empty host or port 0.
    virtual void connect(byte_stream_options opts, std::function<void(proto::result<void>)> on_done) = 0;

    // Queued and written in call order. Writes made before the connection is up are sent once it
    // is; writes after close()/abort() or the end are dropped. A write failure ends the connection
    // (on_end with the error).
    virtual void write(std::string bytes) = 0;

    // on_data: the bytes of one read, as they arrive (the view is valid during the call only).
    // on_end: once, when the connection ends by itself: the peer closed it cleanly (net.closed; for
    // TLS with or without close_notify), or a read/write failure (net.reset, net.io, net.protocol).
    // Reading starts once the connection is up and on_data is set. Not called after close()/abort().
    // Callbacks may call any member, including write() and close().
    virtual void set_handlers(std::function<void(std::string_view)> on_data, std::function<void(proto::error)> on_end) = 0;

    // Ends the connection: queued writes are written first (for at most 5 s), then TLS close_notify
    // (best effort, no wait for the peer's) and TCP close (FIN). The handlers are released and not
    // called again. During connect: the connect ends with net.aborted.
    virtual void close() = 0;
    // Ends the connection at once: TCP close without close_notify; queued writes are dropped.
    virtual void abort() = 0;

    // Negotiated protocol, "TLSv1.2" / "TLSv1.3"; "" for plain TCP or before the connection is up.
    virtual std::string_view tls_protocol() const noexcept = 0;
    // The server certificate's key type once TLS is up: "EC", "RSA", "other"; "" for plain TCP or
    // before the connection is up.
    virtual std::string_view peer_key_type() const noexcept = 0;

protected:
    byte_stream() = default;
};

}  // namespace ttig::net
