// serve: the CUPS and LNS listeners, the per-station policies, the relay to a The Things Stack LNS.
#include <ttig/provision/serve.hpp>

#include <ttig/net/server.hpp>
#include <ttig/net/ws_client.hpp>
#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/proto/router_config.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <variant>

namespace ttig::provision {

namespace {

// A host as it appears in a URI (IPv6 in brackets).
std::string uri_host(std::string_view h) { return h.find(':') != std::string_view::npos ? fmt::format("[{}]", h) : std::string(h); }

bool is_loopback(std::string_view a) { return a.starts_with("127.") || a == "::1"; }

// The redacted key of an Authorization header ("Bearer " and all), or null when there is none.
nlohmann::ordered_json auth_of(const proto::http_request& req) {
    auto a = req.headers.get("Authorization");
    if (!a || a->empty()) return nullptr;
    std::string_view v = *a;
    if (v.starts_with("Bearer ")) v.remove_prefix(7);
    return tts::redact_key(v);
}

// scheme://host:port of a URI (a station ignores the path of tc.uri; so does the relay).
std::string origin_of(std::string_view uri) {
    const auto scheme_end = uri.find("://");
    if (scheme_end == std::string_view::npos) return std::string(uri);
    const auto slash = uri.find('/', scheme_end + 3);
    return std::string(uri.substr(0, slash));
}

nlohmann::ordered_json cred_json(const proto::bytes& blob, std::uint32_t station_crc) {
    if (blob.empty()) return nullptr;
    nlohmann::ordered_json j;
    j["bytes"] = blob.size();
    j["crc"] = station_crc;
    return j;
}

nlohmann::ordered_json radio_json(const proto::radio_metadata& m) {
    nlohmann::ordered_json j;
    j["DR"] = m.dr;
    j["Freq"] = m.freq;
    j["rssi"] = m.upinfo.rssi;
    j["snr"] = m.upinfo.snr;
    j["xtime"] = m.upinfo.xtime;
    return j;
}

void merge(nlohmann::ordered_json& into, const nlohmann::ordered_json& from) {
    for (auto it = from.begin(); it != from.end(); ++it) into[it.key()] = it.value();
}

}  // namespace

struct relay_link;

// One traffic WebSocket of a station on serve's LNS.
struct lns_session {
    std::uint64_t id = 0;
    proto::eui64 eui;
    net::ws_connection conn;
    std::string remote;
    serve_policy policy = serve_policy::capture;
    proto::time_point opened{}, next_ping{};
    std::optional<proto::time_point> ping_sent;
    std::uint64_t pings = 0;
    std::shared_ptr<relay_link> relay;
};

struct serve_server::core : std::enable_shared_from_this<serve_server::core> {
    boost::asio::any_io_executor ex;
    const proto::clock* clock = nullptr;
    serve_options opts;
    serve_pki pki;
    serve_endpoints ep;
    const proto::frequency_plan* plan = nullptr;
    std::unique_ptr<net::server> server;
    event_sink sink;
    std::mutex sink_mu;
    mutable std::mutex mu;  // stations, sessions
    std::map<proto::eui64, station_status> stations;
    std::map<std::uint64_t, std::shared_ptr<lns_session>> sessions;
    std::uint64_t next_session = 1;
    std::atomic<bool> stopped{false};

    const station_settings& settings_for(proto::eui64 eui) const {
        auto it = opts.stations.find(eui);
        return it == opts.stations.end() ? opts.defaults : it->second;
    }

    serve_event make(serve_event_kind kind, std::optional<proto::eui64> eui, std::string remote, nlohmann::ordered_json data = nlohmann::ordered_json::object()) const {
        serve_event e;
        e.time = clock->now();
        e.kind = kind;
        e.station = eui;
        e.remote = std::move(remote);
        e.data = std::move(data);
        return e;
    }

