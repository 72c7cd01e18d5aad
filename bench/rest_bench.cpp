// REST throughput and latency: GET /api/v3/gateways/{id} over TLS on N keep-alive connections
// (default 64) against `ttigctl emulate tts` running in another process. The load generator runs
// in this process; the CPU both processes use during the measured window is reported, so a
// saturated load generator is visible.
//
// TTS's Identity Server re-derives the API key's PBKDF2 hash (20,000 iterations) on every request;
// the emulator does too with {"options":{"key_verify_memo":false}}, and by default remembers keys
// it has verified (same answers, see emu::secret_memo). The bench compares configurations side by
// side in one run, one emulator each: --rows ITERATIONS:MEMO:THREADS,... where MEMO is memo or
// nomemo and THREADS is the emulator's --threads. Default: 20000:nomemo:1 (TTS's cost),
// 20000:memo:1, 20000:memo:2.
//
// It also measures the emulator's start time: exec to config file written, --startup-runs times.
//
//   rest_bench [--connections 64] [--duration 10] [--warmup 2] [--rows 20000:nomemo:1,20000:memo:1,20000:memo:2]
//              [--startup-runs 10] [--threads 1] [--config FILE --emulator-pid PID] [--json FILE]
#include "bench_common.hpp"

#include <ttig/net/http_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string_view>

namespace asio = boost::asio;
using namespace ttig;
using bench::ojson;
using bench::steady;

namespace {

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    std::string config_file;  // an emulator already running (then only "as given" is measured)
    int emulator_pid = 0;
    int connections = 64;
    int threads = 1;
    double duration = 10;
    double warmup = 2;
    std::vector<std::string> rows{"20000:nomemo:1", "20000:memo:1", "20000:memo:2"};
    int rounds = 1;
    int startup_runs = 10;
    std::string gateway_id = "bench-gw";
    std::string field_mask = "name,frequency_plan_ids,gateway_server_address";
    std::string json_out;
};

struct worker_stats {
    std::vector<double> latencies_ms;  // completions inside the window
    std::uint64_t in_window = 0;
    std::uint64_t errors = 0;     // transport errors
    std::uint64_t non_200 = 0;    // answered, but not 200
    std::uint64_t total = 0;      // every completion
    std::string first_error;
};

struct window {
    steady::time_point start, end;
};

