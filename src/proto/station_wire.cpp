#include <ttig/proto/station_wire.hpp>

#include <fmt/format.h>

#include <charconv>

namespace ttig::proto {

std::string station_ws_upgrade(std::string_view host_port, std::string_view path, std::string_view token_lines) {
    std::string out;
    out.reserve(160 + host_port.size() + path.size() + token_lines.size());
    out += "GET ";
    out += path;
    out += " HTTP/1.1\r\nHost: ";
    out += host_port;
    out += "\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: ";
    out += station_ws_key;
    out += "\r\nSec-WebSocket-Version: 13\r\n";
    out += token_lines;
    out += "\r\n";
    return out;
}

std::string encode_client_frame(ws_opcode op, std::string_view payload, const ws_mask& mask) {
    std::string out;
    out.reserve(payload.size() + 14);
    out += static_cast<char>(0x80 | static_cast<std::uint8_t>(op));
    const std::size_t n = payload.size();
    if (n < 126) {
        out += static_cast<char>(0x80 | n);
    } else if (n <= 0xffff) {
        out += static_cast<char>(0x80 | 126);
        out += static_cast<char>((n >> 8) & 0xff);
        out += static_cast<char>(n & 0xff);
    } else {
        out += static_cast<char>(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
    }
    for (std::uint8_t b : mask) out += static_cast<char>(b);
    for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ mask[i % 4]);
    return out;
}

std::string station_frame(ws_opcode op, std::string_view payload) {
    return encode_client_frame(op, payload, op == ws_opcode::close ? station_close_mask : station_data_mask);
}

std::string station_close_payload(std::uint16_t code) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xff);
    return p;
}

std::size_t ws_frame_reader::consume(byte_view data) {
    std::size_t used = 0;
    if (done_ || failure_) return 0;
    while (used < data.size() && !done_ && !failure_) {
        if (!have_header_) {
            head_ += static_cast<char>(data[used++]);
            if (head_.size() < need_) continue;
            const auto b0 = static_cast<std::uint8_t>(head_[0]);
            const auto b1 = static_cast<std::uint8_t>(head_[1]);
            if (head_.size() == 2) {
                if (b0 & 0x70) {
                    failure_ = make_error(wire_errc::ws_reserved_bits, "frame header byte 0x{:02x} at offset 0", b0);
                    break;
                }
                const auto op = b0 & 0x0f;
                if (!(op <= 2 || (op >= 8 && op <= 10))) {
                    failure_ = make_error(wire_errc::ws_bad_opcode, "opcode {} at offset 0", op);
                    break;
                }
                frame_.op = static_cast<ws_opcode>(op);
                frame_.fin = (b0 & 0x80) != 0;
                masked_ = (b1 & 0x80) != 0;
                const auto len7 = b1 & 0x7f;
                if (op >= 8 && (!frame_.fin || len7 > 125)) {
                    failure_ = make_error(wire_errc::ws_bad_control_frame, "opcode {}, length {}, fin {} at offset 1", op, len7, frame_.fin);
                    break;
                }
                need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked_ ? 4 : 0);
                length_ = len7 < 126 ? len7 : 0;
                if (head_.size() < need_) continue;
            }
            // Whole header present.
            const auto len7 = b1 & 0x7f;
            std::size_t pos = 2;
            if (len7 == 126) {
                length_ = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(head_[2])) << 8) | static_cast<std::uint8_t>(head_[3]);
                pos = 4;
            } else if (len7 == 127) {
                length_ = 0;
                for (int i = 0; i < 8; ++i) length_ = (length_ << 8) | static_cast<std::uint8_t>(head_[2 + i]);
                pos = 10;
                if (length_ >> 63) {
                    failure_ = make_error(wire_errc::ws_too_long, "64-bit length with the top bit set at offset 2");
                    break;
                }
            }
            if (length_ > max_payload_) {
                failure_ = make_error(wire_errc::ws_too_long, "payload of {} bytes, at most {} accepted", length_, max_payload_);
                break;
            }
            if (masked_)
                for (int i = 0; i < 4; ++i) mask_[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(head_[pos + static_cast<std::size_t>(i)]);
            have_header_ = true;
            frame_.payload.clear();
            frame_.payload.reserve(static_cast<std::size_t>(length_));
            if (length_ == 0) done_ = true;
            continue;
        }
        const std::size_t want = static_cast<std::size_t>(length_) - frame_.payload.size();
        const std::size_t take = std::min(want, data.size() - used);
        for (std::size_t i = 0; i < take; ++i) {
            auto b = data[used + i];
            if (masked_) b ^= mask_[frame_.payload.size() % 4];
            frame_.payload += static_cast<char>(b);
        }
        used += take;
        if (frame_.payload.size() == length_) done_ = true;
    }
    return used;
}

