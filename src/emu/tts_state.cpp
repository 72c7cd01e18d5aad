#include <ttig/emu/tts_state.hpp>
#include <ttig/emu/events.hpp>
#include <ttig/pki/base64.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/store/database.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>

namespace ttig::emu {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;
using std::chrono::nanoseconds;

// =================================================================================================
// Wire conventions
// =================================================================================================

namespace {

std::int64_t to_ns(time_point t) { return t.time_since_epoch().count(); }
time_point from_ns(std::int64_t ns) { return time_point{nanoseconds{ns}}; }

std::string fraction_text(std::int64_t ns) {
    if (ns == 0) return {};
    if (ns % 1000000 == 0) return fmt::format(".{:03}", ns / 1000000);
    if (ns % 1000 == 0) return fmt::format(".{:06}", ns / 1000);
    return fmt::format(".{:09}", ns);
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
    int v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

}  // namespace

std::string format_time(time_point t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss<nanoseconds> hms{t - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count(), fraction_text(hms.subseconds().count()));
}

std::optional<time_point> parse_time(std::string_view s) {
    using namespace std::chrono;
    // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z')
        return std::nullopt;
    const auto y = s.substr(0, 4), mo = s.substr(5, 2), d = s.substr(8, 2), h = s.substr(11, 2), mi = s.substr(14, 2),
               se = s.substr(17, 2);
    for (auto part : {y, mo, d, h, mi, se})
        if (!all_digits(part)) return std::nullopt;
    std::int64_t frac = 0;
    const auto rest = s.substr(19, s.size() - 20);
    if (!rest.empty()) {
        if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10 || !all_digits(rest.substr(1))) return std::nullopt;
        std::string digits(rest.substr(1));
        digits.resize(9, '0');
        frac = std::stoll(digits);
    }
    const year_month_day ymd{year{to_int(y)}, month{static_cast<unsigned>(to_int(mo))},
                             day{static_cast<unsigned>(to_int(d))}};
    if (!ymd.ok() || to_int(h) > 23 || to_int(mi) > 59 || to_int(se) > 59) return std::nullopt;
    return time_point{sys_days{ymd}.time_since_epoch() + hours{to_int(h)} + minutes{to_int(mi)} + seconds{to_int(se)} +
                      nanoseconds{frac}};
}

std::string format_duration(nanoseconds d) {
    const bool negative = d.count() < 0;
    const std::int64_t ns = negative ? -d.count() : d.count();
    return fmt::format("{}{}{}s", negative ? "-" : "", ns / 1000000000, fraction_text(ns % 1000000000));
}

std::optional<nanoseconds> parse_duration(std::string_view s) {
    if (s.size() < 2 || s.back() != 's') return std::nullopt;
    s.remove_suffix(1);
    bool negative = false;
    if (s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    const auto dot = s.find('.');
    const auto whole = s.substr(0, dot);
    if (!all_digits(whole) || whole.size() > 11) return std::nullopt;
    std::int64_t ns = std::stoll(std::string(whole)) * 1000000000;
    if (dot != std::string_view::npos) {
        const auto f = s.substr(dot + 1);
        if (!all_digits(f) || f.size() > 9) return std::nullopt;
        std::string digits(f);
        digits.resize(9, '0');
        ns += std::stoll(digits);
    }
    return nanoseconds{negative ? -ns : ns};
}

std::string base64_encode(std::string_view in) { return pki::base64_encode(in); }

std::optional<std::string> base64_decode(std::string_view in) { return pki::base64_decode(in); }

// =================================================================================================
// Entities
// =================================================================================================

std::string_view entity_ref::type_name() const noexcept {
    switch (type) {
    case kind::user: return "user";
    case kind::organization: return "organization";
    case kind::gateway: return "gateway";
    }
    return "user";
}

ojson entity_ref::ids_json() const {
    ojson inner;
    ojson out;
    switch (type) {
    case kind::user:
        inner["user_id"] = id;
        out["user_ids"] = inner;
        break;
    case kind::organization:
        inner["organization_id"] = id;
        out["organization_ids"] = inner;
        break;
    case kind::gateway:
        inner["gateway_id"] = id;
        out["gateway_ids"] = inner;
        break;
    }
    return out;
}

std::optional<entity_ref> parse_entity_ids(const json& j) {
    if (!j.is_object()) return std::nullopt;
    auto get = [&](const char* outer, const char* inner) -> std::optional<std::string> {
        auto it = j.find(outer);
        if (it == j.end() || !it->is_object()) return std::nullopt;
        auto in = it->find(inner);
        if (in == it->end() || !in->is_string() || in->get<std::string>().empty()) return std::nullopt;
        return in->get<std::string>();
    };
    if (auto u = get("user_ids", "user_id")) return entity_ref::user(*u);
    if (auto o = get("organization_ids", "organization_id")) return entity_ref::organization(*o);
    if (auto g = get("gateway_ids", "gateway_id")) return entity_ref::gateway(*g);
    return std::nullopt;
}

// =================================================================================================
// Gateway fields
// =================================================================================================

namespace {

// Gateway fields in proto declaration order (protojson output order).
constexpr std::array<std::string_view, 31> gateway_fields{
    "ids",
    "created_at",
    "updated_at",
    "deleted_at",
    "name",
    "description",
    "attributes",
    "contact_info",
    "administrative_contact",
    "technical_contact",
    "version_ids",
    "gateway_server_address",
    "auto_update",
    "update_channel",
    "frequency_plan_id",
    "frequency_plan_ids",
    "antennas",
    "status_public",
    "location_public",
    "schedule_downlink_late",
    "enforce_duty_cycle",
    "downlink_path_constraint",
    "schedule_anytime_delay",
    "update_location_from_status",
    "lbs_lns_secret",
    "claim_authentication_code",
    "target_cups_uri",
    "target_cups_key",
    "require_authenticated_connection",
    "lrfhss",
    "disable_packet_broker_forwarding",
};

constexpr std::array<std::string_view, 59> gateway_paths_nested{
    "administrative_contact",
    "administrative_contact.ids",
    "administrative_contact.ids.organization_ids",
    "administrative_contact.ids.organization_ids.organization_id",
    "administrative_contact.ids.user_ids",
    "administrative_contact.ids.user_ids.email",
    "administrative_contact.ids.user_ids.user_id",
    "antennas",
    "attributes",
    "auto_update",
    "claim_authentication_code",
    "claim_authentication_code.secret",
    "claim_authentication_code.secret.key_id",
    "claim_authentication_code.secret.value",
    "claim_authentication_code.valid_from",
    "claim_authentication_code.valid_to",
    "contact_info",
    "created_at",
    "deleted_at",
    "description",
    "disable_packet_broker_forwarding",
    "downlink_path_constraint",
    "enforce_duty_cycle",
    "frequency_plan_id",
    "frequency_plan_ids",
    "gateway_server_address",
    "ids",
    "ids.eui",
    "ids.gateway_id",
    "lbs_lns_secret",
    "lbs_lns_secret.key_id",
    "lbs_lns_secret.value",
    "location_public",
    "lrfhss",
    "lrfhss.supported",
    "name",
    "require_authenticated_connection",
    "schedule_anytime_delay",
    "schedule_downlink_late",
    "status_public",
    "target_cups_key",
    "target_cups_key.key_id",
    "target_cups_key.value",
    "target_cups_uri",
    "technical_contact",
    "technical_contact.ids",
    "technical_contact.ids.organization_ids",
    "technical_contact.ids.organization_ids.organization_id",
    "technical_contact.ids.user_ids",
    "technical_contact.ids.user_ids.email",
    "technical_contact.ids.user_ids.user_id",
    "update_channel",
    "update_location_from_status",
    "updated_at",
    "version_ids",
    "version_ids.brand_id",
    "version_ids.firmware_version",
    "version_ids.hardware_version",
    "version_ids.model_id",
};

constexpr std::array<std::string_view, 16> public_fields{
    "ids",
    "created_at",
    "updated_at",
    "deleted_at",
    "contact_info",
    "name",
    "description",
    "frequency_plan_id",
    "frequency_plan_ids",
    "status_public",
    "gateway_server_address",
    "location_public",
    "antennas",
    "lrfhss.supported",
    "administrative_contact",
    "technical_contact",
};

constexpr std::array<std::string_view, 26> stats_paths_nested{
    "connected_at",
    "disconnected_at",
    "downlink_count",
    "gateway_remote_address",
    "gateway_remote_address.ip",
    "last_downlink_received_at",
    "last_status",
    "last_status.advanced",
    "last_status.antenna_locations",
    "last_status.boot_time",
    "last_status.ip",
    "last_status.metrics",
    "last_status.time",
    "last_status.versions",
    "last_status_received_at",
    "last_tx_acknowledgment_received_at",
    "last_uplink_received_at",
    "protocol",
    "round_trip_times",
    "round_trip_times.count",
    "round_trip_times.max",
    "round_trip_times.median",
    "round_trip_times.min",
    "sub_bands",
    "tx_acknowledgment_count",
    "uplink_count",
};

// Message-typed fields: present (even as {} or "0s") when the message is set.
bool is_message_field(std::string_view f) {
    return f == "ids" || f == "administrative_contact" || f == "technical_contact" || f == "version_ids" ||
           f == "schedule_anytime_delay" || f == "lbs_lns_secret" || f == "claim_authentication_code" ||
           f == "target_cups_key" || f == "lrfhss";
}

bool is_zero(const ojson& v) {
    if (v.is_null()) return true;
    if (v.is_boolean()) return !v.get<bool>();
    if (v.is_string()) return v.get<std::string>().empty();
    if (v.is_number_integer()) return v.get<std::int64_t>() == 0;
    if (v.is_number_unsigned()) return v.get<std::uint64_t>() == 0;
    if (v.is_number_float()) return v.get<double>() == 0.0;
    if (v.is_array() || v.is_object()) return v.empty();
    return false;
}

ojson ordered_gateway(const ojson& doc) {
    ojson out = ojson::object();
    for (auto f : gateway_fields) {
        auto it = doc.find(std::string(f));
        if (it != doc.end()) out[std::string(f)] = *it;
    }
    return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

std::span<const std::string_view> gateway_field_paths() noexcept { return gateway_paths_nested; }
std::span<const std::string_view> public_gateway_fields() noexcept { return public_fields; }
std::span<const std::string_view> connection_stats_field_paths() noexcept { return stats_paths_nested; }

bool has_only_allowed_fields(std::span<const std::string> paths, std::span<const std::string_view> allowed) {
    for (const auto& p : paths) {
        bool ok = false;
        for (auto a : allowed) {
            if (p == a || (starts_with(p, a) && p.size() > a.size() && p[a.size()] == '.')) {
                ok = true;
                break;
            }
        }
        if (!ok) return false;
    }
    return true;
}

bool has_any_field(std::span<const std::string> paths, std::string_view field) {
    for (const auto& p : paths) {
        if (p == field) return true;
        if (starts_with(p, field) && p.size() > field.size() && p[field.size()] == '.') return true;
        if (starts_with(field, p) && field.size() > p.size() && field[p.size()] == '.') return true;
    }
    return false;
}

// ---- gateway accessors ------------------------------------------------------------------------------

namespace {

std::string str_at(const ojson& doc, std::initializer_list<const char*> path) {
    const ojson* cur = &doc;
    for (const char* k : path) {
        if (!cur->is_object()) return {};
        auto it = cur->find(k);
        if (it == cur->end()) return {};
        cur = &*it;
    }
    return cur->is_string() ? cur->get<std::string>() : std::string();
}

bool bool_at(const ojson& doc, const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_boolean() && it->get<bool>();
}

std::optional<proto::eui64> eui_from_hex(std::string_view hex) {
    if (hex.size() != 16) return std::nullopt;
    proto::bytes b;
    if (!proto::from_hex(hex, b) || b.size() != 8) return std::nullopt;
    std::uint64_t v = 0;
    for (auto byte : b) v = (v << 8) | byte;
    return proto::eui64{v};
}

}  // namespace

std::string gateway::id() const { return str_at(doc, {"ids", "gateway_id"}); }

std::optional<proto::eui64> gateway::eui() const {
    const auto hex = str_at(doc, {"ids", "eui"});
    if (hex.empty()) return std::nullopt;
    return eui_from_hex(hex);
}

std::string gateway::name() const { return str_at(doc, {"name"}); }
std::string gateway::gateway_server_address() const { return str_at(doc, {"gateway_server_address"}); }

std::vector<std::string> gateway::frequency_plan_ids() const {
    std::vector<std::string> out;
    auto it = doc.find("frequency_plan_ids");
    if (it != doc.end() && it->is_array())
        for (const auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

std::map<std::string, std::string> gateway::attributes() const {
    std::map<std::string, std::string> out;
    auto it = doc.find("attributes");
    if (it != doc.end() && it->is_object())
        for (const auto& [k, v] : it->items())
            if (v.is_string()) out[k] = v.get<std::string>();
    return out;
}

std::optional<std::string> gateway::lbs_lns_secret() const {
    const auto v = str_at(doc, {"lbs_lns_secret", "value"});
    if (v.empty()) return std::nullopt;
    return base64_decode(v);
}

std::string gateway::target_cups_uri() const { return str_at(doc, {"target_cups_uri"}); }

std::optional<std::string> gateway::target_cups_key() const {
    const auto v = str_at(doc, {"target_cups_key", "value"});
    if (v.empty()) return std::nullopt;
    return base64_decode(v);
}

bool gateway::require_authenticated_connection() const { return bool_at(doc, "require_authenticated_connection"); }
bool gateway::status_public() const { return bool_at(doc, "status_public"); }
bool gateway::location_public() const { return bool_at(doc, "location_public"); }
time_point gateway::created_at() const { return parse_time(str_at(doc, {"created_at"})).value_or(time_point{}); }
time_point gateway::updated_at() const { return parse_time(str_at(doc, {"updated_at"})).value_or(time_point{}); }

std::optional<time_point> gateway::deleted_at() const {
    const auto s = str_at(doc, {"deleted_at"});
    if (s.empty()) return std::nullopt;
    return parse_time(s);
}

std::optional<entity_ref> gateway::administrative_contact() const {
    auto it = doc.find("administrative_contact");
    if (it == doc.end()) return std::nullopt;
    return parse_entity_ids(json::parse(it->dump()));
}

// =================================================================================================
// Gateway validation (protoc-gen-validate rules of gateway.proto) and rendering
// =================================================================================================

namespace {

struct vframe {
    std::string field;
    std::string name;  // "<Message>ValidationError"
};

// pkg/errors:validation with a cause chain: frames outermost first; every frame but the last
// says "embedded message failed validation".
tts_error validation_error(const std::vector<vframe>& frames, const std::string& reason) {
    std::optional<tts_error> inner;
    for (std::size_t i = frames.size(); i-- > 0;) {
        const bool last = i + 1 == frames.size();
        tts_error e = tts_error::make("pkg/errors:validation", {{"field", frames[i].field},
                                                                {"reason", last ? reason : "embedded message failed validation"},
                                                                {"name", frames[i].name}});
        if (inner) e = std::move(e).with_cause(std::move(*inner));
        inner = std::move(e);
    }
    return *inner;
}

// A plain gRPC status without details: what the JSON decoder answers for a badly typed value.
tts_error decode_error(const std::string& message) {
    tts_error e;
    e.code = grpc_code::invalid_argument;
    e.message_format = message;
    return e;
}

std::size_t rune_count(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

bool valid_id(std::string_view s) {  // ^[a-z0-9](?:[-]?[a-z0-9]){2,}$
    if (s.empty() || s.front() == '-' || s.back() == '-') return false;
    std::size_t alnum = 0;
    char prev = 0;
    for (char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ++alnum;
        else if (c == '-') {
            if (prev == '-') return false;
        } else
            return false;
        prev = c;
    }
    return alnum >= 3;
}

constexpr std::string_view id_pattern = "^[a-z0-9](?:[-]?[a-z0-9]){2,}$";
const char* const gsa_pattern =
    "^([a-z]{2,5}://)?(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\\-]*[a-zA-Z0-9])\\.)*(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\\-]*"
    "[A-Za-z0-9])(?::[0-9]{1,5})?$|^$";

std::string regex_reason(std::string_view pattern) { return fmt::format("value does not match regex pattern \"{}\"", pattern); }

// Normalizes one Gateway field. The result is the stored form; null means "zero" (absent).
class gateway_normalizer {
public:
    explicit gateway_normalizer(std::string request_name) : request_(std::move(request_name)) {}

    tts_result<ojson> field(const std::string& f, const json& v) {
        frames_ = {{"gateway", request_ + "ValidationError"}};
        if (v.is_null()) return ojson(nullptr);
        if (f == "ids") return ids(v);
        if (f == "name") return string_field(f, v, 50);
        if (f == "description") return string_field(f, v, 2000);
        if (f == "update_channel") return string_field(f, v, 128);
        if (f == "frequency_plan_id") return string_field(f, v, 64);
        if (f == "attributes") return attributes(v, "GatewayValidationError");
        if (f == "administrative_contact" || f == "technical_contact") return contact(f, v);
        if (f == "version_ids") return version_ids(v);
        if (f == "gateway_server_address") return gateway_server_address(v);
        if (f == "frequency_plan_ids") return frequency_plan_ids(v);
        if (f == "antennas") return antennas(v);
        if (f == "downlink_path_constraint") return downlink_path_constraint(v);
        if (f == "schedule_anytime_delay") return duration_field(f, v);
        if (f == "lbs_lns_secret" || f == "target_cups_key") return secret(f, v);
        if (f == "claim_authentication_code") return claim_code(v);
        if (f == "target_cups_uri") return cups_uri(v);
        if (f == "lrfhss") return lrfhss(v);
        if (f == "auto_update" || f == "status_public" || f == "location_public" || f == "schedule_downlink_late" ||
            f == "enforce_duty_cycle" || f == "update_location_from_status" || f == "require_authenticated_connection" ||
            f == "disable_packet_broker_forwarding")
            return bool_field(f, v);
        return ojson(nullptr);  // read-only or ignored (created_at, contact_info, ...)
    }

private:
    tts_error invalid(std::vector<vframe> inner, const std::string& reason) {
        auto frames = frames_;
        frames.insert(frames.end(), inner.begin(), inner.end());
        return validation_error(frames, reason);
    }
    static vframe gw(std::string field) { return {std::move(field), "GatewayValidationError"}; }

    tts_result<ojson> string_field(const std::string& f, const json& v, std::size_t max_len) {
        if (!v.is_string()) return decode_error(fmt::format("invalid value for string field {}: {}", f, v.dump()));
        const auto s = v.get<std::string>();
        if (rune_count(s) > max_len)
            return invalid({gw(f)}, fmt::format("value length must be at most {} runes", max_len));
        return s.empty() ? ojson(nullptr) : ojson(s);
    }

    tts_result<ojson> bool_field(const std::string& f, const json& v) {
        if (!v.is_boolean()) return decode_error(fmt::format("invalid value for bool field {}: {}", f, v.dump()));
        return v.get<bool>() ? ojson(true) : ojson(nullptr);
    }

    tts_result<ojson> ids(const json& v) {
        if (!v.is_object()) return decode_error("invalid value for message field ids");
        ojson out;
        const vframe ids_frame{"ids", "GatewayValidationError"};
        auto id = v.find("gateway_id");
        const std::string gid = id != v.end() && id->is_string() ? id->get<std::string>() : std::string();
        if (id != v.end() && !id->is_string()) return decode_error("invalid value for string field gateway_id");
        if (rune_count(gid) > 36)
            return invalid({ids_frame, {"gateway_id", "GatewayIdentifiersValidationError"}},
                           "value length must be at most 36 runes");
        if (!valid_id(gid))
            return invalid({ids_frame, {"gateway_id", "GatewayIdentifiersValidationError"}}, regex_reason(id_pattern));
        out["gateway_id"] = gid;
        if (auto e = v.find("eui"); e != v.end() && !e->is_null()) {
            auto eui = parse_eui_value(*e);
            if (!eui) return decode_error(fmt::format("invalid EUI: {}", e->dump()));
            if (!eui->is_zero()) out["eui"] = eui->hex();
        }
        return out;
    }

    static std::optional<proto::eui64> parse_eui_value(const json& e) {
        if (!e.is_string()) return std::nullopt;
        const auto s = e.get<std::string>();
        if (s.empty()) return proto::eui64{};
        if (auto hex = eui_from_hex(s)) return hex;
        if (auto raw = base64_decode(s); raw && raw->size() == 8) {
            std::uint64_t v = 0;
            for (unsigned char c : *raw) v = (v << 8) | c;
            return proto::eui64{v};
        }
        return std::nullopt;
    }

    tts_result<ojson> attributes(const json& v, const std::string& message) {
        if (!v.is_object()) return decode_error("invalid value for map field attributes");
        if (v.size() > 10) return invalid({{"attributes", message}}, "value must contain no more than 10 pair(s)");
        ojson out = ojson::object();
        std::vector<std::string> keys;
        for (const auto& [k, val] : v.items()) keys.push_back(k);
        std::sort(keys.begin(), keys.end());
        for (const auto& k : keys) {
            const auto& val = v.at(k);
            if (!val.is_string()) return decode_error(fmt::format("invalid value for string map value attributes[{}]", k));
            const vframe frame{fmt::format("attributes[{}]", k), message};
            if (rune_count(k) > 36) return invalid({frame}, "value length must be at most 36 runes");
            if (!valid_id(k)) return invalid({frame}, regex_reason(id_pattern));
            if (rune_count(val.get<std::string>()) > 200) return invalid({frame}, "value length must be at most 200 runes");
            out[k] = val.get<std::string>();
        }
        return out.empty() ? ojson(nullptr) : out;
    }

    tts_result<ojson> contact(const std::string& f, const json& v) {
        auto e = parse_entity_ids(v);
        if (!e || e->type == entity_ref::kind::gateway)
            return decode_error(fmt::format("invalid value for message field {}", f));
        if (!valid_id(e->id)) {
            const bool user = e->type == entity_ref::kind::user;
            return invalid({gw(f), {user ? "user_ids" : "organization_ids", "OrganizationOrUserIdentifiersValidationError"},
                            {user ? "user_id" : "organization_id",
                             user ? "UserIdentifiersValidationError" : "OrganizationIdentifiersValidationError"}},
                           regex_reason(id_pattern));
        }
        return e->ids_json();
    }

    tts_result<ojson> version_ids(const json& v) {
        if (!v.is_object()) return decode_error("invalid value for message field version_ids");
        ojson out = ojson::object();
        const vframe frame = gw("version_ids");
        // runtime_version is accepted but bunstore has no column for it: it is not stored.
        for (const char* k : {"brand_id", "model_id", "hardware_version", "firmware_version", "runtime_version"}) {
            auto it = v.find(k);
            if (it == v.end() || it->is_null()) continue;
            if (!it->is_string()) return decode_error(fmt::format("invalid value for string field {}", k));
            const auto s = it->get<std::string>();
            const vframe sub{k, "GatewayVersionIdentifiersValidationError"};
            const bool is_id = std::string_view(k) == "brand_id" || std::string_view(k) == "model_id";
            if (is_id && !s.empty()) {
                if (rune_count(s) > 36) return invalid({frame, sub}, "value length must be at most 36 runes");
                if (!valid_id(s)) return invalid({frame, sub}, regex_reason(id_pattern));
            }
            if (!is_id && rune_count(s) > 32) return invalid({frame, sub}, "value length must be at most 32 runes");
            if (!s.empty() && std::string_view(k) != "runtime_version") out[k] = s;
        }
        return out;
    }

    tts_result<ojson> gateway_server_address(const json& v) {
        if (!v.is_string()) return decode_error("invalid value for string field gateway_server_address");
        static const std::regex re(gsa_pattern);
        const auto s = v.get<std::string>();
        if (!std::regex_match(s, re)) return invalid({gw("gateway_server_address")}, regex_reason(gsa_pattern));
        return s.empty() ? ojson(nullptr) : ojson(s);
    }

    tts_result<ojson> frequency_plan_ids(const json& v) {
        if (!v.is_array()) return decode_error("invalid value for repeated field frequency_plan_ids");
        if (v.size() > 8) return invalid({gw("frequency_plan_ids")}, "value must contain no more than 8 item(s)");
        ojson out = ojson::array();
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string()) return decode_error("invalid value for string field frequency_plan_ids");
            if (rune_count(v[i].get<std::string>()) > 64)
                return invalid({gw(fmt::format("frequency_plan_ids[{}]", i))}, "value length must be at most 64 runes");
            out.push_back(v[i].get<std::string>());
        }
        return out.empty() ? ojson(nullptr) : out;
    }

    tts_result<ojson> antennas(const json& v) {
        if (!v.is_array()) return decode_error("invalid value for repeated field antennas");
        if (v.size() > 8) return invalid({gw("antennas")}, "value must contain no more than 8 item(s)");
        ojson out = ojson::array();
        for (std::size_t i = 0; i < v.size(); ++i) {
            const auto& a = v[i];
            if (!a.is_object()) return decode_error("invalid value for message field antennas");
            const vframe af = gw(fmt::format("antennas[{}]", i));
            ojson ant = ojson::object();
            if (auto g = a.find("gain"); g != a.end() && !g->is_null()) {
                if (!g->is_number()) return decode_error("invalid value for float field gain");
                if (g->get<double>() != 0.0) ant["gain"] = g->get<double>();
            }
            if (auto l = a.find("location"); l != a.end() && !l->is_null()) {
                if (!l->is_object()) return decode_error("invalid value for message field location");
                const vframe lf{"location", "GatewayAntennaValidationError"};
                ojson loc = ojson::object();
                for (const char* k : {"latitude", "longitude"}) {
                    auto it = l->find(k);
                    if (it == l->end() || it->is_null()) continue;
                    if (!it->is_number()) return decode_error(fmt::format("invalid value for double field {}", k));
                    const double d = it->get<double>();
                    const double lim = std::string_view(k) == "latitude" ? 90 : 180;
                    if (d < -lim || d > lim)
                        return invalid({af, lf, {k, "LocationValidationError"}},
                                       fmt::format("value must be inside range [{}, {}]", -lim, lim));
                    if (d != 0.0) loc[k] = d;
                }
                for (const char* k : {"altitude", "accuracy"}) {
                    auto it = l->find(k);
                    if (it == l->end() || it->is_null()) continue;
                    if (!it->is_number_integer()) return decode_error(fmt::format("invalid value for int32 field {}", k));
                    if (it->get<std::int64_t>() != 0) loc[k] = it->get<std::int64_t>();
                }
                if (auto s = l->find("source"); s != l->end() && !s->is_null()) {
                    static constexpr std::array<std::pair<std::string_view, int>, 9> sources{{
                        {"SOURCE_UNKNOWN", 0},
                        {"SOURCE_GPS", 1},
                        {"SOURCE_REGISTRY", 3},
                        {"SOURCE_IP_GEOLOCATION", 4},
                        {"SOURCE_WIFI_RSSI_GEOLOCATION", 5},
                        {"SOURCE_BT_RSSI_GEOLOCATION", 6},
                        {"SOURCE_LORA_RSSI_GEOLOCATION", 7},
                        {"SOURCE_LORA_TDOA_GEOLOCATION", 8},
                        {"SOURCE_COMBINED_GEOLOCATION", 9},
                    }};
                    std::string name;
                    for (const auto& [n, num] : sources)
                        if ((s->is_string() && s->get<std::string>() == n) ||
                            (s->is_number_integer() && s->get<std::int64_t>() == num))
                            name = n;
                    if (name.empty()) {
                        if (s->is_number_integer())
                            return invalid({af, lf, {"source", "LocationValidationError"}},
                                           "value must be one of the defined enum values");
                        return decode_error(fmt::format("invalid value for enum field source: {}", s->dump()));
                    }
                    if (name != "SOURCE_UNKNOWN") loc["source"] = name;
                }
                ant["location"] = loc;
            }
            if (auto at = a.find("attributes"); at != a.end() && !at->is_null()) {
                gateway_normalizer inner(request_);
                inner.frames_ = frames_;
                inner.frames_.push_back(af);
                auto r = inner.attributes(*at, "GatewayAntennaValidationError");
                if (!r) return std::move(r).err();
                if (!r->is_null()) ant["attributes"] = *r;
            }
            if (auto p = a.find("placement"); p != a.end() && !p->is_null()) {
                std::string name;
                if (p->is_string()) {
                    const auto s = p->get<std::string>();
                    if (s == "PLACEMENT_UNKNOWN" || s == "INDOOR" || s == "OUTDOOR") name = s;
                } else if (p->is_number_integer()) {
                    const auto n = p->get<std::int64_t>();
                    name = n == 0 ? "PLACEMENT_UNKNOWN" : n == 1 ? "INDOOR" : n == 2 ? "OUTDOOR" : "";
                }
                if (name.empty()) return decode_error(fmt::format("invalid value for enum field placement: {}", p->dump()));
                if (name != "PLACEMENT_UNKNOWN") ant["placement"] = name;
            }
            out.push_back(ant);
        }
        return out.empty() ? ojson(nullptr) : out;
    }

    tts_result<ojson> downlink_path_constraint(const json& v) {
        static constexpr std::array<std::string_view, 3> names{
            "DOWNLINK_PATH_CONSTRAINT_NONE", "DOWNLINK_PATH_CONSTRAINT_PREFER_OTHER", "DOWNLINK_PATH_CONSTRAINT_NEVER"};
        if (v.is_number_integer()) {
            const auto n = v.get<std::int64_t>();
            if (n < 0 || n > 2)
                return invalid({gw("downlink_path_constraint")}, "value must be one of the defined enum values");
            return n == 0 ? ojson(nullptr) : ojson(std::string(names[static_cast<std::size_t>(n)]));
        }
        if (v.is_string()) {
            for (std::size_t i = 0; i < names.size(); ++i)
                if (v.get<std::string>() == names[i]) return i == 0 ? ojson(nullptr) : ojson(std::string(names[i]));
        }
        return decode_error(fmt::format("invalid value for enum field downlink_path_constraint: {}", v.dump()));
    }

    tts_result<ojson> duration_field(const std::string& f, const json& v) {
        if (!v.is_string()) return decode_error(fmt::format("invalid value for duration field {}", f));
        auto d = parse_duration(v.get<std::string>());
        if (!d) return decode_error(fmt::format("invalid duration for field {}: {}", f, v.dump()));
        return d->count() == 0 ? ojson(nullptr) : ojson(format_duration(*d));
    }

    tts_result<ojson> secret(const std::string& f, const json& v) {
        if (!v.is_object()) return decode_error(fmt::format("invalid value for message field {}", f));
        auto it = v.find("value");
        if (it == v.end() || it->is_null()) return ojson(nullptr);
        if (!it->is_string()) return decode_error("invalid value for bytes field value");
        auto raw = base64_decode(it->get<std::string>());
        if (!raw) return decode_error(fmt::format("invalid base64 in bytes field {}.value", f));
        if (raw->size() > 2048)
            return invalid({gw(f), {"value", "SecretValidationError"}}, "value length must be at most 2048 bytes");
        if (raw->empty()) return ojson(nullptr);
        ojson out;
        out["value"] = base64_encode(*raw);  // stored in plaintext: no encryption key configured
        return out;
    }

    tts_result<ojson> claim_code(const json& v) {
        if (!v.is_object()) return decode_error("invalid value for message field claim_authentication_code");
        ojson out;
        auto s = v.find("secret");
        std::optional<std::string> raw;
        if (s != v.end() && s->is_object()) {
            if (auto val = s->find("value"); val != s->end() && val->is_string()) raw = base64_decode(val->get<std::string>());
        }
        // validateClaimAuthenticationCode: a secret value is required; valid_to not before valid_from.
        if (!raw || raw->empty()) return tts_error::make("pkg/identityserver:claim_authentication_code");
        out["secret"] = ojson{{"value", base64_encode(*raw)}};
        std::optional<time_point> from, to;
        for (const char* k : {"valid_from", "valid_to"}) {
            auto it = v.find(k);
            if (it == v.end() || it->is_null()) continue;
            auto t = it->is_string() ? parse_time(it->get<std::string>()) : std::nullopt;
            if (!t) return decode_error(fmt::format("invalid value for timestamp field {}", k));
            (std::string_view(k) == "valid_from" ? from : to) = t;
            out[k] = format_time(*t);
        }
        if (from && to && *to < *from) return tts_error::make("pkg/identityserver:claim_authentication_code");
        return out;
    }

    tts_result<ojson> cups_uri(const json& v) {
        if (!v.is_string()) return decode_error("invalid value for string field target_cups_uri");
        const auto s = v.get<std::string>();
        if (s.empty()) return ojson(nullptr);
        static const std::regex re("^[A-Za-z][A-Za-z0-9+.\\-]*:[^\\s]*$");
        if (!std::regex_match(s, re)) return invalid({gw("target_cups_uri")}, "value must be a valid URI");
        return ojson(s);
    }

    tts_result<ojson> lrfhss(const json& v) {
        if (!v.is_object()) return decode_error("invalid value for message field lrfhss");
        auto it = v.find("supported");
        if (it == v.end() || it->is_null()) return ojson(nullptr);
        if (!it->is_boolean()) return decode_error("invalid value for bool field supported");
        return it->get<bool>() ? ojson{{"supported", true}} : ojson(nullptr);
    }

    std::string request_;
    std::vector<vframe> frames_;
};

// The value at a dotted path inside a JSON object, or null.
json value_at(const json& root, std::string_view path) {
    const json* cur = &root;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto dot = path.find('.', start);
        const std::string key(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end()) return nullptr;
        cur = &*it;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return *cur;
}

// Copies only `sub` (a dotted path below the object) of `value`.
ojson select_sub(const ojson& value, std::string_view sub) {
    if (!value.is_object()) return nullptr;
    const auto dot = sub.find('.');
    const std::string key(sub.substr(0, dot));
    auto it = value.find(key);
    if (it == value.end()) return nullptr;
    if (dot == std::string_view::npos) return *it;
    ojson inner = select_sub(*it, sub.substr(dot + 1));
    if (inner.is_null()) return nullptr;
    return inner;
}

void merge_into(ojson& dst, const ojson& src) {
    if (!dst.is_object() || !src.is_object()) {
        dst = src;
        return;
    }
    for (const auto& [k, v] : src.items()) {
        if (dst.contains(k) && dst[k].is_object() && v.is_object()) merge_into(dst[k], v);
        else dst[k] = v;
    }
}


// The segments of a dotted field-mask path: "a.b" -> {"a", "b"}.
std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    for (std::size_t s = 0;;) {
        const auto d = path.find('.', s);
        parts.push_back(path.substr(s, d == std::string::npos ? std::string::npos : d - s));
        if (d == std::string::npos) break;
        s = d + 1;
    }
    return parts;
}

// {a: {b: value}} for the dotted path "a.b" (the part of a field mask path below its top field).
template <class J>
J nest_under_path(const std::string& rest, J value) {
    const auto parts = split_path(rest);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) value = J{{*it, value}};
    return value;
}

}  // namespace

tts_result<ojson> normalize_gateway(const json& input, std::span<const std::string> paths, std::string_view request_name) {
    gateway_normalizer n{std::string(request_name)};
    ojson out = ojson::object();
    // Group paths by top-level field; a nested path normalizes only that part of the field.
    for (const auto& p : paths) {
        const auto dot = p.find('.');
        const std::string top = p.substr(0, dot);
        json in = nullptr;
        if (input.is_object()) {
            if (dot == std::string::npos) {
                if (auto it = input.find(top); it != input.end()) in = *it;
            } else {
                json sub = value_at(input, p);
                if (!sub.is_null()) {
                    // Rebuild {top: {a: {b: value}}} for the nested path.
                    in = nest_under_path<json>(p.substr(dot + 1), sub);
                }
            }
        }
        if (top == "ids" && dot != std::string::npos) {
            // ids.eui / ids.gateway_id: validated with the identifiers of the request.
            json ids = input.is_object() && input.contains("ids") ? input["ids"] : json::object();
            if (!ids.is_object()) return decode_error("invalid value for message field ids");
            auto r = n.field("ids", ids);
            if (!r) return std::move(r).err();
            merge_into(out["ids"], *r);
            continue;
        }
        auto r = n.field(top, in);
        if (!r) return std::move(r).err();
        if (r->is_null()) continue;
        if (dot == std::string::npos) out[top] = *r;
        else {
            ojson part = select_sub(*r, p.substr(dot + 1));
            if (part.is_null()) continue;
            // Re-nest the selected part under its path.
            ojson nested = nest_under_path<ojson>(p.substr(dot + 1), part);
            if (!out.contains(top)) out[top] = ojson::object();
            merge_into(out[top], nested);
        }
    }
    return ordered_gateway(out);
}

ojson render_gateway(const gateway& gw, std::span<const std::string> paths) {
    const ojson& doc = gw.doc;
    ojson out = ojson::object();
    for (const char* f : {"ids", "created_at", "updated_at", "deleted_at"})
        if (auto it = doc.find(f); it != doc.end()) out[f] = *it;

    auto materialized = [&](std::string_view f) -> ojson {
        auto it = doc.find(std::string(f));
        if (f == "version_ids") return it != doc.end() ? *it : ojson::object();
        if (f == "schedule_anytime_delay") return it != doc.end() ? *it : ojson("0s");
        if (f == "frequency_plan_ids") return it != doc.end() ? *it : ojson::array({""});  // strings.Split("", " ")
        return it != doc.end() ? *it : ojson(nullptr);
    };
    auto selected = [&](std::string_view f, std::vector<std::string>& subs) {
        bool whole = false;
        for (const auto& p : paths) {
            if (p == f) whole = true;
            else if (starts_with(p, f) && p.size() > f.size() && p[f.size()] == '.') subs.push_back(p.substr(f.size() + 1));
        }
        return whole;
    };
    for (auto f : gateway_fields) {
        if (f == "ids" || f == "created_at" || f == "updated_at" || f == "deleted_at" || f == "contact_info") continue;
        if (f == "frequency_plan_id") {
            std::vector<std::string> subs;
            if (selected("frequency_plan_ids", subs) || selected("frequency_plan_id", subs)) {
                const ojson plans = materialized("frequency_plan_ids");
                if (!plans.empty() && plans[0].is_string() && !plans[0].get<std::string>().empty())
                    out["frequency_plan_id"] = plans[0];
            }
            continue;
        }
        std::vector<std::string> subs;
        const bool whole = selected(f, subs);
        if (!whole && subs.empty()) continue;
        ojson value = materialized(f);
        if (value.is_null()) continue;
        if (!whole) {
            ojson part = ojson::object();
            for (const auto& s : subs) {
                ojson sel = select_sub(value, s);
                if (sel.is_null()) continue;
                merge_into(part, nest_under_path<ojson>(s, sel));
            }
            value = part;
        }
        if (!is_message_field(f) && is_zero(value)) continue;
        if (is_message_field(f) && value.is_object() && value.empty() && f != "version_ids" &&
            doc.find(std::string(f)) == doc.end())
            continue;
        out[std::string(f)] = value;
    }
    return out;
}

ojson public_safe(const ojson& rendered) {
    ojson out = ojson::object();
    for (const auto& [k, v] : rendered.items()) {
        if (k == "lrfhss") {
            if (v.is_object() && v.contains("supported")) out[k] = ojson{{"supported", v["supported"]}};
            continue;
        }
        bool pub = false;
        for (auto f : public_fields)
            if (f == k) pub = true;
        if (pub) out[k] = v;
    }
    const bool status_public = out.contains("status_public") && out["status_public"].is_boolean() &&
                               out["status_public"].get<bool>();
    const bool location_public = out.contains("location_public") && out["location_public"].is_boolean() &&
                                 out["location_public"].get<bool>();
    if (!status_public) out.erase("gateway_server_address");
    if (!location_public && out.contains("antennas")) {
        for (auto& a : out["antennas"])
            if (a.is_object()) a.erase("location");
    }
    return out;
}

// =================================================================================================
// API keys, auth info, connection stats
// =================================================================================================

namespace {

ojson names_json(rights r) {
    ojson a = ojson::array();
    for (const auto& n : r.names()) a.push_back(n);
    return a;
}

ojson rights_list_json(rights r) {  // as granted, enum order
    ojson a = ojson::array();
    for (right x : r.list()) a.push_back(std::string(right_name(x)));
    return a;
}

}  // namespace

ojson api_key_info::to_json() const {
    ojson j;
    j["id"] = id;
    if (!name.empty()) j["name"] = name;
    if (!rights.empty()) j["rights"] = rights_list_json(rights);
    j["created_at"] = format_time(created_at);
    j["updated_at"] = format_time(updated_at);
    if (expires_at) j["expires_at"] = format_time(*expires_at);
    return j;
}

std::optional<entity_ref> auth_info::organization_or_user() const {
    if (!authenticated) return std::nullopt;
    if (key.owner.type == entity_ref::kind::gateway) return std::nullopt;
    return key.owner;
}

ojson auth_info::to_json() const {
    ojson j = ojson::object();
    if (authenticated) {
        ojson k = key.to_json();
        k["rights"] = names_json(key_rights);
        if (key_rights.empty()) k.erase("rights");
        ojson access;
        access["api_key"] = k;
        access["entity_ids"] = key.owner.ids_json();
        j["api_key"] = access;
    }
    if (!universal.empty()) j["universal_rights"] = ojson{{"rights", names_json(universal)}};
    if (is_admin) j["is_admin"] = true;
    return j;
}

ojson connection_stats::to_json(std::span<const std::string> paths) const {
    ojson full = ojson::object();
    if (connected_at) full["connected_at"] = format_time(*connected_at);
    if (disconnected_at) full["disconnected_at"] = format_time(*disconnected_at);
    if (!protocol.empty()) full["protocol"] = protocol;
    if (last_status_received_at) full["last_status_received_at"] = format_time(*last_status_received_at);
    if (!last_status.is_null()) full["last_status"] = ojson::parse(last_status.dump());
    if (last_uplink_received_at) full["last_uplink_received_at"] = format_time(*last_uplink_received_at);
    if (uplink_count) full["uplink_count"] = std::to_string(uplink_count);
    if (last_downlink_received_at) full["last_downlink_received_at"] = format_time(*last_downlink_received_at);
    if (downlink_count) full["downlink_count"] = std::to_string(downlink_count);
    if (last_tx_acknowledgment_received_at)
        full["last_tx_acknowledgment_received_at"] = format_time(*last_tx_acknowledgment_received_at);
    if (tx_acknowledgment_count) full["tx_acknowledgment_count"] = std::to_string(tx_acknowledgment_count);
    if (!round_trips.empty()) {
        auto sorted = round_trips;
        std::sort(sorted.begin(), sorted.end());
        ojson rtt;
        rtt["min"] = format_duration(sorted.front());
        rtt["max"] = format_duration(sorted.back());
        rtt["median"] = format_duration(sorted[sorted.size() / 2]);
        rtt["count"] = sorted.size();
        full["round_trip_times"] = rtt;
    }
    if (sub_bands.is_array() && !sub_bands.empty()) full["sub_bands"] = ojson::parse(sub_bands.dump());
    if (!remote_ip.empty()) full["gateway_remote_address"] = ojson{{"ip", remote_ip}};
    if (paths.empty()) return full;
    ojson out = ojson::object();
    for (const auto& [k, v] : full.items()) {
        bool whole = false;
        std::vector<std::string> subs;
        for (const auto& p : paths) {
            if (p == k) whole = true;
            else if (starts_with(p, k) && p.size() > k.size() && p[k.size()] == '.') subs.push_back(p.substr(k.size() + 1));
        }
        if (whole) out[k] = v;
        else if (!subs.empty() && v.is_object()) {
            ojson part = ojson::object();
            for (const auto& s : subs)
                if (v.contains(s)) part[s] = v[s];
            out[k] = part;
        }
    }
    return out;
}

// =================================================================================================
// tts_state
// =================================================================================================

namespace {

constexpr std::array<std::string_view, 2> schema{
    R"sql(
CREATE TABLE users (user_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE organizations (organization_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE memberships (
  account_type TEXT NOT NULL, account_id TEXT NOT NULL,
  entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
  rights INTEGER NOT NULL,
  PRIMARY KEY (account_type, account_id, entity_type, entity_id));
CREATE TABLE gateways (
  gateway_id TEXT PRIMARY KEY, eui TEXT, deleted_at INTEGER, doc TEXT NOT NULL);
CREATE UNIQUE INDEX gateways_live_eui ON gateways (eui) WHERE deleted_at IS NULL AND eui IS NOT NULL;
CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
  hash TEXT NOT NULL, name TEXT NOT NULL, rights INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER);
CREATE INDEX api_keys_entity ON api_keys (entity_type, entity_id);
CREATE TABLE connection_stats (gateway_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE claimables (eui TEXT PRIMARY KEY, owner_token TEXT NOT NULL, managed INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE clusters (position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT NOT NULL,
  identity_server INTEGER NOT NULL);
)sql",
    // The CUPS key the claiming upstream hands to the factory CUPS for a claimed TTIG.
    R"sql(
ALTER TABLE claimables ADD COLUMN cups_key TEXT NOT NULL DEFAULT '';
)sql",
};

entity_ref::kind kind_from(std::string_view s) {
    if (s == "organization") return entity_ref::kind::organization;
    if (s == "gateway") return entity_ref::kind::gateway;
    return entity_ref::kind::user;
}

std::int64_t bits_to_db(rights r) { return static_cast<std::int64_t>(r.bits()); }
rights bits_from_db(std::int64_t v) { return rights::from_bits(static_cast<std::uint64_t>(v)); }

proto::error state_error(const proto::error& e) {
    return proto::make_error(emu_errc::state_failed, "{}", e.what());
}

tts_error db_unavailable(const proto::error& e) {
    tts_error t = tts_error::make("pkg/util/store:database_unavailable");
    t.internal = e.what();
    return t;
}

std::string host_of(std::string_view address) {
    if (auto p = address.find("://"); p != std::string_view::npos) address.remove_prefix(p + 3);
    if (auto p = address.find('/'); p != std::string_view::npos) address = address.substr(0, p);
    if (!address.empty() && address.front() == '[') {
        auto end = address.find(']');
        return std::string(address.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    }
    if (auto p = address.rfind(':'); p != std::string_view::npos && address.find(':') == p) address = address.substr(0, p);
    std::string out(address);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string state_name(claimable_gateway::upstream_state s) {
    switch (s) {
    case claimable_gateway::upstream_state::unclaimed: return "unclaimed";
    case claimable_gateway::upstream_state::claimed_here: return "claimed_here";
    case claimable_gateway::upstream_state::claimed_elsewhere: return "claimed_elsewhere";
    }
    return "unclaimed";
}

claimable_gateway::upstream_state state_from(std::string_view s) {
    if (s == "claimed_here") return claimable_gateway::upstream_state::claimed_here;
    if (s == "claimed_elsewhere") return claimable_gateway::upstream_state::claimed_elsewhere;
    return claimable_gateway::upstream_state::unclaimed;
}

json stats_to_db(const connection_stats& s) {
    json j;
    j["cluster"] = s.cluster;
    j["protocol"] = s.protocol;
    auto t = [&](const char* k, const std::optional<time_point>& v) {
        if (v) j[k] = to_ns(*v);
    };
    t("connected_at", s.connected_at);
    t("disconnected_at", s.disconnected_at);
    t("last_status_received_at", s.last_status_received_at);
    t("last_uplink_received_at", s.last_uplink_received_at);
    t("last_downlink_received_at", s.last_downlink_received_at);
    t("last_tx_acknowledgment_received_at", s.last_tx_acknowledgment_received_at);
    j["uplink_count"] = s.uplink_count;
    j["downlink_count"] = s.downlink_count;
    j["tx_acknowledgment_count"] = s.tx_acknowledgment_count;
    j["last_status"] = s.last_status;
    json rtt = json::array();
    for (auto d : s.round_trips) rtt.push_back(d.count());
    j["round_trips"] = rtt;
    j["sub_bands"] = s.sub_bands;
    j["remote_ip"] = s.remote_ip;
    j["expires_at"] = to_ns(s.expires_at);
    return j;
}

connection_stats stats_from_db(std::string gateway_id, const json& j) {
    connection_stats s;
    s.gateway_id = std::move(gateway_id);
    s.cluster = j.value("cluster", "");
    s.protocol = j.value("protocol", "");
    auto t = [&](const char* k) -> std::optional<time_point> {
        if (!j.contains(k)) return std::nullopt;
        return from_ns(j[k].get<std::int64_t>());
    };
    s.connected_at = t("connected_at");
    s.disconnected_at = t("disconnected_at");
    s.last_status_received_at = t("last_status_received_at");
    s.last_uplink_received_at = t("last_uplink_received_at");
    s.last_downlink_received_at = t("last_downlink_received_at");
    s.last_tx_acknowledgment_received_at = t("last_tx_acknowledgment_received_at");
    s.uplink_count = j.value("uplink_count", std::uint64_t{0});
    s.downlink_count = j.value("downlink_count", std::uint64_t{0});
    s.tx_acknowledgment_count = j.value("tx_acknowledgment_count", std::uint64_t{0});
    s.last_status = j.value("last_status", json());
    if (j.contains("round_trips"))
        for (const auto& d : j["round_trips"]) s.round_trips.emplace_back(d.get<std::int64_t>());
    s.sub_bands = j.value("sub_bands", json());
    s.remote_ip = j.value("remote_ip", "");
    s.expires_at = from_ns(j.value("expires_at", std::int64_t{0}));
    return s;
}

}  // namespace

struct tts_state::impl {
    const proto::clock* clock = nullptr;
    state_options opt;
    store::database db;
    mutable std::recursive_mutex mu;
    std::unique_ptr<event_bus> events = std::make_unique<event_bus>(*clock);  // has its own lock

    struct cache_entry {
        time_point at;
        tts_result<rights> result;
    };
    std::map<std::string, cache_entry> rights_cache;
    time_point last_cleanup{};
    secret_memo verified_keys;

    impl(const proto::clock& c, state_options o, store::database d) : clock(&c), opt(std::move(o)), db(std::move(d)) {}

    time_point now() const { return clock->now(); }

    // ---- small query helpers ----
    template <class... Args>
    proto::result<void> run(std::string_view sql, const Args&... args) {
        auto st = db.prepare(sql);
        if (!st) return st.err();
        int i = 0;
        proto::result<void> bound;
        ((bound = bound ? st->bind(++i, args) : bound), ...);
        if (!bound) return bound.err();
        return st->run();
    }

    template <class... Args>
    proto::result<store::statement> query(std::string_view sql, const Args&... args) {
        auto st = db.prepare(sql);
        if (!st) return st.err();
        int i = 0;
        proto::result<void> bound;
        ((bound = bound ? st->bind(++i, args) : bound), ...);
        if (!bound) return bound.err();
        return st;
    }

    // The JSON document of the row `sql` (one ?1 parameter) selects; nullopt when absent or not JSON.
    std::optional<json> load_doc(std::string_view sql, std::string_view key) {
        auto st = query(sql, std::string(key));
        if (!st) return std::nullopt;
        auto row = st->step();
        if (!row || !*row) return std::nullopt;
        json j = json::parse(st->column_text(0), nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return j;
    }

    // Parsed gateway and user documents as last read, valid while the database is unchanged
    // (store::database::total_changes is the generation). Filled only outside transactions, so a
    // rolled-back change is never remembered. Bounded; cleared when full.
    static constexpr std::size_t doc_cache_limit = 1024;
    struct cached_gateway {
        gateway g;
        bool deleted = false;
    };
    std::int64_t doc_generation = -1;
    std::unordered_map<std::string, cached_gateway> gateway_docs;
    std::unordered_map<std::string, user_info> user_docs;

    // True when the caches may be read and filled now.
    bool doc_cache_valid() {
        if (db.in_transaction()) return false;
        const auto gen = db.total_changes();
        if (gen != doc_generation) {
            gateway_docs.clear();
            user_docs.clear();
            doc_generation = gen;
        }
        return true;
    }

    std::optional<gateway> load_gateway(std::string_view id, bool include_deleted) {
        const bool cacheable = doc_cache_valid();
        std::string key(id);
        if (cacheable) {
            if (auto it = gateway_docs.find(key); it != gateway_docs.end()) {
                if (!include_deleted && it->second.deleted) return std::nullopt;
                return it->second.g;
            }
        }
        auto st = query("SELECT doc, deleted_at FROM gateways WHERE gateway_id = ?1", key);
        if (!st) return std::nullopt;
        auto row = st->step();
        if (!row || !*row) return std::nullopt;
        const bool deleted = !st->is_null(1);
        gateway g;
        g.doc = ojson::parse(st->column_text(0), nullptr, false);
        if (g.doc.is_discarded()) return std::nullopt;
        if (cacheable) {
            if (gateway_docs.size() >= doc_cache_limit) gateway_docs.clear();
            gateway_docs.insert_or_assign(std::move(key), cached_gateway{g, deleted});
        }
        if (!include_deleted && deleted) return std::nullopt;
        return g;
    }

    proto::result<void> store_gateway(const gateway& g) {
        const auto eui = g.eui();
        const auto deleted = g.deleted_at();
        return run("UPDATE gateways SET eui = ?2, deleted_at = ?3, doc = ?4 WHERE gateway_id = ?1", g.id(),
                   eui ? std::optional<std::string>(eui->hex()) : std::nullopt,
                   deleted ? std::optional<std::int64_t>(to_ns(*deleted)) : std::nullopt, g.doc.dump());
    }

    std::optional<user_info> load_user(std::string_view id) {
        const bool cacheable = doc_cache_valid();
        if (cacheable)
            if (auto it = user_docs.find(std::string(id)); it != user_docs.end()) return it->second;
        auto u = read_user(id);
        if (u && cacheable) {
            if (user_docs.size() >= doc_cache_limit) user_docs.clear();
            user_docs.insert_or_assign(u->user_id, *u);
        }
        return u;
    }

    std::optional<user_info> read_user(std::string_view id) {
        auto doc = load_doc("SELECT doc FROM users WHERE user_id = ?1", id);
        if (!doc) return std::nullopt;
        const json& j = *doc;
        user_info u;
        u.user_id = std::string(id);
        u.name = j.value("name", "");
        u.admin = j.value("admin", false);
        u.state = j.value("state", "STATE_APPROVED");
        u.state_description = j.value("state_description", "");
        u.created_at = from_ns(j.value("created_at", std::int64_t{0}));
        u.updated_at = from_ns(j.value("updated_at", std::int64_t{0}));
        return u;
    }

    bool entity_exists(const entity_ref& e) {
        std::string sql;
        switch (e.type) {
        case entity_ref::kind::user: sql = "SELECT 1 FROM users WHERE user_id = ?1"; break;
        case entity_ref::kind::organization: sql = "SELECT 1 FROM organizations WHERE organization_id = ?1"; break;
        case entity_ref::kind::gateway: sql = "SELECT 1 FROM gateways WHERE gateway_id = ?1 AND deleted_at IS NULL"; break;
        }
        auto st = query(sql, e.id);
        if (!st) return false;
        auto row = st->step();
        return row && *row;
    }

    rights direct_membership(const entity_ref& member, const entity_ref& entity) {
        auto st = query(
            "SELECT rights FROM memberships WHERE account_type = ?1 AND account_id = ?2 AND entity_type = ?3 AND entity_id = ?4",
            std::string(member.type_name()), member.id, std::string(entity.type_name()), entity.id);
        if (!st) return {};
        auto row = st->step();
        if (!row || !*row) return {};
        return bits_from_db(st->column_int64(0));
    }

    std::vector<std::pair<std::string, rights>> organizations_of(const std::string& user_id) {
        std::vector<std::pair<std::string, rights>> out;
        auto st = query(
            "SELECT entity_id, rights FROM memberships WHERE account_type = 'user' AND account_id = ?1 AND entity_type = "
            "'organization'",
            user_id);
        if (!st) return out;
        while (true) {
            auto row = st->step();
            if (!row || !*row) break;
            out.emplace_back(st->column_text(0), bits_from_db(st->column_int64(1)));
        }
        return out;
    }

    rights chain_rights(const entity_ref& member, std::string_view gateway_id) {
        const auto gw = entity_ref::gateway(std::string(gateway_id));
        rights r = direct_membership(member, gw).implied();
        if (member.type == entity_ref::kind::user) {
            for (const auto& [org, on_org] : organizations_of(member.id)) {
                const rights org_on_gw = direct_membership(entity_ref::organization(org), gw);
                if (!org_on_gw.empty()) r = r | (org_on_gw.implied() & on_org.implied());
            }
        }
        return r;
    }

    std::optional<api_key_info> load_key(std::string_view key_id, std::string* hash = nullptr) {
        auto st = query(
            "SELECT entity_type, entity_id, hash, name, rights, created_at, updated_at, expires_at FROM api_keys WHERE "
            "key_id = ?1",
            std::string(key_id));
        if (!st) return std::nullopt;
        auto row = st->step();
        if (!row || !*row) return std::nullopt;
        api_key_info k;
        k.id = std::string(key_id);
        k.owner = {kind_from(st->column_text(0)), st->column_text(1)};
        if (hash) *hash = st->column_text(2);
        k.name = st->column_text(3);
        k.rights = bits_from_db(st->column_int64(4));
        k.created_at = from_ns(st->column_int64(5));
        k.updated_at = from_ns(st->column_int64(6));
        if (auto e = st->column_optional_int64(7)) k.expires_at = from_ns(*e);
        return k;
    }

    std::optional<connection_stats> load_stats(std::string_view gateway_id) {
        auto doc = load_doc("SELECT doc FROM connection_stats WHERE gateway_id = ?1", gateway_id);
        if (!doc) return std::nullopt;
        const json& j = *doc;
        return stats_from_db(std::string(gateway_id), j);
    }

    proto::result<void> save_stats(const connection_stats& s) {
        auto r = run("INSERT OR REPLACE INTO connection_stats (gateway_id, doc) VALUES (?1, ?2)", s.gateway_id,
                     stats_to_db(s).dump());
        if (!r) return state_error(r.err());
        return {};
    }

    template <class F>
    proto::result<void> update_stats(std::string_view gateway_id, F&& f) {
        auto s = load_stats(gateway_id);
        if (!s || now() > s->expires_at)
            return proto::make_error(emu_errc::state_failed, "gateway `{}` has no connection record", gateway_id);
        f(*s);
        s->expires_at = now() + (s->connected() ? opt.stats_ttl_connected : opt.stats_ttl_disconnected);
        if (!s->connected() && s->disconnected_at) s->expires_at = *s->disconnected_at + opt.stats_ttl_disconnected;
        return save_stats(*s);
    }
};

tts_state::tts_state(std::unique_ptr<impl> p) : p_(std::move(p)) {}
tts_state::~tts_state() = default;

proto::result<std::unique_ptr<tts_state>> tts_state::open(const proto::clock& clock, state_options options) {
    auto db = store::database::open(options.path);
    if (!db) return state_error(db.err());
    if (auto r = store::migrate(*db, schema); !r) return state_error(r.err());
    auto p = std::make_unique<impl>(clock, std::move(options), std::move(*db));
    return std::unique_ptr<tts_state>(new tts_state(std::move(p)));
}

const proto::clock& tts_state::clock() const noexcept { return *p_->clock; }
event_bus& tts_state::events() const noexcept { return *p_->events; }
const state_options& tts_state::options() const noexcept { return p_->opt; }

void tts_state::set_rights_cache_ttl(nanoseconds ttl) {
    std::lock_guard lock(p_->mu);
    p_->opt.rights_cache_ttl = ttl;
}

void tts_state::clear_rights_cache() {
    std::lock_guard lock(p_->mu);
    p_->rights_cache.clear();
}

proto::result<created_api_key> tts_state::bootstrap_admin(const std::string& user_id, const std::string& key_name) {
    std::lock_guard lock(p_->mu);
    auto existing = p_->load_user(user_id);
    if (!existing) {
        user_info u;
        u.user_id = user_id;
        u.name = "Administrator";
        u.admin = true;
        if (auto r = put_user(u); !r) return r.err();
    } else if (!existing->admin || existing->state != "STATE_APPROVED") {
        existing->admin = true;
        existing->state = "STATE_APPROVED";
        if (auto r = put_user(*existing); !r) return r.err();
    }
    auto key = create_api_key(entity_ref::user(user_id), key_name, rights{right::all});
    if (!key) return key.err().to_proto();
    return std::move(*key);
}

// ---- clusters -------------------------------------------------------------------------------------

proto::result<void> tts_state::set_clusters(std::vector<cluster_info> clusters) {
    std::lock_guard lock(p_->mu);
    auto tx = p_->db.begin();
    if (!tx) return state_error(tx.err());
    if (auto r = p_->run("DELETE FROM clusters"); !r) return state_error(r.err());
    std::int64_t pos = 0;
    for (const auto& c : clusters) {
        if (auto r = p_->run("INSERT INTO clusters (position, name, address, identity_server) VALUES (?1, ?2, ?3, ?4)", pos++,
                             c.name, c.address, c.identity_server);
            !r)
            return state_error(r.err());
    }
    if (auto r = tx->commit(); !r) return state_error(r.err());
    return {};
}

std::vector<cluster_info> tts_state::clusters() const {
    std::lock_guard lock(p_->mu);
    std::vector<cluster_info> out;
    auto st = p_->query("SELECT name, address, identity_server FROM clusters ORDER BY position");
    if (!st) return out;
    while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        out.push_back({st->column_text(0), st->column_text(1), st->column_int64(2) != 0});
    }
    return out;
}

std::optional<cluster_info> tts_state::cluster(std::string_view name) const {
    for (auto& c : clusters())
        if (c.name == name) return c;
    return std::nullopt;
}

std::optional<cluster_info> tts_state::cluster_for_address(std::string_view address) const {
    const std::string host = host_of(address);
    if (host.empty()) return std::nullopt;
    for (auto& c : clusters())
        if (host_of(c.address) == host) return c;
    return std::nullopt;
}

cluster_info tts_state::home_cluster() const {
    auto all = clusters();
    for (auto& c : all)
        if (c.identity_server) return c;
    if (!all.empty()) return all.front();
    return {"local", "localhost", true};
}

// ---- users, organizations, memberships --------------------------------------------------------------

proto::result<void> tts_state::put_user(user_info u) {
    std::lock_guard lock(p_->mu);
    const auto now = p_->now();
    if (u.created_at == time_point{}) {
        auto old = p_->load_user(u.user_id);
        u.created_at = old ? old->created_at : now;
    }
    u.updated_at = now;
    json j{{"name", u.name},
           {"admin", u.admin},
           {"state", u.state},
           {"state_description", u.state_description},
           {"created_at", to_ns(u.created_at)},
           {"updated_at", to_ns(u.updated_at)}};
    if (auto r = p_->run("INSERT OR REPLACE INTO users (user_id, doc) VALUES (?1, ?2)", u.user_id, j.dump()); !r)
        return state_error(r.err());
    return {};
}

std::optional<user_info> tts_state::user(std::string_view user_id) const {
    std::lock_guard lock(p_->mu);
    return p_->load_user(user_id);
}

proto::result<void> tts_state::put_organization(organization_info o) {
    std::lock_guard lock(p_->mu);
    const auto now = p_->now();
    if (o.created_at == time_point{}) o.created_at = now;
    o.updated_at = now;
    json j{{"name", o.name}, {"created_at", to_ns(o.created_at)}, {"updated_at", to_ns(o.updated_at)}};
    if (auto r = p_->run("INSERT OR REPLACE INTO organizations (organization_id, doc) VALUES (?1, ?2)", o.organization_id,
                         j.dump());
        !r)
        return state_error(r.err());
    return {};
}

std::optional<organization_info> tts_state::organization(std::string_view organization_id) const {
    std::lock_guard lock(p_->mu);
    auto doc = p_->load_doc("SELECT doc FROM organizations WHERE organization_id = ?1", organization_id);
    if (!doc) return std::nullopt;
    const json& j = *doc;
    organization_info o;
    o.organization_id = std::string(organization_id);
    o.name = j.value("name", "");
    o.created_at = from_ns(j.value("created_at", std::int64_t{0}));
    o.updated_at = from_ns(j.value("updated_at", std::int64_t{0}));
    return o;
}

proto::result<void> tts_state::set_membership(const entity_ref& member, const entity_ref& entity, rights r) {
    std::lock_guard lock(p_->mu);
    proto::result<void> res;
    if (r.empty())
        res = p_->run(
            "DELETE FROM memberships WHERE account_type = ?1 AND account_id = ?2 AND entity_type = ?3 AND entity_id = ?4",
            std::string(member.type_name()), member.id, std::string(entity.type_name()), entity.id);
    else
        res = p_->run(
            "INSERT OR REPLACE INTO memberships (account_type, account_id, entity_type, entity_id, rights) VALUES (?1, ?2, ?3, "
            "?4, ?5)",
            std::string(member.type_name()), member.id, std::string(entity.type_name()), entity.id, bits_to_db(r));
    if (!res) return state_error(res.err());
    return {};
}

std::vector<std::pair<entity_ref, rights>> tts_state::members(const entity_ref& entity) const {
    std::lock_guard lock(p_->mu);
    std::vector<std::pair<entity_ref, rights>> out;
    auto st = p_->query(
        "SELECT account_type, account_id, rights FROM memberships WHERE entity_type = ?1 AND entity_id = ?2 ORDER BY 1, 2",
        std::string(entity.type_name()), entity.id);
    if (!st) return out;
    while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        out.emplace_back(entity_ref{kind_from(st->column_text(0)), st->column_text(1)}, bits_from_db(st->column_int64(2)));
    }
    return out;
}

rights tts_state::membership_rights(const entity_ref& member, std::string_view gateway_id) const {
    std::lock_guard lock(p_->mu);
    return p_->chain_rights(member, gateway_id);
}

std::vector<std::string> tts_state::member_gateways(const entity_ref& member, bool include_indirect, bool deleted) const {
    std::lock_guard lock(p_->mu);
    std::set<std::string> ids;
    auto collect = [&](const entity_ref& m) {
        auto st = p_->query(
            "SELECT m.entity_id FROM memberships m JOIN gateways g ON g.gateway_id = m.entity_id WHERE m.account_type = ?1 "
            "AND m.account_id = ?2 AND m.entity_type = 'gateway' AND (g.deleted_at IS NULL) = ?3",
            std::string(m.type_name()), m.id, !deleted);
        if (!st) return;
        while (true) {
            auto row = st->step();
            if (!row || !*row) break;
            ids.insert(st->column_text(0));
        }
    };
    collect(member);
    if (include_indirect && member.type == entity_ref::kind::user)
        for (const auto& [org, r] : p_->organizations_of(member.id)) collect(entity_ref::organization(org));
    return {ids.begin(), ids.end()};
}

// ---- gateways ---------------------------------------------------------------------------------------

tts_result<gateway> tts_state::create_gateway(ojson doc, const entity_ref& collaborator) {
    std::lock_guard lock(p_->mu);
    gateway g;
    g.doc = std::move(doc);
    const std::string id = g.id();
    const auto now = format_time(p_->now());
    g.doc.erase("deleted_at");
    g.doc["created_at"] = now;
    g.doc["updated_at"] = now;
    if (g.doc.contains("frequency_plan_id")) {
        if (!g.doc.contains("frequency_plan_ids")) g.doc["frequency_plan_ids"] = ojson::array({g.doc["frequency_plan_id"]});
        g.doc.erase("frequency_plan_id");
    }
    if (!g.doc.contains("administrative_contact")) g.doc["administrative_contact"] = collaborator.ids_json();
    if (!g.doc.contains("technical_contact")) g.doc["technical_contact"] = collaborator.ids_json();
    g.doc = ordered_gateway(g.doc);

    auto tx = p_->db.begin();
    if (!tx) return db_unavailable(tx.err());
    // pkg/util/store:id_taken also for soft-deleted gateways (the ID stays reserved).
    if (auto st = p_->query("SELECT 1 FROM gateways WHERE gateway_id = ?1", id); st) {
        auto row = st->step();
        if (row && *row) {
            return tts_error::make("pkg/util/store:id_taken")
                .with_cause(tts_error::make("pkg/util/store:already_exists"));
        }
    }
    if (const auto eui = g.eui()) {
        if (auto holder = find_gateway_by_eui(*eui)) {
            json attrs{{"gateway_eui", eui->hex()}, {"gateway_id", holder->id()}};
            if (auto c = holder->administrative_contact()) attrs["administrative_contact"] = c->id;
            return tts_error::make("pkg/identityserver:gateway_eui_taken", attrs);
        }
    }
    const auto eui = g.eui();
    if (auto r = p_->run("INSERT INTO gateways (gateway_id, eui, deleted_at, doc) VALUES (?1, ?2, NULL, ?3)", id,
                         eui ? std::optional<std::string>(eui->hex()) : std::nullopt, g.doc.dump());
        !r)
        return db_unavailable(r.err());
    if (auto r = set_membership(collaborator, entity_ref::gateway(id), rights{right::all}); !r) {
        tts_error e = tts_error::make("pkg/util/store:database_unavailable");
        e.internal = r.err().what();
        return e;
    }
    if (auto r = tx->commit(); !r) return db_unavailable(r.err());
    return g;
}

tts_result<gateway> tts_state::get_gateway(std::string_view gateway_id, bool include_deleted) const {
    std::lock_guard lock(p_->mu);
    if (auto g = p_->load_gateway(gateway_id, include_deleted)) return *g;
    return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
}

std::optional<gateway> tts_state::find_gateway_by_eui(proto::eui64 eui) const {
    std::lock_guard lock(p_->mu);
    auto st = p_->query("SELECT gateway_id FROM gateways WHERE eui = ?1 AND deleted_at IS NULL", eui.hex());
    if (!st) return std::nullopt;
    auto row = st->step();
    if (!row || !*row) return std::nullopt;
    return p_->load_gateway(st->column_text(0), false);
}

std::vector<gateway> tts_state::gateways(bool deleted) const {
    std::lock_guard lock(p_->mu);
    std::vector<gateway> out;
    auto st = p_->query("SELECT doc FROM gateways WHERE (deleted_at IS NULL) = ?1 ORDER BY gateway_id", !deleted);
    if (!st) return out;
    while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        gateway g;
        g.doc = ojson::parse(st->column_text(0), nullptr, false);
        if (!g.doc.is_discarded()) out.push_back(std::move(g));
    }
    return out;
}

namespace {

// Sets or erases the value at a dotted path; removes message fields that became empty
// (except version_ids, which the store always has).
void apply_path(ojson& doc, const std::string& path, const ojson& values) {
    const auto dot = path.find('.');
    const std::string top = path.substr(0, dot);
    if (dot == std::string::npos) {
        auto it = values.find(top);
        if (it != values.end() && !it->is_null()) doc[top] = *it;
        else doc.erase(top);
        return;
    }
    const auto parts = split_path(path);
    const ojson* src = &values;
    for (const auto& p : parts) {
        if (!src->is_object() || !src->contains(p)) {
            src = nullptr;
            break;
        }
        src = &(*src)[p];
    }
    // Walk/create the destination.
    std::vector<ojson*> chain{&doc};
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        ojson& cur = *chain.back();
        if (!cur.contains(parts[i]) || !cur[parts[i]].is_object()) {
            if (!src) return;  // nothing to clear
            cur[parts[i]] = ojson::object();
        }
        chain.push_back(&cur[parts[i]]);
    }
    ojson& parent = *chain.back();
    if (src && !src->is_null()) parent[parts.back()] = *src;
    else parent.erase(parts.back());
    // Drop emptied parents (a Secret without value is no secret).
    for (std::size_t i = chain.size() - 1; i > 0; --i) {
        if (chain[i]->empty() && !(i == 1 && parts[0] == "version_ids")) chain[i - 1]->erase(parts[i - 1]);
        else break;
    }
}

}  // namespace

tts_result<gateway> tts_state::update_gateway(std::string_view gateway_id, const ojson& values,
                                              std::span<const std::string> paths) {
    std::lock_guard lock(p_->mu);
    auto g = p_->load_gateway(gateway_id, false);
    if (!g) return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
    for (const auto& p : paths) {
        if (p == "ids" || p == "ids.gateway_id" || p == "created_at" || p == "updated_at" || p == "deleted_at" ||
            p == "frequency_plan_id" || p == "contact_info")
            continue;
        if (p == "ids.eui") {
            const std::string new_eui = values.contains("ids") && values["ids"].contains("eui")
                                            ? values["ids"]["eui"].get<std::string>()
                                            : std::string();
            if (!new_eui.empty()) {
                auto holder = find_gateway_by_eui(*eui_from_hex(new_eui));
                if (holder && holder->id() != g->id()) return tts_error::make("pkg/util/store:eui_taken");
                g->doc["ids"]["eui"] = new_eui;
            } else {
                g->doc["ids"].erase("eui");
            }
            continue;
        }
        apply_path(g->doc, p, values);
    }
    g->doc["updated_at"] = format_time(p_->now());
    g->doc = ordered_gateway(g->doc);
    if (auto r = p_->store_gateway(*g); !r) {
        if (r.err().code == make_error_code(store::store_errc::constraint)) return tts_error::make("pkg/util/store:eui_taken");
        return db_unavailable(r.err());
    }
    return *g;
}

tts_result<gateway> tts_state::set_attributes(std::string_view gateway_id, const std::map<std::string, std::string>& attrs,
                                              bool merge) {
    std::lock_guard lock(p_->mu);
    auto g = p_->load_gateway(gateway_id, false);
    if (!g) return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
    auto all = merge ? g->attributes() : std::map<std::string, std::string>{};
    for (const auto& [k, v] : attrs) all[k] = v;
    json in = json::object();
    in["attributes"] = all;
    const std::vector<std::string> paths{"attributes"};
    auto norm = normalize_gateway(in, paths, "UpdateGatewayRequest");
    if (!norm) return std::move(norm).err();
    return update_gateway(gateway_id, *norm, paths);
}

tts_result<void> tts_state::delete_gateway(std::string_view gateway_id, std::optional<time_point> at) {
    std::lock_guard lock(p_->mu);
    auto g = p_->load_gateway(gateway_id, false);
    if (!g) return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
    g->doc["deleted_at"] = format_time(at.value_or(p_->now()));
    g->doc = ordered_gateway(g->doc);
    if (auto r = p_->store_gateway(*g); !r) return db_unavailable(r.err());
    return {};
}

tts_result<void> tts_state::restore_gateway(std::string_view gateway_id) {
    std::lock_guard lock(p_->mu);
    auto g = p_->load_gateway(gateway_id, true);
    if (!g || !g->deleted_at())
        return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
    if (p_->now() - *g->deleted_at() > p_->opt.restore_window) return tts_error::make("pkg/identityserver:restore_window_expired");
    g->doc.erase("deleted_at");
    // bunstore RestoreGateway: the EUI is cleared if a live gateway holds it now.
    if (const auto eui = g->eui()) {
        auto holder = find_gateway_by_eui(*eui);
        if (holder && holder->id() != g->id()) g->doc["ids"].erase("eui");
    }
    if (auto r = p_->store_gateway(*g); !r) return db_unavailable(r.err());
    return {};
}

tts_result<void> tts_state::purge_gateway(std::string_view gateway_id) {
    std::lock_guard lock(p_->mu);
    if (!p_->load_gateway(gateway_id, true))
        return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
    auto tx = p_->db.begin();
    if (!tx) return db_unavailable(tx.err());
    const std::string id(gateway_id);
    for (const char* sql : {"DELETE FROM api_keys WHERE entity_type = 'gateway' AND entity_id = ?1",
                            "DELETE FROM memberships WHERE entity_type = 'gateway' AND entity_id = ?1",
                            "DELETE FROM connection_stats WHERE gateway_id = ?1", "DELETE FROM gateways WHERE gateway_id = ?1"})
        if (auto r = p_->run(sql, id); !r) return db_unavailable(r.err());
    if (auto r = tx->commit(); !r) return db_unavailable(r.err());
    return {};
}

// ---- API keys -----------------------------------------------------------------------------------------

tts_result<created_api_key> tts_state::create_api_key(const entity_ref& owner, std::string name, rights r,
                                                      std::optional<time_point> expires_at) {
    std::lock_guard lock(p_->mu);
    auto t = generate_api_key();
    if (!t) {
        tts_error e = tts_error::make("pkg/util/store:database_unavailable");
        e.internal = t.err().what();
        return e;
    }
    auto info = import_api_key(owner, t->token, std::move(name), r, expires_at);
    if (!info) return std::move(info).err();
    return created_api_key{std::move(*info), t->token};
}

tts_result<api_key_info> tts_state::import_api_key(const entity_ref& owner, std::string_view token, std::string name,
                                                   rights r, std::optional<time_point> expires_at) {
    std::lock_guard lock(p_->mu);
    auto parts = split_token(token);
    if (!parts || parts->type != api_key_type || parts->id.empty() || parts->secret.empty())
        return tts_error::make("pkg/auth:token");
    if (p_->load_key(parts->id)) return tts_error::make("pkg/util/store:id_taken");
    auto hash = hash_secret(parts->secret, p_->opt.pbkdf2_iterations);
    if (!hash) {
        tts_error e = tts_error::make("pkg/util/store:database_unavailable");
        e.internal = hash.err().what();
        return e;
    }
    api_key_info k;
    k.id = parts->id;
    k.name = std::move(name);
    k.rights = r;
    k.created_at = k.updated_at = p_->now();
    k.expires_at = expires_at;
    k.owner = owner;
    auto res = p_->run(
        "INSERT INTO api_keys (key_id, entity_type, entity_id, hash, name, rights, created_at, updated_at, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        k.id, std::string(owner.type_name()), owner.id, *hash, k.name, bits_to_db(r), to_ns(k.created_at),
        to_ns(k.updated_at), expires_at ? std::optional<std::int64_t>(to_ns(*expires_at)) : std::nullopt);
    if (!res) return db_unavailable(res.err());
    return k;
}

std::vector<api_key_info> tts_state::api_keys(const entity_ref& owner) const {
    std::lock_guard lock(p_->mu);
    std::vector<api_key_info> out;
    auto st = p_->query("SELECT key_id FROM api_keys WHERE entity_type = ?1 AND entity_id = ?2 ORDER BY key_id",
                        std::string(owner.type_name()), owner.id);
    if (!st) return out;
    std::vector<std::string> ids;
    while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        ids.push_back(st->column_text(0));
    }
    for (const auto& id : ids)
        if (auto k = p_->load_key(id)) out.push_back(std::move(*k));
    return out;
}

tts_result<api_key_info> tts_state::api_key(const entity_ref& owner, std::string_view key_id) const {
    std::lock_guard lock(p_->mu);
    auto k = p_->load_key(key_id);
    if (!k || !(k->owner == owner))
        return tts_error::make("pkg/identityserver/store:api_key_not_found",
                               {{"api_key_id", std::string(key_id)},
                                {"entity_type", std::string(owner.type_name())},
                                {"entity_id", owner.id}});
    return *k;
}

tts_result<api_key_info> tts_state::update_api_key(const entity_ref& owner, std::string_view key_id, const api_key_update& u) {
    std::lock_guard lock(p_->mu);
    auto k = api_key(owner, key_id);
    if (!k) return k;
    if (u.name) k->name = *u.name;
    if (u.rights) k->rights = *u.rights;
    if (u.expires_at) k->expires_at = *u.expires_at;
    k->updated_at = p_->now();
    auto r = p_->run("UPDATE api_keys SET name = ?2, rights = ?3, updated_at = ?4, expires_at = ?5 WHERE key_id = ?1", k->id,
                     k->name, bits_to_db(k->rights), to_ns(k->updated_at),
                     k->expires_at ? std::optional<std::int64_t>(to_ns(*k->expires_at)) : std::nullopt);
    if (!r) return db_unavailable(r.err());
    return k;
}

tts_result<void> tts_state::delete_api_key(const entity_ref& owner, std::string_view key_id) {
    std::lock_guard lock(p_->mu);
    auto k = api_key(owner, key_id);
    if (!k) return std::move(k).err();
    if (auto r = p_->run("DELETE FROM api_keys WHERE key_id = ?1", std::string(key_id)); !r) return db_unavailable(r.err());
    return {};
}

// ---- authentication and rights ----------------------------------------------------------------------

tts_result<auth_info> tts_state::authenticate(std::optional<std::string_view> authorization) const {
    std::lock_guard lock(p_->mu);
    auth_info a;
    if (!authorization) return a;
    // rpcmetadata: "<type> <value>", split on the first space; no space: no auth at all.
    const auto sp = authorization->find(' ');
    if (sp == std::string_view::npos) return a;
    const auto scheme = authorization->substr(0, sp);
    const auto value = authorization->substr(sp + 1);
    if (!proto::iequals(scheme, "bearer")) return tts_error::make("pkg/identityserver:unsupported_authorization");
    auto parts = split_token(value);
    if (!parts) return tts_error::make("pkg/auth:token");
    if (parts->type != api_key_type) {
        // OAuth access tokens and session tokens are not emulated: no such token exists. Refresh
        // tokens and authorization codes are no credentials at all (entity_access.go default case).
        if (parts->type == "MFRWG" || parts->type == "ONZW4") return tts_error::make("pkg/identityserver:token_not_found");
        return tts_error::make("pkg/identityserver:unsupported_authorization");
    }
    std::string hash;
    auto key = p_->load_key(parts->id, &hash);
    if (!key)
        return tts_error::make("pkg/identityserver:api_key_not_found")
            .with_cause(tts_error::make("pkg/identityserver/store:api_key_not_found", {{"api_key_id", parts->id}}));
    const bool valid = p_->opt.key_verify_memo ? p_->verified_keys.verify(hash, parts->secret)
                                               : verify_secret(hash, parts->secret);
    if (!valid) return tts_error::make("pkg/identityserver:invalid_authorization");
    if (key->expires_at && *key->expires_at < p_->now()) return tts_error::make("pkg/identityserver:api_key_expired");
    a.authenticated = true;
    a.key = *key;
    a.key_rights = key->rights.implied();
    if (key->owner.type == entity_ref::kind::user) {
        auto u = p_->load_user(key->owner.id);
        if (!u)
            return tts_error::make("pkg/identityserver:api_key_not_found")
                .with_cause(tts_error::make("pkg/identityserver/store:user_not_found", {{"user_id", key->owner.id}}));
        a.user_state = u->state;
        const rights user_rights = a.key_rights;
        auto restrict = [&](rights allowed) {
            a.key_rights = a.key_rights & allowed;
            a.universal = a.universal & allowed;
        };
        if (u->state == "STATE_REQUESTED") restrict({right::user_info, right::user_settings_basic, right::user_delete});
        else if (u->state == "STATE_REJECTED") restrict({right::user_info, right::user_delete});
        else if (u->state == "STATE_SUSPENDED") restrict({right::user_info});
        else if (u->state == "STATE_APPROVED" && u->admin) {
            a.is_admin = true;
            a.universal = (p_->opt.admin_rights_all ? rights::all() : rights::all_admin()).implied() & user_rights;
        }
    }
    return a;
}

tts_result<void> tts_state::require_authenticated(const auth_info& a) const {
    if (a.authenticated && a.key.owner.type == entity_ref::kind::user) {
        auto u = user(a.key.owner.id);
        const std::string state = u ? u->state : "STATE_APPROVED";
        json attrs = json::object();
        if (u && !u->state_description.empty()) attrs["description"] = u->state_description;
        if (state == "STATE_REQUESTED") return tts_error::make("pkg/identityserver:user_requested", attrs);
        if (state == "STATE_REJECTED") return tts_error::make("pkg/identityserver:user_rejected", attrs);
        if (state == "STATE_SUSPENDED") return tts_error::make("pkg/identityserver:user_suspended", attrs);
    }
    if (a.authenticated || !a.universal.empty()) return {};
    return tts_error::make("pkg/identityserver:unauthenticated");
}

tts_result<rights> tts_state::gateway_rights(const auth_info& a, std::string_view gateway_id, bool include_deleted) const {
    std::lock_guard lock(p_->mu);
    rights entity;
    const rights universal = rights::all_gateway() & a.universal;
    if (a.authenticated && !(rights::all_gateway() & a.key_rights).empty()) {
        if (a.key.owner == entity_ref::gateway(std::string(gateway_id))) entity = a.key_rights;
        else if (auto ou = a.organization_or_user()) entity = p_->chain_rights(*ou, gateway_id) & a.key_rights;
    }
    auto g = p_->load_gateway(gateway_id, include_deleted);
    if (!g) {
        if (a.is_admin)
            return tts_error::make("pkg/identityserver/store:gateway_not_found", {{"gateway_id", std::string(gateway_id)}});
        return rights{};
    }
    if (g->status_public()) entity.add(right::gateway_status_read);
    if (g->location_public()) entity.add(right::gateway_location_read);
    return entity | universal;
}

rights tts_state::entity_rights(const auth_info& a, const entity_ref& e) const {
    std::lock_guard lock(p_->mu);
    if (!a.authenticated) return {};
    rights potential_set;
    if (e.type == entity_ref::kind::user) potential_set = rights::all_entity() | rights::all_organization() | rights::all_user();
    else if (e.type == entity_ref::kind::organization) potential_set = rights::all_entity() | rights::all_organization();
    else potential_set = rights::all_gateway();
    const rights universal = potential_set & a.universal;
    rights entity;
    if (!(potential_set & a.key_rights).empty()) {
        if (a.key.owner == e) entity = a.key_rights;
        else if (e.type == entity_ref::kind::organization && a.key.owner.type == entity_ref::kind::user)
            entity = p_->direct_membership(a.key.owner, e).implied() & a.key_rights;
    }
    if (!p_->entity_exists(e)) return {};
    return entity | universal;
}

tts_result<void> tts_state::require_gateway_rights(rights have, std::string_view gateway_id, rights required) {
    if (have.empty()) return tts_error::make("pkg/auth/rights:no_gateway_rights", {{"uid", std::string(gateway_id)}});
    const rights missing = required - have;
    if (!missing.empty())
        return tts_error::make("pkg/auth/rights:insufficient_gateway_rights",
                               {{"uid", std::string(gateway_id)}, {"missing", missing.names()}});
    return {};
}

tts_result<rights> tts_state::cached_gateway_rights(std::optional<std::string_view> authorization,
                                                    std::string_view gateway_id) {
    std::lock_guard lock(p_->mu);
    const auto now = p_->now();
    const auto ttl = p_->opt.rights_cache_ttl;
    // Occasional clean-up of expired entries (inMemoryCache.maybeCleanup: every 10 TTLs).
    if (now - p_->last_cleanup > ttl * 10) {
        for (auto it = p_->rights_cache.begin(); it != p_->rights_cache.end();)
            it = now - it->second.at > ttl ? p_->rights_cache.erase(it) : std::next(it);
        p_->last_cleanup = now;
    }
    std::string key = authorization ? std::string(*authorization) : std::string();
    key += '\x1f';
    key += gateway_id;
    if (auto it = p_->rights_cache.find(key); it != p_->rights_cache.end() && now - it->second.at <= ttl)
        return it->second.result;
    tts_result<rights> result = [&]() -> tts_result<rights> {
        auto a = authenticate(authorization);
        if (!a) return std::move(a).err();
        auto r = gateway_rights(*a, gateway_id);
        if (!r) return std::move(r).err();
        return *r & rights::all_gateway();  // GatewayAccess.ListRights
    }();
    p_->rights_cache.insert_or_assign(key, impl::cache_entry{now, result});
    return result;
}

tts_result<rights> tts_state::authorize_gateway(std::optional<std::string_view> authorization, std::string_view gateway_id,
                                                rights required, bool cached) {
    std::lock_guard lock(p_->mu);
    if (!authorization || authorization->find(' ') == std::string_view::npos)
        return tts_error::make("pkg/rpcmetadata:unauthenticated");
    tts_result<rights> have = rights{};
    if (cached) have = cached_gateway_rights(authorization, gateway_id);
    else {
        auto a = authenticate(authorization);
        if (!a) return std::move(a).err();
        have = gateway_rights(*a, gateway_id);
    }
    if (!have) return have;
    if (auto r = require_gateway_rights(*have, gateway_id, required); !r) return std::move(r).err();
    return have;
}

// ---- connection state -------------------------------------------------------------------------------

proto::result<void> tts_state::gateway_connected(std::string_view gateway_id, std::string_view cluster, time_point at,
                                                 std::string_view protocol, std::string_view remote_ip) {
    std::lock_guard lock(p_->mu);
    connection_stats s;
    s.gateway_id = std::string(gateway_id);
    s.cluster = std::string(cluster);
    s.protocol = std::string(protocol);
    s.connected_at = at;
    s.remote_ip = std::string(remote_ip);
    s.expires_at = std::max(at, p_->now()) + p_->opt.stats_ttl_connected;
    return p_->save_stats(s);
}

proto::result<void> tts_state::gateway_disconnected(std::string_view gateway_id, time_point at) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.connected_at.reset();
        s.disconnected_at = at;
    });
}

