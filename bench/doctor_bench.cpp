// `ttigctl doctor` timings, run as a user runs it (a separate process each time):
//  1. the default ladder for a healthy, connected gateway against `ttigctl emulate tts` on
//     loopback, with one emulated TTIG (`ttigctl emulate station`) connected: wall time per run
//     (goal < 250 ms) and the API calls it made (goal <= 8);
//  2. a blackholed API host: a TCP listener that accepts and never answers, and the emulator with a
//     blackhole fault on every REST route (TLS completes, the request is never answered): the run
//     time over --timeout (goal <= 1.10), and the hop doctor names.
//
//   doctor_bench [--runs 20] [--timeouts 2,5]
#include "bench_common.hpp"

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>

#include <CLI/CLI.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

namespace fs = std::filesystem;

namespace {

using namespace ttig;

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    int runs = 20;
    std::vector<double> timeouts{2, 5};
};

struct run_result {
    double seconds = 0;
    int exit_code = -1;
    bench::json report;
};

// Runs `ttigctl doctor ... --json` and reads its report.
run_result doctor(const std::string& ttigctl, const std::vector<std::string>& extra, const fs::path& out) {
    std::string cmd = ttigctl + " doctor";
    for (const auto& a : extra) cmd += " '" + a + "'";
    cmd += " --json > '" + out.string() + "' 2>/dev/null";
    const auto t0 = bench::steady::now();
    const int rc = std::system(cmd.c_str());
    run_result r;
    r.seconds = bench::seconds_since(t0);
    r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.report = bench::json::parse(bench::read_text(out), nullptr, false);
    return r;
}

