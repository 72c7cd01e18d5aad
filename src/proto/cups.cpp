#include <ttig/proto/cups.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ttig::proto {

// ---- request ------------------------------------------------------------------------------------

std::string encode_update_info_request(const update_info_request& r) {
    nlohmann::ordered_json j;
    auto nullable = [](const std::optional<std::string>& s) {
        return s ? nlohmann::ordered_json(*s) : nlohmann::ordered_json(nullptr);
    };
    j["router"] = station_id6(r.router);
    j["cupsUri"] = nullable(r.cups_uri);
    j["tcUri"] = nullable(r.tc_uri);
    j["cupsCredCrc"] = r.cups_cred_crc;
    j["tcCredCrc"] = r.tc_cred_crc;
    j["station"] = r.station;
    j["model"] = r.model;
    j["package"] = nullable(r.package);
    j["keys"] = nlohmann::ordered_json::array();
    for (auto k : r.keys) j["keys"].push_back(k);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lx = static_cast<char>(x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x);
               auto ly = static_cast<char>(y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
               return lx == ly;
           });
}

// Go encoding/json field matching: an exact key wins, else the last case-insensitive match.
const nlohmann::json* find_field(const nlohmann::json& obj, std::string_view name) {
    if (auto it = obj.find(std::string(name)); it != obj.end()) return &*it;
    const nlohmann::json* found = nullptr;
    for (auto it = obj.begin(); it != obj.end(); ++it)
        if (iequals(it.key(), name)) found = &it.value();
    return found;
}

result<std::optional<std::string>> tts_string(const nlohmann::json& obj, std::string_view name) {
    const auto* v = find_field(obj, name);
    if (!v || v->is_null()) return std::optional<std::string>{};
    if (!v->is_string()) return make_error(cups_errc::bad_field_type, "{} is a JSON {}, want a string", name, v->type_name());
    return std::optional<std::string>{v->get<std::string>()};
}

result<std::uint32_t> tts_crc(const nlohmann::json* v, std::string_view name) {
    if (!v || v->is_null()) return std::uint32_t{0};
    if (v->is_number_unsigned()) {
        auto n = v->get<std::uint64_t>();
        if (n > 0xFFFFFFFFu) return make_error(cups_errc::bad_crc, "{} = {} exceeds 32 bits", name, n);
        return static_cast<std::uint32_t>(n);
    }
    if (v->is_number_integer()) return make_error(cups_errc::bad_crc, "{} = {} is negative", name, v->get<std::int64_t>());
    if (v->is_number_float()) return make_error(cups_errc::bad_crc, "{} = {} is not an integer", name, v->dump());
    return make_error(cups_errc::bad_crc, "{} is a JSON {}, want an unsigned number", name, v->type_name());
}

}  // namespace

result<update_info_request> tts_decode_update_info_request(std::string_view body) {
    // Go's json.Decoder reads the first JSON value and ignores what follows it; a null document
    // leaves the struct at its zero value.
    nlohmann::json j;
    nlohmann::detail::json_sax_dom_parser<nlohmann::json> sax(j, false);
    const bool parsed = nlohmann::json::sax_parse(body.begin(), body.end(), &sax, nlohmann::json::input_format_t::json, /*strict=*/false);
    if (!parsed || j.is_discarded()) return make_error(cups_errc::bad_json, "{} bytes", body.size());
    if (j.is_null()) j = nlohmann::json::object();
    if (!j.is_object()) return make_error(cups_errc::not_object, "got a JSON {}", j.type_name());
    update_info_request r;
    if (const auto* router = find_field(j, "router")) {
        auto e = tts_parse_eui(*router);
        if (!e) return make_error(cups_errc::bad_router, "router {}: {}", router->dump(), e.err().what());
        r.router = e->eui;
    }
    for (auto [name, dst] : {std::pair{"cupsUri", &r.cups_uri}, std::pair{"tcUri", &r.tc_uri}, std::pair{"package", &r.package}}) {
        auto s = tts_string(j, name);
        if (!s) return std::move(s).err();
        *dst = std::move(*s);
    }
    for (auto [name, dst] : {std::pair{"station", &r.station}, std::pair{"model", &r.model}}) {
        auto s = tts_string(j, name);
        if (!s) return std::move(s).err();
        *dst = s->value_or("");
    }
    for (auto [name, dst] : {std::pair{"cupsCredCrc", &r.cups_cred_crc}, std::pair{"tcCredCrc", &r.tc_cred_crc}}) {
        auto c = tts_crc(find_field(j, name), name);
        if (!c) return std::move(c).err();
        *dst = *c;
    }
    if (const auto* keys = find_field(j, "keys"); keys && !keys->is_null()) {
        if (!keys->is_array()) return make_error(cups_errc::bad_field_type, "keys is a JSON {}, want an array", keys->type_name());
        for (std::size_t i = 0; i < keys->size(); ++i) {
            auto c = tts_crc(&(*keys)[i], fmt::format("keys[{}]", i));
            if (!c) return std::move(c).err();
            r.keys.push_back(*c);
        }
    }
    // Checked after decoding, as TTS does: a body that fails to decode is a parse error first.
    if (r.router.is_zero()) return make_error(cups_errc::missing_router);
    return r;
}

