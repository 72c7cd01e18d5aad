#include <ttig/tts/models.hpp>

#include <ttig/pki/base64.hpp>
#include <ttig/proto/bytes.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace ttig::tts {

using json = nlohmann::json;

// ---- wire helpers ------------------------------------------------------------------------------

std::string format_time(time_point t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    auto rest = t - day;
    const auto h = duration_cast<hours>(rest);
    rest -= h;
    const auto m = duration_cast<minutes>(rest);
    rest -= m;
    const auto s = duration_cast<seconds>(rest);
    rest -= s;
    const auto ns = duration_cast<nanoseconds>(rest).count();
    std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), h.count(), m.count(),
                                  s.count());
    if (ns != 0) {
        if (ns % 1000000 == 0) out += fmt::format(".{:03}", ns / 1000000);
        else if (ns % 1000 == 0) out += fmt::format(".{:06}", ns / 1000);
        else out += fmt::format(".{:09}", ns);
    }
    out += 'Z';
    return out;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

}  // namespace

std::optional<time_point> parse_time(std::string_view s) {
    using namespace std::chrono;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' || !digits(s, 8, 2, d) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
        !digits(s, 17, 2, se))
        return std::nullopt;
    std::size_t pos = 19;
    std::int64_t frac = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::size_t n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (n < 9) frac = frac * 10 + (s[pos] - '0');
            ++n;
            ++pos;
        }
        if (n == 0 || n > 9) return std::nullopt;
        for (std::size_t i = n; i < 9; ++i) frac *= 10;
    }
    if (pos + 1 != s.size() || (s[pos] != 'Z' && s[pos] != 'z')) return std::nullopt;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
    return time_point{sys_days{ymd}.time_since_epoch() + hours{h} + minutes{mi} + seconds{se} + nanoseconds{frac}};
}

std::string base64_encode(std::string_view in) { return pki::base64_encode(in); }

std::optional<std::string> base64_decode(std::string_view in) { return pki::base64_decode(in); }

std::optional<proto::eui64> parse_eui_json(const json& v) {
    if (!v.is_string()) return std::nullopt;
    const auto& s = v.get_ref<const std::string&>();
    std::string raw;
    if (s.size() == 16) {
        proto::bytes b;
        if (proto::from_hex(s, b) && b.size() == 8) raw.assign(b.begin(), b.end());
    }
    if (raw.empty()) {
        if (auto d = base64_decode(s); d && d->size() == 8) raw = *d;
        else return std::nullopt;
    }
    std::uint64_t x = 0;
    for (unsigned char c : raw) x = (x << 8) | c;
    return proto::eui64{x};
}

std::string url_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

namespace rights {
std::vector<std::string> cups_key() {
    return {std::string(gateway_info), std::string(gateway_settings_basic), std::string(gateway_read_secrets)};
}
std::vector<std::string> lns_key() { return {std::string(gateway_info), std::string(gateway_link)}; }
}  // namespace rights

// ---- reading helpers -----------------------------------------------------------------------------

namespace {

const json* field(const json& j, std::string_view key) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string str(const json& j, std::string_view key) {
    const json* f = field(j, key);
    return f ? f->get<std::string>() : std::string();
}

bool boolean(const json& j, std::string_view key) {
    const json* f = field(j, key);
    return f ? f->get<bool>() : false;
}

std::optional<time_point> timestamp(const json& j, std::string_view key) {
    const json* f = field(j, key);
    if (!f) return std::nullopt;
    auto t = parse_time(f->get<std::string>());
    if (!t) throw std::invalid_argument(fmt::format("{}: not a TTS timestamp", key));
    return t;
}

// uint64 as TTS writes it (a JSON string), or a number.
std::uint64_t u64(const json& j, std::string_view key) {
    const json* f = field(j, key);
    if (!f) return 0;
    if (f->is_number_unsigned()) return f->get<std::uint64_t>();
    const auto& s = f->get_ref<const std::string&>();
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) throw std::invalid_argument(fmt::format("{}: not a uint64", key));
    return n;
}

std::vector<std::string> strings(const json& j, std::string_view key) {
    std::vector<std::string> out;
    const json* f = field(j, key);
    if (!f) return out;
    for (const auto& x : f->get_ref<const json::array_t&>()) {
        if (x.is_number_integer()) out.push_back(std::to_string(x.get<std::int64_t>()));  // enums may come as numbers
        else out.push_back(x.get<std::string>());
    }
    return out;
}

}  // namespace

// ---- identifiers -------------------------------------------------------------------------------

