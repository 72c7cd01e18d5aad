#include <ttig/emu/lns.hpp>

#include <ttig/emu/cups.hpp>
#include <ttig/emu/events.hpp>
#include <ttig/proto/router_config.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace ttig::emu {

namespace {

using namespace std::chrono_literals;

constexpr std::string_view gs_ns = "pkg/gatewayserver";
constexpr std::string_view ws_ns = "pkg/gatewayserver/io/semtechws";

tts_error make_error_value(std::string_view ns, std::string_view name, int code, std::string_view format, nlohmann::json attrs = nlohmann::json::object()) {
    tts_error e;
    e.ns = std::string(ns);
    e.name = std::string(name);
    e.code = code;
    e.message_format = std::string(format);
    e.attributes = std::move(attrs);
    return e;
}

std::optional<std::string> bearer(const proto::http_request& r) {
    auto h = r.headers.get("Authorization");
    if (!h || h->empty()) return std::nullopt;
    std::string v(*h);
    if (!v.starts_with("Bearer ")) v = "Bearer " + v;
    return v;
}

// The settings whose change makes the Gateway Server drop a connection with gateway_changed at
// its next registry poll (disconnected-catalogue: antennas, frequency plans, GS address,
// authentication requirement, duty cycle, downlink path, Packet Broker, visibility, location from
// status, scheduling).
std::string settings_fingerprint(const gateway& gw) {
    static constexpr std::string_view fields[] = {
        "antennas", "frequency_plan_ids", "gateway_server_address", "require_authenticated_connection", "enforce_duty_cycle",
        "downlink_path_constraint", "disable_packet_broker_forwarding", "status_public", "location_public",
        "update_location_from_status", "schedule_downlink_late", "schedule_anytime_delay"};
    nlohmann::ordered_json j;
    for (auto f : fields)
        if (auto it = gw.doc.find(std::string(f)); it != gw.doc.end()) j[std::string(f)] = *it;
    return j.dump();
}

std::chrono::nanoseconds jittered(std::mt19937_64& rng, std::chrono::nanoseconds base, double fraction) {
    std::uniform_real_distribution<double> d(1.0 - fraction, 1.0 + fraction);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng)));
}

double mux_time(proto::time_point now) { return proto::tts_unix_seconds(now.time_since_epoch().count()); }

// GatewayConnectionStats as the Gateway Server publishes it at connect and in its first stats update.
nlohmann::ordered_json connect_stats(proto::time_point at, const std::string& ip) {
    nlohmann::ordered_json j;
    j["connected_at"] = format_time(at);
    j["protocol"] = "semtechws/lbslns";
    if (!ip.empty()) j["gateway_remote_address"] = nlohmann::ordered_json{{"ip", ip}};
    return j;
}

}  // namespace

struct lns_server::session {
    session_id id = 0;
    std::string gateway_id;
    proto::eui64 eui;
    bool registered = false;
    std::optional<std::string> auth;
    std::string settings;  // fingerprint at connect / last poll
    bool version_received = false;
    bool router_config_sent = false;
    bool station_timesync = false;  // the station sent its own timesync: no periodic transfer
    std::uint64_t uplinks = 0;
    std::chrono::nanoseconds ping_period{0};
    proto::time_point next_ping{};
    proto::time_point next_reread{};
    proto::time_point next_timesync{};
    int missed_pongs = 0;
    std::uint64_t pongs = 0;
    std::string remote_ip;
    std::string correlation_id;  // "gs:conn:<ULID>" on every event of the connection
};

// A Gateway Server event about a session's gateway (identifiers with the EUI, the connection's
// correlation ID, this cluster).
event lns_server::gs_event(const session& s, std::string name) const {
    event e;
    e.name = std::move(name);
    e.gateway(s.gateway_id, s.eui);
    e.cluster = options_.cluster;
    e.correlation_ids.push_back(s.correlation_id);
    return e;
}

lns_server::lns_server(tts_state& state, rate_limiter& limiter, lns_options options)
    : state_(state), limiter_(limiter), options_(std::move(options)), rng_(options_.seed ? options_.seed : std::random_device{}()) {}

