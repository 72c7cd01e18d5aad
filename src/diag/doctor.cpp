#include <ttig/diag/doctor.hpp>

#include <ttig/net/host_map.hpp>
#include <ttig/net/probe.hpp>
#include <ttig/net/ws_client.hpp>
#include <ttig/pki/x509.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/http.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/station/file_set.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/tts/redact.hpp>

#include <boost/asio/io_context.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>

namespace ttig::diag {

namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

// Per-probe limits of the catalogue's probe table (§4).
constexpr ms api_limit = 15s, ws_limit = 20s, tls_limit = 15s, cups_limit = 25s;

std::string rfc3339(proto::time_point t) {
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(t));
}

// The key ID of a TTS token "NNSXS.<ID>.<secret>" (public), or "".
std::string key_id_of(std::string_view token) {
    if (auto p = token.find("Bearer "); p == 0) token.remove_prefix(7);
    const auto a = token.find('.');
    if (a == std::string_view::npos) return {};
    const auto b = token.find('.', a + 1);
    if (b == std::string_view::npos) return {};
    return std::string(token.substr(a + 1, b - a - 1));
}

std::string host_of_url(const std::string& url) {
    auto u = net::parse_url(url);
    return u ? u->host : std::string{};
}

bool is_tts_cloud_host(std::string_view host) {
    return host.ends_with(".cloud.thethings.network") || host.ends_with(".cloud.thethings.industries");
}

// Everything the probes share, guarded by one mutex (probes run on several threads).
struct run_state {
    const doctor_options& o;
    const proto::clock& clock;
    steady::time_point start = steady::now();
    steady::time_point deadline;
    std::mutex mu;
    report rep;
    std::atomic<std::size_t> api_calls{0};
    double p2_ms = 100;  // P2's duration, sizes the events window

    run_state(const doctor_options& opts, const proto::clock& c) : o(opts), clock(c) { deadline = start + o.timeout; }

    ms left(ms limit) const {
        const auto rest = std::chrono::duration_cast<ms>(deadline - steady::now());
        return std::max(ms{1}, std::min(limit, rest));
    }
    double since_start(steady::time_point t) const { return std::chrono::duration<double, std::milli>(t - start).count(); }

    void add(atom a) {
        std::lock_guard lock(mu);
        for (auto& p : rep.probes)
            if (p.id == a.probe) p.atoms.push_back(a.id);
        rep.atoms.push_back(std::move(a));
    }
    void add(std::string id, std::string by, std::string detail) { add(atom{std::move(id), std::move(by), std::move(detail)}); }
    std::string redact(std::string_view text) const {
        std::string out = tts::redact_secrets(text, o.api_key);
        if (o.cups_key) out = tts::redact_secrets(out, *o.cups_key);
        if (o.lns_key) out = tts::redact_secrets(out, *o.lns_key);
        return out;
    }

    // A probe in progress: its record is added when it finishes.
    struct probe {
        run_state& rs;
        probe_record rec;
        steady::time_point t0 = steady::now();
        probe(run_state& r, std::string id, std::string title, std::string target) : rs(r) {
            rec.id = std::move(id);
            rec.title = std::move(title);
            rec.target = r.redact(target);
            rec.started_ms = r.since_start(t0);
        }
        void line(std::string_view l) {
            if (rs.o.verbose) rec.exchange.push_back(rs.redact(l));
        }
        void finish(std::string outcome, bool ok) {
            rec.duration_ms = rs.since_start(steady::now()) - rec.started_ms;
            rec.outcome = rs.redact(outcome);
            rec.ok = ok;
            std::lock_guard lock(rs.mu);
            rs.rep.probes.push_back(std::move(rec));
        }
    };

    tts::client_options client_options(const std::string& base, ms limit, const std::string& key) const {
        auto c = doctor_client_options(o, base, left(limit), key);
        c.clock = &clock;
        return c;
    }
    net::client_config net_config() const { return doctor_net_config(o); }
};

// The outcome text of a TTS call: "200" or "<status> <ns:name>" or the transport error.
template <class R>
std::string outcome_of(const R& r) {
    if (r) return "200";
    if (const auto* e = r.api()) return fmt::format("{} {}", e->http_status, e->named() ? e->full_name() : e->text());
    return r.err().what();
}

template <class R>
bool is_transport_failure(const R& r) {
    return !r && !r.api();
}

template <class R>
void note_429(run_state& rs, const R& r, const std::string& probe) {
    if (const auto* e = r ? nullptr : r.api(); e && e->http_status == 429)
        rs.add("any.429", probe, fmt::format("HTTP 429 {} (retry after {} s)", e->full_name(), e->retry_after().count()));
}

bool hex_eui_form(proto::eui_form f) {
    using F = proto::eui_form;
    return f == F::hex || f == F::dashed || f == F::colon || f == F::id6 || f == F::ttig_label;
}

// ---- P2 / P3: the record ----------------------------------------------------------------------

