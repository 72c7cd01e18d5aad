// Tests for the emulator's API keys and rights (tts-api.md §2) and the emu error domain.
#include <doctest/doctest.h>

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/error.hpp>
#include <ttig/emu/tts_state.hpp>

#include <set>
#include <string>

using namespace ttig;
using emu::right;
using emu::rights;

TEST_SUITE("emu.api_keys") {
    TEST_CASE("emu errors: ids unique, prefixed, values from 1, messages present") {
        std::set<std::string> ids;
        for (const proto::table_category* cat : emu::categories()) {
            CHECK(cat->domain() == "emu");
            int expected = 1;
            for (const auto& e : cat->entries()) {
                CAPTURE(e.name);
                CHECK(e.value == expected++);
                CHECK_FALSE(e.message.empty());
                CHECK(ids.insert(cat->id(e.value)).second);
            }
        }
        CHECK(ids.count("emu.bad_scenario") == 1);
        CHECK(ids.count("emu.state_failed") == 1);
        CHECK(proto::make_error(emu::emu_errc::bad_scenario, "/users/0/user_id: required").what() ==
              "[emu.bad_scenario] invalid scenario: /users/0/user_id: required");
    }

    TEST_CASE("TTS error definitions: codes map to the statuses of tts-api.md §5.2") {
        // §5.2 table.
        const std::pair<int, int> table[] = {{1, 499}, {2, 500},  {3, 400},  {4, 504},  {5, 404},  {6, 409},
                                             {7, 403}, {8, 429},  {9, 400},  {10, 409}, {11, 400}, {12, 501},
                                             {13, 500}, {14, 503}, {15, 500}, {16, 401}};
        for (auto [code, status] : table) CHECK(emu::http_status_for_grpc(code) == status);
        // A few §5.3 rows: namespace:name -> gRPC code.
        const std::pair<const char*, int> rows[] = {
            {"pkg/identityserver:unauthenticated", 16},     {"pkg/auth:token", 3},
            {"pkg/identityserver:api_key_not_found", 16},   {"pkg/identityserver:api_key_expired", 16},
            {"pkg/auth/rights:no_gateway_rights", 7},       {"pkg/identityserver:some_gateways_not_found", 5},
            {"pkg/identityserver:restore_window_expired", 9}, {"pkg/deviceclaimingserver:gateway_claiming_not_supported", 10},
            {"pkg/deviceclaimingserver:claim gateway", 10}, {"pkg/gatewayserver:not_connected", 5},
            {"pkg/ratelimit:rate_limit_exceeded", 8},       {"pkg/util/store:database_unavailable", 14},
        };
        for (auto [name, code] : rows) {
            CAPTURE(name);
            const auto* d = emu::tts_error::find(name);
            REQUIRE(d != nullptr);
            CHECK(d->code == code);
        }
        auto e = emu::tts_error::make("pkg/gatewayserver:not_connected", {{"gateway_uid", "office-ttig"}});
        CHECK(e.status_message() == "error:pkg/gatewayserver:not_connected (gateway `office-ttig` not connected)");
        auto rl = emu::tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", "k"}, {"rate", 5}});
        CHECK(rl.message() == "rate limit of `5` accesses per minute exceeded for resource `k`");
        CHECK(e.to_proto().id() == "emu.tts_error");
    }

    TEST_CASE("rights: names, numbers and implications as ttnpb.Rights.Implied") {
        CHECK(emu::right_name(right::gateway_info) == "RIGHT_GATEWAY_INFO");
        CHECK(emu::parse_right("RIGHT_GATEWAY_LINK") == right::gateway_link);
        CHECK(emu::parse_right("37") == right::gateway_link);
        CHECK(emu::parse_right("58") == right::gateway_read_secrets);
        CHECK_FALSE(emu::parse_right("RIGHT_NOPE").has_value());
        CHECK_FALSE(emu::parse_right("0").has_value());

        CHECK(rights{right::gateway_link}.implied() == rights{right::gateway_link, right::gateway_info});
        const rights gw_all = rights{right::gateway_all}.implied();
        for (right r : {right::gateway_info, right::gateway_settings_basic, right::gateway_settings_api_keys,
                        right::gateway_delete, right::gateway_link, right::gateway_status_read, right::gateway_read_secrets,
                        right::gateway_write_secrets, right::gateway_all})
            CHECK(gw_all.contains(r));
        CHECK_FALSE(gw_all.contains(right::user_info));
        CHECK(rights{right::all}.implied() == rights::all());
        CHECK(rights::all().size() == 63);
        CHECK(rights::all_gateway().size() == 13);
        // Admin rights: nothing that ends in _KEYS or _ALL.
        CHECK_FALSE(rights::all_admin().contains(right::gateway_settings_api_keys));
        CHECK_FALSE(rights::all_admin().contains(right::gateway_all));
        CHECK(rights::all_admin().contains(right::gateway_read_secrets));
        const rights r{right::gateway_status_read, right::gateway_info};
        CHECK(r.names() == std::vector<std::string>{"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_STATUS_READ"});
        CHECK((rights{right::gateway_info, right::gateway_link} - rights{right::gateway_link}) == rights{right::gateway_info});
    }

    TEST_CASE("tokens: split as auth.SplitToken, generated keys have TTS's lengths") {
        // tts-api.md §2.1 example (illustrative key).
        const std::string example =
            "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A";
        auto parts = emu::split_token(example);
        REQUIRE(parts);
        CHECK(parts->type == "NNSXS");
        CHECK(parts->id == "3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y");
        CHECK(parts->id.size() == 39);
        CHECK(parts->secret.size() == 52);
        CHECK(example.size() == 98);
        CHECK_FALSE(emu::split_token("NNSXS.a").has_value());
        CHECK_FALSE(emu::split_token("NNSXS.a.b.c").has_value());
        CHECK_FALSE(emu::split_token("XXXXX.a.b").has_value());
        CHECK(emu::split_token("MFRWG.a.b").has_value());  // base32("acc"): an OAuth access token

        CHECK(emu::base32_encode(proto::to_bytes("key")) == "NNSXS");
        auto t = emu::generate_api_key();
        REQUIRE(t);
        CHECK(t->token.size() == 98);
        CHECK(t->token == "NNSXS." + t->id + "." + t->secret);
        auto t2 = emu::generate_api_key();
        REQUIRE(t2);
        CHECK(t2->token != t->token);
    }

    TEST_CASE("secret hashes: PBKDF2 in TTS's format, salted, verified in constant time") {
        auto h = emu::hash_secret("s3cret", 1000);
        REQUIRE(h);
        CHECK(h->rfind("PBKDF2$sha256$1000$", 0) == 0);
        CHECK(h->find("s3cret") == std::string::npos);
        CHECK(emu::verify_secret(*h, "s3cret"));
        CHECK_FALSE(emu::verify_secret(*h, "s3cret2"));
        auto h2 = emu::hash_secret("s3cret", 1000);
        REQUIRE(h2);
        CHECK(*h2 != *h);  // fresh salt
        CHECK_FALSE(emu::verify_secret("PBKDF2$sha256$x$salt$key", "s3cret"));
        CHECK_FALSE(emu::verify_secret("garbage", "s3cret"));
        // RFC 7914 §11 / well-known PBKDF2-HMAC-SHA256 vector: P="password", S="salt", c=1, dkLen=32
        // = 120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b (base64url below).
        CHECK(emu::verify_secret("PBKDF2$sha256$1$salt$Eg-2z_z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs", "password"));
    }

    TEST_CASE("secret memo: remembers successes only, per stored hash") {
        // RFC 7914 §11 vector (as above), so the expected hash does not come from our hashing.
        const std::string h1 = "PBKDF2$sha256$1$salt$Eg-2z_z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs";
        emu::secret_memo memo(2);
        CHECK(memo.verify(h1, "password"));
        CHECK(memo.derivations() == 1);
        CHECK(memo.verify(h1, "password"));
        CHECK(memo.derivations() == 1);  // remembered
        CHECK_FALSE(memo.verify(h1, "passwore"));
        CHECK_FALSE(memo.verify(h1, "passwore"));
        CHECK(memo.derivations() == 3);  // failures always re-derive
        CHECK(memo.size() == 1);
        // A new hash for the same secret (a rotated key has a new salt) is derived again.
        auto h2 = emu::hash_secret("password", 1);
        REQUIRE(h2);
        CHECK(memo.verify(*h2, "password"));
        CHECK(memo.derivations() == 4);
        CHECK_FALSE(memo.verify(*h2, "Password"));
        // The memo is bounded: a third success clears it.
        auto h3 = emu::hash_secret("other", 1);
        REQUIRE(h3);
        CHECK(memo.verify(*h3, "other"));
        CHECK(memo.size() == 1);
        CHECK(memo.verify(h1, "password"));
        CHECK(memo.derivations() == 7);
    }

    TEST_CASE("wire formats: timestamps, durations and base64 as tts-api.md §0") {
        auto t = emu::parse_time("2024-09-10T08:12:05Z");
        REQUIRE(t);
        CHECK(emu::format_time(*t) == "2024-09-10T08:12:05Z");
        CHECK(emu::format_time(*emu::parse_time("2024-09-10T08:12:05.1Z")) == "2024-09-10T08:12:05.100Z");
        CHECK(emu::format_time(*emu::parse_time("2024-09-10T08:12:05.123456Z")) == "2024-09-10T08:12:05.123456Z");
        CHECK(emu::format_time(*emu::parse_time("2024-09-10T08:12:05.123456789Z")) == "2024-09-10T08:12:05.123456789Z");
        CHECK_FALSE(emu::parse_time("2024-09-10T08:12:05+02:00").has_value());
        CHECK_FALSE(emu::parse_time("2024-02-30T08:12:05Z").has_value());
        CHECK(emu::format_duration(std::chrono::milliseconds(530)) == "0.530s");
        CHECK(emu::format_duration(std::chrono::seconds(1)) == "1s");
        CHECK(emu::parse_duration("0.530s") == std::chrono::milliseconds(530));
        CHECK_FALSE(emu::parse_duration("530ms").has_value());
        // §3.3: lbs_lns_secret.value is base64 of the key text.
        const std::string lns =
            "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A";
        CHECK(emu::base64_encode(lns) ==
              "Tk5TWFMuM0ZXWkVCNUVFWTRTNk5SQTJPMkY1S1pTRk5RRFI3SlZKMzRUVjdZLjJSQlpXTTI3U1dTVVlZSUFQSFdST0lLWEo3WlJTT1VLMkY0Wko2VUxINEZMN1hYTDdXNkE=");
        CHECK(emu::base64_decode("YWJjZDEyMzQ=") == std::optional<std::string>("abcd1234"));
        CHECK(emu::base64_decode("YWJjZDEyMzQ") == std::optional<std::string>("abcd1234"));
        CHECK_FALSE(emu::base64_decode("a$b").has_value());
    }
}