void to_json(json& j, const account_ids& a) {
    if (a.type == account_ids::kind::organization) j = json{{"organization_ids", {{"organization_id", a.id}}}};
    else j = json{{"user_ids", {{"user_id", a.id}}}};
}

void from_json(const json& j, account_ids& a) {
    if (const json* u = field(j, "user_ids")) {
        a = account_ids::user(str(*u, "user_id"));
    } else if (const json* o = field(j, "organization_ids")) {
        a = account_ids::organization(str(*o, "organization_id"));
    } else {
        throw std::invalid_argument("neither user_ids nor organization_ids");
    }
}

void from_json(const json& j, entity_ids& e) {
    static constexpr std::pair<std::string_view, std::string_view> keys[] = {
        {"user_ids", "user_id"},         {"organization_ids", "organization_id"}, {"gateway_ids", "gateway_id"},
        {"application_ids", "application_id"}, {"client_ids", "client_id"}};
    static constexpr entity_ids::kind kinds[] = {entity_ids::kind::user, entity_ids::kind::organization, entity_ids::kind::gateway,
                                                 entity_ids::kind::application, entity_ids::kind::client};
    for (std::size_t i = 0; i < std::size(keys); ++i) {
        if (const json* f = field(j, keys[i].first)) {
            e.type = kinds[i];
            e.id = str(*f, keys[i].second);
            return;
        }
    }
    e = entity_ids{};
}

void to_json(json& j, const entity_ids& e) {
    static constexpr std::pair<std::string_view, std::string_view> keys[] = {
        {"user_ids", "user_id"},         {"organization_ids", "organization_id"}, {"gateway_ids", "gateway_id"},
        {"application_ids", "application_id"}, {"client_ids", "client_id"}};
    const auto i = static_cast<std::size_t>(e.type);
    if (i >= std::size(keys)) {
        j = json::object();
        return;
    }
    j = json{{std::string(keys[i].first), {{std::string(keys[i].second), e.id}}}};
}

void to_json(json& j, const gateway_ids& ids) {
    j = json::object();
    j["gateway_id"] = ids.gateway_id;
    if (ids.eui) j["eui"] = ids.eui->hex();
}

void from_json(const json& j, gateway_ids& ids) {
    ids.gateway_id = str(j, "gateway_id");
    ids.eui.reset();
    if (const json* e = field(j, "eui")) {
        ids.eui = parse_eui_json(*e);
        if (!ids.eui) throw std::invalid_argument("ids.eui: not an EUI");
    }
}

// ---- gateway ---------------------------------------------------------------------------------------

void to_json(json& j, const secret& s) {
    j = json::object();
    if (!s.key_id.empty()) j["key_id"] = s.key_id;
    j["value"] = base64_encode(s.value);
}

void from_json(const json& j, secret& s) {
    s.key_id = str(j, "key_id");
    auto v = base64_decode(str(j, "value"));
    if (!v) throw std::invalid_argument("secret value: not base64");
    s.value = std::move(*v);
}

namespace {

// Read-only or derived fields never written back.
bool read_only(std::string_view k) {
    return k == "created_at" || k == "updated_at" || k == "deleted_at" || k == "frequency_plan_id";
}

// The modelled top-level fields with their values (zero values included).
json modelled(const gateway& g) {
    json m = json::object();
    m["ids"] = g.ids;
    m["name"] = g.name;
    m["description"] = g.description;
    m["attributes"] = json(g.attributes);
    m["administrative_contact"] = g.administrative_contact ? json(*g.administrative_contact) : json();
    m["technical_contact"] = g.technical_contact ? json(*g.technical_contact) : json();
    m["gateway_server_address"] = g.gateway_server_address;
    m["frequency_plan_ids"] = g.frequency_plan_ids;
    m["require_authenticated_connection"] = g.require_authenticated_connection;
    m["status_public"] = g.status_public;
    m["location_public"] = g.location_public;
    m["enforce_duty_cycle"] = g.enforce_duty_cycle;
    m["schedule_downlink_late"] = g.schedule_downlink_late;
    m["update_location_from_status"] = g.update_location_from_status;
    m["auto_update"] = g.auto_update;
    m["disable_packet_broker_forwarding"] = g.disable_packet_broker_forwarding;
    m["schedule_anytime_delay"] = g.schedule_anytime_delay.empty() ? json() : json(g.schedule_anytime_delay);
    m["lbs_lns_secret"] = g.lbs_lns_secret ? json(*g.lbs_lns_secret) : json();
    m["target_cups_uri"] = g.target_cups_uri;
    m["target_cups_key"] = g.target_cups_key ? json(*g.target_cups_key) : json();
    return m;
}

bool zero(const json& v) {
    return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
           ((v.is_array() || v.is_object()) && v.empty());
}

}  // namespace

