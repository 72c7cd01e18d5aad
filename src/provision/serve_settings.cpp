// serve: error domain, policies, the --handover-file, settings checks, events as JSON and text.
#include <ttig/provision/serve.hpp>

#include <ttig/pki/pem.hpp>
#include <ttig/proto/cups.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iterator>

namespace ttig::provision {

namespace {

constexpr int v(serve_errc e) { return static_cast<int>(e); }

constexpr std::array serve_table{
    proto::errc_entry{v(serve_errc::bad_bind), "bad_bind", "serve needs one IP address of this machine to bind to"},
    proto::errc_entry{v(serve_errc::bad_policy), "bad_policy", "station policy is unknown or incomplete"},
    proto::errc_entry{v(serve_errc::bad_target), "bad_target", "hand-over or relay target is unusable"},
    proto::errc_entry{v(serve_errc::state_dir), "state_dir", "serve state directory (CA, server certificate) is unusable"},
    proto::errc_entry{v(serve_errc::bad_settings_file), "bad_settings_file", "hand-over settings file is unusable"},
};

constinit const proto::table_category serve_cat{"serve", serve_table};
constexpr std::array<const proto::table_category*, 1> serve_cats{&serve_cat};

// A key as a station's token line holds it: no "Authorization: ", no "Bearer ", no white space around.
std::string clean_key(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(0, 1);
    if (s.starts_with("Authorization: ")) s = s.substr(15);
    if (s.starts_with("Bearer ")) s = s.substr(7);
    return s;
}

proto::error file_error(std::string detail) { return proto::make_error(serve_errc::bad_settings_file, std::move(detail)); }

// A trust value: inline PEM, or a path (relative to base_dir) to a PEM or DER file.
proto::result<proto::bytes> trust_value(const nlohmann::json& v, const std::string& where, const std::filesystem::path& base_dir) {
    if (!v.is_string() || v.get<std::string>().empty()) return file_error(fmt::format("{}: a file path or PEM text", where));
    const std::string s = v.get<std::string>();
    proto::bytes raw;
    if (s.find("-----BEGIN ") != std::string::npos) {
        raw = proto::to_bytes(s);
    } else {
        std::filesystem::path p(s);
        if (p.is_relative()) p = base_dir / p;
        auto f = pki::load_file(p);
        if (!f) return file_error(fmt::format("{}: {}", where, f.err().detail.empty() ? f.err().what() : f.err().detail));
        raw = std::move(*f);
    }
    auto der = pki::certificate_der(raw);
    if (!der) return file_error(fmt::format("{}: {}", where, der.err().what()));
    return std::move(*der);
}

proto::result<settings_patch> parse_patch(const nlohmann::json& j, const std::string& where, const std::filesystem::path& base_dir,
                                          bool allow_stations) {
    if (!j.is_object()) return file_error(fmt::format("{}: an object", where.empty() ? "/" : where));
    settings_patch p;
    auto str = [&](const char* key, std::optional<std::string>& out, bool secret) -> proto::result<void> {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return {};
        if (!it->is_string()) return file_error(fmt::format("{}/{}: a string", where, key));
        std::string s = it->get<std::string>();
        if (secret) s = clean_key(std::move(s));
        out = std::move(s);
        return {};
    };
    for (auto it = j.begin(); it != j.end(); ++it) {
        static constexpr std::array known{"policy", "cups_uri", "cups_trust", "cups_key", "tc_uri", "tc_trust", "tc_key", "relay_lns", "relay_key"};
        bool ok = std::find(known.begin(), known.end(), it.key()) != known.end() || (allow_stations && it.key() == "stations");
        if (!ok) return file_error(fmt::format("{}/{}: unknown key", where, it.key()));
    }
    if (auto it = j.find("policy"); it != j.end() && !it->is_null()) {
        if (!it->is_string()) return file_error(fmt::format("{}/policy: a string", where));
        auto pol = parse_serve_policy(it->get<std::string>());
        if (!pol)
            return proto::make_error(serve_errc::bad_policy, "{}/policy: '{}' is not capture, handover or relay", where, it->get<std::string>());
        p.policy = *pol;
    }
    for (auto r : {str("cups_uri", p.cups_uri, false), str("cups_key", p.cups_key, true), str("tc_uri", p.tc_uri, false),
                   str("tc_key", p.tc_key, true), str("relay_lns", p.relay_lns, false), str("relay_key", p.relay_key, true)})
        if (!r) return r.err();
    if (auto it = j.find("cups_trust"); it != j.end() && !it->is_null()) {
        auto t = trust_value(*it, where + "/cups_trust", base_dir);
        if (!t) return t.err();
        p.cups_trust = std::move(*t);
    }
    if (auto it = j.find("tc_trust"); it != j.end() && !it->is_null()) {
        auto t = trust_value(*it, where + "/tc_trust", base_dir);
        if (!t) return t.err();
        p.tc_trust = std::move(*t);
    }
    return p;
}

}  // namespace

const proto::table_category& serve_category() noexcept { return serve_cat; }
std::span<const proto::table_category* const> serve_categories() noexcept { return serve_cats; }

std::string_view to_string(serve_policy p) noexcept {
    switch (p) {
        case serve_policy::capture: return "capture";
        case serve_policy::handover: return "handover";
        case serve_policy::relay: return "relay";
    }
    return "?";
}

std::optional<serve_policy> parse_serve_policy(std::string_view text) noexcept {
    if (text == "capture") return serve_policy::capture;
    if (text == "handover" || text == "hand-over") return serve_policy::handover;
    if (text == "relay") return serve_policy::relay;
    return std::nullopt;
}

void settings_patch::apply_to(station_settings& s) const {
    if (policy) s.policy = *policy;
    if (cups_uri) s.handover.cups_uri = *cups_uri;
    if (cups_trust) s.handover.cups_trust = *cups_trust;
    if (cups_key) s.handover.cups_key = *cups_key;
    if (tc_uri) s.handover.tc_uri = *tc_uri;
    if (tc_trust) s.handover.tc_trust = *tc_trust;
    if (tc_key) s.handover.tc_key = *tc_key;
    if (relay_lns) s.relay.lns_uri = *relay_lns;
    if (relay_key) s.relay.lns_key = *relay_key;
}

proto::result<settings_file> parse_settings_file(std::string_view json_text, const std::filesystem::path& base_dir) {
    auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (j.is_discarded()) return file_error("not JSON");
    auto top = parse_patch(j, "", base_dir, true);
    if (!top) return top.err();
    settings_file f;
    f.top = std::move(*top);
    if (auto it = j.find("stations"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) return file_error("/stations: an object keyed by EUI");
        for (auto s = it->begin(); s != it->end(); ++s) {
            auto e = proto::parse_eui(s.key());
            if (!e) return file_error(fmt::format("/stations/{}: not an EUI ({})", s.key(), e.err().what()));
            auto p = parse_patch(s.value(), "/stations/" + s.key(), base_dir, false);
            if (!p) return p.err();
            f.stations[e->eui] = std::move(*p);
        }
    }
    return f;
}

proto::result<settings_file> load_settings_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return file_error(fmt::format("cannot read {}", path.string()));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto f = parse_settings_file(text, path.parent_path());
    if (!f) {
        auto e = f.err();
        e.detail = path.string() + ": " + e.detail;
        return e;
    }
    return f;
}

