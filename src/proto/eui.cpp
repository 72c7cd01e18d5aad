#include <ttig/proto/eui.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <optional>

namespace ttig::proto {

namespace {

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}


// Printable rendering of user input inside an error detail (bounded, control bytes escaped).
std::string quote(std::string_view s) {
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x7F)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    if (s.size() > 64) out += "...";
    return out + "'";
}

// One ID6 fragment: 1..4 hex digits per group, groups separated by ':'. Returns the value and the
// number of bits it covers (16 per group), or nullopt for an empty or over-long group.
std::optional<std::pair<std::uint64_t, int>> id6_fragment(std::string_view s) {
    std::uint64_t v = 0;
    int groups = 0;
    std::size_t start = 0;
    while (true) {
        std::size_t end = s.find(':', start);
        std::string_view g = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (g.empty() || g.size() > 4) return std::nullopt;
        std::uint64_t gv = 0;
        for (char c : g) {
            int d = hex_digit(c);
            if (d < 0) return std::nullopt;
            gv = gv << 4 | static_cast<unsigned>(d);
        }
        v = v << 16 | gv;
        ++groups;
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    if (groups > 4) return std::nullopt;
    return std::pair{v, groups * 16};
}

// Lower-case hex run length starting at i (at most `max`).
std::size_t lower_hex_run(std::string_view s, std::size_t i, std::size_t max) {
    std::size_t n = 0;
    while (i + n < s.size() && n < max && ((s[i + n] >= '0' && s[i + n] <= '9') || (s[i + n] >= 'a' && s[i + n] <= 'f'))) ++n;
    return n;
}

std::uint64_t group_value(std::string_view g) {
    std::uint64_t v = 0;
    for (char c : g) v = v << 4 | static_cast<unsigned>(hex_digit(c));
    return v;
}

// The TTS ID6 pattern (see tts_parse_eui_text), matched with backtracking order:
// greedy quantifiers try the longest first, an optional ':' is tried present first.
std::optional<tts_eui> tts_id6_match(std::string_view s) {
    tts_eui out;
    std::size_t i = 0;
    std::size_t p = 0;
    while (p < s.size() && s[p] >= 'a' && s[p] <= 'z') ++p;
    if (p > 0 && p < s.size() && s[p] == '-') {
        out.prefix = std::string(s.substr(0, p));
        i = p + 1;
    }
    for (std::size_t a = lower_hex_run(s, i, 4) + 1; a-- > 0;) {
        const std::size_t after_a = i + a;
        const bool colon_here = after_a < s.size() && s[after_a] == ':';
        for (int take_colon = colon_here ? 1 : 0; take_colon >= 0; --take_colon) {
            const std::size_t bpos = after_a + static_cast<std::size_t>(take_colon);
            for (std::size_t b = lower_hex_run(s, bpos, 4) + 1; b-- > 0;) {
                std::size_t c1 = bpos + b;
                if (c1 >= s.size() || s[c1] != ':') continue;
                const std::size_t cpos = c1 + 1;
                for (std::size_t c = lower_hex_run(s, cpos, 4) + 1; c-- > 0;) {
                    std::size_t c2 = cpos + c;
                    if (c2 >= s.size() || s[c2] != ':') continue;
                    const std::size_t dpos = c2 + 1;
                    const std::size_t d = lower_hex_run(s, dpos, 4);
                    if (dpos + d != s.size()) continue;
                    out.eui.value = group_value(s.substr(i, a)) << 48 | group_value(s.substr(bpos, b)) << 32 |
                                    group_value(s.substr(cpos, c)) << 16 | group_value(s.substr(dpos, d));
                    return out;
                }
            }
        }
    }
    return std::nullopt;
}

}  // namespace

// ---- eui64 ----------------------------------------------------------------------------------------

std::string eui64::hex() const { return fmt::format("{:016X}", value); }
std::string eui64::hex_lower() const { return fmt::format("{:016x}", value); }
std::string eui64::dashed() const {
    std::string out;
    for (int i = 7; i >= 0; --i) {
        out += fmt::format("{:02X}", static_cast<unsigned>((value >> (8 * i)) & 0xFF));
        if (i) out += '-';
    }
    return out;
}
std::string eui64::gateway_id() const { return "eui-" + hex_lower(); }
std::string eui64::traffic_path() const { return "/traffic/eui-" + hex(); }
bool eui64::looks_like_ttig() const noexcept {
    return (value >> 40) == 0x58A0CB && ((value >> 24) & 0xFFFF) == 0xFFFE;
}

std::string_view to_string(eui_form f) noexcept {
    switch (f) {
        case eui_form::hex: return "hex";
        case eui_form::dashed: return "dashed";
        case eui_form::colon: return "colon";
        case eui_form::eui_prefix: return "eui-prefix";
        case eui_form::id6: return "id6";
        case eui_form::ttig_label: return "ttig-label";
        case eui_form::decimal: return "decimal";
    }
    return "unknown";
}

