// One emulated Basics Station (v2.0.6) or TTIG, sans-io: its CUPS and TC (LNS) engines as state
// machines over a station home directory (station::home) and an injected clock. A driver performs
// the actions it asks for (open a connection, write bytes) and reports what happened; timers are
// the engine's deadlines, fired by tick(now). Rules and constants: basicstation-protocol §0.1,
// §1.2, §1.9–§1.10, §3.2–§3.7, §4.2–§4.3, §4.8 and §6.1 (observed on a real station);
// disconnected-catalogue §2.5–§2.7 for the TTIG's LED and buttons.
//
// Not emulated: firmware updates (TTS never sends one), client certificates for TC, uplink radio.
#pragma once

#include <ttig/proto/clock.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/station/file_set.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

enum class station_profile_kind { basicstation, ttig };

struct station_profile {
    station_profile_kind kind = station_profile_kind::basicstation;
    std::string station = "2.0.6(linux/std) 2024-05-01 12:00:00";  // update-info "station"
    std::string version_station = "2.0.6(linux/std)";               // LNS version "station"
    std::string model = "linux";
    std::string features = "rmtsh";
    // TLS limits the driver applies (a constrained device: TLS 1.2 only, small chains).
    bool tls12_only = true;
    int max_chain_depth = 0;          // 0 = no limit
    std::size_t max_chain_bytes = 0;  // 0 = no limit
    std::chrono::milliseconds uplink_interval{0};  // 0 = no uplinks
    // Real time a constrained device spends on an ECDSA handshake (mbedTLS verifying the server's
    // ECDSA signature on a small CPU): after a TLS handshake with an EC server key the driver
    // waits this long before writing its first bytes, so a server with a short header timeout
    // (TTS's LBS listener before 3.30.2: 5 s) closes the connection first. 0 = none. The TTIG's
    // real figure is unverified; no profile sets one by default.
    std::chrono::milliseconds ecdsa_handshake_delay{0};

    static station_profile basicstation();
    // TTIG: model "minihub", TLS 1.2, a small chain budget (mbedTLS with ~19 KB heap).
    static station_profile ttig();
};

// Timing constants (§3.7), overridable for tests of the rules themselves.
struct station_timing {
    std::chrono::seconds cups_ok{24 * 3600};     // CUPS_OKSYNC_INTV
    std::chrono::seconds cups_resync{60};        // CUPS_RESYNC_INTV, also after a failure
    std::chrono::seconds cups_timeout{60};       // CUPS_CONN_TIMEOUT
    std::chrono::seconds tc_timeout{60};         // TC_TIMEOUT
};

// What the engine asks the driver to do.
struct station_action {
    enum class kind {
        cups_request,  // connect to `uri` (http/https host:port), write `wire`, read the response
        ws_open,       // connect to `uri`, write `wire` (the upgrade), then report frames
        ws_send,       // write `wire` (a frame) on the open WebSocket `channel`
        ws_close,      // write `wire` (a close frame, may be empty) and close `channel`
        cancel,        // abandon `channel` (timeout; power cycle)
    };
    kind what = kind::cups_request;
    int channel = 0;       // 1 = CUPS, 2 = discovery, 3 = traffic
    std::string uri;       // scheme://host:port[/path]
    std::string host;      // for SNI and verification
    std::string wire;      // bytes to write
    // TLS material for https/wss: the trust (PEM or DER), and a client certificate + key for
    // mutual TLS (empty otherwise).
    std::optional<proto::bytes> trust, crt, key;
};

inline constexpr int channel_cups = 1;
inline constexpr int channel_discovery = 2;
inline constexpr int channel_traffic = 3;

// LED states of a TTIG (disconnected-catalogue §2.6); a basicstation reports them too.
enum class station_led {
    off,
    green_blink_slow,   // WiFi not connected / trying (network loss)
    green_blink_fast,   // WiFi up, connecting to CUPS/LNS
    green_solid,        // connected to an LNS
    green_red_alternating,  // factory reset in progress
    red_blink_fast,     // configuration mode (SETUP)
};
std::string_view to_string(station_led l) noexcept;

enum class cups_phase { idle, waiting, requesting };
enum class tc_phase { stopped, waiting, discovery, traffic_connecting, connected };
std::string_view to_string(cups_phase p) noexcept;
std::string_view to_string(tc_phase p) noexcept;

// A state transition or notable step, reported to the driver (JSON lines in `emulate station`).
struct station_event {
    proto::time_point at;
    std::string kind;    // "cups.request", "cups.ok", "cups.fail", "tc.discovery", "tc.connected", ...
    std::string detail;  // human text, never a secret
    station_led led = station_led::off;
};

