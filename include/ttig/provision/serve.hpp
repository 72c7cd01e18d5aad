// `ttigctl serve`: a local CUPS server (HTTPS, with its own CA) and LNS (wss, optionally ws) for
// Basics Station gateways on the desk or the LAN. It shows what each station says and decides,
// per station, what the station is told:
//
//   capture   CUPS answers with tcUri = this server's LNS and its CA as tc.trust (no key); the
//             LNS answers discovery, sends router_config after `version`, records uplinks, pings.
//   handover  CUPS answers with a new cupsUri + CUPS credentials (trust + "Authorization: <key>"),
//             e.g. The Things Stack's, and optionally LNS settings too: the station leaves for them.
//   relay     capture, and each station's traffic is relayed to a The Things Stack LNS with that
//             gateway's LNS key: discovery on its /router-info, /traffic with Authorization,
//             station → TTS upstream and TTS → station downstream messages forwarded as they are.
//
// Reach (said plainly in --help and the docs): generic Basics Station gateways after the user
// edits `cups.uri` or `tc.uri`; a TTIG only through a TTS deployment that allows CUPS URI updates
// and a publicly trusted certificate on `serve`; its factory CUPS cannot be bypassed.
//
// Wire formats come from proto (cups.hpp: update-info request as TTS reads it, response in the
// station's dialect; blob.hpp: credential blobs and their CRCs; lns.hpp, router_config.hpp).
// Everything runs on the io_context given to start() (net::server for the listeners,
// net::ws_client for relays); time comes from the injected proto::clock, and tick() drives pings,
// so tests advance a manual_clock instead of sleeping. Keys never appear in events or errors
// (tts::redact_key).
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/proto/eui.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace ttig::provision {

// ---- errors ------------------------------------------------------------------------------------

// Error domain "serve" (docs/errors.md).
enum class serve_errc {
    bad_bind = 1,        // the bind address is not one IP address of this machine (wildcards refused)
    bad_policy,          // a policy is unknown, or lacks what it needs (handover: CUPS URI, trust, key; relay: LNS URI, key)
    bad_target,          // a hand-over or relay URI / trust that a station or the LNS could not use
    state_dir,           // the state directory (CA, server certificate) cannot be created, read or written
    bad_settings_file,   // the --handover-file is unreadable, not JSON, or a value in it is wrong
};
const proto::table_category& serve_category() noexcept;
// Every category serve defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> serve_categories() noexcept;
inline std::error_code make_error_code(serve_errc e) noexcept { return {static_cast<int>(e), serve_category()}; }

}  // namespace ttig::provision

template <>
struct std::is_error_code_enum<ttig::provision::serve_errc> : std::true_type {};

