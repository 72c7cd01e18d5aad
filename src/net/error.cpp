#include <ttig/net/error.hpp>

#include <fmt/format.h>

#include <openssl/x509_vfy.h>

#include <array>

namespace ttig::net {

namespace {

template <class E>
constexpr int v(E e) {
    return static_cast<int>(e);
}

constexpr std::array net_table{
    proto::errc_entry{v(net_errc::resolve_failed), "resolve_failed", "host name could not be resolved"},
    proto::errc_entry{v(net_errc::connect_refused), "connect_refused", "connection refused"},
    proto::errc_entry{v(net_errc::unreachable), "unreachable", "host or network unreachable"},
    proto::errc_entry{v(net_errc::timeout), "timeout", "deadline expired"},
    proto::errc_entry{v(net_errc::reset), "reset", "connection reset by peer"},
    proto::errc_entry{v(net_errc::closed), "closed", "connection closed by peer"},
    proto::errc_entry{v(net_errc::ws_closed), "ws_closed", "WebSocket closed by peer"},
    proto::errc_entry{v(net_errc::http_status), "http_status", "unexpected HTTP status"},
    proto::errc_entry{v(net_errc::bad_url), "bad_url", "malformed URL"},
    proto::errc_entry{v(net_errc::bad_host_map), "bad_host_map", "malformed --resolve entry"},
    proto::errc_entry{v(net_errc::protocol), "protocol", "malformed data from peer"},
    proto::errc_entry{v(net_errc::too_large), "too_large", "message exceeds the size limit"},
    proto::errc_entry{v(net_errc::listen_failed), "listen_failed", "cannot listen on address"},
    proto::errc_entry{v(net_errc::aborted), "aborted", "operation aborted locally"},
    proto::errc_entry{v(net_errc::io), "io", "network I/O error"},
    proto::errc_entry{v(net_errc::bad_header), "bad_header", "malformed header line"},
};

constexpr std::array tls_table{
    proto::errc_entry{v(tls_errc::hostname_mismatch), "hostname_mismatch", "server certificate does not match the host name"},
    proto::errc_entry{v(tls_errc::unknown_ca), "unknown_ca", "server certificate is not issued by a trusted CA"},
    proto::errc_entry{v(tls_errc::expired), "expired", "certificate has expired"},
    proto::errc_entry{v(tls_errc::not_yet_valid), "not_yet_valid", "certificate is not yet valid"},
    proto::errc_entry{v(tls_errc::verify_failed), "verify_failed", "certificate verification failed"},
    proto::errc_entry{v(tls_errc::handshake_failed), "handshake_failed", "TLS handshake failed"},
    proto::errc_entry{v(tls_errc::version_mismatch), "version_mismatch", "no common TLS version"},
    proto::errc_entry{v(tls_errc::rejected_by_peer), "rejected_by_peer", "peer aborted the TLS handshake"},
    proto::errc_entry{v(tls_errc::bad_config), "bad_config", "unusable TLS configuration"},
    proto::errc_entry{v(tls_errc::chain_too_long), "chain_too_long", "certificate chain is longer than allowed"},
    proto::errc_entry{v(tls_errc::chain_too_big), "chain_too_big", "certificate chain is bigger than allowed"},
};

constinit const proto::table_category net_cat{"net", net_table};
constinit const proto::table_category tls_cat{"tls", tls_table};

constexpr std::array<const proto::table_category*, 2> net_cats{&net_cat, &tls_cat};

}  // namespace

const proto::table_category& net_category() noexcept { return net_cat; }
const proto::table_category& tls_category() noexcept { return tls_cat; }

std::span<const proto::table_category* const> categories() noexcept { return net_cats; }

tls_errc tls_errc_from_verify_result(long r) noexcept {
    switch (r) {
    case X509_V_OK:
        return tls_errc{};
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return tls_errc::hostname_mismatch;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return tls_errc::unknown_ca;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return tls_errc::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return tls_errc::not_yet_valid;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return tls_errc::chain_too_long;
    default:
        return tls_errc::verify_failed;
    }
}

proto::error tls_verify_error(long verify_result, int depth) {
    const char* text = X509_verify_cert_error_string(verify_result);
    std::string detail = text ? text : fmt::format("verify error {}", verify_result);
    if (depth >= 0) detail += fmt::format(" (certificate at depth {})", depth);
    tls_errc e = tls_errc_from_verify_result(verify_result);
    if (e == tls_errc{}) e = tls_errc::verify_failed;
    return proto::make_error(e, std::move(detail));
}

}  // namespace ttig::net
