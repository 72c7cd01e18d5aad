// net: TLS verification outcomes, --resolve with real names, and the probe. Certificates are made
// at run time with pki::make_ca/make_leaf.
#include "support/io_wait.hpp"
#include <ttig/net/http_client.hpp>
#include <ttig/net/probe.hpp>
#include <ttig/net/server.hpp>
#include <ttig/pki/generate.hpp>
#include <ttig/pki/x509.hpp>

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

namespace asio = boost::asio;
using namespace ttig;
using namespace ttig::net;
using namespace std::chrono_literals;

namespace {

using ttig::test::run_until;

struct pki_set {
    pki::key_and_cert ca, other_ca, leaf, wrong_host, expired, ip_leaf;
    pki_set() {
        auto must = [](proto::result<pki::key_and_cert> r) {
            REQUIRE(r);
            return std::move(*r);
        };
        ca = must(pki::make_ca("ttig test root"));
        other_ca = must(pki::make_ca("someone else's root"));
        leaf = must(pki::make_leaf(ca, "eu1.cloud.thethings.network", {"eu1.cloud.thethings.network", "localhost"}));
        wrong_host = must(pki::make_leaf(ca, "nam1.cloud.thethings.network", {"nam1.cloud.thethings.network"}));
        expired = must(pki::make_leaf(ca, "eu1.cloud.thethings.network", {"eu1.cloud.thethings.network"}, pki::key_kind::ec_p256, 1,
                                      -3 * 86400));
        ip_leaf = must(pki::make_leaf(ca, "127.0.0.1", {"127.0.0.1"}));
    }
};

const pki_set& certs() {
    static const pki_set s;
    return s;
}

struct tls_fixture {
    asio::io_context ioc;
    server srv{ioc};
    std::uint16_t port = 0;

    void start(const pki::key_and_cert& identity, std::chrono::milliseconds delay = 0ms) {
        srv.handle("GET", "/ping", [](proto::http_request req, responder r) {
            proto::http_response res;
            res.body = req.tls ? "pong over tls" : "pong";
            r.send(std::move(res));
        });
        listener_config l;
        l.tls = tls_server_config{identity.cert_pem, identity.key_pem};
        l.tls->handshake_delay = delay;
        auto p = srv.listen(l);
        REQUIRE(p);
        port = *p;
    }

    client_config trusting(const pki::key_and_cert& ca) const {
        client_config c;
        c.tls.use_system_store = false;
        c.tls.ca_pem = {ca.cert_pem};
        // Real names, loopback traffic: eu1/nam1 -> 127.0.0.1 on the ephemeral port.
        REQUIRE(c.hosts.add("eu1.cloud.thethings.network:" + std::to_string(port) + ":127.0.0.1"));
        REQUIRE(c.hosts.add("nam1.cloud.thethings.network:" + std::to_string(port) + ":127.0.0.1"));
        return c;
    }

