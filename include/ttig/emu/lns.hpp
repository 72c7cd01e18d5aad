// The emulated LNS (the Gateway Server's Basics Station front end) of one cluster, sans-io:
// discovery on /router-info and traffic on /traffic/{id}, as The Things Stack v3.32.1 runs them
// (pkg/gatewayserver/io/semtechws; basicstation-protocol §4; disconnected-catalogue).
//
// The net driver owns the sockets. It calls discover() with the one discovery message, and for
// traffic accept_traffic() before the upgrade (an http_response refuses it), then on_text /
// on_pong / on_closed per session, and tick() regularly; each returns the actions to carry out
// (send a text frame, send a ping, drop the TCP connection without a close frame as gorilla's
// Conn.Close does). Time comes only from the state's clock, so tests drive pings, missed pongs
// and the periodic re-read of connected gateways on virtual time.
#pragma once

#include <ttig/emu/rate_limit.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/http.hpp>
#include <ttig/proto/lns.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace ttig::emu {

struct lns_options {
    std::string cluster = "local";                 // the cluster this Gateway Server belongs to
    bool require_registered_gateways = false;      // gs.require-registered-gateways
    bool allow_unauthenticated = false;            // gs.basic-station.allow-unauthenticated
    std::string fallback_frequency_plan;           // gs.basic-station.fallback-frequency-plan-id ("" = none)
    bool use_traffic_tls_address = false;          // gs.basic-station.use-traffic-tls-address
    std::chrono::nanoseconds ping_interval = std::chrono::seconds(30);   // ws-ping-interval, ±10 % per connection
    int missed_pong_threshold = 2;                 // missed-pong-threshold
    std::chrono::nanoseconds reread_interval = std::chrono::minutes(10);  // GS update-gateway interval, ±20 %
    std::chrono::nanoseconds time_sync_interval = std::chrono::seconds(200);  // periodic timesync, ±10 %
    std::uint64_t seed = 0;                        // jitter RNG seed (0 = random)
};

using session_id = std::uint64_t;
struct event;  // events.hpp

struct lns_action {
    enum class kind { send_text, ping, drop };
    kind what = kind::send_text;
    session_id session = 0;
    std::string text;    // send_text: the frame
    std::string reason;  // drop: the TTS error name (pkg/gatewayserver:new_connection, ...)
    friend bool operator==(const lns_action&, const lns_action&) = default;
};

// One connected traffic session, for the driver and for tests.
struct lns_session_info {
    session_id id = 0;
    std::string gateway_id;
    proto::eui64 eui;
    bool version_received = false;
    bool router_config_sent = false;
    std::uint64_t uplinks = 0;
    std::chrono::nanoseconds ping_period{0};
    int missed_pongs = 0;
    std::uint64_t pongs = 0;
};

class lns_server {
public:
    lns_server(tts_state& state, rate_limiter& limiter, lns_options options);
    ~lns_server();
    lns_server(const lns_server&) = delete;
    lns_server& operator=(const lns_server&) = delete;

    // /router-info: the reply TTS sends to one discovery message; the driver then drops the TCP
    // connection (no close frame). `request` is the upgrade request (Host, Authorization, TLS).
    std::string discover(const proto::http_request& request, std::string_view message);

    // /traffic/{id}: pre-upgrade checks (§4.4). A response refuses the upgrade; a session id
    // accepts it. A previous session of the same gateway is dropped (its action is queued and
    // returned by the next on_*/tick call of any session: take_pending()).
    std::variant<proto::http_response, session_id> accept_traffic(const proto::http_request& request, std::string_view id);
    // Session lifecycle and messages.
    std::vector<lns_action> on_text(session_id s, std::string_view text);
    std::vector<lns_action> on_pong(session_id s);
    void on_closed(session_id s);
    // Timers: pings and the missed-pong drop rule, periodic timesync, the periodic re-read of
    // connected gateways (drops a gateway whose settings changed, whose key lost LINK or was
    // deleted). Call it at least every second of (virtual) time.
    std::vector<lns_action> tick();
    // Actions caused outside a session's own events (replaced connections).
    std::vector<lns_action> take_pending();

    std::vector<lns_session_info> sessions() const;
    const lns_options& options() const noexcept { return options_; }

private:
    struct session;
    std::vector<lns_action> close_session_locked(session& s, std::string reason);
    proto::http_response traffic_error(const tts_error& e) const;
    event gs_event(const session& s, std::string name) const;

    tts_state& state_;
    rate_limiter& limiter_;
    lns_options options_;
    mutable std::mutex mu_;
    std::mt19937_64 rng_;
    session_id next_id_ = 1;
    std::map<session_id, std::unique_ptr<session>> sessions_;
    std::map<std::string, session_id> by_gateway_;
    std::vector<lns_action> pending_;
};

}  // namespace ttig::emu
