// decode_downstream (the station's reading of LNS -> station traffic) on arbitrary bytes, without
// and with a router_config in force.
// Property: what decodes re-encodes (TTS format) to text the station reads again, and that
// re-encodes to the same bytes. Exception: a timesync txtime of 2^63 or more, which TTS writes as
// an integer the station cannot hold (nlohmann and the station differ past 64 bits).
#include <ttig/proto/lns.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace {
const ttig::proto::router_config& eu_config() {
    static const ttig::proto::router_config config = [] {
        auto p = ttig::proto::frequency_plan_by_id("EU_863_870_TTN");
        if (!p) __builtin_trap();
        auto rc = ttig::proto::make_router_config(**p, {});
        if (!rc) __builtin_trap();
        return *rc;
    }();
    return config;
}

bool round_trip_holds(const ttig::proto::downstream_message& m) {
    if (const auto* t = std::get_if<ttig::proto::timesync_response>(&m)) return std::fabs(t->txtime) < 9.2e18;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)ttig::proto::decode_downstream(text, &eu_config());
    auto m = ttig::proto::decode_downstream(text);
    if (!m || !round_trip_holds(*m)) return 0;
    const std::string e1 = ttig::proto::encode_downstream(*m);
    auto again = ttig::proto::decode_downstream(e1);
    if (!again) __builtin_trap();
    if (ttig::proto::encode_downstream(*again) != e1) __builtin_trap();
    return 0;
}
