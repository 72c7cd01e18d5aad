// router_config (basicstation-protocol §4.6) and the frequency plans it is built from.
//
// Two dialects:
//  - TTS writes it (pkg/pfconfig/lbslns GetRouterConfig + encoding/json): fixed key order, compact,
//    `MuxTime` as Go formats a float64, nocca/nodc/nodwell only for non-production stations.
//  - the station reads it (BS s2e.c handle_router_config): `hwspec` and one of the sx130x
//    configuration keys are required; an unknown `region` is accepted but disables downlinks.
//
// The frequency plans are written here as C++ data from the facts of TheThingsNetwork/
// lorawan-frequency-plans (radios, channels) and lorawan-stack pkg/band (data rates, beacon).
#pragma once

#include <ttig/proto/error.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttig::proto {

// ---- frequency plans ---------------------------------------------------------------------------

// One entry of a band's data-rate table (TTS pkg/band). Only LoRa rates carry SF/bandwidth.
struct band_data_rate {
    enum class kind : std::uint8_t { undefined, lora, fsk, lr_fhss };
    kind type = kind::undefined;
    int spreading_factor = 0;      // LoRa: 7..12
    std::uint32_t bandwidth = 0;   // LoRa: Hz
    std::uint32_t bit_rate = 0;    // FSK: bit/s

    friend bool operator==(const band_data_rate&, const band_data_rate&) = default;
};

struct fp_tx_range {
    std::uint64_t min_frequency = 0;
    std::uint64_t max_frequency = 0;
    friend bool operator==(const fp_tx_range&, const fp_tx_range&) = default;
};

struct fp_radio {
    bool enable = true;
    std::uint64_t frequency = 0;         // centre frequency, Hz
    std::optional<fp_tx_range> tx;       // only the TX radio has one
    friend bool operator==(const fp_radio&, const fp_radio&) = default;
};

// A multi-SF uplink channel, or the LoRa standard / FSK channel (then data_rate is the band index).
struct fp_channel {
    std::uint64_t frequency = 0;
    int radio = 0;
    int data_rate = 0;  // lora-standard / fsk channel only
    friend bool operator==(const fp_channel&, const fp_channel&) = default;
};

struct fp_lbt {
    float rssi_target = 0;
    float rssi_offset = 0;
    std::uint32_t scan_time_us = 0;
    std::vector<std::uint64_t> downlink_channels;  // LBT channels: the first 8 downlink channels
    friend bool operator==(const fp_lbt&, const fp_lbt&) = default;
};

struct band_beacon {
    int data_rate = 0;
    std::vector<std::uint64_t> frequencies;
    friend bool operator==(const band_beacon&, const band_beacon&) = default;
};

struct frequency_plan {
    std::string id;       // "EU_863_870_TTN"
    std::string band_id;  // "EU_863_870"
    std::vector<fp_radio> radios;
    std::vector<fp_channel> uplink_channels;  // multi-SF channels, in plan order
    std::optional<fp_channel> lora_standard_channel;
    std::optional<fp_channel> fsk_channel;
    std::optional<fp_lbt> lbt;
    std::array<band_data_rate, 16> data_rates{};  // of the band (latest regional parameters)
    std::optional<band_beacon> beacon;            // of the band

    friend bool operator==(const frequency_plan&, const frequency_plan&) = default;
};

// The built-in plans: EU_863_870_TTN, US_902_928_FSB_2, AU_915_928_FSB_2.
std::span<const frequency_plan> frequency_plans() noexcept;
// Exact, case-sensitive plan ID. Error: tc.unknown_frequency_plan (detail lists the known IDs).
result<const frequency_plan*> frequency_plan_by_id(std::string_view id);

// ---- router_config -----------------------------------------------------------------------------

// DRs entry [SF, BW kHz, DNONLY]; SF 0 = FSK, SF < 0 = undefined (station semantics).
struct dr_entry {
    int sf = -1;
    int bw = 0;
    int dnonly = 0;
    friend bool operator==(const dr_entry&, const dr_entry&) = default;
};

struct sx1301_radio {
    bool enable = false;
    std::uint64_t freq = 0;
    int antenna_gain = 0;  // omitted from the JSON when 0
    friend bool operator==(const sx1301_radio&, const sx1301_radio&) = default;
};

// chan_multiSF_N / chan_Lora_std / chan_FSK. A disabled channel is exactly {"enable":false};
// zero bandwidth / spread_factor / datarate are omitted.
struct sx1301_channel {
    bool enable = false;
    int radio = 0;
    std::int32_t if_hz = 0;  // "if"
    std::uint32_t bandwidth = 0;
    int spread_factor = 0;
    std::uint32_t datarate = 0;
    friend bool operator==(const sx1301_channel&, const sx1301_channel&) = default;
};