void to_json(json& j, const gateway& g) {
    json out = json::object();
    if (g.raw.is_object())
        for (const auto& [k, v] : g.raw.items())
            if (!read_only(k)) out[k] = v;
    const json m = modelled(g);  // a named object: items() would not extend a temporary's life
    for (const auto& [k, v] : m.items()) {
        if (zero(v)) out.erase(k);
        else out[k] = v;
    }
    j = std::move(out);
}

void from_json(const json& j, gateway& g) {
    if (!j.is_object()) throw std::invalid_argument("gateway: not an object");
    g = gateway{};
    if (const json* ids = field(j, "ids")) g.ids = ids->get<gateway_ids>();
    g.created_at = timestamp(j, "created_at");
    g.updated_at = timestamp(j, "updated_at");
    g.deleted_at = timestamp(j, "deleted_at");
    g.name = str(j, "name");
    g.description = str(j, "description");
    if (const json* a = field(j, "attributes"))
        for (const auto& [k, v] : a->items()) g.attributes[k] = v.get<std::string>();
    if (const json* c = field(j, "administrative_contact")) g.administrative_contact = c->get<account_ids>();
    if (const json* c = field(j, "technical_contact")) g.technical_contact = c->get<account_ids>();
    g.gateway_server_address = str(j, "gateway_server_address");
    g.frequency_plan_ids = strings(j, "frequency_plan_ids");
    g.require_authenticated_connection = boolean(j, "require_authenticated_connection");
    g.status_public = boolean(j, "status_public");
    g.location_public = boolean(j, "location_public");
    g.enforce_duty_cycle = boolean(j, "enforce_duty_cycle");
    g.schedule_downlink_late = boolean(j, "schedule_downlink_late");
    g.update_location_from_status = boolean(j, "update_location_from_status");
    g.auto_update = boolean(j, "auto_update");
    g.disable_packet_broker_forwarding = boolean(j, "disable_packet_broker_forwarding");
    g.schedule_anytime_delay = str(j, "schedule_anytime_delay");
    if (const json* s = field(j, "lbs_lns_secret")) g.lbs_lns_secret = s->get<secret>();
    g.target_cups_uri = str(j, "target_cups_uri");
    if (const json* s = field(j, "target_cups_key")) g.target_cups_key = s->get<secret>();
    g.raw = j;
}

json gateway_field(const gateway& g, std::string_view top) {
    const json m = modelled(g);
    if (auto it = m.find(top); it != m.end()) return *it;
    if (g.raw.is_object())
        if (auto it = g.raw.find(top); it != g.raw.end()) return *it;
    return json();
}

void gateway_update::add_path(std::string p) {
    if (std::find(paths_.begin(), paths_.end(), p) == paths_.end()) paths_.push_back(std::move(p));
}

gateway_update& gateway_update::set(std::string path, json value) {
    // Nested paths ("version_ids.model_id") become nested objects of the body.
    json* at = &values_;
    std::size_t start = 0;
    for (;;) {
        const auto dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (dot == std::string::npos) {
            (*at)[part] = std::move(value);
            break;
        }
        json& next = (*at)[part];
        if (!next.is_object()) next = json::object();
        at = &next;
        start = dot + 1;
    }
    add_path(std::move(path));
    return *this;
}

gateway_update& gateway_update::name(std::string v) { return set("name", std::move(v)); }
gateway_update& gateway_update::description(std::string v) { return set("description", std::move(v)); }
gateway_update& gateway_update::gateway_server_address(std::string v) { return set("gateway_server_address", std::move(v)); }
gateway_update& gateway_update::frequency_plan_ids(std::vector<std::string> v) { return set("frequency_plan_ids", std::move(v)); }
gateway_update& gateway_update::attributes(std::map<std::string, std::string> v) { return set("attributes", json(std::move(v))); }
gateway_update& gateway_update::require_authenticated_connection(bool v) { return set("require_authenticated_connection", v); }
gateway_update& gateway_update::status_public(bool v) { return set("status_public", v); }
gateway_update& gateway_update::location_public(bool v) { return set("location_public", v); }
gateway_update& gateway_update::lbs_lns_secret(std::optional<std::string> key) {
    return set("lbs_lns_secret", key ? json(secret{{}, std::move(*key)}) : json());
}
gateway_update& gateway_update::target_cups_uri(std::string v) { return set("target_cups_uri", std::move(v)); }
gateway_update& gateway_update::target_cups_key(std::optional<std::string> key) {
    return set("target_cups_key", key ? json(secret{{}, std::move(*key)}) : json());
}

