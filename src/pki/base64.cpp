#include <ttig/pki/base64.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>

namespace ttig::pki {

namespace {

// EVP_EncodeBlock/EVP_DecodeBlock take an int length; work in chunks well below INT_MAX that keep
// whole groups (3 bytes in, 4 characters out), so the concatenation is the encoding of the whole.
constexpr std::size_t encode_chunk = std::size_t{3} << 20;
constexpr std::size_t decode_chunk = std::size_t{4} << 20;

const unsigned char* uchars(const char* p) noexcept { return reinterpret_cast<const unsigned char*>(p); }

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // + EVP_EncodeBlock's NUL
    std::size_t written = 0;
    for (std::size_t pos = 0; pos < bytes.size(); pos += encode_chunk) {
        const std::size_t n = std::min(encode_chunk, bytes.size() - pos);
        written += static_cast<std::size_t>(
            EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written), uchars(bytes.data() + pos), static_cast<int>(n)));
    }
    out.resize(written);
    return out;
}

std::string base64url_encode_raw(std::string_view bytes) {
    std::string out = base64_encode(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    std::replace(out.begin(), out.end(), '+', '-');
    std::replace(out.begin(), out.end(), '/', '_');
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // Normalise to what EVP_DecodeBlock reads strictly: it would otherwise skip leading blanks and
    // trailing white space, and it does not refuse a '=' inside a group ("YW=j" decodes).
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;  // a lone trailing character: not even one byte
    static constexpr std::string_view letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_";
    if (text.find_first_not_of(letters) != std::string_view::npos) return std::nullopt;

    std::string in(text);
    std::replace(in.begin(), in.end(), '-', '+');
    std::replace(in.begin(), in.end(), '_', '/');
    const std::size_t padding = (4 - in.size() % 4) % 4;
    in.append(padding, '=');

    std::string out(in.size() / 4 * 3, '\0');
    std::size_t written = 0;
    for (std::size_t pos = 0; pos < in.size(); pos += decode_chunk) {
        const std::size_t n = std::min(decode_chunk, in.size() - pos);
        const int got =
            EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data() + written), uchars(in.data() + pos), static_cast<int>(n));
        if (got < 0) return std::nullopt;
        written += static_cast<std::size_t>(got);
    }
    // EVP_DecodeBlock counts 3 bytes for every group, padded or not: drop the bytes the padding stands for.
    out.resize(written - padding);
    return out;
}

}  // namespace ttig::pki
