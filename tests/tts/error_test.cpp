// tts errors: the domain's ids, decoding of TTS error bodies (tts-api.md §5.1, literals copied from
// the document), the "tts.<namespace>:<name>" ids, rate-limit headers (§6) and redaction.
#include <ttig/tts/error.hpp>
#include <ttig/tts/rate_limit.hpp>
#include <ttig/tts/redact.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace ttig;
using namespace ttig::tts;
using namespace std::chrono_literals;

namespace {

// tts-api.md §5.1.
constexpr std::string_view doc_error_body = R"J({
  "code": 7,
  "message": "error:pkg/auth/rights:insufficient_gateway_rights (insufficient rights for gateway `office-ttig`)",
  "details": [
    {
      "@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
      "namespace": "pkg/auth/rights",
      "name": "insufficient_gateway_rights",
      "message_format": "insufficient rights for gateway `{uid}`",
      "attributes": {"missing": ["RIGHT_GATEWAY_READ_SECRETS"], "uid": "office-ttig"},
      "correlation_id": "7d4a76e4b2074fdfbb6d0fac81d8647c",
      "code": 7
    }
  ]
})J";

const std::string doc_key = "NNSXS.3FWZEB5EEY4S6NRA2O2F5KZSFNQDR7JVJ34TV7Y.2RBZWM27SWSUYYIAPHWROIKXJ7ZRSOUK2F4ZJ6ULH4FL7XXL7W6A";

}  // namespace