std::string station_update_info_http(std::string_view host_port, std::string_view body, std::string_view token_lines) {
    return fmt::format("POST /update-info HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {:>5}\r\n{}\r\n{}",
                       host_port, body.size(), token_lines, body);
}

result<host_port_uri> station_check_uri(std::string_view uri, std::initializer_list<std::string_view> schemes) {
    auto bad = [&](std::string_view why) {
        return make_error(cups_errc::bad_uri, "'{}': {}", uri.substr(0, 160), why);
    };
    if (uri.size() >= 128) return bad(fmt::format("{} bytes, the station allows at most 127", uri.size()));
    auto sep = uri.find("://");
    if (sep == std::string_view::npos) return bad("no scheme");
    host_port_uri out;
    for (char c : uri.substr(0, sep)) out.scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (std::find(schemes.begin(), schemes.end(), out.scheme) == schemes.end()) return bad(fmt::format("scheme '{}' not accepted", out.scheme));
    std::string_view rest = uri.substr(sep + 3);
    if (rest.find('/') != std::string_view::npos) return bad("a path is not allowed (not even '/')");
    std::string_view host, port;
    if (rest.starts_with('[')) {
        auto close = rest.find(']');
        if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
        host = rest.substr(1, close - 1);
        rest = rest.substr(close + 1);
        if (!rest.starts_with(':')) return bad("port is mandatory");
        port = rest.substr(1);
    } else {
        auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) return bad("port is mandatory");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return bad("empty host");
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || p == 0 || p > 65535)
        return bad(fmt::format("port '{}' is not a number 1..65535", port));
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(p);
    return out;
}

std::string tts_address::host_port() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string tts_address::uri() const { return fmt::format("{}://{}", scheme, host_port()); }

namespace {
// Go net.SplitHostPort: "host:port", "[v6]:port"; fails on "a:b:c" without brackets.
bool go_split_host_port(std::string_view in, std::string& host, std::string& port) {
    if (in.starts_with('[')) {
        auto close = in.find(']');
        if (close == std::string_view::npos || close + 1 >= in.size() || in[close + 1] != ':') return false;
        host = std::string(in.substr(1, close - 1));
        port = std::string(in.substr(close + 2));
        return port.find(':') == std::string::npos;
    }
    auto colon = in.rfind(':');
    if (colon == std::string_view::npos) return false;
    if (in.substr(0, colon).find(':') != std::string_view::npos) return false;  // too many colons
    host = std::string(in.substr(0, colon));
    port = std::string(in.substr(colon + 1));
    return true;
}
}  // namespace

result<tts_address> tts_parse_address(std::string_view default_scheme, std::string_view address) {
    tts_address out;
    if (address.empty()) return out;
    for (char c : address)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            return make_error(cups_errc::bad_uri, "address contains a control character (net/url: invalid control character in URL)");
    std::string_view hostport = address;
    if (auto sep = address.find("://"); sep != std::string_view::npos) {
        std::string_view scheme = address.substr(0, sep);
        const bool scheme_ok = !scheme.empty() && std::isalpha(static_cast<unsigned char>(scheme[0])) &&
                               std::all_of(scheme.begin(), scheme.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; });
        if (!scheme_ok) return make_error(cups_errc::bad_uri, "address '{}': missing protocol scheme", address.substr(0, 160));
        for (char c : scheme) out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view rest = address.substr(sep + 3);
        hostport = rest.substr(0, rest.find_first_of("/?#"));
        if (auto at = hostport.rfind('@'); at != std::string_view::npos) hostport.remove_prefix(at + 1);
        // url.Parse validates a port after the host: digits only.
        std::string_view port_part;
        if (hostport.starts_with('[')) {
            auto close = hostport.find(']');
            if (close == std::string_view::npos) return make_error(cups_errc::bad_uri, "address '{}': missing ']' in host", address.substr(0, 160));
            port_part = hostport.substr(close + 1);
        } else if (auto colon = hostport.find(':'); colon != std::string_view::npos) {
            port_part = hostport.substr(colon);
        }
        if (!port_part.empty() && (port_part[0] != ':' ||
                                   !std::all_of(port_part.begin() + 1, port_part.end(), [](char c) { return c >= '0' && c <= '9'; })))
            return make_error(cups_errc::bad_uri, "address '{}': invalid port \"{}\" after host", address.substr(0, 160), port_part);
    }
    if (hostport.find(':') != std::string_view::npos) {
        if (!go_split_host_port(hostport, out.host, out.port)) {
            out.host = std::string(hostport);
            out.port.clear();
        }
    } else {
        out.host = std::string(hostport);
    }
    if (out.scheme.empty()) out.scheme = std::string(default_scheme);
    if (out.port.empty()) {
        if (out.scheme == "http") out.port = "80";
        else if (out.scheme == "ws") out.port = "1887";
        else if (out.scheme == "https") out.port = "443";
        else if (out.scheme == "wss") out.port = "8887";
    }
    return out;
}