// One keep-alive connection: its own client (one pooled connection), requests back to back.
asio::awaitable<void> worker(net::http_client& client, proto::http_request req, net::request_options opts, window w,
                             worker_stats& st, std::uint64_t max_requests) {
    for (std::uint64_t i = 0; i < max_requests; ++i) {
        const auto t0 = steady::now();
        if (t0 >= w.end) break;
        auto res = co_await client.async_request(req, opts, asio::use_awaitable);
        const auto t1 = steady::now();
        ++st.total;
        const bool inside = t1 >= w.start && t1 < w.end;
        if (!res) {
            ++st.errors;
            if (st.first_error.empty()) st.first_error = res.err().what();
            continue;
        }
        if (res->status != 200) {
            ++st.non_200;
            if (st.first_error.empty()) st.first_error = fmt::format("HTTP {}: {}", res->status, res->body.substr(0, 200));
            continue;
        }
        if (inside) {
            ++st.in_window;
            st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
    }
}

struct run_result {
    std::string label;
    int iterations = 0;
    double rps = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
    std::uint64_t requests = 0, errors = 0, non_200 = 0;
    std::size_t connections_opened = 0;
    bench::cpu_share cpu;
    long long emulator_rss_kib = -1;
    std::string first_error;
};

// Creates the gateway the load reads (admin key, as any client would).
std::string create_gateway(const bench::json& cfg, const options& o) {
    net::http_client setup(bench::client_for(cfg));
    proto::http_request req;
    req.method = "POST";
    req.target = "/api/v3/users/" + cfg.value("admin_user_id", std::string("admin")) + "/gateways";
    req.headers.set("Authorization", "Bearer " + cfg.at("admin_api_key").get<std::string>());
    req.headers.set("Content-Type", "application/json");
    req.body = ojson{{"gateway",
                      {{"ids", {{"gateway_id", o.gateway_id}, {"eui", "58A0CBFFFE00BE01"}}},
                       {"name", "bench gateway"},
                       {"frequency_plan_ids", {"EU_863_870_TTN"}},
                       {"gateway_server_address", "eu1.cloud.thethings.network"}}}}
                   .dump();
    auto res = setup.request(req, net::request_options{cfg.at("api_url").get<std::string>()});
    if (!res) return res.err().what();
    if (res->status != 200 && res->status != 409) return fmt::format("create gateway: HTTP {}: {}", res->status, res->body);
    return {};
}

run_result measure(const bench::json& cfg, pid_t emulator_pid, const options& o, std::string label, int iterations) {
    run_result r;
    r.label = std::move(label);
    r.iterations = iterations;
    asio::io_context ioc(o.threads);
    std::vector<std::unique_ptr<net::http_client>> clients;
    std::vector<worker_stats> stats(static_cast<std::size_t>(o.connections));
    proto::http_request req;
    req.method = "GET";
    req.target = "/api/v3/gateways/" + o.gateway_id + (o.field_mask.empty() ? "" : "?field_mask=" + o.field_mask);
    req.headers.set("Authorization", "Bearer " + cfg.at("admin_api_key").get<std::string>());
    net::request_options ro{cfg.at("api_url").get<std::string>()};
    ro.deadline = std::chrono::milliseconds(30000);

    const auto t_start = steady::now();
    window w;
    w.start = t_start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.warmup));
    w.end = w.start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration));
    // The guard stops everything at the time limit; the last worker to finish cancels it.
    asio::steady_timer guard(ioc, w.end + std::chrono::seconds(40));
    guard.async_wait([&](boost::system::error_code ec) {
        if (!ec) ioc.stop();
    });
    std::atomic<int> finished{0};
    for (int i = 0; i < o.connections; ++i) {
        auto cc = bench::client_for(cfg);
        cc.max_idle_per_origin = 1;
        clients.push_back(std::make_unique<net::http_client>(ioc.get_executor(), cc));
        asio::co_spawn(ioc, worker(*clients.back(), req, ro, w, stats[static_cast<std::size_t>(i)], 100'000'000), [&](std::exception_ptr) {
            if (finished.fetch_add(1) + 1 == o.connections) asio::post(ioc, [&] { guard.cancel(); });
        });
    }
    // CPU snapshots at the window's edges.
    bench::cpu_snapshot a{}, b{};
    asio::steady_timer ta(ioc, w.start), tb(ioc, w.end);
    ta.async_wait([&](boost::system::error_code) { a = bench::cpu_snapshot::take(emulator_pid); });
    tb.async_wait([&](boost::system::error_code) {
        b = bench::cpu_snapshot::take(emulator_pid);
        if (emulator_pid > 0) r.emulator_rss_kib = bench::proc_status_kib(emulator_pid, "VmRSS");
    });
    std::vector<std::thread> extra;
    for (int t = 1; t < o.threads; ++t) extra.emplace_back([&] { ioc.run(); });
    ioc.run();  // returns once every worker is done (or the guard fired)
    for (auto& t : extra) t.join();

    std::vector<double> lat;
    for (auto& s : stats) {
        lat.insert(lat.end(), s.latencies_ms.begin(), s.latencies_ms.end());
        r.requests += s.in_window;
        r.errors += s.errors;
        r.non_200 += s.non_200;
        if (r.first_error.empty()) r.first_error = s.first_error;
    }
    for (auto& c : clients) r.connections_opened += c->connections_opened();
    clients.clear();
    r.rps = static_cast<double>(r.requests) / o.duration;
    r.p50 = bench::percentile(lat, 50);
    r.p90 = bench::percentile(lat, 90);
    r.p99 = bench::percentile(lat, 99);
    r.max = lat.empty() ? 0 : lat.back();
    r.cpu = bench::share(a, b);
    return r;
}

