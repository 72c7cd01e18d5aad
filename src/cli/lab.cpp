// ttigctl lab: a tour of everything ttigctl does, with no hardware and no account. It runs by
// itself, checks each step, prints what it showed, and exits 0 only if every step worked.
//
// The tour walks a TTIG through the exchanges of a provisioning, first
// sans-io (a station file set is built on disk, the station's CUPS request is decoded as The Things
// Stack reads it, TTS's answer is decoded as the station reads it and committed to disk as the
// station would, then discovery and router_config), then against `emulate tts` on loopback over TLS
// and WebSockets. Every later feature adds its steps.
#include "cli/common.hpp"
#include "cli/lab_provision.hpp"

#include <ttig/diag/doctor.hpp>
#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/net/ws_client.hpp>
#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/pki/x509.hpp>
#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/proto/router_config.hpp>
#include <ttig/station/file_set.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <sys/stat.h>

namespace ttig::cli {

namespace {

namespace fs = std::filesystem;
using proto::as_bytes;
using proto::as_chars;
using proto::bytes;
using station::category;
using station::variant;

struct lab_options {
    bool json = false;
    std::string keep;  // keep the station home in this directory instead of a temp dir
};

class tour {
public:
    explicit tour(bool json) : json_(json) {}

    // Records one step; `what` is shown either way, `why` only when it failed.
    bool step(std::string name, bool ok, std::string what, std::string why = {}) {
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - last_).count();
        last_ = std::chrono::steady_clock::now();
        nlohmann::ordered_json j;
        j["step"] = steps_.size() + 1;
        j["name"] = name;
        j["ok"] = ok;
        j["showed"] = what;
        if (!ok) j["failure"] = why;
        j["ms"] = static_cast<std::int64_t>(ms);
        if (json_)
            print_json(j);
        else
            fmt::print("[{:>2}] {} {:<22} {}{}\n", steps_.size() + 1, ok ? "ok  " : "FAIL", name, what, ok ? "" : fmt::format("\n       -> {}", why));
        steps_.push_back(std::move(j));
        return ok;
    }
    int finish() const {
        std::size_t failed = 0;
        for (const auto& s : steps_) failed += !s["ok"].get<bool>();
        if (json_) {
            nlohmann::ordered_json j;
            j["summary"] = {{"steps", steps_.size()}, {"passed", steps_.size() - failed}, {"failed", failed}};
            print_json(j);
        } else {
            fmt::print("\nlab: {} of {} steps worked{}\n", steps_.size() - failed, steps_.size(),
                       failed ? "" : ": a TTIG provisioned through CUPS and connected to the LNS, on emulated peers");
        }
        return failed == 0 ? exit_ok : exit_failed;
    }

private:
    bool json_;
    std::vector<nlohmann::ordered_json> steps_;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string random_api_key() {
    // A throw-away key of the NNSXS shape; never a real one.
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::random_device rd;
    std::mt19937_64 rng(rd());
    auto part = [&](int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += alphabet[rng() % 32];
        return s;
    };
    return "NNSXS." + part(39) + "." + part(52);
}

// Waits for one asynchronous net operation whose handler receives a single value.
template <class R, class Start>
R await_result(Start&& start, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    start([promise](R r) { promise->set_value(std::move(r)); });
    if (future.wait_for(limit) != std::future_status::ready)
        return proto::error{std::make_error_code(std::errc::timed_out), "the lab's own deadline passed"};
    return future.get();
}

// Part 2: the same TTIG against `emulate tts` on loopback, through real TLS and WebSockets.
void emulator_tour(tour& t, const fs::path& dir, proto::eui64 eui) {
    boost::asio::io_context ioc;
    proto::system_clock clock;
    emu::emulator_config cfg;
    cfg.ca_dir = dir / "emulator";
    cfg.real_time_ticks = false;
    auto started = emu::tts_emulator::start(ioc, clock, cfg);
    if (!t.step("emulate tts", started.has_value(),
                started ? fmt::format("The Things Stack emulator on {} (REST, CUPS, LNS; own CA)", (*started)->config_json()["api_url"].get<std::string>())
                        : "start the emulator",
                started ? "" : started.err().what()))
        return;
    auto& emulator = **started;
    std::thread io([&ioc] {
        while (!ioc.stopped()) {
            ioc.run_for(std::chrono::milliseconds(100));
        }
    });
    struct joiner {
        emu::tts_emulator& e;
        boost::asio::io_context& ioc;
        std::thread& th;
        ~joiner() {
            e.stop();
            ioc.stop();
            th.join();
        }
    } join_guard{emulator, ioc, io};
    const auto cfgj = emulator.config_json();
    const std::string admin = cfgj["admin_api_key"].get<std::string>();
    const std::string api_url = cfgj["api_url"].get<std::string>();
    const std::string lns_url = cfgj["lns_url"].get<std::string>();

    net::client_config cc;
    cc.tls.ca_pem = {emulator.ca_pem()};
    cc.tls.use_system_store = false;
    net::http_client http(cc);
    auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
        proto::http_request r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.headers.set("Authorization", "Bearer " + admin);
        r.headers.set("Content-Type", "application/json");
        return http.request(r, net::request_options{api_url});
    };
    auto ok_json = [](const net::response_result& r) -> std::optional<nlohmann::json> {
        if (!r || r->status != 200) return std::nullopt;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return j;
    };