    void note(const serve_event& e) {
        if (!e.station) return;
        std::lock_guard lock(mu);
        auto [it, fresh] = stations.try_emplace(*e.station);
        station_status& s = it->second;
        if (fresh) {
            s.eui = *e.station;
            s.first_seen = e.time;
        }
        s.policy = settings_for(*e.station).policy;
        s.last_seen = e.time;
        const auto& d = e.data;
        auto str = [&](const char* k) -> std::string { return d.contains(k) && d[k].is_string() ? d[k].get<std::string>() : std::string(); };
        switch (e.kind) {
            case serve_event_kind::cups_request:
                ++s.cups_requests;
                if (!s.connected) s.phase = "cups";
                if (!str("model").empty()) s.model = str("model");
                if (!str("station").empty()) s.station = str("station");
                break;
            case serve_event_kind::cups_answer:
                if (!s.connected) s.phase = d.contains("cupsUri") && !d["cupsUri"].is_null() ? "handed-over" : "cups";
                break;
            case serve_event_kind::lns_discovery: s.phase = "discovery"; break;
            case serve_event_kind::lns_connect:
                s.phase = "connected";
                s.connected = true;
                break;
            case serve_event_kind::version:
                if (!str("model").empty()) s.model = str("model");
                if (!str("station").empty()) s.station = str("station");
                break;
            case serve_event_kind::uplink: ++s.uplinks; break;
            case serve_event_kind::downlink: ++s.downlinks; break;
            case serve_event_kind::ping: ++s.pings; break;
            case serve_event_kind::pong: ++s.pongs; break;
            case serve_event_kind::relay:
                if (str("state") == "connected") s.phase = "relaying";
                break;
            case serve_event_kind::disconnect:
                s.phase = "disconnected";
                s.connected = false;
                break;
            default: break;
        }
        std::string text = to_text(e);
        // Drop "HH:MM:SS EUI " in front.
        auto sp = text.find(' ');
        if (sp != std::string::npos) sp = text.find(' ', sp + 1);
        s.last = sp == std::string::npos ? text : text.substr(sp + 1);
    }

    void emit(const serve_event& e) {
        note(e);
        std::lock_guard lock(sink_mu);
        if (sink) sink(e);
    }

    // The host a station should use for serve's LNS: the one it reached CUPS by, when it is one
    // of serve's names, else the bind address.
    std::string advertised_host(const proto::http_request& req) const {
        if (auto h = req.headers.get("Host"); h && !h->empty()) {
            auto a = proto::tts_parse_address("https", *h);
            if (a && (a->host == opts.bind || std::find(pki.names.begin(), pki.names.end(), a->host) != pki.names.end())) return a->host;
        }
        return opts.bind;
    }

    // ---- CUPS ----------------------------------------------------------------------------------

