// ttigctl serve: a local CUPS (HTTPS, its own CA) and LNS (wss, optionally ws) for gateways on the
// desk or the LAN. Shows what each station says — a live terminal view on a TTY, JSON lines
// otherwise — and captures it, hands it over to new CUPS settings, or relays it to a TTS LNS.
#include "cli/api_options.hpp"
#include "cli/common.hpp"

#include <ttig/pki/pem.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/router_config.hpp>
#include <ttig/provision/serve.hpp>
#include <ttig/tts/redact.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace ttig::cli {

namespace {

constexpr const char* sub = "serve";

// The spec's sentence, verbatim and on one line (tests look for it).
constexpr const char* reach_text =
    "Reach: generic Basics Station gateways after the user edits `cups.uri` or `tc.uri`; a TTIG only through a TTS "
    "deployment that allows CUPS URI updates and a publicly trusted certificate on `serve`; its factory CUPS cannot be bypassed.";

struct serve_cli_options {
    std::string bind;
    std::uint16_t cups_port = 6038;
    std::uint16_t lns_port = 6039;
    std::optional<std::uint16_t> ws_port;
    std::string state_dir;
    std::vector<std::string> names;
    std::string policy;  // empty: the --handover-file's, else capture
    std::string handover_cups_uri, handover_trust, handover_key_file;
    std::string handover_lns_uri, handover_lns_trust, handover_lns_key_file;
    std::string handover_file;
    std::string relay_lns, relay_key_file;
    std::vector<std::string> relay_ca;
    std::vector<std::string> for_station;
    std::string frequency_plan = "EU_863_870_TTN";
    std::optional<double> duration_s;
    bool json = false;
};

std::filesystem::path default_state_dir() {
    if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::filesystem::path(x) / "ttigctl" / "serve";
    if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".local" / "state" / "ttigctl" / "serve";
    return std::filesystem::path(".ttigctl-serve");
}

// A trust file (PEM or DER) as the DER certificate a station stores. A missing file is a usage
// error; an unreadable or unparsable one a local I/O error.
cli_result<proto::bytes> trust_file(const std::string& path, std::string_view flag) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return cli_failure{"cli.bad_option", fmt::format("{} {}: no such file", flag, path), exit_usage};
    auto raw = pki::load_file(path);
    if (!raw) return cli_failure{"cli.local_io", fmt::format("{} {}: {}", flag, path, raw.err().what()), exit_local_io};
    auto der = pki::certificate_der(*raw);
    if (!der) return cli_failure{"cli.local_io", fmt::format("{} {}: {}", flag, path, der.err().what()), exit_local_io};
    return std::move(*der);
}

cli_result<std::string> key_file(const std::string& path, std::string_view flag) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return cli_failure{"cli.bad_option", fmt::format("{} {}: no such file", flag, path), exit_usage};
    return read_secret_file(path, flag);
}

int exit_for(const proto::error& e) {
    const std::string id = e.id();
    if (id == "serve.bad_bind" || id == "serve.bad_target" || id == "tc.unknown_frequency_plan") return exit_usage;
    if (id == "serve.bad_policy") return exit_no_uri;
    if (id == "serve.state_dir" || id == "serve.bad_settings_file" || id.starts_with("pki.")) return exit_local_io;
    return exit_code_for(e);
}

