#include <ttig/emu/station_engine.hpp>

#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/proto/station_wire.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace ttig::emu {

namespace {

using std::chrono::seconds;

station::variant set_of(int index) {
    switch (index) {
        case 1: return station::variant::bak;
        case 2: return station::variant::boot;
        default: return station::variant::regular;
    }
}

std::string text_of(const std::optional<proto::bytes>& b) {
    if (!b) return {};
    return std::string(b->begin(), b->end());
}

// "scheme://host:port[/path]" -> the text between "://" and the path (the Host header).
std::string_view authority_of(std::string_view uri) {
    auto p = uri.find("://");
    if (p == std::string_view::npos) return {};
    auto rest = uri.substr(p + 3);
    return rest.substr(0, rest.find('/'));
}

std::string_view path_of(std::string_view uri) {
    auto p = uri.find("://");
    if (p == std::string_view::npos) return "/";
    auto rest = uri.substr(p + 3);
    auto slash = rest.find('/');
    return slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
}

std::string host_of(std::string_view uri) {
    auto a = authority_of(uri);
    if (a.starts_with('[')) return std::string(a.substr(1, a.find(']') - 1));
    return std::string(a.substr(0, a.rfind(':')));
}

station_action act(station_action::kind k, int channel, std::string wire = {}) {
    station_action a;
    a.what = k;
    a.channel = channel;
    a.wire = std::move(wire);
    return a;
}

}  // namespace

station_profile station_profile::basicstation() { return {}; }

station_profile station_profile::ttig() {
    station_profile p;
    p.kind = station_profile_kind::ttig;
    p.station = "2.0.6(minihub/prod) 2024-05-01 12:00:00";
    p.version_station = "2.0.6(minihub/prod)";
    p.model = "minihub";
    p.features = "rmtsh prod";
    p.tls12_only = true;
    p.max_chain_depth = 4;
    p.max_chain_bytes = 8u << 10;
    return p;
}

std::string_view to_string(station_led l) noexcept {
    switch (l) {
        case station_led::off: return "off";
        case station_led::green_blink_slow: return "green_blink_slow";
        case station_led::green_blink_fast: return "green_blink_fast";
        case station_led::green_solid: return "green_solid";
        case station_led::green_red_alternating: return "green_red_alternating";
        case station_led::red_blink_fast: return "red_blink_fast";
    }
    return "?";
}

std::string_view to_string(cups_phase p) noexcept {
    switch (p) {
        case cups_phase::idle: return "idle";
        case cups_phase::waiting: return "waiting";
        case cups_phase::requesting: return "requesting";
    }
    return "?";
}

std::string_view to_string(tc_phase p) noexcept {
    switch (p) {
        case tc_phase::stopped: return "stopped";
        case tc_phase::waiting: return "waiting";
        case tc_phase::discovery: return "discovery";
        case tc_phase::traffic_connecting: return "traffic_connecting";
        case tc_phase::connected: return "connected";
    }
    return "?";
}

station_engine::station_engine(station::home home, proto::eui64 eui, station_profile profile, const proto::clock& clock,
                               station_timing timing)
    : home_(std::move(home)), eui_(eui), profile_(std::move(profile)), clock_(&clock), timing_(timing) {}

station_led station_engine::led() const noexcept {
    if (!powered_) return station_led::off;
    if (config_mode_) return station_led::red_blink_fast;
    if (factory_reset_) return station_led::green_red_alternating;
    if (!network_) return station_led::green_blink_slow;
    if (tc_ == tc_phase::connected && !router_config_.empty()) return station_led::green_solid;
    return station_led::green_blink_fast;
}

station::variant station_engine::cups_set_in_use() const noexcept { return set_of(cups_index_); }

void station_engine::emit(std::string kind, std::string detail) {
    if (!sink_) return;
    station_event e;
    e.at = clock_->now();
    e.kind = std::move(kind);
    e.detail = std::move(detail);
    e.led = led();
    sink_(e);
}

