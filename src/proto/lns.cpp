#include <ttig/proto/lns.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <type_traits>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ttig::proto {

using ojson = nlohmann::ordered_json;

// ---- number and string text --------------------------------------------------------------------

namespace {

// Shortest round-trip text of v in std::chars_format `f` (no precision).
template <class F>
std::string shortest(F v, std::chars_format f) {
    char buf[512];
    auto r = std::to_chars(buf, buf + sizeof buf, v, f);
    return std::string(buf, r.ptr);
}

// Go encoding/json floatEncoder: 'f' with shortest digits, 'e' outside [1e-6, 1e21), and the
// exponent cleaned from e-07 to e-7.
template <class F>
std::string go_float_impl(F v) {
    const F a = std::fabs(v);
    const bool exp = a != 0 && (a < F(1e-6) || a >= F(1e21));
    std::string s = shortest(v, exp ? std::chars_format::scientific : std::chars_format::fixed);
    if (exp) {
        const auto n = s.size();
        if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    }
    return s;
}

std::string printf_text(const char* format, double v) {
    char buf[512];  // "%.6f" of the largest double is 316 characters
    int n = std::snprintf(buf, sizeof buf, format, v);
    if (n < 0) return "0";
    return std::string(buf, static_cast<std::size_t>(std::min(n, static_cast<int>(sizeof buf) - 1)));
}

// The station writes "%g" (snr); a value "%g" would not reproduce exactly is written in its
// shortest form instead, so that decode(encode(x)) == x for every decoded value.
std::string station_g_text(double v) {
    std::string g = printf_text("%g", v);
    double back = 0;
    auto r = std::from_chars(g.data(), g.data() + g.size(), back);
    if (r.ec == std::errc() && back == v) return g;
    return shortest(v, std::chars_format::general);
}

// An integer the station writes with %ld, carried as a double because TTS reads a float
// (rssi, timesync txtime): integral values as integers, anything else in shortest form.
std::string station_int_text(double v) {
    if (std::trunc(v) == v && std::fabs(v) < 9.2e18) return fmt::to_string(static_cast<std::int64_t>(v));
    return shortest(v, std::chars_format::general);
}

// "HH-HH-HH-HH-HH-HH-HH-HH", upper case (BS uj_encEui).
std::string dashed(eui64 e) { return e.dashed(); }

// Builds one compact JSON object; values are JSON text already.
class object_writer {
public:
    object_writer() { out_ += '{'; }
    object_writer& raw(std::string_view key, std::string_view json_text) {
        if (!first_) out_ += ',';
        first_ = false;
        out_ += '"';
        out_ += key;
        out_ += "\":";
        out_ += json_text;
        return *this;
    }
    template <class I>
        requires std::is_integral_v<I>
    object_writer& num(std::string_view key, I v) {
        return raw(key, fmt::to_string(v));
    }
    std::string done() && {
        out_ += '}';
        return std::move(out_);
    }

private:
    std::string out_;
    bool first_ = true;
};

}  // namespace

std::string go_float_text(double v) { return go_float_impl(v); }
std::string station_time_text(double v) { return printf_text("%.6f", v); }
double tts_unix_seconds(std::int64_t unix_nanoseconds) noexcept { return static_cast<double>(unix_nanoseconds) / 1e9; }

namespace detail {

std::string go_float32_text(float v) { return go_float_impl(v); }

std::string go_json_string(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            switch (b) {
                case '\\': out += "\\\\"; break;
                case '"': out += "\\\""; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (b < 0x20 || b == '<' || b == '>' || b == '&') {
                        out += "\\u00";
                        out += hex[b >> 4];
                        out += hex[b & 0xF];
                    } else {
                        out += static_cast<char>(b);
                    }
            }
            ++i;
            continue;
        }
        // Multi-byte UTF-8: copy a valid sequence, \ufffd for each invalid byte, and escape
        // U+2028/U+2029 (Go does, for JSONP safety).
        std::size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
        bool ok = n != 0 && b < 0xF5 && i + n <= s.size();
        std::uint32_t cp = n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
        for (std::size_t k = 1; ok && k < n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) ok = false;
            cp = cp << 6 | (c & 0x3Fu);
        }
        if (ok) {
            const std::uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
            ok = cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (!ok) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            out += cp == 0x2028 ? "\\u2028" : "\\u2029";
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
    out += '"';
    return out;
}

std::string station_json_string(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

// ---- station value readers (BS uj.c) -----------------------------------------------------------

result<std::int64_t> station_int(const ojson& v, std::string_view field) {
    if (v.is_number_unsigned()) return static_cast<std::int64_t>(v.get<std::uint64_t>());
    if (v.is_number_integer()) return v.get<std::int64_t>();
    return make_error(tc_errc::bad_field_type, "{}: expecting an integer value, got {}", field,
                      v.is_number_float() ? "a fraction/exponent number" : v.type_name());
}

result<std::int64_t> station_int_range(const ojson& v, std::string_view field, std::int64_t lo, std::int64_t hi) {
    auto n = station_int(v, field);
    if (!n) return n;
    if (*n < lo || *n > hi) return make_error(tc_errc::bad_value, "{}: value not in range [{}..{}]: {}", field, lo, hi, *n);
    return n;
}

result<std::uint64_t> station_uint(const ojson& v, std::string_view field) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    return make_error(tc_errc::bad_field_type, "{}: expecting a positive integer value, got {}", field,
                      v.is_number_integer() ? "a negative number" : v.is_number_float() ? "a fraction/exponent number" : v.type_name());
}