// Everything the command line says, turned into serve_options.
cli_result<provision::serve_options> build_options(serve_cli_options& o) {
    provision::serve_options so;
    so.bind = o.bind;
    so.cups_port = o.cups_port;
    so.lns_port = o.lns_port;
    so.ws_port = o.ws_port;
    so.state_dir = o.state_dir.empty() ? default_state_dir() : std::filesystem::path(o.state_dir);
    so.names = o.names;
    so.frequency_plan = o.frequency_plan;
    if (auto b = provision::check_bind_address(o.bind); !b) return cli_failure{b.err().id(), b.err().detail, exit_usage};
    for (const auto& n : o.names)
        if (n.empty() || n.find_first_of(" ,/\t") != std::string::npos)
            return cli_failure{"cli.bad_option", fmt::format("--name '{}': a host name or address", n), exit_usage};
    if (auto fp = proto::frequency_plan_by_id(o.frequency_plan); !fp)
        return cli_failure{"cli.bad_option", fmt::format("--frequency-plan: {}", fp.err().detail), exit_usage};
    if (o.duration_s && (*o.duration_s < 0 || *o.duration_s > 30 * 86400.0))
        return cli_failure{"cli.bad_option", "--duration must be 0 to 2592000 seconds", exit_usage};
    const bool ports_clash = (o.cups_port != 0 && o.cups_port == o.lns_port) ||
                             (o.ws_port && *o.ws_port != 0 && (*o.ws_port == o.cups_port || *o.ws_port == o.lns_port));
    if (ports_clash) return cli_failure{"cli.bad_option", "--cups-port, --lns-port and --ws-port must differ", exit_usage};

    // The hand-over file first, then the flags (which win), then --for.
    provision::settings_file file;
    if (!o.handover_file.empty()) {
        std::error_code ec;
        if (!std::filesystem::exists(o.handover_file, ec))
            return cli_failure{"cli.bad_option", fmt::format("--handover-file {}: no such file", o.handover_file), exit_usage};
        struct stat st {};
        if (::stat(o.handover_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
            return cli_failure{"cli.insecure_file",
                               fmt::format("--handover-file {}: mode {:03o} lets other users read the keys in it; run chmod 600 {}", o.handover_file,
                                           st.st_mode & 0777, o.handover_file),
                               exit_local_io};
        auto f = provision::load_settings_file(o.handover_file);
        if (!f) return cli_failure{f.err().id(), f.err().detail, f.err().id() == "serve.bad_policy" ? exit_usage : exit_local_io};
        file = std::move(*f);
    }
    provision::settings_patch flags;
    if (!o.policy.empty()) {
        auto pol = provision::parse_serve_policy(o.policy);
        if (!pol) return cli_failure{"cli.bad_option", fmt::format("--policy '{}': capture, handover or relay", o.policy), exit_usage};
        flags.policy = *pol;
    }
    if (!o.handover_cups_uri.empty()) flags.cups_uri = o.handover_cups_uri;
    if (!o.handover_trust.empty()) {
        auto t = trust_file(o.handover_trust, "--handover-trust");
        if (!t) return std::move(t).err();
        flags.cups_trust = std::move(*t);
    }
    if (!o.handover_key_file.empty()) {
        auto k = key_file(o.handover_key_file, "--handover-key-file");
        if (!k) return std::move(k).err();
        flags.cups_key = std::move(*k);
    } else if (const char* env = std::getenv("TTIGCTL_HANDOVER_KEY"); env && *env) {
        flags.cups_key = std::string(env);
    }
    if (!o.handover_lns_uri.empty()) flags.tc_uri = o.handover_lns_uri;
    if (!o.handover_lns_trust.empty()) {
        auto t = trust_file(o.handover_lns_trust, "--handover-lns-trust");
        if (!t) return std::move(t).err();
        flags.tc_trust = std::move(*t);
    }
    if (!o.handover_lns_key_file.empty()) {
        auto k = key_file(o.handover_lns_key_file, "--handover-lns-key-file");
        if (!k) return std::move(k).err();
        flags.tc_key = std::move(*k);
    }
    if (!o.relay_lns.empty()) flags.relay_lns = o.relay_lns;
    if (!o.relay_key_file.empty()) {
        auto k = key_file(o.relay_key_file, "--relay-key-file");
        if (!k) return std::move(k).err();
        flags.relay_key = std::move(*k);
    } else if (const char* env = std::getenv("TTIGCTL_RELAY_KEY"); env && *env) {
        flags.relay_key = std::string(env);
    }
    file.top.apply_to(so.defaults);
    flags.apply_to(so.defaults);
    for (const auto& [eui, patch] : file.stations) {
        provision::station_settings s = so.defaults;
        patch.apply_to(s);
        so.stations[eui] = std::move(s);
    }
    for (const auto& f : o.for_station) {
        const auto eq = f.find('=');
        if (eq == std::string::npos) return cli_failure{"cli.bad_option", fmt::format("--for '{}': EUI=POLICY", f), exit_usage};
        auto e = proto::parse_eui(f.substr(0, eq));
        if (!e) return cli_failure{"cli.bad_option", fmt::format("--for '{}': {}", f, e.err().what()), exit_usage};
        auto p = provision::parse_serve_policy(f.substr(eq + 1));
        if (!p) return cli_failure{"cli.bad_option", fmt::format("--for '{}': the policy is capture, handover or relay", f), exit_usage};
        auto it = so.stations.find(e->eui);
        if (it == so.stations.end()) it = so.stations.emplace(e->eui, so.defaults).first;
        it->second.policy = *p;
    }
    // Policies that lack their settings: a clear error before anything listens.
    if (auto v = provision::validate(so.defaults, "default policy"); !v) return cli_failure{v.err().id(), v.err().detail, exit_for(v.err())};
    for (const auto& [eui, s] : so.stations)
        if (auto v = provision::validate(s, eui.hex()); !v) return cli_failure{v.err().id(), v.err().detail, exit_for(v.err())};
    for (const auto& f : o.relay_ca) {
        std::error_code ec;
        if (!std::filesystem::exists(f, ec)) return cli_failure{"cli.bad_option", fmt::format("--relay-ca {}: no such file", f), exit_usage};
        so.relay_client.tls.ca_files.emplace_back(f);
    }
    so.relay_client.user_agent = "ttigctl serve";
    return so;
}

// What a policy does, one line, keys redacted.
std::string describe(const provision::station_settings& s) {
    switch (s.policy) {
        case provision::serve_policy::capture: return "capture (stays on this LNS)";
        case provision::serve_policy::handover:
            return fmt::format("handover to {} (CUPS key {}){}", s.handover.cups_uri, tts::redact_key(s.handover.cups_key),
                               s.handover.tc_uri.empty() ? "" : fmt::format(", LNS {} (key {})", s.handover.tc_uri, tts::redact_key(s.handover.tc_key)));
        case provision::serve_policy::relay:
            return fmt::format("relay to {} (LNS key {})", s.relay.lns_uri, tts::redact_key(s.relay.lns_key));
    }
    return "?";
}

std::size_t terminal_width() {
    struct winsize w {};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col >= 40) return w.ws_col;
    return 100;
}

std::string clip(std::string s, std::size_t width) {
    // Count code points, not bytes (… and → are multi-byte).
    std::size_t cps = 0, i = 0;
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (cps == width) break;
            ++cps;
        }
    }
    if (i < s.size()) s.resize(i);
    return s;
}

