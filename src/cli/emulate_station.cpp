// ttigctl emulate station: N Basics Stations / TTIGs in one process (emu::station_fleet).
#include "common.hpp"

#include <ttig/emu/station_fleet.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/station/file_set.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace ttig::cli {

namespace {

struct emulate_station_options {
    std::string home;
    std::size_t count = 1;
    std::string profile = "basicstation";
    std::string eui = "58A0CBFFFE800001";
    std::string cups_uri;
    std::string cups_trust;
    std::string cups_token_file;
    std::string events;
    std::vector<std::string> resolve;
    std::string control;
    bool virtual_time = false;
    double uplink_interval = 0;
    unsigned ecdsa_delay_ms = 0;
    double duration = 0;
    bool json = false;
};

std::string iso(proto::time_point t) {
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::time_point_cast<std::chrono::milliseconds>(t));
}

nlohmann::ordered_json summary_json(const emu::fleet_summary& s) {
    nlohmann::ordered_json j;
    j["event"] = "summary";
    j["stations"] = s.stations;
    j["tc"] = s.tc;
    j["leds"] = s.leds;
    j["cups_requests"] = s.cups_requests;
    j["tc_connects"] = s.tc_connects;
    j["in_flight"] = s.in_flight;
    return j;
}

// Homes without any cups.uri get the given CUPS set (a TTIG's factory CUPS).
proto::result<void> provision(const std::filesystem::path& dir, const std::string& cups_uri, const std::optional<proto::bytes>& trust,
                              const std::optional<proto::bytes>& token) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return proto::make_error(station::station_errc::write_failed, "{}: {}", dir.string(), ec.message());
    station::home h(dir);
    auto cur = h.read(station::category::cups, station::variant::regular);
    if (!cur) return cur.err();
    if (cur->has_uri() || cups_uri.empty()) return {};
    station::cred_set set;
    set.uri = cups_uri;
    set.trust = trust;
    set.key = token;
    return h.write_set(station::category::cups, station::variant::regular, set);
}

std::atomic<int> g_stop_signal{0};

