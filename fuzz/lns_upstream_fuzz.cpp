// decode_upstream (TTS's reading of station -> LNS traffic) on arbitrary bytes.
// Property: what decodes re-encodes (station format) to text that decodes again and re-encodes to
// the same bytes. (The first re-encoding normalises: key case, nulls, sub-microsecond times.)
#include <ttig/proto/lns.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto m = ttig::proto::decode_upstream(text);
    if (!m) return 0;
    const std::string e1 = ttig::proto::encode_upstream(*m);
    auto again = ttig::proto::decode_upstream(e1);
    if (!again) __builtin_trap();
    if (ttig::proto::encode_upstream(*again) != e1) __builtin_trap();
    return 0;
}