    proto::http_response handle_cups(const proto::http_request& req) {
        proto::http_response res;
        const std::string remote = req.remote_address;
        auto parsed = proto::tts_decode_update_info_request(req.body);
        if (!parsed) {
            nlohmann::ordered_json d;
            d["status"] = 400;
            d["reason"] = parsed.err().what();
            emit(make(serve_event_kind::cups_refused, std::nullopt, remote, std::move(d)));
            res.status = 400;
            res.headers.set("Content-Type", "text/plain; charset=utf-8");
            res.body = parsed.err().what() + "\n";
            return res;
        }
        const proto::update_info_request& r = *parsed;
        {
            nlohmann::ordered_json d;
            d["cupsUri"] = r.cups_uri ? nlohmann::ordered_json(*r.cups_uri) : nlohmann::ordered_json(nullptr);
            d["tcUri"] = r.tc_uri ? nlohmann::ordered_json(*r.tc_uri) : nlohmann::ordered_json(nullptr);
            d["cupsCredCrc"] = r.cups_cred_crc;
            d["tcCredCrc"] = r.tc_cred_crc;
            d["sigCrc"] = r.keys;
            d["station"] = r.station;
            d["model"] = r.model;
            d["package"] = r.package ? nlohmann::ordered_json(*r.package) : nlohmann::ordered_json(nullptr);
            d["auth"] = auth_of(req);
            d["tls"] = req.tls;
            emit(make(serve_event_kind::cups_request, r.router, remote, std::move(d)));
        }
        const station_settings& s = settings_for(r.router);
        proto::update_info_response out;
        std::uint32_t cups_crc = 0, tc_crc = 0;
        if (s.policy == serve_policy::handover) {
            const auto& h = s.handover;
            if (r.cups_uri.value_or("") != h.cups_uri) out.cups_uri = h.cups_uri;
            proto::bytes blob = proto::tts_token_blob(h.cups_trust, h.cups_key);
            cups_crc = proto::crc32(blob);
            if (cups_crc != r.cups_cred_crc) out.cups_cred = std::move(blob);
            if (!h.tc_uri.empty()) {
                if (r.tc_uri.value_or("") != h.tc_uri) out.tc_uri = h.tc_uri;
                if (h.tc_uri.starts_with("wss://")) {
                    proto::bytes tblob = proto::tts_token_blob(h.tc_trust, h.tc_key);
                    tc_crc = proto::crc32(tblob);
                    if (tc_crc != r.tc_cred_crc) out.tc_cred = std::move(tblob);
                }
            }
        } else {
            // capture and relay: the station's LNS is serve's own.
            const bool tls = ep.lns_port != 0;
            const std::string host = uri_host(advertised_host(req));
            const std::string tc_uri = tls ? fmt::format("wss://{}:{}", host, ep.lns_port) : fmt::format("ws://{}:{}", host, ep.ws_port);
            if (r.tc_uri.value_or("") != tc_uri) out.tc_uri = tc_uri;
            if (tls) {
                proto::credentials c{pki.ca_der, {}, {}};
                tc_crc = c.station_crc();
                if (tc_crc != r.tc_cred_crc) {
                    auto blob = proto::build_blob(c);
                    if (blob) out.tc_cred = std::move(*blob);
                }
            }
        }
        auto body = proto::encode_update_info_response(out, proto::cups_dialect::station);
        if (!body) {
            nlohmann::ordered_json d;
            d["status"] = 500;
            d["reason"] = body.err().what();
            emit(make(serve_event_kind::cups_refused, r.router, remote, std::move(d)));
            res.status = 500;
            res.body = body.err().what() + "\n";
            return res;
        }
        {
            nlohmann::ordered_json d;
            d["policy"] = std::string(to_string(s.policy));
            d["cupsUri"] = out.cups_uri.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(out.cups_uri);
            d["tcUri"] = out.tc_uri.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(out.tc_uri);
            d["cupsCred"] = cred_json(out.cups_cred, cups_crc);
            d["tcCred"] = cred_json(out.tc_cred, tc_crc);
            if (!out.cups_cred.empty()) d["cupsKey"] = tts::redact_key(s.handover.cups_key);
            if (!out.tc_cred.empty() && s.policy == serve_policy::handover) d["tcKey"] = tts::redact_key(s.handover.tc_key);
            d["bytes"] = body->size();
            d["no_change"] = out.no_change();
            emit(make(serve_event_kind::cups_answer, r.router, remote, std::move(d)));
        }
        res.status = 200;
        res.headers.set("Content-Type", "application/octet-stream");
        res.headers.set("Date", proto::format_http_date(std::chrono::time_point_cast<std::chrono::seconds>(clock->now())));
        res.body.assign(reinterpret_cast<const char*>(body->data()), body->size());
        return res;
    }

    // ---- LNS discovery -------------------------------------------------------------------------

    std::string handle_discovery(const proto::http_request& req, std::string_view text, const std::string& remote) {
        auto r = proto::decode_router_info_request(text);
        nlohmann::ordered_json d;
        d["tls"] = req.tls;
        d["auth"] = auth_of(req);
        if (!r) {
            d["error"] = r.err().detail;
            emit(make(serve_event_kind::lns_discovery, std::nullopt, remote, std::move(d)));
            return proto::encode_router_info_response(proto::tts_router_info_error(r.err().detail));
        }
        const std::string host(req.headers.get("Host").value_or(std::string_view{}));
        std::string uri = proto::tts_traffic_uri(req.tls ? "wss" : "ws", host, r->eui);
        d["uri"] = uri;
        emit(make(serve_event_kind::lns_discovery, r->eui, remote, std::move(d)));
        return proto::encode_router_info_response(proto::tts_router_info_response(*r, std::move(uri)));
    }

    // ---- LNS traffic ---------------------------------------------------------------------------