    // Register the TTIG as a user does in the Console: gateway, CUPS key, LNS key (the LNS key as
    // lbs_lns_secret, which TTS's CUPS hands to the station).
    const std::string lns_address = lns_url;  // wss://127.0.0.1:<port>
    struct registration {
        net::response_result gateway = proto::error{};
        std::optional<nlohmann::json> cups_key, lns_key;
        net::response_result secret = proto::error{};
    };
    auto register_gateway = [&](const std::string& id, proto::eui64 gw_eui) {
        registration r;
        r.gateway = call("POST", "/api/v3/users/admin/gateways",
                         nlohmann::json{{"gateway", {{"ids", {{"gateway_id", id}, {"eui", gw_eui.hex()}}},
                                                     {"frequency_plan_ids", {"EU_863_870_TTN"}},
                                                     {"gateway_server_address", lns_address}}}}
                             .dump());
        r.cups_key = ok_json(call("POST", "/api/v3/gateways/" + id + "/api-keys",
                                  R"({"name":"CUPS key","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"]})"));
        r.lns_key = ok_json(call("POST", "/api/v3/gateways/" + id + "/api-keys", R"({"name":"LNS key","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]})"));
        if (r.lns_key)
            r.secret = call("PUT", "/api/v3/gateways/" + id,
                            nlohmann::json{{"gateway", {{"lbs_lns_secret", {{"value", emu::base64_encode((*r.lns_key)["key"].get<std::string>())}}}}},
                                           {"field_mask", {{"paths", {"lbs_lns_secret"}}}}}
                                .dump());
        return r;
    };
    auto first_reg = register_gateway("lab-ttig", eui);
    auto& gw = first_reg.gateway;
    auto& cups_key = first_reg.cups_key;
    auto& lns_key = first_reg.lns_key;
    auto& secret = first_reg.secret;
    const bool registered = ok_json(gw) && cups_key && lns_key && ok_json(secret);
    if (!t.step("register", registered,
                registered ? fmt::format("gateway lab-ttig ({}) with a CUPS key {} and an LNS key {} through the REST API", eui.hex(),
                                         proto::redact_secret((*cups_key)["key"].get<std::string>()),
                                         proto::redact_secret((*lns_key)["key"].get<std::string>()))
                           : "create gateway and keys",
                gw ? gw->body.substr(0, 300) : gw.err().what()))
        return;

