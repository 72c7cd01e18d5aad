// Base64 (RFC 4648 §4) and base64url (§5), done by OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock.
//
// The one implementation in the program: the TTS client (Secret.value, authentication_code, EUIs
// as bytes), the emulated TTS and its API-key hashes all call these. Never hand-roll an alphabet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ttig::pki {

// Standard alphabet, padded with '=' (Go's base64.StdEncoding; what TTS writes).
std::string base64_encode(std::string_view bytes);

// URL-safe alphabet ('-' and '_'), no padding (Go's base64.RawURLEncoding).
std::string base64url_encode_raw(std::string_view bytes);

// Decodes text in either alphabet (the two may be mixed), with or without '=' padding: every
// trailing '=' is dropped first, however many there are. Refused (nullopt): any other character,
// including white space and a '=' that is not trailing, and a lone trailing character (length
// without padding ≡ 1 mod 4). Unused low bits of the last character are not checked.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ttig::pki