int run_emulate_station(const emulate_station_options& o) {
    const std::string sub = "emulate station";
    if (o.count == 0 || o.count > 100000) return report_error(sub, "cli.bad_option", "--count must be 1..100000", exit_usage, o.json);
    emu::fleet_options fo;
    if (o.profile == "ttig") fo.profile = emu::station_profile::ttig();
    else if (o.profile == "basicstation") fo.profile = emu::station_profile::basicstation();
    else return report_error(sub, "cli.bad_option", fmt::format("--profile {}: use ttig or basicstation", o.profile), exit_usage, o.json);
    const std::string factory_default = o.profile == "ttig" && o.cups_uri.empty() ? "https://rjs.sm.tc:9191" : "";
    fo.profile.ecdsa_handshake_delay = std::chrono::milliseconds(o.ecdsa_delay_ms);
    if (o.uplink_interval > 0) fo.profile.uplink_interval = std::chrono::milliseconds(static_cast<std::int64_t>(o.uplink_interval * 1000));
    auto first = proto::parse_eui(o.eui);
    if (!first) return report_error(sub, first.err(), exit_usage, o.json);
    auto hosts = net::host_map::parse(o.resolve);
    if (!hosts) return report_error(sub, hosts.err(), exit_usage, o.json);

    std::optional<proto::bytes> trust, token;
    if (!o.cups_trust.empty()) {
        auto t = read_file(o.cups_trust, "--cups-trust");
        if (!t) return report_error(sub, t.err(), exit_local_io, o.json);
        trust = proto::bytes(t->begin(), t->end());
    }
    if (!o.cups_token_file.empty()) {
        auto t = read_file(o.cups_token_file, "--cups-token-file");
        if (!t) return report_error(sub, t.err(), exit_local_io, o.json);
        auto n = station::normalise_token(*t);
        if (!n) return report_error(sub, n.err(), exit_usage, o.json);
        token = proto::bytes(n->begin(), n->end());
    }
    for (std::size_t i = 0; i < o.count; ++i) {
        const std::filesystem::path dir = o.count == 1 ? std::filesystem::path(o.home) : std::filesystem::path(o.home) / std::to_string(i);
        if (auto r = provision(dir, o.cups_uri.empty() ? factory_default : o.cups_uri, trust, token); !r) return report_error(sub, r.err(), exit_local_io, o.json);
        fo.homes.push_back(dir);
        fo.euis.push_back(proto::eui64{first->eui.value + i});
    }
    fo.hosts = &*hosts;

    std::FILE* out = stdout;
    if (!o.events.empty()) {
        out = std::fopen(o.events.c_str(), "a");
        if (!out) return report_error(sub, "cli.local_io", fmt::format("cannot open {} for appending", o.events), exit_local_io, o.json);
    }
    std::mutex out_mu;
    auto write_line = [&](const nlohmann::ordered_json& j) {
        std::lock_guard lock(out_mu);
        std::fputs(j.dump().c_str(), out);
        std::fputc('\n', out);
        std::fflush(out);
    };
    std::vector<proto::eui64> euis = fo.euis;
    fo.on_event = [&write_line, &euis](std::size_t i, const emu::station_event& e) {
        nlohmann::ordered_json j;
        j["time"] = iso(e.at);
        j["station"] = i;
        j["eui"] = euis[i].hex();
        j["event"] = e.kind;
        j["detail"] = e.detail;
        j["led"] = std::string(emu::to_string(e.led));
        write_line(j);
    };

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    proto::system_clock real;
    proto::manual_clock virt(real.now());
    const proto::clock& clock = o.virtual_time ? static_cast<const proto::clock&>(virt) : real;
    boost::asio::io_context ioc(1);
    emu::station_fleet fleet(ioc, clock, std::move(fo));
    auto work = boost::asio::make_work_guard(ioc);
    std::thread io([&ioc] { ioc.run(); });
    fleet.start();
    {
        nlohmann::ordered_json j;
        j["event"] = "started";
        j["stations"] = o.count;
        j["profile"] = o.profile;
        j["home"] = o.home;
        j["virtual_time"] = o.virtual_time;
        j["control"] = o.control.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(o.control);
        write_line(j);
    }

    // Control socket: one JSON command per line, one JSON answer per line.
    int listen_fd = -1;
    std::thread control;
    std::atomic<bool> stopping{false};
    if (!o.control.empty()) {
        listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (o.control.size() >= sizeof(addr.sun_path)) return report_error(sub, "cli.bad_option", "--control path is too long", exit_usage, o.json);
        std::memcpy(addr.sun_path, o.control.c_str(), o.control.size() + 1);
        ::unlink(o.control.c_str());
        if (listen_fd < 0 || ::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd, 4) != 0) {
            stopping = true;
            fleet.stop();
            ioc.stop();
            io.join();
            return report_error(sub, "cli.local_io", fmt::format("cannot listen on {}: {}", o.control, std::strerror(errno)), exit_local_io, o.json);
        }
        control = std::thread([&] {
            while (!stopping) {
                const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) break;
                std::string buf;
                char chunk[512];
                for (;;) {
                    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
                    if (n <= 0) break;
                    buf.append(chunk, static_cast<std::size_t>(n));
                    std::size_t nl;
                    while ((nl = buf.find('\n')) != std::string::npos) {
                        const std::string line = buf.substr(0, nl);
                        buf.erase(0, nl + 1);
                        nlohmann::ordered_json reply;
                        auto cmd = nlohmann::json::parse(line, nullptr, false);
                        const std::string what = cmd.is_object() ? cmd.value("cmd", "") : "";
                        const std::size_t st = cmd.is_object() ? cmd.value("station", std::size_t{0}) : 0;
                        reply["cmd"] = what;
                        if (what == "reset") fleet.press_reset(st);
                        else if (what == "setup") fleet.press_setup(st);
                        else if (what == "power_cycle") fleet.power_cycle(st);
                        else if (what == "network_down") fleet.set_network(st, false);
                        else if (what == "network_up") fleet.set_network(st, true);
                        else if (what == "advance" && o.virtual_time) {
                            const double s = cmd.value("seconds", 0.0);
                            virt.advance(std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9)));
                            fleet.wake();
                        } else if (what == "summary") {
                            reply = summary_json(fleet.summary());
                        } else {
                            reply["error"] = "commands: reset, setup, power_cycle, network_down, network_up (with \"station\": N), summary, advance "
                                             "(with \"seconds\", only with --virtual-time)";
                        }
                        if (!reply.contains("error")) reply["ok"] = true;
                        const std::string text = reply.dump() + "\n";
                        (void)!::write(fd, text.data(), text.size());
                    }
                }
                ::close(fd);
            }
        });
    }

    int sig = 0;
    if (o.duration > 0) {
        timespec ts{static_cast<time_t>(o.duration), static_cast<long>((o.duration - static_cast<double>(static_cast<time_t>(o.duration))) * 1e9)};
        siginfo_t info{};
        sig = sigtimedwait(&signals, &info, &ts);
        if (sig < 0) sig = 0;
    } else {
        sigwait(&signals, &sig);
    }
    const auto summary = fleet.summary();
    stopping = true;
    if (listen_fd >= 0) {
        ::shutdown(listen_fd, SHUT_RDWR);
        ::close(listen_fd);
        ::unlink(o.control.c_str());
    }
    if (control.joinable()) control.join();
    fleet.stop();
    work.reset();
    ioc.stop();
    io.join();
    auto j = summary_json(summary);
    j["stopped_by"] = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "duration";
    write_line(j);
    if (out != stdout) std::fclose(out);
    return exit_ok;
}

}  // namespace