class station_engine {
public:
    using event_sink = std::function<void(const station_event&)>;

    station_engine(station::home home, proto::eui64 eui, station_profile profile, const proto::clock& clock,
                   station_timing timing = {});

    // Power on: recover the file set (§3.2), schedule CUPS at once and start TC (§0.1).
    void start();
    // ---- driver reports ----
    // The CUPS exchange ended: `status` 0 = transport failure (refused, reset, TLS, timeout).
    void on_cups_response(int status, bool has_content_length, const proto::bytes& body, std::string failure = {});
    // A WebSocket upgrade on `channel` got `status` (101 = open; 0 = transport failure).
    void on_ws_open(int channel, int status, std::string failure = {});
    void on_ws_text(int channel, std::string text);
    void on_ws_ping(int channel, std::string payload);
    void on_ws_closed(int channel, std::string reason);
    // ---- buttons and environment (TTIG field guide §2.7) ----
    void press_reset();     // factory reset: erase tc.* (LNS credentials), keep cups.*, contact CUPS
    void press_setup();     // configuration mode: stop forwarding until setup is pressed again
    void power_cycle();     // reboot: connections dropped, counters reset, start()
    void set_network(bool up);  // network loss: every connection fails while down

    // ---- time ----
    std::optional<proto::time_point> next_deadline() const;
    void tick();  // fires every deadline <= clock.now()

    std::vector<station_action> take_actions();
    void set_event_sink(event_sink sink) { sink_ = std::move(sink); }

    // ---- state ----
    proto::eui64 eui() const noexcept { return eui_; }
    const station::home& home() const noexcept { return home_; }
    const station_profile& profile() const noexcept { return profile_; }
    cups_phase cups_state() const noexcept { return cups_; }
    tc_phase tc_state() const noexcept { return tc_; }
    station_led led() const noexcept;
    int cups_failures() const noexcept { return cups_failures_; }
    station::variant cups_set_in_use() const noexcept;
    int tc_retries() const noexcept { return tc_retry_; }
    bool config_mode() const noexcept { return config_mode_; }
    bool network_up() const noexcept { return network_; }
    std::optional<proto::time_point> next_cups_at() const noexcept { return cups_at_; }
    std::uint64_t cups_requests() const noexcept { return cups_requests_; }
    std::uint64_t tc_connects() const noexcept { return tc_connects_; }
    // The last router_config received (empty before).
    const std::string& router_config() const noexcept { return router_config_; }

private:
    using time_point = proto::time_point;
    void emit(std::string kind, std::string detail);
    void schedule_cups(std::chrono::seconds delay);
    void begin_cups();
    void cups_failed(bool rejected, std::string why);
    void cups_done(bool cups_changed, bool tc_changed);
    void apply_cups_body(const proto::bytes& body, bool& cups_changed, bool& tc_changed, std::string& why, bool& ok);
    void start_tc(std::chrono::seconds delay);
    void stop_tc();
    void tc_discovery();
    void tc_traffic();
    void tc_failed_discovery(std::string why, bool rejected);
    void tc_traffic_lost(std::string why, bool was_connected);
    void tc_handover_to_cups(std::string why);
    bool has_cups_uri() const;
    void send_uplink();

    station::home home_;
    proto::eui64 eui_;
    station_profile profile_;
    const proto::clock* clock_;
    station_timing timing_;
    event_sink sink_;
    std::vector<station_action> actions_;

    bool powered_ = false;
    bool network_ = true;
    bool config_mode_ = false;
    bool factory_reset_ = false;  // LED shows the reset until the next CUPS contact

    // CUPS
    cups_phase cups_ = cups_phase::idle;
    std::optional<time_point> cups_at_;       // next contact
    std::optional<time_point> cups_deadline_; // interaction timeout
    int cups_index_ = 0;                      // 0 regular, 1 bak, 2 boot
    int cups_failures_ = 0;
    bool cups_bak_done_this_process_ = false;
    bool last_cups_failed_ = false;
    std::uint64_t cups_requests_ = 0;

    // TC
    tc_phase tc_ = tc_phase::stopped;
    std::optional<time_point> tc_at_;
    std::optional<time_point> tc_deadline_;
    int tc_retry_ = 0;
    std::string traffic_uri_;
    std::string router_config_;
    std::optional<time_point> uplink_at_;
    std::uint64_t uplinks_ = 0;
    std::uint64_t tc_connects_ = 0;
};

}  // namespace ttig::emu
