// The station's credential blob parser; what it accepts rebuilds into a blob that parses the same.
#include <ttig/proto/blob.hpp>

#include <cstdint>

using namespace ttig::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto c = station_parse_blob(byte_view(data, size));
    if (!c) return 0;
    if (c->trust.empty() || c->trust.size() + c->cert.size() + c->key.size() > size) __builtin_trap();
    (void)c->station_crc();
    auto rebuilt = build_blob(*c);
    if (!rebuilt) return 0;
    auto again = station_parse_blob(*rebuilt);
    if (!again || !(*again == *c)) __builtin_trap();
    return 0;
}
