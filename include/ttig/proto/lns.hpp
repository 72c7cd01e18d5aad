// LNS messages (basicstation-protocol §4): discovery (/router-info), upstream (station -> LNS)
// and downstream (LNS -> station) traffic. router_config lives in router_config.hpp.
//
// Each message has one writer and one reader, each in the dialect of the side that really writes
// or reads it:
//  - station writes: router_info_request, version, jreq, updf, propdf, dntxed, timesync request
//    (BS uj.c/s2e.c: fixed key order, compact, RefTime/rxtime/txtime "%.6f", snr "%g", EUIs
//    "HH-HH-..", hex upper case);
//  - TTS reads those (Go encoding/json: unknown keys ignored, keys matched case-insensitively so
//    "FCnt" fills TTS's "Fcnt", null leaves a field at its zero value, a wrong JSON type fails);
//  - TTS writes: router_info_response, dnmsg, timesync replies, router_config (Go key order,
//    floats in Go's shortest form, strings with Go's escaping);
//  - the station reads those (BS s2e.c/tc.c: exact keys, its type and range rules).
//
// Decoders never throw. Every error names the field: "[tc.bad_field_type] ...: upinfo.rssi: ...".
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/router_config.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ttig::proto {

// ---- number and string text --------------------------------------------------------------------

// A float64 as Go's encoding/json writes it: shortest round-trip digits, plain notation for
// 1e-6 <= |v| < 1e21 (1735689600.123456, 1735689600, 0.5), exponent otherwise (1e+21, 1e-7).
// (nlohmann's dump differs for integral values, "1735689600.0", and from 1e16 on.)
std::string go_float_text(double v);
// The station's time format (uj_encTime): printf "%.6f".
std::string station_time_text(double v);
// TTS's seconds: float64(UnixNano)/1e9 (dnmsg and timesync MuxTime).
double tts_unix_seconds(std::int64_t unix_nanoseconds) noexcept;

// ---- discovery (§4.3) --------------------------------------------------------------------------

// TTS's error strings for a discovery request it cannot use.
inline constexpr std::string_view tts_discovery_parse_error = "Failed to parse discover query message";
inline constexpr std::string_view tts_discovery_empty_eui = "Empty router EUI provided";

struct router_info_request {
    eui64 eui;
    std::string prefix;  // "router" in "router-58a0:..." (TTS accepts and echoes it); empty normally
    friend bool operator==(const router_info_request&, const router_info_request&) = default;
};

// {"router":"<station ID6>"} as the station sends it ("<prefix>-" in front when prefix is set).
std::string encode_router_info_request(const router_info_request& r);
// As TTS reads it (Go encoding/json + TTS ID6 parser). The error detail is TTS's reply text:
// tc.bad_json / tc.not_object / tc.bad_router -> tts_discovery_parse_error,
// tc.empty_router (absent, zero, or a JSON null document) -> tts_discovery_empty_eui.
result<router_info_request> decode_router_info_request(std::string_view text);

struct router_info_response {
    std::string router;  // TTS: request EUI in TTS ID6 with the request's prefix; "::0" on error
    std::string muxs;    // TTS: "muxs-::0"; "::0" on error
    std::string uri;     // success: wss://host:port/traffic/eui-<HEX>
    std::string error;   // error reply: non-empty
    friend bool operator==(const router_info_response&, const router_info_response&) = default;
};

// TTS's success reply: router re-encoded by tts_id6 with the request prefix, muxs "muxs-::0".
router_info_response tts_router_info_response(const router_info_request& request, std::string uri);
// TTS's error reply: {"router":"::0","muxs":"::0","error":message}.
router_info_response tts_router_info_error(std::string message);
// TTS's bytes: router, muxs, then uri and error when non-empty (Go omitempty), Go string escaping.
std::string encode_router_info_response(const router_info_response& r);
// As the station reads it (BS tc.c tc_info_request): router/muxs/uri/error must be strings,
// unknown keys ignored; uri must be ws:// or wss://, shorter than 128 bytes, with explicit port
// and path (tc.bad_uri); then `error` present or `uri` missing -> tc.infos_rejected with the
// server's error string as the detail ("no uri" when uri is missing).
result<router_info_response> decode_router_info_response(std::string_view text);

// The traffic URI TTS builds (semtechws ws.go): <scheme>://<host:port>/traffic/eui-<HEX>, with
// host:port from the Host header (Go net.SplitHostPort/JoinHostPort) and port 443 for wss, 80
// otherwise when the header has none.
std::string tts_traffic_uri(std::string_view scheme, std::string_view host_header, eui64 eui);

// ---- upstream (§4.5) ---------------------------------------------------------------------------

struct up_info {
    std::int64_t rctx = 0;     // TTS never reads it (its JSON tag is "rtcx")
    std::int64_t xtime = 0;
    std::int64_t gpstime = 0;
    std::int64_t fts = -1;     // TTS ignores it
    double rssi = 0;           // station: integer dBm; TTS: float32
    double snr = 0;            // station "%g"
    double rxtime = 0;         // station "%.6f"
    friend bool operator==(const up_info&, const up_info&) = default;
};

// RefTime, DR, Freq, upinfo: appended by the station after the frame fields.
struct radio_metadata {
    double ref_time = 0;  // "RefTime", "%.6f"; 0 before any MuxTime
    std::int64_t dr = 0;
    std::uint64_t freq = 0;
    up_info upinfo;
    friend bool operator==(const radio_metadata&, const radio_metadata&) = default;
};

struct version_msg {
    std::string station;                  // "2.0.6(rpi/std)" (no build date here)
    std::optional<std::string> firmware;  // version.txt; null when missing
    std::optional<std::string> package;   // version.txt; null when missing
    std::string model;                    // "rpi", "linux", "minihub"
    std::int64_t protocol = 2;
    std::string features;                 // space separated, e.g. "rmtsh prod gps"
    friend bool operator==(const version_msg&, const version_msg&) = default;
};
// TTS IsProduction: "prod" is a substring of features (suppresses nocca/nodc/nodwell).
bool is_production(const version_msg& v) noexcept;

struct jreq_msg {
    std::uint64_t mhdr = 0;    // "MHdr"
    eui64 join_eui;            // "JoinEui", HH-HH-.. upper case
    eui64 dev_eui;             // "DevEui"
    std::uint64_t dev_nonce = 0;
    std::int32_t mic = 0;      // signed int32 of the little-endian MIC bytes
    radio_metadata meta;
    friend bool operator==(const jreq_msg&, const jreq_msg&) = default;
};

struct updf_msg {
    std::uint64_t mhdr = 0;
    std::int32_t dev_addr = 0;   // signed int32
    std::uint64_t fctrl = 0;
    std::uint64_t fcnt = 0;      // "FCnt" (TTS's tag is "Fcnt", matched case-insensitively)
    std::string fopts;           // hex, as sent (station: upper case)
    std::int64_t fport = -1;     // -1: no port
    std::string frm_payload;     // hex, as sent (station: upper case)
    std::int32_t mic = 0;
    radio_metadata meta;
    friend bool operator==(const updf_msg&, const updf_msg&) = default;
};

struct propdf_msg {
    std::string frm_payload;  // the whole PHY payload, hex
    radio_metadata meta;
    friend bool operator==(const propdf_msg&, const propdf_msg&) = default;
};

struct dntxed_msg {
    std::int64_t seqno = 0;  // same value as diid (older servers)
    std::int64_t diid = 0;
    std::int64_t dr = 0;
    std::uint64_t freq = 0;
    eui64 dev_eui;
    std::int64_t rctx = 0;
    std::int64_t xtime = 0;
    double txtime = 0;       // seconds, "%.6f"
    std::int64_t gpstime = 0;
    friend bool operator==(const dntxed_msg&, const dntxed_msg&) = default;
};

struct timesync_request {
    double txtime = 0;  // station µs clock; the station writes an integer, TTS reads a float64
    friend bool operator==(const timesync_request&, const timesync_request&) = default;
};

// A message of a type the reader does not handle (rmtsh, rejoin, dnsched, runcmd, ...). Both
// TTS and the station skip these without closing the connection.
struct ignored_message {
    std::string msgtype;
    friend bool operator==(const ignored_message&, const ignored_message&) = default;
};

using upstream_message =
    std::variant<version_msg, jreq_msg, updf_msg, propdf_msg, dntxed_msg, timesync_request, ignored_message>;

// The station's bytes for each message (ignored_message -> {"msgtype":"<type>"}).
std::string encode_upstream(const version_msg& m);
std::string encode_upstream(const jreq_msg& m);
std::string encode_upstream(const updf_msg& m);
std::string encode_upstream(const propdf_msg& m);
std::string encode_upstream(const dntxed_msg& m);
std::string encode_upstream(const timesync_request& m);
std::string encode_upstream(const ignored_message& m);
std::string encode_upstream(const upstream_message& m);

// As TTS reads a traffic message. Errors: tc.bad_json (not JSON), tc.not_object, tc.missing_msgtype
// (absent or null), tc.bad_field_type / tc.bad_value naming the field (TTS closes the connection
// on these). Unknown types decode to ignored_message.
result<upstream_message> decode_upstream(std::string_view text);

// ---- downstream (§4.7) -------------------------------------------------------------------------

// dnmsg. TTS writes class A with RxDelay/RX1DR/RX1Freq/xtime and class B with DR/Freq/gpstime;
// the optional fields are written when set, in that order, after the common fields.
struct dnmsg {
    eui64 dev_eui{1};             // "DevEui"; TTS: constant 00-00-00-00-00-00-00-01
    int dc = 0;                   // "dC": 0 class A, 1 class B, 2 class C
    std::int64_t diid = 0;        // downlink token ("seqno" accepted when reading)
    bytes pdu;                    // lower-case hex on the wire, at most 255 bytes
    int priority = 25;
    std::int64_t rctx = 0;
    double mux_time = 0;          // "MuxTime"
    std::optional<int> rx_delay;  // "RxDelay" (class A: 1)
    std::optional<int> rx1_dr;    // "RX1DR"
    std::optional<std::uint32_t> rx1_freq;  // "RX1Freq"
    std::optional<std::int64_t> xtime;
    std::optional<int> dr;        // "DR" (class B)
    std::optional<std::uint32_t> freq;      // "Freq" (class B)
    std::optional<std::uint64_t> gpstime;   // class B
    std::optional<int> rx2_dr;    // "RX2DR" (never sent by TTS)
    std::optional<std::uint32_t> rx2_freq;  // "RX2Freq" (never sent by TTS)
    friend bool operator==(const dnmsg&, const dnmsg&) = default;
};

// TTS's class A xtime: the session (top 16 bits) of the last upstream xtime, the concentrator
// time in µs (48 bits), minus 1 s because the station adds RxDelay.
std::int64_t tts_class_a_xtime(std::int64_t last_upstream_xtime, std::int64_t concentrator_us) noexcept;

// timesync from TTS. Written as msgtype, txtime (if != 0), xtime (if != 0), gpstime, MuxTime
// (if != 0): Go omitempty.
struct timesync_response {
    double txtime = 0;
    std::int64_t xtime = 0;
    std::int64_t gpstime = 0;
    double mux_time = 0;
    friend bool operator==(const timesync_response&, const timesync_response&) = default;
};
// Reply to a station request: echoes txtime, GPS µs now, MuxTime now.
timesync_response tts_timesync_reply(const timesync_request& request, std::int64_t gpstime_us, double mux_time);
// Periodic time transfer: {"msgtype":"timesync","gpstime":0,"MuxTime":...}, or with xtime and
// gpstime when TTS knows the session and the GPS/concentrator times.
timesync_response tts_timesync_transfer(double mux_time, std::int64_t xtime = 0, std::int64_t gpstime = 0);

using downstream_message = std::variant<router_config, dnmsg, timesync_response, ignored_message>;

// TTS's bytes.
std::string encode_downstream(const dnmsg& m);
std::string encode_downstream(const timesync_response& m);
std::string encode_downstream(const ignored_message& m);
std::string encode_downstream(const router_config& m);  // = encode_router_config
std::string encode_downstream(const downstream_message& m);

// As the station reads a traffic message (BS s2e_onMsg). dnmsg: DevEui (or DevEUI), dC (0..2),
// diid (or seqno), pdu (hex, <= 255 bytes) are mandatory (tc.missing_field); RX1DR/DR and
// RX1Freq/Freq both present or both absent, likewise RX2DR and RX2Freq; RxDelay 0..15, priority
// 0..255, DR 0..15. With `active` (the router_config in force) a dnmsg is also refused when its
// region is unrecognised (tc.unknown_region), a frequency is outside freq_range or a DR is
// undefined (tc.bad_value). Unknown types decode to ignored_message.
result<downstream_message> decode_downstream(std::string_view text, const router_config* active = nullptr);

// ---- shared by the LNS codecs (lns.cpp, router_config.cpp); not a stable API -------------------
namespace detail {

// JSON string literals (with the quotes).
std::string go_json_string(std::string_view s);       // Go encoding/json (HTML-safe, \ufffd)
std::string station_json_string(std::string_view s);  // BS uj_encStr
std::string go_float32_text(float v);

// Station (BS uj.c) value readers over a parsed value; `field` names it in the error.
result<std::int64_t> station_int(const nlohmann::ordered_json& v, std::string_view field);
result<std::int64_t> station_int_range(const nlohmann::ordered_json& v, std::string_view field, std::int64_t lo, std::int64_t hi);
result<std::uint64_t> station_uint(const nlohmann::ordered_json& v, std::string_view field);
result<double> station_num(const nlohmann::ordered_json& v, std::string_view field);
result<bool> station_bool(const nlohmann::ordered_json& v, std::string_view field);
result<std::string> station_str(const nlohmann::ordered_json& v, std::string_view field);

}  // namespace detail

}  // namespace ttig::proto
