#include <ttig/emu/tts_emulator.hpp>

#include <ttig/net/server.hpp>
#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/proto/cups.hpp>

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <thread>
#include <sys/stat.h>

namespace ttig::emu {

namespace {

// The host part of a cluster address ("eu1.cloud.thethings.network:8887" -> "eu1.cloud...").
std::string host_of(std::string_view address) {
    auto a = proto::tts_parse_address("https", address);
    return a ? a->host : std::string(address);
}

// The factory CUPS host name a TTIG's cups.uri holds (disconnected-catalogue §2.8).
constexpr std::string_view factory_cups_host = "rjs.sm.tc";

// A listen host as it appears in a URL (IPv6 in brackets).
std::string url_host(const std::string& h) { return h.find(':') != std::string::npos ? "[" + h + "]" : h; }

// Go's net/http puts a Date header on every answer; doctor's clock check (P0) reads it. From the
// emulator's clock, so virtual time shows as such.
void stamp_date(proto::http_response& res, const proto::clock& clock) {
    if (!res.headers.contains("Date"))
        res.headers.set("Date", proto::format_http_date(std::chrono::time_point_cast<std::chrono::seconds>(clock.now())));
}

bool is_loopback_name(std::string_view host) { return host == "localhost" || host == "127.0.0.1" || host == "::1" || host.starts_with("127."); }

// A chain variant's size setting ("chain_length" / "chain_bytes"): absent = the default; otherwise
// an integer in [min, max], and only for the long_chain and big_chain variants.
proto::result<std::size_t> chain_setting(const nlohmann::json& spec, const char* key, const std::string& variant, std::size_t fallback,
                                         std::size_t min, std::size_t max) {
    if (!spec.is_object() || !spec.contains(key)) return fallback;
    if (variant != "long_chain" && variant != "big_chain")
        return proto::make_error(emu_errc::bad_scenario, "/tls: {} applies only to the long_chain and big_chain certificates, not {}", key,
                                 variant);
    const auto& v = spec[key];
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < min || v.get<std::uint64_t>() > max)
        return proto::make_error(emu_errc::bad_scenario, "/tls: {} must be an integer from {} to {}", key, min, max);
    return static_cast<std::size_t>(v.get<std::uint64_t>());
}

// The TLS a cluster's listeners present: the emulator's normal certificate, or one of the faults
// of the disconnected-catalogue (expired, wrong host name, unknown CA, RSA instead of ECDSA), a
// chain too long or too big for a constrained station (valid under the emulator's CA), a slow
// handshake, a capped TLS version. `spec` is the scenario's "tls"."<cluster>" object.
proto::result<net::tls_server_config> cluster_tls(const pki::key_and_cert& ca, const std::vector<std::string>& sans, const nlohmann::json& spec) {
    std::string variant = "valid";
    net::tls_server_config tls;
    if (spec.is_object()) {
        variant = spec.value("certificate", std::string("valid"));
        if (auto d = spec.find("handshake_delay_ms"); d != spec.end() && d->is_number_unsigned())
            tls.handshake_delay = std::chrono::milliseconds(d->get<std::uint64_t>());
        if (spec.value("max_version", std::string("1.3")) == "1.2") tls.max_version = net::tls_version::tls1_2;
    }
    const bool big = variant == "big_chain";
    auto chain_length = chain_setting(spec, "chain_length", variant, big ? 1 : 4, big ? 1 : 0, 16);
    if (!chain_length) return chain_length.err();
    auto chain_bytes = chain_setting(spec, "chain_bytes", variant, 20480, 1, 65536);
    if (!chain_bytes) return chain_bytes.err();
    if (variant == "long_chain" || big) {
        pki::chain_options o;
        o.intermediates = *chain_length;
        if (big) o.min_der_bytes = *chain_bytes;
        auto chain = pki::make_chain(ca, "ttigctl emulate tts", sans, o);
        if (!chain) return chain.err();
        tls.cert_chain_pem = chain->chain_pem();
        tls.key_pem = chain->leaf.key_pem;
        return tls;
    }
    proto::result<pki::key_and_cert> leaf = proto::error{};
    if (variant == "valid") {
        leaf = pki::make_leaf(ca, "ttigctl emulate tts", sans);
    } else if (variant == "expired") {
        leaf = pki::make_leaf(ca, "ttigctl emulate tts", sans, pki::key_kind::ec_p256, 1, -3 * 86400);
    } else if (variant == "wrong_host") {
        leaf = pki::make_leaf(ca, "ttigctl emulate tts", {"wrong-host.invalid"});
    } else if (variant == "unknown_ca") {
        auto other = pki::make_ca("unknown CA (ttigctl emulate tts fault)");
        if (!other) return other.err();
        leaf = pki::make_leaf(*other, "ttigctl emulate tts", sans);
    } else if (variant == "rsa") {
        leaf = pki::make_leaf(ca, "ttigctl emulate tts", sans, pki::key_kind::rsa2048);
    } else {
        return proto::make_error(emu_errc::bad_scenario,
                                 "/tls: certificate '{}' is not valid, expired, wrong_host, unknown_ca, rsa, long_chain or big_chain", variant);
    }
    if (!leaf) return leaf.err();
    tls.cert_chain_pem = leaf->cert_pem;
    tls.key_pem = leaf->key_pem;
    return tls;
}

}  // namespace