    response_result call(const client_config& cfg, const std::string& host, std::chrono::milliseconds deadline = 5s) {
        http_client c(ioc.get_executor(), cfg);
        std::optional<response_result> out;
        proto::http_request req;
        req.method = "GET";
        req.target = "/ping";
        c.async_request(req, request_options{"https://" + host + ":" + std::to_string(port), deadline},
                        [&](response_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        return std::move(*out);
    }

    probe_report run_probe(const client_config& cfg, const std::string& host, bool with_request) {
        probe_options o;
        o.client = cfg;
        o.deadline = 5s;
        if (with_request) {
            proto::http_request req;
            req.method = "GET";
            req.target = "/ping";
            o.request = req;
        }
        std::optional<probe_report> out;
        async_probe(ioc.get_executor(), "https://" + host + ":" + std::to_string(port), o, [&](probe_report r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        return std::move(*out);
    }
};

}  // namespace

TEST_SUITE("net.tls") {
    TEST_CASE_FIXTURE(tls_fixture, "trusted CA and --resolve: a real name verified against a loopback server") {
        start(certs().leaf);
        auto res = call(trusting(certs().ca), "eu1.cloud.thethings.network");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "pong over tls");

        // Keep-alive over TLS: one handshake for several requests; the client logs, without secrets.
        std::vector<std::string> logs;
        auto cfg = trusting(certs().ca);
        cfg.log = [&](log_level, std::string_view m) { logs.emplace_back(m); };
        http_client c(ioc.get_executor(), cfg);
        for (int i = 0; i < 3; ++i) {
            std::optional<response_result> out;
            proto::http_request req;
            req.method = "GET";
            req.target = "/ping";
            req.headers.set("Authorization", "Bearer NNSXS.SECRET");
            c.async_request(req, request_options{"https://eu1.cloud.thethings.network:" + std::to_string(port), 5s},
                            [&](response_result r) { out.emplace(std::move(r)); });
            REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
            REQUIRE(*out);
        }
        CHECK(c.connections_opened() == 1);
        CHECK(srv.stats().accepted == 2);
        REQUIRE(logs.size() == 2);
        CHECK(logs[0].starts_with("connected to eu1.cloud.thethings.network:" + std::to_string(port) + " at 127.0.0.1:"));
        CHECK(logs[1].starts_with("TLS TLSv1.3 with eu1.cloud.thethings.network:"));
        for (const auto& l : logs) CHECK(l.find("SECRET") == std::string::npos);
    }

    TEST_CASE_FIXTURE(tls_fixture, "unknown CA gives tls.unknown_ca, the probe still reports the chain") {
        start(certs().leaf);
        auto res = call(trusting(certs().other_ca), "eu1.cloud.thethings.network");
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "tls.unknown_ca");
        CHECK(res.err().detail == "eu1.cloud.thethings.network:" + std::to_string(port) +
                                      ": unable to get local issuer certificate (certificate at depth 0)");

        auto rep = run_probe(trusting(certs().other_ca), "eu1.cloud.thethings.network", true);
        CHECK_FALSE(rep.error.has_value());
        CHECK(rep.mapped);
        CHECK(rep.addresses == std::vector<std::string>{"127.0.0.1"});
        CHECK(rep.connected_address == "127.0.0.1:" + std::to_string(port));
        CHECK(rep.dns_ms.has_value());
        CHECK(rep.tcp_ms.has_value());
        CHECK(rep.tls_ms.has_value());
        CHECK_FALSE(rep.verify_ok);
        REQUIRE(rep.verify_error.has_value());
        CHECK(rep.verify_error->id() == "tls.unknown_ca");
        CHECK(rep.tls_version == "TLSv1.3");
        CHECK_FALSE(rep.cipher.empty());
        REQUIRE(rep.chain_der.size() == 1);
        auto info = pki::inspect_certificate(rep.chain_der[0]);
        REQUIRE(info);
        CHECK(info->subject == "CN=eu1.cloud.thethings.network");
        CHECK(info->issuer == "CN=ttig test root");
        // Never a request over an unverified connection.
        CHECK_FALSE(rep.http_status.has_value());
        CHECK(srv.stats().requests == 0);
    }

    TEST_CASE_FIXTURE(tls_fixture, "clients share a context per setting, and a trust file changed on disk is read again") {
        // Contexts are shared between clients with the same settings (client_tls); a --ca file is
        // part of the setting by path, size and modification time, so rewriting it takes effect.
        start(certs().leaf);
        const auto dir = std::filesystem::temp_directory_path() / ("ttig-tls-cache-" + std::to_string(port));
        std::filesystem::create_directories(dir);
        const auto file = dir / "ca.pem";
        auto write = [&](const std::string& pem) {
            std::ofstream(file, std::ios::binary | std::ios::trunc) << pem;
        };
        client_config cfg = trusting(certs().other_ca);
        cfg.tls.ca_pem.clear();
        cfg.tls.ca_files = {file};
        write(certs().other_ca.cert_pem);
        auto refused = call(cfg, "eu1.cloud.thethings.network");
        REQUIRE_FALSE(refused);
        CHECK(refused.err().id() == "tls.unknown_ca");
        auto again = call(cfg, "eu1.cloud.thethings.network");  // the same setting: the same answer
        CHECK_FALSE(again);
        // The right CA, written over the same path (a later modification time, maybe the same size).
        std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) - std::chrono::seconds(10));
        write(certs().ca.cert_pem);
        auto trusted = call(cfg, "eu1.cloud.thethings.network");
        REQUIRE_MESSAGE(trusted, (trusted ? "" : trusted.err().what()));
        CHECK(trusted->status == 200);
        std::filesystem::remove_all(dir);
    }