void record_atoms(run_state& rs, const tts::gateway& g) {
    const auto now = rs.clock.now();
    rs.add("record.found", "P2", fmt::format("gateway {} exists", g.ids.gateway_id));
    if (g.created_at && now - *g.created_at < 24h)
        rs.add("record.recent", "P2", fmt::format("created {}", rfc3339(*g.created_at)));
    const bool secret = g.lbs_lns_secret && !g.lbs_lns_secret->value.empty();
    if (secret)
        rs.add("record.lns_secret.present", "P2", fmt::format("lbs_lns_secret holds key {}", key_id_of(g.lbs_lns_secret->value)));
    else
        rs.add("record.lns_secret.absent", "P2", "lbs_lns_secret is empty");
    if (g.require_authenticated_connection) rs.add("record.auth_required", "P2", "require_authenticated_connection=true");
    if (!g.require_authenticated_connection && !secret && g.target_cups_uri.empty())
        rs.add("record.manual_defaults", "P2", "no authentication required, no LNS key, no target CUPS: the manual form's defaults");
    if (g.gateway_server_address.empty()) rs.add("record.gs_address.empty", "P2", "gateway_server_address is empty (Status unknown)");
    else if (!proto::tts_parse_address("wss", g.gateway_server_address))
        rs.add("record.gs_address.invalid", "P2", fmt::format("gateway_server_address '{}' does not parse", g.gateway_server_address));
    // TTS reads an empty plan list back as [""] (strings.Split("", " ")).
    if (std::all_of(g.frequency_plan_ids.begin(), g.frequency_plan_ids.end(), [](const std::string& f) { return f.empty(); }))
        rs.add("record.fp.empty", "P2", "frequency_plan_ids is empty");
    if (!g.target_cups_uri.empty()) rs.add("record.target_cups.uri", "P2", fmt::format("target_cups_uri = {}", g.target_cups_uri));
    if (g.target_cups_key && !g.target_cups_key->value.empty())
        rs.add("record.target_cups.key", "P2", fmt::format("target_cups_key holds key {}", key_id_of(g.target_cups_key->value)));
    auto seen = g.attributes.find("cups-last-seen");
    if (seen == g.attributes.end()) {
        rs.add("attr.cups_last_seen.absent", "P2", "no cups-last-seen attribute: TTS CUPS never answered this gateway");
    } else {
        auto t = tts::parse_time(seen->second);
        if (!t) {
            rs.add("attr.cups_last_seen.absent", "P2", fmt::format("cups-last-seen '{}' is not a time", seen->second));
        } else if (now - *t > 25h) {
            rs.add("attr.cups_last_seen.stale", "P2", fmt::format("cups-last-seen {} (more than 25 h ago)", seen->second));
        } else {
            rs.add("attr.cups_last_seen.fresh", "P2", fmt::format("cups-last-seen {}", seen->second));
        }
        if (t && g.created_at && *t < *g.created_at)
            rs.add("attr.cups_last_seen.before_created", "P2", "cups-last-seen is older than the record");
    }
}

// ---- P5: API keys ------------------------------------------------------------------------------

void key_atoms(run_state& rs, const tts::gateway& g, const std::vector<tts::api_key>& keys) {
    const auto now = rs.clock.now();
    auto has = [](const tts::api_key& k, std::string_view r) {
        return std::find(k.rights.begin(), k.rights.end(), r) != k.rights.end() ||
               std::find(k.rights.begin(), k.rights.end(), "RIGHT_GATEWAY_ALL") != k.rights.end();
    };
    if (g.lbs_lns_secret && !g.lbs_lns_secret->value.empty()) {
        const std::string id = key_id_of(g.lbs_lns_secret->value);
        auto it = std::find_if(keys.begin(), keys.end(), [&](const tts::api_key& k) { return k.id == id; });
        if (it == keys.end()) rs.add("keys.lns.missing", "P5", fmt::format("the key in lbs_lns_secret ({}) is not among the gateway's keys", id));
        else if (it->expires_at && *it->expires_at <= now)
            rs.add("keys.lns.expired", "P5", fmt::format("the LNS key {} expired {}", id, rfc3339(*it->expires_at)));
        else if (!has(*it, "RIGHT_GATEWAY_LINK"))
            rs.add("keys.lns.no_link", "P5", fmt::format("the LNS key {} lacks RIGHT_GATEWAY_LINK", id));
    }
    const bool cups_capable = std::any_of(keys.begin(), keys.end(), [&](const tts::api_key& k) {
        return (!k.expires_at || *k.expires_at > now) && has(k, "RIGHT_GATEWAY_INFO") && has(k, "RIGHT_GATEWAY_SETTINGS_BASIC") &&
               has(k, "RIGHT_GATEWAY_READ_SECRETS");
    });
    if (!cups_capable) rs.add("keys.cups.none", "P5", "no key with INFO + SETTINGS_BASIC + READ_SECRETS: no CUPS key left");
    const bool default_names = std::all_of(keys.begin(), keys.end(), [](const tts::api_key& k) {
        return k.name.starts_with("cups-api-key-") || k.name.starts_with("lns-api-key-");
    });
    if (default_names) rs.add("keys.default_names_only", "P5", keys.empty() ? "the gateway has no API keys" : "only the Console's default key names");
    if (!keys.empty() && g.created_at &&
        std::all_of(keys.begin(), keys.end(), [&](const tts::api_key& k) { return k.created_at && *k.created_at > *g.created_at + 1h; }))
        rs.add("keys.newer_than_record", "P5", "every key is more than an hour newer than the record");
}

// ---- P6: connection stats ----------------------------------------------------------------------