// Everything a cluster's handlers touch. Handlers hold a weak_ptr to it: a WebSocket close that
// the server reports after stop() finds it gone and does nothing. It keeps the state and the
// limiter alive for as long as it lives itself.
struct cluster_runtime {
    cluster_info info;
    std::shared_ptr<tts_state> state;
    std::shared_ptr<tts_api> api;
    std::shared_ptr<rate_limiter> limiter;
    std::unique_ptr<cups_server> cups;
    std::unique_ptr<lns_server> lns;
    std::unique_ptr<net::server> server;
    std::function<void(std::string_view)> log;
    std::uint16_t https_port = 0, wss_port = 0, ws_port = 0;
    std::mutex conns_mu;
    std::map<session_id, net::ws_connection> conns;

    void carry_out(const std::vector<lns_action>& actions) {
        for (const auto& a : actions) {
            net::ws_connection conn;
            {
                std::lock_guard lock(conns_mu);
                auto it = conns.find(a.session);
                if (it == conns.end()) continue;
                conn = it->second;
                if (a.what == lns_action::kind::drop) conns.erase(it);
            }
            switch (a.what) {
                case lns_action::kind::send_text: conn.send_text(a.text); break;
                case lns_action::kind::ping: conn.ping(); break;
                case lns_action::kind::drop:
                    if (log) log(fmt::format("lns {}: drop session {} ({})", info.name, a.session, a.reason.empty() ? "closed" : a.reason));
                    conn.drop();
                    break;
            }
        }
    }
};

// POST /api/v3/events: a chunked response; the start event, then history and live events from the
// state's event bus until the client goes away or the server stops (tts-api.md §4.11).
static void serve_events(const std::weak_ptr<cluster_runtime>& weak, const net::responder& r, api_result res) {
    auto cr = weak.lock();
    if (!cr) return r.reset();
    std::string first = std::move(res.response.body);
    res.response.body.clear();
    auto w = r.stream(std::move(res.response));
    if (!res.events) {  // an error before the first message
        w.write(std::move(first));
        w.end();
        return;
    }
    auto plan = res.events;
    w.write(plan->frame(plan->start));
    event_bus& bus = cr->state->events();
    const auto id = bus.subscribe(plan->filter, plan->tail, plan->after, [w, plan](const event& e) { w.write(plan->frame(e)); });
    w.on_close([weak, id](bool) {
        if (auto c = weak.lock()) c->state->events().unsubscribe(id);
    });
}

struct tts_emulator::impl {
    boost::asio::io_context* ioc = nullptr;
    const proto::clock* clock = nullptr;
    emulator_config cfg;
    std::shared_ptr<tts_state> state;
    std::shared_ptr<tts_api> api;
    std::shared_ptr<rate_limiter> limiter;  // CUPS and LNS classes (the API has its own)
    std::vector<std::shared_ptr<cluster_runtime>> clusters;
    pki::key_and_cert ca;
    std::filesystem::path ca_file;
    std::string admin_token, admin_user = "admin";
    std::unique_ptr<factory_cups> factory;
    std::unique_ptr<net::server> factory_server;
    std::uint16_t factory_port = 0;
    std::jthread ticker;
    std::mutex tick_mu;
    std::condition_variable_any tick_cv;
    std::atomic<bool> stopped{false};