    // The station's CUPS set points at the emulator; the station asks CUPS over TLS.
    station::home home(dir / "station-emu");
    std::error_code ec;
    fs::create_directories(home.dir(), ec);
    station::cred_set cups_set;
    cups_set.uri = cfgj["cups_url"].get<std::string>();
    auto ca_der = pki::certificate_der(proto::as_bytes(emulator.ca_pem()));
    cups_set.trust = ca_der ? *ca_der : bytes{};
    cups_set.crt = bytes{};
    cups_set.key = proto::to_bytes(fmt::format("Authorization: {}\r\n", (*cups_key)["key"].get<std::string>()));
    (void)home.commit_update(category::cups, cups_set);
    auto ask_cups = [&]() -> proto::result<proto::update_info_response> {
        proto::update_info_request req;
        req.router = eui;
        req.cups_uri = cups_set.uri;
        auto tc = home.read(category::tc, variant::regular);
        if (tc && tc->uri) req.tc_uri = tc->uri;
        req.cups_cred_crc = home.cred_crc(category::cups) ? *home.cred_crc(category::cups) : 0;
        req.tc_cred_crc = home.cred_crc(category::tc) ? *home.cred_crc(category::tc) : 0;
        req.station = "2.0.6(minihub/std) 2026-11-30 00:00:00";
        req.model = "minihub";
        proto::http_request r;
        r.method = "POST";
        r.target = "/update-info";
        r.body = proto::encode_update_info_request(req);
        r.headers.set("Content-Type", "application/json");
        r.headers.set("Authorization", std::string(proto::token_secret(proto::as_chars(*cups_set.key))));
        auto res = http.request(r, net::request_options{*cups_set.uri});
        if (!res) return res.err();
        if (res->status != 200) return proto::error{std::make_error_code(std::errc::permission_denied), fmt::format("HTTP {}: {}", res->status, res->body.substr(0, 200))};
        return proto::decode_update_info_response(proto::as_bytes(res->body), proto::cups_dialect::station);
    };
    auto first = ask_cups();
    bool applied = false;
    std::string why = first ? "" : first.err().what();
    if (first && !first->tc_cred.empty()) {
        auto creds = proto::station_parse_blob(first->tc_cred);
        if (creds) {
            station::cred_set staged;
            staged.uri = first->tc_uri;
            staged.trust = creds->trust;
            staged.crt = creds->cert;
            staged.key = creds->key;
            applied = home.commit_update(category::tc, staged).has_value();
        } else {
            why = creds.err().what();
        }
    }
    auto second = applied ? ask_cups() : proto::result<proto::update_info_response>(proto::error{});
    t.step("cups over tls", applied && second && second->no_change(),
           first ? fmt::format("TTS's CUPS sent tcUri {} and a {}-byte LNS blob; the station stored tc.*; asked again: no change", first->tc_uri,
                               first->tc_cred.size())
                 : "POST /update-info",
           why.empty() ? (second ? "second answer was not 'no change'" : second.err().what()) : why);

