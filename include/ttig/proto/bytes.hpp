// Byte buffers and CRC-32 (Boost.CRC).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::proto {

using bytes = std::vector<std::uint8_t>;
using byte_view = std::span<const std::uint8_t>;

inline byte_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(byte_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

std::string to_hex(byte_view b);                 // lower-case, no separators
bool from_hex(std::string_view hex, bytes& out);  // false on odd length or a non-hex digit

// CRC-32/IEEE (zlib.crc32, Go crc32.ChecksumIEEE), chainable: crc32(b, crc32(a)) == crc32(a||b).
std::uint32_t crc32(byte_view data, std::uint32_t previous = 0) noexcept;

// The station's credential-set CRC (cupsCredCrc / tcCredCrc, BS sys_crcCred): CRC-32 chained over
// trust, crt, key in that order, 4 zero bytes standing for a missing or empty part.
std::uint32_t station_cred_crc(byte_view trust, byte_view crt, byte_view key) noexcept;

// CRC of an empty set: CRC-32 of 12 zero bytes.
inline constexpr std::uint32_t empty_set_crc = 0x7BD5C66Fu;

}  // namespace ttig::proto
