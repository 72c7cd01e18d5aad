// Connection probe for doctor: timings of each phase, what the server presented, and why
// verification failed, without giving up at the first problem.
//
// The probe completes the TLS handshake even when verification fails (it records the first
// verification error and the presented chain), but it never sends a request over an unverified
// connection unless tls.insecure is set.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/proto/http.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttig::net {

struct probe_options {
    client_config client;
    std::chrono::milliseconds deadline{10000};  // whole probe
    // Sent after a verified (or insecure, or plain) connection when set; its target replaces the URL's.
    std::optional<proto::http_request> request;
};

struct probe_report {
    std::string url;
    std::string host;
    std::uint16_t port = 0;
    bool mapped = false;                 // the host map supplied the addresses
    std::vector<std::string> addresses;  // resolved (or mapped) addresses, in order
    std::string connected_address;       // "127.0.0.1:8887"
    std::optional<double> dns_ms, tcp_ms, tls_ms, first_byte_ms;
    // TLS (empty for plain URLs):
    std::string tls_version;  // "TLSv1.3"
    std::string cipher;       // "TLS_AES_256_GCM_SHA384"
    std::vector<proto::bytes> chain_der;  // as presented, leaf first (pki::inspect_certificate)
    bool verify_ok = false;               // chain and host name verified (checked even when insecure)
    std::optional<proto::error> verify_error;  // tls.* with OpenSSL's reason
    // HTTP, when a request was asked for and sent:
    std::optional<int> http_status;
    std::optional<proto::http_response> response;
    // The failure that ended the probe early (resolve, connect, handshake, request), if any.
    std::optional<proto::error> error;
    std::string failed_phase;  // "url", "dns", "tcp", "tls", "http" or ""
};

using probe_signature = void(probe_report);

void async_probe_impl(boost::asio::any_io_executor ex, std::string url, probe_options opts,
                      boost::asio::any_completion_handler<probe_signature> handler);

template <class CompletionToken>
auto async_probe(boost::asio::any_io_executor ex, std::string url, probe_options opts, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, probe_signature>(
        [ex](auto handler, std::string u, probe_options o) {
            async_probe_impl(ex, std::move(u), std::move(o), boost::asio::any_completion_handler<probe_signature>(std::move(handler)));
        },
        token, std::move(url), std::move(opts));
}

// Blocking: runs a private io_context.
probe_report probe(const std::string& url, const probe_options& opts);

}  // namespace ttig::net