lns_server::~lns_server() = default;

proto::http_response lns_server::traffic_error(const tts_error& e) const { return tts_error_response_indented(e, new_correlation_id()); }

std::string lns_server::discover(const proto::http_request& request, std::string_view message) {
    auto req = proto::decode_router_info_request(message);
    if (!req) return proto::encode_router_info_response(proto::tts_router_info_error(req.err().detail));
    const auto gw = state_.find_gateway_by_eui(req->eui);
    const auto auth = bearer(request);
    if (!gw) {
        if (options_.require_registered_gateways)
            return proto::encode_router_info_response(proto::tts_router_info_error(fmt::format(
                "Failed to fetch gateway: error:pkg/gatewayserver:gateway_eui_not_registered (gateway EUI `{}` is not registered)", req->eui.hex())));
        // Unregistered: a synthetic eui-<hex> gateway with LINK granted in-context, so any
        // non-empty Authorization header passes discovery.
        if (!auth && !options_.allow_unauthenticated) return proto::encode_router_info_response(proto::tts_router_info_error("Unauthorized"));
    } else if (auth) {
        if (!state_.authorize_gateway(auth, gw->id(), rights{right::gateway_link}, true))
            return proto::encode_router_info_response(proto::tts_router_info_error("Unauthorized"));
    } else if (!options_.allow_unauthenticated) {
        return proto::encode_router_info_response(proto::tts_router_info_error("Unauthorized"));
    }
    const std::string scheme = request.tls || options_.use_traffic_tls_address ? "wss" : "ws";
    std::string host(request.headers.get("Host").value_or(request.local_host));
    return proto::encode_router_info_response(proto::tts_router_info_response(*req, proto::tts_traffic_uri(scheme, host, req->eui)));
}