proto::result<void> tts_state::record_uplink(std::string_view gateway_id, time_point at) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.last_uplink_received_at = at;
        ++s.uplink_count;
    });
}

proto::result<void> tts_state::record_downlink(std::string_view gateway_id, time_point at) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.last_downlink_received_at = at;
        ++s.downlink_count;
    });
}

proto::result<void> tts_state::record_tx_ack(std::string_view gateway_id, time_point at) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.last_tx_acknowledgment_received_at = at;
        ++s.tx_acknowledgment_count;
    });
}

proto::result<void> tts_state::record_status(std::string_view gateway_id, time_point at, json status) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.last_status_received_at = at;
        s.last_status = std::move(status);
    });
}

proto::result<void> tts_state::record_round_trip(std::string_view gateway_id, nanoseconds rtt) {
    std::lock_guard lock(p_->mu);
    return p_->update_stats(gateway_id, [&](connection_stats& s) {
        s.round_trips.push_back(rtt);
        if (s.round_trips.size() > 20) s.round_trips.erase(s.round_trips.begin());
    });
}

namespace {

template <class F>
proto::result<void> by_eui(const tts_state& st, proto::eui64 eui, F&& f) {
    auto gw = st.find_gateway_by_eui(eui);
    if (!gw) return proto::make_error(emu_errc::state_failed, "gateway EUI `{}` is not registered", eui.hex());
    return f(gw->id());
}

}  // namespace