// ---- station dialect ------------------------------------------------------------------------------

std::string station_id6(eui64 eui) {
    const unsigned g0 = eui.group(0), g1 = eui.group(1), g2 = eui.group(2), g3 = eui.group(3);
    if (g0 == 0 && g1 == 0) {
        if (g2 == 0) return fmt::format("::{:x}", g3);
        return fmt::format("::{:x}:{:x}", g2, g3);
    }
    if (g2 == 0 && g3 == 0) {
        if (g1 == 0) return fmt::format("{:x}::", g0);
        return fmt::format("{:x}:{:x}::", g0, g1);
    }
    if (g1 == 0 && g2 == 0) return fmt::format("{:x}::{:x}", g0, g3);
    return fmt::format("{:x}:{:x}:{:x}:{:x}", g0, g1, g2, g3);
}

result<eui64> station_parse_eui(std::string_view s) {
    if (s.empty()) return make_error(eui_errc::empty);
    int dashes = 0, colons = 0, digits = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '-')
            ++dashes;
        else if (c == ':')
            ++colons;
        else if (hex_digit(c) >= 0)
            ++digits;
        else
            return make_error(eui_errc::bad_character, "{} at offset {} in {}", quote(s.substr(i, 1)), i, quote(s));
    }
    if (digits == 0) return make_error(eui_errc::empty, "no hex digits in {}", quote(s));
    if (dashes && colons) return make_error(eui_errc::mixed_separators, quote(s));
    if (digits > 16) return make_error(eui_errc::too_long, "{} hex digits in {}", digits, quote(s));
    if (dashes > 7 || colons > 7) return make_error(eui_errc::bad_group, "too many separators in {}", quote(s));
    if (colons == 2 || colons == 3) {
        auto bad = [&] { return make_error(eui_errc::bad_id6, quote(s)); };
        std::size_t dc = s.find("::");
        if (dc == std::string_view::npos) {
            auto f = id6_fragment(s);
            if (!f) return bad();
            return eui64{f->first};
        }
        if (dc == 0) {  // ::g
            auto f = id6_fragment(s.substr(2));
            if (!f) return bad();
            return eui64{f->first};
        }
        if (dc + 2 == s.size()) {  // g::
            auto f = id6_fragment(s.substr(0, dc));
            if (!f) return bad();
            return eui64{f->first << (64 - f->second)};
        }
        auto left = id6_fragment(s.substr(0, dc));
        auto right = id6_fragment(s.substr(dc + 2));
        if (!left || !right || left->second + right->second > 64) return bad();
        return eui64{left->first << (64 - left->second) | right->first};
    }
    std::uint64_t v = 0;
    for (char c : s)
        if (int d = hex_digit(c); d >= 0) v = v << 4 | static_cast<unsigned>(d);
    return eui64{v};
}

// ---- TTS dialect ----------------------------------------------------------------------------------

std::string tts_id6(eui64 eui, std::string_view prefix) {
    std::string out;
    if (!prefix.empty()) {
        for (char c : prefix) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        out += '-';
    }
    if (eui.group(0) != 0) out += fmt::format("{:x}:", eui.group(0));
    for (int i : {1, 2}) {
        if (eui.group(i) != 0) out += fmt::format("{:x}", eui.group(i));
        out += ':';
    }
    out += fmt::format("{:x}", eui.group(3));
    return out;
}

result<tts_eui> tts_parse_eui_text(std::string_view s) {
    auto fail = [&] { return make_error(eui_errc::tts_format, quote(s)); };
    // 8 bytes separated by '-' or ':' (any case): exactly 23 characters.
    if (s.size() == 23 && (s[2] == '-' || s[2] == ':')) {
        const char sep = s[2];
        std::uint64_t v = 0;
        bool ok = true;
        for (int i = 0; i < 8 && ok; ++i) {
            int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
            if (hi < 0 || lo < 0 || (i < 7 && s[i * 3 + 2] != sep)) ok = false;
            v = v << 8 | static_cast<unsigned>(hi << 4 | lo);
        }
        if (ok) return tts_eui{eui64{v}, {}};
    }
    // Lower-case ID6 with optional lower-case prefix. TTS matches the positional pattern
    //   ^(?:([a-z]+)-)?(?:([a-f0-9]{0,4}):?)([a-f0-9]{0,4})?:([a-f0-9]{0,4})?:([a-f0-9]{0,4})$
    // with Go's leftmost-first (Perl) submatch semantics; empty groups read as 0. That choice
    // is reproduced here by trying the alternatives in the order a backtracking matcher would.
    // Consequence (kept on purpose): TTS's own encoder output for an EUI whose first group is
    // 0 and second is not ("2:3:4") reads back as a different EUI (0002:0000:0003:0004).
    if (auto m = tts_id6_match(s)) return *m;
    return fail();
}