std::variant<proto::http_response, session_id> lns_server::accept_traffic(const proto::http_request& request, std::string_view id) {
    // 1. upgrade rate limit
    std::string ip = request.remote_address.substr(0, request.remote_address.rfind(':'));
    std::string token_id;
    if (auto h = request.headers.get("Authorization")) {
        std::string_view v = *h;
        if (v.starts_with("Bearer ")) v.remove_prefix(7);
        if (auto parts = split_token(v)) token_id = parts->id;
    }
    const auto resource = http_resource("gs:accept:semtechws/lbslns", "/traffic/{id}", token_id, ip, request.path());
    if (auto r = limiter_.take(resource); r && r->limited) {
        auto res = traffic_error(tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", resource.key}, {"rate", r->limit}}));
        r->apply_headers(res.headers);
        return res;
    }
    // 2. eui-<16 hex>
    const bool id_ok = id.size() == 20 && id.starts_with("eui-") &&
                       std::all_of(id.begin() + 4, id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    if (!id_ok)
        return traffic_error(make_error_value(ws_ns, "invalid_gateway_id", grpc_code::invalid_argument, "invalid gateway ID `{id}`", {{"id", std::string(id)}}));
    proto::eui64 eui{std::stoull(std::string(id.substr(4)), nullptr, 16)};
    // 3. zero EUI
    if (eui.is_zero()) return traffic_error(make_error_value(gs_ns, "empty_identifiers", grpc_code::unknown, "empty identifiers"));
    // 4. registration
    auto gw = state_.find_gateway_by_eui(eui);
    if (!gw && options_.require_registered_gateways)
        return traffic_error(make_error_value(gs_ns, "gateway_eui_not_registered", grpc_code::not_found, "gateway EUI `{eui}` is not registered",
                                              {{"eui", eui.hex()}}));
    const std::string gateway_id = gw ? gw->id() : eui.gateway_id();
    // 6. auth header
    const auto auth = bearer(request);
    if (!auth && !options_.allow_unauthenticated)
        return traffic_error(make_error_value(ws_ns, "no_auth_provided", grpc_code::unauthenticated, "no auth provided `{uid}`", {{"uid", gateway_id}}));
    // 7. LINK right (registered gateways; an unregistered one has LINK in-context)
    if (gw && auth) {
        auto ok = state_.authorize_gateway(auth, gateway_id, rights{right::gateway_link}, true);
        if (!ok) return traffic_error(ok.err());
    }
    // 8b. frequency plan
    std::vector<std::string> plans = gw ? gw->frequency_plan_ids() : std::vector<std::string>{};
    std::erase(plans, std::string{});
    if (!gw) {
        if (options_.fallback_frequency_plan.empty())
            return traffic_error(make_error_value(gs_ns, "no_fallback_frequency_plan", grpc_code::not_found,
                                                  "gateway `{gateway_uid}` is not registered and no fallback frequency plan defined",
                                                  {{"gateway_uid", gateway_id}}));
        plans = {options_.fallback_frequency_plan};
    }
    if (plans.empty() || std::any_of(plans.begin(), plans.end(), [](const std::string& p) { return !proto::frequency_plan_by_id(p); }))
        return traffic_error(make_error_value("pkg/frequencyplans", "not_found", grpc_code::not_found, "frequency plan `{id}` not found",
                                              {{"id", plans.empty() ? std::string{} : plans.front()}}));
    // 9. authenticated connection required
    if (gw && gw->require_authenticated_connection() && !auth)
        return traffic_error(make_error_value(gs_ns, "unauthenticated_gateway_connection", grpc_code::unauthenticated,
                                              "gateway requires an authenticated connection"));

    std::lock_guard lock(mu_);
    // 10. a second connection replaces the first
    if (auto it = by_gateway_.find(gateway_id); it != by_gateway_.end()) {
        if (auto old = sessions_.find(it->second); old != sessions_.end()) {
            auto acts = close_session_locked(*old->second, "pkg/gatewayserver:new_connection");
            pending_.insert(pending_.end(), acts.begin(), acts.end());
        }
    }
    const auto now = state_.clock().now();
    auto s = std::make_unique<session>();
    s->id = next_id_++;
    s->gateway_id = gateway_id;
    s->eui = eui;
    s->registered = gw.has_value();
    s->auth = auth;
    s->settings = gw ? settings_fingerprint(*gw) : std::string{};
    s->ping_period = jittered(rng_, options_.ping_interval, 0.10);
    s->next_ping = now + s->ping_period;
    s->next_reread = now + jittered(rng_, options_.reread_interval, 0.20);
    s->remote_ip = ip;
    s->correlation_id = "gs:conn:" + state_.events().new_id();
    {
        event e = gs_event(*s, "gs.gateway.connect");
        e.with_data("ttn.lorawan.v3.GatewayConnectionStats", connect_stats(now, ip));
        e.with_authorization(auth);
        e.remote_ip = ip;
        if (auto ua = request.headers.get("User-Agent")) e.user_agent = std::string(*ua);
        state_.events().publish(std::move(e));
        event stats = gs_event(*s, "gs.gateway.connection.stats");
        stats.with_data("ttn.lorawan.v3.GatewayConnectionStats", connect_stats(now, ip));
        state_.events().publish(std::move(stats));
    }
    const session_id sid = s->id;
    by_gateway_[gateway_id] = sid;
    sessions_[sid] = std::move(s);
    if (gw) (void)state_.gateway_connected(gateway_id, options_.cluster, now, "semtechws/lbslns", ip);
    return sid;
}

std::vector<lns_action> lns_server::close_session_locked(session& s, std::string reason) {
    {
        // registerGatewayDisconnect(ctx.Err()): the reason's ErrorDetails; none when the gateway went away.
        event e = gs_event(s, "gs.gateway.disconnect");
        if (!reason.empty()) e.with_error(tts_error::make(reason));
        state_.events().publish(std::move(e));
        event stats = gs_event(s, "gs.gateway.connection.stats");
        stats.with_data("ttn.lorawan.v3.GatewayConnectionStats", nlohmann::ordered_json{{"disconnected_at", format_time(state_.clock().now())}});
        state_.events().publish(std::move(stats));
    }
    std::vector<lns_action> acts{{lns_action::kind::drop, s.id, {}, std::move(reason)}};
    if (s.registered) (void)state_.gateway_disconnected(s.gateway_id, state_.clock().now());
    if (auto it = by_gateway_.find(s.gateway_id); it != by_gateway_.end() && it->second == s.id) by_gateway_.erase(it);
    sessions_.erase(s.id);
    return acts;
}

std::vector<lns_action> lns_server::on_text(session_id sid, std::string_view text) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return {};
    session& s = *it->second;
    const auto now = state_.clock().now();
    // Every received message counts against gs:up for the gateway; exceeding it closes.
    if (auto r = limiter_.take(gateway_up_resource(s.gateway_id)); r && r->limited) return close_session_locked(s, "pkg/ratelimit:rate_limit_exceeded");
    auto msg = proto::decode_upstream(text);
    if (!msg) return close_session_locked(s, std::string(ws_ns) + ":" + msg.err().id());
    std::vector<lns_action> out;
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, proto::version_msg>) {
                s.version_received = true;
                std::vector<const proto::frequency_plan*> plans;
                int gain = 0;
                if (auto gw = state_.get_gateway(s.gateway_id); gw) {
                    for (const auto& id : gw->frequency_plan_ids())
                        if (auto p = proto::frequency_plan_by_id(id)) plans.push_back(*p);
                    if (auto a = gw->doc.find("antennas"); a != gw->doc.end() && a->is_array() && !a->empty() && (*a)[0].contains("gain") &&
                                                           (*a)[0]["gain"].is_number())
                        gain = static_cast<int>((*a)[0]["gain"].get<double>());
                } else if (!options_.fallback_frequency_plan.empty()) {
                    if (auto p = proto::frequency_plan_by_id(options_.fallback_frequency_plan)) plans.push_back(*p);
                }
                proto::router_config_options o;
                o.production = proto::is_production(m);
                o.mux_time = mux_time(now);
                o.antenna_gain = gain;
                auto rc = proto::encode_router_config(plans, o);
                if (!rc) {
                    out = close_session_locked(s, "pkg/gatewayserver/io/semtechws/lbslns:router_config");
                    return;
                }
                s.router_config_sent = true;
                s.next_timesync = now + jittered(rng_, options_.time_sync_interval, 0.10);
                (void)state_.record_status(s.gateway_id, now,
                                           {{"versions", {{"station", m.station}, {"firmware", m.firmware.value_or("")}, {"package", m.package.value_or("")}, {"model", m.model}}}});
                {
                    // lbslns hands the version to the Gateway Server as a GatewayStatus: gs.status.receive.
                    nlohmann::ordered_json versions;
                    versions["firmware"] = m.firmware.value_or("");
                    versions["model"] = m.model;
                    versions["package"] = m.package.value_or("");
                    versions["station"] = m.station;
                    nlohmann::ordered_json status;
                    status["time"] = format_time(now);
                    status["versions"] = std::move(versions);
                    event e = gs_event(s, "gs.status.receive");
                    e.correlation_ids.push_back("gs:status:" + state_.events().new_id());
                    e.with_data("ttn.lorawan.v3.GatewayStatus", status);
                    state_.events().publish(std::move(e));
                }
                out.push_back({lns_action::kind::send_text, s.id, std::move(*rc), {}});
            } else if constexpr (std::is_same_v<T, proto::updf_msg> || std::is_same_v<T, proto::jreq_msg>) {
                ++s.uplinks;
                if (s.registered) (void)state_.record_uplink(s.gateway_id, now);
                {
                    // gs.up.receive with an abbreviated GatewayUplinkMessage (received_at, the receiving gateway).
                    nlohmann::ordered_json rx;
                    rx["gateway_ids"] = nlohmann::ordered_json{{"gateway_id", s.gateway_id}, {"eui", s.eui.hex()}};
                    nlohmann::ordered_json up;
                    up["rx_metadata"] = nlohmann::ordered_json::array({rx});
                    up["received_at"] = format_time(now);
                    event e = gs_event(s, "gs.up.receive");
                    e.correlation_ids.push_back("gs:uplink:" + state_.events().new_id());
                    e.with_data("ttn.lorawan.v3.GatewayUplinkMessage", nlohmann::ordered_json{{"message", up}});
                    state_.events().publish(std::move(e));
                }
            } else if constexpr (std::is_same_v<T, proto::dntxed_msg>) {
                if (s.registered) (void)state_.record_tx_ack(s.gateway_id, now);
            } else if constexpr (std::is_same_v<T, proto::timesync_request>) {
                s.station_timesync = true;
                const auto gps_epoch_offset = std::chrono::seconds(315964800 - 18);  // GPS epoch, leap seconds as of 2017
                const auto gps_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch() - gps_epoch_offset).count();
                out.push_back({lns_action::kind::send_text, s.id, proto::encode_downstream(proto::tts_timesync_reply(m, gps_us, mux_time(now))), {}});
            }
        },
        *msg);
    return out;
}

