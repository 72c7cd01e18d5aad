// Credential blobs: the cupsCred / tcCred segments of a CUPS response (basicstation-protocol §2).
//
//   trust DER ‖ (client cert DER | 00000000) ‖ (client key DER | "Authorization: <secret>\r\n" | nothing)
//
// Two sides: TTS only builds the token form (tts_token_blob); the station splits a blob with its
// own length rules (station_parse_blob), including its quirk of reading every DER long-form
// length as two bytes.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>

#include <string_view>

namespace ttig::proto {

// The three parts of a credential set. An empty part is an absent one (the station writes it as
// an empty file, and its CRC counts it as 4 zero bytes).
struct credentials {
    bytes trust;  // CA certificate, DER
    bytes cert;   // client certificate DER, or empty
    bytes key;    // client key DER (first byte 0x30), token text ("Authorization: ...\r\n"), or empty

    // What a station that holds these files does with them (§2.3).
    enum class auth { none, server_only, token, mutual_tls };
    auth auth_mode() const noexcept;
    // The CRC a station holding exactly these files reports (cupsCredCrc / tcCredCrc).
    std::uint32_t station_crc() const noexcept { return station_cred_crc(trust, cert, key); }
    friend bool operator==(const credentials&, const credentials&) = default;
};
std::string_view to_string(credentials::auth a) noexcept;

// TTS's blob (TTS messages.go TokenCredentials): trust ‖ 00000000 ‖ "Authorization: " ‖ secret
// with trailing CR/LF removed ‖ "\r\n". Its CRC-32 equals the station_crc of the files a station
// writes from it.
bytes tts_token_blob(byte_view trust_der, std::string_view secret);

// Any blob a CUPS server may send: trust ‖ (cert or 4 zero bytes) ‖ key.
result<bytes> build_blob(const credentials& c);

// The station's parser (BS sys_credComplete), bounds-checked: where the station would read past
// the segment we report blob.part_overflow.
result<credentials> station_parse_blob(byte_view blob);

// The token text a station would send as header lines, split into lines without CRLF; used for
// display and redaction. Returns the secret part of an "Authorization: ..." line (after an
// optional "Bearer "), or an empty view.
std::string_view token_secret(std::string_view key_text) noexcept;

// Redacted form of a secret for logs and output: "NNSXS.ABCD…" (first 10 characters, then …).
std::string redact_secret(std::string_view secret);

}  // namespace ttig::proto