TEST_SUITE("tts.error") {
    TEST_CASE("every static tts cause id is unique, has a message and is listed in docs/errors.md") {
        std::ifstream in(std::filesystem::path(TTIG_SOURCE_DIR) / "docs" / "errors.md");
        REQUIRE(in.good());
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string doc = ss.str();
        std::set<std::string> seen;
        for (const auto* cat : categories()) {
            int expected = 1;
            for (const auto& e : cat->entries()) {
                const std::string id = cat->id(e.value);
                CAPTURE(id);
                CHECK(e.value == expected++);
                CHECK(seen.insert(id).second);
                CHECK_FALSE(e.message.empty());
                CHECK(doc.find("| `" + id + "` |") != std::string::npos);
            }
        }
        CHECK(seen.size() == 5);
        // The pattern row of the API errors.
        CHECK(doc.find("| `tts.<namespace>:<name>` |") != std::string::npos);
    }

    TEST_CASE("decode_api_error: the §5.1 example body") {
        const api_error e = decode_api_error(403, doc_error_body);
        CHECK(e.http_status == 403);
        CHECK(e.grpc_code == 7);
        CHECK(e.ns == "pkg/auth/rights");
        CHECK(e.name == "insufficient_gateway_rights");
        CHECK(e.full_name() == "pkg/auth/rights:insufficient_gateway_rights");
        CHECK(e.message_format == "insufficient rights for gateway `{uid}`");
        CHECK(e.correlation_id == "7d4a76e4b2074fdfbb6d0fac81d8647c");
        CHECK(e.attributes["uid"] == "office-ttig");
        CHECK(e.attributes["missing"] == nlohmann::json::array({"RIGHT_GATEWAY_READ_SECRETS"}));
        CHECK(e.text() == "insufficient rights for gateway `office-ttig`");
        CHECK(e.cause == nullptr);
        CHECK(e.retry_after() == 0s);

        const proto::error pe = to_proto_error(e);
        CHECK(pe.id() == "tts.pkg/auth/rights:insufficient_gateway_rights");
        CHECK(pe.what() ==
              "[tts.pkg/auth/rights:insufficient_gateway_rights] The Things Stack refused the request: HTTP 403: insufficient rights "
              "for gateway `office-ttig` (correlation id 7d4a76e4b2074fdfbb6d0fac81d8647c)");
        CHECK(is_api_error(pe.code));
        CHECK(api_error_name(pe.code) == "pkg/auth/rights:insufficient_gateway_rights");
        // Interned: the same name gives the same code, another name another code.
        CHECK(pe.code == api_error_code("pkg/auth/rights:insufficient_gateway_rights"));
        CHECK(pe.code != api_error_code("pkg/auth/rights:no_gateway_rights"));
        CHECK(pe.code != make_error_code(tts_errc::api_error));
    }

    TEST_CASE("decode_api_error: bodies without ErrorDetails (§5.1: details are optional)") {
        SUBCASE("unknown route: 404 {\"code\":5,\"message\":\"Not Found\"}") {
            const api_error e = decode_api_error(404, R"J({"code":5,"message":"Not Found"})J");
            CHECK_FALSE(e.named());
            CHECK(e.grpc_code == 5);
            const auto pe = to_proto_error(e);
            CHECK(pe.id() == "tts.api_error");
            CHECK(pe.detail == "HTTP 404: Not Found (gRPC code 5)");
            CHECK(is_api_error(pe.code));
        }
        SUBCASE("wrong method: 501 {\"code\":12,\"message\":\"Method Not Allowed\"}") {
            const auto pe = to_proto_error(decode_api_error(501, R"J({"code":12,"message":"Method Not Allowed"})J"));
            CHECK(pe.id() == "tts.api_error");
            CHECK(pe.detail == "HTTP 501: Method Not Allowed (gRPC code 12)");
        }
        SUBCASE("a proxy's HTML page") {
            const api_error e = decode_api_error(502, "<html>\r\n<h1>Bad Gateway</h1></html>");
            CHECK(e.body_excerpt == "<html>  <h1>Bad Gateway</h1></html>");
            const auto pe = to_proto_error(e);
            CHECK(pe.id() == "tts.http_status");
            CHECK_FALSE(is_api_error(pe.code));
            CHECK(pe.detail == "HTTP 502: <html>  <h1>Bad Gateway</h1></html>");
        }
        SUBCASE("empty body") {
            const auto pe = to_proto_error(decode_api_error(503, ""));
            CHECK(pe.id() == "tts.http_status");
            CHECK(pe.detail == "HTTP 503");
        }
        SUBCASE("stream errors wrap the status in \"error\" (§4.11)") {
            const api_error e = decode_api_error(
                400, R"J({"error":{"code":3,"message":"error:pkg/events/grpc:no_identifiers (no identifiers)","details":[{"namespace":"pkg/events/grpc","name":"no_identifiers","message_format":"no identifiers","code":3}]}})J");
            CHECK(e.full_name() == "pkg/events/grpc:no_identifiers");
            CHECK(e.text() == "no identifiers");
        }
    }

    TEST_CASE("decode_api_error: a cause chain, and a name with a space (§4.9 claim gateway)") {
        const std::string body = R"J({"code":10,"message":"error:pkg/deviceclaimingserver:claim gateway (claim gateway)",
            "details":[{"@type":"type.googleapis.com/ttn.lorawan.v3.ErrorDetails","namespace":"pkg/deviceclaimingserver",
            "name":"claim gateway","message_format":"claim gateway","correlation_id":"abc","code":10,
            "cause":{"namespace":"pkg/util/store","name":"id_taken","message_format":"ID `{id}` already taken",
                     "attributes":{"id":"office-ttig"},"code":6,
                     "cause":{"namespace":"pkg/util/store","name":"already_exists","message_format":"already exists","code":6}}}]})J";
        const api_error e = decode_api_error(409, body);
        CHECK(e.full_name() == "pkg/deviceclaimingserver:claim gateway");
        REQUIRE(e.cause);
        CHECK(e.cause->full_name() == "pkg/util/store:id_taken");
        CHECK(e.cause->grpc_code == 6);
        CHECK(e.cause->http_status == 0);
        CHECK(e.cause->text() == "ID `office-ttig` already taken");
        CHECK(e.is("pkg/util/store:id_taken"));
        CHECK(e.is("pkg/util/store:already_exists"));
        CHECK_FALSE(e.is("pkg/util/store:id"));
        CHECK(e.root_cause().full_name() == "pkg/util/store:already_exists");
        const auto pe = to_proto_error(e);
        CHECK(pe.id() == "tts.pkg/deviceclaimingserver:claim gateway");
        CHECK(pe.detail ==
              "HTTP 409: claim gateway (correlation id abc); cause pkg/util/store:id_taken: ID `office-ttig` already taken; cause "
              "pkg/util/store:already_exists: already exists");
    }

    TEST_CASE("api_error_code: unusable names fall back to tts.api_error") {
        CHECK(api_error_code("").value() == static_cast<int>(tts_errc::api_error));
        CHECK(api_error_code("no-colon") == make_error_code(tts_errc::api_error));
        CHECK(api_error_code("pkg/x:") == make_error_code(tts_errc::api_error));
        CHECK(api_error_code(":name") == make_error_code(tts_errc::api_error));
        CHECK(api_error_code("pkg/x:bad\nname") == make_error_code(tts_errc::api_error));
        CHECK(api_error_code("a:b:c") == make_error_code(tts_errc::api_error));
        CHECK(api_error_code(std::string(300, 'a') + ":b") == make_error_code(tts_errc::api_error));
        CHECK(proto::cause_id(api_error_code("pkg/ratelimit:rate_limit_exceeded")) == "tts.pkg/ratelimit:rate_limit_exceeded");
        // A named error that cannot be interned keeps its name in the detail.
        api_error odd;
        odd.http_status = 400;
        odd.ns = "pkg/x";
        odd.name = "weird{name}";
        odd.message = "error:pkg/x:weird{name} (odd)";
        const auto pe = to_proto_error(odd);
        CHECK(pe.id() == "tts.api_error");
        CHECK(pe.detail == "HTTP 400: odd [pkg/x:weird{name}]");
    }

    TEST_CASE("429: retry_after is max(1 s, X-Rate-Limit-Retry) (§6: Retry can be 0 on a 429)") {
        const std::string body = R"J({"code":8,"message":"error:pkg/ratelimit:rate_limit_exceeded (rate limit of `10` accesses per minute exceeded for resource `grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get:gateway:gw1`)","details":[{"namespace":"pkg/ratelimit","name":"rate_limit_exceeded","message_format":"rate limit of `{rate}` accesses per minute exceeded for resource `{key}`","attributes":{"key":"grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get:gateway:gw1","rate":10},"code":8}]})J";
        api_error e = decode_api_error(429, body);
        CHECK(e.retry_after() == 1s);  // no headers
        rate_limit_info r;
        r.limit = 10;
        r.available = 0;
        r.reset = 6s;
        r.retry = 0s;
        e.rate_limit = r;
        CHECK(e.retry_after() == 1s);
        e.rate_limit->retry = 4s;
        CHECK(e.retry_after() == 4s);
        const auto pe = to_proto_error(e);
        CHECK(pe.id() == "tts.pkg/ratelimit:rate_limit_exceeded");
        CHECK(pe.detail ==
              "HTTP 429: rate limit of `10` accesses per minute exceeded for resource "
              "`grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get:gateway:gw1`; retry after 4 s");
    }
}