proto::result<void> tts_state::gateway_connected(proto::eui64 eui, std::string_view cluster, time_point at,
                                                 std::string_view protocol, std::string_view remote_ip) {
    return by_eui(*this, eui, [&](const std::string& id) { return gateway_connected(id, cluster, at, protocol, remote_ip); });
}
proto::result<void> tts_state::gateway_disconnected(proto::eui64 eui, time_point at) {
    return by_eui(*this, eui, [&](const std::string& id) { return gateway_disconnected(id, at); });
}
proto::result<void> tts_state::record_uplink(proto::eui64 eui, time_point at) {
    return by_eui(*this, eui, [&](const std::string& id) { return record_uplink(id, at); });
}
proto::result<void> tts_state::record_downlink(proto::eui64 eui, time_point at) {
    return by_eui(*this, eui, [&](const std::string& id) { return record_downlink(id, at); });
}
proto::result<void> tts_state::record_tx_ack(proto::eui64 eui, time_point at) {
    return by_eui(*this, eui, [&](const std::string& id) { return record_tx_ack(id, at); });
}
proto::result<void> tts_state::record_status(proto::eui64 eui, time_point at, json status) {
    return by_eui(*this, eui, [&](const std::string& id) { return record_status(id, at, std::move(status)); });
}

proto::result<void> tts_state::put_connection_stats(connection_stats s) {
    std::lock_guard lock(p_->mu);
    if (s.expires_at == time_point{}) {
        if (s.connected()) s.expires_at = p_->now() + p_->opt.stats_ttl_connected;
        else if (s.disconnected_at) s.expires_at = *s.disconnected_at + p_->opt.stats_ttl_disconnected;
        else s.expires_at = p_->now() + p_->opt.stats_ttl_connected;
    }
    return p_->save_stats(s);
}