    // Discovery and traffic with the LNS key the station now holds.
    auto tc = home.read(category::tc, variant::regular);
    const std::string auth_line = tc && tc->key ? std::string(proto::as_chars(*tc->key)) : std::string{};
    net::ws_connect_options wo;
    wo.headers = {auth_line.substr(0, auth_line.find("\r\n"))};
    net::ws_client disc(ioc.get_executor(), cc);
    auto up = await_result<proto::result<proto::http_response>>([&](auto cb) { disc.async_connect(*tc->uri + "/router-info", wo, cb); });
    proto::result<net::ws_message> reply = proto::error{};
    if (up) {
        (void)await_result<proto::result<void>>([&](auto cb) { disc.async_send_text(proto::encode_router_info_request({eui, {}}), cb); });
        reply = await_result<proto::result<net::ws_message>>([&](auto cb) { disc.async_read(std::chrono::seconds(5), cb); });
    }
    auto answer = reply ? proto::decode_router_info_response(reply->data) : proto::result<proto::router_info_response>(reply.err());
    t.step("discovery over wss", answer.has_value(), answer ? fmt::format("/router-info answered uri {}", answer->uri) : "GET /router-info",
           answer ? "" : answer.err().what());
    if (!answer) return;
    net::ws_client traffic(ioc.get_executor(), cc);
    auto tup = await_result<proto::result<proto::http_response>>([&](auto cb) { traffic.async_connect(answer->uri, wo, cb); });
    proto::result<net::ws_message> rc_msg = proto::error{};
    if (tup) {
        proto::version_msg v;
        v.station = "2.0.6(minihub/std)";
        v.model = "minihub";
        v.features = "rmtsh prod";
        (void)await_result<proto::result<void>>([&](auto cb) { traffic.async_send_text(proto::encode_upstream(v), cb); });
        rc_msg = await_result<proto::result<net::ws_message>>([&](auto cb) { traffic.async_read(std::chrono::seconds(5), cb); });
    }
    auto rc = rc_msg ? proto::decode_router_config(rc_msg->data) : proto::result<proto::router_config>(rc_msg.err());
    auto stats = ok_json(call("GET", "/api/v3/gs/gateways/lab-ttig/connection/stats", {}));
    const bool connected = rc && stats && stats->contains("connected_at");
    t.step("traffic over wss", connected,
           rc ? fmt::format("version -> router_config {} ({} bytes); the REST API reports connected_at {}", rc->region, rc_msg->data.size(),
                            stats && stats->contains("connected_at") ? (*stats)["connected_at"].get<std::string>() : "-")
              : "open /traffic",
           rc ? "connection stats do not show the gateway connected" : rc.err().what());
    traffic.drop();