    void log(std::string_view line) const {
        if (cfg.log) cfg.log(line);
    }
};

tts_emulator::tts_emulator(std::unique_ptr<impl> p) : p_(std::move(p)) {}
tts_emulator::~tts_emulator() { stop(); }

tts_state& tts_emulator::state() noexcept { return *p_->state; }
void tts_emulator::set_cups_corrupt_tc_cred(bool on) {
    for (auto& c : p_->clusters) c->cups->set_corrupt_tc_cred(on);
}
tts_api& tts_emulator::api() noexcept { return *p_->api; }
const std::string& tts_emulator::ca_pem() const noexcept { return p_->ca.cert_pem; }

lns_server& tts_emulator::lns(std::string_view cluster) {
    for (auto& c : p_->clusters)
        if (cluster.empty() || c->info.name == cluster) return *c->lns;
    return *p_->clusters.front()->lns;
}

proto::result<std::unique_ptr<tts_emulator>> tts_emulator::start(boost::asio::io_context& ioc, const proto::clock& clock, emulator_config cfg) {
    auto p = std::make_unique<impl>();
    p->ioc = &ioc;
    p->clock = &clock;

    // State and scenario.
    std::optional<scenario> sc;
    if (cfg.scenario_path) {
        auto loaded = load_scenario_file(*cfg.scenario_path);
        if (!loaded) return loaded.err();
        sc = std::move(*loaded);
    }
    state_options so;
    so.path = cfg.state_path;
    if (sc) apply_options(*sc, so);
    auto st = tts_state::open(clock, so);
    if (!st) return st.err();
    p->state = std::shared_ptr<tts_state>(std::move(*st));
    if (sc) {
        if (auto r = apply_scenario(*sc, *p->state); !r) return r.err();
    }
    if (p->state->clusters().empty()) {
        if (auto r = p->state->set_clusters({cluster_info{"local", "localhost", true}}); !r) return r.err();
    }
    auto admin = p->state->bootstrap_admin(p->admin_user, "ttigctl emulate tts admin");
    if (!admin) return admin.err();
    p->admin_token = admin->token;
    p->api = std::make_shared<tts_api>(*p->state);
    if (sc) apply_scenario(*sc, *p->api);
    p->limiter = std::make_shared<rate_limiter>(clock);

    // PKI: a CA and one server certificate for every name the clusters answer to.
    auto ca = pki::make_ca("ttigctl emulated The Things Stack CA");
    if (!ca) return ca.err();
    p->ca = std::move(*ca);
    std::vector<std::string> sans{"localhost", "127.0.0.1", "::1", std::string(factory_cups_host)};
    if (!cfg.listen_host.empty() && std::find(sans.begin(), sans.end(), cfg.listen_host) == sans.end() && cfg.listen_host != "0.0.0.0" &&
        cfg.listen_host != "::")
        sans.push_back(cfg.listen_host);
    for (const auto& c : p->state->clusters()) {
        const auto h = host_of(c.address);
        if (!h.empty() && std::find(sans.begin(), sans.end(), h) == sans.end()) sans.push_back(h);
    }
    const nlohmann::json tls_specs = sc ? sc->tls : nlohmann::json(nullptr);
    std::error_code ec;
    std::filesystem::create_directories(cfg.ca_dir, ec);
    p->ca_file = std::filesystem::absolute(cfg.ca_dir / "ca.pem", ec);
    {
        std::ofstream out(p->ca_file, std::ios::binary | std::ios::trunc);
        out << p->ca.cert_pem;
        if (!out) return proto::error{std::make_error_code(std::errc::io_error), fmt::format("cannot write {}", p->ca_file.string())};
    }

    // CUPS's trust look-up: the emulator's own CA for every name it serves; other hosts cannot
    // be dialled from here (TTS would answer server_trust).
    const proto::bytes ca_der = p->ca.cert_der;
    auto* state_ptr = p->state.get();
    trust_fetcher fetch = [ca_der, state_ptr](const std::string& host_port) -> proto::result<proto::bytes> {
        const auto colon = host_port.rfind(':');
        std::string host = host_port.substr(0, colon);
        if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
        if (is_loopback_name(host) || state_ptr->cluster_for_address(host)) return ca_der;
        return proto::error{std::make_error_code(std::errc::host_unreachable), fmt::format("dial tcp: lookup {}: no such host", host)};
    };

    bool first = true;
    for (const auto& info : p->state->clusters()) {
        auto c = std::make_shared<cluster_runtime>();
        c->info = info;
        c->state = p->state;
        c->api = p->api;
        c->limiter = p->limiter;
        c->log = cfg.log;
        c->cups = std::make_unique<cups_server>(*c->state, *c->limiter, cfg.cups, fetch);
        lns_options lo = cfg.lns;
        lo.cluster = info.name;
        c->lns = std::make_unique<lns_server>(*c->state, *c->limiter, lo);
        net::server_options srv_opts;
        if (cfg.header_timeout.count() > 0) srv_opts.read_timeout = cfg.header_timeout;
        c->server = std::make_unique<net::server>(ioc, srv_opts);
        const std::weak_ptr<cluster_runtime> weak = c;
        auto tls = cluster_tls(p->ca, sans, tls_specs.is_object() && tls_specs.contains(info.name) ? tls_specs[info.name] : nlohmann::json(nullptr));
        if (!tls) return tls.err();

        c->server->handle("*", "/api/v3/*", [weak](proto::http_request req, net::responder r) {
            auto cr = weak.lock();
            if (!cr) return r.reset();
            auto res = cr->api->handle(req, cr->info.name);
            stamp_date(res.response, cr->state->clock());
            switch (res.act) {
                case api_result::action::respond:
                    if (res.delay.count() > 0)
                        r.send_after(std::move(res.response), res.delay);
                    else
                        r.send(std::move(res.response));
                    break;
                case api_result::action::reset: r.reset(); break;
                case api_result::action::blackhole: r.stall(); break;
                case api_result::action::stream: serve_events(weak, r, std::move(res)); break;
            }
        });
        // Control endpoint (not part of TTS): faults and rate limits at run time, admin key only.
        c->server->handle("POST", "/emu/v1/{what}", [weak](proto::http_request req, net::responder r) {
            auto cr = weak.lock();
            if (!cr) return r.reset();
            proto::http_response res;
            res.headers.set("Content-Type", "application/json");
            auto auth = cr->state->authenticate(req.headers.get("Authorization"));
            if (!auth || !auth->is_admin) {
                res.status = 403;
                res.body = R"({"error":"the emulator's control endpoint needs the admin API key"})";
                return r.send(std::move(res));
            }
            auto body = nlohmann::json::parse(req.body, nullptr, false);
            const std::string what(r.param("what"));
            if (what == "faults" && body.is_object() && body.contains("faults") && body["faults"].is_array()) {
                std::vector<fault_rule> rules;
                for (std::size_t i = 0; i < body["faults"].size(); ++i) {
                    auto rule = parse_fault_rule(body["faults"][i], "/faults/" + std::to_string(i));
                    if (!rule) {
                        res.status = 400;
                        res.body = nlohmann::json{{"error", rule.err().what()}}.dump();
                        return r.send(std::move(res));
                    }
                    rules.push_back(std::move(*rule));
                }
                cr->api->set_faults(std::move(rules));
                res.body = nlohmann::json{{"faults", body["faults"].size()}}.dump();
                return r.send(std::move(res));
            }
            if (what == "rate-limits" && body.is_object() && body.contains("rate_limits")) {
                auto sc2 = parse_scenario_json(nlohmann::json{{"rate_limits", body["rate_limits"]}});
                if (!sc2) {
                    res.status = 400;
                    res.body = nlohmann::json{{"error", sc2.err().what()}}.dump();
                    return r.send(std::move(res));
                }
                cr->api->set_rate_limits(sc2->rate_limits);
                cr->limiter->set_profiles(sc2->rate_limits);
                res.body = nlohmann::json{{"rate_limits", sc2->rate_limits.size()}}.dump();
                return r.send(std::move(res));
            }
            res.status = 400;
            res.body = R"({"error":"POST /emu/v1/faults {\"faults\":[...]} or /emu/v1/rate-limits {\"rate_limits\":[...]}"})";
            r.send(std::move(res));
        });
        c->server->handle("*", "/update-info", [weak](proto::http_request req, net::responder r) {
            auto cr = weak.lock();
            if (!cr) return r.reset();
            auto res = cr->cups->handle(req);
            stamp_date(res, cr->state->clock());
            r.send(std::move(res));
        });
        c->server->handle_ws("/router-info", [weak](const proto::http_request& req, net::ws_connection conn) -> std::variant<proto::http_response, net::ws_handlers> {
            net::ws_handlers h;
            auto answered = std::make_shared<std::atomic<bool>>(false);
            h.on_text = [weak, req, conn, answered](std::string text) {
                auto cr = weak.lock();
                if (!cr || answered->exchange(true)) return;
                conn.send_text(cr->lns->discover(req, text));
                conn.drop();  // TTS closes the TCP connection after its one reply, without a close frame
            };
            return h;
        });
        c->server->handle_ws("/traffic/{id}", [weak](const proto::http_request& req, net::ws_connection conn) -> std::variant<proto::http_response, net::ws_handlers> {
            auto cr = weak.lock();
            if (!cr) return proto::http_response{503, {}, {}};
            const auto params = conn.params();
            auto accepted = cr->lns->accept_traffic(req, params.empty() ? std::string_view{} : std::string_view(params.front().second));
            cr->carry_out(cr->lns->take_pending());
            if (auto* refused = std::get_if<proto::http_response>(&accepted)) return *refused;
            const session_id sid = std::get<session_id>(accepted);
            {
                std::lock_guard lock(cr->conns_mu);
                cr->conns[sid] = conn;
            }
            net::ws_handlers h;
            h.on_text = [weak, sid](std::string text) {
                if (auto c2 = weak.lock()) c2->carry_out(c2->lns->on_text(sid, text));
            };
            h.on_pong = [weak, sid](std::string) {
                if (auto c2 = weak.lock()) (void)c2->lns->on_pong(sid);
            };
            h.on_close = [weak, sid](const net::ws_close_info&) {
                auto c2 = weak.lock();
                if (!c2) return;
                c2->lns->on_closed(sid);
                std::lock_guard lock(c2->conns_mu);
                c2->conns.erase(sid);
            };
            return h;
        });

        net::listener_config https{cfg.listen_host, first ? cfg.listen_port : std::uint16_t{0}, *tls};
        auto port = c->server->listen(https);
        if (!port) return port.err();
        c->https_port = *port;
        auto wss = c->server->listen(net::listener_config{cfg.listen_host, 0, *tls});
        if (!wss) return wss.err();
        c->wss_port = *wss;
        auto ws = c->server->listen(net::listener_config{cfg.listen_host, 0, std::nullopt});
        if (!ws) return ws.err();
        c->ws_port = *ws;
        p->log(fmt::format("cluster {} ({}): https {}:{}, lns wss {}:{}, ws {}:{}", info.name, info.address, cfg.listen_host, c->https_port,
                           cfg.listen_host, c->wss_port, cfg.listen_host, c->ws_port));
        p->clusters.push_back(std::move(c));
        first = false;
    }
    // The TTIG factory CUPS: claimed TTIGs go to the CUPS of the cluster their record points at.
    {
        auto* self = p.get();
        p->factory = std::make_unique<factory_cups>(*p->state, [self](const std::optional<gateway>& gw) {
            const cluster_runtime* target = self->clusters.front().get();
            if (gw)
                if (auto ci = self->state->cluster_for_address(host_of(gw->gateway_server_address())))
                    for (const auto& c : self->clusters)
                        if (c->info.name == ci->name) target = c.get();
            return factory_target{fmt::format("https://{}:{}", url_host(self->cfg.listen_host), target->https_port), self->ca.cert_der};
        });
        p->factory_server = std::make_unique<net::server>(ioc, net::server_options{});
        p->factory_server->handle("*", "/update-info", [self](proto::http_request req, net::responder r) {
            auto res = self->factory->handle(req);
            stamp_date(res, *self->clock);
            self->log(fmt::format("factory cups: {} for {}", res.status, req.body.substr(0, 40)));
            r.send(std::move(res));
        });
        auto tls = cluster_tls(p->ca, sans, nlohmann::json(nullptr));
        if (!tls) return tls.err();
        auto port = p->factory_server->listen(net::listener_config{cfg.listen_host, cfg.factory_cups_port, *tls});
        if (!port) return port.err();
        p->factory_port = *port;
        p->log(fmt::format("factory cups ({}): https {}:{}", factory_cups_host, cfg.listen_host, p->factory_port));
    }
    p->cfg = std::move(cfg);

    auto emu = std::unique_ptr<tts_emulator>(new tts_emulator(std::move(p)));
    if (emu->p_->cfg.real_time_ticks) {
        auto* self = emu.get();
        emu->p_->ticker = std::jthread([self](std::stop_token stop) {
            while (!stop.stop_requested()) {
                self->tick();
                std::unique_lock lock(self->p_->tick_mu);
                self->p_->tick_cv.wait_for(lock, stop, std::chrono::milliseconds(250), [] { return false; });
            }
        });
    }
    return emu;
}