void stats_atoms(run_state& rs, const tts::result<tts::connection_stats>& r, bool home) {
    if (!home) {
        if (r && r->connected()) rs.add("stats.other_cluster.connected", "P6", "connected on another cluster of the deployment");
        return;
    }
    if (r) {
        if (r->connected()) {
            rs.add("stats.connected", "P6", fmt::format("connected since {} from {}", rfc3339(*r->connected_at), r->remote_ip));
            const auto now = rs.clock.now();
            if (!r->last_uplink_received_at || now - *r->last_uplink_received_at > 1h)
                rs.add("stats.last_uplink.old", "P6",
                       r->last_uplink_received_at ? fmt::format("last uplink {}", rfc3339(*r->last_uplink_received_at)) : "no uplink since it connected");
            if (r->round_trip_times.is_object() && r->round_trip_times.contains("max")) {
                auto d = r->round_trip_times["max"];
                if (d.is_string() && d.get<std::string>().size() > 1) {
                    const std::string s = d.get<std::string>();
                    if (s.ends_with("s") && !s.ends_with("ms") && std::atof(s.c_str()) > 1.0)
                        rs.add("stats.rtt.high", "P6", fmt::format("round trip max {}", s));
                }
            }
        } else if (r->disconnected_at) {
            rs.add("stats.disconnected_at", "P6", fmt::format("disconnected at {}", rfc3339(*r->disconnected_at)));
        }
    } else if (const auto* e = r.api(); e && e->http_status == 404) {
        rs.add("stats.404", "P6", "not connected to the Gateway Server (404 not_connected)");
    }
}

// ---- P7: events --------------------------------------------------------------------------------

void event_atoms(run_state& rs, const tts::events_read& ev) {
    int connects = 0, disconnects = 0;
    bool missed_pongs = false;
    std::set<std::string> seen;
    for (const auto& e : ev.events) {
        std::string detail;
        if (e.name == "gs.gateway.connect") ++connects;
        if (e.name == "gs.gateway.disconnect") {
            ++disconnects;
            std::string name = "io_error";
            if (e.data.is_object() && e.data.contains("name") && e.data["name"].is_string()) name = e.data["name"].get<std::string>();
            detail = name;
            if (name == "missed_too_many_pongs") missed_pongs = true;
            const std::string atom = "event.disconnect." + name;
            if (seen.insert(atom).second)
                rs.add(atom, "P7", fmt::format("gs.gateway.disconnect with {} at {}", name, e.time ? rfc3339(*e.time) : "?"));
        }
        // A gateway.update that only wrote attributes is TTS CUPS recording cups-last-seen, not a
        // settings change.
        bool attributes_only = false;
        if (e.name == "gateway.update" && e.value().is_array() && !e.value().empty())
            attributes_only = std::all_of(e.value().begin(), e.value().end(),
                                          [](const nlohmann::json& p) { return p.is_string() && p.get<std::string>().starts_with("attributes"); });
        if (e.name.starts_with("gateway.") && !attributes_only) {
            const std::string atom = "event.registry." + e.name;
            if (e.name == "gateway.api-key.delete" || e.name == "gateway.update" || e.name == "gateway.delete" || e.name == "gateway.create")
                if (seen.insert(atom).second)
                    rs.add(atom, "P7", fmt::format("{} at {}", e.name, e.time ? rfc3339(*e.time) : "?"));
        }
        std::lock_guard lock(rs.mu);
        rs.rep.events.push_back({e.time ? rfc3339(*e.time) : "", e.name, rs.redact(detail)});
    }
    if (ev.events.empty()) rs.add("event.tail.empty", "P7", "no gateway event in the last 24 h");
    if (std::min(connects, disconnects) >= 3)
        rs.add("event.connect_disconnect.pairs", "P7", fmt::format("{} connects and {} disconnects in the tail", connects, disconnects));
    if (connects > 0 && !missed_pongs) rs.add("event.tail.no_missed_pongs", "P7", "connections, but never missed_too_many_pongs");
}

// ---- P9 / P10: TCP and TLS as the gateway would connect ----------------------------------------

