// net: cause ids, URLs, the host map (--resolve), route patterns, verify-result mapping, TLS config checks.
#include <ttig/net/error.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/net/server.hpp>
#include <ttig/net/tls.hpp>
#include <ttig/pki/generate.hpp>

#include <doctest/doctest.h>

#include <openssl/x509_vfy.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace ttig;
using namespace ttig::net;

TEST_SUITE("net.error") {
    TEST_CASE("every net and tls cause id is unique, has a message and is listed in docs/errors.md") {
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
                CHECK(e.value == expected++);  // values start at 1, no gaps
                CHECK(seen.insert(id).second);
                CHECK_FALSE(e.message.empty());
                CHECK(doc.find("| `" + id + "` |") != std::string::npos);
            }
        }
        CHECK(seen.count("tls.hostname_mismatch") == 1);
        CHECK(seen.count("net.timeout") == 1);
    }

    TEST_CASE("verify results map to tls ids and keep OpenSSL's reason") {
        CHECK(tls_errc_from_verify_result(X509_V_OK) == tls_errc{});
        CHECK(tls_errc_from_verify_result(X509_V_ERR_HOSTNAME_MISMATCH) == tls_errc::hostname_mismatch);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_IP_ADDRESS_MISMATCH) == tls_errc::hostname_mismatch);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) == tls_errc::unknown_ca);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) == tls_errc::unknown_ca);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) == tls_errc::unknown_ca);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_CERT_HAS_EXPIRED) == tls_errc::expired);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_CERT_NOT_YET_VALID) == tls_errc::not_yet_valid);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_CERT_CHAIN_TOO_LONG) == tls_errc::chain_too_long);
        CHECK(tls_errc_from_verify_result(X509_V_ERR_CERT_SIGNATURE_FAILURE) == tls_errc::verify_failed);
        const auto e = tls_verify_error(X509_V_ERR_CERT_HAS_EXPIRED, 0);
        CHECK(e.what() == "[tls.expired] certificate has expired: certificate has expired (certificate at depth 0)");
    }
}

TEST_SUITE("net.url") {
    TEST_CASE("parse_url: scheme, host, default and explicit ports, target") {
        auto u = parse_url("https://EU1.cloud.thethings.network/api/v3/gateways?x=1");
        REQUIRE(u);
        CHECK(u->scheme == "https");
        CHECK(u->host == "eu1.cloud.thethings.network");
        CHECK(u->port == 443);
        CHECK(u->target == "/api/v3/gateways?x=1");
        CHECK(u->host_header() == "eu1.cloud.thethings.network:443");
        CHECK(u->origin() == "https://eu1.cloud.thethings.network");

        u = parse_url("wss://eu1.cloud.thethings.network:8887");
        REQUIRE(u);
        CHECK(u->port == 8887);
        CHECK(u->target == "/");
        CHECK(u->tls());
        CHECK(u->websocket());

        u = parse_url("ws://[::1]:1700/router-info");
        REQUIRE(u);
        CHECK(u->host == "::1");
        CHECK(u->host_header() == "[::1]:1700");
        CHECK(u->str() == "ws://[::1]:1700/router-info");

        u = parse_url("http://127.0.0.1:8080?q");
        REQUIRE(u);
        CHECK(u->target == "/?q");
    }

    TEST_CASE("parse_url: errors name the URL and the reason") {
        struct row {
            const char* in;
            const char* detail;
        };
        const row rows[] = {
            {"eu1.cloud.thethings.network", "\"eu1.cloud.thethings.network\": expected scheme://host[:port][/path]"},
            {"ftp://a", "\"ftp://a\": unsupported scheme \"ftp\" (http, https, ws, wss)"},
            {"https://a:0/", "\"https://a:0/\": port \"0\" is not a number from 1 to 65535"},
            {"https://a:99999", "\"https://a:99999\": port \"99999\" is not a number from 1 to 65535"},
            {"https://user@a/", "\"https://user@a/\": user information in URLs is not supported"},
            {"https:///x", "\"https:///x\": missing host"},
            {"https://[::1/", "\"https://[::1/\": unterminated IPv6 literal"},
            {"https://a/#frag", "\"https://a/#frag\": fragments are not allowed"},
        };
        for (const auto& r : rows) {
            CAPTURE(r.in);
            auto u = parse_url(r.in);
            REQUIRE_FALSE(u);
            CHECK(u.err().id() == "net.bad_url");
            CHECK(u.err().detail == r.detail);
        }
    }
}