std::string rule(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += "─";
    return s;
}

std::string ago(proto::time_point then, proto::time_point now) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m", s / 60);
    return fmt::format("{}h", s / 3600);
}

// The live terminal view: the log scrolls, a status block (one line per station) stays at the bottom.
class tty_view {
public:
    explicit tty_view(const proto::clock& clock) : clock_(clock) {}

    void log(const std::string& line, const std::vector<provision::station_status>& st) {
        std::lock_guard lock(mu_);
        erase();
        fmt::print("{}\n", line);  // log lines may wrap: they scroll away and are never erased
        draw(st);
    }
    void refresh(const std::vector<provision::station_status>& st) {
        std::lock_guard lock(mu_);
        erase();
        draw(st);
    }
    void finish() {
        std::lock_guard lock(mu_);
        drawn_ = 0;  // leave the last status block on screen
    }

private:
    void erase() {
        if (drawn_ > 0) fmt::print("\x1b[{}F\x1b[J", drawn_);
        drawn_ = 0;
    }
    void draw(const std::vector<provision::station_status>& st) {
        const auto width = terminal_width() - 1;  // status lines never wrap, so erase() knows how many there are
        const auto now = clock_.now();
        std::vector<std::string> lines;
        lines.push_back(fmt::format("\x1b[1m{}\x1b[0m", clip(fmt::format("── {} station{} {}", st.size(), st.size() == 1 ? "" : "s",
                                                                      rule(width)), width)));
        if (!st.empty())
            lines.push_back(clip(fmt::format("   {:<16} {:<8} {:<13} {:<8} {:>9} {:>9}  {:>4}  {}", "EUI", "policy", "phase", "model", "up/down",
                                             "ping/pong", "seen", "last"),
                                 width));
        for (const auto& s : st)
            lines.push_back(clip(fmt::format("   {:<16} {:<8} {:<13} {:<8} {:>9} {:>9}  {:>4}  {}", s.eui.hex(), provision::to_string(s.policy),
                                             s.phase, s.model.empty() ? "-" : s.model, fmt::format("{}/{}", s.uplinks, s.downlinks),
                                             fmt::format("{}/{}", s.pings, s.pongs), ago(s.last_seen, now), s.last),
                                 width));
        if (st.empty()) lines.push_back("   (no station yet — waiting for a CUPS request or an LNS connection)");
        for (const auto& l : lines) fmt::print("{}\n", l);
        std::fflush(stdout);
        drawn_ = lines.size();
    }

    const proto::clock& clock_;
    std::mutex mu_;
    std::size_t drawn_ = 0;
};