result<double> station_num(const ojson& v, std::string_view field) {
    if (!v.is_number()) return make_error(tc_errc::bad_field_type, "{}: expecting a number, got {}", field, v.type_name());
    const double d = v.get<double>();
    if (!std::isfinite(d)) return make_error(tc_errc::bad_value, "{}: number out of range", field);
    return d;
}

result<bool> station_bool(const ojson& v, std::string_view field) {
    if (!v.is_boolean()) return make_error(tc_errc::bad_field_type, "{}: expecting a bool value, got {}", field, v.type_name());
    return v.get<bool>();
}

result<std::string> station_str(const ojson& v, std::string_view field) {
    if (!v.is_string()) return make_error(tc_errc::bad_field_type, "{}: expecting a string value, got {}", field, v.type_name());
    return v.get<std::string>();
}

}  // namespace detail

using namespace detail;

namespace {

// ---- parsing -----------------------------------------------------------------------------------

result<ojson> parse_object(std::string_view text) {
    auto j = ojson::parse(text, nullptr, false);
    if (j.is_discarded()) return make_error(tc_errc::bad_json, "{} bytes", text.size());
    if (!j.is_object()) return make_error(tc_errc::not_object, "got a JSON {}", j.type_name());
    return j;
}

// ---- TTS (Go encoding/json) readers ------------------------------------------------------------

// Go's field-name folding (encoding/json foldName): ASCII letters case-insensitively, plus the two
// non-ASCII runes that fold onto ASCII letters: U+017F (long s) -> S, U+212A (Kelvin) -> K.
bool go_fold_equal(std::string_view key, std::string_view name) {
    std::size_t i = 0, j = 0;
    auto up = [](unsigned char c) { return static_cast<unsigned char>(c >= 'a' && c <= 'z' ? c - 32 : c); };
    while (i < key.size() && j < name.size()) {
        const auto c = static_cast<unsigned char>(key[i]);
        unsigned char folded;
        if (c < 0x80) {
            folded = up(c);
            ++i;
        } else if (key.substr(i, 2) == "\xC5\xBF") {
            folded = 'S';
            i += 2;
        } else if (key.substr(i, 3) == "\xE2\x84\xAA") {
            folded = 'K';
            i += 3;
        } else {
            return false;
        }
        if (folded != up(static_cast<unsigned char>(name[j]))) return false;
        ++j;
    }
    return i == key.size() && j == name.size();
}

// A Go struct view of a JSON object: the value TTS would decode into field `name` (the last key
// that folds to it; an exact match folds too), or nullptr.
class go_object {
public:
    go_object(const ojson& obj, std::string prefix = {}) : obj_(obj), prefix_(std::move(prefix)) {}

    const ojson* find(std::string_view name) const {
        const ojson* found = nullptr;
        for (auto it = obj_.begin(); it != obj_.end(); ++it)
            if (go_fold_equal(it.key(), name)) found = &it.value();
        return found;
    }
    std::string path(std::string_view name) const { return prefix_ + std::string(name); }

    // null or absent -> nullopt (Go leaves the zero value).
    result<std::optional<std::string>> str(std::string_view name) const {
        const auto* v = find(name);
        if (!v || v->is_null()) return std::optional<std::string>{};
        if (!v->is_string()) return type_error(name, "a string", *v);
        return std::optional<std::string>{v->get<std::string>()};
    }
    result<std::int64_t> int64(std::string_view name, std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                               std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
        const auto* v = find(name);
        if (!v || v->is_null()) return std::int64_t{0};
        if (v->is_number_unsigned()) {
            const auto u = v->get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(hi)) return range_error(name, v->dump(), lo, hi);
            return static_cast<std::int64_t>(u);
        }
        if (v->is_number_integer()) {
            const auto n = v->get<std::int64_t>();
            if (n < lo || n > hi) return range_error(name, v->dump(), lo, hi);
            return n;
        }
        return type_error(name, "an integer", *v);
    }
    result<std::uint64_t> uint64(std::string_view name) const {
        const auto* v = find(name);
        if (!v || v->is_null()) return std::uint64_t{0};
        if (v->is_number_unsigned()) return v->get<std::uint64_t>();
        if (v->is_number_integer()) return make_error(tc_errc::bad_value, "{}: {} is negative, want an unsigned integer", path(name), v->dump());
        return type_error(name, "an unsigned integer", *v);
    }
    // float64, or float32 when `single` (Go rejects values beyond the type's range).
    result<double> float64(std::string_view name, bool single = false) const {
        const auto* v = find(name);
        if (!v || v->is_null()) return 0.0;
        if (!v->is_number()) return type_error(name, "a number", *v);
        const double d = v->get<double>();
        if (!std::isfinite(d) || (single && std::fabs(d) > std::numeric_limits<float>::max()))
            return make_error(tc_errc::bad_value, "{}: {} overflows a float{}", path(name), v->dump(), single ? 32 : 64);
        return d;
    }
    // An id6.EUI field: TTS's ID6 parser, which fails on null too (its UnmarshalJSON sees "null").
    result<eui64> eui(std::string_view name) const {
        const auto* v = find(name);
        if (!v) return eui64{};
        auto e = tts_eui_value(*v);
        if (!e) return make_error(tc_errc::bad_value, "{}: {}", path(name), e.err().what());
        return e->eui;
    }
    // A nested struct: null/absent -> nullptr.
    result<const ojson*> object(std::string_view name) const {
        const auto* v = find(name);
        if (!v || v->is_null()) return static_cast<const ojson*>(nullptr);
        if (!v->is_object()) return type_error(name, "an object", *v);
        return v;
    }