    std::variant<proto::http_response, net::ws_handlers> accept_traffic(const proto::http_request& req, net::ws_connection conn);
    void on_traffic_text(const std::shared_ptr<lns_session>& s, const std::string& text);
    void on_traffic_closed(std::uint64_t id, const net::ws_close_info& info);
    void tick();
    void stop();
};

// ---- relay ---------------------------------------------------------------------------------------

// A station's traffic carried to a The Things Stack LNS: discovery on its /router-info with the
// gateway's LNS key, then /traffic; station messages are queued until the traffic socket is up.
struct relay_link : std::enable_shared_from_this<relay_link> {
    std::weak_ptr<serve_server::core> owner;
    net::ws_connection station;
    proto::eui64 eui;
    std::string remote;
    relay_settings target;
    net::client_config cfg;
    std::chrono::milliseconds timeout{15000};
    boost::asio::any_io_executor ex;
    std::unique_ptr<net::ws_client> disc, traffic;
    std::mutex mu;
    std::deque<std::string> pending;
    bool started = false, up = false, over = false;

    void emit_state(std::string state, nlohmann::ordered_json extra = nlohmann::ordered_json::object()) {
        auto c = owner.lock();
        if (!c) return;
        nlohmann::ordered_json d;
        d["state"] = std::move(state);
        d["lns"] = origin_of(target.lns_uri);
        merge(d, extra);
        c->emit(c->make(serve_event_kind::relay, eui, remote, std::move(d)));
    }

    net::ws_connect_options connect_options() const {
        net::ws_connect_options o;
        o.headers = {"Authorization: " + target.lns_key};
        o.deadline = timeout;
        return o;
    }

    // Starts at the station's first message (its `version`), once the station's session is surely
    // open: a failure can then always drop it.
    void start() {
        {
            std::lock_guard lock(mu);
            if (started || over) return;
            started = true;
            disc = std::make_unique<net::ws_client>(ex, cfg);
        }
        emit_state("discovery");
        std::string url = origin_of(target.lns_uri) + "/router-info";
        disc->async_connect(std::move(url), connect_options(), [self = shared_from_this()](proto::result<proto::http_response> r) {
            if (!r) return self->fail("discovery: " + r.err().what());
            std::string msg = proto::encode_router_info_request({self->eui, {}});
            self->disc->async_send_text(std::move(msg), [self](proto::result<void> w) {
                if (!w) return self->fail("discovery: " + w.err().what());
                self->disc->async_read(self->timeout, [self](proto::result<net::ws_message> m) {
                    if (!m) return self->fail("discovery: " + m.err().what());
                    self->disc->drop();
                    auto info = proto::decode_router_info_response(m->data);
                    if (!info) return self->fail("discovery: " + (info.err().detail.empty() ? info.err().what() : info.err().detail));
                    self->open_traffic(info->uri);
                });
            });
        });
    }

    void open_traffic(const std::string& uri) {
        {
            std::lock_guard lock(mu);
            if (over) return;
            traffic = std::make_unique<net::ws_client>(ex, cfg);
        }
        traffic->async_connect(uri, connect_options(), [self = shared_from_this(), uri](proto::result<proto::http_response> r) {
            if (!r) return self->fail("traffic: " + r.err().what());
            {
                std::lock_guard lock(self->mu);
                if (self->over) return self->traffic->drop();
                self->up = true;
                // On the client's strand: these are queued in order, before any later message.
                while (!self->pending.empty()) {
                    self->traffic->async_send_text(std::move(self->pending.front()), [](proto::result<void>) {});
                    self->pending.pop_front();
                }
            }
            nlohmann::ordered_json d;
            d["uri"] = uri;
            self->emit_state("connected", std::move(d));
            self->read_next();
        });
    }

    void read_next() {
        traffic->async_read(std::chrono::milliseconds{0}, [self = shared_from_this()](proto::result<net::ws_message> m) {
            if (!m) return self->fail("the LNS closed the traffic connection: " + m.err().what());
            self->station.send_text(m->data);
            self->observe_downstream(m->data);
            self->read_next();
        });
    }

