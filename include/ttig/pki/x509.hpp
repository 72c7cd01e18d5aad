// X.509 certificate inspection (OpenSSL 3).
#pragma once

#include <ttig/pki/error.hpp>
#include <ttig/proto/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ttig::pki {

struct cert_info {
    std::string subject, issuer;        // RFC 2253 form, most specific first: "CN=leaf,O=Example"
    std::string not_before, not_after;  // RFC 3339 UTC: "2025-01-31T12:00:00Z"
    std::int64_t not_before_unix = 0, not_after_unix = 0;
    std::string key_type;  // "EC P-256", "EC P-384", "RSA", "Ed25519", ...
    int key_bits = 0;
    std::string signature_algorithm;        // OpenSSL long name: "ecdsa-with-SHA256", "sha256WithRSAEncryption"
    std::string serial_hex;                 // upper-case hex, no separators, no leading zeros ("0" for 0)
    std::string sha256_fingerprint;         // SHA-256 of the DER, upper hex, colon-separated ("AB:CD:...")
    bool is_ca = false;                     // basicConstraints CA:TRUE
    bool self_signed = false;               // issuer == subject and the signature verifies with its own key
    std::vector<std::string> dns_names;     // subjectAltName DNS entries, in certificate order
    std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1", "::1")
    std::size_t der_size = 0;
};

// Inspects one certificate. Takes DER; PEM input (not starting with 0x30 and containing
// "-----BEGIN ") is accepted too and its first certificate inspected.
// Errors: pki.bad_der (not a certificate, trailing bytes), plus those of certificate_der for PEM.
proto::result<cert_info> inspect_certificate(proto::byte_view der);

// True when unix_now is after notAfter (the validity period includes both of its ends).
bool expired_at(const cert_info& info, std::int64_t unix_now) noexcept;

// True when unix_now is before notBefore.
bool not_yet_valid_at(const cert_info& info, std::int64_t unix_now) noexcept;

}  // namespace ttig::pki