proto::result<void> validate(const station_settings& s, std::string_view who) {
    if (s.policy == serve_policy::handover) {
        const auto& h = s.handover;
        if (h.cups_uri.empty())
            return proto::make_error(serve_errc::bad_policy, "{}: handover needs a CUPS URI (--handover-cups-uri or cups_uri)", who);
        auto u = proto::station_check_uri(h.cups_uri, {"https"});
        if (!u) return proto::make_error(serve_errc::bad_target, "{}: CUPS URI {}: {}", who, h.cups_uri, u.err().what());
        if (h.cups_trust.empty())
            return proto::make_error(serve_errc::bad_policy, "{}: handover needs the trust of {} (--handover-trust or cups_trust)", who, h.cups_uri);
        if (h.cups_trust.front() != 0x30) return proto::make_error(serve_errc::bad_target, "{}: the CUPS trust is not a DER certificate", who);
        if (h.cups_key.empty())
            return proto::make_error(serve_errc::bad_policy, "{}: handover needs the gateway's CUPS key (--handover-key-file or cups_key)", who);
        if (h.cups_key.find_first_of("\r\n") != std::string::npos)
            return proto::make_error(serve_errc::bad_target, "{}: the CUPS key holds a line break", who);
        if (!h.tc_uri.empty()) {
            auto t = proto::station_check_uri(h.tc_uri, {"ws", "wss"});
            if (!t) return proto::make_error(serve_errc::bad_target, "{}: LNS URI {}: {}", who, h.tc_uri, t.err().what());
            if (t->scheme == "wss" && (h.tc_trust.empty() || h.tc_key.empty()))
                return proto::make_error(serve_errc::bad_policy, "{}: a wss LNS URI needs its trust and the LNS key (tc_trust, tc_key)", who);
            if (!h.tc_trust.empty() && h.tc_trust.front() != 0x30)
                return proto::make_error(serve_errc::bad_target, "{}: the LNS trust is not a DER certificate", who);
            if (h.tc_key.find_first_of("\r\n") != std::string::npos)
                return proto::make_error(serve_errc::bad_target, "{}: the LNS key holds a line break", who);
        }
    }
    if (s.policy == serve_policy::relay) {
        const auto& r = s.relay;
        if (r.lns_uri.empty()) return proto::make_error(serve_errc::bad_policy, "{}: relay needs the LNS URI (--relay-lns or relay_lns)", who);
        if (!r.lns_uri.starts_with("wss://") && !r.lns_uri.starts_with("ws://"))
            return proto::make_error(serve_errc::bad_target, "{}: relay LNS {}: use wss://host:port", who, r.lns_uri);
        if (r.lns_key.empty())
            return proto::make_error(serve_errc::bad_policy, "{}: relay needs the gateway's LNS key (--relay-key-file or relay_key)", who);
        if (r.lns_key.find_first_of("\r\n") != std::string::npos)
            return proto::make_error(serve_errc::bad_target, "{}: the LNS key holds a line break", who);
    }
    return {};
}