gateway_update gateway_update::from(const gateway& g, std::vector<std::string> paths) {
    gateway_update u;
    for (auto& p : paths) {
        const std::string top = p.substr(0, p.find('.'));
        u.values_[top] = gateway_field(g, top);
        u.add_path(std::move(p));
    }
    return u;
}

// ---- API keys ----------------------------------------------------------------------------------

namespace {

void put_time(json& j, const char* key, const std::optional<time_point>& t) {
    if (t) j[key] = format_time(*t);
    else j.erase(key);
}

void put_string(json& j, const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
    else j.erase(key);
}

void put_u64(json& j, const char* key, std::uint64_t v) {
    if (v) j[key] = std::to_string(v);
    else j.erase(key);
}

json object_or_empty(const json& raw) { return raw.is_object() ? raw : json::object(); }

}  // namespace

void to_json(json& j, const api_key& k) {
    json out = object_or_empty(k.raw);
    out.erase("key");
    put_string(out, "id", k.id);
    put_string(out, "name", k.name);
    if (!k.rights.empty()) out["rights"] = k.rights;
    else out.erase("rights");
    put_time(out, "created_at", k.created_at);
    put_time(out, "updated_at", k.updated_at);
    put_time(out, "expires_at", k.expires_at);
    j = std::move(out);
}

void from_json(const json& j, api_key& k) {
    if (!j.is_object()) throw std::invalid_argument("api key: not an object");
    k = api_key{};
    k.id = str(j, "id");
    k.key = str(j, "key");
    k.name = str(j, "name");
    k.rights = strings(j, "rights");
    k.created_at = timestamp(j, "created_at");
    k.updated_at = timestamp(j, "updated_at");
    k.expires_at = timestamp(j, "expires_at");
    k.raw = j;
    k.raw.erase("key");
}

// ---- auth_info ---------------------------------------------------------------------------------

std::optional<account_ids> auth_info::account() const {
    if (!entity) return std::nullopt;
    if (entity->type == entity_ids::kind::user) return account_ids::user(entity->id);
    if (entity->type == entity_ids::kind::organization) return account_ids::organization(entity->id);
    return std::nullopt;
}

void to_json(json& j, const auth_info& a) {
    j = object_or_empty(a.raw);
    if (auto k = j.find("api_key"); k != j.end() && k->is_object())
        if (auto inner = k->find("api_key"); inner != k->end() && inner->is_object()) inner->erase("key");
}

void from_json(const json& j, auth_info& a) {
    if (!j.is_object()) throw std::invalid_argument("auth_info: not an object");
    a = auth_info{};
    if (const json* k = field(j, "api_key")) {
        a.access_method = "api_key";
        if (const json* inner = field(*k, "api_key")) a.key = inner->get<api_key>();
        if (const json* e = field(*k, "entity_ids")) a.entity = e->get<entity_ids>();
    } else {
        for (const char* m : {"oauth_access_token", "user_session", "gateway_token"})
            if (field(j, m)) a.access_method = m;
    }
    if (const json* u = field(j, "universal_rights")) a.universal_rights = strings(*u, "rights");
    a.is_admin = boolean(j, "is_admin");
    a.raw = j;
    if (auto k = a.raw.find("api_key"); k != a.raw.end() && k->is_object())
        if (auto inner = k->find("api_key"); inner != k->end() && inner->is_object()) inner->erase("key");
}

// ---- connection stats ----------------------------------------------------------------------------

void to_json(json& j, const connection_stats& s) {
    json out = object_or_empty(s.raw);
    put_time(out, "connected_at", s.connected_at);
    put_time(out, "disconnected_at", s.disconnected_at);
    put_string(out, "protocol", s.protocol);
    put_time(out, "last_status_received_at", s.last_status_received_at);
    put_time(out, "last_uplink_received_at", s.last_uplink_received_at);
    put_time(out, "last_downlink_received_at", s.last_downlink_received_at);
    put_time(out, "last_tx_acknowledgment_received_at", s.last_tx_acknowledgment_received_at);
    put_u64(out, "uplink_count", s.uplink_count);
    put_u64(out, "downlink_count", s.downlink_count);
    put_u64(out, "tx_acknowledgment_count", s.tx_acknowledgment_count);
    if (!s.last_status.is_null()) out["last_status"] = s.last_status;
    if (!s.round_trip_times.is_null()) out["round_trip_times"] = s.round_trip_times;
    if (!s.sub_bands.is_null()) out["sub_bands"] = s.sub_bands;
    if (!s.remote_ip.empty()) out["gateway_remote_address"] = {{"ip", s.remote_ip}};
    j = std::move(out);
}

