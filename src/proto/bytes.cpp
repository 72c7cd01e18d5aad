#include <ttig/proto/bytes.hpp>

#include <boost/crc.hpp>

#include <array>

namespace ttig::proto {

std::string to_hex(byte_view b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(b.size() * 2);
    for (std::uint8_t c : b) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0xF]);
    }
    return out;
}

namespace {
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

bool from_hex(std::string_view hex, bytes& out) {
    if (hex.size() % 2 != 0) return false;
    bytes r;
    r.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        r.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    out = std::move(r);
    return true;
}

std::uint32_t crc32(byte_view data, std::uint32_t previous) noexcept {
    // boost::crc_32_type is CRC-32/IEEE (reflected 0x04C11DB7, init/xor-out 0xFFFFFFFF). Chaining
    // as zlib does: the running register is the previous result's complement; Boost keeps the
    // register of a reflected CRC bit-reversed, so reset() takes the reversed value.
    std::uint32_t reg = ~previous, reversed = 0;
    for (int i = 0; i < 32; ++i, reg >>= 1) reversed = reversed << 1 | (reg & 1u);
    boost::crc_32_type crc;
    crc.reset(reversed);
    crc.process_bytes(data.data(), data.size());
    return crc.checksum();
}

std::uint32_t station_cred_crc(byte_view trust, byte_view crt, byte_view key) noexcept {
    static constexpr std::array<std::uint8_t, 4> zeros{};
    std::uint32_t c = 0;
    for (byte_view part : {trust, crt, key}) c = crc32(part.empty() ? byte_view(zeros) : part, c);
    return c;
}

}  // namespace ttig::proto
