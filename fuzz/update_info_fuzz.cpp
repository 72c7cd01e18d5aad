// update-info request decoder (TTS's reading); a decoded request re-encoded in the station's form
// decodes to the same value.
#include <ttig/proto/cups.hpp>

#include <cstdint>
#include <string_view>

using namespace ttig::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    auto r = tts_decode_update_info_request(body);
    if (!r) {
        if (r.err().what().empty()) __builtin_trap();
        return 0;
    }
    auto again = tts_decode_update_info_request(encode_update_info_request(*r));
    if (!again || !(*again == *r)) __builtin_trap();
    return 0;
}