TEST_SUITE("net.host_map") {
    TEST_CASE("host_map: curl --resolve entries") {
        const std::vector<std::string> entries{"eu1.cloud.thethings.network:8887:127.0.0.1", "+NAM1.cloud.thethings.network:443:[::1],127.0.0.2",
                                               "v6.example:443:::1"};
        auto m = host_map::parse(entries);
        REQUIRE(m);
        CHECK(m->entries().size() == 3);
        CHECK(m->lookup("eu1.cloud.thethings.network", 8887) == std::vector<std::string>{"127.0.0.1"});
        CHECK(m->lookup("EU1.cloud.thethings.network", 8887).has_value());  // case-insensitive host
        CHECK_FALSE(m->lookup("eu1.cloud.thethings.network", 8885).has_value());
        CHECK(m->lookup("nam1.cloud.thethings.network", 443) == std::vector<std::string>{"::1", "127.0.0.2"});
        CHECK(m->lookup("v6.example", 443) == std::vector<std::string>{"::1"});
        // A later entry for the same host:port replaces the earlier one.
        REQUIRE(m->add("eu1.cloud.thethings.network:8887:127.0.0.9"));
        CHECK(m->lookup("eu1.cloud.thethings.network", 8887) == std::vector<std::string>{"127.0.0.9"});
    }

    TEST_CASE("host_map: parse errors name the bad entry") {
        struct row {
            const char* in;
            const char* detail;
        };
        const row rows[] = {
            {"eu1.example", "\"eu1.example\": missing ':' after host (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"eu1.example:8887", "\"eu1.example:8887\": missing ':' after port (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"eu1.example:88x7:127.0.0.1",
             "\"eu1.example:88x7:127.0.0.1\": port \"88x7\" is not a number from 1 to 65535 (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"eu1.example:8887:", "\"eu1.example:8887:\": no address (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"eu1.example:8887:localhost",
             "\"eu1.example:8887:localhost\": \"localhost\" is not an IP address (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"eu1.example:8887:127.0.0.1,", "\"eu1.example:8887:127.0.0.1,\": empty address after ',' (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {":8887:127.0.0.1", "\":8887:127.0.0.1\": empty host (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
            {"-eu1.example:8887", "\"-eu1.example:8887\": removal entries (-HOST:PORT) are not supported (expected HOST:PORT:ADDRESS[,ADDRESS...])"},
        };
        for (const auto& r : rows) {
            CAPTURE(r.in);
            host_map m;
            auto res = m.add(r.in);
            REQUIRE_FALSE(res);
            CHECK(res.err().id() == "net.bad_host_map");
            CHECK(res.err().detail == r.detail);
        }
        const std::vector<std::string> list{"ok.example:1:127.0.0.1", "bad.example:1:nope"};
        auto m = host_map::parse(list);
        REQUIRE_FALSE(m);
        CHECK(m.err().detail.starts_with("\"bad.example:1:nope\""));
    }
}

TEST_SUITE("net.route") {
    TEST_CASE("match_route: exact, {param} segments and prefixes") {
        CHECK(match_route("/a/b", "/a/b").has_value());
        CHECK_FALSE(match_route("/a/b", "/a/b/").has_value());
        CHECK_FALSE(match_route("/a/b", "/a").has_value());
        auto p = match_route("/api/v3/gateways/{gateway_id}/rights", "/api/v3/gateways/eui-58a0cbfffe800001/rights");
        REQUIRE(p);
        REQUIRE(p->size() == 1);
        CHECK((*p)[0].first == "gateway_id");
        CHECK((*p)[0].second == "eui-58a0cbfffe800001");
        p = match_route("/traffic/{id}", "/traffic/a%3Ab");
        REQUIRE(p);
        CHECK((*p)[0].second == "a:b");
        CHECK_FALSE(match_route("/traffic/{id}", "/traffic/").has_value());
        CHECK(match_route("/static/*", "/static/x/y").has_value());
        CHECK_FALSE(match_route("/static/*", "/stat").has_value());
    }
}

TEST_SUITE("net.tls") {
    TEST_CASE("validate: server and client configurations") {
        auto ca = pki::make_ca("net test CA");
        REQUIRE(ca);
        auto leaf = pki::make_leaf(*ca, "localhost", {"localhost"});
        REQUIRE(leaf);
        auto other = pki::make_leaf(*ca, "other", {"other"});
        REQUIRE(other);

        CHECK(validate(tls_server_config{leaf->cert_pem, leaf->key_pem}));
        auto r = validate(tls_server_config{leaf->cert_pem, other->key_pem});
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.bad_config");
        CHECK(r.err().detail.starts_with("server key does not match its certificate"));
        r = validate(tls_server_config{"", ""});
        REQUIRE_FALSE(r);
        CHECK(r.err().detail == "a TLS listener needs a certificate chain and a key");
        tls_server_config versions{leaf->cert_pem, leaf->key_pem};
        versions.min_version = tls_version::tls1_3;
        versions.max_version = tls_version::tls1_2;
        r = validate(versions);
        REQUIRE_FALSE(r);
        CHECK(r.err().detail == "minimum TLS version TLSv1.3 is above the maximum TLSv1.2");

        tls_client_config c;
        c.use_system_store = false;
        c.ca_pem = {ca->cert_pem};
        c.trust_dir = std::filesystem::path(TTIG_SOURCE_DIR) / "certs";
        CHECK(validate(c));
        c.ca_files = {"/nonexistent/ca.pem"};
        r = validate(c);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.bad_config");
        CHECK(r.err().detail.starts_with("--ca /nonexistent/ca.pem: [pki.unreadable]"));
        c.ca_files.clear();
        c.ca_pem = {"not a certificate"};
        r = validate(c);
        REQUIRE_FALSE(r);
        CHECK(r.err().detail.starts_with("trust anchor 0: "));
    }
}
