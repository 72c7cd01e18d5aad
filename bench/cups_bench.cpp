// CUPS POST /update-info requests/s over TLS against `ttigctl emulate tts` in another process.
//
// One registered gateway (a scenario file written by the bench) with a CUPS key (INFO +
// SETTINGS_BASIC + READ_SECRETS) and an LNS key in lbs_lns_secret. Two station-like bodies:
//   - "new credentials": tcUri null, tcCredCrc of an empty set -> TTS answers tcUri + tcCred;
//   - "no change": the tcUri and the CRC-32 of the tcCred it got -> the 18-byte empty answer.
// Two connection styles side by side: a new TLS connection per request (what a station does:
// it has no keep-alive and no session resumption) and keep-alive connections.
// Every answer is checked (status 200 and the expected shape); anything else counts as an error.
//
//   cups_bench [--concurrency 16] [--duration 5] [--warmup 1] [--rounds 1] [--json FILE]
#include "bench_common.hpp"

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/proto/cups.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <CLI/CLI.hpp>

#include <memory>

namespace asio = boost::asio;
using namespace ttig;
using bench::ojson;
using bench::steady;

namespace {

constexpr const char* gateway_id = "cups-gw";
constexpr std::uint64_t gateway_eui = 0x58A0CBFFFE00C001ull;

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    int concurrency = 16;
    double duration = 5;
    double warmup = 1;
    int rounds = 1;
    std::string json_out;
};

enum class expect { new_credentials, no_change };

struct worker_stats {
    std::vector<double> latencies_ms;
    std::uint64_t in_window = 0, errors = 0;
    std::string first_error;
};

struct window {
    steady::time_point start, end;
};

std::string check(const net::response_result& res, expect e) {
    if (!res) return res.err().what();
    if (res->status != 200) return fmt::format("HTTP {}: {}", res->status, res->body.substr(0, 300));
    if (e == expect::no_change) return res->body.size() == 18 ? std::string{} : fmt::format("expected the 18-byte answer, got {} bytes", res->body.size());
    auto d = proto::decode_update_info_response(proto::as_bytes(res->body),
                                                proto::cups_dialect::tts);
    if (!d) return fmt::format("undecodable answer: {}", d.err().what());
    if (d->tc_uri.empty() || d->tc_cred.empty()) return "expected tcUri and tcCred in the answer";
    return {};
}