    void observe_downstream(const std::string& text) {
        auto c = owner.lock();
        if (!c) return;
        auto msg = proto::decode_downstream(text);
        if (!msg) return;
        if (auto* rc = std::get_if<proto::router_config>(&*msg)) {
            nlohmann::ordered_json d;
            d["source"] = "relay";
            d["region"] = rc->region;
            d["hwspec"] = rc->hwspec;
            d["freq_range"] = rc->freq_range;
            d["bytes"] = text.size();
            d["MuxTime"] = rc->mux_time;
            c->emit(c->make(serve_event_kind::router_config, eui, remote, std::move(d)));
        } else if (auto* dn = std::get_if<proto::dnmsg>(&*msg)) {
            nlohmann::ordered_json d;
            d["msgtype"] = "dnmsg";
            d["diid"] = dn->diid;
            d["dC"] = dn->dc;
            d["pdu_bytes"] = dn->pdu.size();
            if (dn->rx1_freq) d["RX1Freq"] = *dn->rx1_freq;
            if (dn->rx1_dr) d["RX1DR"] = *dn->rx1_dr;
            c->emit(c->make(serve_event_kind::downlink, eui, remote, std::move(d)));
        } else if (std::holds_alternative<proto::timesync_response>(*msg)) {
            nlohmann::ordered_json d;
            d["msgtype"] = "timesync";
            c->emit(c->make(serve_event_kind::downlink, eui, remote, std::move(d)));
        }
    }

    // A message from the station: to the LNS now, or once the traffic socket is up.
    void from_station(std::string text) {
        std::lock_guard lock(mu);
        if (over) return;
        if (!up) {
            if (pending.size() < 256) pending.push_back(std::move(text));
            return;
        }
        traffic->async_send_text(std::move(text), [](proto::result<void>) {});
    }

    // The relay cannot go on: the station is dropped (it reconnects, and a new relay starts).
    void fail(std::string reason) {
        if (!finish()) return;
        nlohmann::ordered_json d;
        d["reason"] = tts::redact_secrets(reason, target.lns_key);
        emit_state("failed", std::move(d));
        station.drop();
    }

    // The station went away (or serve stops).
    void stop(std::string_view why) {
        bool was_started = false;
        {
            std::lock_guard lock(mu);
            was_started = started;
        }
        if (!finish() || !was_started) return;
        nlohmann::ordered_json d;
        d["reason"] = std::string(why);
        emit_state("closed", std::move(d));
    }

    // Marks the link over and drops both client connections (ws_client::drop is thread-safe; the
    // clients are created once and live as long as the link). False when it was over already.
    bool finish() {
        net::ws_client *d = nullptr, *t = nullptr;
        {
            std::lock_guard lock(mu);
            if (over) return false;
            over = true;
            d = disc.get();
            t = traffic.get();
        }
        if (d) d->drop();
        if (t) t->drop();
        return true;
    }
};

std::variant<proto::http_response, net::ws_handlers> serve_server::core::accept_traffic(const proto::http_request& req, net::ws_connection conn) {
    const auto params = conn.params();
    const std::string id = params.empty() ? std::string() : params.front().second;
    auto e = proto::parse_eui(id);
    if (!e || !id.starts_with("eui-") || e->eui.is_zero()) {
        proto::http_response res;
        res.status = 400;
        res.headers.set("Content-Type", "text/plain; charset=utf-8");
        res.body = fmt::format("traffic path /traffic/{}: want eui-<16 hex digits>\n", id);
        return res;
    }
    auto s = std::make_shared<lns_session>();
    s->eui = e->eui;
    s->conn = conn;
    s->remote = req.remote_address;
    s->opened = clock->now();
    s->next_ping = s->opened + opts.ping_interval;
    const station_settings& st = settings_for(e->eui);
    s->policy = st.policy == serve_policy::relay ? serve_policy::relay : serve_policy::capture;
    {
        std::lock_guard lock(mu);
        s->id = next_session++;
        sessions[s->id] = s;
    }
    {
        nlohmann::ordered_json d;
        d["path"] = std::string(req.path());
        d["tls"] = req.tls;
        d["auth"] = auth_of(req);
        d["policy"] = std::string(to_string(s->policy));
        emit(make(serve_event_kind::lns_connect, s->eui, s->remote, std::move(d)));
    }
    if (s->policy == serve_policy::relay) {
        auto link = std::make_shared<relay_link>();
        link->owner = weak_from_this();
        link->station = conn;
        link->eui = s->eui;
        link->remote = s->remote;
        link->target = st.relay;
        link->cfg = opts.relay_client;
        link->timeout = opts.relay_timeout;
        link->ex = ex;
        s->relay = link;
    }
    net::ws_handlers h;
    const std::weak_ptr<core> weak = weak_from_this();
    const std::weak_ptr<lns_session> ws = s;
    h.on_text = [weak, ws](std::string text) {
        auto c = weak.lock();
        auto sess = ws.lock();
        if (c && sess && !c->stopped) c->on_traffic_text(sess, text);
    };
    h.on_pong = [weak, ws](std::string) {
        auto c = weak.lock();
        auto sess = ws.lock();
        if (!c || !sess) return;
        nlohmann::ordered_json d;
        {
            std::lock_guard lock(c->mu);
            const auto now = c->clock->now();
            d["rtt_ms"] = sess->ping_sent ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *sess->ping_sent).count() : 0;
            sess->ping_sent.reset();
        }
        c->emit(c->make(serve_event_kind::pong, sess->eui, sess->remote, std::move(d)));
    };
    const std::uint64_t sid = s->id;
    h.on_close = [weak, sid](const net::ws_close_info& info) {
        if (auto c = weak.lock()) c->on_traffic_closed(sid, info);
    };
    return h;
}