std::optional<connection_stats> tts_state::connection_stats_of(std::string_view gateway_id) const {
    std::lock_guard lock(p_->mu);
    auto s = p_->load_stats(gateway_id);
    if (!s || p_->now() > s->expires_at) return std::nullopt;
    return s;
}

// ---- claiming upstream --------------------------------------------------------------------------------

proto::result<void> tts_state::put_claimable(claimable_gateway g) {
    std::lock_guard lock(p_->mu);
    if (auto r = p_->run("INSERT OR REPLACE INTO claimables (eui, owner_token, managed, state, cups_key) VALUES (?1, ?2, ?3, ?4, ?5)",
                         g.eui.hex(), g.owner_token, g.managed, state_name(g.state), g.cups_key);
        !r)
        return state_error(r.err());
    return {};
}

std::optional<claimable_gateway> tts_state::claimable(proto::eui64 eui) const {
    std::lock_guard lock(p_->mu);
    auto st = p_->query("SELECT owner_token, managed, state, cups_key FROM claimables WHERE eui = ?1", eui.hex());
    if (!st) return std::nullopt;
    auto row = st->step();
    if (!row || !*row) return std::nullopt;
    return claimable_gateway{eui, st->column_text(0), st->column_int64(1) != 0, state_from(st->column_text(2)), st->column_text(3)};
}

std::vector<claimable_gateway> tts_state::claimables() const {
    std::lock_guard lock(p_->mu);
    std::vector<claimable_gateway> out;
    auto st = p_->query("SELECT eui, owner_token, managed, state, cups_key FROM claimables ORDER BY eui");
    if (!st) return out;
    while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        if (auto eui = eui_from_hex(st->column_text(0)))
            out.push_back({*eui, st->column_text(1), st->column_int64(2) != 0, state_from(st->column_text(3)), st->column_text(4)});
    }
    return out;
}

proto::result<void> tts_state::set_claim_state(proto::eui64 eui, claimable_gateway::upstream_state s, std::string_view cups_key) {
    std::lock_guard lock(p_->mu);
    if (auto r = p_->run("UPDATE claimables SET state = ?2, cups_key = ?3 WHERE eui = ?1", eui.hex(), state_name(s), std::string(cups_key)); !r)
        return state_error(r.err());
    return {};
}

}  // namespace ttig::emu
