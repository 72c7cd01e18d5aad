// CUPS: the update-info request and its binary response (basicstation-protocol §1).
//
// Dialects where TTS and the station differ:
//  - request JSON: the station writes it (key order, compact, null for absent values, station ID6);
//    TTS reads it tolerantly (Go encoding/json: unknown keys ignored, case-insensitive key match,
//    null strings -> "", router through the TTS ID6 parser).
//  - response: TTS writes sigLen without the key CRC and always writes the key CRC; the station
//    (and the reference CUPS server in BS pysys) counts the CRC inside sigLen and omits it when
//    there is no signature. A station needs at least 14 bytes.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/proto/eui.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::proto {

// ---- request ------------------------------------------------------------------------------------

struct update_info_request {
    eui64 router;
    std::optional<std::string> cups_uri;  // null when cups.uri is missing
    std::optional<std::string> tc_uri;    // null when tc.uri is missing
    std::uint32_t cups_cred_crc = empty_set_crc;
    std::uint32_t tc_cred_crc = empty_set_crc;
    std::string station;                  // "2.0.6(rpi/std) 2024-05-01 12:00:00"
    std::string model;                    // "rpi", "minihub"
    std::optional<std::string> package;   // trimmed version.txt, null when missing
    std::vector<std::uint32_t> keys;      // CRC-32 of sig-0.key, sig-1.key, ...

    friend bool operator==(const update_info_request&, const update_info_request&) = default;
};

// The JSON body exactly as a station sends it (compact, §1.3 key order).
std::string encode_update_info_request(const update_info_request& r);

// The body as TTS decodes it. Errors: cups.bad_json / not_object / bad_field_type / bad_crc /
// bad_router (TTS: 409 pkg/basicstation/cups:parse), cups.missing_router (400).
// A null or absent URI/package decodes to nullopt.
result<update_info_request> tts_decode_update_info_request(std::string_view body);

// The whole HTTP request a station writes (§1.2): request line, Host (text of cups.uri after the
// scheme), Content-Type, Content-Length right-aligned in 5 columns, the token lines from cups.key
// (already normalised: each line ends in CRLF), blank line, body.
std::string station_update_info_http(std::string_view host_port, std::string_view body, std::string_view token_lines);

// The station's rule for cups.uri / tc.uri (BS uri_checkHostPortUri): scheme://host:port, the
// port mandatory, no path, shorter than 128 bytes. `schemes` lists accepted schemes (lower case;
// compared case-insensitively), e.g. {"http","https"} or {"ws","wss"}.
struct host_port_uri {
    std::string scheme;  // lower case
    std::string host;    // without brackets for IPv6 literals
    std::uint16_t port = 0;
};
result<host_port_uri> station_check_uri(std::string_view uri, std::initializer_list<std::string_view> schemes);

// TTS's address reading (lorawan-stack pkg/basicstation/cups server.go parseAddress): an optional
// scheme://, a host, an optional port; the path is dropped; a missing port defaults by scheme
// (http 80, ws 1887, https 443, wss 8887); a missing scheme is `default_scheme`. Errors (Go's
// url.Parse refusing the text) are cups.bad_uri.
struct tts_address {
    std::string scheme;
    std::string host;
    std::string port;  // text, possibly empty for an unknown scheme without a port
    // scheme://host:port as TTS writes it (Go net.JoinHostPort brackets IPv6 hosts).
    std::string uri() const;
    // host:port as TTS dials it.
    std::string host_port() const;
};
result<tts_address> tts_parse_address(std::string_view default_scheme, std::string_view address);

// ---- response -----------------------------------------------------------------------------------

enum class cups_dialect {
    tts,      // sigLen excludes the key CRC; the key CRC is always present
    station,  // sigLen includes the key CRC (8..132 when non-zero); 0 means no CRC bytes
};
std::string_view to_string(cups_dialect d) noexcept;

struct update_info_response {
    std::string cups_uri;   // empty = no change
    std::string tc_uri;     // empty = no change
    bytes cups_cred;        // empty = no change
    bytes tc_cred;          // empty = no change
    bytes sig;              // signature (DER ECDSA), empty = none
    std::uint32_t key_crc = 0;
    bytes update;           // firmware image, empty = none

    bool no_change() const noexcept {
        return cups_uri.empty() && tc_uri.empty() && cups_cred.empty() && tc_cred.empty() && update.empty();
    }
    friend bool operator==(const update_info_response&, const update_info_response&) = default;
};

// Errors: cups.field_length naming the field (URI > 255 bytes, credential > 65535 bytes,
// station-dialect signature > 128 bytes).
result<bytes> encode_update_info_response(const update_info_response& r, cups_dialect d);

// Largest firmware update the decoder accepts (protects against hostile length fields).
inline constexpr std::size_t max_update_size = 64u * 1024u * 1024u;

// Incremental decoder: feed any chunking of the body; consume() returns how many bytes it used.
// state() says whether more input is needed, the response is complete, or it failed. Errors name
// the field and the byte offset.
class cups_response_parser {
public:
    enum class state { need_more, done, failed };
    explicit cups_response_parser(cups_dialect d) noexcept : dialect_(d) {}

    std::size_t consume(byte_view chunk);
    // The body ended (Content-Length reached / connection closed). Turns need_more into a
    // failure naming the field that was cut.
    void finish();
    state status() const noexcept { return state_; }
    const update_info_response& response() const noexcept { return resp_; }
    update_info_response&& take_response() noexcept { return std::move(resp_); }
    const error& err() const noexcept { return err_; }
    std::size_t offset() const noexcept { return offset_; }

private:
    enum class field { cups_uri_len, cups_uri, tc_uri_len, tc_uri, cups_cred_len, cups_cred, tc_cred_len, tc_cred,
                       sig_len, key_crc, sig, upd_len, upd, end };
    static std::string_view field_name(field f) noexcept;
    void enter(field f, std::size_t need);
    void fail(error e);
    void complete_field();

    cups_dialect dialect_;
    state state_ = state::need_more;
    field field_ = field::cups_uri_len;
    std::size_t need_ = 1;       // bytes the current field still needs
    std::size_t field_start_ = 0;  // body offset where the current field started
    std::size_t offset_ = 0;     // bytes consumed so far
    bytes scratch_;              // bytes of the current length field
    std::uint32_t sig_len_ = 0;
    update_info_response resp_;
    error err_;
};

// Whole-body decode. Station dialect: a body shorter than 14 bytes is cups.short_body (0..2:
// "Malformed CUPS response", 3..13: truncated); bytes after the update segment are ignored as the
// station does. TTS dialect: the exact layout is required and trailing bytes are an error.
result<update_info_response> decode_update_info_response(byte_view body, cups_dialect d);

}  // namespace ttig::proto
