// Credential blobs and CRCs: basicstation-protocol §2, TV1, TV2, TV3, TV3b, TV8.
#include <ttig/proto/blob.hpp>
#include <ttig/proto/bytes.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace ttig::proto;

namespace {
bytes hex(std::string_view h) {
    bytes out;
    REQUIRE(from_hex(h, out));
    return out;
}
const std::string lne = "LETS NOT ENCRYPT";
}  // namespace

TEST_SUITE("proto.crc") {
    TEST_CASE("crc32: TV1 and TV2 blobs, chaining equals concatenation") {
        const bytes tv1 = hex("4c455453204e4f5420454e435259505400000000417574686f72697a6174696f6e3a20746f6b656e0d0a");
        CHECK(tv1.size() == 42);
        CHECK(crc32(tv1) == 0x97471391u);
        CHECK(crc32(tv1) == 2538017681u);
        const bytes tv2 = hex("4c455453204e4f5420454e435259505400000000417574686f72697a6174696f6e3a204e4e5358532e4558414d504c454b45590d0a");
        CHECK(tv2.size() == 53);
        CHECK(crc32(tv2) == 0xAAA61C0Fu);
        // chaining in any split
        for (std::size_t cut = 0; cut <= tv1.size(); ++cut) {
            CAPTURE(cut);
            byte_view all(tv1);
            CHECK(crc32(all.subspan(cut), crc32(all.subspan(0, cut))) == 0x97471391u);
        }
    }

    TEST_CASE("station_cred_crc: TV3, TV3b and TV1 as files") {
        CHECK(station_cred_crc({}, {}, {}) == 0x7BD5C66Fu);
        CHECK(station_cred_crc({}, {}, {}) == 2077607535u);
        CHECK(empty_set_crc == 2077607535u);
        CHECK(station_cred_crc(as_bytes(lne), {}, {}) == 0xCCAB121Fu);
        CHECK(station_cred_crc(as_bytes(lne), {}, as_bytes("Authorization: token\r\n")) == 0x97471391u);
    }
}

TEST_SUITE("proto.blob") {
    TEST_CASE("tts_token_blob: TV1 and TV2 byte for byte") {
        CHECK(to_hex(tts_token_blob(as_bytes(lne), "token")) ==
              "4c455453204e4f5420454e435259505400000000417574686f72697a6174696f6e3a20746f6b656e0d0a");
        // TV2: the trailing LF of the key is stripped before the CRLF is added
        CHECK(to_hex(tts_token_blob(as_bytes(lne), "NNSXS.EXAMPLEKEY\n")) ==
              "4c455453204e4f5420454e435259505400000000417574686f72697a6174696f6e3a204e4e5358532e4558414d504c454b45590d0a");
        CHECK(crc32(tts_token_blob(as_bytes(lne), "NNSXS.EXAMPLEKEY\r\n")) == 0xAAA61C0Fu);
    }

    TEST_CASE("station_parse_blob: a TTS token blob gives trust, empty cert, token key") {
        // A short-form DER trust (0x30 0x05 + 5 bytes) so the station's parser accepts it.
        const bytes trust = hex("300503030a0b0c");
        const bytes blob = tts_token_blob(trust, "NNSXS.TCKEY");
        auto c = station_parse_blob(blob);
        REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.err().what()));
        CHECK(c->trust == trust);
        CHECK(c->cert.empty());
        CHECK(as_chars(c->key) == "Authorization: NNSXS.TCKEY\r\n");
        CHECK(c->auth_mode() == credentials::auth::token);
        // §2.4 equality: the station's file CRC equals TTS's blob CRC
        CHECK(c->station_crc() == crc32(blob));
    }

    TEST_CASE("station_parse_blob: TV6's blob is rejected because the trust is not DER") {
        auto c = station_parse_blob(tts_token_blob(as_bytes(lne), "token"));
        REQUIRE_FALSE(c.has_value());
        CHECK(c.err().what() == "[blob.trust_not_der] ASN.1 SEQ expected for trust: byte 0 is 0x4c");
    }

    TEST_CASE("station_parse_blob: two-byte long form, DER key, mutual TLS") {
        bytes trust = {0x30, 0x82, 0x01, 0x00};
        trust.resize(4 + 256, 0xAA);
        bytes cert = {0x30, 0x03, 1, 2, 3};
        bytes key = {0x30, 0x02, 9, 9};
        bytes blob = trust;
        blob.insert(blob.end(), cert.begin(), cert.end());
        blob.insert(blob.end(), key.begin(), key.end());
        auto c = station_parse_blob(blob);
        REQUIRE(c.has_value());
        CHECK(c->trust == trust);
        CHECK(c->cert == cert);
        CHECK(c->key == key);
        CHECK(c->auth_mode() == credentials::auth::mutual_tls);
        auto built = build_blob(*c);
        REQUIRE(built.has_value());
        CHECK(*built == blob);
    }

    TEST_CASE("station_parse_blob: a 0x81 length is misparsed as the station does") {
        // 0x30 0x81 0x80 <128 bytes>: the station reads bytes [2],[3] = 0x80 0xAA as the length.
        bytes blob = {0x30, 0x81, 0x80};
        blob.resize(3 + 128, 0xAA);
        blob.insert(blob.end(), 4, 0);
        auto c = station_parse_blob(blob);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.err().id() == "blob.part_overflow");
    }

    TEST_CASE("station_parse_blob: every truncation is an error, never a crash") {
        const bytes trust = hex("300503030a0b0c");
        const bytes blob = tts_token_blob(trust, "NNSXS.X");
        for (std::size_t n = 0; n < trust.size() + 4; ++n) {
            CAPTURE(n);
            auto c = station_parse_blob(byte_view(blob).subspan(0, n));
            CHECK_FALSE(c.has_value());
        }
        // trust + marker only: no key, accepted (the station reads its NUL terminator)
        auto c = station_parse_blob(byte_view(blob).subspan(0, trust.size() + 4));
        REQUIRE(c.has_value());
        CHECK(c->key.empty());
        CHECK(c->auth_mode() == credentials::auth::server_only);
    }

    TEST_CASE("redaction keeps 10 characters") {
        CHECK(redact_secret("NNSXS.ABCDEFGHIJKLMNOP") == "NNSXS.ABCD…");
        CHECK(token_secret("Authorization: Bearer NNSXS.TCKEY\r\n") == "NNSXS.TCKEY");
        CHECK(token_secret("Authorization: NNSXS.TCKEY\r\n") == "NNSXS.TCKEY");
    }
}