    static result<tts_eui> tts_eui_value(const ojson& v) {
        if (v.is_string()) return tts_parse_eui(std::string_view(v.get_ref<const std::string&>()));
        if (v.is_number_unsigned()) return tts_parse_eui(nlohmann::json(v.get<std::uint64_t>()));
        if (v.is_number_integer()) return tts_parse_eui(nlohmann::json(v.get<std::int64_t>()));
        if (v.is_number_float()) return tts_parse_eui(nlohmann::json(v.get<double>()));
        return make_error(eui_errc::tts_format, "JSON {} is neither a string nor an unsigned number", v.type_name());
    }

private:
    error type_error(std::string_view name, std::string_view want, const ojson& got) const {
        return make_error(tc_errc::bad_field_type, "{}: want {}, got {}", path(name), want,
                          got.is_number_float() ? "a fraction/exponent number" : got.type_name());
    }
    error range_error(std::string_view name, const std::string& text, std::int64_t lo, std::int64_t hi) const {
        return make_error(tc_errc::bad_value, "{}: {} not in range [{}..{}]", path(name), text, lo, hi);
    }

    const ojson& obj_;
    std::string prefix_;
};

#define TTIG_TRY(var, expr)                    \
    auto var##_r = (expr);                     \
    if (!var##_r) return std::move(var##_r).err(); \
    auto var = std::move(*var##_r)

constexpr std::int64_t i32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t i32_max = std::numeric_limits<std::int32_t>::max();

// RefTime, DR, Freq, upinfo as TTS reads them (UpInfo: rxtime float64, rtcx int64, xtime int64,
// gpstime int64, rssi float32, snr float32; "rctx" and "fts" are not TTS fields).
result<radio_metadata> tts_radio_metadata(const go_object& o) {
    radio_metadata m;
    TTIG_TRY(ref_time, o.float64("RefTime"));
    TTIG_TRY(dr, o.int64("DR"));
    TTIG_TRY(freq, o.uint64("Freq"));
    m.ref_time = ref_time;
    m.dr = dr;
    m.freq = freq;
    m.upinfo.fts = 0;
    TTIG_TRY(upinfo, o.object("upinfo"));
    if (upinfo) {
        go_object u(*upinfo, "upinfo.");
        TTIG_TRY(rtcx, u.int64("rtcx"));  // TTS's misspelt tag: checked by Go, never used
        (void)rtcx;
        TTIG_TRY(xtime, u.int64("xtime"));
        TTIG_TRY(gpstime, u.int64("gpstime"));
        TTIG_TRY(rssi, u.float64("rssi", true));
        TTIG_TRY(snr, u.float64("snr", true));
        TTIG_TRY(rxtime, u.float64("rxtime"));
        m.upinfo.xtime = xtime;
        m.upinfo.gpstime = gpstime;
        m.upinfo.rssi = rssi;
        m.upinfo.snr = snr;
        m.upinfo.rxtime = rxtime;
        // Not TTS fields: kept when they are integers, any other value is ignored as TTS does.
        if (const auto* r = u.find("rctx"); r && r->is_number_integer()) m.upinfo.rctx = r->get<std::int64_t>();
        if (const auto* f = u.find("fts"); f && f->is_number_integer()) m.upinfo.fts = f->get<std::int64_t>();
    }
    return m;
}

void write_radio_metadata(object_writer& w, const radio_metadata& m) {
    const auto& u = m.upinfo;
    std::string up = std::move(object_writer{}
                                   .num("rctx", u.rctx)
                                   .num("xtime", u.xtime)
                                   .num("gpstime", u.gpstime)
                                   .num("fts", u.fts)
                                   .raw("rssi", station_int_text(u.rssi))
                                   .raw("snr", station_g_text(u.snr))
                                   .raw("rxtime", station_time_text(u.rxtime)))
                         .done();
    w.raw("RefTime", station_time_text(m.ref_time)).num("DR", m.dr).num("Freq", m.freq).raw("upinfo", up);
}

result<upstream_message> tts_version(const go_object& o) {
    version_msg m;
    TTIG_TRY(station, o.str("station"));
    TTIG_TRY(firmware, o.str("firmware"));
    TTIG_TRY(package, o.str("package"));
    TTIG_TRY(model, o.str("model"));
    TTIG_TRY(protocol, o.int64("protocol"));
    TTIG_TRY(features, o.str("features"));
    m.station = station.value_or("");
    m.firmware = std::move(firmware);
    m.package = std::move(package);
    m.model = model.value_or("");
    m.protocol = protocol;
    m.features = features.value_or("");
    return upstream_message{std::move(m)};
}

result<upstream_message> tts_jreq(const go_object& o) {
    jreq_msg m;
    TTIG_TRY(mhdr, o.uint64("MHdr"));
    TTIG_TRY(join_eui, o.eui("JoinEui"));
    TTIG_TRY(dev_eui, o.eui("DevEui"));
    TTIG_TRY(dev_nonce, o.uint64("DevNonce"));
    TTIG_TRY(mic, o.int64("MIC", i32_min, i32_max));
    TTIG_TRY(meta, tts_radio_metadata(o));
    m.mhdr = mhdr;
    m.join_eui = join_eui;
    m.dev_eui = dev_eui;
    m.dev_nonce = dev_nonce;
    m.mic = static_cast<std::int32_t>(mic);
    m.meta = meta;
    return upstream_message{std::move(m)};
}

result<upstream_message> tts_updf(const go_object& o) {
    updf_msg m;
    TTIG_TRY(mhdr, o.uint64("MHdr"));
    TTIG_TRY(dev_addr, o.int64("DevAddr", i32_min, i32_max));
    TTIG_TRY(fctrl, o.uint64("FCtrl"));
    TTIG_TRY(fcnt, o.uint64("FCnt"));  // TTS's tag "Fcnt"; the fold makes them equal
    TTIG_TRY(fopts, o.str("FOpts"));
    TTIG_TRY(fport, o.int64("FPort"));
    TTIG_TRY(frm_payload, o.str("FRMPayload"));
    TTIG_TRY(mic, o.int64("MIC", i32_min, i32_max));
    TTIG_TRY(meta, tts_radio_metadata(o));
    m.mhdr = mhdr;
    m.dev_addr = static_cast<std::int32_t>(dev_addr);
    m.fctrl = fctrl;
    m.fcnt = fcnt;
    m.fopts = fopts.value_or("");
    m.fport = fport;
    m.frm_payload = frm_payload.value_or("");
    m.mic = static_cast<std::int32_t>(mic);
    m.meta = meta;
    return upstream_message{std::move(m)};
}

// TTS does not decode propdf at all (it only logs it); the fields are read with the updf rules.
result<upstream_message> tts_propdf(const go_object& o) {
    propdf_msg m;
    TTIG_TRY(frm_payload, o.str("FRMPayload"));
    TTIG_TRY(meta, tts_radio_metadata(o));
    m.frm_payload = frm_payload.value_or("");
    m.meta = meta;
    return upstream_message{std::move(m)};
}

// TxConfirmation: diid int64, DevEui id6.EUI, rctx int64, xtime int64, txtime float64, gpstime
// int64. seqno, DR and Freq are not TTS fields: kept when they are integers.
result<upstream_message> tts_dntxed(const go_object& o) {
    dntxed_msg m;
    TTIG_TRY(diid, o.int64("diid"));
    TTIG_TRY(dev_eui, o.eui("DevEui"));
    TTIG_TRY(rctx, o.int64("rctx"));
    TTIG_TRY(xtime, o.int64("xtime"));
    TTIG_TRY(txtime, o.float64("txtime"));
    TTIG_TRY(gpstime, o.int64("gpstime"));
    m.diid = diid;
    m.dev_eui = dev_eui;
    m.rctx = rctx;
    m.xtime = xtime;
    m.txtime = txtime;
    m.gpstime = gpstime;
    if (const auto* v = o.find("seqno"); v && v->is_number_integer()) m.seqno = v->get<std::int64_t>();
    if (const auto* v = o.find("DR"); v && v->is_number_integer()) m.dr = v->get<std::int64_t>();
    if (const auto* v = o.find("Freq"); v && v->is_number_unsigned()) m.freq = v->get<std::uint64_t>();
    return upstream_message{std::move(m)};
}

result<upstream_message> tts_timesync(const go_object& o) {
    TTIG_TRY(txtime, o.float64("txtime"));
    return upstream_message{timesync_request{txtime}};
}

// ---- Go net.SplitHostPort / JoinHostPort -------------------------------------------------------

bool go_split_host_port(std::string_view hp, std::string_view& host, std::string_view& port) {
    const auto i = hp.rfind(':');
    if (i == std::string_view::npos) return false;
    std::size_t j = 0, k = 0;
    if (hp[0] == '[') {
        const auto end = hp.find(']');
        if (end == std::string_view::npos) return false;
        if (end + 1 == hp.size() || end + 1 != i) return false;
        host = hp.substr(1, end - 1);
        j = 1;
        k = end + 1;
    } else {
        host = hp.substr(0, i);
        if (host.find(':') != std::string_view::npos) return false;
    }
    if (hp.substr(j).find('[') != std::string_view::npos) return false;
    if (hp.substr(k).find(']') != std::string_view::npos) return false;
    port = hp.substr(i + 1);
    return true;
}

std::string go_join_host_port(std::string_view host, std::string_view port) {
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

// ---- station-side checks -----------------------------------------------------------------------

// BS tc.c: uri_isScheme ws|wss, length < MAX_URI_LEN (128), uri_parse with port and path.
result<void> station_check_muxs_uri(std::string_view uri) {
    auto bad = [&](std::string_view why) {
        return make_error(tc_errc::bad_uri, "uri '{}': {}", uri.substr(0, 160), why);
    };
    auto icase_prefix = [&](std::string_view p) {
        if (uri.size() < p.size()) return false;
        for (std::size_t i = 0; i < p.size(); ++i) {
            char c = uri[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c != p[i]) return false;
        }
        return true;
    };
    if (!(icase_prefix("ws:") || icase_prefix("wss:"))) return bad("must be ws://.. or wss://..");
    if (uri.size() + 1 > 128) return bad(fmt::format("{} bytes, the station allows at most 127", uri.size()));
    // uri_parse: the scheme ends at the first ':', which must be followed by "//".
    const auto colon = uri.find(':');
    if (uri.substr(colon + 1, 2) != "//") return bad("no '//' after the scheme");
    std::string_view rest = uri.substr(colon + 3);
    // NUL ends the station's C string.
    if (auto nul = rest.find('\0'); nul != std::string_view::npos) rest = rest.substr(0, nul);
    std::size_t pos = 0;
    if (!rest.empty() && rest[0] == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return bad("unterminated IPv6 host");
        if (close == 1) return bad("empty host");
        pos = close + 1;
    } else {
        while (pos < rest.size() && rest[pos] != ':' && rest[pos] != '/') ++pos;
        if (pos == 0) return bad("empty host");
    }
    if (pos >= rest.size() || rest[pos] != ':') return bad("no port (the station needs an explicit port)");
    const auto port_beg = ++pos;
    while (pos < rest.size() && rest[pos] != '/') ++pos;
    if (pos == port_beg) return bad("empty port");
    if (pos >= rest.size()) return bad("no path (the station needs one, e.g. /traffic/...)");
    return {};
}

// BS uj_eui: a JSON integer (its bits), or hex byte pairs each optionally followed by '-'.
result<eui64> station_eui(const ojson& v, std::string_view field) {
    if (v.is_number_unsigned()) return eui64{v.get<std::uint64_t>()};
    if (v.is_number_integer()) return eui64{static_cast<std::uint64_t>(v.get<std::int64_t>())};
    if (!v.is_string()) return make_error(tc_errc::bad_field_type, "{}: expecting a string value with an EUI, got {}", field, v.type_name());
    const auto& s = v.get_ref<const std::string&>();
    auto digit = [&](std::size_t i) -> int {
        if (i >= s.size()) return -1;
        const char c = s[i];
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::uint64_t eui = 0;
    for (std::size_t i = 0; i < s.size(); i += 2) {
        const int hi = digit(i), lo = digit(i + 1);
        if (hi < 0 || lo < 0) return make_error(tc_errc::bad_value, "{}: EUI contains illegal hex characters: '{}'", field, s.substr(i, 2));
        if (i + 2 < s.size() && s[i + 2] == '-') ++i;
        eui = eui << 8 | static_cast<std::uint64_t>(hi << 4 | lo);
    }
    return eui64{eui};
}

result<int> station_dr(const ojson& v, std::string_view field, const router_config* active) {
    TTIG_TRY(dr, station_int(v, field));
    const bool undefined = dr < 0 || dr >= 16 || (active && active->drs[static_cast<std::size_t>(dr)].sf < 0);
    if (undefined)
        return make_error(tc_errc::bad_value, "{}: illegal datarate value: {} for region {}", field, dr,
                          active ? active->station_region : std::string("(none)"));
    return static_cast<int>(dr);
}

result<std::uint32_t> station_freq(const ojson& v, std::string_view field, const router_config* active) {
    TTIG_TRY(freq, station_int(v, field));
    const std::int64_t lo = active ? static_cast<std::int64_t>(std::min<std::uint64_t>(active->freq_range[0], INT64_MAX)) : 0;
    const std::int64_t hi = active ? static_cast<std::int64_t>(std::min<std::uint64_t>(active->freq_range[1], UINT32_MAX)) : UINT32_MAX;
    if (freq < lo || freq > hi)
        return make_error(tc_errc::bad_value, "{}: illegal frequency value: {} - not in range {}..{}", field, freq, lo, hi);
    return static_cast<std::uint32_t>(freq);
}

result<bytes> station_pdu(const ojson& v) {
    TTIG_TRY(s, station_str(v, "pdu"));
    if (s.size() / 2 > 255) return make_error(tc_errc::bad_value, "pdu: TX pdu too large ({} bytes), maximum is 255 bytes", s.size() / 2);
    if (s.size() % 2 != 0) return make_error(tc_errc::bad_value, "pdu: hex string has odd number of characters");
    bytes out;
    if (!from_hex(s, out)) return make_error(tc_errc::bad_value, "pdu: hex string contains illegal characters");
    return out;
}

// BS handle_dnmsg.
result<downstream_message> station_dnmsg(const ojson& obj, const router_config* active) {
    dnmsg m;
    m.dev_eui = eui64{};
    m.priority = 0;
    unsigned flags = 0;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& k = it.key();
        const ojson& v = it.value();
        if (k == "msgtype" || k == "dnmode") continue;
        if (k == "DevEui" || k == "DevEUI") {
            TTIG_TRY(e, station_eui(v, k));
            m.dev_eui = e;
            flags |= 0x01;
        } else if (k == "dC") {
            TTIG_TRY(dc, station_int_range(v, k, 0, 2));
            m.dc = static_cast<int>(dc);
            flags |= 0x02;
        } else if (k == "diid" || k == "seqno") {
            TTIG_TRY(d, station_int(v, k));
            m.diid = d;
            flags |= 0x04;
        } else if (k == "pdu") {
            TTIG_TRY(p, station_pdu(v));
            m.pdu = std::move(p);
            flags |= 0x08;
        } else if (k == "RxDelay") {
            TTIG_TRY(d, station_int_range(v, k, 0, 15));
            m.rx_delay = static_cast<int>(d);
            flags |= 0x10;
        } else if (k == "priority") {
            TTIG_TRY(p, station_int_range(v, k, 0, 255));
            m.priority = static_cast<int>(p);
        } else if (k == "xtime") {
            TTIG_TRY(x, station_int(v, k));
            m.xtime = x;
        } else if (k == "DR" || k == "RX1DR") {
            TTIG_TRY(dr, station_dr(v, k, active));
            (k == "DR" ? m.dr : m.rx1_dr) = dr;
            flags |= 0x100 | (k == "DR" ? 0x10 : 0);
        } else if (k == "Freq" || k == "RX1Freq") {
            TTIG_TRY(f, station_freq(v, k, active));
            (k == "Freq" ? m.freq : m.rx1_freq) = f;
            flags |= 0x200;
        } else if (k == "RX2DR") {
            TTIG_TRY(dr, station_dr(v, k, active));
            m.rx2_dr = dr;
            flags |= 0x400;
        } else if (k == "RX2Freq") {
            TTIG_TRY(f, station_freq(v, k, active));
            m.rx2_freq = f;
            flags |= 0x800;
        } else if (k == "MuxTime") {
            TTIG_TRY(t, station_num(v, k));
            m.mux_time = t;
        } else if (k == "rctx") {
            TTIG_TRY(r, station_int(v, k));
            m.rctx = r;
        } else if (k == "gpstime") {
            TTIG_TRY(g, station_uint(v, k));
            m.gpstime = g;
        } else if (k == "preamble" || k == "addcrc") {
            TTIG_TRY(u, station_uint(v, k));
            (void)u;
        }
        // other keys: "Unknown field in dnmsg - ignored"
    }
    static constexpr std::pair<unsigned, std::string_view> mandatory[] = {
        {0x01, "DevEui"}, {0x02, "dC"}, {0x04, "diid"}, {0x08, "pdu"}};
    for (const auto& [bit, name] : mandatory)
        if (!(flags & bit)) return make_error(tc_errc::missing_field, "dnmsg: {} is mandatory", name);
    if (((flags >> 8) & 3) == 1) return make_error(tc_errc::missing_field, "dnmsg: RX1Freq: RX1DR/DR given without RX1Freq/Freq");
    if (((flags >> 8) & 3) == 2) return make_error(tc_errc::missing_field, "dnmsg: RX1DR: RX1Freq/Freq given without RX1DR/DR");
    if (((flags >> 10) & 3) == 1) return make_error(tc_errc::missing_field, "dnmsg: RX2Freq: RX2DR given without RX2Freq");
    if (((flags >> 10) & 3) == 2) return make_error(tc_errc::missing_field, "dnmsg: RX2DR: RX2Freq given without RX2DR");
    return downstream_message{std::move(m)};
}

// BS handle_timesync.
result<downstream_message> station_timesync(const ojson& obj) {
    timesync_response t;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& k = it.key();
        if (k == "xtime") {
            TTIG_TRY(x, station_int(it.value(), k));
            t.xtime = x;
        } else if (k == "txtime") {
            TTIG_TRY(x, station_int(it.value(), k));
            t.txtime = static_cast<double>(x);
        } else if (k == "gpstime") {
            TTIG_TRY(g, station_int(it.value(), k));
            t.gpstime = g;
        } else if (k == "MuxTime") {
            TTIG_TRY(m, station_num(it.value(), k));
            t.mux_time = m;
        }
    }
    return downstream_message{t};
}

// msgtype: absent or null -> missing, not a string -> bad type.
result<std::string> msgtype_of(const ojson* v) {
    if (!v || v->is_null()) return make_error(tc_errc::missing_msgtype);
    if (!v->is_string()) return make_error(tc_errc::bad_field_type, "msgtype: want a string, got {}", v->type_name());
    return v->get<std::string>();
}

}  // namespace

// ---- discovery ---------------------------------------------------------------------------------

std::string encode_router_info_request(const router_info_request& r) {
    std::string router = r.prefix.empty() ? station_id6(r.eui) : fmt::format("{}-{}", r.prefix, station_id6(r.eui));
    return std::move(object_writer{}.raw("router", station_json_string(router))).done();
}

result<router_info_request> decode_router_info_request(std::string_view text) {
    const std::string parse_error(tts_discovery_parse_error);
    auto j = ojson::parse(text, nullptr, false);
    if (j.is_discarded()) return make_error(tc_errc::bad_json, parse_error);
    // Go: json.Unmarshal of "null" into a struct is a no-op, so the EUI stays zero.
    if (j.is_null()) return make_error(tc_errc::empty_router, std::string(tts_discovery_empty_eui));
    if (!j.is_object()) return make_error(tc_errc::not_object, parse_error);
    go_object o(j);
    router_info_request r;
    if (const auto* v = o.find("router")) {
        // id6.EUI.UnmarshalJSON sees the raw "null" too, and rejects it.
        if (v->is_null() || v->is_object() || v->is_array() || v->is_boolean())
            return make_error(tc_errc::bad_router, parse_error);
        auto e = go_object::tts_eui_value(*v);
        if (!e) return make_error(tc_errc::bad_router, parse_error);
        r.eui = e->eui;
        r.prefix = e->prefix;
    }
    if (r.eui.is_zero()) return make_error(tc_errc::empty_router, std::string(tts_discovery_empty_eui));
    return r;
}

router_info_response tts_router_info_response(const router_info_request& request, std::string uri) {
    return {tts_id6(request.eui, request.prefix), tts_id6(eui64{}, "muxs"), std::move(uri), {}};
}

router_info_response tts_router_info_error(std::string message) {
    return {tts_id6(eui64{}), tts_id6(eui64{}), {}, std::move(message)};
}

std::string encode_router_info_response(const router_info_response& r) {
    object_writer w;
    w.raw("router", go_json_string(r.router)).raw("muxs", go_json_string(r.muxs));
    if (!r.uri.empty()) w.raw("uri", go_json_string(r.uri));
    if (!r.error.empty()) w.raw("error", go_json_string(r.error));
    return std::move(w).done();
}

result<router_info_response> decode_router_info_response(std::string_view text) {
    TTIG_TRY(obj, parse_object(text));
    router_info_response r;
    bool has_uri = false, has_error = false;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& k = it.key();
        if (k != "router" && k != "muxs" && k != "error" && k != "uri") continue;  // warned, ignored
        TTIG_TRY(s, station_str(it.value(), k));
        if (k == "router") {
            r.router = std::move(s);
        } else if (k == "muxs") {
            r.muxs = std::move(s);
        } else if (k == "error") {
            r.error = std::move(s);
            has_error = true;
        } else {
            auto ok = station_check_muxs_uri(s);
            if (!ok) return std::move(ok).err();
            r.uri = std::move(s);
            has_uri = true;
        }
    }
    if (has_error) return make_error(tc_errc::infos_rejected, r.error);
    if (!has_uri) return make_error(tc_errc::infos_rejected, "no uri");
    return r;
}