void serve_server::core::on_traffic_text(const std::shared_ptr<lns_session>& s, const std::string& text) {
    auto msg = proto::decode_upstream(text);
    if (s->relay) {
        s->relay->start();
        s->relay->from_station(text);
    }
    if (!msg) {
        nlohmann::ordered_json d;
        d["reason"] = msg.err().what();
        d["bytes"] = text.size();
        emit(make(serve_event_kind::protocol_error, s->eui, s->remote, std::move(d)));
        return;
    }
    const bool relayed = s->relay != nullptr;
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            nlohmann::ordered_json d;
            if constexpr (std::is_same_v<T, proto::version_msg>) {
                d["station"] = m.station;
                d["firmware"] = m.firmware ? nlohmann::ordered_json(*m.firmware) : nlohmann::ordered_json(nullptr);
                d["package"] = m.package ? nlohmann::ordered_json(*m.package) : nlohmann::ordered_json(nullptr);
                d["model"] = m.model;
                d["protocol"] = m.protocol;
                d["features"] = m.features;
                d["production"] = proto::is_production(m);
                emit(make(serve_event_kind::version, s->eui, s->remote, std::move(d)));
                if (relayed) return;
                proto::router_config_options o;
                o.production = proto::is_production(m);
                const auto ns = clock->now().time_since_epoch();
                const auto secs = std::chrono::duration_cast<std::chrono::seconds>(ns);
                o.mux_time = proto::tts_router_config_mux_time(secs.count(), (ns - secs).count());
                auto rc = proto::make_router_config(*plan, o);
                if (!rc) {
                    nlohmann::ordered_json err;
                    err["reason"] = rc.err().what();
                    emit(make(serve_event_kind::protocol_error, s->eui, s->remote, std::move(err)));
                    return;
                }
                std::string wire = proto::encode_router_config(*rc);
                nlohmann::ordered_json rd;
                rd["source"] = "serve";
                rd["region"] = rc->region;
                rd["frequency_plan"] = plan->id;
                rd["hwspec"] = rc->hwspec;
                rd["freq_range"] = rc->freq_range;
                rd["bytes"] = wire.size();
                rd["MuxTime"] = rc->mux_time;
                s->conn.send_text(std::move(wire));
                emit(make(serve_event_kind::router_config, s->eui, s->remote, std::move(rd)));
            } else if constexpr (std::is_same_v<T, proto::updf_msg>) {
                d["msgtype"] = "updf";
                d["DevAddr"] = fmt::format("{:08X}", static_cast<std::uint32_t>(m.dev_addr));
                d["FCnt"] = m.fcnt;
                d["FPort"] = m.fport;
                d["FCtrl"] = m.fctrl;
                d["payload_bytes"] = m.frm_payload.size() / 2;
                merge(d, radio_json(m.meta));
                emit(make(serve_event_kind::uplink, s->eui, s->remote, std::move(d)));
            } else if constexpr (std::is_same_v<T, proto::jreq_msg>) {
                d["msgtype"] = "jreq";
                d["JoinEui"] = m.join_eui.hex();
                d["DevEui"] = m.dev_eui.hex();
                d["DevNonce"] = m.dev_nonce;
                merge(d, radio_json(m.meta));
                emit(make(serve_event_kind::uplink, s->eui, s->remote, std::move(d)));
            } else if constexpr (std::is_same_v<T, proto::propdf_msg>) {
                d["msgtype"] = "propdf";
                d["payload_bytes"] = m.frm_payload.size() / 2;
                merge(d, radio_json(m.meta));
                emit(make(serve_event_kind::uplink, s->eui, s->remote, std::move(d)));
            } else if constexpr (std::is_same_v<T, proto::dntxed_msg>) {
                d["msgtype"] = "dntxed";
                d["diid"] = m.diid;
                d["DevEui"] = m.dev_eui.hex();
                d["DR"] = m.dr;
                d["Freq"] = m.freq;
                emit(make(serve_event_kind::uplink, s->eui, s->remote, std::move(d)));
            } else if constexpr (std::is_same_v<T, proto::timesync_request>) {
                d["txtime"] = m.txtime;
                d["answered"] = !relayed;
                if (!relayed) {
                    const auto now = clock->now();
                    const auto gps_epoch_offset = std::chrono::seconds(315964800 - 18);  // GPS epoch, leap seconds as of 2017
                    const auto gps_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch() - gps_epoch_offset).count();
                    const double mux = proto::tts_unix_seconds(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
                    s->conn.send_text(proto::encode_downstream(proto::tts_timesync_reply(m, gps_us, mux)));
                }
                emit(make(serve_event_kind::timesync, s->eui, s->remote, std::move(d)));
            } else {
                d["msgtype"] = m.msgtype;
                d["ignored"] = true;
                emit(make(serve_event_kind::uplink, s->eui, s->remote, std::move(d)));
            }
        },
        *msg);
}