struct lbt_channel {
    std::uint64_t freq_hz = 0;
    std::uint32_t scan_time_us = 0;
    friend bool operator==(const lbt_channel&, const lbt_channel&) = default;
};

struct lbt_config {
    bool enable = false;
    float rssi_target = 0;
    std::vector<lbt_channel> chan_cfg;  // empty is written as null (Go nil slice)
    float sx127x_rssi_offset = 0;
    friend bool operator==(const lbt_config&, const lbt_config&) = default;
};

struct sx1301_config {
    std::optional<lbt_config> lbt_cfg;
    std::vector<sx1301_radio> radios;         // radio_0, radio_1, ...
    std::vector<sx1301_channel> multi_sf;     // chan_multiSF_0, ...
    std::optional<sx1301_channel> lora_std;   // chan_Lora_std
    std::optional<sx1301_channel> fsk;        // chan_FSK
    friend bool operator==(const sx1301_config&, const sx1301_config&) = default;
};

struct beacon_config {
    std::uint64_t dr = 0;
    std::array<std::uint64_t, 3> layout{};
    std::vector<std::int64_t> freqs;
    friend bool operator==(const beacon_config&, const beacon_config&) = default;
};

struct router_config {
    std::optional<std::vector<std::uint64_t>> net_id;  // null: no NetID filter
    std::optional<std::vector<std::pair<std::uint64_t, std::uint64_t>>> join_eui;  // null: no filter
    std::string region;                                // as sent: "EU863", "US902", ...
    std::string hwspec;                                // "sx1301/1"
    std::array<std::uint64_t, 2> freq_range{};
    std::array<dr_entry, 16> drs{};
    std::vector<sx1301_config> sx1301_conf;              // written as "sx1301_conf"
    std::optional<bool> nocca, nodc, nodwell;          // TTS: true for non-production stations
    double mux_time = 0;                               // "MuxTime"
    std::optional<beacon_config> bcning;               // null when the band has no beacon

    // Station-side interpretation, filled by decode_router_config (not part of the encoding):
    bool region_recognised = false;  // false: the station drops every dnmsg/dnsched
    std::string station_region;      // the station's name for it: "EU868", "US915", "AS923-1", ...

    friend bool operator==(const router_config&, const router_config&) = default;
};

struct router_config_options {
    bool production = true;               // version.features contains "prod" (TTS IsProduction)
    double mux_time = 0;                  // server time, UNIX seconds (see tts_router_config_mux_time)
    int antenna_gain = 0;                 // gain of the gateway's first antenna, dBi (integer)
    bool reference_region_names = false;  // TTS experimental flag gs.lbslns.reference_region_names
};

// MuxTime as GetRouterConfig computes it: float64(Unix()) + float64(Nanosecond())/1e9.
double tts_router_config_mux_time(std::int64_t unix_seconds, std::int64_t nanoseconds) noexcept;

// The region TTS names a band with: first two '_'-separated parts concatenated (AU_915_928 ->
// AU915), or the reference name when options.reference_region_names is set.
std::string tts_region_name(std::string_view band_id, bool reference_region_names = false);

// The station's reading of a region name (BS handle_router_config): EU863->EU868, US902->US915,
// AS923JP->AS923-1; EU868, IL915, KR920, AS923-1, US915, AU915 as they are; nullopt otherwise.
std::optional<std::string> station_region_name(std::string_view region);

// Builds what TTS sends for these plans (all of one band). Errors: tc.bad_frequency_plan (no plan,
// mixed bands, radio 0 without a TX range, a channel on a missing radio).
// The built-in plans always succeed.
result<router_config> make_router_config(std::span<const frequency_plan* const> plans, const router_config_options& options);
result<router_config> make_router_config(const frequency_plan& plan, const router_config_options& options);

// TTS's bytes: compact, key order of §4.6.
std::string encode_router_config(const router_config& config);
result<std::string> encode_router_config(std::span<const frequency_plan* const> plans, const router_config_options& options);
result<std::string> encode_router_config(const frequency_plan& plan, const router_config_options& options);

// The station's reading. Errors: tc.bad_json, tc.not_object, tc.bad_field_type / tc.bad_value
// (field named), tc.missing_field ("hwspec", "sx1301_conf"). An unknown msgtype is not checked
// here (decode_downstream dispatches on it). An unrecognised region is not an error:
// region_recognised is false.
result<router_config> decode_router_config(std::string_view text);

}  // namespace ttig::proto