std::string tts_traffic_uri(std::string_view scheme, std::string_view host_header, eui64 eui) {
    std::string_view host = host_header, port = scheme == "wss" ? "443" : "80";
    std::string_view h, p;
    if (go_split_host_port(host_header, h, p)) {
        host = h;
        port = p;
    }
    return fmt::format("{}://{}/traffic/eui-{}", scheme, go_join_host_port(host, port), eui.hex());
}

// ---- upstream ----------------------------------------------------------------------------------

bool is_production(const version_msg& v) noexcept { return v.features.find("prod") != std::string::npos; }

std::string encode_upstream(const version_msg& m) {
    auto nullable = [](const std::optional<std::string>& s) { return s ? station_json_string(*s) : std::string("null"); };
    return std::move(object_writer{}
                         .raw("msgtype", "\"version\"")
                         .raw("station", station_json_string(m.station))
                         .raw("firmware", nullable(m.firmware))
                         .raw("package", nullable(m.package))
                         .raw("model", station_json_string(m.model))
                         .num("protocol", m.protocol)
                         .raw("features", station_json_string(m.features)))
        .done();
}

std::string encode_upstream(const jreq_msg& m) {
    object_writer w;
    w.raw("msgtype", "\"jreq\"")
        .num("MHdr", m.mhdr)
        .raw("JoinEui", station_json_string(dashed(m.join_eui)))
        .raw("DevEui", station_json_string(dashed(m.dev_eui)))
        .num("DevNonce", m.dev_nonce)
        .num("MIC", m.mic);
    write_radio_metadata(w, m.meta);
    return std::move(w).done();
}