// ---- response encode ------------------------------------------------------------------------------

std::string_view to_string(cups_dialect d) noexcept { return d == cups_dialect::tts ? "tts" : "station"; }

namespace {
void put_le(bytes& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
}  // namespace

result<bytes> encode_update_info_response(const update_info_response& r, cups_dialect d) {
    // TTS's field names in its field_length error are the Go struct field names.
    // TTS's field_length message: "length of `{field}` (`{length}`) exceeds maximum `{maximum}`".
    if (r.cups_uri.size() > 255) return make_error(cups_errc::field_length, "length of `cupsUri` (`{}`) exceeds maximum `255`", r.cups_uri.size());
    if (r.tc_uri.size() > 255) return make_error(cups_errc::field_length, "length of `tcUri` (`{}`) exceeds maximum `255`", r.tc_uri.size());
    if (r.cups_cred.size() > 0xFFFF)
        return make_error(cups_errc::field_length, "length of `cupsCred` (`{}`) exceeds maximum `65535`", r.cups_cred.size());
    if (r.tc_cred.size() > 0xFFFF)
        return make_error(cups_errc::field_length, "length of `tcCred` (`{}`) exceeds maximum `65535`", r.tc_cred.size());
    if (d == cups_dialect::station && r.sig.size() > 128)
        return make_error(cups_errc::field_length, "signature of {} bytes exceeds the station's 128", r.sig.size());
    bytes out;
    out.reserve(18 + r.cups_uri.size() + r.tc_uri.size() + r.cups_cred.size() + r.tc_cred.size() + r.sig.size() + r.update.size());
    out.push_back(static_cast<std::uint8_t>(r.cups_uri.size()));
    out.insert(out.end(), r.cups_uri.begin(), r.cups_uri.end());
    out.push_back(static_cast<std::uint8_t>(r.tc_uri.size()));
    out.insert(out.end(), r.tc_uri.begin(), r.tc_uri.end());
    put_le(out, r.cups_cred.size(), 2);
    out.insert(out.end(), r.cups_cred.begin(), r.cups_cred.end());
    put_le(out, r.tc_cred.size(), 2);
    out.insert(out.end(), r.tc_cred.begin(), r.tc_cred.end());
    if (d == cups_dialect::tts) {
        put_le(out, r.sig.size(), 4);
        put_le(out, r.key_crc, 4);
    } else if (r.sig.empty()) {
        put_le(out, 0, 4);
    } else {
        put_le(out, r.sig.size() + 4, 4);
        put_le(out, r.key_crc, 4);
    }
    out.insert(out.end(), r.sig.begin(), r.sig.end());
    put_le(out, r.update.size(), 4);
    out.insert(out.end(), r.update.begin(), r.update.end());
    return out;
}

// ---- response decode ------------------------------------------------------------------------------

std::string_view cups_response_parser::field_name(field f) noexcept {
    switch (f) {
        case field::cups_uri_len: return "cupsUriLen";
        case field::cups_uri: return "cupsUri";
        case field::tc_uri_len: return "tcUriLen";
        case field::tc_uri: return "tcUri";
        case field::cups_cred_len: return "cupsCredLen";
        case field::cups_cred: return "cupsCred";
        case field::tc_cred_len: return "tcCredLen";
        case field::tc_cred: return "tcCred";
        case field::sig_len: return "sigLen";
        case field::key_crc: return "keyCRC";
        case field::sig: return "sig";
        case field::upd_len: return "updLen";
        case field::upd: return "upd";
        case field::end: return "end";
    }
    return "?";
}

void cups_response_parser::fail(error e) {
    state_ = state::failed;
    err_ = std::move(e);
}

void cups_response_parser::enter(field f, std::size_t need) {
    field_ = f;
    need_ = need;
    field_start_ = offset_;
    scratch_.clear();
    if (need == 0) complete_field();
}

void cups_response_parser::complete_field() {
    auto le = [&] {
        std::uint64_t v = 0;
        for (std::size_t i = scratch_.size(); i-- > 0;) v = v << 8 | scratch_[i];
        return v;
    };
    switch (field_) {
        case field::cups_uri_len: return enter(field::cups_uri, le());
        case field::cups_uri: return enter(field::tc_uri_len, 1);
        case field::tc_uri_len: return enter(field::tc_uri, le());
        case field::tc_uri: return enter(field::cups_cred_len, 2);
        case field::cups_cred_len: return enter(field::cups_cred, le());
        case field::cups_cred: return enter(field::tc_cred_len, 2);
        case field::tc_cred_len: return enter(field::tc_cred, le());
        case field::tc_cred: return enter(field::sig_len, 4);
        case field::sig_len: {
            sig_len_ = static_cast<std::uint32_t>(le());
            if (dialect_ == cups_dialect::tts) return enter(field::key_crc, 4);
            if (sig_len_ == 0) return enter(field::upd_len, 4);
            if (sig_len_ < 8 || sig_len_ > 132)
                return fail(make_error(cups_errc::bad_sig_len, "sigLen {} at byte {}: want 0 or 8..132 (key CRC included)", sig_len_, field_start_));
            return enter(field::key_crc, 4);
        }
        case field::key_crc: {
            resp_.key_crc = static_cast<std::uint32_t>(le());
            const std::size_t sig = dialect_ == cups_dialect::tts ? sig_len_ : sig_len_ - 4;
            if (sig > 0xFFFF)  // TTS never signs; bound what a hostile peer can make us buffer
                return fail(make_error(cups_errc::bad_sig_len, "sigLen {} at byte {} is implausible", sig_len_, field_start_ - 4));
            return enter(field::sig, sig);
        }
        case field::sig: return enter(field::upd_len, 4);
        case field::upd_len: {
            const auto n = le();
            if (n > max_update_size)
                return fail(make_error(cups_errc::field_length, "updLen {} at byte {} exceeds the {}-byte limit", n, field_start_, max_update_size));
            return enter(field::upd, n);
        }
        case field::upd:
            field_ = field::end;
            need_ = 0;
            state_ = state::done;
            return;
        case field::end: return;
    }
}

std::size_t cups_response_parser::consume(byte_view chunk) {
    std::size_t used = 0;
    while (state_ == state::need_more && used < chunk.size()) {
        const std::size_t n = std::min(need_, chunk.size() - used);
        auto part = chunk.subspan(used, n);
        switch (field_) {
            case field::cups_uri: resp_.cups_uri.append(part.begin(), part.end()); break;
            case field::tc_uri: resp_.tc_uri.append(part.begin(), part.end()); break;
            case field::cups_cred: resp_.cups_cred.insert(resp_.cups_cred.end(), part.begin(), part.end()); break;
            case field::tc_cred: resp_.tc_cred.insert(resp_.tc_cred.end(), part.begin(), part.end()); break;
            case field::sig: resp_.sig.insert(resp_.sig.end(), part.begin(), part.end()); break;
            case field::upd: resp_.update.insert(resp_.update.end(), part.begin(), part.end()); break;
            default: scratch_.insert(scratch_.end(), part.begin(), part.end()); break;
        }
        used += n;
        offset_ += n;
        need_ -= n;
        if (need_ == 0) complete_field();
    }
    return used;
}

void cups_response_parser::finish() {
    if (state_ != state::need_more) return;
    const std::size_t have = offset_ - field_start_;
    fail(make_error(cups_errc::truncated, "body ends at byte {} inside {} (starts at byte {}): {} of {} bytes present", offset_,
                    field_name(field_), field_start_, have, have + need_));
}

result<update_info_response> decode_update_info_response(byte_view body, cups_dialect d) {
    if (d == cups_dialect::station && body.size() < 3)
        return make_error(cups_errc::short_body, "Malformed CUPS response: {} bytes", body.size());
    cups_response_parser p(d);
    const std::size_t used = p.consume(body);
    p.finish();
    if (p.status() == cups_response_parser::state::failed) return p.err();
    if (d == cups_dialect::tts && used != body.size())
        return make_error(cups_errc::trailing_bytes, "{} bytes after the update segment ending at byte {}", body.size() - used, used);
    return p.take_response();
}

}  // namespace ttig::proto