asio::awaitable<void> worker(net::http_client& client, proto::http_request req, net::request_options opts, expect e, window w,
                             worker_stats& st, std::uint64_t max_requests) {
    for (std::uint64_t i = 0; i < max_requests; ++i) {
        const auto t0 = steady::now();
        if (t0 >= w.end) break;
        auto res = co_await client.async_request(req, opts, asio::use_awaitable);
        const auto t1 = steady::now();
        const std::string problem = check(res, e);
        if (!problem.empty()) {
            ++st.errors;
            if (st.first_error.empty()) st.first_error = problem;
            continue;
        }
        if (t1 >= w.start && t1 < w.end) {
            ++st.in_window;
            st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
    }
}

struct row {
    std::string body_kind, connection_kind;
    double rps = 0, p50 = 0, p99 = 0;
    std::uint64_t requests = 0, errors = 0;
    std::size_t connections_opened = 0;
    bench::cpu_share cpu;
    std::string first_error;
};

row measure(const bench::json& cfg, pid_t pid, const options& o, const proto::http_request& req, expect e, bool keep_alive) {
    row r;
    r.body_kind = e == expect::no_change ? "no change" : "new credentials";
    r.connection_kind = keep_alive ? "keep-alive" : "new TLS conn/request";
    asio::io_context ioc(1);
    std::vector<std::unique_ptr<net::http_client>> clients;
    std::vector<worker_stats> stats(static_cast<std::size_t>(o.concurrency));
    net::request_options ro{cfg.at("cups_url").get<std::string>()};
    window w;
    w.start = steady::now() + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.warmup));
    w.end = w.start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration));
    for (int i = 0; i < o.concurrency; ++i) {
        auto cc = bench::client_for(cfg);
        cc.max_idle_per_origin = keep_alive ? 1 : 0;  // 0: the connection is closed after each answer
        clients.push_back(std::make_unique<net::http_client>(ioc.get_executor(), cc));
        asio::co_spawn(ioc, worker(*clients.back(), req, ro, e, w, stats[static_cast<std::size_t>(i)], 100'000'000), asio::detached);
    }
    bench::cpu_snapshot a{}, b{};
    asio::steady_timer ta(ioc, w.start), tb(ioc, w.end);
    ta.async_wait([&](boost::system::error_code) { a = bench::cpu_snapshot::take(pid); });
    tb.async_wait([&](boost::system::error_code) { b = bench::cpu_snapshot::take(pid); });
    bench::run_bounded(ioc, std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.warmup + o.duration + 40)));
    std::vector<double> lat;
    for (auto& s : stats) {
        lat.insert(lat.end(), s.latencies_ms.begin(), s.latencies_ms.end());
        r.requests += s.in_window;
        r.errors += s.errors;
        if (r.first_error.empty()) r.first_error = s.first_error;
    }
    for (auto& c : clients) r.connections_opened += c->connections_opened();
    r.rps = static_cast<double>(r.requests) / o.duration;
    r.p50 = bench::percentile(lat, 50);
    r.p99 = bench::percentile(lat, 99);
    r.cpu = bench::share(a, b);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"CUPS POST /update-info requests/s against `ttigctl emulate tts` (another process)"};
    app.add_option("--ttigctl", o.ttigctl, "ttigctl binary")->capture_default_str();
    app.add_option("--concurrency", o.concurrency, "simultaneous stations (one request in flight each)")->capture_default_str();
    app.add_option("--duration", o.duration, "measured seconds per row")->capture_default_str();
    app.add_option("--warmup", o.warmup, "unmeasured seconds first")->capture_default_str();
    app.add_option("--rounds", o.rounds, "repeat the four rows")->capture_default_str();
    app.add_option("--json", o.json_out, "also write the results as JSON here");
    CLI11_PARSE(app, argc, argv);
    o.concurrency = std::clamp(o.concurrency, 1, 1024);
    o.duration = std::clamp(o.duration, 0.5, 600.0);
    o.warmup = std::clamp(o.warmup, 0.0, 60.0);
    o.rounds = std::clamp(o.rounds, 1, 20);
    bench::raise_nofile(static_cast<rlim_t>(o.concurrency) * 4 + 256);
    bench::print_machine("cups_bench");
    const ojson machine = bench::machine_json();  // loadavg before the runs

    // Keys and the scenario: one gateway with a CUPS key and an LNS key (lbs_lns_secret).
    auto cups_key = emu::generate_api_key();
    auto lns_key = emu::generate_api_key();
    if (!cups_key || !lns_key) {
        fmt::print(stderr, "cups_bench: cannot make API keys\n");
        return 1;
    }
    const std::string eui_hex = proto::eui64{gateway_eui}.hex();
    ojson scenario;
    scenario["users"] = {{{"user_id", "bench"}}};
    scenario["gateways"] = {{{"gateway",
                              {{"ids", {{"gateway_id", gateway_id}, {"eui", eui_hex}}},
                               {"name", "cups bench"},
                               {"frequency_plan_ids", {"EU_863_870_TTN"}},
                               {"gateway_server_address", "localhost:8887"},
                               {"lbs_lns_secret", {{"value", emu::base64_encode(lns_key->token)}}}}},
                             {"owner", {{"user_id", "bench"}}}}};
    scenario["api_keys"] = {{{"owner", {{"gateway_id", gateway_id}}},
                             {"key", cups_key->token},
                             {"name", "cups"},
                             {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"}}},
                            {{"owner", {{"gateway_id", gateway_id}}},
                             {"key", lns_key->token},
                             {"name", "lns"},
                             {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}}};

    bench::emulator_process emu_proc;
    bench::emulator_options eo;
    eo.ttigctl = o.ttigctl;
    eo.scenario_json = scenario.dump();
    eo.nofile = static_cast<rlim_t>(o.concurrency) * 4 + 256;
    if (auto e = emu_proc.start(eo); !e.empty()) {
        fmt::print(stderr, "cups_bench: {}\n", e);
        return 1;
    }
    const auto& cfg = emu_proc.config();
    const std::string cups_url = cfg.at("cups_url").get<std::string>();

    // The station's bodies. First "new credentials"; its answer gives the "no change" CRC.
    proto::update_info_request ui;
    ui.router = proto::eui64{gateway_eui};
    ui.cups_uri = cups_url;
    ui.tc_uri = std::nullopt;
    ui.cups_cred_crc = 0x12345678u;
    ui.tc_cred_crc = proto::empty_set_crc;
    ui.station = "2.0.6(minihub/std) 2022-02-11 10:37:25";
    ui.model = "minihub";
    ui.package = "2.0.6";
    proto::http_request fresh;
    fresh.method = "POST";
    fresh.target = "/update-info";
    fresh.headers.set("Content-Type", "application/json");
    fresh.headers.set("Authorization", "Bearer " + cups_key->token);
    fresh.body = proto::encode_update_info_request(ui);

    net::http_client probe(bench::client_for(cfg));
    auto first = probe.request(fresh, net::request_options{cups_url});
    if (auto problem = check(first, expect::new_credentials); !problem.empty()) {
        fmt::print(stderr, "cups_bench: first /update-info: {}\n", problem);
        return 1;
    }
    auto answer = proto::decode_update_info_response(
        proto::as_bytes(first->body), proto::cups_dialect::tts);
    ui.tc_uri = answer->tc_uri;
    ui.tc_cred_crc = proto::crc32(answer->tc_cred);
    proto::http_request same = fresh;
    same.body = proto::encode_update_info_request(ui);
    auto second = probe.request(same, net::request_options{cups_url});
    if (auto problem = check(second, expect::no_change); !problem.empty()) {
        fmt::print(stderr, "cups_bench: \"no change\" /update-info: {}\n", problem);
        return 1;
    }
    fmt::print("bodies: new credentials {} B request -> {} B answer (tcUri {}); no change {} B request -> 18 B answer\n", fresh.body.size(),
               first->body.size(), answer->tc_uri, same.body.size());

    std::vector<row> rows;
    for (int round = 0; round < o.rounds; ++round)
        for (bool keep : {false, true})
            for (expect e : {expect::no_change, expect::new_credentials}) {
                fmt::print("measuring {} / {} ...\n", e == expect::no_change ? "no change" : "new credentials", keep ? "keep-alive" : "new connection");
                std::fflush(stdout);
                rows.push_back(measure(cfg, emu_proc.pid(), o, e == expect::no_change ? same : fresh, e, keep));
            }

    fmt::print("\nCUPS POST /update-info over TLS, {} concurrent stations, {:.0f} s per row\n", o.concurrency, o.duration);
    fmt::print("{:<16} {:<21} {:>9} {:>9} {:>9} {:>7} {:>8} {:>10} {:>10} {:>11}\n", "answer", "connections", "req/s", "p50 ms", "p99 ms",
               "errors", "conns", "bench CPU", "emu CPU", "emu us/req");
    ojson out;
    out["bench"] = "cups";
    out["machine"] = machine;
    out["concurrency"] = o.concurrency;
    out["duration_s"] = o.duration;
    out["rows"] = ojson::array();
    for (const auto& r : rows) {
        fmt::print("{:<16} {:<21} {:>9.1f} {:>9.2f} {:>9.2f} {:>7} {:>8} {:>9.2f}c {:>9.2f}c {:>11.1f}\n", r.body_kind, r.connection_kind, r.rps,
                   r.p50, r.p99, r.errors, r.connections_opened, r.cpu.self_cores, r.cpu.emulator_cores,
                   r.rps > 0 ? r.cpu.emulator_cores * 1e6 / r.rps : 0);
        if (!r.first_error.empty()) fmt::print("  first error: {}\n", r.first_error);
        ojson j;
        j["answer"] = r.body_kind;
        j["connections"] = r.connection_kind;
        j["req_per_s"] = r.rps;
        j["p50_ms"] = r.p50;
        j["p99_ms"] = r.p99;
        j["requests"] = r.requests;
        j["errors"] = r.errors;
        j["connections_opened"] = r.connections_opened;
        j["bench_cpu_cores"] = r.cpu.self_cores;
        j["emulator_cpu_cores"] = r.cpu.emulator_cores;
        j["emulator_cpu_us_per_request"] = r.rps > 0 ? r.cpu.emulator_cores * 1e6 / r.rps : 0;
        if (!r.first_error.empty()) j["first_error"] = r.first_error;
        out["rows"].push_back(j);
    }
    // Side-by-side ratios (keep-alive / new connection) for the same answer, from the last round.
    if (rows.size() >= 4) {
        const auto& n = rows[rows.size() - 4];  // no change, new conn
        const auto& f = rows[rows.size() - 3];  // new creds, new conn
        const auto& nk = rows[rows.size() - 2];
        const auto& fk = rows[rows.size() - 1];
        fmt::print("keep-alive / new connection: no change x{:.2f}, new credentials x{:.2f}\n", n.rps > 0 ? nk.rps / n.rps : 0,
                   f.rps > 0 ? fk.rps / f.rps : 0);
        out["keepalive_ratio"] = {{"no_change", n.rps > 0 ? nk.rps / n.rps : 0}, {"new_credentials", f.rps > 0 ? fk.rps / f.rps : 0}};
    }
    fmt::print("(CPU in cores of {}; loadavg now {})\n", std::thread::hardware_concurrency(), bench::loadavg());
    out["loadavg_after"] = bench::loadavg();
    if (!o.json_out.empty()) std::ofstream(o.json_out) << out.dump(2) << "\n";
    return 0;
}