    // The events stream: what the emulated TTS recorded about lab-ttig (replayed with tail).
    tts::client_options to;
    to.base_url = api_url;
    to.api_key = admin;
    to.tls.ca_pem = {emulator.ca_pem()};
    to.tls.use_system_store = false;
    tts::client tc_client(to);
    tts::events_request er;
    er.gateway_ids = {"lab-ttig"};
    er.tail = 20;
    auto evs = tc_client.read_events(er, std::chrono::milliseconds(500));
    std::vector<std::string> names;
    if (evs)
        for (const auto& e : evs->events) names.push_back(e.name);
    auto has = [&](std::string_view n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    t.step("events stream", evs && has("gateway.create") && has("gs.gateway.connect"),
           evs ? fmt::format("POST /api/v3/events (tail 20): {}", fmt::join(names, ", ")) : "POST /api/v3/events",
           evs ? "gateway.create or gs.gateway.connect missing" : evs.err().what());

    // An emulated TTIG (emulate station) does the whole provisioning by itself: its own bytes,
    // its file set, CUPS, discovery, traffic.
    auto second_reg = register_gateway("lab-ttig-2", proto::eui64{eui.value + 1});
    auto& cups2 = second_reg.cups_key;
    const fs::path st_home = dir / "station-emulated";
    fs::create_directories(st_home, ec);
    station::cred_set st_cups;
    st_cups.uri = cfgj["cups_url"].get<std::string>();
    st_cups.trust = proto::to_bytes(emulator.ca_pem());
    if (cups2) st_cups.key = proto::to_bytes(fmt::format("Authorization: Bearer {}\r\n", (*cups2)["key"].get<std::string>()));
    const bool provisioned = ok_json(second_reg.gateway) && cups2 && ok_json(second_reg.secret) &&
                             station::home(st_home).write_set(category::cups, variant::regular, st_cups);
    emu::fleet_options fo;
    fo.homes = {st_home};
    fo.euis = {proto::eui64{eui.value + 1}};
    fo.profile = emu::station_profile::ttig();
    fo.profile.uplink_interval = std::chrono::milliseconds(500);  // traffic, so doctor sees a working gateway
    auto seen = std::make_shared<std::vector<std::string>>();
    auto seen_mu = std::make_shared<std::mutex>();
    fo.on_event = [seen, seen_mu](std::size_t, const emu::station_event& e) {
        std::lock_guard lock(*seen_mu);
        seen->push_back(e.kind);
    };
    bool station_up = false;
    emu::fleet_summary sum;
    // doctor, as a user runs it against the deployment: the emulator's CA, the admin's key.
    auto doctor_on = [&](const std::string& gateway) {
        diag::doctor_options d;
        d.tts_url = api_url;
        d.api_key = admin;
        d.gateway = gateway;
        d.ca_pem = {emulator.ca_pem()};
        d.use_system_store = false;
        d.timeout = std::chrono::seconds(10);
        return diag::run_doctor(d);
    };
    std::optional<diag::report> healthy_report;
    if (provisioned) {
        emu::station_fleet fleet(ioc, clock, std::move(fo));
        fleet.start();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!station_up && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // real I/O, not a timer
            sum = fleet.summary();
            station_up = sum.leds.count("green_solid") == 1;
        }
        // Wait (bounded) for its first uplink in the connection stats, then ask doctor.
        for (int i = 0; station_up && i < 100; ++i) {
            auto st = ok_json(call("GET", "/api/v3/gs/gateways/lab-ttig-2/connection/stats", {}));
            if (st && st->contains("last_uplink_received_at")) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (station_up) healthy_report = doctor_on("lab-ttig-2");
        fleet.stop();
        sum = fleet.summary();
    }
    std::vector<std::string> kinds;
    {
        std::lock_guard lock(*seen_mu);
        kinds = *seen;
    }
    const bool files = fs::exists(st_home / "tc.uri") && fs::exists(st_home / "tc-bak.done") && fs::exists(st_home / "cups-bak.done");
    t.step("emulated station", station_up && files,
           station_up ? fmt::format("emulate station: a TTIG went {} (tc.*, cups-bak, tc-bak written; LED green)", fmt::join(kinds, " -> "))
              : "an emulated TTIG from its CUPS set to a connected LNS session",
           !provisioned ? "could not register the second gateway" : station_up ? "files missing" : fmt::format("not connected; events: {}", fmt::join(kinds, ", ")));

    // doctor: the connected TTIG is healthy; three gateways broken the way users break them get
    // the catalogue's cause, each with its evidence.
    struct broken {
        std::string id, expect, how;
        std::string body_path, body;  // a PUT (field mask) or, for the key, a DELETE of the LNS key
    };
    const std::vector<broken> cases{
        {"lab-no-lns-key", "lns-key-revoked", "LNS key deleted", "", ""},
        {"lab-no-plan", "frequency-plan-missing", "frequency plan removed", "frequency_plan_ids", R"({"frequency_plan_ids":[]})"},
        {"lab-no-gs", "gs-address-wrong-or-unreachable", "Gateway Server address cleared", "gateway_server_address", R"({"gateway_server_address":""})"},
    };
    std::vector<std::string> lines;
    bool all = healthy_report && healthy_report->v.cause == "healthy";
    lines.push_back(fmt::format("lab-ttig-2 (connected) -> {}", healthy_report ? healthy_report->v.cause : "not run"));
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        auto reg = register_gateway(c.id, proto::eui64{eui.value + 16 + i});
        bool broke = ok_json(reg.gateway) && reg.lns_key;
        if (broke && c.body_path.empty()) {
            broke = ok_json(call("DELETE", fmt::format("/api/v3/gateways/{}/api-keys/{}", c.id, (*reg.lns_key)["id"].get<std::string>()), {})).has_value();
        } else if (broke) {
            auto b = nlohmann::json::parse(c.body);
            broke = ok_json(call("PUT", "/api/v3/gateways/" + c.id,
                                 nlohmann::json{{"gateway", b}, {"field_mask", {{"paths", {c.body_path}}}}}.dump()))
                        .has_value();
        }
        const auto rep = broke ? doctor_on(c.id) : diag::report{};
        const bool ok = broke && rep.v.cause == c.expect;
        all = all && ok;
        lines.push_back(fmt::format("{} ({}) -> {} ({}; {})", c.id, c.how, broke ? rep.v.cause : "setup failed", to_string(rep.v.confidence),
                                    rep.v.evidence.empty() ? "no evidence" : rep.v.evidence.front()));
    }
    t.step("doctor", all, fmt::format("ttigctl doctor named each cause: {}", fmt::join(lines, "; ")), fmt::format("{}", fmt::join(lines, "; ")));
}