void setup_emulate_station(CLI::App& emulate) {
    auto o = std::make_shared<emulate_station_options>();
    auto* st = emulate.add_subcommand(
        "station",
        "Emulated Basics Stations (v2.0.6) or TTIGs: N stations in one process, each with a real station home directory\n"
        "(cups.*, tc.*, -bak, -boot, -temp), its CUPS and LNS (TC) engines, back-off and fallback as a real station.\n"
        "State transitions and LED states are printed as JSON lines; a summary on SIGINT/SIGTERM.");
    st->add_option("--home", o->home, "Station home (N = 1) or the directory holding homes 0..N-1")->required();
    st->add_option("--count", o->count, "Number of stations")->capture_default_str();
    st->add_option("--profile", o->profile, "ttig (model minihub, TLS 1.2, small chain budget, buttons) or basicstation")->capture_default_str();
    st->add_option("--eui", o->eui, "EUI of station 0; station n has EUI + n")->capture_default_str();
    st->add_option("--cups-uri", o->cups_uri,
                   "CUPS URI written into homes that have none; default for --profile ttig: the factory CUPS https://rjs.sm.tc:9191 "
                   "(send it to `emulate tts --factory-cups-port` with --resolve rjs.sm.tc:9191:127.0.0.1)");
    st->add_option("--cups-trust", o->cups_trust, "Trust (PEM or DER) written with --cups-uri");
    st->add_option("--cups-token-file", o->cups_token_file, "Token file (\"Authorization: Bearer NNSXS...\") written as cups.key with --cups-uri");
    st->add_option("--events", o->events, "Append the JSON lines here instead of stdout");
    st->add_option("--resolve", o->resolve, "HOST:PORT:ADDR, as curl: connect HOST:PORT to ADDR (names and SNI unchanged)");
    st->add_option("--control", o->control,
                   "Unix socket for commands, one JSON per line: {\"cmd\":\"reset|setup|power_cycle|network_down|network_up\",\"station\":N},\n"
                   "{\"cmd\":\"summary\"}, {\"cmd\":\"advance\",\"seconds\":S} (virtual time only)");
    st->add_flag("--virtual-time", o->virtual_time, "Time stands still except through the control socket's advance (tests)");
    st->add_option("--uplink-interval", o->uplink_interval, "Seconds between uplinks of a connected station (0 = none)");
    st->add_option("--ecdsa-handshake-delay", o->ecdsa_delay_ms,
                   "Milliseconds a slow device spends on an ECDSA handshake before it sends anything (real time; 0 = none)")
        ->capture_default_str();
    st->add_option("--duration", o->duration, "Stop after this many seconds (default: until SIGINT/SIGTERM)");
    add_json_flag(*st, o->json);
    st->callback([o] {
        if (int rc = run_emulate_station(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