// A listener that accepts connections and never reads or writes: a blackholed host.
struct blackhole {
    int fd = -1;
    std::uint16_t port = 0;
    blackhole() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd, 64);  // the kernel completes handshakes into the backlog; nobody accepts
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~blackhole() { ::close(fd); }
};

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"doctor_bench: ttigctl doctor on loopback: healthy-ladder time and timeout honouring against a blackholed host"};
    app.add_option("--ttigctl", o.ttigctl)->capture_default_str();
    app.add_option("--runs", o.runs, "doctor runs for the healthy ladder")->capture_default_str();
    app.add_option("--timeouts", o.timeouts, "--timeout values (seconds) for the blackhole runs")->delimiter(',');
    CLI11_PARSE(app, argc, argv);
    bench::print_machine("doctor_bench");

    // The world: one claimed TTIG (CUPS key, LNS key in lbs_lns_secret), its emulated station.
    auto ck_r = emu::generate_api_key();
    auto lk_r = emu::generate_api_key();
    if (!ck_r || !lk_r) return 1;
    const auto ck = *ck_r, lk = *lk_r;
    bench::ojson sc;
    sc["users"] = {{{"user_id", "owner"}}};
    sc["gateways"] = {{{"gateway",
                        {{"ids", {{"gateway_id", "bench-ttig"}, {"eui", "58A0CBFFFE800123"}}},
                         {"frequency_plan_ids", {"EU_863_870_TTN"}},
                         {"require_authenticated_connection", true},
                         {"lbs_lns_secret", {{"value", emu::base64_encode(lk.token)}}}}},
                       {"owner", {{"user_id", "owner"}}}}};
    sc["api_keys"] = {{{"owner", {{"gateway_id", "bench-ttig"}}}, {"key", ck.token}, {"name", "cups"},
                       {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"}}},
                      {{"owner", {{"gateway_id", "bench-ttig"}}}, {"key", lk.token}, {"name", "lns"}, {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}}};
    bench::emulator_process tts;
    bench::emulator_options eo;
    eo.ttigctl = o.ttigctl;
    eo.scenario_json = sc.dump();
    if (auto e = tts.start(eo); !e.empty()) {
        fmt::print(stderr, "doctor_bench: {}\n", e);
        return 1;
    }
    const auto cfg = tts.config();
    const std::string api = cfg.at("api_url").get<std::string>(), admin = cfg.at("admin_api_key").get<std::string>();
    net::http_client http(bench::client_for(cfg));
    auto call = [&](std::string method, std::string target, std::string body) {
        proto::http_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + admin);
        r.headers.set("Content-Type", "application/json");
        return http.request(r, net::request_options{api});
    };
    const std::string lns = cfg.at("lns_url").get<std::string>().substr(6);
    if (auto r = call("PUT", "/api/v3/gateways/bench-ttig",
                      bench::ojson{{"gateway", {{"gateway_server_address", lns}}}, {"field_mask", {{"paths", {"gateway_server_address"}}}}}.dump());
        !r || r->status != 200) {
        fmt::print(stderr, "doctor_bench: PUT gateway failed\n");
        return 1;
    }
    const fs::path home = tts.dir() / "station";
    fs::create_directories(home);
    std::ofstream(home / "cups.uri") << cfg.at("cups_url").get<std::string>();
    std::ofstream(home / "cups.trust") << bench::read_text(cfg.at("ca_file").get<std::string>());
    std::ofstream(home / "cups.key") << "Authorization: Bearer " << ck.token << "\r\n";
    const fs::path keyfile = tts.dir() / "api.key";
    std::ofstream(keyfile) << admin;
    fs::permissions(keyfile, fs::perms::owner_read | fs::perms::owner_write);
    std::vector<std::string> sargs{o.ttigctl, "emulate", "station", "--home", home.string(), "--profile", "ttig", "--eui", "58A0CBFFFE800123",
                                   "--uplink-interval", "1", "--events", (tts.dir() / "station.jsonl").string()};
    std::vector<char*> av;
    for (auto& a : sargs) av.push_back(a.data());
    av.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t station = ::fork();
    if (station == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        ::execv(av[0], av.data());
        ::_exit(127);
    }
    bool connected = false;
    for (int i = 0; i < 200 && !connected; ++i) {
        ::usleep(100000);
        auto r = call("GET", "/api/v3/gs/gateways/bench-ttig/connection/stats", {});
        connected = r && r->status == 200 && r->body.find("connected_at") != std::string::npos && r->body.find("last_uplink_received_at") != std::string::npos;
    }
    if (!connected) {
        fmt::print(stderr, "doctor_bench: the emulated TTIG did not connect\n");
        ::kill(station, SIGTERM);
        return 1;
    }

    const std::vector<std::string> base{"--tts", api, "--api-key-file", keyfile.string(), "--ca", cfg.at("ca_file").get<std::string>()};
    // 1. Healthy ladder.
    std::vector<double> times;
    std::size_t calls_max = 0;
    int healthy = 0;
    const fs::path out = tts.dir() / "doctor.json";
    for (int i = 0; i < o.runs; ++i) {
        auto args = base;
        args.push_back("bench-ttig");
        auto r = doctor(o.ttigctl, args, out);
        times.push_back(r.seconds * 1000);
        if (r.exit_code == 0) ++healthy;
        if (r.report.is_object()) calls_max = std::max<std::size_t>(calls_max, r.report.value("api_calls", std::size_t{0}));
    }
    const double p50 = bench::median(times);
    std::vector<double> t2 = times;
    const double p95 = bench::percentile(t2, 95);

    // 2. Blackholes.
    struct bh_row {
        std::string what;
        double timeout = 0, seconds = 0;
        int exit_code = 0;
        std::string hop;
    };
    std::vector<bh_row> rows;
    blackhole hole;
    for (double t : o.timeouts) {
        auto args = std::vector<std::string>{"--tts", fmt::format("https://127.0.0.1:{}", hole.port), "--api-key-file", keyfile.string(),
                                             "--timeout", fmt::format("{}", t), "bench-ttig"};
        auto r = doctor(o.ttigctl, args, out);
        rows.push_back({"TCP accepted, never answered", t, r.seconds, r.exit_code, r.report.is_object() ? r.report.value("api_failure", "") : ""});
    }
    if (auto f = call("POST", "/emu/v1/faults", R"({"faults":[{"path_prefix":"/api/v3/","blackhole_ratio":1}]})"); !f || f->status != 200)
        fmt::print(stderr, "doctor_bench: could not set the blackhole fault\n");
    for (double t : o.timeouts) {
        auto args = base;
        args.insert(args.end(), {"--timeout", fmt::format("{}", t), "bench-ttig"});
        auto r = doctor(o.ttigctl, args, out);
        rows.push_back({"TLS up, REST blackholed (emulator fault)", t, r.seconds, r.exit_code, r.report.is_object() ? r.report.value("api_failure", "") : ""});
    }
    ::kill(station, SIGTERM);

    fmt::print("\nhealthy ladder ({} runs, each a new `ttigctl doctor --json` process; goal < 250 ms, <= 8 API calls)\n", o.runs);
    fmt::print("| median ms | p95 ms | max API calls | healthy verdicts |\n|---|---|---|---|\n");
    fmt::print("| {:.1f} | {:.1f} | {} | {}/{} |\n", p50, p95, calls_max, healthy, o.runs);
    fmt::print("\nblackholed API host (goal: run time / --timeout <= 1.10)\n");
    fmt::print("| host | --timeout s | run s | ratio | exit | hop named |\n|---|---|---|---|---|---|\n");
    for (const auto& r : rows)
        fmt::print("| {} | {:.0f} | {:.3f} | {:.3f} | {} | {} |\n", r.what, r.timeout, r.seconds, r.seconds / r.timeout, r.exit_code, r.hop);
    return 0;
}