std::string encode_upstream(const updf_msg& m) {
    object_writer w;
    w.raw("msgtype", "\"updf\"")
        .num("MHdr", m.mhdr)
        .num("DevAddr", m.dev_addr)
        .num("FCtrl", m.fctrl)
        .num("FCnt", m.fcnt)
        .raw("FOpts", station_json_string(m.fopts))
        .num("FPort", m.fport)
        .raw("FRMPayload", station_json_string(m.frm_payload))
        .num("MIC", m.mic);
    write_radio_metadata(w, m.meta);
    return std::move(w).done();
}

std::string encode_upstream(const propdf_msg& m) {
    object_writer w;
    w.raw("msgtype", "\"propdf\"").raw("FRMPayload", station_json_string(m.frm_payload));
    write_radio_metadata(w, m.meta);
    return std::move(w).done();
}

std::string encode_upstream(const dntxed_msg& m) {
    return std::move(object_writer{}
                         .raw("msgtype", "\"dntxed\"")
                         .num("seqno", m.seqno)
                         .num("diid", m.diid)
                         .num("DR", m.dr)
                         .num("Freq", m.freq)
                         .raw("DevEui", station_json_string(dashed(m.dev_eui)))
                         .num("rctx", m.rctx)
                         .num("xtime", m.xtime)
                         .raw("txtime", station_time_text(m.txtime))
                         .num("gpstime", m.gpstime))
        .done();
}

