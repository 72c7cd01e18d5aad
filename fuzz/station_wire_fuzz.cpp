// The station's wire readers on arbitrary bytes: server WebSocket frames and HTTP response heads.
// Properties: the frame reader never reads past its input, consumes at least one byte per call
// until it has a frame or fails, and a frame it returns re-encodes (masked, as a client frame) to
// bytes it reads back identically; the head parser's head_size lies inside the input and a
// Content-Length it reports is the decimal text it found.
#include <ttig/proto/station_wire.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ttig::proto;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    ws_frame_reader rd(4096);
    std::size_t pos = 0;
    int frames = 0;
    while (pos < text.size() && !rd.failure() && frames < 64) {
        const std::size_t chunk = 1 + (pos % 7);
        const auto part = text.substr(pos, chunk);
        const std::size_t used = rd.consume(part);
        if (used > part.size()) __builtin_trap();
        if (used == 0 && !rd.has_frame() && !rd.failure()) __builtin_trap();
        pos += used;
        if (rd.has_frame()) {
            const ws_frame f = rd.take();
            ++frames;
            if (f.payload.size() > 4096) __builtin_trap();
            if (!f.fin && static_cast<int>(f.op) >= 8) __builtin_trap();
            const std::string again = station_frame(f.op, f.payload);
            ws_frame_reader back(4096);
            if (back.consume(again) != again.size() || !back.has_frame()) __builtin_trap();
            const ws_frame g = back.take();
            if (g.op != f.op || g.payload != f.payload) __builtin_trap();
        }
    }

    if (auto h = parse_station_http_head(text, 2048); h && h->has_value()) {
        const auto& head = **h;
        if (head.head_size > text.size() || head.head_size < 16) __builtin_trap();
        if (head.status < 0 || head.status > 999) __builtin_trap();
        if (head.content_length && !head.headers.get("Content-Length")) __builtin_trap();
    }
    return 0;
}