int run_serve(serve_cli_options& o) {
    const bool json = o.json || !stdout_is_tty();
    auto so = build_options(o);
    if (!so) return report(sub, so.err(), o.json);
    const bool finite = o.duration_s.has_value();
    const auto duration = std::chrono::milliseconds(static_cast<std::int64_t>(o.duration_s.value_or(0) * 1000));

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    boost::asio::io_context ioc;
    proto::system_clock clock;
    std::mutex out_mu;
    std::unique_ptr<tty_view> view = json ? nullptr : std::make_unique<tty_view>(clock);
    provision::serve_server* server_ptr = nullptr;
    std::atomic<bool> ready{false};
    auto sink = [&](const provision::serve_event& e) {
        if (json) {
            std::lock_guard lock(out_mu);
            print_json(provision::to_json(e));
        } else if (ready) {
            view->log(provision::to_text(e), server_ptr->stations());
        }
    };
    auto server = provision::serve_server::start(ioc, clock, *so, sink);
    if (!server) return report_error(sub, server.err(), exit_for(server.err()), o.json);
    server_ptr = server->get();
    const auto& ep = (*server)->endpoints();
    const auto& pki = (*server)->pki();

    if (json) {
        nlohmann::ordered_json j;
        j["event"] = "listening";
        j["bind"] = so->bind;
        j["cups_uri"] = ep.cups_uri;
        j["lns_uri"] = ep.lns_uri;
        j["ws_uri"] = ep.ws_uri.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(ep.ws_uri);
        j["ca_file"] = ep.ca_file.string();
        j["ca_created"] = pki.ca_created;
        j["names"] = pki.names;
        j["policy"] = std::string(provision::to_string(so->defaults.policy));
        j["frequency_plan"] = so->frequency_plan;
        nlohmann::ordered_json st = nlohmann::ordered_json::object();
        for (const auto& [eui, s] : so->stations) st[eui.hex()] = std::string(provision::to_string(s.policy));
        j["stations"] = std::move(st);
        std::lock_guard lock(out_mu);
        print_json(j);
    } else {
        fmt::print("ttigctl serve: listening on {} only{}\n", so->bind, pki.ca_created ? " (new CA made)" : "");
        fmt::print("  CUPS  {:<32} put it in a station's cups.uri\n", ep.cups_uri);
        fmt::print("  LNS   {:<32} or in tc.uri, to use this LNS only\n", ep.lns_uri);
        if (!ep.ws_uri.empty()) fmt::print("  LNS   {:<32} plain WebSocket, no TLS\n", ep.ws_uri);
        fmt::print("  CA    {}\n        copy it to the station's cups.trust (and tc.trust when tc.uri points here)\n", ep.ca_file.string());
        fmt::print("  policy: {}\n", describe(so->defaults));
        for (const auto& [eui, s] : so->stations) fmt::print("          {}: {}\n", eui.hex(), describe(s));
        fmt::print("  {}\n", reach_text);
        fmt::print("  {}\n\n", finite ? fmt::format("stops after {} s or at Ctrl-C", *o.duration_s) : std::string("Ctrl-C stops it"));
        std::fflush(stdout);
    }
    ready = true;

    auto work = boost::asio::make_work_guard(ioc);
    std::thread io([&ioc] { ioc.run(); });
    std::mutex tick_mu;
    std::condition_variable_any tick_cv;
    std::jthread ticker([&](std::stop_token stop) {
        while (!stop.stop_requested()) {
            (*server)->tick();
            if (view) view->refresh((*server)->stations());
            std::unique_lock lock(tick_mu);
            tick_cv.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
        }
    });

    std::string reason = "duration";
    if (!finite) {
        int sig = 0;
        sigwait(&signals, &sig);
        reason = sig == SIGINT ? "SIGINT" : "SIGTERM";
    } else if (duration.count() > 0) {
        const auto end = std::chrono::steady_clock::now() + duration;
        for (;;) {
            const auto left = end - std::chrono::steady_clock::now();
            if (left <= std::chrono::nanoseconds::zero()) break;
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
            timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
            const int sig = sigtimedwait(&signals, nullptr, &ts);
            if (sig == SIGINT || sig == SIGTERM) {
                reason = sig == SIGINT ? "SIGINT" : "SIGTERM";
                break;
            }
            if (sig < 0 && errno != EAGAIN && errno != EINTR) break;
        }
    }
    ticker.request_stop();
    ticker.join();
    (*server)->stop();
    work.reset();
    ioc.stop();
    io.join();
    const auto stations = (*server)->stations();
    if (json) {
        nlohmann::ordered_json bye;
        bye["event"] = "stopped";
        bye["reason"] = reason;
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& s : stations) {
            nlohmann::ordered_json sj;
            sj["eui"] = s.eui.hex();
            sj["policy"] = std::string(provision::to_string(s.policy));
            sj["phase"] = s.phase;
            sj["model"] = s.model;
            sj["cups_requests"] = s.cups_requests;
            sj["uplinks"] = s.uplinks;
            sj["downlinks"] = s.downlinks;
            sj["pongs"] = s.pongs;
            list.push_back(std::move(sj));
        }
        bye["stations"] = std::move(list);
        std::lock_guard lock(out_mu);
        print_json(bye);
    } else {
        view->finish();
        fmt::print("ttigctl serve: stopped ({}); {} station{} seen\n", reason, stations.size(), stations.size() == 1 ? "" : "s");
    }
    return exit_ok;
}

}  // namespace

