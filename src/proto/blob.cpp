#include <ttig/proto/blob.hpp>

#include <array>

namespace ttig::proto {

credentials::auth credentials::auth_mode() const noexcept {
    if (trust.empty()) return auth::none;
    if (!cert.empty() && !key.empty()) return auth::mutual_tls;
    if (cert.empty() && !key.empty()) return auth::token;
    return auth::server_only;
}

std::string_view to_string(credentials::auth a) noexcept {
    switch (a) {
        case credentials::auth::none: return "none";
        case credentials::auth::server_only: return "server-only";
        case credentials::auth::token: return "token";
        case credentials::auth::mutual_tls: return "mutual-tls";
    }
    return "unknown";
}

bytes tts_token_blob(byte_view trust_der, std::string_view secret) {
    while (!secret.empty() && (secret.back() == '\r' || secret.back() == '\n')) secret.remove_suffix(1);
    bytes out(trust_der.begin(), trust_der.end());
    out.insert(out.end(), 4, 0);
    constexpr std::string_view header = "Authorization: ";
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), secret.begin(), secret.end());
    out.push_back('\r');
    out.push_back('\n');
    return out;
}

result<bytes> build_blob(const credentials& c) {
    if (c.trust.empty()) return make_error(blob_errc::empty, "trust is required");
    if (c.trust.front() != 0x30) return make_error(blob_errc::trust_not_der, "trust byte 0 is 0x{:02x}", c.trust.front());
    if (!c.cert.empty() && c.cert.front() != 0x30)
        return make_error(blob_errc::bad_der_length, "client certificate byte 0 is 0x{:02x}, want 0x30", c.cert.front());
    if (!c.key.empty() && c.key.front() == 0)
        return make_error(blob_errc::token_syntax, "key starts with a zero byte");
    bytes out = c.trust;
    if (c.cert.empty())
        out.insert(out.end(), 4, 0);
    else
        out.insert(out.end(), c.cert.begin(), c.cert.end());
    out.insert(out.end(), c.key.begin(), c.key.end());
    if (out.size() > 0xFFFF) return make_error(blob_errc::too_long, "{} bytes", out.size());
    return out;
}

namespace {

// BS asn1_seqlen: short form, else two length bytes at [2],[3] whatever the long-form count says.
// Returns the total element length (header included) or 0 when the header itself is out of range.
std::size_t station_seq_len(byte_view b, std::size_t off) {
    if (off + 1 >= b.size()) return 0;
    if (b[off + 1] & 0x80) {
        if (off + 3 >= b.size()) return 0;
        return (std::size_t{b[off + 2]} << 8 | b[off + 3]) + 4;
    }
    return std::size_t{b[off + 1]} + 2;
}

}  // namespace

result<credentials> station_parse_blob(byte_view b) {
    if (b.empty()) return make_error(blob_errc::empty);
    if (b[0] != 0x30) return make_error(blob_errc::trust_not_der, "byte 0 is 0x{:02x}", b[0]);
    const std::size_t len = b.size();
    const std::size_t tl = station_seq_len(b, 0);
    if (tl == 0) return make_error(blob_errc::bad_der_length, "trust length header at byte 1 runs past the {}-byte blob", len);
    // The station keeps a NUL after the segment, so reading exactly at `len` yields 0.
    auto at = [&](std::size_t i) -> int { return i < len ? b[i] : (i == len ? 0 : -1); };
    const std::size_t co = tl;
    std::size_t cl = 0, ko = 0;
    const int cfirst = at(co);
    if (cfirst < 0) return make_error(blob_errc::part_overflow, "trust ends at byte {}, past the {}-byte blob", co, len);
    if (cfirst == 0) {
        ko = co + 4;
    } else {
        if (cfirst != 0x30)
            return make_error(blob_errc::bad_der_length, "ASN.1 SEQ expected for cert: byte {} is 0x{:02x}", co, cfirst);
        cl = station_seq_len(b, co);
        if (cl == 0) return make_error(blob_errc::bad_der_length, "cert length header at byte {} runs past the {}-byte blob", co + 1, len);
        ko = co + cl;
    }
    if (ko > len)
        return make_error(blob_errc::part_overflow, "expecting more data: key offset {} beyond the {}-byte blob", ko, len);
    std::size_t kl = 0;
    const int kfirst = at(ko);
    if (kfirst == 0x30) {
        kl = station_seq_len(b, ko);
        if (kl == 0) return make_error(blob_errc::bad_der_length, "key length header at byte {} runs past the {}-byte blob", ko + 1, len);
    } else if (kfirst == 0) {
        kl = 0;
    } else {
        kl = len - ko;
    }
    if (tl + cl + kl > len)
        return make_error(blob_errc::part_overflow, "lengths do not align: segment {} bytes, parts {} bytes", len, tl + cl + kl);
    if (ko + kl > len)
        return make_error(blob_errc::part_overflow, "key of {} bytes at offset {} runs past the {}-byte blob", kl, ko, len);
    credentials c;
    c.trust.assign(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(tl));
    c.cert.assign(b.begin() + static_cast<std::ptrdiff_t>(co), b.begin() + static_cast<std::ptrdiff_t>(co + cl));
    c.key.assign(b.begin() + static_cast<std::ptrdiff_t>(ko), b.begin() + static_cast<std::ptrdiff_t>(ko + kl));
    return c;
}

std::string_view token_secret(std::string_view key_text) noexcept {
    constexpr std::string_view header = "Authorization: ";
    auto pos = key_text.find(header);
    if (pos == std::string_view::npos) return {};
    std::string_view v = key_text.substr(pos + header.size());
    if (auto end = v.find_first_of("\r\n"); end != std::string_view::npos) v = v.substr(0, end);
    if (v.starts_with("Bearer ")) v.remove_prefix(7);
    return v;
}

std::string redact_secret(std::string_view secret) {
    if (secret.size() <= 10) return std::string(secret.substr(0, secret.size() / 2)) + "…";
    return std::string(secret.substr(0, 10)) + "…";
}

}  // namespace ttig::proto
