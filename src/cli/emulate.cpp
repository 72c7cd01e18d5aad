// ttigctl emulate tts: a faithful The Things Stack (REST + CUPS + LNS) on the addresses it is
// told to use, until SIGINT or SIGTERM.
#include "cli/common.hpp"

#include <ttig/emu/tts_emulator.hpp>
#include <ttig/proto/blob.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <pthread.h>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace ttig::cli {

namespace {

struct emulate_tts_options {
    std::string listen = "127.0.0.1:0";
    std::string state;
    std::string scenario;
    std::string config_out;
    bool allow_cups_uri_update = false;
    std::string default_lns_uri;
    bool require_registered = false;
    std::string fallback_frequency_plan;
    unsigned threads = 1;
    unsigned header_timeout_ms = 0;
    std::uint16_t factory_cups_port = 0;
    bool corrupt_tc_cred = false;
    bool json = false;
};

// "HOST:PORT" or "[V6]:PORT".
bool split_listen(const std::string& s, std::string& host, std::uint16_t& port) {
    std::string p;
    if (s.starts_with('[')) {
        auto close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
        host = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string::npos || colon == 0) return false;
        host = s.substr(0, colon);
        p = s.substr(colon + 1);
    }
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    const unsigned long v = std::stoul(p);
    if (v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return !host.empty();
}

// Writes the file through a temp file and a rename, mode 0600 (it holds the admin API key).
proto::result<void> write_private_file(const std::filesystem::path& path, const std::string& data) {
    const auto tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return proto::error{std::make_error_code(std::errc::io_error), fmt::format("cannot write {}", tmp)};
        ::chmod(tmp.c_str(), 0600);
        out << data;
        if (!out.flush()) return proto::error{std::make_error_code(std::errc::io_error), fmt::format("cannot write {}", tmp)};
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        return proto::error{ec, fmt::format("cannot rename {} to {}", tmp, path.string())};
    }
    return {};
}