void from_json(const json& j, connection_stats& s) {
    if (!j.is_object()) throw std::invalid_argument("connection stats: not an object");
    s = connection_stats{};
    s.connected_at = timestamp(j, "connected_at");
    s.disconnected_at = timestamp(j, "disconnected_at");
    s.protocol = str(j, "protocol");
    s.last_status_received_at = timestamp(j, "last_status_received_at");
    s.last_uplink_received_at = timestamp(j, "last_uplink_received_at");
    s.last_downlink_received_at = timestamp(j, "last_downlink_received_at");
    s.last_tx_acknowledgment_received_at = timestamp(j, "last_tx_acknowledgment_received_at");
    s.uplink_count = u64(j, "uplink_count");
    s.downlink_count = u64(j, "downlink_count");
    s.tx_acknowledgment_count = u64(j, "tx_acknowledgment_count");
    if (const json* f = field(j, "last_status")) s.last_status = *f;
    if (const json* f = field(j, "round_trip_times")) s.round_trip_times = *f;
    if (const json* f = field(j, "sub_bands")) s.sub_bands = *f;
    if (const json* f = field(j, "gateway_remote_address")) s.remote_ip = str(*f, "ip");
    s.raw = j;
}

// ---- claiming ----------------------------------------------------------------------------------

void to_json(json& j, const claim_info& c) {
    j = json{{"eui", c.eui.hex()}};
    if (c.supports_claiming) j["supports_claiming"] = true;
    if (c.is_managed) j["is_managed"] = true;
}

void from_json(const json& j, claim_info& c) {
    if (!j.is_object()) throw std::invalid_argument("claim info: not an object");
    c = claim_info{};
    if (const json* e = field(j, "eui")) {
        auto eui = parse_eui_json(*e);
        if (!eui) throw std::invalid_argument("eui: not an EUI");
        c.eui = *eui;
    }
    c.supports_claiming = boolean(j, "supports_claiming");
    c.is_managed = boolean(j, "is_managed");
    c.raw = j;
}

void to_json(json& j, const claim_request& c) {
    j = json::object();
    j["authenticated_identifiers"] = {{"gateway_eui", c.gateway_eui.hex()},
                                      {"authentication_code", base64_encode(c.authentication_code)}};
    j["collaborator"] = c.collaborator;
    j["target_gateway_id"] = c.target_gateway_id;
    if (!c.target_gateway_server_address.empty()) j["target_gateway_server_address"] = c.target_gateway_server_address;
    if (!c.target_frequency_plan_ids.empty()) j["target_frequency_plan_ids"] = c.target_frequency_plan_ids;
}

void to_json(json& j, const claim_result& c) { j = json{{"gateway_id", c.gateway_id}, {"eui", c.eui.hex()}}; }

void from_json(const json& j, claim_result& c) {
    if (!j.is_object()) throw std::invalid_argument("claim answer: not an object");
    c = claim_result{};
    c.gateway_id = str(j, "gateway_id");
    if (const json* e = field(j, "eui")) {
        auto eui = parse_eui_json(*e);
        if (!eui) throw std::invalid_argument("eui: not an EUI");
        c.eui = *eui;
    }
}

// ---- frequency plans -----------------------------------------------------------------------------

void to_json(json& j, const frequency_plan& p) {
    json out = object_or_empty(p.raw);
    put_string(out, "id", p.id);
    put_string(out, "base_id", p.base_id);
    put_string(out, "name", p.name);
    if (p.base_frequency) out["base_frequency"] = p.base_frequency;
    else out.erase("base_frequency");
    put_string(out, "band_id", p.band_id);
    j = std::move(out);
}

void from_json(const json& j, frequency_plan& p) {
    if (!j.is_object()) throw std::invalid_argument("frequency plan: not an object");
    p = frequency_plan{};
    p.id = str(j, "id");
    p.base_id = str(j, "base_id");
    p.name = str(j, "name");
    p.band_id = str(j, "band_id");
    if (const json* f = field(j, "base_frequency")) p.base_frequency = f->get<std::uint32_t>();
    p.raw = j;
}

}  // namespace ttig::tts
