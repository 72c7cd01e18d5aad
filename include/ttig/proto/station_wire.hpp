// What a Basics Station (v2.0.6) writes and reads on the wire besides the CUPS and LNS payloads
// (basicstation-protocol §1.9, §4.2, §6.1): its WebSocket upgrade request with the constant key,
// its masked client frames, and the two readers it needs — an HTTP response head with the
// station's rules, and server WebSocket frames. Sans-io; every reader is bounded and incremental.
//
// The expected bytes in the tests come from the doc's captures (TV-S1..TV-S3), not from here.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/proto/http.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ttig::proto {

// ---- WebSocket upgrade (§4.2, TV-S2) ------------------------------------------------------------

// The station's constant Sec-WebSocket-Key (BS net.c); it never checks Sec-WebSocket-Accept.
inline constexpr std::string_view station_ws_key = "bpse8nVmEl6ZlX4lSb6RMw==";

// "GET <path> HTTP/1.1", Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version, the
// token lines from tc.key (already normalised, each ending in CRLF; TLS only), blank line.
std::string station_ws_upgrade(std::string_view host_port, std::string_view path, std::string_view token_lines);

// ---- WebSocket frames (RFC 6455) ------------------------------------------------------------------

enum class ws_opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

using ws_mask = std::array<std::uint8_t, 4>;
// The station's masks (§6.1): data frames 01 01 01 01, close frames 00 00 00 00. Pongs are taken
// as data frames (not captured).
inline constexpr ws_mask station_data_mask{1, 1, 1, 1};
inline constexpr ws_mask station_close_mask{0, 0, 0, 0};

// One client frame: FIN set, masked with `mask`.
std::string encode_client_frame(ws_opcode op, std::string_view payload, const ws_mask& mask);
// A frame as the station writes it (its mask for the opcode). A close frame carries `payload` as
// written: use station_close_payload for a code.
std::string station_frame(ws_opcode op, std::string_view payload);
std::string station_close_payload(std::uint16_t code);

struct ws_frame {
    ws_opcode op = ws_opcode::text;
    bool fin = true;
    std::string payload;  // unmasked
};

// Incremental reader of frames sent by a server. Refuses (ws.* errors): reserved bits, unknown
// opcodes, control frames longer than 125 bytes or fragmented, a payload longer than `max_payload`
// (the station's receive buffer is 40 KiB), a 64-bit length with the top bit set. Masked server
// frames are accepted and unmasked (RFC 6455 forbids them; the station does not check).
class ws_frame_reader {
public:
    explicit ws_frame_reader(std::size_t max_payload = 40u << 10) : max_payload_(max_payload) {}

    // Consumes bytes; returns how many were used (stops after one complete frame).
    std::size_t consume(byte_view data);
    std::size_t consume(std::string_view data) {
        return consume(byte_view(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    }
    bool has_frame() const noexcept { return done_; }
    // The complete frame; the reader then starts over.
    ws_frame take();
    const std::optional<error>& failure() const noexcept { return failure_; }

private:
    std::size_t max_payload_;
    std::string head_;  // header bytes so far (2..14)
    std::size_t need_ = 2;
    std::uint64_t length_ = 0;
    bool have_header_ = false;
    bool masked_ = false;
    ws_mask mask_{};
    ws_frame frame_;
    bool done_ = false;
    std::optional<error> failure_;
};

// ---- HTTP response head with the station's rules (§1.9) ------------------------------------------

struct station_http_head {
    int status = 0;                       // from "HTTP/1.x NNN"
    std::optional<std::size_t> content_length;
    bool chunked = false;                 // Transfer-Encoding: chunked (the station cannot read it)
    http_fields headers;
    std::size_t head_size = 0;            // bytes up to and including the blank line
};

// Parses the head at the start of `data`. nullopt while the blank line has not arrived (and the
// head is shorter than `max_head`). Errors: http.bad_status_line, http.bad_header,
// http.head_too_long, http.bad_content_length.
result<std::optional<station_http_head>> parse_station_http_head(std::string_view data, std::size_t max_head = 8192);

}  // namespace ttig::proto
