// Small certificate authority for tests and emulators: a CA and leaf certificates signed by it.
// Not for production PKI: no revocation, no policy, fresh random 128-bit serials.
#pragma once

#include <ttig/pki/error.hpp>
#include <ttig/proto/bytes.hpp>

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

}  // namespace ttig::pki