void tls_probe(run_state& rs, const std::string& role, const std::string& host, const std::string& port) {
    const std::string url = fmt::format("https://{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host, port);
    run_state::probe p(rs, "P10", role == "lns" ? "TLS to the LNS" : "TLS to the API and CUPS", url);
    net::probe_options po;
    po.client = rs.net_config();
    po.client.tls.insecure = false;  // the chain is always checked here; nothing is sent
    po.deadline = rs.left(tls_limit);
    if (role == "api") {  // P0 rides on it: the server's Date header against this host's clock
        proto::http_request req;
        req.method = "GET";
        req.target = "/api/v3/auth_info";
        po.request = std::move(req);
        ++rs.api_calls;
    }
    const auto r = net::probe(url, po);
    if (r.response)
        if (auto date = r.response->headers.get("Date"))
            if (auto server = proto::parse_http_date(*date)) {
                const auto local = std::chrono::time_point_cast<std::chrono::seconds>(rs.clock.now());
                const auto skew = local > *server ? local - *server : *server - local;
                if (skew > std::chrono::minutes(5))
                    rs.add("clock.skew", "P0", fmt::format("this host's clock is {} s {} the server's (Date: {})", skew.count(),
                                                           local > *server ? "ahead of" : "behind", *date));
            }
    const std::string port_atom = role == "lns" ? "8887" : "443";
    tls_record t;
    t.role = role;
    t.target = fmt::format("{}:{}", host, port);
    t.version = r.tls_version;
    t.verify_ok = r.verify_ok;
    if (r.verify_error) t.error = r.verify_error->what();
    if (r.tls_ms) t.handshake_ms = *r.tls_ms;
    std::size_t chain_bytes = 0;
    for (const auto& der : r.chain_der) {
        chain_bytes += der.size();
        if (auto ci = pki::inspect_certificate(der))
            t.chain.push_back({{"subject", ci->subject}, {"issuer", ci->issuer}, {"key_type", ci->key_type}, {"not_after", ci->not_after}});
    }
    if (r.failed_phase == "dns") rs.add("dns.fail", "P8", fmt::format("{} does not resolve: {}", host, r.error ? r.error->what() : ""));
    else if (r.failed_phase == "tcp") rs.add("tcp." + port_atom + ".fail", "P9", fmt::format("TCP {} failed: {}", t.target, r.error ? r.error->what() : ""));
    else if (!r.chain_der.empty() && !r.verify_ok)
        rs.add("tls." + port_atom + ".verify_fail", std::string("P10"), fmt::format("{} chain does not verify: {}", t.target, t.error));
    if (role == "lns" && !r.chain_der.empty()) {
        if (chain_bytes > 6 * 1024) rs.add("tls.8887.big_chain", "P10", fmt::format("{} bytes of certificates", chain_bytes));
    }
    std::string outcome = r.failed_phase.empty() ? (r.verify_ok ? "verified " + r.tls_version : "not verified") : r.failed_phase + " failed";
    p.line(fmt::format("connected {} in {:.1f} ms", r.connected_address, r.tcp_ms.value_or(0)));
    for (const auto& c : t.chain) p.line(fmt::format("cert {} ({})", c.value("subject", ""), c.value("key_type", "")));
    {
        std::lock_guard lock(rs.mu);
        rs.rep.tls.push_back(std::move(t));
    }
    p.finish(outcome, r.failed_phase.empty() || r.failed_phase == "tls");
}

// ---- P11 / P12: CUPS ---------------------------------------------------------------------------

void cups_probe(run_state& rs, const std::string& cups_url, proto::eui64 eui, const std::optional<std::string>& key, const std::string& target_cups_uri) {
    const bool authed = key.has_value();
    const std::string pid = authed ? "P12" : "P11";
    run_state::probe p(rs, pid, authed ? "CUPS, authenticated (writes cups-last-seen)" : "CUPS, anonymous", "POST " + cups_url + "/update-info");
    auto u = net::parse_url(cups_url);
    proto::update_info_request req;
    req.router = eui;
    req.cups_uri = target_cups_uri.empty() && u ? fmt::format("https://{}", u->host_header()) : target_cups_uri;
    req.tc_uri = "";
    req.cups_cred_crc = 0;
    req.tc_cred_crc = 0;
    tts::client c(rs.client_options(cups_url, cups_limit, authed ? *key : std::string{}));
    tts::request_head h;
    h.rpc = "CUPS.UpdateInfo";
    h.http.method = "POST";
    h.http.target = "/update-info";
    h.http.body = proto::encode_update_info_request(req);
    p.line("> POST /update-info " + h.http.body);
    tts::call<proto::http_response> call{h, [](const proto::http_response& res) { return proto::result<proto::http_response>(res); }};
    auto r = c.run(call);
    if (!r) {
        const auto* e = r.api();
        p.line(fmt::format("< {}", outcome_of(r)));
        note_429(rs, r, pid);
        if (e && !authed) {
            if (e->http_status == 404 && e->is("pkg/identityserver/store:gateway_not_found_by_eui"))
                rs.add("cups.anon.404_not_found_by_eui", pid, "the EUI is not registered in this Identity Server");
            else if (e->http_status == 401)
                rs.add("cups.anon.401", pid, "the EUI is registered (by someone): CUPS asks for a key");
        } else if (e) {
            if (e->is("pkg/basicstation/cups:lns_credentials_not_found"))
                rs.add("cups.auth.404_lns_credentials", pid, "TTS CUPS: lns_credentials_not_found (lbs_lns_secret empty)");
            else if (e->is("pkg/basicstation/cups:server_trust"))
                rs.add("cups.auth.404_server_trust", pid, fmt::format("TTS CUPS cannot reach or verify the GS address: {}", rs.redact(e->root_cause().text())));
            else if (e->is("pkg/basicstation/cups:target_cups_credentials_not_found"))
                rs.add("cups.auth.404_target_cups", pid, "target_cups_uri set without target_cups_key");
            else if (e->http_status == 401)
                rs.add("cups.auth.401", pid, "the probe key was refused (no evidence about the gateway's own key)");
        }
        return p.finish(outcome_of(r), r.api() != nullptr);
    }
    if (!authed) {
        rs.add("cups.anon.200", pid, "CRITICAL: anonymous CUPS answered 200: the EUI may just have been auto-registered");
        return p.finish("200", true);
    }
    {
        std::lock_guard lock(rs.mu);
        rs.rep.side_effects.push_back("P12 updated attribute cups-last-seen");
    }
    const proto::bytes body(r->body.begin(), r->body.end());
    auto res = proto::decode_update_info_response(body, proto::cups_dialect::tts);
    if (!res) {
        p.line("< 200 undecodable: " + res.err().what());
        return p.finish("200, undecodable: " + res.err().what(), true);
    }
    p.line(fmt::format("< 200 cupsUri='{}' tcUri='{}' cupsCred {} B tcCred {} B", res->cups_uri, res->tc_uri, res->cups_cred.size(), res->tc_cred.size()));
    if (!res->tc_uri.empty() || !res->tc_cred.empty())
        rs.add("cups.auth.ok_lns", pid, fmt::format("TTS CUPS sends tcUri {} and LNS credentials", res->tc_uri.empty() ? "(unchanged)" : res->tc_uri));
    else if (!res->cups_uri.empty() || !res->cups_cred.empty())
        rs.add("cups.auth.ok_cups_only", pid, "TTS CUPS sends only CUPS data (redirect or key rotation): no LNS data while that lasts");
    p.finish("200", true);
}

// ---- P13: LNS discovery ------------------------------------------------------------------------

void discovery_probe(run_state& rs, const proto::tts_address& gs, proto::eui64 eui, const std::string& key) {
    const std::string url = gs.uri() + "/router-info";
    run_state::probe p(rs, "P13", "LNS discovery (/router-info, never /traffic)", url);
    boost::asio::io_context ioc;
    net::ws_client ws(ioc.get_executor(), rs.net_config());
    net::ws_connect_options wo;
    wo.headers = {"Authorization: " + key};
    wo.deadline = rs.left(ws_limit);
    std::string outcome = "no answer";
    bool ok = false;
    ws.async_connect(url, wo, [&](proto::result<proto::http_response> up) {
        if (!up) {
            const auto& refused = ws.handshake_response();
            if (refused && refused->status == 429) {
                rs.add("lnsinfo.429", "P13", "HTTP 429 at the upgrade: the LBS accept rate limit");
                rs.add("any.429", "P13", "HTTP 429 at the /router-info upgrade");
            }
            outcome = refused ? fmt::format("upgrade refused: HTTP {}", refused->status) : up.err().what();
            return;
        }
        const std::string msg = proto::encode_router_info_request({eui, {}});
        p.line("> " + msg);
        ws.async_send_text(msg, [&](proto::result<void>) {
            ws.async_read(rs.left(ws_limit), [&](proto::result<net::ws_message> m) {
                if (!m) {
                    outcome = m.err().what();
                    return;
                }
                ok = true;
                p.line("< " + m->data);
                auto j = nlohmann::json::parse(m->data, nullptr, false);
                const std::string err = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
                if (j.is_object() && j.contains("uri") && err.empty()) {
                    rs.add("lnsinfo.ok", "P13", fmt::format("/router-info accepted the LNS key: uri {}", j["uri"].is_string() ? j["uri"].get<std::string>() : "?"));
                    outcome = "uri";
                } else if (err == "Unauthorized") {
                    rs.add("lnsinfo.unauthorized", "P13", "/router-info: Unauthorized with the stored LNS key");
                    outcome = "Unauthorized";
                } else if (err.find("gateway_eui_not_registered") != std::string::npos) {
                    rs.add("lnsinfo.not_registered", "P13", "/router-info: the EUI is not registered");
                    outcome = "not registered";
                } else {
                    outcome = "error: " + err;
                }
                ws.drop();
            });
        });
    });
    ioc.run_for(rs.left(ws_limit) + 100ms);
    p.finish(outcome, ok);
}

// ---- the station's own file set (--station-dir) ----------------------------------------------

// The key ID inside a token file ("Authorization: Bearer NNSXS.<id>.<secret>\r\n"), or "".
std::string key_id_in(const std::optional<proto::bytes>& key) {
    if (!key) return {};
    std::string_view t(reinterpret_cast<const char*>(key->data()), key->size());
    if (auto p = t.find("Authorization:"); p != std::string_view::npos) t.remove_prefix(p + 14);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    if (auto e = t.find_first_of("\r\n"); e != std::string_view::npos) t = t.substr(0, e);
    return key_id_of(t);
}

void station_atoms(run_state& rs, const std::filesystem::path& dir, const std::optional<tts::gateway>& gw,
                   const std::optional<proto::tts_address>& gs, const std::vector<tts::api_key>& keys, bool keys_ok) {
    run_state::probe p(rs, "F1", "Station file set", dir.string());
    station::home h(dir);
    auto cups = h.read(station::category::cups, station::variant::regular);
    auto tc = h.read(station::category::tc, station::variant::regular);
    if (!cups || !tc) return p.finish((!cups ? cups.err() : tc.err()).what(), false);
    auto known = [&](const std::string& id) { return std::any_of(keys.begin(), keys.end(), [&](const tts::api_key& k) { return k.id == id; }); };
    const std::string cups_id = key_id_in(cups->key), tc_id = key_id_in(tc->key);
    p.line(fmt::format("cups.uri {} key {}; tc.uri {} key {}", cups->uri.value_or("-"), cups_id.empty() ? "-" : cups_id,
                       tc->uri.value_or("-"), tc_id.empty() ? "-" : tc_id));
    if (keys_ok && !cups_id.empty() && !known(cups_id))
        rs.add("station.cups_key.revoked", "F1", fmt::format("cups.key holds key {}, which the gateway no longer has: CUPS refuses the station", cups_id));
    if (keys_ok && !tc_id.empty() && !known(tc_id))
        rs.add("station.tc_key.revoked", "F1", fmt::format("tc.key holds key {}, which the gateway no longer has: the LNS refuses the station", tc_id));
    if (gs && tc->uri && !tc->uri->empty() && *tc->uri != gs->uri())
        rs.add("station.tc_uri.mismatch", "F1", fmt::format("tc.uri is {}, the record's Gateway Server is {}", *tc->uri, gs->uri()));
    (void)gw;
    // tc.trust against the root the LNS presents (recorded by P10; compared after the probes).
    p.finish("read", true);
}

}  // namespace

