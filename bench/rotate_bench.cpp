// `ttigctl rotate` tool time (goal: under 2 s for one gateway on loopback, waits for the station
// excluded). The emulated The Things Stack and one emulated TTIG per run live in this process on a
// virtual clock, so the station's 24 h CUPS cadence passes in moments; each `ttigctl rotate` run is
// a separate process, as a user runs it: start (exit 13, waiting for check-in 1), --resume (13,
// check-in 2), --resume (0, proven and cleaned up). Tool time = the sum of those process wall times;
// the virtual day between them is not tool time.
//
//   rotate_bench [--runs 10]
#include "bench_common.hpp"

#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/proto/eui.hpp>

#include <CLI/CLI.hpp>

#include <mutex>

#include <boost/asio/executor_work_guard.hpp>

namespace fs = std::filesystem;
using namespace ttig;
using namespace std::chrono_literals;

namespace {

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    int runs = 10;
};

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"rotate_bench: ttigctl rotate (CUPS + LNS keys) of one connected TTIG, tool time per gateway, waits excluded"};
    app.add_option("--ttigctl", o.ttigctl)->capture_default_str();
    app.add_option("--runs", o.runs, "gateways rotated, one after the other")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    bench::print_machine("rotate_bench");

    const fs::path dir = fs::temp_directory_path() / fmt::format("ttig-rotate-bench-{}", ::getpid());
    fs::create_directories(dir);
    boost::asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1767225600}}};
    emu::emulator_config c;
    c.ca_dir = dir / "tts";
    c.real_time_ticks = false;
    auto started = emu::tts_emulator::start(ioc, clock, c);
    if (!started) {
        fmt::print(stderr, "rotate_bench: {}\n", started.err().what());
        return 1;
    }
    auto& tts = **started;
    std::thread io([&] {
        auto work = boost::asio::make_work_guard(ioc);
        ioc.run();
    });
    const auto cfg = tts.config_json();
    const std::string api = cfg["api_url"].get<std::string>(), admin = cfg["admin_api_key"].get<std::string>();
    const std::string lns = cfg["lns_url"].get<std::string>().substr(6);
    net::client_config cc;
    cc.tls.ca_pem = {tts.ca_pem()};
    cc.tls.use_system_store = false;
    net::http_client http(cc);
    auto call = [&](std::string method, std::string target, std::string body) -> bench::json {
        proto::http_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + admin);
        r.headers.set("Content-Type", "application/json");
        auto res = http.request(r, net::request_options{api});
        if (!res || res->status != 200) return nullptr;
        return bench::json::parse(res->body, nullptr, false);
    };
    const fs::path keyfile = dir / "api.key";
    std::ofstream(keyfile) << admin;
    fs::permissions(keyfile, fs::perms::owner_read | fs::perms::owner_write);

    std::vector<double> tool_s, lib_ms, calls_v, runs_v;
    int done = 0;
    for (int i = 0; i < o.runs; ++i) {
        const std::string id = fmt::format("rot-{}", i);
        const std::string eui = fmt::format("58A0CBFFFE80{:04X}", i);
        auto g = call("POST", "/api/v3/users/admin/gateways",
                      bench::ojson{{"gateway", {{"ids", {{"gateway_id", id}, {"eui", eui}}}, {"frequency_plan_ids", {"EU_863_870_TTN"}},
                                                {"require_authenticated_connection", true}, {"gateway_server_address", lns}}}}
                          .dump());
        auto ck = call("POST", "/api/v3/gateways/" + id + "/api-keys",
                       R"({"name":"cups","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"]})");
        auto lk = call("POST", "/api/v3/gateways/" + id + "/api-keys", R"({"name":"lns","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]})");
        if (g.is_null() || ck.is_null() || lk.is_null()) {
            fmt::print(stderr, "rotate_bench: set-up of {} failed\n", id);
            break;
        }
        call("PUT", "/api/v3/gateways/" + id,
             bench::ojson{{"gateway", {{"lbs_lns_secret", {{"value", emu::base64_encode(lk["key"].get<std::string>())}}}}},
                          {"field_mask", {{"paths", {"lbs_lns_secret"}}}}}
                 .dump());
        const fs::path home = dir / id;
        fs::create_directories(home);
        std::ofstream(home / "cups.uri") << cfg["cups_url"].get<std::string>();
        std::ofstream(home / "cups.trust") << tts.ca_pem();
        std::ofstream(home / "cups.key") << "Authorization: Bearer " << ck["key"].get<std::string>() << "\r\n";
        emu::fleet_options fo;
        fo.homes = {home};
        fo.euis = {proto::parse_eui(eui)->eui};
        fo.profile = emu::station_profile::ttig();
        auto events = std::make_shared<std::vector<std::string>>();
        auto events_mu = std::make_shared<std::mutex>();
        fo.on_event = [events, events_mu](std::size_t, const emu::station_event& e) {
            std::lock_guard lock(*events_mu);
            events->push_back(e.kind + " " + e.detail);
        };
        emu::station_fleet fleet(ioc, clock, std::move(fo));
        fleet.start();
        auto settle = [&] {
            for (int k = 0; k < 2000 && fleet.summary().in_flight != 0; ++k) std::this_thread::sleep_for(5ms);  // real I/O only
        };
        // Each step of 600 virtual seconds ends with the emulated LNS pinging its sessions and
        // counting a missed pong until the answer arrives; the station answers over real I/O. Without
        // a moment of real time per step the virtual clock outran that round trip, the LNS dropped the
        // session for missed_too_many_pongs at every step, and about 1 rotation in 130 waited for a
        // connection that never stayed up. 2 ms per step (0.3 s per virtual day, not tool time), as
        // tests/support/tts_world.hpp's advance() has always done.
        auto advance = [&](std::chrono::seconds total) {
            for (auto t = 0s; t < total; t += 600s) {
                settle();
                clock.advance(600s);
                tts.tick();
                fleet.wake();
                std::this_thread::sleep_for(2ms);  // real I/O: the pings just sent are answered
            }
            settle();
        };
        for (int k = 0; k < 400 && !fleet.summary().leds.count("green_solid"); ++k) std::this_thread::sleep_for(10ms);
        advance(60s);
        const std::string base = fmt::format("{} rotate {} --tts {} --api-key-file {} --ca {} --journal {} --json", o.ttigctl, id, api,
                                             keyfile.string(), cfg["ca_file"].get<std::string>(), (dir / "journal.db").string());
        double sum = 0, lib = 0, calls = 0;
        int rc = -1, runs_made = 0;
        for (int step = 0; step < 6; ++step) {
            const fs::path out = dir / "out.json";
            const std::string cmd = base + (step ? " --resume" : "") + " > " + out.string() + " 2>/dev/null";
            const auto t0 = bench::steady::now();
            ++runs_made;
            const int st = std::system(cmd.c_str());
            sum += bench::seconds_since(t0);
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            auto j = bench::json::parse(bench::read_text(out), nullptr, false);
            if (j.is_object()) {
                lib += j.value("tool_ms", 0.0);
                calls += j.value("api_calls", 0.0);
            }
            if (rc != 13) break;
            if (step == 5) {
                fmt::print(stderr, "rotate_bench: {} still waits: {}\n", id, j.is_object() ? j.value("waiting_for", std::string()) : "?");
                const auto sm = fleet.summary();
                fmt::print(stderr, "rotate_bench: station: tc {} leds {} cups requests {} tc connects {} in flight {}\n", bench::json(sm.tc).dump(),
                           bench::json(sm.leds).dump(), sm.cups_requests, sm.tc_connects, sm.in_flight);
                std::lock_guard lock(*events_mu);
                for (std::size_t e = events->size() > 60 ? events->size() - 60 : 0; e < events->size(); ++e) fmt::print(stderr, "  {}\n", (*events)[e]);
                int shown = 0;
                auto stored = tts.state().events().stored();
                for (auto it = stored.rbegin(); it != stored.rend() && shown < 40; ++it)
                    if (it->name.rfind("gs.", 0) == 0 || it->name.rfind("gateway.", 0) == 0) {
                        fmt::print(stderr, "  EV {} {} {}\n", it->name, it->identifiers.dump(), it->data.dump().substr(0, 300));
                        ++shown;
                    }
            }
            advance(25h);  // the station's day, on the virtual clock: not tool time
        }
        fleet.stop();
        if (rc != 0) {
            fmt::print(stderr, "rotate_bench: {} ended with exit {}\n", id, rc);
            continue;
        }
        ++done;
        runs_v.push_back(runs_made);
        tool_s.push_back(sum);
        lib_ms.push_back(lib);
        calls_v.push_back(calls);
    }
    tts.stop();
    ioc.stop();
    io.join();
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (tool_s.empty()) return 1;
    auto t = tool_s, l = lib_ms;
    fmt::print("\n| rotate (CUPS + LNS), per gateway | median | p95 | goal | median / goal |\n|---|---|---|---|---|\n");
    fmt::print("| tool time: all `ttigctl rotate` processes of the rotation (start, then --resume after each virtual day) | {:.3f} s | {:.3f} s | 2 s | **{:.3f}** |\n", bench::median(t),
               bench::percentile(t, 95), bench::median(tool_s) / 2.0);
    fmt::print("| of which in rotate's calls (its own tool_ms) | {:.1f} ms | {:.1f} ms | | |\n", bench::median(l), bench::percentile(l, 95));
    fmt::print("| API calls (all runs) | {:.0f} | | | |\n", bench::median(calls_v));
    fmt::print("| `ttigctl rotate` processes per rotation | {:.0f} | | | |\n", bench::median(runs_v));
    fmt::print("\nrotated {} of {} gateways, each proven by its station (only the new keys valid)\n", done, o.runs);
    return done == o.runs ? 0 : 1;
}