result<tts_eui> tts_parse_eui(const nlohmann::json& value) {
    if (value.is_string()) return tts_parse_eui_text(value.get_ref<const std::string&>());
    if (value.is_number_unsigned()) return tts_eui{eui64{value.get<std::uint64_t>()}, {}};
    // Go's strconv.ParseUint(raw, 10, 64) accepts a non-negative integer literal only.
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
        return tts_eui{eui64{static_cast<std::uint64_t>(value.get<std::int64_t>())}, {}};
    return make_error(eui_errc::tts_format, "JSON {} is neither a string nor an unsigned number", value.type_name());
}

// ---- user-facing forms ----------------------------------------------------------------------------

result<eui64> eui_from_ttig_label(std::string_view label) {
    std::string_view s = label;
    if (s.starts_with("(92)")) s.remove_prefix(4);
    if (s.size() != 12) return make_error(eui_errc::bad_label, "{} has {} characters, want 12 hex digits", quote(label), s.size());
    std::uint64_t mac = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        int d = hex_digit(s[i]);
        if (d < 0) return make_error(eui_errc::bad_label, "{} at offset {} in {}", quote(s.substr(i, 1)), i, quote(label));
        mac = mac << 4 | static_cast<unsigned>(d);
    }
    return eui64{(mac & 0xFFFFFF000000ull) << 16 | 0xFFFE000000ull | (mac & 0xFFFFFFull)};
}

result<parsed_eui> parse_eui(std::string_view in) {
    std::string_view s = in;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    if (s.empty()) return make_error(eui_errc::empty);

    if (s.starts_with("(92)")) {
        auto r = eui_from_ttig_label(s);
        if (!r) return std::move(r).err();
        return parsed_eui{*r, eui_form::ttig_label};
    }
    if (s.size() > 4 && (s.starts_with("eui-") || s.starts_with("EUI-"))) {
        std::string_view h = s.substr(4);
        if (h.size() != 16) return make_error(eui_errc::bad_group, "{}: want eui- and 16 hex digits", quote(in));
        auto r = station_parse_eui(h);
        if (!r) return std::move(r).err();
        if (h.find_first_of("-:") != std::string_view::npos)
            return make_error(eui_errc::bad_character, "{}: want eui- and 16 hex digits", quote(in));
        return parsed_eui{*r, eui_form::eui_prefix};
    }
    const auto colons = std::count(s.begin(), s.end(), ':');
    const auto dashes = std::count(s.begin(), s.end(), '-');
    const std::size_t digits = s.size() - static_cast<std::size_t>(colons + dashes);
    if (colons == 0 && dashes == 0 && digits == 12) {
        auto r = eui_from_ttig_label(s);
        if (!r) return std::move(r).err();
        return parsed_eui{*r, eui_form::ttig_label};
    }
    if (colons == 2 || colons == 3) {
        auto r = station_parse_eui(s);
        if (!r) return std::move(r).err();
        return parsed_eui{*r, eui_form::id6};
    }
    // Byte-pair forms must be complete: 8 pairs, 7 separators, or 16 bare hex digits. Anything
    // shorter is ambiguous for a user (the station would pad with leading zeros; we refuse).
    if (colons == 7 || dashes == 7) {
        if (s.size() != 23) return make_error(eui_errc::bad_group, "{}: want 8 two-digit groups", quote(in));
        const char sep = colons ? ':' : '-';
        for (std::size_t i = 2; i < s.size(); i += 3)
            if (s[i] != sep) return make_error(eui_errc::bad_group, "{}: want 8 two-digit groups", quote(in));
        auto r = station_parse_eui(s);
        if (!r) return std::move(r).err();
        return parsed_eui{*r, colons ? eui_form::colon : eui_form::dashed};
    }
    if (colons == 0 && dashes == 0) {
        if (s.size() > 16 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) && s.size() <= 20) {
            std::uint64_t v = 0;
            bool overflow = false;
            for (char c : s) {
                unsigned d = static_cast<unsigned>(c - '0');
                if (v > (UINT64_MAX - d) / 10) overflow = true;
                v = v * 10 + d;
            }
            if (!overflow) return parsed_eui{eui64{v}, eui_form::decimal};
        }
        if (s.size() != 16) {
            auto r = station_parse_eui(s);  // reports bad characters and >16 digits precisely
            if (!r) return std::move(r).err();
            return make_error(eui_errc::bad_group, "{} has {} hex digits, want 16 (or 12 for a TTIG label code)", quote(in), s.size());
        }
        auto r = station_parse_eui(s);
        if (!r) return std::move(r).err();
        return parsed_eui{*r, eui_form::hex};
    }
    if (colons && dashes) return make_error(eui_errc::mixed_separators, quote(in));
    return make_error(eui_errc::bad_group, "{}: want 8 two-digit groups, 16 hex digits or an ID6", quote(in));
}

}  // namespace ttig::proto
