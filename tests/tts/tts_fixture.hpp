// The emulated The Things Stack in-process on 127.0.0.1:0 for the tts client's conformance tests.
// The emulator's io_context runs on a background thread (the client under test makes blocking
// calls on the test thread); the destructor stops that thread and joins it before the emulator
// is destroyed. Both sides share one manual clock, so rate-limit waits cost no real time.
#pragma once

#include <ttig/emu/tts_emulator.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/tts/client.hpp>

#include "support/run_cli.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ttig::test {

// A syntactically valid API key: NNSXS.<39 base32>.<52 base32> (seeds use only A-Z and 2-7).
inline std::string token(const std::string& id_seed, const std::string& secret_seed) {
    auto pad = [](std::string s, std::size_t n, char c) {
        s.resize(n, c);
        return s;
    };
    return "NNSXS." + pad(id_seed, 39, 'A') + "." + pad(secret_seed, 52, 'B');
}
inline std::string key_id(const std::string& tok) { return tok.substr(6, 39); }

class emu_run {
public:
    emu_run(proto::manual_clock& clock, emu::emulator_config cfg) {
        auto r = emu::tts_emulator::start(ioc_, clock, std::move(cfg));
        if (!r) FAIL("emulator did not start: " << r.err().what());
        emu_ = std::move(*r);
        config_ = nlohmann::json::parse(emu_->config_json().dump());
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~emu_run() { stop(); }
    emu_run(const emu_run&) = delete;
    emu_run& operator=(const emu_run&) = delete;

    void stop() {
        ioc_.stop();
        if (thread_.joinable()) thread_.join();
        if (emu_) {
            emu_->stop();
            emu_.reset();
        }
    }

    emu::tts_emulator& emu() { return *emu_; }
    const nlohmann::json& config() const { return config_; }
    std::string api_url() const { return config_["api_url"].get<std::string>(); }
    std::string admin_key() const { return config_["admin_api_key"].get<std::string>(); }
    const std::string& ca_pem() const { return emu_->ca_pem(); }
    // The HTTPS port of a cluster (by name).
    std::uint16_t cluster_port(const std::string& name) const {
        for (const auto& c : config_["clusters"])
            if (c["name"] == name) {
                const auto url = c["api_url"].get<std::string>();
                return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
            }
        return 0;
    }

private:
    boost::asio::io_context ioc_;  // destroyed after the emulator
    std::unique_ptr<emu::tts_emulator> emu_;
    nlohmann::json config_;
    std::thread thread_;
};

// Collects log lines (thread-safe: the net layer may log from its own thread).
struct log_capture {
    std::mutex mu;
    std::vector<std::string> lines;
    net::log_sink sink() {
        return [this](net::log_level, std::string_view m) {
            std::lock_guard lock(mu);
            lines.emplace_back(m);
        };
    }
    std::string all() {
        std::lock_guard lock(mu);
        std::string s;
        for (const auto& l : lines) s += l + "\n";
        return s;
    }
};

}  // namespace ttig::test
