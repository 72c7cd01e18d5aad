// CUPS binary response decoders (both dialects): whole-body and incremental decoding agree, and
// a TTS-dialect body that decodes re-encodes to the same bytes.
#include <ttig/proto/cups.hpp>

#include <cstdint>
#include <cstdlib>

using namespace ttig::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    byte_view in(data, size);
    for (auto d : {cups_dialect::tts, cups_dialect::station}) {
        auto whole = decode_update_info_response(in, d);
        // Incremental, in chunks whose sizes come from the input itself.
        cups_response_parser p(d);
        std::size_t off = 0, step = size ? (data[0] % 13) + 1 : 1;
        while (off < size && p.status() == cups_response_parser::state::need_more) off += p.consume(in.subspan(off, std::min(step, size - off)));
        p.finish();
        // The whole-body decoder also refuses trailing bytes in the TTS dialect, and bodies under 3
        // bytes in the station dialect; otherwise both decoders must agree.
        const bool trailing = !whole && whole.err().id() == "cups.trailing_bytes";
        const bool done = p.status() == cups_response_parser::state::done;
        if (size >= 3 && !trailing && whole.has_value() != done) __builtin_trap();
        if (trailing && !done) __builtin_trap();
        if (whole && !(p.response() == *whole)) __builtin_trap();
        if (whole && d == cups_dialect::tts) {
            auto again = encode_update_info_response(*whole, d);
            if (!again || *again != bytes(in.begin(), in.end())) __builtin_trap();
        }
    }
    return 0;
}