net::client_config doctor_net_config(const doctor_options& o) {
    net::client_config c;
    c.tls.insecure = o.insecure;
    c.tls.ca_files = o.ca_files;
    c.tls.ca_pem = o.ca_pem;
    c.tls.use_system_store = o.use_system_store;
    if (auto h = net::host_map::parse(o.resolve)) c.hosts = std::move(*h);
    c.user_agent = "ttigctl-doctor";
    return c;
}

tts::client_options doctor_client_options(const doctor_options& o, const std::string& base, std::chrono::milliseconds deadline,
                                          const std::string& key) {
    const auto n = doctor_net_config(o);
    tts::client_options c;
    c.base_url = base;
    c.api_key = key;
    c.deadline = deadline;
    c.tls = n.tls;
    c.hosts = n.hosts;
    c.user_agent = n.user_agent;
    c.clock = o.clock;
    c.rate_limit.honour = false;  // never wait in doctor: a 429 is evidence
    return c;
}

report run_doctor(const doctor_options& o) {
    static const proto::system_clock system_clock;
    run_state rs(o, o.clock ? *o.clock : system_clock);
    report& rep = rs.rep;
    rep.input = o.gateway;
    rep.timeout = o.timeout;
    for (const auto& a : o.answers) rs.add(a);
    const std::string is_host = host_of_url(o.tts_url);

    // P1: what was given.
    std::optional<proto::eui64> eui;
    std::string gateway_id;
    if (auto pe = proto::parse_eui(o.gateway); pe && hex_eui_form(pe->form)) eui = pe->eui;
    else gateway_id = o.gateway;
    if (!eui && o.gateway.starts_with("eui-"))
        if (auto pe = proto::parse_eui(o.gateway.substr(4)); pe) eui = pe->eui;

    // P2 (or P3 then P2): the record.
    std::optional<tts::gateway> gw;
    auto api_failed = [&](const std::string& what, const proto::error& e) {
        rep.api_failure = fmt::format("{} on {}: {}", what, o.tts_url, e.what());
    };
    {
        tts::client c(rs.client_options(o.tts_url, api_limit, o.api_key));
        if (gateway_id.empty() && eui) {
            run_state::probe p(rs, "P3", "Own gateways by EUI", fmt::format("GET {}/api/v3/search/gateways?eui_contains={}", o.tts_url, eui->hex()));
            ++rs.api_calls;
            tts::list_options lo;
            lo.field_mask = {"ids", "created_at"};
            auto found = c.search_gateways_by_eui(*eui, lo);
            note_429(rs, found, "P3");
            if (found && !found->items.empty()) gateway_id = found->items.front().ids.gateway_id;
            else if (found) rs.add("record.absent", "P3", fmt::format("none of your gateways has EUI {}", eui->hex()));
            if (is_transport_failure(found) || (!found && found.api() && (found.api()->http_status == 401))) api_failed("GET /api/v3/search/gateways", found.err());
            p.finish(found ? fmt::format("200, {} gateway(s)", found->items.size()) : outcome_of(found), found.has_value());
        }
        if (!gateway_id.empty() && !rep.api_failure) {
            const std::vector<std::string> mask{"ids", "created_at", "updated_at", "gateway_server_address", "frequency_plan_ids",
                                                "require_authenticated_connection", "enforce_duty_cycle", "attributes",
                                                "target_cups_uri", "lbs_lns_secret", "target_cups_key", "antennas", "version_ids"};
            run_state::probe p(rs, "P2", "Gateway record", fmt::format("GET {}/api/v3/gateways/{}", o.tts_url, gateway_id));
            ++rs.api_calls;
            auto r = c.get_gateway(gateway_id, mask);
            note_429(rs, r, "P2");
            if (r) {
                gw = *r;
                if (!eui && r->ids.eui) eui = r->ids.eui;
            } else if (const auto* e = r.api()) {
                if (e->http_status == 404) rs.add("record.absent", "P2", fmt::format("no live gateway {} ({})", gateway_id, e->full_name()));
                else if (e->http_status == 403) rs.add("record.forbidden", "P2", fmt::format("{}: the record is not (fully) yours", e->full_name()));
                else if (e->http_status == 401) api_failed("authenticate (GET /api/v3/gateways/" + gateway_id + ")", r.err());
            } else {
                api_failed("GET /api/v3/gateways/" + gateway_id, r.err());
            }
            p.line(fmt::format("< {}", outcome_of(r)));
            rs.p2_ms = rs.since_start(steady::now()) - p.rec.started_ms;
            p.finish(outcome_of(r), r.has_value() || r.api() != nullptr);
        }
    }
    if (gw) {
        rep.gateway_id = gw->ids.gateway_id;
        record_atoms(rs, *gw);
    } else {
        rep.gateway_id = gateway_id;
    }
    if (eui) rep.eui = eui->hex();
    if (eui && !gw && ((eui->value >> 24) & 0xFFFF) != 0xFFFE)
        rs.add("eui.malformed", "P1", fmt::format("{} has no FFFE in bytes 4-5: not a TTIG EUI (a MAC address?)", eui->hex()));

    if (rep.api_failure) {
        rep.v = decide(rep.atoms);
        rep.api_calls = rs.api_calls;
        rep.elapsed_ms = rs.since_start(steady::now());
        return rep;
    }

    // The Gateway Server the record points at (the home cluster when it names the same host).
    std::optional<proto::tts_address> gs;
    if (gw && !gw->gateway_server_address.empty())
        if (auto a = proto::tts_parse_address("wss", gw->gateway_server_address)) gs = *a;
    rep.cluster = gs ? gs->host : is_host;
    std::string gs_api = o.tts_url;
    if (gs && gs->host != is_host) gs_api = "https://" + (gs->host.find(':') != std::string::npos ? "[" + gs->host + "]" : gs->host);

    // Independent probes, concurrently.
    std::vector<std::future<void>> jobs;
    auto spawn = [&](auto fn) { jobs.push_back(std::async(std::launch::async, fn)); };
    std::vector<tts::api_key> keys;
    bool keys_ok = false;
    if (gw) {
        spawn([&] {  // P5
            tts::client c(rs.client_options(o.tts_url, api_limit, o.api_key));
            run_state::probe p(rs, "P5", "Gateway API keys", fmt::format("GET {}/api/v3/gateways/{}/api-keys", o.tts_url, rep.gateway_id));
            ++rs.api_calls;
            auto r = c.list_api_keys(rep.gateway_id);
            note_429(rs, r, "P5");
            if (r) {
                keys = r->items;
                keys_ok = true;
            }
            p.finish(r ? fmt::format("200, {} key(s)", r->items.size()) : outcome_of(r), r.has_value());
        });
        const bool plans_set = std::any_of(gw->frequency_plan_ids.begin(), gw->frequency_plan_ids.end(), [](const std::string& f) { return !f.empty(); });
        if (plans_set)
            spawn([&] {  // the plan IDs against the deployment's list (record.fp.unknown)
                tts::client c(rs.client_options(o.tts_url, api_limit, o.api_key));
                run_state::probe p(rs, "P2", "Frequency plans", fmt::format("GET {}/api/v3/configuration/frequency-plans", o.tts_url));
                ++rs.api_calls;
                auto r = c.list_frequency_plans();
                if (r)
                    for (const auto& id : gw->frequency_plan_ids)
                        if (!id.empty() && std::none_of(r->begin(), r->end(), [&](const tts::frequency_plan& f) { return f.id == id; }))
                            rs.add("record.fp.unknown", "P2", fmt::format("frequency plan '{}' is not one of the deployment's {} plans", id, r->size()));
                p.finish(r ? fmt::format("200, {} plan(s)", r->size()) : outcome_of(r), r.has_value());
            });
        spawn([&] {  // P6 on the gateway's cluster, then the others
            tts::client c(rs.client_options(gs_api, api_limit, o.api_key));
            {
                run_state::probe p(rs, "P6", "Connection stats", fmt::format("GET {}/api/v3/gs/gateways/{}/connection/stats", gs_api, rep.gateway_id));
                ++rs.api_calls;
                auto r = c.get_connection_stats(rep.gateway_id, gs_api);
                note_429(rs, r, "P6");
                stats_atoms(rs, r, true);
                p.finish(outcome_of(r), r.has_value() || r.api() != nullptr);
            }
            for (const auto& other : o.other_clusters) {
                run_state::probe p(rs, "P6", "Connection stats (other cluster)", fmt::format("GET {}/api/v3/gs/gateways/{}/connection/stats", other, rep.gateway_id));
                tts::client oc(rs.client_options(other, api_limit, o.api_key));
                ++rs.api_calls;
                auto r = oc.get_connection_stats(rep.gateway_id, other);
                stats_atoms(rs, r, false);
                p.finish(outcome_of(r), r.has_value() || r.api() != nullptr);
            }
        });
        spawn([&] {  // P7
            tts::client c(rs.client_options(gs_api, api_limit, o.api_key));
            tts::events_request er;
            er.gateway_ids = {rep.gateway_id};
            er.names = {"/^gs\\.gateway\\./", "/^gateway\\./"};
            er.tail = 200;
            er.after = rs.clock.now() - 24h;
            er.base_url = gs_api;
            run_state::probe p(rs, "P7", "Event tail (24 h)", fmt::format("POST {}/api/v3/events", gs_api));
            ++rs.api_calls;
            // The tail replay arrives right after the stream opens; TTS sends no keep-alives, so the
            // read ends at a window sized from P2's round trip (one fresh TLS request, the same cost
            // as opening the stream): 3 × P2, at least 100 ms, at most 2 s; --thorough waits 3 s for
            // live events too.
            const ms adaptive = std::clamp(ms(static_cast<std::int64_t>(3 * rs.p2_ms)), ms(100), ms(2000));
            const ms window = std::min(rs.left(api_limit), o.events_window ? *o.events_window : o.thorough ? ms(3000) : adaptive);
            auto r = c.read_events(er, window, 200);
            note_429(rs, r, "P7");
            if (r) event_atoms(rs, *r);
            p.finish(r ? fmt::format("{} event(s)", r->events.size()) : outcome_of(r), r.has_value());
        });
    }
    if (eui) {
        spawn([&] {  // P4
            tts::client c(rs.client_options(o.tts_url, api_limit, o.api_key));
            run_state::probe p(rs, "P4", "Claimability", fmt::format("POST {}/api/v3/gcls/claim/info", o.tts_url));
            ++rs.api_calls;
            auto r = c.get_claim_info(*eui);
            note_429(rs, r, "P4");
            if (r && r->supports_claiming) rs.add("claim.supported", "P4", "the EUI is claimable in this deployment");
            // Only evidence when there is no record: a registered generic Basics Station is not claimable either.
            else if (r && !gw) rs.add("claim.unsupported", "P4", "supports_claiming is false: not claimable here");
            p.finish(outcome_of(r), r.has_value() || r.api() != nullptr);
        });
    }
    // P11: only where it cannot register the EUI (TTN / TTS Cloud) or when asked.
    if (eui && !gw && (is_tts_cloud_host(is_host) || o.anonymous_cups_probe))
        spawn([&] { cups_probe(rs, o.tts_url, *eui, std::nullopt, {}); });
    if (eui && gw && o.thorough)
        spawn([&] { cups_probe(rs, o.tts_url, *eui, o.cups_key ? o.cups_key : std::optional<std::string>(o.api_key), gw->target_cups_uri); });
    // P13 with the gateway's LNS key.
    std::optional<std::string> lns_key = o.lns_key;
    if (!lns_key && gw && gw->lbs_lns_secret && !gw->lbs_lns_secret->value.empty()) lns_key = gw->lbs_lns_secret->value;
    if (eui && gs && lns_key) spawn([&] { discovery_probe(rs, *gs, *eui, *lns_key); });
    // P9/P10 as the gateway connects.
    if (auto u = net::parse_url(o.tts_url)) spawn([&, host = u->host, port = std::to_string(u->port)] { tls_probe(rs, "api", host, port); });
    if (gs && gs->scheme == "wss") spawn([&] { tls_probe(rs, "lns", gs->host, gs->port); });
    for (auto& j : jobs) j.wait();

    // Derived atoms that need more than one probe.
    if (gw && keys_ok) key_atoms(rs, *gw, keys);
    if (o.station_dir) station_atoms(rs, *o.station_dir, gw, gs, keys, keys_ok);
    auto has = [&](std::string_view id) { return std::any_of(rep.atoms.begin(), rep.atoms.end(), [&](const atom& a) { return a.id == id; }); };
    if (has("stats.404") && !has("event.tail.no_missed_pongs")) {
        for (const auto& t : rep.tls)
            if (t.role == "lns" && !t.chain.empty() && t.chain.front().value("key_type", "").starts_with("EC"))
                rs.add("tls.8887.ecdsa", "P10", fmt::format("{} presents an ECDSA certificate and the gateway never connected", t.target));
    }

    std::sort(rep.probes.begin(), rep.probes.end(), [](const probe_record& a, const probe_record& b) { return a.started_ms < b.started_ms; });
    rep.v = decide(rep.atoms);
    rep.api_calls = rs.api_calls;
    rep.elapsed_ms = rs.since_start(steady::now());
    return rep;
}

