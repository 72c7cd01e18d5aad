#include <ttig/proto/router_config.hpp>

#include <ttig/proto/lns.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <map>

namespace ttig::proto {

using ojson = nlohmann::ordered_json;
using namespace detail;

#define TTIG_TRY(var, expr)                        \
    auto var##_r = (expr);                         \
    if (!var##_r) return std::move(var##_r).err(); \
    auto var = std::move(*var##_r)

// ---- frequency plans ---------------------------------------------------------------------------

namespace {

using dr_kind = band_data_rate::kind;

constexpr band_data_rate lora(int sf, std::uint32_t bw) { return {dr_kind::lora, sf, bw, 0}; }
constexpr band_data_rate fsk(std::uint32_t bit_rate) { return {dr_kind::fsk, 0, 0, bit_rate}; }
constexpr band_data_rate lr_fhss() { return {dr_kind::lr_fhss, 0, 0, 0}; }
constexpr band_data_rate none() { return {}; }

// LoRaWAN Regional Parameters RP002-1.0.4 as TTS pkg/band defines the latest versions.
constexpr std::array<band_data_rate, 16> eu_863_870_drs{
    lora(12, 125000), lora(11, 125000), lora(10, 125000), lora(9, 125000), lora(8, 125000), lora(7, 125000),
    lora(7, 250000),  fsk(50000),       lr_fhss(),        lr_fhss(),       lr_fhss(),       lr_fhss(),
    none(),           none(),           none(),           none()};

constexpr std::array<band_data_rate, 16> us_902_928_drs{
    lora(10, 125000), lora(9, 125000),  lora(8, 125000),  lora(7, 125000), lora(8, 500000), lr_fhss(),
    lr_fhss(),        none(),           lora(12, 500000), lora(11, 500000), lora(10, 500000), lora(9, 500000),
    lora(8, 500000),  lora(7, 500000),  none(),           none()};

constexpr std::array<band_data_rate, 16> au_915_928_drs{
    lora(12, 125000), lora(11, 125000), lora(10, 125000), lora(9, 125000),  lora(8, 125000),  lora(7, 125000),
    lora(8, 500000),  lr_fhss(),        lora(12, 500000), lora(11, 500000), lora(10, 500000), lora(9, 500000),
    lora(8, 500000),  lora(7, 500000),  none(),           none()};

// US915 and AU915 beacon / ping-slot channels: 923.3 MHz + n x 600 kHz, n = 0..7.
std::vector<std::uint64_t> us_au_beacon_frequencies() {
    std::vector<std::uint64_t> f;
    for (std::uint64_t i = 0; i < 8; ++i) f.push_back(923300000 + i * 600000);
    return f;
}

std::vector<frequency_plan> build_plans() {
    std::vector<frequency_plan> plans;

    // EU_863_870_TTN: radios and channels of EU_863_870 (the TTN plan changes only RX2).
    frequency_plan eu;
    eu.id = "EU_863_870_TTN";
    eu.band_id = "EU_863_870";
    eu.radios = {{true, 867500000, fp_tx_range{863000000, 870000000}}, {true, 868500000, std::nullopt}};
    eu.uplink_channels = {{868100000, 1, 0}, {868300000, 1, 0}, {868500000, 1, 0}, {867100000, 0, 0},
                          {867300000, 0, 0}, {867500000, 0, 0}, {867700000, 0, 0}, {867900000, 0, 0}};
    eu.lora_standard_channel = fp_channel{868300000, 1, 6};  // SF7 BW250
    eu.fsk_channel = fp_channel{868800000, 1, 7};            // FSK 50 kbit/s
    eu.data_rates = eu_863_870_drs;
    eu.beacon = band_beacon{3, {869525000}};
    plans.push_back(std::move(eu));

    // US_902_928_FSB_2: channels 8..15 (903.9-905.3 MHz) + 500 kHz channel 65 (904.6 MHz).
    frequency_plan us;
    us.id = "US_902_928_FSB_2";
    us.band_id = "US_902_928";
    us.radios = {{true, 904300000, fp_tx_range{923000000, 928000000}}, {true, 905000000, std::nullopt}};
    us.uplink_channels = {{903900000, 0, 0}, {904100000, 0, 0}, {904300000, 0, 0}, {904500000, 0, 0},
                          {904700000, 1, 0}, {904900000, 1, 0}, {905100000, 1, 0}, {905300000, 1, 0}};
    us.lora_standard_channel = fp_channel{904600000, 0, 4};  // SF8 BW500
    us.data_rates = us_902_928_drs;
    us.beacon = band_beacon{8, us_au_beacon_frequencies()};
    plans.push_back(std::move(us));

    // AU_915_928_FSB_2: channels 8..15 (916.8-918.2 MHz) + 500 kHz channel 65 (917.5 MHz).
    frequency_plan au;
    au.id = "AU_915_928_FSB_2";
    au.band_id = "AU_915_928";
    au.radios = {{true, 917200000, fp_tx_range{915000000, 928000000}}, {true, 917900000, std::nullopt}};
    au.uplink_channels = {{916800000, 0, 0}, {917000000, 0, 0}, {917200000, 0, 0}, {917400000, 0, 0},
                          {917600000, 1, 0}, {917800000, 1, 0}, {918000000, 1, 0}, {918200000, 1, 0}};
    au.lora_standard_channel = fp_channel{917500000, 0, 6};  // SF8 BW500
    au.data_rates = au_915_928_drs;
    au.beacon = band_beacon{8, us_au_beacon_frequencies()};
    plans.push_back(std::move(au));

    return plans;
}

const std::vector<frequency_plan>& all_plans() {
    static const std::vector<frequency_plan> plans = build_plans();
    return plans;
}

}  // namespace

std::span<const frequency_plan> frequency_plans() noexcept { return all_plans(); }

result<const frequency_plan*> frequency_plan_by_id(std::string_view id) {
    std::string known;
    for (const auto& p : all_plans()) {
        if (p.id == id) return &p;
        known += known.empty() ? p.id : ", " + p.id;
    }
    return make_error(tc_errc::unknown_frequency_plan, "'{}' (known: {})", id.substr(0, 80), known);
}

// ---- building ----------------------------------------------------------------------------------

double tts_router_config_mux_time(std::int64_t unix_seconds, std::int64_t nanoseconds) noexcept {
    return static_cast<double>(unix_seconds) + static_cast<double>(nanoseconds) / 1e9;
}

std::string tts_region_name(std::string_view band_id, bool reference_region_names) {
    if (reference_region_names) {
        static constexpr std::pair<std::string_view, std::string_view> reference[] = {
            {"EU_863_870", "EU863"}, {"AS_923_4", "IL915"}, {"KR_920_923", "KR920"},
            {"AS_923", "AS923JP"},   {"US_902_928", "US902"}, {"AU_915_928", "AU915"}};
        for (const auto& [band, name] : reference)
            if (band == band_id) return std::string(name);
    }
    const auto first = band_id.find('_');
    if (first == std::string_view::npos) return {};
    std::string_view second = band_id.substr(first + 1);
    second = second.substr(0, second.find('_'));
    return fmt::format("{}{}", band_id.substr(0, first), second);
}

std::optional<std::string> station_region_name(std::string_view region) {
    static constexpr std::pair<std::string_view, std::string_view> table[] = {
        {"EU863", "EU868"}, {"EU868", "EU868"},     {"IL915", "IL915"}, {"KR920", "KR920"}, {"AS923JP", "AS923-1"},
        {"AS923-1", "AS923-1"}, {"US902", "US915"}, {"US915", "US915"}, {"AU915", "AU915"}};
    for (const auto& [in, out] : table)
        if (in == region) return std::string(out);
    return std::nullopt;
}

namespace {

// Beacon layouts by spreading factor (TTS beaconLayouts, L2 1.0.4).
std::array<std::uint64_t, 3> beacon_layout(int sf) {
    switch (sf) {
        case 8: return {1, 7, 19};
        case 9: return {2, 8, 17};
        case 10: return {3, 9, 19};
        case 11: return {4, 10, 21};
        case 12: return {5, 11, 23};
        default: return {0, 0, 0};
    }
}

error plan_error(const frequency_plan& p, std::string_view why) {
    return make_error(tc_errc::bad_frequency_plan, "{}: {}", p.id, why);
}

// shared.BuildSX1301Config + lbslns fromSX1301Conf + version.go (FSK bandwidth removed).
result<sx1301_config> build_sx1301(const frequency_plan& p, int antenna_gain) {
    sx1301_config c;
    if (p.lbt) {
        lbt_config l{true, p.lbt->rssi_target, {}, p.lbt->rssi_offset};
        for (std::size_t i = 0; i < p.lbt->downlink_channels.size() && i < 8; ++i)
            l.chan_cfg.push_back({p.lbt->downlink_channels[i], p.lbt->scan_time_us});
        c.lbt_cfg = std::move(l);
    }
    for (const auto& r : p.radios) c.radios.push_back({r.enable, r.frequency, antenna_gain});
    auto if_of = [&](const fp_channel& ch) -> result<std::int32_t> {
        if (ch.radio < 0 || static_cast<std::size_t>(ch.radio) >= p.radios.size())
            return plan_error(p, fmt::format("channel {} Hz on missing radio {}", ch.frequency, ch.radio));
        return static_cast<std::int32_t>(static_cast<std::int64_t>(ch.frequency) -
                                         static_cast<std::int64_t>(p.radios[static_cast<std::size_t>(ch.radio)].frequency));
    };
    c.multi_sf.resize(std::max<std::size_t>(8, p.uplink_channels.size()));
    for (std::size_t i = 0; i < p.uplink_channels.size(); ++i) {
        TTIG_TRY(ifv, if_of(p.uplink_channels[i]));
        c.multi_sf[i] = {true, p.uplink_channels[i].radio, ifv, 0, 0, 0};
    }
    c.lora_std = sx1301_channel{};
    if (const auto& ch = p.lora_standard_channel) {
        const auto& dr = p.data_rates[static_cast<std::size_t>(std::clamp(ch->data_rate, 0, 15))];
        if (dr.type == dr_kind::lora && ch->data_rate >= 0 && ch->data_rate < 16) {
            TTIG_TRY(ifv, if_of(*ch));
            c.lora_std = sx1301_channel{true, ch->radio, ifv, dr.bandwidth, dr.spreading_factor, 0};
        }
    }
    c.fsk = sx1301_channel{};
    if (const auto& ch = p.fsk_channel) {
        const auto& dr = p.data_rates[static_cast<std::size_t>(std::clamp(ch->data_rate, 0, 15))];
        if (dr.type == dr_kind::fsk && ch->data_rate >= 0 && ch->data_rate < 16) {
            TTIG_TRY(ifv, if_of(*ch));
            c.fsk = sx1301_channel{true, ch->radio, ifv, 0, 0, dr.bit_rate};
        }
    }
    return c;
}

}  // namespace

result<router_config> make_router_config(std::span<const frequency_plan* const> plans, const router_config_options& options) {
    if (plans.empty() || std::any_of(plans.begin(), plans.end(), [](const auto* p) { return p == nullptr; }))
        return make_error(tc_errc::bad_frequency_plan, "no frequency plan");
    const frequency_plan& first = *plans[0];
    router_config rc;
    rc.region = tts_region_name(first.band_id, options.reference_region_names);
    if (rc.region.empty()) return plan_error(first, fmt::format("band ID '{}' has no region name", first.band_id));
    std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
    for (const auto* p : plans) {
        if (p->band_id != first.band_id)
            return plan_error(*p, fmt::format("band {} differs from {} of {}", p->band_id, first.band_id, first.id));
        if (p->radios.empty() || !p->radios[0].tx) return plan_error(*p, "radio 0 has no TX frequency range");
        lo = std::min(lo, p->radios[0].tx->min_frequency);
        hi = std::max(hi, p->radios[0].tx->max_frequency);
    }
    rc.hwspec = fmt::format("sx1301/{}", plans.size());
    rc.freq_range = {lo, hi};
    for (std::size_t i = 0; i < 16; ++i) {
        const auto& dr = first.data_rates[i];
        // TTS intends -1 for undefined indices but never applies it: FSK, LR-FHSS and undefined
        // rates all come out as [0,0,0].
        rc.drs[i] = dr.type == dr_kind::lora ? dr_entry{dr.spreading_factor, static_cast<int>(dr.bandwidth / 1000), 0} : dr_entry{0, 0, 0};
    }
    for (const auto* p : plans) {
        TTIG_TRY(conf, build_sx1301(*p, options.antenna_gain));
        rc.sx1301_conf.push_back(std::move(conf));
    }
    if (!options.production) rc.nocca = rc.nodc = rc.nodwell = true;
    rc.mux_time = options.mux_time;
    if (first.beacon && !first.beacon->frequencies.empty()) {
        const int bdr = first.beacon->data_rate;
        if (bdr < 0 || bdr > 15 || first.data_rates[static_cast<std::size_t>(bdr)].type != dr_kind::lora)
            return plan_error(first, fmt::format("beacon data rate {} is not a LoRa rate", bdr));
        beacon_config b;
        b.dr = static_cast<std::uint64_t>(bdr);
        b.layout = beacon_layout(first.data_rates[static_cast<std::size_t>(bdr)].spreading_factor);
        for (auto f : first.beacon->frequencies) b.freqs.push_back(static_cast<std::int64_t>(f));
        rc.bcning = std::move(b);
    }
    rc.station_region = station_region_name(rc.region).value_or("");
    rc.region_recognised = !rc.station_region.empty();
    return rc;
}

result<router_config> make_router_config(const frequency_plan& plan, const router_config_options& options) {
    const frequency_plan* one[] = {&plan};
    return make_router_config(std::span<const frequency_plan* const>(one), options);
}

// ---- encoding ----------------------------------------------------------------------------------

namespace {

std::string channel_json(const sx1301_channel& c) {
    if (!c.enable) return R"({"enable":false})";
    std::string s = fmt::format(R"({{"enable":true,"radio":{},"if":{})", c.radio, c.if_hz);
    if (c.bandwidth != 0) s += fmt::format(R"(,"bandwidth":{})", c.bandwidth);
    if (c.spread_factor != 0) s += fmt::format(R"(,"spread_factor":{})", c.spread_factor);
    if (c.datarate != 0) s += fmt::format(R"(,"datarate":{})", c.datarate);
    s += '}';
    return s;
}

std::string sx1301_json(const sx1301_config& c) {
    std::string s = "{";
    auto field = [&](std::string_view key, std::string_view value) {
        if (s.size() > 1) s += ',';
        s += fmt::format(R"("{}":{})", key, value);
    };
    if (c.lbt_cfg) {
        std::string chans = "null";
        if (!c.lbt_cfg->chan_cfg.empty()) {
            chans = "[";
            for (const auto& ch : c.lbt_cfg->chan_cfg)
                chans += fmt::format(R"({}{{"freq_hz":{},"scan_time_us":{}}})", chans.size() > 1 ? "," : "", ch.freq_hz, ch.scan_time_us);
            chans += ']';
        }
        field("lbt_cfg", fmt::format(R"({{"enable":{},"rssi_target":{},"chan_cfg":{},"sx127x_rssi_offset":{}}})",
                                     c.lbt_cfg->enable, go_float32_text(c.lbt_cfg->rssi_target), chans,
                                     go_float32_text(c.lbt_cfg->sx127x_rssi_offset)));
    }
    for (std::size_t i = 0; i < c.radios.size(); ++i) {
        const auto& r = c.radios[i];
        std::string v = fmt::format(R"({{"enable":{},"freq":{})", r.enable, r.freq);
        if (r.antenna_gain != 0) v += fmt::format(R"(,"antenna_gain":{})", r.antenna_gain);
        v += '}';
        field(fmt::format("radio_{}", i), v);
    }
    for (std::size_t i = 0; i < c.multi_sf.size(); ++i) field(fmt::format("chan_multiSF_{}", i), channel_json(c.multi_sf[i]));
    if (c.lora_std) field("chan_Lora_std", channel_json(*c.lora_std));
    if (c.fsk) field("chan_FSK", channel_json(*c.fsk));
    s += '}';
    return s;
}

}  // namespace

std::string encode_router_config(const router_config& rc) {
    std::string s = R"({"msgtype":"router_config","NetID":)";
    if (rc.net_id) {
        s += '[';
        for (std::size_t i = 0; i < rc.net_id->size(); ++i) s += fmt::format("{}{}", i ? "," : "", (*rc.net_id)[i]);
        s += ']';
    } else {
        s += "null";
    }
    s += R"(,"JoinEui":)";
    if (rc.join_eui) {
        s += '[';
        for (std::size_t i = 0; i < rc.join_eui->size(); ++i)
            s += fmt::format("{}[{},{}]", i ? "," : "", (*rc.join_eui)[i].first, (*rc.join_eui)[i].second);
        s += ']';
    } else {
        s += "null";
    }
    s += fmt::format(R"(,"region":{},"hwspec":{},"freq_range":[{},{}],"DRs":[)", go_json_string(rc.region),
                     go_json_string(rc.hwspec), rc.freq_range[0], rc.freq_range[1]);
    for (std::size_t i = 0; i < rc.drs.size(); ++i)
        s += fmt::format("{}[{},{},{}]", i ? "," : "", rc.drs[i].sf, rc.drs[i].bw, rc.drs[i].dnonly);
    s += R"(],"sx1301_conf":)";
    if (rc.sx1301_conf.empty()) {
        s += "null";  // Go nil slice
    } else {
        s += '[';
        for (std::size_t i = 0; i < rc.sx1301_conf.size(); ++i) s += (i ? "," : "") + sx1301_json(rc.sx1301_conf[i]);
        s += ']';
    }
    // Go omitempty: only true is written.
    if (rc.nocca.value_or(false)) s += R"(,"nocca":true)";
    if (rc.nodc.value_or(false)) s += R"(,"nodc":true)";
    if (rc.nodwell.value_or(false)) s += R"(,"nodwell":true)";
    s += fmt::format(R"(,"MuxTime":{},"bcning":)", go_float_text(rc.mux_time));
    if (rc.bcning) {
        s += fmt::format(R"({{"DR":{},"layout":[{},{},{}],"freqs":[)", rc.bcning->dr, rc.bcning->layout[0], rc.bcning->layout[1],
                         rc.bcning->layout[2]);
        for (std::size_t i = 0; i < rc.bcning->freqs.size(); ++i) s += fmt::format("{}{}", i ? "," : "", rc.bcning->freqs[i]);
        s += "]}";
    } else {
        s += "null";
    }
    s += '}';
    return s;
}

result<std::string> encode_router_config(std::span<const frequency_plan* const> plans, const router_config_options& options) {
    TTIG_TRY(rc, make_router_config(plans, options));
    return encode_router_config(rc);
}

result<std::string> encode_router_config(const frequency_plan& plan, const router_config_options& options) {
    TTIG_TRY(rc, make_router_config(plan, options));
    return encode_router_config(rc);
}

// ---- decoding (station side) -------------------------------------------------------------------

namespace {

// "radio_7" -> 7 for prefix "radio_"; -1 when the key is not prefix + decimal digits.
int indexed_key(std::string_view key, std::string_view prefix) {
    if (!key.starts_with(prefix) || key.size() == prefix.size() || key.size() > prefix.size() + 9) return -1;
    int n = 0;
    for (char c : key.substr(prefix.size())) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

result<const ojson*> array_of(const ojson& v, std::string_view field) {
    if (!v.is_array()) return make_error(tc_errc::bad_field_type, "{}: expecting an array, got {}", field, v.type_name());
    return &v;
}

result<const ojson*> object_of(const ojson& v, std::string_view field) {
    if (!v.is_object()) return make_error(tc_errc::bad_field_type, "{}: expecting an object, got {}", field, v.type_name());
    return &v;
}

template <class R>
struct result_value;
template <class T>
struct result_value<result<T>> {
    using type = T;
};

// A fixed-length array of integers (uj_enterArray, n x uj_nextSlot + read, uj_exitArray).
template <class Read, class T = typename result_value<std::invoke_result_t<Read, const ojson&, std::string_view>>::type>
result<std::vector<T>> fixed_array(const ojson& v, std::string_view field, std::size_t n, Read read) {
    TTIG_TRY(a, array_of(v, field));
    if (a->size() != n) return make_error(tc_errc::bad_value, "{}: expecting {} elements, got {}", field, n, a->size());
    std::vector<T> out;
    for (std::size_t i = 0; i < n; ++i) {
        TTIG_TRY(x, read((*a)[i], fmt::format("{}[{}]", field, i)));
        out.push_back(x);
    }
    return out;
}

result<sx1301_channel> decode_channel(const ojson& v, const std::string& field) {
    TTIG_TRY(o, object_of(v, field));
    sx1301_channel c;
    for (auto it = o->begin(); it != o->end(); ++it) {
        const std::string& k = it.key();
        const std::string f = field + "." + k;
        if (k == "enable") {
            TTIG_TRY(b, station_bool(it.value(), f));
            c.enable = b;
        } else if (k == "radio") {
            TTIG_TRY(n, station_int_range(it.value(), f, 0, 255));
            c.radio = static_cast<int>(n);
        } else if (k == "if") {
            TTIG_TRY(n, station_int_range(it.value(), f, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()));
            c.if_hz = static_cast<std::int32_t>(n);
        } else if (k == "bandwidth") {
            TTIG_TRY(n, station_int_range(it.value(), f, 0, std::numeric_limits<std::uint32_t>::max()));
            c.bandwidth = static_cast<std::uint32_t>(n);
        } else if (k == "spread_factor") {
            TTIG_TRY(n, station_int_range(it.value(), f, 0, 255));
            c.spread_factor = static_cast<int>(n);
        } else if (k == "datarate") {
            TTIG_TRY(n, station_int_range(it.value(), f, 0, std::numeric_limits<std::uint32_t>::max()));
            c.datarate = static_cast<std::uint32_t>(n);
        }
    }
    return c;
}

result<sx1301_radio> decode_radio(const ojson& v, const std::string& field) {
    TTIG_TRY(o, object_of(v, field));
    sx1301_radio r;
    for (auto it = o->begin(); it != o->end(); ++it) {
        const std::string& k = it.key();
        const std::string f = field + "." + k;
        if (k == "enable") {
            TTIG_TRY(b, station_bool(it.value(), f));
            r.enable = b;
        } else if (k == "freq") {
            TTIG_TRY(n, station_uint(it.value(), f));
            r.freq = n;
        } else if (k == "antenna_gain") {
            TTIG_TRY(n, station_int_range(it.value(), f, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
            r.antenna_gain = static_cast<int>(n);
        }
    }
    return r;
}

result<float> float32_of(const ojson& v, std::string_view field) {
    TTIG_TRY(d, station_num(v, field));
    if (std::fabs(d) > std::numeric_limits<float>::max()) return make_error(tc_errc::bad_value, "{}: overflows a float32", field);
    return static_cast<float>(d);
}

result<lbt_config> decode_lbt(const ojson& v, const std::string& field) {
    TTIG_TRY(o, object_of(v, field));
    lbt_config l;
    for (auto it = o->begin(); it != o->end(); ++it) {
        const std::string& k = it.key();
        const std::string f = field + "." + k;
        if (k == "enable") {
            TTIG_TRY(b, station_bool(it.value(), f));
            l.enable = b;
        } else if (k == "rssi_target") {
            TTIG_TRY(x, float32_of(it.value(), f));
            l.rssi_target = x;
        } else if (k == "sx127x_rssi_offset") {
            TTIG_TRY(x, float32_of(it.value(), f));
            l.sx127x_rssi_offset = x;
        } else if (k == "chan_cfg") {
            l.chan_cfg.clear();
            if (it.value().is_null()) continue;
            TTIG_TRY(a, array_of(it.value(), f));
            for (std::size_t i = 0; i < a->size(); ++i) {
                const std::string fi = fmt::format("{}[{}]", f, i);
                TTIG_TRY(co, object_of((*a)[i], fi));
                lbt_channel ch;
                for (auto ct = co->begin(); ct != co->end(); ++ct) {
                    if (ct.key() == "freq_hz") {
                        TTIG_TRY(n, station_uint(ct.value(), fi + ".freq_hz"));
                        ch.freq_hz = n;
                    } else if (ct.key() == "scan_time_us") {
                        TTIG_TRY(n, station_int_range(ct.value(), fi + ".scan_time_us", 0, std::numeric_limits<std::uint32_t>::max()));
                        ch.scan_time_us = static_cast<std::uint32_t>(n);
                    }
                }
                l.chan_cfg.push_back(ch);
            }
        }
    }
    return l;
}

template <class T>
result<std::vector<T>> contiguous(std::map<int, T>&& m, std::string_view field) {
    std::vector<T> out;
    for (auto& [i, v] : m) {
        if (i != static_cast<int>(out.size()))
            return make_error(tc_errc::bad_value, "{}{}: indices must run from 0 without gaps", field, i);
        out.push_back(std::move(v));
    }
    return out;
}

result<sx1301_config> decode_sx1301(const ojson& v, const std::string& field) {
    TTIG_TRY(o, object_of(v, field));
    constexpr int max_index = 63;
    sx1301_config c;
    std::map<int, sx1301_radio> radios;
    std::map<int, sx1301_channel> chans;
    for (auto it = o->begin(); it != o->end(); ++it) {
        const std::string& k = it.key();
        const std::string f = field + "." + k;
        if (k == "lbt_cfg") {
            TTIG_TRY(l, decode_lbt(it.value(), f));
            c.lbt_cfg = std::move(l);
        } else if (k == "chan_Lora_std") {
            TTIG_TRY(ch, decode_channel(it.value(), f));
            c.lora_std = ch;
        } else if (k == "chan_FSK") {
            TTIG_TRY(ch, decode_channel(it.value(), f));
            c.fsk = ch;
        } else if (int i = indexed_key(k, "radio_"); i >= 0) {
            if (i > max_index) return make_error(tc_errc::bad_value, "{}: index above {}", f, max_index);
            TTIG_TRY(r, decode_radio(it.value(), f));
            radios[i] = r;
        } else if (int n = indexed_key(k, "chan_multiSF_"); n >= 0) {
            if (n > max_index) return make_error(tc_errc::bad_value, "{}: index above {}", f, max_index);
            TTIG_TRY(ch, decode_channel(it.value(), f));
            chans[n] = ch;
        }
    }
    TTIG_TRY(rv, contiguous(std::move(radios), field + ".radio_"));
    TTIG_TRY(cv, contiguous(std::move(chans), field + ".chan_multiSF_"));
    c.radios = std::move(rv);
    c.multi_sf = std::move(cv);
    return c;
}

}  // namespace

result<router_config> decode_router_config(std::string_view text) {
    auto j = ojson::parse(text, nullptr, false);
    if (j.is_discarded()) return make_error(tc_errc::bad_json, "{} bytes", text.size());
    if (!j.is_object()) return make_error(tc_errc::not_object, "got a JSON {}", j.type_name());
    router_config rc;
    bool have_conf = false;
    std::size_t dr_index = 0;
    auto uint_reader = [](const ojson& v, std::string_view f) { return station_uint(v, f); };
    auto int_reader = [](const ojson& v, std::string_view f) { return station_int(v, f); };
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        const ojson& v = it.value();
        if (k == "freq_range") {
            TTIG_TRY(r, fixed_array(v, k, 2, uint_reader));
            rc.freq_range = {r[0], r[1]};
        } else if (k == "DRs") {
            TTIG_TRY(a, array_of(v, k));
            for (std::size_t i = 0; i < a->size(); ++i) {
                TTIG_TRY(e, fixed_array((*a)[i], fmt::format("DRs[{}]", i), 3, int_reader));
                auto clamp_int = [](std::int64_t x) {
                    return static_cast<int>(std::clamp<std::int64_t>(x, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
                };
                rc.drs[dr_index] = {clamp_int(e[0]), clamp_int(e[1]), clamp_int(e[2])};
                dr_index = std::min<std::size_t>(15, dr_index + 1);  // BS: excess entries overwrite DR15
            }
        } else if (k == "upchannels") {
            TTIG_TRY(a, array_of(v, k));
            for (std::size_t i = 0; i < a->size(); ++i) {
                const std::string f = fmt::format("upchannels[{}]", i);
                TTIG_TRY(ch, array_of((*a)[i], f));
                if (ch->size() != 3) return make_error(tc_errc::bad_value, "{}: expecting [freq, minDR, maxDR]", f);
                TTIG_TRY(freq, station_int((*ch)[0], f + "[0]"));
                TTIG_TRY(min_dr, station_int_range((*ch)[1], f + "[1]", 0, 7));
                TTIG_TRY(max_dr, station_int_range((*ch)[2], f + "[2]", 0, 7));
                (void)freq, (void)min_dr, (void)max_dr;
            }
        } else if (k == "NetID") {
            if (v.is_null()) {
                rc.net_id.reset();
                continue;
            }
            TTIG_TRY(a, array_of(v, k));
            std::vector<std::uint64_t> ids;
            for (std::size_t i = 0; i < a->size(); ++i) {
                TTIG_TRY(n, station_uint((*a)[i], fmt::format("NetID[{}]", i)));
                ids.push_back(n);
            }
            rc.net_id = std::move(ids);
        } else if (k == "JoinEui" || k == "JoinEUI") {
            if (v.is_null()) {
                rc.join_eui.reset();
                continue;
            }
            TTIG_TRY(a, array_of(v, k));
            std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
            for (std::size_t i = 0; i < a->size(); ++i) {
                TTIG_TRY(r, fixed_array((*a)[i], fmt::format("{}[{}]", k, i), 2, int_reader));
                ranges.emplace_back(static_cast<std::uint64_t>(r[0]), static_cast<std::uint64_t>(r[1]));
            }
            rc.join_eui = std::move(ranges);
        } else if (k == "region") {
            TTIG_TRY(s, station_str(v, k));
            rc.region = std::move(s);
        } else if (k == "max_eirp") {
            TTIG_TRY(x, station_num(v, k));
            (void)x;
        } else if (k == "MuxTime") {
            TTIG_TRY(x, station_num(v, k));
            rc.mux_time = x;
        } else if (k == "hwspec") {
            TTIG_TRY(s, station_str(v, k));
            if (s.size() > 31) return make_error(tc_errc::bad_value, "hwspec: hardware specifier is too long ({} > 31 bytes)", s.size());
            rc.hwspec = std::move(s);
        } else if (k == "nocca" || k == "nodc" || k == "nodwell" || k == "device_mode") {
            // A non-production station reads a bool; a production one ignores the key.
            TTIG_TRY(b, station_bool(v, k));
            if (k == "nocca") rc.nocca = b;
            if (k == "nodc") rc.nodc = b;
            if (k == "nodwell") rc.nodwell = b;
        } else if (k == "sx1301_conf" || k == "SX1301_conf" || k == "sx1302_conf" || k == "SX1302_conf" || k == "radio_conf") {
            have_conf = true;
            rc.sx1301_conf.clear();
            if (v.is_null()) continue;
            TTIG_TRY(a, array_of(v, k));
            for (std::size_t i = 0; i < a->size(); ++i) {
                TTIG_TRY(c, decode_sx1301((*a)[i], fmt::format("{}[{}]", k, i)));
                rc.sx1301_conf.push_back(std::move(c));
            }
        } else if (k == "bcning") {
            rc.bcning.reset();
            if (v.is_null()) continue;
            TTIG_TRY(o, object_of(v, k));
            beacon_config b;
            for (auto bt = o->begin(); bt != o->end(); ++bt) {
                const std::string f = "bcning." + bt.key();
                if (bt.key() == "DR") {
                    TTIG_TRY(n, station_uint(bt.value(), f));
                    b.dr = n;
                } else if (bt.key() == "layout") {
                    TTIG_TRY(l, fixed_array(bt.value(), f, 3, uint_reader));
                    b.layout = {l[0], l[1], l[2]};
                } else if (bt.key() == "freqs") {
                    TTIG_TRY(a, array_of(bt.value(), f));
                    b.freqs.clear();
                    for (std::size_t i = 0; i < a->size(); ++i) {
                        TTIG_TRY(n, station_int((*a)[i], fmt::format("{}[{}]", f, i)));
                        b.freqs.push_back(n);
                    }
                }
            }
            rc.bcning = std::move(b);
        }
        // msgtype and unknown keys: ignored
    }
    if (rc.hwspec.empty()) return make_error(tc_errc::missing_field, "router_config: no 'hwspec'");
    if (!have_conf) return make_error(tc_errc::missing_field, "router_config: no 'sx1301_conf' or 'sx1302_conf'");
    rc.station_region = station_region_name(rc.region).value_or("");
    rc.region_recognised = !rc.station_region.empty();
    return rc;
}

}  // namespace ttig::proto
