// TLS configuration for servers (emulators) and clients (doctor, REST, CUPS, LNS).
//
// The net layer drives OpenSSL directly on the socket (no asio::ssl::stream): that keeps an idle
// TLS session at a few KiB instead of ~70 KiB (see docs in src/net/stream.cpp). Host-name checks
// use OpenSSL's X509_check_host through SSL_set1_host, which is what
// asio::ssl::host_name_verification calls, and yields X509_V_ERR_HOSTNAME_MISMATCH as a verify
// result (mapped to tls.hostname_mismatch).
#pragma once

#include <ttig/net/error.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace ttig::net {

enum class tls_version { tls1_2, tls1_3 };

struct tls_server_config {
    std::string cert_chain_pem;  // leaf first, then intermediates
    std::string key_pem;         // PKCS#8 or traditional, unencrypted
    tls_version min_version = tls_version::tls1_2;
    tls_version max_version = tls_version::tls1_3;
    // "Slow TLS" fault: wait this long after accepting before starting the handshake.
    std::chrono::milliseconds handshake_delay{0};
};

struct tls_client_config {
    // Verification is on unless insecure is set (then no chain and no host-name check; SNI is still sent).
    bool insecure = false;
    std::vector<std::filesystem::path> ca_files;  // --ca FILE (PEM bundles or one DER certificate)
    std::vector<std::string> ca_pem;              // extra trust anchors in memory (PEM)
    bool use_system_store = true;                 // OpenSSL's default paths (/etc/ssl/certs)
    std::filesystem::path trust_dir;              // every *.pem in it is trusted (the project's certs/); empty = none
    tls_version min_version = tls_version::tls1_2;
    tls_version max_version = tls_version::tls1_3;
    // Client certificate (mutual TLS), optional.
    std::string cert_chain_pem;
    std::string key_pem;
    // Limits of a constrained client (a station's mbedTLS), for emulating one; negative / 0 = OpenSSL's defaults.
    // max_chain_depth: at most this many intermediate CA certificates between the leaf and the trust
    // anchor (OpenSSL's verify depth; mbedTLS's MBEDTLS_X509_MAX_INTERMEDIATE_CA). A longer chain fails
    // verification with tls.chain_too_long.
    int max_chain_depth = -1;
    // max_chain_bytes: the server's Certificate handshake message may be at most this many bytes
    // (SSL_CTX_set_max_cert_list; OpenSSL's default is 100 KiB). A bigger one fails the handshake with
    // tls.chain_too_big.
    std::size_t max_chain_bytes = 0;
};

// Checks a configuration the way listen()/connect would, without doing I/O: certificate and key
// parse and match (tls.bad_config, detail with OpenSSL's reason), CA files readable, versions ordered.
proto::result<void> validate(const tls_server_config& cfg);
proto::result<void> validate(const tls_client_config& cfg);

// "TLSv1.2" / "TLSv1.3".
std::string_view to_string(tls_version v) noexcept;

}  // namespace ttig::net