void serve_server::core::on_traffic_closed(std::uint64_t id, const net::ws_close_info& info) {
    std::shared_ptr<lns_session> s;
    {
        std::lock_guard lock(mu);
        auto it = sessions.find(id);
        if (it == sessions.end()) return;
        s = it->second;
        sessions.erase(it);
    }
    if (s->relay) s->relay->stop("the station disconnected");
    nlohmann::ordered_json d;
    d["code"] = info.code;
    d["reason"] = info.error ? info.error->what() : info.reason;
    d["duration_s"] = std::chrono::duration_cast<std::chrono::seconds>(clock->now() - s->opened).count();
    emit(make(serve_event_kind::disconnect, s->eui, s->remote, std::move(d)));
}

void serve_server::core::tick() {
    if (stopped) return;
    const auto now = clock->now();
    std::vector<serve_event> out;
    {
        std::lock_guard lock(mu);
        for (auto& [id, s] : sessions) {
            if (now < s->next_ping) continue;
            s->next_ping = now + opts.ping_interval;
            if (!s->conn.ping()) continue;
            s->ping_sent = now;
            nlohmann::ordered_json d;
            d["n"] = ++s->pings;
            out.push_back(make(serve_event_kind::ping, s->eui, s->remote, std::move(d)));
        }
    }
    for (const auto& e : out) emit(e);
}

void serve_server::core::stop() {
    if (stopped.exchange(true)) return;
    if (server) server->stop();
    std::vector<std::shared_ptr<lns_session>> all;
    {
        std::lock_guard lock(mu);
        for (auto& [id, s] : sessions) all.push_back(s);
    }
    for (auto& s : all)
        if (s->relay) s->relay->stop("serve stopped");
}

// ---- serve_server ----------------------------------------------------------------------------------

serve_server::serve_server(std::shared_ptr<core> c) : core_(std::move(c)) {}
serve_server::~serve_server() { stop(); }

void serve_server::tick() { core_->tick(); }
void serve_server::stop() { core_->stop(); }
const serve_endpoints& serve_server::endpoints() const noexcept { return core_->ep; }
const serve_pki& serve_server::pki() const noexcept { return core_->pki; }
const station_settings& serve_server::settings_for(proto::eui64 eui) const { return core_->settings_for(eui); }