std::vector<lns_action> lns_server::on_pong(session_id sid) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(sid); it != sessions_.end()) {
        it->second->missed_pongs = 0;
        ++it->second->pongs;
    }
    return {};
}

void lns_server::on_closed(session_id sid) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(sid); it != sessions_.end()) (void)close_session_locked(*it->second, {});
}

std::vector<lns_action> lns_server::take_pending() {
    std::lock_guard lock(mu_);
    return std::exchange(pending_, {});
}

std::vector<lns_action> lns_server::tick() {
    std::lock_guard lock(mu_);
    std::vector<lns_action> out = std::exchange(pending_, {});
    const auto now = state_.clock().now();
    std::vector<session_id> ids;
    for (const auto& [id, s] : sessions_) ids.push_back(id);
    for (session_id id : ids) {
        auto it = sessions_.find(id);
        if (it == sessions_.end()) continue;
        session& s = *it->second;
        // Periodic re-read of the gateway with the connection's own credentials.
        if (now >= s.next_reread && s.registered) {
            s.next_reread = now + jittered(rng_, options_.reread_interval, 0.20);
            auto gw = state_.get_gateway(s.gateway_id);
            if (!gw) {
                auto acts = close_session_locked(s, gw.err().full_name());
                out.insert(out.end(), acts.begin(), acts.end());
                continue;
            }
            if (s.auth) {
                if (auto ok = state_.authorize_gateway(s.auth, s.gateway_id, rights{right::gateway_link}, true); !ok) {
                    auto acts = close_session_locked(s, ok.err().full_name());
                    out.insert(out.end(), acts.begin(), acts.end());
                    continue;
                }
            }
            if (settings_fingerprint(*gw) != s.settings) {
                auto acts = close_session_locked(s, "pkg/gatewayserver:gateway_changed");
                out.insert(out.end(), acts.begin(), acts.end());
                continue;
            }
        }
        // Pings: count a miss before each ping; drop after too many once a pong was ever seen.
        if (now >= s.next_ping) {
            s.next_ping = now + s.ping_period;
            ++s.missed_pongs;
            if (s.missed_pongs > options_.missed_pong_threshold && s.pongs > 0) {
                auto acts = close_session_locked(s, "pkg/gatewayserver/io/semtechws:missed_too_many_pongs");
                out.insert(out.end(), acts.begin(), acts.end());
                continue;
            }
            out.push_back({lns_action::kind::ping, s.id, {}, {}});
        }
        // Periodic time transfer after version, until the station sends its own timesync.
        if (s.router_config_sent && !s.station_timesync && now >= s.next_timesync) {
            s.next_timesync = now + jittered(rng_, options_.time_sync_interval, 0.10);
            out.push_back({lns_action::kind::send_text, s.id, proto::encode_downstream(proto::tts_timesync_transfer(mux_time(now))), {}});
        }
    }
    return out;
}

std::vector<lns_session_info> lns_server::sessions() const {
    std::lock_guard lock(mu_);
    std::vector<lns_session_info> out;
    for (const auto& [id, s] : sessions_)
        out.push_back({s->id, s->gateway_id, s->eui, s->version_received, s->router_config_sent, s->uplinks, s->ping_period, s->missed_pongs, s->pongs});
    return out;
}

}  // namespace ttig::emu
