// `ttigctl emulate tts`: the emulated The Things Stack on the network. One Identity Server and
// one or more clusters; each cluster has an HTTPS listener for its REST API and CUPS
// (/api/v3/..., /update-info) and two LNS listeners (wss and ws: /router-info, /traffic/{id}).
// The emulator makes its own CA and a server certificate for localhost, 127.0.0.1, ::1 and every
// cluster host name, so real cluster names work through a --resolve host map. A TTIG's factory
// CUPS (rjs.sm.tc) listens on one more HTTPS port and redirects TTIGs claimed here.
#pragma once

#include <ttig/emu/cups.hpp>
#include <ttig/emu/factory_cups.hpp>
#include <ttig/emu/lns.hpp>
#include <ttig/emu/scenario.hpp>
#include <ttig/emu/tts_api.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/error.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace ttig::emu {

struct emulator_config {
    std::string listen_host = "127.0.0.1";  // every listener binds here
    std::uint16_t listen_port = 0;          // the home cluster's HTTPS port (0 = ephemeral)
    std::string state_path = ":memory:";    // SQLite state (a file survives restarts)
    std::optional<std::string> scenario_path;
    std::filesystem::path ca_dir;           // where ca.pem is written (required)
    cups_options cups;
    lns_options lns;                        // template for every cluster's LNS (cluster name is set per cluster)
    bool real_time_ticks = true;            // drive LNS timers from a background ticker (off in virtual-time tests)
    // How long a connection may take to send its request head (TTS's LBS listener: 5 s before
    // 3.30.2, 30 s since; real time). 0 = the server default (120 s, also the keep-alive idle time).
    std::chrono::milliseconds header_timeout{0};
    // The TTIG factory CUPS (factory_cups.hpp) listens here; 0 = an ephemeral port.
    std::uint16_t factory_cups_port = 0;
    std::function<void(std::string_view)> log;  // one line per event; never receives secrets
};

class tts_emulator {
public:
    // Opens the state, applies the scenario, bootstraps the admin, starts every listener.
    // Errors: emu.bad_scenario, emu.state_failed, net.listen_failed, pki.*.
    static proto::result<std::unique_ptr<tts_emulator>> start(boost::asio::io_context& ioc, const proto::clock& clock,
                                                              emulator_config config);
    ~tts_emulator();
    tts_emulator(const tts_emulator&) = delete;
    tts_emulator& operator=(const tts_emulator&) = delete;

    // {"api_url","cups_url","lns_url","factory_cups_url","factory_cups_resolve","ca_file",
    //  "admin_api_key","admin_user_id","clusters":[...]}
    // (what --config-out writes; holds the admin key, so the file is written 0600).
    nlohmann::ordered_json config_json() const;

    // Runs every cluster's LNS timers once (pings, missed pongs, re-reads, timesync) and carries
    // out the actions. Called by the ticker, or by tests after advancing a manual clock.
    void tick();
    // Closes every listener and connection. Idempotent.
    void stop();

    // The CUPS fault of cups_options::corrupt_tc_cred, on every cluster, at run time.
    void set_cups_corrupt_tc_cred(bool on);

    tts_state& state() noexcept;
    tts_api& api() noexcept;
    lns_server& lns(std::string_view cluster = {});
    const std::string& ca_pem() const noexcept;

private:
    struct impl;
    explicit tts_emulator(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

}  // namespace ttig::emu
