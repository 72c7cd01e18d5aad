#include <ttig/emu/events.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <regex>
#include <set>

namespace ttig::emu {

using ojson = nlohmann::ordered_json;

namespace {

using r = right;

// v3.32.1: pkg/gatewayserver/observability.go, pkg/gatewayserver/io/observability.go,
// pkg/identityserver/gateway_registry.go, gateway_access.go. Sorted by name.
const std::array<event_definition, 33>& definitions() {
    static const std::array<event_definition, 33> defs{{
        {"gateway.api-key.create", "create gateway API key", {r::gateway_settings_api_keys}, "ttn.lorawan.v3.APIKey"},
        {"gateway.api-key.delete", "delete gateway API key", {r::gateway_settings_api_keys}, ""},
        {"gateway.api-key.update", "update gateway API key", {r::gateway_settings_api_keys}, "ttn.lorawan.v3.APIKey"},
        {"gateway.batch.delete", "batch delete gateways", {r::gateway_info}, "ttn.lorawan.v3.GatewayIdentifiersList"},
        {"gateway.collaborator.delete", "delete gateway collaborator", {r::gateway_settings_collaborators, r::user_gateways_list}, ""},
        {"gateway.collaborator.update", "update gateway collaborator", {r::gateway_settings_collaborators, r::user_gateways_list},
         "ttn.lorawan.v3.Collaborator"},
        {"gateway.create", "create gateway", {r::gateway_info}, ""},
        {"gateway.delete", "delete gateway", {r::gateway_info}, ""},
        {"gateway.purge", "purge gateway", {r::gateway_info}, ""},
        {"gateway.restore", "restore gateway", {r::gateway_info}, ""},
        {"gateway.update", "update gateway", {r::gateway_info}, "google.protobuf.Value"},
        {"gs.down.schedule.attempt", "schedule downlink for transmission by gateway", {r::gateway_traffic_read},
         "ttn.lorawan.v3.DownlinkMessage"},
        {"gs.down.schedule.fail", "schedule downlink for transmission by gateway", {r::gateway_traffic_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.down.send", "send downlink message", {r::gateway_traffic_read}, "ttn.lorawan.v3.DownlinkMessage"},
        {"gs.down.tx.fail", "transmit downlink message failure", {r::gateway_traffic_read}, "google.protobuf.Value"},
        {"gs.down.tx.success", "transmit downlink message successful", {r::gateway_traffic_read}, ""},
        {"gs.gateway.connect", "connect gateway", {r::gateway_link, r::gateway_status_read}, "ttn.lorawan.v3.GatewayConnectionStats"},
        {"gs.gateway.connection.stats", "gateway connection statistics", {r::gateway_link, r::gateway_status_read},
         "ttn.lorawan.v3.GatewayConnectionStats"},
        {"gs.gateway.disconnect", "disconnect gateway", {r::gateway_link, r::gateway_status_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.io.status.drop", "drop gateway status", {r::gateway_status_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.io.tx.ack.drop", "drop tx ack message", {r::gateway_traffic_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.io.up.drop", "drop uplink message", {r::gateway_traffic_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.io.up.repeat", "received repeated uplink message from gateway", {r::gateway_traffic_read}, "ttn.lorawan.v3.GatewayIdentifiers"},
        {"gs.status.drop", "drop gateway status", {r::gateway_status_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.status.receive", "receive gateway status", {r::gateway_status_read}, "ttn.lorawan.v3.GatewayStatus"},
        {"gs.txack.drop", "drop transmission acknowledgement", {r::gateway_status_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.txack.forward", "forward transmission acknowledgement", {r::gateway_traffic_read}, "google.protobuf.Value"},
        {"gs.txack.receive", "receive transmission acknowledgement", {r::gateway_traffic_read}, "ttn.lorawan.v3.TxAcknowledgment"},
        {"gs.up.drop", "drop uplink message", {r::gateway_traffic_read}, "ttn.lorawan.v3.ErrorDetails"},
        {"gs.up.forward", "forward uplink message", {r::gateway_traffic_read}, "google.protobuf.Value"},
        {"gs.up.receive", "receive uplink message", {r::gateway_traffic_read}, "ttn.lorawan.v3.GatewayUplinkMessage"},
        // Not gateway events (never published here), but defined in every deployment.
        {"organization.update", "update organization", {r::organization_info}, "google.protobuf.Value"},
        {"user.update", "update user", {r::user_info}, "google.protobuf.Value"},
    }};
    return defs;
}

constexpr std::string_view type_prefix = "type.googleapis.com/";
constexpr std::string_view crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::int64_t unix_ms(time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string entity_key(const entity_ref& e) { return fmt::format("{}:{}", e.type_name(), e.id); }

}  // namespace

std::span<const event_definition> event_definitions() noexcept {
    const auto& d = definitions();
    return {d.data(), d.size()};
}

const event_definition* find_event_definition(std::string_view name) noexcept {
    for (const auto& d : definitions())
        if (d.name == name) return &d;
    return nullptr;
}

tts_result<std::vector<std::string>> names_from_patterns(std::span<const std::string> patterns) {
    std::set<std::string> out;
    for (const auto& p : patterns) {
        if (p.size() >= 1 && p.front() == '/' && p.back() == '/') {
            // strings.Trim(name, "/"): every leading and trailing slash.
            const auto b = p.find_first_not_of('/');
            const std::string expr = b == std::string::npos ? std::string{} : p.substr(b, p.find_last_not_of('/') - b + 1);
            std::optional<std::regex> re;
            try {
                re.emplace(expr, std::regex::ECMAScript);
            } catch (const std::regex_error&) {
                return tts_error::make("pkg/events:invalid_regexp");
            }
            bool found = false;
            for (const auto& d : definitions()) {
                if (std::regex_search(d.name.begin(), d.name.end(), *re)) {
                    out.emplace(d.name);
                    found = true;
                }
            }
            if (!found) return tts_error::make("pkg/events:no_matching_events", {{"regexp", expr}});
        } else {
            if (!find_event_definition(p)) return tts_error::make("pkg/events:unknown_event_name", {{"name", p}});
            out.insert(p);
        }
    }
    return std::vector<std::string>(out.begin(), out.end());
}

// ---- event ------------------------------------------------------------------------------------------

event& event::gateway(const std::string& gateway_id, std::optional<proto::eui64> eui) {
    entities.push_back(entity_ref::gateway(gateway_id));
    ojson inner;
    inner["gateway_id"] = gateway_id;
    if (eui) inner["eui"] = eui->hex();
    ojson ids;
    ids["gateway_ids"] = std::move(inner);
    identifiers.push_back(std::move(ids));
    return *this;
}

event& event::with_data(std::string_view type, const ojson& message) {
    ojson d;
    d["@type"] = fmt::format("{}{}", type_prefix, type);
    if (message.is_object())
        for (const auto& [k, v] : message.items()) d[k] = v;
    data = std::move(d);
    return *this;
}

event& event::with_value(ojson value) {
    ojson d;
    d["@type"] = fmt::format("{}google.protobuf.Value", type_prefix);
    d["value"] = std::move(value);
    data = std::move(d);
    return *this;
}

event& event::with_error(const tts_error& err) { return with_data("ttn.lorawan.v3.ErrorDetails", err.details_json({}, false)); }

event& event::with_authorization(std::optional<std::string_view> authorization) {
    if (!authorization) return *this;
    std::string_view v = *authorization;
    std::string_view type = "Bearer";
    if (const auto sp = v.find(' '); sp != std::string_view::npos) {
        type = v.substr(0, sp);
        v.remove_prefix(sp + 1);
    }
    auto parts = split_token(v);
    if (!parts) return *this;
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> token_types{{
        {"NNSXS", "APIKey"}, {"MFRWG", "AccessToken"}, {"OJSWM", "RefreshToken"}, {"MF2XI", "AuthorizationCode"}, {"ONZW4", "SessionToken"}}};
    std::string token_type;
    for (const auto& [prefix, type_name] : token_types)
        if (parts->type == prefix) token_type = type_name;
    ojson a;
    a["type"] = std::string(type);
    if (!token_type.empty()) a["token_type"] = token_type;
    a["token_id"] = parts->id;
    authentication = std::move(a);
    return *this;
}

ojson event::to_json() const {
    ojson j;
    j["name"] = name;
    j["time"] = format_time(time);
    if (!identifiers.empty()) j["identifiers"] = identifiers;
    if (!data.is_null()) j["data"] = data;
    if (!correlation_ids.empty()) j["correlation_ids"] = correlation_ids;
    if (!origin.empty()) j["origin"] = origin;
    if (!visibility.empty()) {
        ojson names = ojson::array();
        for (right x : visibility.list()) names.push_back(std::string(right_name(x)));
        j["visibility"] = ojson{{"rights", std::move(names)}};
    }
    if (!authentication.is_null()) j["authentication"] = authentication;
    if (!remote_ip.empty()) j["remote_ip"] = remote_ip;
    if (!user_agent.empty()) j["user_agent"] = user_agent;
    if (!unique_id.empty()) j["unique_id"] = unique_id;
    return j;
}

// ---- filter and stream ---------------------------------------------------------------------------------

bool event_filter::matches(const event& e) const {
    if (!cluster.empty() && e.cluster != cluster) return false;
    if (!names.empty() && !std::binary_search(names.begin(), names.end(), e.name)) return false;
    for (const auto& id : e.entities)
        if (std::find(identifiers.begin(), identifiers.end(), id) != identifiers.end()) return true;
    return false;
}

bool event_filter::visible(const event& e) const {
    if (e.visibility.empty()) return true;
    for (const auto& id : e.entities) {
        const auto& table = id.type == entity_ref::kind::gateway ? gateway_rights : entity_rights;
        const auto it = table.find(id.type == entity_ref::kind::gateway ? id.id : entity_key(id));
        if (it == table.end()) continue;
        if (!(it->second.implied() & e.visibility).empty()) return true;
    }
    return false;
}

std::string event_stream::frame(const event& e) const {
    ojson m;
    m["result"] = e.to_json();
    return m.dump() + delimiter;
}

// ---- bus ------------------------------------------------------------------------------------------------

event_bus::event_bus(const proto::clock& clock, std::size_t capacity)
    : clock_(&clock), capacity_(capacity == 0 ? 1 : capacity), rng_(std::random_device{}()) {}

std::string event_bus::origin_of(std::string_view cluster) { return fmt::format("ttigctl-emu-{}", cluster.empty() ? "local" : cluster); }

std::string event_bus::new_id() {
    std::lock_guard lock(mu_);
    return new_id_locked();
}

std::string event_bus::new_id_locked() {
    // 128 bits: 48-bit time (ms) + 80 random bits, as 26 base32 digits (the first carries 3 bits).
    const std::uint64_t ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, unix_ms(clock_->now()))) & ((std::uint64_t{1} << 48) - 1);
    const std::uint64_t r1 = rng_(), r2 = rng_();
    const std::uint64_t hi = (ms << 16) | (r1 >> 48);                    // bits 127..64
    const std::uint64_t lo = (r1 << 16) | (r2 & 0xFFFF);                 // bits 63..0
    std::string out(26, '0');
    for (int i = 25; i >= 0; --i) {
        const unsigned shift = static_cast<unsigned>(5 * (25 - i));
        std::uint64_t v;
        if (shift >= 64) v = hi >> (shift - 64);
        else if (shift > 59) v = (lo >> shift) | (hi << (64 - shift));
        else v = lo >> shift;
        out[static_cast<std::size_t>(i)] = crockford[v & 31];
    }
    return out;
}

event event_bus::publish(event e) {
    std::lock_guard lock(mu_);
    if (e.time == time_point{}) e.time = clock_->now();
    if (e.unique_id.empty()) e.unique_id = new_id_locked();
    if (e.origin.empty()) e.origin = origin_of(e.cluster);
    if (e.visibility.empty())
        if (const auto* d = find_event_definition(e.name)) e.visibility = d->visibility;
    store_.push_back(e);
    while (store_.size() > capacity_) store_.pop_front();
    for (auto& [id, s] : subs_)
        if (s.filter.matches(e) && s.filter.visible(e)) s.s(e);
    return e;
}

std::uint64_t event_bus::subscribe(event_filter filter, std::uint32_t tail, std::optional<time_point> after, sink s) {
    std::lock_guard lock(mu_);
    std::sort(filter.names.begin(), filter.names.end());
    if (tail > 0 || after) {
        // The Redis store's SubscribeWithHistory: per identifier, its stream from after - 1 s (or
        // the beginning), the last `tail` entries when tail > 0, then names, then time > after.
        const std::optional<std::int64_t> after_ms = after ? std::optional<std::int64_t>(unix_ms(*after)) : std::nullopt;
        for (const auto& id : filter.identifiers) {
            std::vector<const event*> stream;
            for (const auto& e : store_) {
                if (!filter.cluster.empty() && e.cluster != filter.cluster) continue;
                if (std::find(e.entities.begin(), e.entities.end(), id) == e.entities.end()) continue;
                if (after_ms && unix_ms(e.time) < *after_ms - 1000) continue;
                stream.push_back(&e);
            }
            if (tail > 0 && stream.size() > tail) stream.erase(stream.begin(), stream.end() - tail);
            for (const event* e : stream) {
                if (!filter.names.empty() && !std::binary_search(filter.names.begin(), filter.names.end(), e->name)) continue;
                if (after_ms && unix_ms(e->time) <= *after_ms) continue;
                if (!filter.visible(*e)) continue;
                s(*e);
            }
        }
    }
    const std::uint64_t id = next_id_++;
    subs_.emplace(id, subscription{std::move(filter), std::move(s)});
    return id;
}

void event_bus::unsubscribe(std::uint64_t id) {
    std::lock_guard lock(mu_);
    subs_.erase(id);
}

std::size_t event_bus::subscribers() const {
    std::lock_guard lock(mu_);
    return subs_.size();
}

std::vector<event> event_bus::stored() const {
    std::lock_guard lock(mu_);
    return {store_.begin(), store_.end()};
}

}  // namespace ttig::emu