void tts_emulator::tick() {
    if (p_->stopped) return;
    for (auto& c : p_->clusters) c->carry_out(c->lns->tick());
}

void tts_emulator::stop() {
    if (p_->stopped.exchange(true)) return;
    if (p_->ticker.joinable()) {
        p_->ticker.request_stop();
        p_->ticker.join();
    }
    for (auto& c : p_->clusters) c->server->stop();
    if (p_->factory_server) p_->factory_server->stop();
}

nlohmann::ordered_json tts_emulator::config_json() const {
    const std::string host = p_->cfg.listen_host.find(':') != std::string::npos ? "[" + p_->cfg.listen_host + "]" : p_->cfg.listen_host;
    nlohmann::ordered_json j;
    const auto& home = *p_->clusters.front();
    j["api_url"] = fmt::format("https://{}:{}", host, home.https_port);
    j["cups_url"] = fmt::format("https://{}:{}", host, home.https_port);
    j["lns_url"] = fmt::format("wss://{}:{}", host, home.wss_port);
    j["factory_cups_url"] = fmt::format("https://{}:{}", host, p_->factory_port);
    // A TTIG's cups.uri names the real factory host: this entry sends it here.
    j["factory_cups_resolve"] = fmt::format("{}:{}:{}", factory_cups_host, p_->factory_port, p_->cfg.listen_host);
    j["ca_file"] = p_->ca_file.string();
    j["admin_api_key"] = p_->admin_token;
    j["admin_user_id"] = p_->admin_user;
    j["clusters"] = nlohmann::ordered_json::array();
    for (const auto& c : p_->clusters) {
        nlohmann::ordered_json cj;
        cj["name"] = c->info.name;
        cj["address"] = c->info.address;
        cj["identity_server"] = c->info.identity_server;
        cj["api_url"] = fmt::format("https://{}:{}", host, c->https_port);
        cj["cups_url"] = fmt::format("https://{}:{}", host, c->https_port);
        cj["lns_url"] = fmt::format("wss://{}:{}", host, c->wss_port);
        cj["lns_ws_url"] = fmt::format("ws://{}:{}", host, c->ws_port);
        // curl-style host map entries that send the cluster's real name to this listener.
        const std::string name = host_of(c->info.address);
        cj["resolve"] = {fmt::format("{}:{}:{}", name, c->https_port, p_->cfg.listen_host),
                         fmt::format("{}:{}:{}", name, c->wss_port, p_->cfg.listen_host)};
        j["clusters"].push_back(std::move(cj));
    }
    return j;
}

}  // namespace ttig::emu