proto::result<void> check_bind_address(std::string_view address) {
    const std::string a(address);
    if (a.empty()) return proto::make_error(serve_errc::bad_bind, "--bind is required: name one address of this machine, e.g. 127.0.0.1");
    unsigned char buf[16];
    const bool v4 = ::inet_pton(AF_INET, a.c_str(), buf) == 1;
    const bool v6 = !v4 && ::inet_pton(AF_INET6, a.c_str(), buf) == 1;
    if (!v4 && !v6) return proto::make_error(serve_errc::bad_bind, "'{}' is not an IP address (serve binds one address, never a name)", a);
    bool wildcard = true;
    for (int i = 0; i < (v4 ? 4 : 16); ++i) wildcard = wildcard && buf[i] == 0;
    if (wildcard)
        return proto::make_error(serve_errc::bad_bind, "'{}' is every interface; name one (127.0.0.1 for this machine only, or the LAN address)", a);
    return {};
}

// ---- events ------------------------------------------------------------------------------------

std::string_view to_string(serve_event_kind k) noexcept {
    switch (k) {
        case serve_event_kind::cups_request: return "cups_request";
        case serve_event_kind::cups_answer: return "cups_answer";
        case serve_event_kind::cups_refused: return "cups_refused";
        case serve_event_kind::lns_discovery: return "lns_discovery";
        case serve_event_kind::lns_connect: return "lns_connect";
        case serve_event_kind::version: return "version";
        case serve_event_kind::router_config: return "router_config";
        case serve_event_kind::uplink: return "uplink";
        case serve_event_kind::downlink: return "downlink";
        case serve_event_kind::timesync: return "timesync";
        case serve_event_kind::ping: return "ping";
        case serve_event_kind::pong: return "pong";
        case serve_event_kind::relay: return "relay";
        case serve_event_kind::disconnect: return "disconnect";
        case serve_event_kind::protocol_error: return "protocol_error";
    }
    return "?";
}

std::string rfc3339_ms(proto::time_point t) {
    const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
    const auto days = std::chrono::floor<std::chrono::days>(ms);
    const std::chrono::year_month_day ymd{days};
    const std::chrono::hh_mm_ss hms{ms - days};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                       hms.subseconds().count());
}

nlohmann::ordered_json to_json(const serve_event& e) {
    nlohmann::ordered_json j;
    j["time"] = rfc3339_ms(e.time);
    j["event"] = std::string(to_string(e.kind));
    j["eui"] = e.station ? nlohmann::ordered_json(e.station->hex()) : nlohmann::ordered_json(nullptr);
    if (!e.remote.empty()) j["remote"] = e.remote;
    for (auto it = e.data.begin(); it != e.data.end(); ++it) j[it.key()] = it.value();
    return j;
}

namespace {

std::string value_text(const nlohmann::ordered_json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "-";
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string to_text(const serve_event& e) {
    const std::string hms = rfc3339_ms(e.time).substr(11, 8);
    std::string line = fmt::format("{} {} {}", hms, e.station ? e.station->hex() : std::string(16, '-'), to_string(e.kind));
    for (auto it = e.data.begin(); it != e.data.end(); ++it) {
        if (it.value().is_object()) {
            // {"bytes":N,"crc":C} and the like: one level, compact.
            std::string inner;
            for (auto in = it.value().begin(); in != it.value().end(); ++in)
                inner += fmt::format("{}{}={}", inner.empty() ? "" : ",", in.key(), value_text(in.value()));
            line += fmt::format(" {}={{{}}}", it.key(), inner);
        } else {
            line += fmt::format(" {}={}", it.key(), value_text(it.value()));
        }
    }
    return line;
}

}  // namespace ttig::provision