void setup_serve(CLI::App& app) {
    auto o = std::make_shared<serve_cli_options>();
    auto* s = app.add_subcommand(
        "serve",
        std::string("A local CUPS server (HTTPS with its own CA) and LNS (wss, optionally ws) for gateways on the desk or LAN.\n"
                    "Shows live what each station says (CUPS requests with URIs and CRCs, version, router_config sent, uplinks,\n"
                    "pings): a terminal view on a TTY, JSON lines otherwise. Policies: capture (keep the station on this LNS),\n"
                    "handover (give it a new CUPS URI and credentials, e.g. The Things Stack's), relay (capture, and relay its\n"
                    "traffic to a The Things Stack LNS with its LNS key). Binds only to the address given with --bind.\n") +
            reach_text);
    s->add_option("--bind", o->bind, "The one address to listen on (required): 127.0.0.1 for this machine only, or the LAN address");
    s->add_option("--cups-port", o->cups_port, "HTTPS port of the CUPS server (0 = any free port)")->capture_default_str();
    s->add_option("--lns-port", o->lns_port, "wss port of the LNS (0 = any free port)")->capture_default_str();
    s->add_option("--ws-port", o->ws_port, "Also a plain-WebSocket LNS on this port (no TLS; keys would travel in clear)");
    s->add_option("--state-dir", o->state_dir, "Where serve keeps its CA and server certificate (keys 0600); default $XDG_STATE_HOME/ttigctl/serve");
    s->add_option("--name", o->names, "Extra host name or address for the server certificate, as stations write it in cups.uri (repeatable)")
        ->allow_extra_args(false);
    s->add_option("--policy", o->policy, "What stations are told: capture (default), handover or relay");
    s->add_option("--handover-cups-uri", o->handover_cups_uri, "handover: the CUPS URI to give, https://host:port (e.g. https://eu1.cloud.thethings.network:443)");
    s->add_option("--handover-trust", o->handover_trust, "handover: CA certificate (PEM or DER) of that CUPS server (e.g. certs/isrg-root-x1.pem)");
    s->add_option("--handover-key-file", o->handover_key_file,
                  "handover: file (0600) with the gateway's CUPS key (rights INFO, SETTINGS_BASIC, READ_SECRETS); else env TTIGCTL_HANDOVER_KEY");
    s->add_option("--handover-lns-uri", o->handover_lns_uri, "handover: also give this LNS URI (wss://host:port)");
    s->add_option("--handover-lns-trust", o->handover_lns_trust, "handover: CA certificate of that LNS");
    s->add_option("--handover-lns-key-file", o->handover_lns_key_file, "handover: file (0600) with the gateway's LNS key (RIGHT_GATEWAY_LINK)");
    s->add_option("--handover-file", o->handover_file,
                  "JSON file (0600) with the hand-over and relay settings, per station too (format: docs/serve.md); flags win over its top level");
    s->add_option("--relay-lns", o->relay_lns, "relay: the LNS to relay to, wss://host:port (e.g. wss://eu1.cloud.thethings.network:8887)");
    s->add_option("--relay-key-file", o->relay_key_file, "relay: file (0600) with the gateway's LNS key (RIGHT_GATEWAY_LINK); else env TTIGCTL_RELAY_KEY");
    s->add_option("--relay-ca", o->relay_ca, "relay: extra trust anchor (PEM) for the LNS's certificate (repeatable; the system store is used too)")
        ->allow_extra_args(false);
    s->add_option("--for", o->for_station, "EUI=POLICY: a policy for one station (repeatable), e.g. --for 58A0CBFFFE800123=relay")->allow_extra_args(false);
    s->add_option("--frequency-plan", o->frequency_plan, "router_config for captured stations: EU_863_870_TTN, US_902_928_FSB_2, AU_915_928_FSB_2")
        ->capture_default_str();
    s->add_option("--duration", o->duration_s, "Stop after this many seconds (for scripts and the lab; 0 = start, print the addresses, stop)");
    add_json_flag(*s, o->json);
    s->callback([o] {
        if (int rc = run_serve(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