std::string encode_upstream(const timesync_request& m) {
    return std::move(object_writer{}.raw("msgtype", "\"timesync\"").raw("txtime", station_int_text(m.txtime))).done();
}

std::string encode_upstream(const ignored_message& m) {
    return std::move(object_writer{}.raw("msgtype", station_json_string(m.msgtype))).done();
}

std::string encode_upstream(const upstream_message& m) {
    return std::visit([](const auto& x) { return encode_upstream(x); }, m);
}

result<upstream_message> decode_upstream(std::string_view text) {
    TTIG_TRY(obj, parse_object(text));
    go_object o(obj);
    TTIG_TRY(type, msgtype_of(o.find("msgtype")));
    if (type == "version") return tts_version(o);
    if (type == "jreq") return tts_jreq(o);
    if (type == "updf") return tts_updf(o);
    if (type == "propdf") return tts_propdf(o);
    if (type == "dntxed") return tts_dntxed(o);
    if (type == "timesync") return tts_timesync(o);
    return upstream_message{ignored_message{std::move(type)}};
}

// ---- downstream --------------------------------------------------------------------------------

std::int64_t tts_class_a_xtime(std::int64_t last_upstream_xtime, std::int64_t concentrator_us) noexcept {
    constexpr std::uint64_t low48 = 0xFFFFFFFFFFFFull;
    const auto session = static_cast<std::uint64_t>(last_upstream_xtime) & ~low48;
    const auto x = session | (static_cast<std::uint64_t>(concentrator_us) & low48);
    return static_cast<std::int64_t>(x - 1000000u);
}

