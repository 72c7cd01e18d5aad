// EUI parsers (user forms, station, TTS); canonical encodings read back to the same EUI.
#include <ttig/proto/eui.hpp>

#include <cstdint>
#include <string_view>

using namespace ttig::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view s(reinterpret_cast<const char*>(data), size);
    if (auto p = parse_eui(s)) {
        auto back = station_parse_eui(station_id6(p->eui));
        if (!back || back->value != p->eui.value) __builtin_trap();
        auto hex = parse_eui(p->eui.hex());
        if (!hex || hex->eui.value != p->eui.value) __builtin_trap();
    }
    if (auto e = station_parse_eui(s)) {
        auto back = station_parse_eui(station_id6(*e));
        if (!back || back->value != e->value) __builtin_trap();
    }
    if (auto t = tts_parse_eui_text(s)) {
        auto again = tts_parse_eui_text(tts_id6(t->eui, t->prefix));
        if (!again) __builtin_trap();
    }
    return 0;
}
