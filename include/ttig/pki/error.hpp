// Error domain "pki": PEM/DER decoding, X.509 inspection, key and certificate generation.
//
// Same pattern as the proto domains (ttig/proto/error.hpp): an enum class, a table_category with
// a stable cause id "pki.<name>" per value. Where OpenSSL gives a reason, the error's detail ends
// with it ("...: error:0680007B:asn1 encoding routines::header too long").
#pragma once

#include <ttig/proto/error.hpp>

#include <span>
#include <system_error>
#include <type_traits>

namespace ttig::pki {

enum class pki_errc {
    bad_pem = 1,      // PEM armour present but unusable (bad base64, truncated block, bad content)
    bad_der,          // bytes are not a DER certificate (or trailing bytes after it)
    bad_key,          // bytes are not a private key (or an encrypted one)
    no_certificate,   // input holds no certificate at all
    no_key,           // PEM input holds no private key block
    unsupported_key,  // key type other than RSA or EC
    unreadable,       // a file could not be read
    bad_parameter,    // invalid argument to a generator (days, SAN, mismatched CA key)
    generate_failed,  // OpenSSL failed while generating a key or signing a certificate
};

const proto::table_category& pki_category() noexcept;

// Every category pki defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(pki_errc e) noexcept { return {static_cast<int>(e), pki_category()}; }

}  // namespace ttig::pki

template <>
struct std::is_error_code_enum<ttig::pki::pki_errc> : std::true_type {};
