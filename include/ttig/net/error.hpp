// Error domains "net" (transport, HTTP, WebSocket) and "tls" (TLS set-up and verification).
//
// Same pattern as proto and pki: an enum class per domain and a proto::table_category with a stable
// cause id per value ("net.timeout", "tls.unknown_ca"). The detail of a tls error carries OpenSSL's
// reason text (X509_verify_cert_error_string, or "error:0A000086:SSL routines::certificate verify
// failed"); the detail of a net error names the peer and the operating system's words.
#pragma once

#include <ttig/proto/error.hpp>

#include <span>
#include <string>
#include <system_error>
#include <type_traits>

namespace ttig::net {

enum class net_errc {
    resolve_failed = 1,  // DNS (or host map) gave no address
    connect_refused,     // TCP RST in answer to SYN
    unreachable,         // no route / network down / connect failed otherwise
    timeout,             // a deadline expired (resolve, connect, TLS, request, read)
    reset,               // the peer reset the connection (TCP RST)
    closed,              // the peer closed the connection (FIN, no WebSocket close frame) mid-exchange
    ws_closed,           // the peer closed the WebSocket with a close frame
    http_status,         // the server answered with an HTTP status the caller did not accept
    bad_url,             // URL is not scheme://host[:port][/path]
    bad_host_map,        // a --resolve entry is malformed
    protocol,            // the peer sent malformed HTTP or WebSocket data
    too_large,           // a message exceeded its size limit
    listen_failed,       // bind/listen failed (address in use, permission)
    aborted,             // the operation was cancelled locally (stop(), client destroyed)
    io,                  // another socket error (detail has the system's words)
    bad_header,          // a caller-supplied header line is not "Name: value"
};

enum class tls_errc {
    hostname_mismatch = 1,  // certificate does not name the host we connected to
    unknown_ca,             // chain does not end at a trusted CA
    expired,                // a certificate of the chain has expired
    not_yet_valid,          // a certificate of the chain is not valid yet
    verify_failed,          // any other verification failure (signature, purpose, ...)
    handshake_failed,       // the handshake failed for a reason other than verification
    version_mismatch,       // no common protocol version
    rejected_by_peer,       // the peer aborted the handshake with a fatal alert
    bad_config,             // our own certificate, key or trust configuration is unusable
    chain_too_long,         // more intermediate certificates than the client's max_chain_depth allows
    chain_too_big,          // the server's certificate chain exceeds the client's max_chain_bytes
};

const proto::table_category& net_category() noexcept;
const proto::table_category& tls_category() noexcept;

// Every category net defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(net_errc e) noexcept { return {static_cast<int>(e), net_category()}; }
inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

// Maps an OpenSSL verify result (X509_V_ERR_*, as SSL_get_verify_result returns it) to a tls code.
// X509_V_OK maps to tls_errc{} (value 0).
tls_errc tls_errc_from_verify_result(long verify_result) noexcept;

// The error value for a failed verification: the mapped code, detail = OpenSSL's reason text
// ("certificate has expired") plus the depth when known ("at depth 0").
proto::error tls_verify_error(long verify_result, int depth = -1);

}  // namespace ttig::net

template <>
struct std::is_error_code_enum<ttig::net::net_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<ttig::net::tls_errc> : std::true_type {};
