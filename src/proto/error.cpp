#include <ttig/proto/error.hpp>

#include <array>

namespace ttig::proto {

std::string table_category::message(int value) const {
    for (const auto& e : table_)
        if (e.value == value) return std::string(e.message);
    return fmt::format("unknown {} error {}", domain_, value);
}

std::string table_category::id(int value) const {
    for (const auto& e : table_)
        if (e.value == value) return fmt::format("{}.{}", domain_, e.name);
    return fmt::format("{}.unknown_{}", domain_, value);
}

std::string cause_id(const std::error_code& ec) {
    if (!ec) return "ok";
    if (const auto* cat = dynamic_cast<const table_category*>(&ec.category())) return cat->id(ec.value());
    return fmt::format("sys.{}.{}", ec.category().name(), ec.value());
}

std::string error::what() const {
    std::string msg = code.category().message(code.value());
    if (detail.empty()) return fmt::format("[{}] {}", id(), msg);
    return fmt::format("[{}] {}: {}", id(), msg, detail);
}

namespace {

template <class E>
constexpr int v(E e) {
    return static_cast<int>(e);
}

constexpr std::array eui_table{
    errc_entry{v(eui_errc::empty), "empty", "empty EUI"},
    errc_entry{v(eui_errc::bad_character), "bad_character", "invalid character in EUI"},
    errc_entry{v(eui_errc::too_long), "too_long", "EUI has more than 16 hex digits"},
    errc_entry{v(eui_errc::mixed_separators), "mixed_separators", "EUI mixes '-' and ':' separators"},
    errc_entry{v(eui_errc::bad_group), "bad_group", "EUI separator groups are malformed"},
    errc_entry{v(eui_errc::bad_id6), "bad_id6", "malformed ID6"},
    errc_entry{v(eui_errc::tts_format), "tts_format", "invalid format (The Things Stack ID6 parser)"},
    errc_entry{v(eui_errc::bad_label), "bad_label", "not a TTIG label code (12 hex digits)"},
};

constexpr std::array blob_table{
    errc_entry{v(blob_errc::empty), "empty", "empty credential blob"},
    errc_entry{v(blob_errc::trust_not_der), "trust_not_der", "ASN.1 SEQ expected for trust"},
    errc_entry{v(blob_errc::bad_der_length), "bad_der_length", "DER length header is unusable"},
    errc_entry{v(blob_errc::part_overflow), "part_overflow", "credential parts exceed the blob length"},
    errc_entry{v(blob_errc::token_syntax), "token_syntax", "malformed auth token"},
    errc_entry{v(blob_errc::too_long), "too_long", "credential blob exceeds 65535 bytes"},
};

constexpr std::array cups_table{
    errc_entry{v(cups_errc::bad_json), "bad_json", "update-info request is not valid JSON"},
    errc_entry{v(cups_errc::not_object), "not_object", "update-info request is not a JSON object"},
    errc_entry{v(cups_errc::missing_router), "missing_router", "missing router"},
    errc_entry{v(cups_errc::bad_router), "bad_router", "router is not a valid EUI"},
    errc_entry{v(cups_errc::bad_field_type), "bad_field_type", "update-info field has the wrong JSON type"},
    errc_entry{v(cups_errc::bad_crc), "bad_crc", "CRC is not an unsigned 32-bit number"},
    errc_entry{v(cups_errc::short_body), "short_body", "CUPS response shorter than the 14-byte minimum"},
    errc_entry{v(cups_errc::truncated), "truncated", "CUPS response truncated"},
    errc_entry{v(cups_errc::bad_sig_len), "bad_sig_len", "CUPS signature length out of range"},
    errc_entry{v(cups_errc::field_length), "field_length", "CUPS field too long for its length prefix"},
    errc_entry{v(cups_errc::bad_uri), "bad_uri", "URI is not scheme://host:port"},
    errc_entry{v(cups_errc::trailing_bytes), "trailing_bytes", "unexpected bytes after the CUPS response"},
};

constexpr std::array tc_table{
    errc_entry{v(tc_errc::bad_json), "bad_json", "LNS message is not valid JSON"},
    errc_entry{v(tc_errc::not_object), "not_object", "LNS message is not a JSON object"},
    errc_entry{v(tc_errc::missing_msgtype), "missing_msgtype", "LNS message has no msgtype"},
    errc_entry{v(tc_errc::unknown_msgtype), "unknown_msgtype", "unknown LNS msgtype"},
    errc_entry{v(tc_errc::missing_field), "missing_field", "LNS message lacks a required field"},
    errc_entry{v(tc_errc::bad_field_type), "bad_field_type", "LNS message field has the wrong JSON type"},
    errc_entry{v(tc_errc::bad_value), "bad_value", "LNS message field value out of range"},
    errc_entry{v(tc_errc::infos_rejected), "infos_rejected", "router-info discovery answered with an error"},
    errc_entry{v(tc_errc::unknown_region), "unknown_region", "router_config region not recognised"},
    errc_entry{v(tc_errc::unknown_frequency_plan), "unknown_frequency_plan", "unknown frequency plan"},
    errc_entry{v(tc_errc::bad_router), "bad_router", "discovery router is not an EUI The Things Stack accepts"},
    errc_entry{v(tc_errc::empty_router), "empty_router", "discovery router EUI is absent or zero"},
    errc_entry{v(tc_errc::bad_uri), "bad_uri", "muxs URI is not ws(s)://host:port/path under 128 bytes"},
    errc_entry{v(tc_errc::bad_frequency_plan), "bad_frequency_plan", "frequency plans cannot form a router_config"},
};

constexpr std::array wire_table{
    errc_entry{v(wire_errc::ws_reserved_bits), "ws_reserved_bits", "WebSocket frame with reserved bits set"},
    errc_entry{v(wire_errc::ws_bad_opcode), "ws_bad_opcode", "WebSocket frame with an unknown opcode"},
    errc_entry{v(wire_errc::ws_bad_control_frame), "ws_bad_control_frame", "WebSocket control frame fragmented or over 125 bytes"},
    errc_entry{v(wire_errc::ws_too_long), "ws_too_long", "WebSocket frame longer than the receive buffer"},
    errc_entry{v(wire_errc::http_bad_status_line), "http_bad_status_line", "HTTP status line is not \"HTTP/1.x NNN\""},
    errc_entry{v(wire_errc::http_bad_header), "http_bad_header", "HTTP header line without a colon"},
    errc_entry{v(wire_errc::http_head_too_long), "http_head_too_long", "HTTP response head longer than the buffer"},
    errc_entry{v(wire_errc::http_bad_content_length), "http_bad_content_length", "HTTP Content-Length is not a number"},
};

constinit const table_category eui_cat{"eui", eui_table};
constinit const table_category blob_cat{"blob", blob_table};
constinit const table_category cups_cat{"cups", cups_table};
constinit const table_category tc_cat{"tc", tc_table};
constinit const table_category wire_cat{"wire", wire_table};

constexpr std::array<const table_category*, 5> proto_cats{&eui_cat, &blob_cat, &cups_cat, &tc_cat, &wire_cat};

}  // namespace

const table_category& eui_category() noexcept { return eui_cat; }
const table_category& blob_category() noexcept { return blob_cat; }
const table_category& cups_category() noexcept { return cups_cat; }
const table_category& tc_category() noexcept { return tc_cat; }
const table_category& wire_category() noexcept { return wire_cat; }

std::span<const table_category* const> categories() noexcept { return proto_cats; }

}  // namespace ttig::proto