int run_emulate_tts(const emulate_tts_options& o) {
    const char* sub = "emulate tts";
    emu::emulator_config cfg;
    if (!split_listen(o.listen, cfg.listen_host, cfg.listen_port))
        return report_error(sub, "cli.bad_option", fmt::format("--listen '{}' is not HOST:PORT (port 0 = any free port)", o.listen), exit_usage, o.json);
    if (!o.state.empty()) cfg.state_path = o.state;
    if (!o.scenario.empty()) cfg.scenario_path = o.scenario;
    cfg.cups.allow_cups_uri_update = o.allow_cups_uri_update;
    cfg.cups.default_lns_uri = o.default_lns_uri;
    cfg.lns.require_registered_gateways = o.require_registered;
    cfg.lns.fallback_frequency_plan = o.fallback_frequency_plan;
    cfg.header_timeout = std::chrono::milliseconds(o.header_timeout_ms);
    cfg.factory_cups_port = o.factory_cups_port;
    cfg.cups.corrupt_tc_cred = o.corrupt_tc_cred;
    std::filesystem::path out_dir = o.config_out.empty() ? std::filesystem::temp_directory_path() / fmt::format("ttigctl-emulate-{}", ::getpid())
                                                         : std::filesystem::absolute(o.config_out).parent_path();
    cfg.ca_dir = out_dir;
    const bool json = o.json;
    cfg.log = [json](std::string_view line) {
        if (json) {
            nlohmann::ordered_json j;
            j["event"] = "log";
            j["message"] = std::string(line);
            print_json(j);
        } else {
            fmt::print(stderr, "emulate tts: {}\n", line);
        }
    };

    // SIGINT/SIGTERM are taken by sigwait on this thread; every other thread has them blocked.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    boost::asio::io_context ioc;
    proto::system_clock clock;
    auto emulator = emu::tts_emulator::start(ioc, clock, std::move(cfg));
    if (!emulator) return report_error(sub, emulator.err(), exit_code_for(emulator.err()), o.json);
    const auto config = (*emulator)->config_json();
    if (!o.config_out.empty()) {
        if (auto w = write_private_file(o.config_out, config.dump(2) + "\n"); !w)
            return report_error(sub, w.err(), exit_local_io, o.json);
    }
    {
        nlohmann::ordered_json ready;
        ready["event"] = "listening";
        ready["api_url"] = config["api_url"];
        ready["cups_url"] = config["cups_url"];
        ready["lns_url"] = config["lns_url"];
        ready["ca_file"] = config["ca_file"];
        ready["admin_api_key"] = proto::redact_secret(config["admin_api_key"].get<std::string>());
        ready["config_out"] = o.config_out.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(o.config_out);
        if (o.json) {
            print_json(ready);
        } else {
            fmt::print("emulate tts: listening — API and CUPS {}, LNS {}, CA {}\n", config["api_url"].get<std::string>(),
                       config["lns_url"].get<std::string>(), config["ca_file"].get<std::string>());
            fmt::print("emulate tts: admin API key {} (in full in {})\n", ready["admin_api_key"].get<std::string>(),
                       o.config_out.empty() ? "no file: pass --config-out FILE" : o.config_out);
            fmt::print("emulate tts: Ctrl-C stops it\n");
            std::fflush(stdout);
        }
    }
    // Every connection has its own strand and the emulator's state is locked, so the io_context
    // may run on several threads (--threads) for throughput; the work guard keeps ioc.run() from
    // returning before ioc.stop().
    auto work = boost::asio::make_work_guard(ioc);
    std::vector<std::thread> io;
    for (unsigned i = 0; i < o.threads; ++i) io.emplace_back([&ioc] { ioc.run(); });
    int sig = 0;
    sigwait(&signals, &sig);
    (*emulator)->stop();
    ioc.stop();
    for (auto& t : io) t.join();
    if (o.json) {
        nlohmann::ordered_json bye;
        bye["event"] = "stopped";
        bye["signal"] = sig == SIGINT ? "SIGINT" : "SIGTERM";
        print_json(bye);
    } else {
        fmt::print("emulate tts: stopped ({})\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    return exit_ok;
}

}  // namespace

void setup_emulate(CLI::App& app) {
    auto* emulate = app.add_subcommand("emulate", "Run faithful emulators on loopback: The Things Stack (tts) and Basics Station / TTIG gateways (station)");
    emulate->require_subcommand(1);
    auto o = std::make_shared<emulate_tts_options>();
    auto* tts = emulate->add_subcommand(
        "tts",
        "Emulated The Things Stack: REST API, CUPS (/update-info) and LNS (/router-info, /traffic) with TTS's semantics,\n"
        "errors, rate limits and faults. Runs until SIGINT/SIGTERM. It makes its own CA (ca.pem next to --config-out)\n"
        "and listens only on the address given with --listen (plus ephemeral ports on the same host for the LNS and\n"
        "extra clusters).");
    tts->add_option("--listen", o->listen, "HOST:PORT of the API and CUPS listener (port 0 = any free port)")->capture_default_str();
    tts->add_option("--state", o->state, "SQLite file for the emulator's state (survives restarts); default: in memory");
    tts->add_option("--scenario", o->scenario, "JSON scenario: users, organizations, gateways, keys, claimable TTIGs, clusters, faults, rate limits");
    tts->add_option("--config-out", o->config_out,
                    "Write {api_url, cups_url, lns_url, ca_file, admin_api_key, admin_user_id, clusters} here once listening (mode 0600)");
    tts->add_flag("--allow-cups-uri-update", o->allow_cups_uri_update,
                  "Let CUPS hand out target_cups_uri (TTS option gcs.basic-station.allow-cups-uri-update; off on TTS Cloud)");
    tts->add_option("--default-lns-uri", o->default_lns_uri, "LNS URI for gateways without gateway_server_address (gcs.basic-station.default.lns-uri)");
    tts->add_flag("--require-registered-gateways", o->require_registered, "Refuse unregistered EUIs on the LNS (gs.require-registered-gateways)");
    tts->add_option("--fallback-frequency-plan", o->fallback_frequency_plan, "Frequency plan for unregistered gateways on the LNS");
    tts->add_option("--factory-cups-port", o->factory_cups_port,
                    "Port of the emulated TTIG factory CUPS (rjs.sm.tc), which redirects TTIGs claimed here to this TTS CUPS "
                    "(0 = any free port; see factory_cups_url and factory_cups_resolve in --config-out)");
    tts->add_flag("--cups-corrupt-credentials", o->corrupt_tc_cred,
                  "Fault: CUPS sends LNS credentials whose certificate length overruns the blob (a corrupted credential update)");
    tts->add_option("--header-timeout", o->header_timeout_ms,
                    "Milliseconds a connection may take to send its request head (TTS's LBS listener: 5000 before 3.30.2, 30000 since;\n"
                    "0 = 120000, also the keep-alive idle time)")
        ->capture_default_str();
    tts->add_option("--threads", o->threads, "Threads running the network and request handling (more than 1 for throughput)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 64u));
    add_json_flag(*tts, o->json);
    tts->callback([o] {
        if (int rc = run_emulate_tts(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
    setup_emulate_station(*emulate);
}

}  // namespace ttig::cli
