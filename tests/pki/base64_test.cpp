// Tests for pki::base64_*: RFC 4648 §10 vectors, the URL-safe alphabet, missing padding, and the
// inputs the decoder refuses (the rules the TTS client and the emulator relied on before).
#include <doctest/doctest.h>

#include <ttig/pki/base64.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace ttig;

namespace {

using opt = std::optional<std::string>;

// RFC 4648 §10.
const std::vector<std::pair<std::string, std::string>> rfc4648 = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
    return s;
}

}  // namespace

TEST_SUITE("pki base64") {
    TEST_CASE("RFC 4648 §10 vectors: encode and decode, padded and not") {
        for (const auto& [plain, coded] : rfc4648) {
            CAPTURE(plain);
            CHECK(pki::base64_encode(plain) == coded);
            CHECK(pki::base64_decode(coded) == opt(plain));
            std::string unpadded = coded;
            while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
            CHECK(pki::base64url_encode_raw(plain) == unpadded);  // no '+' or '/' in these vectors
            CHECK(pki::base64_decode(unpadded) == opt(plain));
        }
    }

    TEST_CASE("binary bytes, the URL-safe alphabet and Go's RawURLEncoding") {
        const std::string b("\xfb\xff", 2);
        CHECK(pki::base64_encode(b) == "+/8=");
        CHECK(pki::base64url_encode_raw(b) == "-_8");
        CHECK(pki::base64_decode("+/8=") == opt(b));
        CHECK(pki::base64_decode("-_8=") == opt(b));
        CHECK(pki::base64_decode("-_8") == opt(b));
        CHECK(pki::base64_decode("+_8") == opt(b));  // the alphabets may be mixed
        CHECK(pki::base64_encode(std::string(1, '\0')) == "AA==");
        CHECK(pki::base64_decode("AA") == opt(std::string(1, '\0')));

        const std::string all = all_bytes();
        const std::string std_text = pki::base64_encode(all);
        const std::string url_text = pki::base64url_encode_raw(all);
        CHECK(std_text.size() == 344);
        CHECK(url_text.size() == 342);
        CHECK(std_text.find_first_of("-_") == std::string::npos);
        CHECK(url_text.find_first_of("+/=") == std::string::npos);
        CHECK(pki::base64_decode(std_text) == opt(all));
        CHECK(pki::base64_decode(url_text) == opt(all));
    }

    TEST_CASE("padding: every trailing '=' is dropped, none is required") {
        CHECK(pki::base64_decode("Zg") == opt("f"));
        CHECK(pki::base64_decode("Zg=") == opt("f"));
        CHECK(pki::base64_decode("Zg====") == opt("f"));
        CHECK(pki::base64_decode("Zm9v=") == opt("foo"));
        CHECK(pki::base64_decode("=") == opt(""));
        CHECK(pki::base64_decode("====") == opt(""));
        // Unused low bits of the last character are not checked (as before).
        CHECK(pki::base64_decode("Zh") == opt("f"));
        CHECK(pki::base64_decode("Zm9=") == opt("fo"));
    }

    TEST_CASE("refused: foreign characters, white space, inner '=', a lone trailing character") {
        for (const char* bad : {"YW*j", "a$b", "Zm9v YmFy", " Zm9v", "Zm9v\n", "\tZm9v", "Zm9v\r\n", "Zm=9v", "Zg==Zg==", "YW=j", "Z",
                                "Z=", "Zm9vY", "Zm9vY===", "Zm9v.", "Zm9v%3D"}) {
            CAPTURE(bad);
            CHECK_FALSE(pki::base64_decode(bad).has_value());
        }
        CHECK_FALSE(pki::base64_decode(std::string("Zm9v\0", 5)).has_value());
        CHECK_FALSE(pki::base64_decode(std::string("Zg\0=", 4)).has_value());
        CHECK_FALSE(pki::base64_decode("Zm9v\xc3\xa9").has_value());
    }

    TEST_CASE("inputs larger than one OpenSSL call") {
        std::string big;
        big.reserve((std::size_t{7} << 20) + 1);  // ≡ 2 mod 3: the last group is padded
        for (std::size_t i = 0; i < (std::size_t{7} << 20) + 1; ++i) big += static_cast<char>((i * 131) >> 3);
        const std::string text = pki::base64_encode(big);
        REQUIRE(text.size() == (big.size() + 2) / 3 * 4);
        CHECK(text.substr(text.size() - 4, 4) == pki::base64_encode(big.substr(big.size() - 2)));  // the tail group
        CHECK(text.substr(0, 8) == pki::base64_encode(big.substr(0, 6)));
        const auto back = pki::base64_decode(text);
        REQUIRE(back.has_value());
        CHECK(*back == big);
        const auto back_url = pki::base64_decode(pki::base64url_encode_raw(big));
        REQUIRE(back_url.has_value());
        CHECK(*back_url == big);
    }
}