std::vector<station_status> serve_server::stations() const {
    std::lock_guard lock(core_->mu);
    std::vector<station_status> out;
    for (const auto& [eui, s] : core_->stations) out.push_back(s);
    return out;
}

proto::result<std::unique_ptr<serve_server>> serve_server::start(boost::asio::io_context& ioc, const proto::clock& clock, serve_options options,
                                                                  event_sink sink) {
    if (auto b = check_bind_address(options.bind); !b) return b.err();
    if (auto v = validate(options.defaults, "default"); !v) return v.err();
    for (const auto& [eui, s] : options.stations)
        if (auto v = validate(s, eui.hex()); !v) return v.err();
    auto plan = proto::frequency_plan_by_id(options.frequency_plan);
    if (!plan) return plan.err();
    if (options.ping_interval.count() <= 0) options.ping_interval = std::chrono::seconds(30);

    auto c = std::make_shared<core>();
    c->ex = ioc.get_executor();
    c->clock = &clock;
    c->plan = *plan;
    c->sink = std::move(sink);

    std::vector<std::string> names{options.bind};
    if (is_loopback(options.bind)) names.emplace_back("localhost");
    for (const auto& n : options.names) names.push_back(n);
    auto pki = prepare_pki(options.state_dir, std::move(names));
    if (!pki) return pki.err();
    c->pki = std::move(*pki);
    c->opts = std::move(options);

    net::tls_server_config tls;
    tls.cert_chain_pem = c->pki.server_cert_pem;
    tls.key_pem = c->pki.server_key_pem;
    c->server = std::make_unique<net::server>(ioc);
    const std::weak_ptr<core> weak = c;
    c->server->handle("POST", "/update-info", [weak](proto::http_request req, net::responder r) {
        auto cr = weak.lock();
        if (!cr || cr->stopped) return r.reset();
        r.send(cr->handle_cups(req));
    });
    c->server->handle_ws("/router-info", [weak](const proto::http_request& req, net::ws_connection conn) -> std::variant<proto::http_response, net::ws_handlers> {
        net::ws_handlers h;
        auto answered = std::make_shared<std::atomic<bool>>(false);
        h.on_text = [weak, req, conn, answered](std::string text) {
            auto cr = weak.lock();
            if (!cr || cr->stopped || answered->exchange(true)) return;
            conn.send_text(cr->handle_discovery(req, text, req.remote_address));
            conn.drop();  // as TTS: one reply, then the TCP connection is closed without a close frame
        };
        return h;
    });
    c->server->handle_ws("/traffic/{id}", [weak](const proto::http_request& req, net::ws_connection conn) -> std::variant<proto::http_response, net::ws_handlers> {
        auto cr = weak.lock();
        if (!cr || cr->stopped) return proto::http_response{503, {}, {}};
        return cr->accept_traffic(req, conn);
    });

    const std::string& bind = c->opts.bind;
    auto cups_port = c->server->listen(net::listener_config{bind, c->opts.cups_port, tls});
    if (!cups_port) return cups_port.err();
    c->ep.cups_port = *cups_port;
    auto lns_port = c->server->listen(net::listener_config{bind, c->opts.lns_port, tls});
    if (!lns_port) return lns_port.err();
    c->ep.lns_port = *lns_port;
    if (c->opts.ws_port) {
        auto ws_port = c->server->listen(net::listener_config{bind, *c->opts.ws_port, std::nullopt});
        if (!ws_port) return ws_port.err();
        c->ep.ws_port = *ws_port;
    }
    const std::string host = uri_host(bind);
    c->ep.cups_uri = fmt::format("https://{}:{}", host, c->ep.cups_port);
    c->ep.lns_uri = fmt::format("wss://{}:{}", host, c->ep.lns_port);
    if (c->ep.ws_port) c->ep.ws_uri = fmt::format("ws://{}:{}", host, c->ep.ws_port);
    c->ep.ca_file = c->pki.ca_file;
    return std::unique_ptr<serve_server>(new serve_server(std::move(c)));
}

}  // namespace ttig::provision