int run_lab(const lab_options& o) {
    tour t(o.json);
    if (!o.json)
        fmt::print("ttigctl lab — a TTIG provisioned end to end, checked at every step (no hardware, no account)\n\n");

    // 1. The gateway: its label code gives the EUI every protocol uses.
    auto eui = proto::eui_from_ttig_label("58A0CB800001");
    const bool eui_ok = eui && eui->hex() == "58A0CBFFFE800001" && proto::station_id6(*eui) == "58a0:cbff:fe80:1" &&
                        eui->gateway_id() == "eui-58a0cbfffe800001" && eui->looks_like_ttig();
    t.step("eui", eui_ok,
           eui ? fmt::format("label 58A0CB800001 -> EUI {}, router ID6 {}, gateway ID {}", eui->hex(), proto::station_id6(*eui), eui->gateway_id())
               : "label 58A0CB800001",
           eui ? "unexpected EUI forms" : eui.err().what());
    if (!eui) return t.finish();

    // 2. A private CA for the lab's CUPS and LNS servers.
    auto ca = pki::make_ca("ttigctl lab CA");
    auto ca_info = ca ? pki::inspect_certificate(ca->cert_der) : proto::result<pki::cert_info>(ca.err());
    t.step("pki", ca && ca_info && ca_info->self_signed && ca_info->is_ca,
           ca_info ? fmt::format("generated {} ({}, {} bytes DER, valid to {})", ca_info->subject, ca_info->key_type, ca_info->der_size, ca_info->not_after)
                   : "generate a CA",
           ca_info ? "CA is not a self-signed CA" : ca_info.err().what());
    if (!ca) return t.finish();

    // 3. The station's factory CUPS set, written as a station holds it.
    fs::path home_dir;
    std::error_code ec;
    if (!o.keep.empty()) {
        home_dir = o.keep;
        fs::create_directories(home_dir, ec);
    } else {
        home_dir = fs::temp_directory_path() / fmt::format("ttigctl-lab-{}", ::getpid());
        fs::create_directories(home_dir, ec);
    }
    struct cleanup {
        fs::path dir;
        bool keep;
        ~cleanup() {
            std::error_code e;
            if (!keep) fs::remove_all(dir, e);
        }
    } cleanup_guard{home_dir, !o.keep.empty()};
    station::home home(home_dir);
    const std::string cups_key = random_api_key(), lns_key = random_api_key();
    station::cred_set factory;
    factory.uri = "https://cups.lab.invalid:443";
    factory.trust = ca->cert_der;
    factory.crt = bytes{};
    factory.key = proto::to_bytes(fmt::format("Authorization: {}\r\n", cups_key));
    auto written = home.commit_update(category::cups, factory);
    struct stat st {};
    const bool key_0600 = ::stat((home_dir / "cups.key").c_str(), &st) == 0 && (st.st_mode & 0777) == 0600;
    auto cups_crc = home.cred_crc(category::cups);
    // §2.4: the CRC of the files equals the CRC-32 of the blob TTS would build from the same trust
    // and key, which is how TTS knows the station already holds them.
    const std::uint32_t tts_blob_crc = proto::crc32(proto::tts_token_blob(ca->cert_der, cups_key));
    t.step("station files", written && key_0600 && cups_crc && *cups_crc == tts_blob_crc,
           cups_crc ? fmt::format("cups.uri/.trust/.crt/.key in {} (key 0600, token {}), cupsCredCrc {} = CRC of TTS's blob", home_dir.string(),
                                  proto::redact_secret(cups_key), *cups_crc)
                    : "write cups.*",
           !written ? written.err().what() : !key_0600 ? "cups.key is not mode 0600" : cups_crc ? "CRC differs from the TTS blob CRC" : cups_crc.err().what());

    // 4. The station's update-info request, read by TTS.
    proto::update_info_request req;
    req.router = *eui;
    auto cups_set = home.read(category::cups, variant::regular);
    auto tc_set = home.read(category::tc, variant::regular);
    req.cups_uri = cups_set ? cups_set->uri : std::nullopt;
    req.tc_uri = tc_set ? tc_set->uri : std::nullopt;
    req.cups_cred_crc = cups_crc ? *cups_crc : 0;
    req.tc_cred_crc = home.cred_crc(category::tc) ? *home.cred_crc(category::tc) : 0;
    req.station = "2.0.6(minihub/std) 2026-11-30 00:00:00";
    req.model = "minihub";
    const std::string body = proto::encode_update_info_request(req);
    const std::string http = proto::station_update_info_http("cups.lab.invalid:443", body, as_chars(*factory.key));
    auto decoded = proto::tts_decode_update_info_request(body);
    const bool req_ok = decoded && *decoded == req && !decoded->tc_uri && decoded->tc_cred_crc == proto::empty_set_crc &&
                        http.find(fmt::format("Content-Length: {:>5}\r\n", body.size())) != std::string::npos;
    t.step("cups request", req_ok,
           fmt::format("{}-byte POST /update-info ({}-byte body, tcUri null, tcCredCrc {} = empty set), decoded as TTS reads it", http.size(),
                       body.size(), req.tc_cred_crc),
           decoded ? "decoded request differs" : decoded.err().what());

    // 5. TTS answers with the LNS URI and credentials (branch C); the station parses it.
    proto::update_info_response resp;
    resp.tc_uri = "wss://lns.lab.invalid:8887";
    resp.tc_cred = proto::tts_token_blob(ca->cert_der, lns_key);
    auto wire = proto::encode_update_info_response(resp, proto::cups_dialect::tts);
    auto as_station = wire ? proto::decode_update_info_response(*wire, proto::cups_dialect::station)
                           : proto::result<proto::update_info_response>(wire.err());
    auto creds = as_station ? proto::station_parse_blob(as_station->tc_cred) : proto::result<proto::credentials>(as_station.err());
    bool applied = false;
    std::string apply_err;
    if (as_station && creds) {
        station::cred_set staged;
        staged.uri = as_station->tc_uri;
        staged.trust = creds->trust;
        staged.crt = creds->cert;
        staged.key = creds->key;
        auto c = home.commit_update(category::tc, staged);
        applied = c.has_value();
        if (!c) apply_err = c.err().what();
    }
    auto tc_crc = home.cred_crc(category::tc);
    auto tc_crt = home.read(category::tc, variant::regular);
    const bool resp_ok = applied && tc_crc && *tc_crc == proto::crc32(resp.tc_cred) && tc_crt && tc_crt->crt && tc_crt->crt->empty();
    t.step("cups response", resp_ok,
           wire ? fmt::format("{}-byte TTS answer (tcUri + {}-byte tcCred) decoded by the station, tc.* committed via tc-temp.* "
                              "(empty tc.crt), tcCredCrc {} = blob CRC",
                              wire->size(), resp.tc_cred.size(), tc_crc ? *tc_crc : 0)
                : "encode",
           !wire ? wire.err().what() : !as_station ? as_station.err().what() : !creds ? creds.err().what() : apply_err.empty() ? "CRC mismatch" : apply_err);

    // 6. Next check-in: TTS sees equal CRCs and answers "no change" (18 bytes), which the station accepts.
    proto::update_info_response none;
    auto none_wire = proto::encode_update_info_response(none, proto::cups_dialect::tts);
    auto none_read = none_wire ? proto::decode_update_info_response(*none_wire, proto::cups_dialect::station)
                               : proto::result<proto::update_info_response>(none_wire.err());
    t.step("cups no change", none_wire && none_wire->size() == 18 && none_read && none_read->no_change(),
           "18-byte TTS body read by the station as 'nothing changed' (it needs 14; the key CRC is read as updLen 0)",
           none_read ? "not read as no change" : none_read.err().what());

    // 7. Discovery: the station asks /router-info, TTS answers with the traffic URI.
    proto::router_info_request rir{*eui, {}};
    const std::string rir_text = proto::encode_router_info_request(rir);
    auto rir_tts = proto::decode_router_info_request(rir_text);
    auto answer = rir_tts ? proto::encode_router_info_response(proto::tts_router_info_response(
                                *rir_tts, proto::tts_traffic_uri("wss", "lns.lab.invalid:8887", rir_tts->eui)))
                          : std::string{};
    auto answer_station = proto::decode_router_info_response(answer);
    t.step("discovery", rir_tts && answer_station && answer_station->uri == "wss://lns.lab.invalid:8887/traffic/eui-58A0CBFFFE800001",
           fmt::format("{} -> {}", rir_text, answer),
           !rir_tts ? rir_tts.err().what() : answer_station ? "unexpected traffic URI" : answer_station.err().what());

    // 8. router_config for the TTIG's EU868 plan, as TTS sends it and the station reads it.
    auto plan = proto::frequency_plan_by_id("EU_863_870_TTN");
    std::string rc_text;
    if (plan) {
        proto::router_config_options opts;
        opts.production = true;
        opts.mux_time = 1735689600.123456;
        auto encoded = proto::encode_router_config(**plan, opts);
        if (encoded) rc_text = std::move(*encoded);
    }
    auto rc = plan ? proto::decode_router_config(rc_text) : proto::result<proto::router_config>(plan.err());
    t.step("router_config", rc && rc->region_recognised && rc_text.size() == 1060,
           rc ? fmt::format("EU_863_870_TTN -> {}-byte router_config, region {} (station: {}), hwspec {}", rc_text.size(), rc->region,
                            rc->station_region, rc->hwspec)
              : "EU_863_870_TTN",
           rc ? "region not recognised or length differs from the reference 1060 bytes" : rc.err().what());

    // 9. What the station would now use, as `ttigctl creds inspect` reports it.
    auto cups_sel = home.cups_set();
    auto tc_sel = home.tc_set();
    t.step("station state", cups_sel && tc_sel && cups_sel->which == variant::regular && tc_sel->set.uri == resp.tc_uri,
           tc_sel ? fmt::format("CUPS via the regular set ({}), LNS via {} with auth {}", cups_sel ? *cups_sel->set.uri : "?", *tc_sel->set.uri,
                                station::to_string(tc_sel->set.auth_mode()))
                  : "select sets",
           tc_sel ? "unexpected set selection" : tc_sel.err().what());

    if (!o.json) fmt::print("\nthe same TTIG against the emulated The Things Stack on loopback (TLS, WebSockets):\n");
    emulator_tour(t, home_dir, *eui);

    if (!o.json) fmt::print("\nprovisioning on a virtual clock (claim, rotate, serve):\n");
    provisioning_tour([&t](std::string name, bool ok, std::string what, std::string why) { return t.step(std::move(name), ok, std::move(what), std::move(why)); },
                      home_dir / "provisioning");

    if (!o.json && !o.keep.empty()) fmt::print("\nthe station home is kept in {} — try: ttigctl creds inspect {}\n", o.keep, o.keep);
    return t.finish();
}

}  // namespace

void setup_lab(CLI::App& app) {
    auto o = std::make_shared<lab_options>();
    auto* sub = app.add_subcommand("lab",
                                   "Tour of ttigctl with no hardware and no account: provisions a TTIG end to end on emulated peers,\n"
                                   "checks every step, ends by itself, exits 0 only if every step worked");
    sub->add_option("--keep", o->keep, "Keep the lab's station home in this directory (default: a temporary one, removed)");
    add_json_flag(*sub, o->json);
    sub->callback([o] {
        if (int rc = run_lab(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