std::vector<station_action> station_engine::take_actions() { return std::exchange(actions_, {}); }

bool station_engine::has_cups_uri() const {
    for (auto v : {station::variant::regular, station::variant::bak, station::variant::boot}) {
        auto s = home_.read(station::category::cups, v);
        if (s && s->has_uri()) return true;
    }
    return false;
}

// ---- power, buttons, network ------------------------------------------------------------------------

void station_engine::start() {
    powered_ = true;
    config_mode_ = false;
    cups_ = cups_phase::idle;
    cups_at_.reset();
    cups_deadline_.reset();
    cups_index_ = 0;
    cups_failures_ = 0;
    last_cups_failed_ = false;
    tc_ = tc_phase::stopped;
    tc_at_.reset();
    tc_deadline_.reset();
    uplink_at_.reset();
    router_config_.clear();
    traffic_uri_.clear();
    if (auto r = home_.recover(); !r) emit("files.recover_failed", r.err().what());
    emit("power.on", fmt::format("profile {}, EUI {}", profile_.kind == station_profile_kind::ttig ? "ttig" : "basicstation", eui_.hex()));
    if (has_cups_uri()) {
        cups_ = cups_phase::waiting;
        cups_at_ = clock_->now();
    } else {
        emit("cups.disabled", "no CUPS URI in any set: running without CUPS");
    }
    start_tc(seconds(0));
}

void station_engine::power_cycle() {
    actions_.push_back(act(station_action::kind::cancel, channel_cups));
    actions_.push_back(act(station_action::kind::cancel, channel_discovery));
    actions_.push_back(act(station_action::kind::cancel, channel_traffic));
    powered_ = false;
    emit("power.off", "power cycle");
    start();
}

void station_engine::press_reset() {
    // Factory reset: LNS credentials (every tc.* set and its markers) are erased; the CUPS
    // credentials stay. WiFi is not emulated: the station is taken to be set up again at once.
    actions_.push_back(act(station_action::kind::cancel, channel_cups));
    actions_.push_back(act(station_action::kind::cancel, channel_discovery));
    actions_.push_back(act(station_action::kind::cancel, channel_traffic));
    for (auto v : {station::variant::regular, station::variant::bak, station::variant::boot, station::variant::temp})
        if (auto r = home_.remove_set(station::category::tc, v); !r) emit("files.write_failed", r.err().what());
    std::error_code ec;
    for (const char* m : {"tc-bak.done", "tc-temp.upd", "tc-temp.cpy"}) std::filesystem::remove(home_.dir() / m, ec);
    powered_ = false;
    emit("button.reset", "factory reset: tc.* erased, cups.* kept");
    start();
    factory_reset_ = true;
    emit("led", "factory reset");
}

void station_engine::press_setup() {
    if (!config_mode_) {
        actions_.push_back(act(station_action::kind::cancel, channel_cups));
        actions_.push_back(act(station_action::kind::cancel, channel_discovery));
        actions_.push_back(act(station_action::kind::cancel, channel_traffic));
        config_mode_ = true;
        cups_ = cups_phase::idle;
        cups_at_.reset();
        cups_deadline_.reset();
        tc_ = tc_phase::stopped;
        tc_at_.reset();
        tc_deadline_.reset();
        uplink_at_.reset();
        router_config_.clear();
        emit("button.setup", "configuration mode: access point MINIHUB-" + eui_.hex().substr(10) + ", not forwarding");
        return;
    }
    emit("button.setup", "leaving configuration mode: reboot");
    power_cycle();
}

