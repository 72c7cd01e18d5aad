// Small certificate authority for tests and emulators: a CA and leaf certificates signed by it.
// Not for production PKI: no revocation, no policy, fresh random 128-bit serials.
#pragma once

#include <ttig/pki/error.hpp>
#include <ttig/proto/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ttig::pki {

enum class key_kind { ec_p256, rsa2048 };

struct key_and_cert {
    proto::bytes key_der;   // traditional DER (SEC1 / PKCS#1), the form a station's .key file holds
    proto::bytes cert_der;  // DER certificate, the form a station's .trust / .crt file holds
    std::string key_pem;    // unencrypted PKCS#8 "PRIVATE KEY" PEM
    std::string cert_pem;   // "CERTIFICATE" PEM
};

// Self-signed CA: subject CN=<cn>, basicConstraints critical CA:TRUE, keyUsage keyCertSign+cRLSign,
// subjectKeyIdentifier, SHA-256 signature, valid from now for days_valid days.
// Errors: pki.bad_parameter (empty cn, days_valid outside 1..100000), pki.generate_failed.
proto::result<key_and_cert> make_ca(std::string cn, key_kind kind = key_kind::ec_p256, int days_valid = 3650);

// Leaf signed by `ca`: subject CN=<cn>, subjectAltName from dns_or_ip_sans (an entry that parses as
// an IPv4/IPv6 address becomes an IP SAN, anything else a DNS SAN), basicConstraints CA:FALSE,
// extendedKeyUsage serverAuth+clientAuth. Valid from now + not_before_offset_seconds for
// days_valid days (a negative offset larger than the period gives an already expired certificate).
// Errors: pki.bad_parameter (empty cn or SAN, SAN with a comma/space/control character, days out
// of range, CA key not matching the CA certificate), pki.bad_der / pki.bad_key (unusable CA),
// pki.generate_failed.
proto::result<key_and_cert> make_leaf(const key_and_cert& ca, std::string cn, std::vector<std::string> dns_or_ip_sans,
                                      key_kind kind = key_kind::ec_p256, int days_valid = 365,
                                      std::int64_t not_before_offset_seconds = 0);

// Intermediate CA signed by `issuer` (a root from make_ca or another intermediate): subject CN=<cn>,
// issuer = the issuer's subject, basicConstraints critical CA:TRUE (no path length limit), keyUsage
// keyCertSign+cRLSign, subjectKeyIdentifier, authorityKeyIdentifier, SHA-256, valid from now for
// days_valid days. padding_bytes > 0 adds a non-critical Netscape comment extension of that many
// characters (ignored by verifiers; OpenSSL and mbedTLS skip unknown non-critical extensions), which
// makes the certificate that much bigger.
// Errors: as make_leaf; pki.bad_parameter also for padding_bytes above max_padding_bytes.
inline constexpr std::size_t max_padding_bytes = 1 << 20;
proto::result<key_and_cert> make_intermediate(const key_and_cert& issuer, std::string cn, key_kind kind = key_kind::ec_p256,
                                              int days_valid = 3650, std::size_t padding_bytes = 0);

// A server's chain under a root: intermediates, each issued by the one above it, and a leaf.
struct issued_chain {
    key_and_cert leaf;
    std::vector<key_and_cert> intermediates;  // as presented: [0] issued the leaf, the last was issued by the root

    // Leaf first, then the intermediates (the root is not included): net::tls_server_config::cert_chain_pem.
    std::string chain_pem() const;
    // Sum of the DER sizes of the leaf and the intermediates (what a server sends, less TLS framing).
    std::size_t der_bytes() const noexcept;
};

struct chain_options {
    std::size_t intermediates = 1;  // 0..max_chain_intermediates; 0 = the leaf is issued by the root
    // When above the natural size, the intermediates are padded (make_intermediate's padding_bytes,
    // spread evenly) until der_bytes() >= min_der_bytes. Needs intermediates >= 1; at most max_chain_der_bytes.
    std::size_t min_der_bytes = 0;
    key_kind leaf_kind = key_kind::ec_p256;
    key_kind intermediate_kind = key_kind::ec_p256;
    int leaf_days_valid = 365;
};
inline constexpr std::size_t max_chain_intermediates = 64;
inline constexpr std::size_t max_chain_der_bytes = 4 << 20;

// Intermediates named "<leaf_cn> intermediate <n>" (n = 1 next to the root) and a leaf as make_leaf
// makes it. Errors: as make_leaf and make_intermediate; pki.bad_parameter for options out of range.
proto::result<issued_chain> make_chain(const key_and_cert& root, std::string leaf_cn, std::vector<std::string> dns_or_ip_sans,
                                       const chain_options& options = {});

}  // namespace ttig::pki
