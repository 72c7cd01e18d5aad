#include <ttig/tts/redact.hpp>

namespace ttig::tts {

namespace {

constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // U+2026

bool b32(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'); }

// Length of the run of base32 characters at s[i...].
std::size_t b32_run(std::string_view s, std::size_t i) noexcept {
    std::size_t n = 0;
    while (i + n < s.size() && b32(s[i + n])) ++n;
    return n;
}

// If a token "<5>.<16+>.<16+>" starts at i (and is not preceded by a base32 character), its length.
std::size_t token_at(std::string_view s, std::size_t i) noexcept {
    if (i > 0 && b32(s[i - 1])) return 0;
    const std::size_t t = b32_run(s, i);
    if (t != 5 || i + 5 >= s.size() || s[i + 5] != '.') return 0;
    const std::size_t id = b32_run(s, i + 6);
    if (id < 16 || i + 6 + id >= s.size() || s[i + 6 + id] != '.') return 0;
    const std::size_t secret = b32_run(s, i + 7 + id);
    if (secret < 16) return 0;
    return 7 + id + secret;
}

}  // namespace

std::string redact_key(std::string_view key) {
    if (key.empty()) return {};
    const auto dot = key.find('.');
    if (dot != std::string_view::npos && dot <= 8) {
        const auto rest = key.substr(dot + 1);
        return std::string(key.substr(0, dot + 1)) + std::string(rest.substr(0, std::min<std::size_t>(4, rest.size()))) +
               std::string(ellipsis);
    }
    if (key.size() >= 16) return std::string(key.substr(0, 4)) + std::string(ellipsis);
    return std::string(ellipsis);
}

std::string redact_secrets(std::string_view text, std::string_view also) {
    std::string out;
    out.reserve(text.size());
    const bool use_also = also.size() >= 8;
    for (std::size_t i = 0; i < text.size();) {
        if (use_also && text.compare(i, also.size(), also) == 0) {
            out += redact_key(also);
            i += also.size();
            continue;
        }
        if (const std::size_t n = token_at(text, i); n > 0) {
            out += redact_key(text.substr(i, n));
            i += n;
            continue;
        }
        out += text[i++];
    }
    return out;
}

}  // namespace ttig::tts