void station_engine::set_network(bool up) {
    if (network_ == up) return;
    network_ = up;
    emit(up ? "network.up" : "network.down", up ? "network back" : "network lost: every connection fails");
    if (up || !powered_) return;
    if (cups_ == cups_phase::requesting) {
        actions_.push_back(act(station_action::kind::cancel, channel_cups));
        cups_failed(false, "network down");
    }
    if (tc_ == tc_phase::discovery) {
        actions_.push_back(act(station_action::kind::cancel, channel_discovery));
        tc_failed_discovery("network down", false);
    } else if (tc_ == tc_phase::traffic_connecting || tc_ == tc_phase::connected) {
        actions_.push_back(act(station_action::kind::cancel, channel_traffic));
        tc_traffic_lost("network down", tc_ == tc_phase::connected);
    }
}

// ---- time --------------------------------------------------------------------------------------------

std::optional<proto::time_point> station_engine::next_deadline() const {
    std::optional<time_point> t;
    auto take = [&](const std::optional<time_point>& x) {
        if (x && (!t || *x < *t)) t = x;
    };
    if (cups_ == cups_phase::waiting) take(cups_at_);
    if (cups_ == cups_phase::requesting) take(cups_deadline_);
    if (tc_ == tc_phase::waiting) take(tc_at_);
    if (tc_ == tc_phase::traffic_connecting || tc_ == tc_phase::connected) take(tc_deadline_);
    if (tc_ == tc_phase::connected) take(uplink_at_);
    return t;
}

void station_engine::tick() {
    // Each deadline fires at most once per call; firing may schedule new ones (handled next call).
    const auto now = clock_->now();
    if (!powered_ || config_mode_) return;
    if (cups_ == cups_phase::waiting && cups_at_ && *cups_at_ <= now) begin_cups();
    else if (cups_ == cups_phase::requesting && cups_deadline_ && *cups_deadline_ <= now) {
        actions_.push_back(act(station_action::kind::cancel, channel_cups));
        cups_failed(false, "no complete answer within CUPS_CONN_TIMEOUT");
    }
    if (tc_ == tc_phase::waiting && tc_at_ && *tc_at_ <= now) {
        if (!traffic_uri_.empty()) tc_traffic();
        else tc_discovery();
    } else if ((tc_ == tc_phase::traffic_connecting || tc_ == tc_phase::connected) && tc_deadline_ && *tc_deadline_ <= now) {
        actions_.push_back(act(station_action::kind::cancel, channel_traffic));
        tc_traffic_lost("no router_config within TC_TIMEOUT", tc_ == tc_phase::connected);
    } else if (tc_ == tc_phase::connected && uplink_at_ && *uplink_at_ <= now) {
        send_uplink();
    }
}

// ---- CUPS ----------------------------------------------------------------------------------------------

void station_engine::begin_cups() {
    const auto which = set_of(cups_index_);
    auto set = home_.read(station::category::cups, which);
    if (!set || !set->has_uri()) {
        // A slot without a URI still costs one interval (§6.1).
        return cups_failed(true, fmt::format("no cups URI in the {} set", station::to_string(which)));
    }
    auto uri = proto::station_check_uri(*set->uri, {"http", "https"});
    if (!uri) return cups_failed(true, fmt::format("{} cups.uri: {}", station::to_string(which), uri.err().what()));
    const bool tls = uri->scheme == "https";

    // The body reports the regular sets, whatever set is in use (§1.3).
    auto cups_reg = home_.read(station::category::cups, station::variant::regular);
    auto tc_reg = home_.read(station::category::tc, station::variant::regular);
    auto cups_crc = home_.cred_crc(station::category::cups);
    auto tc_crc = home_.cred_crc(station::category::tc);
    auto package = home_.version_txt();
    auto keys = home_.sig_key_crcs();
    if (!cups_reg || !tc_reg || !cups_crc || !tc_crc || !package || !keys)
        return cups_failed(false, "cannot read the station's files");
    proto::update_info_request rq;
    rq.router = eui_;
    rq.cups_uri = cups_reg->uri;
    rq.tc_uri = tc_reg->uri;
    rq.cups_cred_crc = *cups_crc;
    rq.tc_cred_crc = *tc_crc;
    rq.station = profile_.station;
    rq.model = profile_.model;
    rq.package = *package;
    rq.keys = *keys;
    std::string token_lines;
    const auto mode = set->auth_mode();
    if (tls && mode == station::auth_mode::token) {
        auto t = station::normalise_token(text_of(set->key));
        if (!t) return cups_failed(false, fmt::format("{} cups.key: {}", station::to_string(which), t.err().what()));
        token_lines = *t;
    }
    if (!network_) return cups_failed(false, "network down");
    station_action a;
    a.what = station_action::kind::cups_request;
    a.channel = channel_cups;
    a.uri = *set->uri;
    a.host = uri->host;
    a.wire = proto::station_update_info_http(authority_of(*set->uri), proto::encode_update_info_request(rq), token_lines);
    if (tls) {
        a.trust = set->trust;
        if (mode == station::auth_mode::mutual_tls) {
            a.crt = set->crt;
            a.key = set->key;
        }
    }
    actions_.push_back(std::move(a));
    cups_ = cups_phase::requesting;
    cups_deadline_ = clock_->now() + timing_.cups_timeout;
    ++cups_requests_;
    emit("cups.request", fmt::format("POST {}/update-info with the {} set", *set->uri, station::to_string(which)));
}