ojson to_json(const run_result& r, double base_rps) {
    ojson j;
    j["label"] = r.label;
    j["pbkdf2_iterations"] = r.iterations;
    j["requests"] = r.requests;
    j["req_per_s"] = r.rps;
    j["ratio_to_first"] = base_rps > 0 ? r.rps / base_rps : 0;
    j["p50_ms"] = r.p50;
    j["p90_ms"] = r.p90;
    j["p99_ms"] = r.p99;
    j["max_ms"] = r.max;
    j["errors"] = r.errors;
    j["non_200"] = r.non_200;
    j["connections_opened"] = r.connections_opened;
    j["bench_cpu_cores"] = r.cpu.self_cores;
    j["emulator_cpu_cores"] = r.cpu.emulator_cores;
    j["emulator_cpu_us_per_request"] = r.rps > 0 ? r.cpu.emulator_cores * 1e6 / r.rps : 0;
    j["bench_cpu_us_per_request"] = r.rps > 0 ? r.cpu.self_cores * 1e6 / r.rps : 0;
    j["emulator_rss_kib"] = r.emulator_rss_kib;
    if (!r.first_error.empty()) j["first_error"] = r.first_error;
    return j;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"REST GET /api/v3/gateways/{id} throughput and latency against `ttigctl emulate tts` (another process)"};
    app.add_option("--ttigctl", o.ttigctl, "ttigctl binary")->capture_default_str();
    app.add_option("--config", o.config_file, "config file of an emulator already running (skips starting one)");
    app.add_option("--emulator-pid", o.emulator_pid, "its process id, for its CPU and RSS (with --config)");
    app.add_option("--connections", o.connections, "keep-alive connections (one request in flight on each)")->capture_default_str();
    app.add_option("--threads", o.threads, "threads running the load generator")->capture_default_str();
    app.add_option("--duration", o.duration, "measured seconds per configuration")->capture_default_str();
    app.add_option("--warmup", o.warmup, "unmeasured seconds first")->capture_default_str();
    app.add_option("--rows", o.rows, "configurations to compare, one emulator each: ITERATIONS:memo|nomemo:EMULATOR_THREADS")
        ->delimiter(',')
        ->capture_default_str();
    app.add_option("--rounds", o.rounds, "repeat the comparison, alternating configurations")->capture_default_str();
    app.add_option("--startup-runs", o.startup_runs, "emulator start-time samples (0 = skip)")->capture_default_str();
    app.add_option("--field-mask", o.field_mask, "field_mask of the GET (empty = none)")->capture_default_str();
    app.add_option("--json", o.json_out, "also write the results as JSON here");
    CLI11_PARSE(app, argc, argv);
    o.connections = std::clamp(o.connections, 1, 4096);
    o.threads = std::clamp(o.threads, 1, 16);
    o.duration = std::clamp(o.duration, 0.5, 600.0);
    o.warmup = std::clamp(o.warmup, 0.0, 60.0);
    o.rounds = std::clamp(o.rounds, 1, 20);
    o.startup_runs = std::clamp(o.startup_runs, 0, 100);
    bench::raise_nofile(static_cast<rlim_t>(o.connections) * 2 + 256);

    bench::print_machine("rest_bench");
    ojson out;
    out["bench"] = "rest";
    out["machine"] = bench::machine_json();
    out["connections"] = o.connections;
    out["threads"] = o.threads;
    out["duration_s"] = o.duration;

    // 1. Start time of the emulator process.
    if (o.startup_runs > 0 && o.config_file.empty()) {
        std::vector<double> t;
        for (int i = 0; i < o.startup_runs; ++i) {
            bench::emulator_process p;
            bench::emulator_options eo;
            eo.ttigctl = o.ttigctl;
            if (auto e = p.start(eo); !e.empty()) {
                fmt::print(stderr, "rest_bench: {}\n", e);
                return 1;
            }
            t.push_back(p.start_seconds() * 1000);
        }
        auto sorted = t;
        std::sort(sorted.begin(), sorted.end());
        fmt::print("emulator start (exec -> config file written), {} runs: median {:.1f} ms, min {:.1f} ms, max {:.1f} ms\n", t.size(),
                   bench::median(t), sorted.front(), sorted.back());
        out["startup_ms"] = {{"runs", t.size()}, {"median", bench::median(t)}, {"min", sorted.front()}, {"max", sorted.back()}, {"samples", t}};
    }

    // 2. Throughput per configuration.
    std::vector<run_result> results;
    if (!o.config_file.empty()) {
        auto cfg = bench::json::parse(bench::read_text(o.config_file), nullptr, false);
        if (cfg.is_discarded()) {
            fmt::print(stderr, "rest_bench: {} is not JSON\n", o.config_file);
            return 1;
        }
        if (auto e = create_gateway(cfg, o); !e.empty()) {
            fmt::print(stderr, "rest_bench: {}\n", e);
            return 1;
        }
        results.push_back(measure(cfg, o.emulator_pid, o, "as given", 0));
    } else {
        for (int round = 0; round < o.rounds; ++round) {
            for (const auto& row : o.rows) {
                int it = 0;
                unsigned threads = 0;
                char memo[16] = {};
                if (std::sscanf(row.c_str(), "%d:%15[a-z]:%u", &it, memo, &threads) != 3 || it < 1 || threads < 1 ||
                    (std::string_view(memo) != "memo" && std::string_view(memo) != "nomemo")) {
                    fmt::print(stderr, "rest_bench: --rows: \"{}\" is not ITERATIONS:memo|nomemo:THREADS\n", row);
                    return 2;
                }
                const bool use_memo = std::string_view(memo) == "memo";
                bench::emulator_process p;
                bench::emulator_options eo;
                eo.ttigctl = o.ttigctl;
                eo.scenario_json = ojson{{"options", {{"pbkdf2_iterations", it}, {"key_verify_memo", use_memo}}}}.dump();
                eo.extra_args = {"--threads", std::to_string(threads)};
                eo.nofile = static_cast<rlim_t>(o.connections) * 2 + 256;
                if (auto e = p.start(eo); !e.empty()) {
                    fmt::print(stderr, "rest_bench: {}\n", e);
                    return 1;
                }
                if (auto e = create_gateway(p.config(), o); !e.empty()) {
                    fmt::print(stderr, "rest_bench: {}\n", e);
                    return 1;
                }
                fmt::print("measuring {} ({} connections, {:.0f} s + {:.0f} s warm-up)...\n", row, o.connections, o.duration, o.warmup);
                std::fflush(stdout);
                results.push_back(measure(p.config(), p.pid(), o, row, it));
            }
        }
    }

    fmt::print("\nREST GET /api/v3/gateways/{{id}} over TLS, {} keep-alive connections, {} load thread(s), {:.0f} s per row\n", o.connections,
               o.threads, o.duration);
    fmt::print("{:<26} {:>10} {:>7} {:>9} {:>9} {:>9} {:>7} {:>6} {:>10} {:>10} {:>12}\n", "configuration", "req/s", "ratio", "p50 ms", "p90 ms",
               "p99 ms", "errors", "conns", "bench CPU", "emu CPU", "emu us/req");
    const double base = results.empty() ? 0 : results.front().rps;
    out["results"] = ojson::array();
    for (const auto& r : results) {
        fmt::print("{:<26} {:>10.1f} {:>7.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>7} {:>6} {:>9.2f}c {:>9.2f}c {:>12.1f}\n", r.label, r.rps,
                   base > 0 ? r.rps / base : 0, r.p50, r.p90, r.p99, r.errors + r.non_200, r.connections_opened, r.cpu.self_cores,
                   r.cpu.emulator_cores, r.rps > 0 ? r.cpu.emulator_cores * 1e6 / r.rps : 0);
        if (!r.first_error.empty()) fmt::print("  first error: {}\n", r.first_error);
        out["results"].push_back(to_json(r, base));
    }
    fmt::print("(CPU in cores: CPU seconds per wall second during the window; 'c' = cores, of {} on this machine; emu us/req = emulator CPU"
               " per request; loadavg now {})\n",
               std::thread::hardware_concurrency(), bench::loadavg());
    out["loadavg_after"] = bench::loadavg();
    if (!o.json_out.empty()) std::ofstream(o.json_out) << out.dump(2) << "\n";
    return 0;
}