timesync_response tts_timesync_reply(const timesync_request& request, std::int64_t gpstime_us, double mux_time) {
    return {request.txtime, 0, gpstime_us, mux_time};
}

timesync_response tts_timesync_transfer(double mux_time, std::int64_t xtime, std::int64_t gpstime) {
    return {0, xtime, gpstime, mux_time};
}

std::string encode_downstream(const dnmsg& m) {
    object_writer w;
    w.raw("msgtype", "\"dnmsg\"")
        .raw("DevEui", go_json_string(m.dev_eui.dashed()))
        .num("dC", m.dc)
        .num("diid", m.diid)
        .raw("pdu", go_json_string(to_hex(m.pdu)))
        .num("priority", m.priority)
        .num("rctx", m.rctx)
        .raw("MuxTime", go_float_text(m.mux_time));
    if (m.rx_delay) w.num("RxDelay", *m.rx_delay);
    if (m.rx1_dr) w.num("RX1DR", *m.rx1_dr);
    if (m.rx1_freq) w.num("RX1Freq", *m.rx1_freq);
    if (m.xtime) w.num("xtime", *m.xtime);
    if (m.dr) w.num("DR", *m.dr);
    if (m.freq) w.num("Freq", *m.freq);
    if (m.gpstime) w.num("gpstime", *m.gpstime);
    if (m.rx2_dr) w.num("RX2DR", *m.rx2_dr);
    if (m.rx2_freq) w.num("RX2Freq", *m.rx2_freq);
    return std::move(w).done();
}