TEST_SUITE("tts.rate_limit") {
    TEST_CASE("parse_rate_limit: the four X-Rate-Limit-* headers") {
        const proto::time_point t0{std::chrono::seconds{1735689600}};
        proto::http_fields h;
        CHECK_FALSE(parse_rate_limit(h, t0));
        h.add("X-Rate-Limit-Limit", "10");
        h.add("X-Rate-Limit-Available", "0");
        h.add("X-Rate-Limit-Reset", "6");
        h.add("X-Rate-Limit-Retry", "1");
        auto r = parse_rate_limit(h, t0);
        REQUIRE(r);
        CHECK(r->limit == 10);
        CHECK(r->available == 0);
        CHECK(r->reset == 6s);
        CHECK(r->retry == 1s);
        CHECK(r->observed_at == t0);
        CHECK(r->exhausted());

        proto::http_fields odd;
        odd.add("x-rate-limit-available", " 3 ");
        odd.add("X-Rate-Limit-Reset", "-1");
        odd.add("X-Rate-Limit-Retry", "soon");
        r = parse_rate_limit(odd, t0);
        REQUIRE(r);
        CHECK(r->available == 3);
        CHECK(r->limit == -1);
        CHECK(r->reset == 0s);
        CHECK(r->retry == 0s);
    }

    TEST_CASE("rate_limit_tracker: waits only for an exhausted bucket, until Reset + margin") {
        const proto::time_point t0{std::chrono::seconds{1735689600}};
        rate_limit_tracker t;
        rate_limit_policy p;
        CHECK(t.wait_before("b", t0, p) == 0s);
        rate_limit_info r{10, 3, 6s, 0s, t0};
        t.record("b", r);
        CHECK(t.wait_before("b", t0, p) == 0s);  // tokens left
        r.available = 0;
        t.record("b", r);
        CHECK(t.wait_before("b", t0, p) == 7s);  // 6 s + 1 s margin
        CHECK(t.wait_before("b", t0 + 2s, p) == 5s);
        CHECK(t.wait_before("b", t0 + 7s, p) == 0s);
        CHECK(t.wait_before("other", t0, p) == 0s);  // buckets are separate
        r.retry = 9s;  // a 429's Retry beyond Reset
        t.record("b", r);
        CHECK(t.wait_before("b", t0, p) == 10s);
        p.margin = 0ms;
        CHECK(t.wait_before("b", t0, p) == 9s);
        p.honour = false;
        CHECK(t.wait_before("b", t0, p) == 0s);
        CHECK(t.last() == r);
        CHECK(t.bucket("b") == r);
        CHECK_FALSE(t.bucket("other"));
    }
}

TEST_SUITE("tts.redact") {
    TEST_CASE("redact_key keeps the type and 4 characters of the key ID") {
        CHECK(redact_key(doc_key) == "NNSXS.3FWZ\xE2\x80\xA6");
        CHECK(redact_key("") == "");
        CHECK(redact_key("short") == "\xE2\x80\xA6");
        CHECK(redact_key("abcdefghijklmnopqrstuvwxyz") == "abcd\xE2\x80\xA6");
    }

    TEST_CASE("redact_secrets replaces every token-shaped substring and the given secret") {
        const std::string text = "key " + doc_key + ", again:" + doc_key + ".";
        CHECK(redact_secrets(text) == "key NNSXS.3FWZ\xE2\x80\xA6, again:NNSXS.3FWZ\xE2\x80\xA6.");
        CHECK(redact_secrets("Bearer my-own-secret-value!", "my-own-secret-value") == "Bearer my-o\xE2\x80\xA6!");
        CHECK(redact_secrets("RIGHT_GATEWAY_INFO NNSXS.ABC no") == "RIGHT_GATEWAY_INFO NNSXS.ABC no");
        // The error decoder redacts what the server says.
        const auto e = decode_api_error(400, std::string(R"J({"code":3,"message":"bad token )J") + doc_key + R"J("})J");
        CHECK(e.message == "bad token NNSXS.3FWZ\xE2\x80\xA6");
    }
}