namespace ttig::provision {

// ---- policies ----------------------------------------------------------------------------------

enum class serve_policy { capture, handover, relay };
std::string_view to_string(serve_policy p) noexcept;
std::optional<serve_policy> parse_serve_policy(std::string_view text) noexcept;

// What a hand-over gives the station: a CUPS set (always) and an LNS set (optional).
struct handover_settings {
    std::string cups_uri;     // https://host:port (the station's rule: port, no path)
    proto::bytes cups_trust;  // DER CA certificate that signs cups_uri's server certificate
    std::string cups_key;     // API key with RIGHT_GATEWAY_INFO, _SETTINGS_BASIC, _READ_SECRETS (a secret)
    std::string tc_uri;       // optional: wss://host:port (or ws://); empty = LNS settings untouched
    proto::bytes tc_trust;    // with a wss tc_uri: DER CA of the LNS
    std::string tc_key;       // with a wss tc_uri: API key with RIGHT_GATEWAY_LINK (a secret)
};

// Where relayed traffic goes: a The Things Stack LNS and the gateway's LNS key.
struct relay_settings {
    std::string lns_uri;  // wss://host:port (ws:// for tests and local stacks)
    std::string lns_key;  // API key with RIGHT_GATEWAY_LINK (a secret)
};

struct station_settings {
    serve_policy policy = serve_policy::capture;
    handover_settings handover;
    relay_settings relay;
};

// A partial station_settings (the --handover-file's top level or one of its station entries, or
// the command-line flags); apply_to() overwrites only what is set.
struct settings_patch {
    std::optional<serve_policy> policy;
    std::optional<std::string> cups_uri;
    std::optional<proto::bytes> cups_trust;
    std::optional<std::string> cups_key;
    std::optional<std::string> tc_uri;
    std::optional<proto::bytes> tc_trust;
    std::optional<std::string> tc_key;
    std::optional<std::string> relay_lns;
    std::optional<std::string> relay_key;
    void apply_to(station_settings& s) const;
};

// The --handover-file (docs/serve.md):
//   {"cups_uri": "https://eu1.cloud.thethings.network:443", "cups_trust": "isrg-root-x1.pem",
//    "cups_key": "NNSXS...", "tc_uri": "...", "tc_trust": "...", "tc_key": "...",
//    "relay_lns": "wss://eu1.cloud.thethings.network:8887", "relay_key": "NNSXS...",
//    "policy": "handover",
//    "stations": {"58A0CBFFFE800123": {"policy": "relay", "relay_key": "NNSXS..."}}}
// Every key is optional. A trust is a file path (relative to the settings file) or inline PEM.
// Station keys are EUIs in any form proto::parse_eui reads. Keys ("Authorization: " and "Bearer "
// prefixes are removed) never appear in errors. Errors: serve.bad_settings_file naming the JSON
// path; serve.bad_policy for an unknown policy.
struct settings_file {
    settings_patch top;
    std::map<proto::eui64, settings_patch> stations;
};
proto::result<settings_file> parse_settings_file(std::string_view json_text, const std::filesystem::path& base_dir);
proto::result<settings_file> load_settings_file(const std::filesystem::path& path);

// Checks what a policy needs (serve.bad_policy when missing, serve.bad_target when unusable): a
// hand-over needs an https cups_uri the station accepts, a DER trust and a key; its optional
// tc_uri must be ws/wss (wss: trust and key too). A relay needs a ws/wss lns_uri and a key.
// `who` names the station (or "default") in the message.
proto::result<void> validate(const station_settings& s, std::string_view who);

// ---- the server --------------------------------------------------------------------------------

struct serve_options {
    std::string bind;                  // one IP address (required; 0.0.0.0 and :: are refused)
    std::uint16_t cups_port = 6038;    // HTTPS CUPS; 0 = any free port
    std::uint16_t lns_port = 6039;     // wss LNS; 0 = any free port
    std::optional<std::uint16_t> ws_port;  // plain ws LNS (no TLS, no keys); nullopt = none
    std::filesystem::path state_dir;   // CA and server certificate (made on first use, keys 0600)
    std::vector<std::string> names;    // extra host names / addresses for the server certificate
    std::string frequency_plan = "EU_863_870_TTN";  // router_config for captured stations
    station_settings defaults;
    std::map<proto::eui64, station_settings> stations;  // per-EUI overrides (complete settings)
    std::chrono::seconds ping_interval{30};              // WebSocket pings to captured stations
    net::client_config relay_client;   // TLS trust and --resolve for relay connections
    std::chrono::milliseconds relay_timeout{15000};      // discovery and traffic connect, each
};

// The CA and server certificate in the state directory:
//   ca.pem (public: what stations put in cups.trust / tc.trust), ca.key (0600),
//   server.pem, server.key (0600), server.names (the SANs server.pem was made for).
// The CA is made on first use and kept; the server certificate is re-made when the names change,
// the CA changed, or it expires within 30 days. Validity is judged on the wall clock, as the TLS
// peers that check it do (not on the injected clock).
struct serve_pki {
    std::filesystem::path ca_file;
    std::string ca_pem;
    proto::bytes ca_der;
    std::string server_cert_pem, server_key_pem;
    std::vector<std::string> names;  // SANs of the server certificate
    bool ca_created = false;         // this call made the CA
    bool server_created = false;     // this call made the server certificate
};
proto::result<serve_pki> prepare_pki(const std::filesystem::path& state_dir, std::vector<std::string> names);

// ---- events ------------------------------------------------------------------------------------

enum class serve_event_kind {
    cups_request,   // data: cupsUri, tcUri, cupsCredCrc, tcCredCrc, sigCrc (keys[]), station, model, package, auth, tls
    cups_answer,    // data: policy, cupsUri, tcUri (what was sent, null = unchanged), cupsCred/tcCred {bytes, crc} or null, bytes, dialect
    cups_refused,   // data: status, reason (an undecodable request)
    lns_discovery,  // data: uri (or error), tls, auth
    lns_connect,    // data: path, tls, auth, policy
    version,        // data: station, firmware, package, model, protocol, features, production
    router_config,  // data: source (serve|relay), region, hwspec, freq_range, bytes, MuxTime
    uplink,         // data: msgtype (jreq|updf|propdf|dntxed), its fields, DR, Freq, rssi, snr
    downlink,       // data: msgtype (dnmsg|timesync|...), from the relayed LNS
    timesync,       // data: txtime, answered
    ping,           // data: n
    pong,           // data: rtt_ms
    relay,          // data: state (discovery|connected|failed|closed), lns, uri, reason
    disconnect,     // data: code, reason, duration_s
    protocol_error, // data: reason (a traffic message TTS would close on; serve keeps the session)
};
std::string_view to_string(serve_event_kind k) noexcept;

struct serve_event {
    proto::time_point time;
    serve_event_kind kind = serve_event_kind::cups_request;
    std::optional<proto::eui64> station;  // unknown for undecodable requests
    std::string remote;                   // peer "address:port"
    nlohmann::ordered_json data = nlohmann::ordered_json::object();
};

// {"time":"2025-01-01T00:00:00.000Z","event":"cups_request","eui":"58A0CBFFFE800123",
//  "remote":"127.0.0.1:5555", ...data} (the EUI is "eui", as in `emulate station`'s lines; "station"
// is the station's own version string where a message carries one).
nlohmann::ordered_json to_json(const serve_event& e);
// One human line: "12:00:00 58A0CBFFFE800123 cups request cupsUri=… cupsCredCrc=…".
std::string to_text(const serve_event& e);
// RFC 3339 UTC with milliseconds.
std::string rfc3339_ms(proto::time_point t);

// Per-station view for the terminal status lines.
struct station_status {
    proto::eui64 eui;
    serve_policy policy = serve_policy::capture;
    // "cups", "handed-over", "discovery", "connected", "relaying", "disconnected"; while a traffic
    // connection is open, CUPS contacts do not change it.
    std::string phase;
    bool connected = false;  // a traffic WebSocket to serve is open
    std::string model, station;
    std::uint64_t cups_requests = 0, uplinks = 0, downlinks = 0, pings = 0, pongs = 0;
    proto::time_point first_seen{}, last_seen{};
    std::string last;  // the last event, as to_text() without time and EUI
};

struct serve_endpoints {
    std::string cups_uri;  // https://bind:port — a station's cups.uri
    std::string lns_uri;   // wss://bind:port — a station's tc.uri
    std::string ws_uri;    // ws://bind:port, empty without ws_port
    std::filesystem::path ca_file;
    std::uint16_t cups_port = 0, lns_port = 0, ws_port = 0;
};

class serve_server {
public:
    using event_sink = std::function<void(const serve_event&)>;

