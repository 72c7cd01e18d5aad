// EUI-64, ID6 and TTIG label codes.
//
// Two dialects where The Things Stack and the station differ (docs: basicstation-protocol §5):
//  - station: canonical ID6 encoder (BS uj.c encId6) and the tolerant configuration parser
//    (BS rt.c rt_readEui);
//  - tts: the Gateway Server's ID6 codec (lorawan-stack semtechws/id6): its encoder writes
//    `a:::b`-style forms and its parser rejects upper-case ID6 and bare hex.
#pragma once

#include <ttig/proto/error.hpp>

#include <nlohmann/json_fwd.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace ttig::proto {

struct eui64 {
    std::uint64_t value = 0;

    constexpr bool is_zero() const noexcept { return value == 0; }
    constexpr std::uint16_t group(int i) const noexcept {  // ID6 group 0..3, most significant first
        return static_cast<std::uint16_t>(value >> (48 - 16 * i));
    }
    std::string hex() const;         // 16 upper-case hex digits: 58A0CBFFFE123456 (TTS String())
    std::string hex_lower() const;   // 58a0cbfffe123456
    std::string dashed() const;      // 58-A0-CB-FF-FE-12-34-56 (LNS DevEui/JoinEui form)
    std::string gateway_id() const;  // eui-58a0cbfffe123456 (TTS default/auto-registered gateway ID)
    std::string traffic_path() const;  // /traffic/eui-58A0CBFFFE123456
    // True for EUIs built from a TTI MAC (OUI 58:A0:CB) with the FFFE infix of §5.5.
    bool looks_like_ttig() const noexcept;

    friend constexpr auto operator<=>(const eui64&, const eui64&) = default;
};

// The form a user-supplied EUI was recognised in.
enum class eui_form { hex, dashed, colon, eui_prefix, id6, ttig_label, decimal };
std::string_view to_string(eui_form f) noexcept;

struct parsed_eui {
    eui64 eui;
    eui_form form;
};

// Parses every user-facing form: 16 hex digits, dashed or colon pairs, `eui-` + hex, ID6 with
// `::` (station grammar), a TTIG label code (12 hex digits, optional "(92)" prefix).
result<parsed_eui> parse_eui(std::string_view text);

// TTIG label code (12 hex digits after "(92)" on the label) to EUI: FFFE after the first 6 digits.
result<eui64> eui_from_ttig_label(std::string_view label);

// ---- station dialect ----------------------------------------------------------------------------
// Canonical ID6 as the station writes its `router` field: 58a0:cbff:fe12:3456, ::0, a::b, 1234::.
std::string station_id6(eui64 eui);
// The station's tolerant parser for configuration strings (rt_readEui): 2 or 3 colons -> ID6
// with `::` expansion; otherwise hex digits with optional `-` or `:` separators (not mixed,
// at most 16 digits, missing digits are leading zeros).
result<eui64> station_parse_eui(std::string_view text);

// ---- TTS dialect --------------------------------------------------------------------------------
struct tts_eui {
    eui64 eui;
    std::string prefix;  // "router" in "router-58a0:...", empty when absent
};
// TTS's ID6 encoder (MarshalJSON), without the JSON quotes: prefix- + its group rules.
std::string tts_id6(eui64 eui, std::string_view prefix = {});
// TTS's parser (UnmarshalJSON) over a JSON value: a string in dashed/colon byte form (any case)
// or lower-case ID6 with optional lower-case prefix, or a JSON unsigned number.
result<tts_eui> tts_parse_eui(const nlohmann::json& value);
// Same, for the text of a JSON string (no quotes).
result<tts_eui> tts_parse_eui_text(std::string_view string_value);

}  // namespace ttig::proto

template <>
struct fmt::formatter<ttig::proto::eui64> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const ttig::proto::eui64& e, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(e.hex(), ctx);
    }
};