void station_engine::on_cups_response(int status, bool has_content_length, const proto::bytes& body, std::string failure) {
    if (cups_ != cups_phase::requesting) return;
    cups_deadline_.reset();
    if (status == 0) return cups_failed(false, failure.empty() ? "connection failed" : failure);
    if (status == 200 && cups_index_ == 0 && !cups_bak_done_this_process_) {
        // Any 200 with the regular set backs it up (once), before the body is looked at (§6.1).
        cups_bak_done_this_process_ = true;
        if (auto r = home_.backup(station::category::cups); !r) emit("files.write_failed", r.err().what());
        else emit("files.backup", "cups-bak.* from the regular set");
    }
    if (status != 200) return cups_failed(true, fmt::format("Failed to retrieve TCURI from CUPS: ({})", status));
    if (!has_content_length) return cups_failed(false, "Malformed CUPS response: no Content-Length");
    bool cups_changed = false, tc_changed = false, ok = false;
    std::string why;
    apply_cups_body(body, cups_changed, tc_changed, why, ok);
    if (!ok) return cups_failed(false, why);
    cups_done(cups_changed, tc_changed);
}

void station_engine::apply_cups_body(const proto::bytes& body, bool& cups_changed, bool& tc_changed, std::string& why, bool& ok) {
    auto r = proto::decode_update_info_response(body, proto::cups_dialect::station);
    if (!r) {
        why = fmt::format("CUPS response: {}", r.err().what());
        return;
    }
    // Start of body: every temp file goes (§1.10, §3.2 reset).
    for (auto c : {station::category::cups, station::category::tc})
        if (auto x = home_.commit_update(c, {}); !x) {
            why = x.err().what();
            return;
        }
    // Parse both credential segments before anything is staged (a bad blob changes nothing).
    station::cred_set staged[2];
    const proto::bytes* creds[2] = {&r->cups_cred, &r->tc_cred};
    const std::string* uris[2] = {&r->cups_uri, &r->tc_uri};
    for (int i = 0; i < 2; ++i) {
        if (!uris[i]->empty()) staged[i].uri = *uris[i];
        if (creds[i]->empty()) continue;
        auto parsed = proto::station_parse_blob(*creds[i]);
        if (!parsed) {
            why = fmt::format("{} credentials: {}", i == 0 ? "CUPS" : "TC", parsed.err().what());
            return;
        }
        staged[i].trust = parsed->trust;
        staged[i].crt = parsed->cert;
        staged[i].key = parsed->key;
    }
    for (int i = 0; i < 2; ++i) {
        if (staged[i].empty()) continue;
        const auto c = i == 0 ? station::category::cups : station::category::tc;
        if (auto x = home_.commit_update(c, staged[i]); !x) {
            why = x.err().what();
            return;
        }
        (i == 0 ? cups_changed : tc_changed) = true;
        emit("files.update", fmt::format("{}: {}{}", station::to_string(c), staged[i].uri ? "uri " : "",
                                         staged[i].trust ? "credentials" : ""));
    }
    ok = true;
}