    // Validates the options (serve.bad_bind, serve.bad_policy, serve.bad_target,
    // tc.unknown_frequency_plan), prepares the PKI (serve.state_dir, pki.*), starts the listeners
    // (net.listen_failed). The sink is called on io threads, one event at a time.
    static proto::result<std::unique_ptr<serve_server>> start(boost::asio::io_context& ioc, const proto::clock& clock, serve_options options,
                                                              event_sink sink);
    ~serve_server();  // stop()
    serve_server(const serve_server&) = delete;
    serve_server& operator=(const serve_server&) = delete;

    // Pings every connected station whose ping is due on the clock. Call it periodically (the CLI:
    // every second), or after advancing a manual clock.
    void tick();
    // Closes the listeners, every station session and every relay. Idempotent.
    void stop();

    const serve_endpoints& endpoints() const noexcept;
    const serve_pki& pki() const noexcept;
    std::vector<station_status> stations() const;
    // The settings that apply to a station (its override or the defaults).
    const station_settings& settings_for(proto::eui64 eui) const;

    struct core;

private:
    explicit serve_server(std::shared_ptr<core> c);
    std::shared_ptr<core> core_;
};

// serve.bad_bind for what serve refuses to bind: empty, not an IP literal (names are refused too),
// or a wildcard (0.0.0.0, ::).
proto::result<void> check_bind_address(std::string_view address);

}  // namespace ttig::provision
