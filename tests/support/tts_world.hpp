// A world for end-to-end tests: the emulated The Things Stack (in this process, on loopback, on a
// manual clock) and emulated stations, with helpers to set a gateway up as a TTIG claim leaves it
// and to let virtual time pass. Only I/O is real; no test waits for a timer.
#pragma once

#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/proto/eui.hpp>

#include "support/run_cli.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

namespace ttig::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct world_options {
    std::string scenario;  // JSON, or empty
    std::chrono::milliseconds header_timeout{0};
};

struct tts_world {
    temp_dir dir;
    boost::asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1767225600}}};  // 2026-01-01
    std::unique_ptr<emu::tts_emulator> tts;
    nlohmann::ordered_json cfg;
    std::unique_ptr<net::http_client> http;
    std::unique_ptr<emu::station_fleet> fleet;
    std::thread io;
    std::string gw = "office-ttig";
    std::string eui = "58A0CBFFFE800123";
    std::string cups_key, cups_key_id, lns_key, lns_key_id;
    emu::station_profile profile = emu::station_profile::ttig();

    explicit tts_world(const world_options& wo = {}) {
        emu::emulator_config c;
        c.ca_dir = dir.path / "tts";
        c.real_time_ticks = false;
        c.header_timeout = wo.header_timeout;
        if (!wo.scenario.empty()) {
            std::ofstream(dir.path / "scenario.json") << wo.scenario;
            c.scenario_path = (dir.path / "scenario.json").string();
        }
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        tts = std::move(*e);
        cfg = tts->config_json();
        net::client_config cc;
        cc.tls.ca_pem = {tts->ca_pem()};
        cc.tls.use_system_store = false;
        http = std::make_unique<net::http_client>(cc);
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
        profile.uplink_interval = 20s;
    }
    ~tts_world() {
        fleet.reset();
        if (tts) tts->stop();
        ioc.stop();
        if (io.joinable()) io.join();
    }

    std::string admin() const { return cfg["admin_api_key"].get<std::string>(); }
    std::string lns_address() const { return cfg["lns_url"].get<std::string>().substr(6); }  // 127.0.0.1:PORT

    nlohmann::json rest(std::string method, std::string target, std::string body = {}, int expect = 200) {
        proto::http_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + admin());
        if (!r.body.empty()) r.headers.set("Content-Type", "application/json");
        auto res = http->request(std::move(r), net::request_options{cfg["api_url"].get<std::string>()});
        REQUIRE(res);
        REQUIRE_MESSAGE(res->status == expect, res->body);
        return nlohmann::json::parse(res->body, nullptr, false);
    }
    std::pair<std::string, std::string> create_key(const std::string& name, const std::string& rights) {
        auto j = rest("POST", "/api/v3/gateways/" + gw + "/api-keys", R"({"name":")" + name + R"(","rights":)" + rights + "}");
        return {j["key"].get<std::string>(), j["id"].get<std::string>()};
    }
    void put(const std::string& gateway_json, const std::string& paths) {
        rest("PUT", "/api/v3/gateways/" + gw, R"({"gateway":)" + gateway_json + R"(,"field_mask":{"paths":)" + paths + "}}");
    }
    // A gateway as a TTIG claim leaves it: auth required, GS address, plan, CUPS key, LNS key;
    // then `age` passes (a gateway that breaks was usually set up long before).
    void register_claimed(bool with_lns = true, std::chrono::hours age = 720h, const std::string& fp = R"(["EU_863_870_TTN"])") {
        rest("POST", "/api/v3/users/admin/gateways",
             R"({"gateway":{"ids":{"gateway_id":")" + gw + R"(","eui":")" + eui + R"("},"frequency_plan_ids":)" + fp +
                 R"(,"require_authenticated_connection":true,"gateway_server_address":")" + lns_address() + R"("}})");
        std::tie(cups_key, cups_key_id) = create_key("cups", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"])");
        std::tie(lns_key, lns_key_id) = create_key("lns", R"(["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"])");
        if (with_lns) put(R"({"lbs_lns_secret":{"value":")" + emu::base64_encode(lns_key) + R"("}})", R"(["lbs_lns_secret"])");
        // The claiming upstream knows the TTIG as claimed here.
        REQUIRE(tts->state().put_claimable({proto::parse_eui(eui)->eui, "WIFIPASS", false, emu::claimable_gateway::upstream_state::claimed_here, {}}));
        clock.advance(age);
    }

    // Emulated stations with the CUPS set a claimed TTIG holds.
    fs::path home(std::size_t i = 0) const { return dir.path / ("station-" + std::to_string(i)); }
    void start_stations(std::size_t n = 1) {
        emu::fleet_options fo;
        for (std::size_t i = 0; i < n; ++i) {
            fs::create_directories(home(i));
            std::ofstream(home(i) / "cups.uri") << cfg["cups_url"].get<std::string>();
            std::ofstream(home(i) / "cups.trust") << tts->ca_pem();
            std::ofstream(home(i) / "cups.key") << "Authorization: Bearer " << cups_key << "\r\n";
            fo.homes.push_back(home(i));
            fo.euis.push_back(proto::parse_eui(eui)->eui);
        }
        fo.profile = profile;
        fleet = std::make_unique<emu::station_fleet>(ioc, clock, std::move(fo));
        fleet->start();
    }
    template <class P>
    bool wait_for(P pred, std::chrono::seconds limit = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred(fleet->summary())) return true;
            std::this_thread::sleep_for(20ms);  // waits for real I/O, never for a timer
        }
        return false;
    }
    static bool connected(const emu::fleet_summary& s) { return s.leds.count("green_solid") && s.leds.at("green_solid") >= 1; }
    // Virtual time in steps; every exchange in progress finishes before the next step.
    void advance(std::chrono::seconds total, std::chrono::seconds step = 5s) {
        for (auto t = 0s; t < total; t += step) {
            if (fleet) REQUIRE(wait_for([](const emu::fleet_summary& s) { return s.in_flight == 0; }, 30s));
            clock.advance(step);
            tts->tick();
            if (fleet) fleet->wake();
            std::this_thread::sleep_for(2ms);
        }
        if (fleet) REQUIRE(wait_for([](const emu::fleet_summary& s) { return s.in_flight == 0; }, 30s));
    }
    // Runs a journaled ttigctl command (`args`, e.g. "rotate gw … --journal F") until it exits 0:
    // with --resume after a kill (exit 137) or a pending exit (13), a day of virtual time after each
    // pending exit. `first_env` goes to the first run only (a kill hook). Returns the number of
    // runs, or -1. Every run's exit code and output are appended to `log`.
    int resume_until_done(const std::string& args, const std::string& first_env, std::string& log, int max_runs = 12) {
        std::string env = first_env;
        bool resume = false;
        for (int runs = 1; runs <= max_runs; ++runs) {
            auto r = run_cli(args + (resume ? " --resume" : "") + " --json", env);
            log += fmt::format("run {} rc {}: {}\n{}\n", runs, r.rc, r.out.substr(0, 4000), r.err.substr(0, 2000));
            env.clear();
            resume = true;
            if (r.rc == 0) return runs;
            if (r.rc == 13) {
                advance(25h, 10min);
                continue;
            }
            if (r.rc == 137 || r.rc == -1) continue;  // killed: resume at once
            FAIL_CHECK("unexpected exit " << r.rc);
            return -1;
        }
        return -1;
    }

    std::string led() {
        for (const auto& [state, n] : fleet->summary().leds)
            if (n) return state;
        return "off";
    }

};

}  // namespace ttig::test