void station_engine::cups_done(bool cups_changed, bool tc_changed) {
    cups_failures_ = 0;
    cups_index_ = 0;
    last_cups_failed_ = false;
    factory_reset_ = false;
    cups_ = cups_phase::waiting;
    const bool connected = tc_ == tc_phase::connected;
    const auto delay = connected ? timing_.cups_ok : cups_changed ? timing_.cups_resync : timing_.cups_ok;
    cups_at_ = clock_->now() + delay;
    emit("cups.ok", fmt::format("{}; next CUPS contact in {} s", !cups_changed && !tc_changed ? "no change" : tc_changed ? "TC updated" : "CUPS updated",
                                std::chrono::duration_cast<seconds>(delay).count()));
    if (tc_changed && tc_ != tc_phase::stopped) stop_tc();
    if (tc_ == tc_phase::stopped) start_tc(seconds(0));
}

void station_engine::cups_failed(bool rejected, std::string why) {
    const bool advance = rejected || cups_failures_ > 6;
    ++cups_failures_;
    if (advance) cups_index_ = (cups_index_ + 1) % 3;
    last_cups_failed_ = true;
    cups_ = cups_phase::waiting;
    const auto delay = tc_ == tc_phase::connected ? timing_.cups_ok : timing_.cups_resync;
    cups_at_ = clock_->now() + delay;
    emit("cups.fail", fmt::format("{} (failure {}; next try in {} s with the {} set)", why, cups_failures_,
                                  std::chrono::duration_cast<seconds>(delay).count(), station::to_string(set_of(cups_index_))));
    if (tc_ == tc_phase::stopped) start_tc(seconds(0));
}

// ---- TC ------------------------------------------------------------------------------------------------

void station_engine::start_tc(std::chrono::seconds delay) {
    tc_retry_ = 0;
    traffic_uri_.clear();
    tc_ = tc_phase::waiting;
    tc_at_ = clock_->now() + delay;
}

void station_engine::stop_tc() {
    if (tc_ == tc_phase::discovery) actions_.push_back(act(station_action::kind::cancel, channel_discovery));
    if (tc_ == tc_phase::traffic_connecting || tc_ == tc_phase::connected)
        actions_.push_back(act(station_action::kind::ws_close, channel_traffic, proto::station_frame(proto::ws_opcode::close, proto::station_close_payload(1000))));
    tc_ = tc_phase::stopped;
    tc_at_.reset();
    tc_deadline_.reset();
    uplink_at_.reset();
    router_config_.clear();
    emit("tc.stop", "TC engine stopped");
}

void station_engine::tc_handover_to_cups(std::string why) {
    stop_tc();
    if (!has_cups_uri()) {
        // Without CUPS the TC engine keeps retrying (§3.5).
        tc_ = tc_phase::waiting;
        tc_at_ = clock_->now() + seconds(std::min(tc_retry_, 6) * 10);
        ++tc_retry_;
        emit("tc.retry", why + "; no CUPS URI: TC keeps retrying");
        return;
    }
    emit("tc.to_cups", why + "; CUPS in 60 s");
    if (cups_ == cups_phase::requesting) return;  // already asking
    cups_ = cups_phase::waiting;
    cups_at_ = clock_->now() + timing_.cups_resync;
}

