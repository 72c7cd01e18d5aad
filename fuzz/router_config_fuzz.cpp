// decode_router_config (the station's reading) on arbitrary bytes.
// Property: what decodes re-encodes (TTS format) to text the station reads again, and that
// re-encodes to the same bytes.
#include <ttig/proto/router_config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto rc = ttig::proto::decode_router_config(text);
    if (!rc) return 0;
    const std::string e1 = ttig::proto::encode_router_config(*rc);
    auto again = ttig::proto::decode_router_config(e1);
    if (!again) __builtin_trap();
    if (ttig::proto::encode_router_config(*again) != e1) __builtin_trap();
    return 0;
}