ws_frame ws_frame_reader::take() {
    ws_frame f = std::move(frame_);
    frame_ = {};
    head_.clear();
    need_ = 2;
    length_ = 0;
    have_header_ = false;
    masked_ = false;
    done_ = false;
    return f;
}

result<std::optional<station_http_head>> parse_station_http_head(std::string_view data, std::size_t max_head) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (data.size() > max_head) return make_error(wire_errc::http_head_too_long, "no end of head in the first {} bytes", max_head);
        // A status line can be judged as soon as it is complete (fail early on non-HTTP peers).
        if (const auto eol = data.find("\r\n"); eol != std::string_view::npos || data.size() >= 12) {
            const auto line = data.substr(0, std::min(eol, data.size()));
            if (line.size() >= 5 && !line.starts_with("HTTP/")) return make_error(wire_errc::http_bad_status_line, "response starts with \"{}\"", line.substr(0, 16));
        }
        return std::optional<station_http_head>{};
    }
    if (end + 4 > max_head) return make_error(wire_errc::http_head_too_long, "head of {} bytes, at most {}", end + 4, max_head);
    station_http_head h;
    h.head_size = end + 4;
    const std::string_view head = data.substr(0, end);
    const auto eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, eol);
    // "HTTP/1.x NNN" (BS net.c http_statusCode)
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ')
        return make_error(wire_errc::http_bad_status_line, "status line \"{}\"", status_line.substr(0, 40));
    // Exactly three digits (from_chars alone would take "-20").
    int status = 0;
    for (char c : status_line.substr(9, 3)) {
        if (c < '0' || c > '9') return make_error(wire_errc::http_bad_status_line, "status line \"{}\"", status_line.substr(0, 40));
        status = status * 10 + (c - '0');
    }
    if (status_line.size() > 12 && status_line[12] != ' ')
        return make_error(wire_errc::http_bad_status_line, "status line \"{}\"", status_line.substr(0, 40));
    h.status = status;
    std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
    int line_no = 1;
    while (pos < head.size()) {
        auto next = head.find("\r\n", pos);
        if (next == std::string_view::npos) next = head.size();
        const auto line = head.substr(pos, next - pos);
        ++line_no;
        pos = next + 2;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return make_error(wire_errc::http_bad_header, "header line {} has no name and colon", line_no);
        const auto name = line.substr(0, colon);
        auto value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        if (iequals(name, "Content-Length")) {
            std::size_t n = 0;
            const auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (value.empty() || e != std::errc() || q != value.data() + value.size())
                return make_error(wire_errc::http_bad_content_length, "Content-Length \"{}\" on header line {}", value.substr(0, 24), line_no);
            h.content_length = n;
        } else if (iequals(name, "Transfer-Encoding") && value.find("chunked") != std::string_view::npos) {
            h.chunked = true;
        }
        h.headers.add(std::string(name), std::string(value));
    }
    return std::optional<station_http_head>{std::move(h)};
}

}  // namespace ttig::proto