void station_engine::tc_discovery() {
    auto set = home_.tc_set();
    if (!set) return tc_handover_to_cups("no tc.uri");
    auto uri = proto::station_check_uri(*set->set.uri, {"ws", "wss"});
    if (!uri) return tc_handover_to_cups(fmt::format("tc.uri: {}", uri.err().what()));
    const bool tls = uri->scheme == "wss";
    std::string token_lines;
    if (tls && set->set.auth_mode() == station::auth_mode::token) {
        auto t = station::normalise_token(text_of(set->set.key));
        if (!t) return tc_handover_to_cups(fmt::format("tc.key: {}", t.err().what()));
        token_lines = *t;
    }
    tc_ = tc_phase::discovery;
    if (!network_) return tc_failed_discovery("network down", false);
    station_action a;
    a.what = station_action::kind::ws_open;
    a.channel = channel_discovery;
    a.uri = *set->set.uri + "/router-info";
    a.host = uri->host;
    a.wire = proto::station_ws_upgrade(authority_of(*set->set.uri), "/router-info", token_lines);
    if (tls) a.trust = set->set.trust;
    actions_.push_back(std::move(a));
    emit("tc.discovery", fmt::format("{}/router-info (retry {})", *set->set.uri, tc_retry_));
}

void station_engine::tc_failed_discovery(std::string why, bool rejected) {
    if (rejected) return tc_handover_to_cups("discovery rejected: " + why);
    if (tc_retry_ >= 10 && has_cups_uri()) return tc_handover_to_cups(fmt::format("{} (11th failure)", why));
    const auto delay = seconds(std::min(tc_retry_, 6) * 10);
    ++tc_retry_;
    tc_ = tc_phase::waiting;
    tc_at_ = clock_->now() + delay;
    emit("tc.fail", fmt::format("{}; discovery again in {} s", why, delay.count()));
}

void station_engine::tc_traffic() {
    auto set = home_.tc_set();
    if (!set) return tc_handover_to_cups("no tc.uri");
    const bool tls = traffic_uri_.starts_with("wss:");
    std::string token_lines;
    if (tls && set->set.auth_mode() == station::auth_mode::token) {
        auto t = station::normalise_token(text_of(set->set.key));
        if (!t) return tc_handover_to_cups(fmt::format("tc.key: {}", t.err().what()));
        token_lines = *t;
    }
    tc_ = tc_phase::traffic_connecting;
    tc_deadline_ = clock_->now() + timing_.tc_timeout;
    if (!network_) return tc_traffic_lost("network down", false);
    station_action a;
    a.what = station_action::kind::ws_open;
    a.channel = channel_traffic;
    a.uri = traffic_uri_;
    a.host = host_of(traffic_uri_);
    a.wire = proto::station_ws_upgrade(authority_of(traffic_uri_), path_of(traffic_uri_), token_lines);
    if (tls) a.trust = set->set.trust;
    actions_.push_back(std::move(a));
    emit("tc.traffic", fmt::format("{} (retry {})", traffic_uri_, tc_retry_));
}

void station_engine::tc_traffic_lost(std::string why, bool was_connected) {
    uplink_at_.reset();
    tc_deadline_.reset();
    router_config_.clear();
    if (was_connected && tc_retry_ <= 4) {
        const auto delay = seconds(1 << tc_retry_);
        ++tc_retry_;
        tc_ = tc_phase::waiting;
        tc_at_ = clock_->now() + delay;
        emit("tc.lost", fmt::format("{}; traffic again in {} s", why, delay.count()));
        return;
    }
    traffic_uri_.clear();
    tc_retry_ = 1;
    tc_ = tc_phase::waiting;
    tc_at_ = clock_->now() + seconds(10);
    emit("tc.lost", fmt::format("{}; discovery again in 10 s", why));
}

