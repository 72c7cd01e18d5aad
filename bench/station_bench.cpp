// N emulated stations (`ttigctl emulate station`, one process) against `ttigctl emulate tts`
// (another process) on loopback: every station starts from its CUPS set (URI, the emulator's CA,
// its own CUPS key), gets its LNS credentials from the emulator's CUPS, discovers and connects its
// traffic WebSocket over TLS. Measured: time until all are connected (stations per second), the
// station process's RSS per connected station, and both processes' CPU at steady state with
// uplinks.
//
//   station_bench [--stations 10000] [--profile ttig] [--uplink-interval 10] [--steady 20]
#include "bench_common.hpp"

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>

#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <sys/un.h>

namespace fs = std::filesystem;

namespace {

using namespace ttig;

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    int stations = 10000;
    std::string profile = "ttig";
    int iterations = 1000;
    double uplink_interval = 10;
    double steady = 20;
    double timeout = 900;
    std::string json_out;
};

// One JSON command on the station process's control socket; its one-line answer.
std::optional<bench::json> control(const std::string& path, const std::string& cmd) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    const std::string line = cmd + "\n";
    (void)!::write(fd, line.data(), line.size());
    std::string reply;
    char buf[4096];
    while (reply.find('\n') == std::string::npos) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto j = bench::json::parse(reply, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"N emulated stations (one process) connecting to `ttigctl emulate tts` (another process): rate, RSS per station, CPU"};
    app.add_option("--ttigctl", o.ttigctl, "ttigctl binary")->capture_default_str();
    app.add_option("--stations", o.stations, "stations")->capture_default_str();
    app.add_option("--profile", o.profile, "ttig or basicstation")->capture_default_str();
    app.add_option("--iterations", o.iterations, "PBKDF2 iterations of the gateways' keys in the scenario")->capture_default_str();
    app.add_option("--uplink-interval", o.uplink_interval, "seconds between uplinks per station at steady state")->capture_default_str();
    app.add_option("--steady", o.steady, "seconds of steady state measured")->capture_default_str();
    app.add_option("--timeout", o.timeout, "seconds to wait for every station to connect")->capture_default_str();
    app.add_option("--json", o.json_out, "also write the results as JSON here");
    CLI11_PARSE(app, argc, argv);
    o.stations = std::clamp(o.stations, 1, 100000);
    const auto n = static_cast<std::size_t>(o.stations);
    bench::raise_nofile(static_cast<rlim_t>(n) * 2 + 1024);
    bench::print_machine("station_bench");

    // 1. The emulator with N gateways, each with a CUPS key and an LNS key.
    const std::uint64_t first_eui = 0x58A0CBFFFE900000ull;
    std::vector<std::string> cups_keys(n), lns_keys(n);
    bench::ojson sc;
    sc["options"] = {{"pbkdf2_iterations", o.iterations}};
    sc["users"] = {{{"user_id", "fleet"}}};
    sc["gateways"] = bench::ojson::array();
    sc["api_keys"] = bench::ojson::array();
    for (std::size_t i = 0; i < n; ++i) {
        const std::string id = fmt::format("bench-st-{:05}", i);
        auto ck = emu::generate_api_key();
        auto lk = emu::generate_api_key();
        if (!ck || !lk) return 1;
        cups_keys[i] = ck->token;
        lns_keys[i] = lk->token;
        sc["gateways"].push_back({{"gateway",
                                   {{"ids", {{"gateway_id", id}, {"eui", proto::eui64{first_eui + i}.hex()}}},
                                    {"frequency_plan_ids", {"EU_863_870_TTN"}},
                                    {"lbs_lns_secret", {{"value", emu::base64_encode(lk->token)}}}}},
                                  {"owner", {{"user_id", "fleet"}}}});
        sc["api_keys"].push_back({{"owner", {{"gateway_id", id}}},
                                  {"key", ck->token},
                                  {"name", "cups"},
                                  {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"}}});
        sc["api_keys"].push_back(
            {{"owner", {{"gateway_id", id}}}, {"key", lk->token}, {"name", "lns"}, {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}});
    }
    bench::emulator_process tts;
    bench::emulator_options eo;
    eo.ttigctl = o.ttigctl;
    eo.scenario_json = sc.dump();
    eo.nofile = static_cast<rlim_t>(n) * 2 + 1024;
    eo.start_timeout = std::chrono::seconds(900);
    fmt::print("starting emulate tts with {} gateways ({} keys at {} PBKDF2 iterations)...\n", n, 2 * n, o.iterations);
    std::fflush(stdout);
    if (auto e = tts.start(eo); !e.empty()) {
        fmt::print(stderr, "station_bench: {}\n", e);
        return 1;
    }
    const auto cfg = tts.config();
    const std::string lns_url = cfg.at("lns_url").get<std::string>();
    // The LNS port is known only now: point every gateway at it (gateway_server_address).
    {
        net::http_client http(bench::client_for(cfg));
        for (std::size_t i = 0; i < n; ++i) {
            proto::http_request r;
            r.method = "PUT";
            r.target = fmt::format("/api/v3/gateways/bench-st-{:05}", i);
            r.headers.set("Authorization", "Bearer " + cfg.at("admin_api_key").get<std::string>());
            r.headers.set("Content-Type", "application/json");
            r.body = bench::ojson{{"gateway", {{"gateway_server_address", lns_url}}}, {"field_mask", {{"paths", {"gateway_server_address"}}}}}.dump();
            auto res = http.request(r, net::request_options{cfg.at("api_url").get<std::string>()});
            if (!res || res->status != 200) {
                fmt::print(stderr, "station_bench: PUT gateway {}: {}\n", i, res ? res->body : res.err().what());
                return 1;
            }
        }
    }

    // 2. N station homes with the CUPS set a claimed TTIG has.
    const fs::path dir = tts.dir() / "stations";
    const std::string ca = bench::read_text(cfg.at("ca_file").get<std::string>());
    for (std::size_t i = 0; i < n; ++i) {
        const fs::path h = dir / std::to_string(i);
        fs::create_directories(h);
        std::ofstream(h / "cups.uri") << cfg.at("cups_url").get<std::string>();
        std::ofstream(h / "cups.trust") << ca;
        std::ofstream(h / "cups.key") << "Authorization: Bearer " << cups_keys[i] << "\r\n";
    }

    // 3. The station process.
    const std::string sock = (tts.dir() / "stations.sock").string();
    const std::string events = (tts.dir() / "stations.jsonl").string();
    std::vector<std::string> args{o.ttigctl, "emulate", "station", "--home", dir.string(), "--count", std::to_string(n),
                                  "--profile", o.profile, "--eui", proto::eui64{first_eui}.hex(), "--events", events,
                                  "--control", sock, "--uplink-interval", fmt::format("{}", o.uplink_interval)};
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    const auto t0 = bench::steady::now();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        rlimit r{static_cast<rlim_t>(n) + 1024, static_cast<rlim_t>(n) + 1024};
        ::setrlimit(RLIMIT_NOFILE, &r);
        ::execv(av[0], av.data());
        ::_exit(127);
    }
    std::size_t connected = 0;
    long long rss_first = 0;
    double t_first = 0, t_all = 0;
    bench::json last;
    while (bench::seconds_since(t0) < o.timeout) {
        ::usleep(250000);
        auto s = control(sock, R"({"cmd":"summary"})");
        if (!s) continue;
        last = *s;
        connected = s->value("leds", bench::json::object()).value("green_solid", std::size_t{0});
        if (connected > 0 && rss_first == 0) {
            rss_first = bench::proc_status_kib(pid, "VmRSS");
            t_first = bench::seconds_since(t0);
        }
        if (connected >= n) {
            t_all = bench::seconds_since(t0);
            break;
        }
    }
    const long long rss_all = bench::proc_status_kib(pid, "VmRSS");
    // 4. Steady state with uplinks.
    const double cpu_st0 = bench::proc_cpu_seconds(pid).value_or(0), cpu_tts0 = bench::proc_cpu_seconds(tts.pid()).value_or(0);
    const auto s0 = bench::steady::now();
    ::usleep(static_cast<useconds_t>(o.steady * 1e6));
    const double wall = bench::seconds_since(s0);
    const double cpu_st = (bench::proc_cpu_seconds(pid).value_or(0) - cpu_st0) / wall;
    const double cpu_tts = (bench::proc_cpu_seconds(tts.pid()).value_or(0) - cpu_tts0) / wall;
    auto end = control(sock, R"({"cmd":"summary"})");
    const std::size_t connected_end = end ? end->value("leds", bench::json::object()).value("green_solid", std::size_t{0}) : 0;
    const long long rss_end = bench::proc_status_kib(pid, "VmRSS");
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);

    fmt::print("\n{} {} stations -> emulate tts over TLS (CUPS, then discovery and traffic on wss)\n", n, o.profile);
    fmt::print("connected: {} of {} in {:.1f} s ({:.0f} stations/s); first after {:.2f} s\n", connected, n, t_all > 0 ? t_all : bench::seconds_since(t0),
               t_all > 0 ? static_cast<double>(n) / t_all : 0.0, t_first);
    fmt::print("station process RSS: {} KiB with all connected = {:.1f} KiB per station (whole process / N)\n", rss_all,
               static_cast<double>(rss_all) / static_cast<double>(n));
    fmt::print("steady state ({:.0f} s, an uplink every {} s per station = {:.0f} uplinks/s): station process {:.3f} cores, emulate tts {:.3f} "
               "cores; still connected {}; RSS {} KiB\n",
               wall, o.uplink_interval, o.uplink_interval > 0 ? static_cast<double>(n) / o.uplink_interval : 0.0, cpu_st, cpu_tts, connected_end, rss_end);
    fmt::print("(loadavg now {}; CUPS requests {}, traffic connections {})\n", bench::loadavg(), last.value("cups_requests", 0), last.value("tc_connects", 0));
    if (!o.json_out.empty()) {
        bench::ojson j{{"bench", "station"},       {"machine", bench::machine_json()}, {"stations", n},
                       {"profile", o.profile},     {"connected", connected},          {"connect_all_s", t_all},
                       {"first_s", t_first},       {"rss_all_kib", rss_all},          {"kib_per_station", static_cast<double>(rss_all) / static_cast<double>(n)},
                       {"steady_s", wall},         {"station_cores", cpu_st},         {"tts_cores", cpu_tts},
                       {"connected_end", connected_end}, {"rss_end_kib", rss_end}};
        std::ofstream(o.json_out) << j.dump(2) << "\n";
    }
    return connected >= n ? 0 : 1;
}