nlohmann::ordered_json to_json(const report& r) {
    nlohmann::ordered_json j;
    j["tool"] = "ttigctl doctor";
    j["generated_at"] = rfc3339(std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()));
    j["gateway"] = {{"input", r.input}, {"gateway_id", r.gateway_id}, {"eui", r.eui}, {"cluster", r.cluster}};
    if (r.api_failure) j["api_failure"] = *r.api_failure;
    j["verdict"] = to_json(r.v);
    j["healthy"] = r.healthy();
    j["probes"] = nlohmann::ordered_json::array();
    for (const auto& p : r.probes)
        j["probes"].push_back({{"id", p.id}, {"title", p.title}, {"target", p.target}, {"started_ms", p.started_ms}, {"duration_ms", p.duration_ms},
                               {"outcome", p.outcome}, {"ok", p.ok}, {"atoms", p.atoms}, {"exchange", p.exchange}});
    j["atoms"] = nlohmann::ordered_json::array();
    for (const auto& a : r.atoms) j["atoms"].push_back({{"id", a.id}, {"probe", a.probe}, {"detail", a.detail}});
    j["events"] = nlohmann::ordered_json::array();
    for (const auto& e : r.events) j["events"].push_back({{"time", e.time}, {"name", e.name}, {"detail", e.detail}});
    j["tls"] = nlohmann::ordered_json::array();
    for (const auto& t : r.tls)
        j["tls"].push_back({{"role", t.role}, {"target", t.target}, {"version", t.version}, {"verify_ok", t.verify_ok}, {"error", t.error},
                            {"handshake_ms", t.handshake_ms}, {"chain", t.chain}});
    j["side_effects"] = r.side_effects;
    j["api_calls"] = r.api_calls;
    j["elapsed_ms"] = r.elapsed_ms;
    j["timeout_ms"] = r.timeout.count();
    return j;
}

}  // namespace ttig::diag
