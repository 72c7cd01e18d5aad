// The emulated CUPS server: POST /update-info as The Things Stack v3.32.1 answers it
// (pkg/basicstation/cups update_info.go; basicstation-protocol §1.4–§1.7), sans-io.
//
// Order of processing: rate limit (http:gcs:cups) -> decode the body as Go's json.Decoder does ->
// zero router -> gateway by EUI with server credentials -> Authorization ("Bearer " prepended
// unless present) with INFO + SETTINGS_BASIC + READ_SECRETS through the rights cache -> read the
// gateway -> branch A (CUPS URI redirect, behind allow_cups_uri_update) / B (CUPS key rotation
// through target_cups_key) / C (LNS URI + credentials) -> write the cups-* attributes -> 18-byte
// or longer binary answer in TTS's dialect. Errors are TTS's JSON bodies, tab-indented with a
// trailing newline (webhandlers.Error: the station sends no Accept header).
#pragma once

#include <ttig/emu/error.hpp>
#include <ttig/emu/rate_limit.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/http.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace ttig::emu {

struct cups_options {
    bool allow_cups_uri_update = false;         // gcs.basic-station.allow-cups-uri-update
    std::string default_lns_uri;                // gcs.basic-station.default.lns-uri
    std::optional<proto::bytes> static_trust;   // the server's own trust for an empty address (none by default)
    // Fault (not TTS behaviour): LNS credentials whose trust certificate claims 65,535 DER bytes,
    // more than the blob holds; a station's parser refuses them (a corrupted credential update).
    bool corrupt_tc_cred = false;
};

// TTS's getTrust: the root certificate (DER) of the verified chain presented at host:port. An
// error is reported as pkg/basicstation/cups:server_trust with the error text as its cause.
using trust_fetcher = std::function<proto::result<proto::bytes>(const std::string& host_port)>;

class cups_server {
public:
    cups_server(tts_state& state, rate_limiter& limiter, cups_options options, trust_fetcher fetch_trust);

    // POST /update-info. `correlation_id` is generated when empty.
    proto::http_response handle(const proto::http_request& request);

    // Trust lookups are cached per host:port for the life of the server, as TTS does.
    void clear_trust_cache();
    // Turns the corrupt_tc_cred fault on or off at run time.
    void set_corrupt_tc_cred(bool on) noexcept { corrupt_tc_cred_ = on; }

private:
    tts_result<proto::update_info_response> update_info(const proto::http_request& request);
    tts_result<proto::bytes> trust_for(std::string_view address);

    tts_state& state_;
    rate_limiter& limiter_;
    cups_options options_;
    trust_fetcher fetch_trust_;
    std::mutex trust_mu_;
    std::map<std::string, proto::bytes> trust_cache_;
    std::atomic<bool> corrupt_tc_cred_{false};
};

// A TTS error as webhandlers.Error writes it: status from the cause chain, Content-Type
// application/json, the google.rpc.Status JSON indented with tabs, then a newline.
proto::http_response tts_error_response_indented(const tts_error& err, const std::string& correlation_id);

// 32 lower-case hex digits, as TTS's correlation IDs.
std::string new_correlation_id();

}  // namespace ttig::emu