std::string encode_downstream(const timesync_response& m) {
    object_writer w;
    w.raw("msgtype", "\"timesync\"");
    if (m.txtime != 0) w.raw("txtime", go_float_text(m.txtime));
    if (m.xtime != 0) w.num("xtime", m.xtime);
    w.num("gpstime", m.gpstime);
    if (m.mux_time != 0) w.raw("MuxTime", go_float_text(m.mux_time));
    return std::move(w).done();
}

std::string encode_downstream(const ignored_message& m) {
    return std::move(object_writer{}.raw("msgtype", go_json_string(m.msgtype))).done();
}

std::string encode_downstream(const router_config& m) { return encode_router_config(m); }

std::string encode_downstream(const downstream_message& m) {
    return std::visit([](const auto& x) { return encode_downstream(x); }, m);
}

// GCC 12 at -O2 reports a false -Wmaybe-uninitialized inside std::variant's destructor (the dnmsg
// alternative's vector) for the router_config branch below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
result<downstream_message> decode_downstream(std::string_view text, const router_config* active) {
    TTIG_TRY(obj, parse_object(text));
    const auto it = obj.find("msgtype");
    TTIG_TRY(type, msgtype_of(it == obj.end() ? nullptr : &*it));
    if (type == "router_config") {
        TTIG_TRY(rc, decode_router_config(text));
        return downstream_message{std::move(rc)};
    }
    if (type == "dnmsg") {
        // s2e_onMsg drops dnmsg before parsing it while no usable router_config is in force.
        if (active && !active->region_recognised)
            return make_error(tc_errc::unknown_region, "dnmsg dropped: region '{}' not recognised by the station", active->region);
        return station_dnmsg(obj, active);
    }
    if (type == "timesync") return station_timesync(obj);
    return downstream_message{ignored_message{std::move(type)}};
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace ttig::proto
