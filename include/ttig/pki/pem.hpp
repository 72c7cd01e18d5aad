// PEM/DER conversion for certificates and private keys (OpenSSL 3).
//
// The station and The Things Stack exchange DER: a trust/cert part is one DER certificate, a key
// part is a "traditional" DER private key (RSA PKCS#1 or EC SEC1, first byte 0x30; protocol doc
// §2.1). Users hand us PEM files; these functions turn either form into the DER a station uses.
// DER returned for certificates is the exact byte string inside the PEM block (never re-encoded),
// because the station's credential CRC is taken over raw bytes (§2.4).
#pragma once

#include <ttig/pki/error.hpp>
#include <ttig/proto/bytes.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::pki {

using proto::byte_view;
using proto::bytes;
using proto::result;

// True when the first byte that is not ASCII white space is '-' (the station's own PEM test:
// a station reads such a trust file as PEM, anything else as DER).
bool looks_like_pem(byte_view data) noexcept;

// The readers below take PEM when looks_like_pem() is true, and also when the input does not
// start with 0x30 but contains "-----BEGIN " (PEM with leading text such as "subject=..."; note
// that a station would read such a file as DER and fail). Anything else is DER.

// The first certificate of a PEM bundle ("CERTIFICATE" / "X509 CERTIFICATE" blocks; other blocks
// are skipped), or the single DER certificate given. Errors: pki.no_certificate (no certificate
// block / empty input), pki.bad_pem (armour or base64 broken, or the block is not a certificate),
// pki.bad_der (DER input that is not a certificate, or has trailing bytes).
result<bytes> certificate_der(byte_view pem_or_der);

// Every certificate of a PEM bundle in file order, or the one DER certificate given.
result<std::vector<bytes>> certificate_chain(byte_view pem_or_der);

// The private key in traditional DER (RSA PKCS#1 or EC SEC1), from PEM ("PRIVATE KEY",
// "RSA PRIVATE KEY", "EC PRIVATE KEY"; other blocks such as certificates or "EC PARAMETERS" are
// skipped) or from DER (PKCS#8 or traditional). Errors: pki.no_key (PEM without a key block),
// pki.bad_key (undecodable or encrypted key), pki.unsupported_key (neither RSA nor EC).
result<bytes> private_key_der(byte_view pem_or_der);

// PEM armour around DER bytes: "-----BEGIN <label>-----\n", base64 in 64-column lines,
// "-----END <label>-----\n". No validation of the content.
std::string pem_encode(std::string_view label, byte_view der);

// A DER certificate as a "CERTIFICATE" PEM block, after checking that it parses (pki.bad_der).
result<std::string> certificate_pem(byte_view der);

// A private key (PEM or DER, any form private_key_der accepts) as an unencrypted PKCS#8
// "PRIVATE KEY" PEM block.
result<std::string> private_key_pem(byte_view pem_or_der);

// Reads a whole file (certificate, key, bundle). Error pki.unreadable naming the path and the
// errno text; files larger than max_size are refused the same way.
result<bytes> load_file(const std::filesystem::path& path, std::size_t max_size = 1 << 20);

namespace detail {
// The oldest OpenSSL error queued on this thread as "error:XXXXXXXX:lib::reason" (empty when the
// queue is empty); clears the queue.
std::string openssl_reason();
// "<what>: <openssl_reason()>", or just <what> when OpenSSL queued nothing.
std::string with_reason(std::string what);
}  // namespace detail

}  // namespace ttig::pki