void station_engine::on_ws_open(int channel, int status, std::string failure) {
    if (channel == channel_discovery && tc_ == tc_phase::discovery) {
        if (status != 101) {
            return tc_failed_discovery(status == 0 ? (failure.empty() ? "connection failed" : failure)
                                                   : fmt::format("WS upgrade failed with HTTP status code: {}", status),
                                       false);
        }
        proto::router_info_request rq;
        rq.eui = eui_;
        actions_.push_back(act(station_action::kind::ws_send, channel_discovery, proto::station_frame(proto::ws_opcode::text, proto::encode_router_info_request(rq))));
        return;
    }
    if (channel == channel_traffic && tc_ == tc_phase::traffic_connecting) {
        if (status != 101) {
            return tc_traffic_lost(status == 0 ? (failure.empty() ? "connection failed" : failure)
                                               : fmt::format("WS upgrade failed with HTTP status code: {}", status),
                                   false);
        }
        proto::version_msg v;
        v.station = profile_.version_station;
        if (auto pkg = home_.version_txt(); pkg && *pkg) {
            v.firmware = **pkg;
            v.package = **pkg;
        }
        v.model = profile_.model;
        v.features = profile_.features;
        actions_.push_back(act(station_action::kind::ws_send, channel_traffic, proto::station_frame(proto::ws_opcode::text, proto::encode_upstream(v))));
        tc_ = tc_phase::connected;
        ++tc_connects_;
        // tc-bak when the traffic connection comes up (§3.3); a pending CUPS retry moves to 24 h.
        if (auto r = home_.backup(station::category::tc); !r) emit("files.write_failed", r.err().what());
        if (cups_ == cups_phase::waiting && last_cups_failed_) cups_at_ = clock_->now() + timing_.cups_ok;
        emit("tc.connected", traffic_uri_);
    }
}

void station_engine::on_ws_text(int channel, std::string text) {
    if (channel == channel_discovery && tc_ == tc_phase::discovery) {
        actions_.push_back(act(station_action::kind::ws_close, channel_discovery, proto::station_frame(proto::ws_opcode::close, proto::station_close_payload(1000))));
        auto r = proto::decode_router_info_response(text);
        if (!r) {
            // An "error" field or no "uri" is a rejection; a bad URI is a failure (errors.md tc.*).
            const bool rejected = r.err().code == make_error_code(proto::tc_errc::infos_rejected);
            return tc_failed_discovery(r.err().what(), rejected);
        }
        traffic_uri_ = r->uri;
        emit("tc.discovered", traffic_uri_);
        return tc_traffic();
    }
    if (channel == channel_traffic && (tc_ == tc_phase::connected)) {
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_object() && j.value("msgtype", "") == "router_config") {
            const bool first = router_config_.empty();
            router_config_ = std::move(text);
            tc_deadline_.reset();
            if (first) emit("tc.router_config", fmt::format("{} bytes; forwarding", router_config_.size()));
            if (profile_.uplink_interval.count() > 0) uplink_at_ = clock_->now() + profile_.uplink_interval;
        }
    }
}

void station_engine::on_ws_ping(int channel, std::string payload) {
    if ((channel == channel_traffic && tc_ == tc_phase::connected) || (channel == channel_discovery && tc_ == tc_phase::discovery))
        actions_.push_back(act(station_action::kind::ws_send, channel, proto::station_frame(proto::ws_opcode::pong, payload)));
}

void station_engine::on_ws_closed(int channel, std::string reason) {
    if (channel == channel_discovery && tc_ == tc_phase::discovery) return tc_failed_discovery("discovery closed: " + reason, false);
    if (channel == channel_traffic && (tc_ == tc_phase::traffic_connecting || tc_ == tc_phase::connected))
        return tc_traffic_lost("traffic closed: " + reason, tc_ == tc_phase::connected);
}

void station_engine::send_uplink() {
    proto::updf_msg m;
    m.mhdr = 0x40;
    m.dev_addr = 0x26011234;
    m.fcnt = uplinks_++;
    m.fport = 1;
    m.frm_payload = "0102";
    m.meta.dr = 5;
    m.meta.freq = 868100000;
    m.meta.upinfo.rssi = -60;
    m.meta.upinfo.snr = 9.5;
    actions_.push_back(act(station_action::kind::ws_send, channel_traffic, proto::station_frame(proto::ws_opcode::text, proto::encode_upstream(m))));
    uplink_at_ = clock_->now() + profile_.uplink_interval;
}

}  // namespace ttig::emu