    TEST_CASE_FIXTURE(tls_fixture, "wrong host name gives tls.hostname_mismatch") {
        start(certs().wrong_host);
        auto res = call(trusting(certs().ca), "eu1.cloud.thethings.network");
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "tls.hostname_mismatch");
        // The same certificate is fine for the name it carries.
        res = call(trusting(certs().ca), "nam1.cloud.thethings.network");
        REQUIRE(res);
    }

    TEST_CASE_FIXTURE(tls_fixture, "expired leaf gives tls.expired") {
        start(certs().expired);
        auto res = call(trusting(certs().ca), "eu1.cloud.thethings.network");
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "tls.expired");
        auto rep = run_probe(trusting(certs().ca), "eu1.cloud.thethings.network", false);
        REQUIRE(rep.verify_error.has_value());
        CHECK(rep.verify_error->id() == "tls.expired");
        REQUIRE(rep.chain_der.size() == 1);
    }

    TEST_CASE_FIXTURE(tls_fixture, "insecure skips verification, the probe still says why it would fail") {
        start(certs().expired);
        auto cfg = trusting(certs().other_ca);
        cfg.tls.insecure = true;
        auto res = call(cfg, "eu1.cloud.thethings.network");
        REQUIRE(res);
        auto rep = run_probe(cfg, "eu1.cloud.thethings.network", true);
        CHECK_FALSE(rep.verify_ok);
        REQUIRE(rep.verify_error.has_value());
        CHECK(rep.verify_error->id() == "tls.unknown_ca");
        CHECK(rep.http_status == 200);
        CHECK(rep.first_byte_ms.has_value());
    }

    TEST_CASE_FIXTURE(tls_fixture, "IP address certificates are verified against the IP") {
        start(certs().ip_leaf);
        client_config cfg;
        cfg.tls.use_system_store = false;
        cfg.tls.ca_pem = {certs().ca.cert_pem};
        auto res = call(cfg, "127.0.0.1");
        REQUIRE(res);
        auto rep = run_probe(cfg, "127.0.0.1", true);
        CHECK(rep.verify_ok);
        CHECK(rep.http_status == 200);
        CHECK_FALSE(rep.mapped);
    }

    TEST_CASE_FIXTURE(tls_fixture, "a slow TLS handshake runs into the client deadline") {
        start(certs().leaf, 2s);
        auto res = call(trusting(certs().ca), "eu1.cloud.thethings.network", 200ms);
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "net.timeout");
        CHECK(res.err().detail == "TLS handshake with eu1.cloud.thethings.network:" + std::to_string(port) + ": deadline expired");
    }

    TEST_CASE("max_concurrent_handshakes: further handshakes wait for a free slot") {
        asio::io_context ioc;
        server_options so;
        so.max_concurrent_handshakes = 1;
        server srv(ioc, so);
        srv.handle("GET", "/ping", [](proto::http_request, responder r) { r.send(proto::http_response{}); });
        listener_config l;
        l.tls = tls_server_config{certs().ip_leaf.cert_pem, certs().ip_leaf.key_pem};
        auto port = srv.listen(l);
        REQUIRE(port);
        // A client that connects and never says hello holds the only slot.
        asio::ip::tcp::socket silent(ioc);
        silent.connect({asio::ip::make_address("127.0.0.1"), *port});
        REQUIRE(run_until(ioc, [&] { return srv.stats().accepted == 1; }));
        client_config cfg;
        cfg.tls.use_system_store = false;
        cfg.tls.ca_pem = {certs().ca.cert_pem};
        http_client c(ioc.get_executor(), cfg);
        auto call = [&](std::chrono::milliseconds d) {
            std::optional<response_result> out;
            proto::http_request req;
            req.method = "GET";
            req.target = "/ping";
            c.async_request(req, request_options{"https://127.0.0.1:" + std::to_string(*port), d}, [&](response_result r) { out.emplace(std::move(r)); });
            REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
            return std::move(*out);
        };
        auto res = call(300ms);
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "net.timeout");
        silent.close();  // frees the slot
        res = call(5s);
        REQUIRE(res);
        CHECK(res->status == 200);
    }

    TEST_CASE_FIXTURE(tls_fixture, "a served chain with intermediates — max_chain_depth and max_chain_bytes refuse it as a station would") {
        pki::chain_options o;
        o.intermediates = 2;
        auto chain = pki::make_chain(certs().ca, "eu1.cloud.thethings.network", {"eu1.cloud.thethings.network"}, o);
        REQUIRE(chain);
        srv.handle("GET", "/ping", [](proto::http_request, responder r) { r.send(proto::http_response{}); });
        listener_config l;
        l.tls = tls_server_config{chain->chain_pem(), chain->leaf.key_pem};
        auto p = srv.listen(l);
        REQUIRE(p);
        port = *p;

        auto cfg = trusting(certs().ca);
        auto pr = run_probe(cfg, "eu1.cloud.thethings.network", false);
        CHECK(pr.verify_ok);
        REQUIRE(pr.chain_der.size() == 3);
        CHECK(pr.chain_der[1] == chain->intermediates[0].cert_der);
        CHECK(call(cfg, "eu1.cloud.thethings.network").has_value());

        cfg.tls.max_chain_depth = 2;
        CHECK(call(cfg, "eu1.cloud.thethings.network").has_value());
        cfg.tls.max_chain_depth = 1;
        auto res = call(cfg, "eu1.cloud.thethings.network");
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "tls.chain_too_long");

        cfg.tls.max_chain_depth = -1;
        cfg.tls.max_chain_bytes = chain->der_bytes() / 2;
        res = call(cfg, "eu1.cloud.thethings.network");
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "tls.chain_too_big");
        cfg.tls.max_chain_bytes = chain->der_bytes() + 64;  // + TLS framing
        CHECK(call(cfg, "eu1.cloud.thethings.network").has_value());

        cfg.tls.max_chain_bytes = std::size_t{2} << 30;
        auto v = validate(cfg.tls);
        REQUIRE_FALSE(v);
        CHECK(v.err().id() == "tls.bad_config");
    }

    TEST_CASE_FIXTURE(tls_fixture, "version mismatch gives tls.version_mismatch") {
        start(certs().leaf);
        auto cfg = trusting(certs().ca);
        // The server allows 1.2..1.3; make one side 1.3-only and the other 1.2-only.
        server s2(ioc);
        listener_config l;
        l.tls = tls_server_config{certs().leaf.cert_pem, certs().leaf.key_pem};
        l.tls->max_version = tls_version::tls1_2;
        auto p2 = s2.listen(l);
        REQUIRE(p2);
        cfg.tls.min_version = tls_version::tls1_3;
        REQUIRE(cfg.hosts.add("eu1.cloud.thethings.network:" + std::to_string(*p2) + ":127.0.0.1"));
        http_client c(ioc.get_executor(), cfg);
        std::optional<response_result> out;
        proto::http_request req;
        req.method = "GET";
        req.target = "/ping";
        c.async_request(req, request_options{"https://eu1.cloud.thethings.network:" + std::to_string(*p2), 5s},
                        [&](response_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE_FALSE(*out);
        CHECK(out->err().id() == "tls.version_mismatch");
    }

    TEST_CASE("probe: a bad URL and a DNS failure are reported by phase") {
        probe_options o;
        o.deadline = 3s;
        auto rep = probe("https://nonexistent.invalid:8887/", o);
        REQUIRE(rep.error.has_value());
        CHECK(rep.error->id() == "net.resolve_failed");
        CHECK(rep.failed_phase == "dns");
        rep = probe("not a url", o);
        CHECK(rep.failed_phase == "url");
        CHECK(rep.error->id() == "net.bad_url");
    }
}
