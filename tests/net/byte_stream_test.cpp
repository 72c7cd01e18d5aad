// net: byte_stream, the raw TCP/TLS client of the emulated station, against net::server on
// 127.0.0.1:0 (certificates made at run time). Requests and frames are written by hand, byte for byte.
#include "support/io_wait.hpp"
#include <ttig/net/byte_stream.hpp>
#include <ttig/net/server.hpp>
#include <ttig/pki/generate.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
#include <memory>
#include <optional>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;
using namespace ttig;
using namespace ttig::net;
using namespace std::chrono_literals;

namespace {

using ttig::test::run_until;

void run_for(asio::io_context& ioc, std::chrono::milliseconds d) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_for(d);
}

const std::string eu1 = "eu1.cloud.thethings.network";
const std::string nam1 = "nam1.cloud.thethings.network";

struct pki_set {
    pki::key_and_cert ca, other_ca, leaf, ip_leaf;
    pki_set() {
        auto must = [](proto::result<pki::key_and_cert> r) {
            REQUIRE(r);
            return std::move(*r);
        };
        ca = must(pki::make_ca("byte_stream test root"));
        other_ca = must(pki::make_ca("someone else's root"));
        leaf = must(pki::make_leaf(ca, eu1, {eu1, "localhost"}));
        ip_leaf = must(pki::make_leaf(ca, "127.0.0.1", {"127.0.0.1"}));
    }
};

const pki_set& certs() {
    static const pki_set s;
    return s;
}

// What one connection saw.
struct probe {
    std::optional<proto::result<void>> done;
    std::string data;
    std::optional<proto::error> end;
    int data_calls = 0;
};

struct fixture {
    asio::io_context ioc;
    server srv{ioc};
    std::uint16_t port = 0;
    host_map hosts;
    std::atomic<int> pings{0};

    fixture() {
        srv.handle("GET", "/ping", [this](proto::http_request req, responder r) {
            ++pings;
            proto::http_response res;
            res.headers.set("Content-Type", "text/plain");
            res.body = req.tls ? "pong over tls" : "pong";
            r.send(std::move(res));
        });
        srv.handle_ws("/echo", [](const proto::http_request&, ws_connection c) -> std::variant<proto::http_response, ws_handlers> {
            ws_handlers h;
            h.on_text = [c](std::string m) { c.send_text("echo:" + m); };
            h.response_headers.set("Server", "test");
            return h;
        });
    }

    void listen_plain() {
        auto p = srv.listen({});
        REQUIRE(p);
        port = *p;
    }

    void listen_tls(const std::string& chain_pem, const std::string& key_pem, tls_version max = tls_version::tls1_3) {
        listener_config l;
        l.tls = tls_server_config{chain_pem, key_pem};
        l.tls->max_version = max;
        auto p = srv.listen(l);
        REQUIRE(p);
        port = *p;
        REQUIRE(hosts.add(eu1 + ":" + std::to_string(port) + ":127.0.0.1"));
        REQUIRE(hosts.add(nam1 + ":" + std::to_string(port) + ":127.0.0.1"));
    }
    void listen_tls(const pki::key_and_cert& id = certs().leaf) { listen_tls(id.cert_pem, id.key_pem); }

    byte_stream_options tls_opts(const std::string& host = eu1) const {
        byte_stream_options o;
        o.host = host;
        o.port = port;
        o.tls = true;
        o.trust = proto::to_bytes(certs().ca.cert_pem);
        o.hosts = &hosts;
        o.connect_timeout = 5s;
        return o;
    }

    // Connects; handlers are set before connect so reading starts at once.
    std::shared_ptr<byte_stream> open(const byte_stream_options& o, probe& p) {
        auto bs = byte_stream::create(ioc.get_executor());
        bs->set_handlers(
            [&p](std::string_view d) {
                p.data.append(d);
                ++p.data_calls;
            },
            [&p](proto::error e) { p.end = std::move(e); });
        bs->connect(o, [&p](proto::result<void> r) { p.done = std::move(r); });
        REQUIRE(run_until(ioc, [&] { return p.done.has_value(); }));
        return bs;
    }

    proto::result<void> try_connect(const byte_stream_options& o, std::string* protocol = nullptr) {
        probe p;
        auto bs = open(o, p);
        if (protocol) *protocol = std::string(bs->tls_protocol());
        bs->close();
        return std::move(*p.done);
    }

    std::string request(const std::string& host) const {
        return "GET /ping HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
    }
};

// A raw listener: accepts and keeps what the client sent first; never answers (a blackhole for TLS).
struct raw_listener {
    asio::ip::tcp::acceptor acc;
    std::vector<std::shared_ptr<asio::ip::tcp::socket>> socks;
    std::string first_bytes;
    explicit raw_listener(asio::io_context& ioc, bool accept) : acc(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
        if (accept) do_accept();
    }
    std::uint16_t port() const { return acc.local_endpoint().port(); }
    void do_accept() {
        acc.async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket s) {
            if (ec) return;
            auto sp = std::make_shared<asio::ip::tcp::socket>(std::move(s));
            socks.push_back(sp);
            auto buf = std::make_shared<std::array<char, 4096>>();
            sp->async_read_some(asio::buffer(*buf), [this, buf](boost::system::error_code rec, std::size_t n) {
                if (!rec) first_bytes.append(buf->data(), n);
            });
            do_accept();
        });
    }
};

}  // namespace

TEST_SUITE("net.byte_stream") {
    TEST_CASE_FIXTURE(fixture, "plain: exact request bytes out, the response bytes back, then net.closed when the server closes") {
        listen_plain();
        byte_stream_options o;
        o.host = "127.0.0.1";
        o.port = port;
        probe p;
        auto bs = open(o, p);
        REQUIRE(*p.done);
        CHECK(bs->tls_protocol().empty());
        bs->write(request("127.0.0.1"));
        REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
        CHECK(p.data.starts_with("HTTP/1.1 200 OK\r\n"));
        CHECK(p.data.find("\r\nContent-Length: 4\r\n") != std::string::npos);
        CHECK(p.data.ends_with("\r\n\r\npong"));
        CHECK(p.end->id() == "net.closed");
        CHECK(pings == 1);
    }

    TEST_CASE_FIXTURE(fixture, "plain: writes made before the connection is up go out first, in order — a write from on_data") {
        listen_plain();
        byte_stream_options o;
        o.host = "127.0.0.1";
        o.port = port;
        auto bs = byte_stream::create(ioc.get_executor());
        const std::string req = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";  // keep-alive
        bs->write(req.substr(0, 5));
        bs->write(req.substr(5, 10));
        bs->write("");  // ignored
        bs->write(req.substr(15));
        probe p;
        std::weak_ptr<byte_stream> weak = bs;
        bool second_sent = false;
        bs->set_handlers(
            [&](std::string_view d) {
                p.data.append(d);
                // The second request on the same connection, written from the callback.
                if (!second_sent && p.data.ends_with("pong")) {
                    second_sent = true;
                    if (auto s = weak.lock()) s->write("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                }
            },
            [&](proto::error e) { p.end = std::move(e); });
        bs->connect(o, [&](proto::result<void> r) { p.done = std::move(r); });
        REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
        REQUIRE(p.done.has_value());
        CHECK(*p.done);
        CHECK(second_sent);
        CHECK(pings == 2);
        CHECK(p.data.starts_with("HTTP/1.1 200 OK\r\n"));
        CHECK(p.data.find("pongHTTP/1.1 200 OK\r\n") != std::string::npos);
        CHECK(p.data.ends_with("pong"));
        CHECK(p.end->id() == "net.closed");
    }

    TEST_CASE_FIXTURE(fixture, "TLS: a hand-written request and the exact response bytes — trust as PEM and as DER — TLS 1.3 by default") {
        listen_tls();
        for (bool der : {false, true}) {
            CAPTURE(der);
            auto o = tls_opts();
            if (der) o.trust = certs().ca.cert_der;
            probe p;
            auto bs = open(o, p);
            REQUIRE(*p.done);
            CHECK(bs->tls_protocol() == "TLSv1.3");
            bs->write(request(eu1));
            REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
            CHECK(p.data.starts_with("HTTP/1.1 200 OK\r\n"));
            CHECK(p.data.ends_with("\r\n\r\npong over tls"));
            CHECK(p.end->id() == "net.closed");
        }
        CHECK(pings == 2);
    }

    TEST_CASE_FIXTURE(fixture, "TLS: a WebSocket upgrade and frames written byte for byte (masked as a station masks them)") {
        listen_tls();
        probe p;
        auto bs = open(tls_opts(), p);
        REQUIRE(*p.done);
        bs->write("GET /echo HTTP/1.1\r\nHost: " + eu1 + ":" + std::to_string(port) +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n");
        REQUIRE(run_until(ioc, [&] { return p.data.find("\r\n\r\n") != std::string::npos; }));
        CHECK(p.data.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        CHECK(p.data.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
        p.data.erase(0, p.data.find("\r\n\r\n") + 4);
        // Text frame "hi", FIN, masked with 01 01 01 01.
        const std::string frame{
            "\x81\x82\x01\x01\x01\x01"
            "\x69\x68",
            8};
        bs->write(frame);
        REQUIRE(run_until(ioc, [&] { return p.data.size() >= 9; }));
        CHECK(p.data == std::string("\x81\x07"
                                    "echo:hi",
                                    9));
        // Close frame 1000, masked with 00 00 00 00: the server answers with its close frame and closes.
        bs->write(std::string("\x88\x82\x00\x00\x00\x00\x03\xe8", 8));
        REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
        CHECK(p.data.substr(9).starts_with(std::string("\x88\x02\x03\xe8", 4)));
        CHECK(p.end->id() == "net.closed");
    }

    TEST_CASE_FIXTURE(fixture, "TLS verification: wrong trust, wrong name, verify_host off, IP SAN, partial chain trust") {
        listen_tls();
        auto o = tls_opts();
        o.trust = proto::to_bytes(certs().other_ca.cert_pem);
        auto r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.unknown_ca");

        o = tls_opts(nam1);  // mapped to the same server, whose certificate names eu1 only
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.hostname_mismatch");
        o.verify_host = false;
        CHECK(try_connect(o));
        o.trust = proto::to_bytes(certs().other_ca.cert_pem);  // the chain is still verified
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.unknown_ca");

        // An IP literal is checked against IP SANs: the eu1 certificate has none.
        o = tls_opts("127.0.0.1");
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.hostname_mismatch");
        o.verify_host = false;
        CHECK(try_connect(o));

        // Garbage trust, and a client certificate without its key: our own configuration.
        o = tls_opts();
        o.trust = proto::to_bytes("not a certificate");
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.bad_config");
        o = tls_opts();
        o.client_cert = certs().leaf.cert_der;
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.bad_config");
        // Both (DER and PEM): accepted (the server does not ask for one).
        o.client_key = certs().leaf.key_der;
        CHECK(try_connect(o));
        o.client_cert = proto::to_bytes(certs().leaf.cert_pem);
        o.client_key = proto::to_bytes(certs().leaf.key_pem);
        CHECK(try_connect(o));
        o.client_key = certs().ip_leaf.key_der;  // not this certificate's key
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.bad_config");
    }

    TEST_CASE_FIXTURE(fixture, "TLS to an IP literal: verified against the IP SAN") {
        listen_tls(certs().ip_leaf);
        CHECK(try_connect(tls_opts("127.0.0.1")));
        auto o = tls_opts("127.0.0.1");
        o.hosts = nullptr;
        CHECK(try_connect(o));
    }

    TEST_CASE_FIXTURE(fixture, "SNI is sent for a DNS name and for an IP literal (as a station sends it)") {
        raw_listener raw(ioc, true);
        for (const std::string& host : {std::string("127.0.0.1"), eu1}) {
            CAPTURE(host);
            raw.first_bytes.clear();
            host_map m;
            REQUIRE(m.add(eu1 + ":" + std::to_string(raw.port()) + ":127.0.0.1"));
            byte_stream_options o;
            o.host = host;
            o.port = raw.port();
            o.tls = true;
            o.hosts = &m;
            o.connect_timeout = 300ms;
            auto r = try_connect(o);
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "net.timeout");
            REQUIRE(run_until(ioc, [&] { return !raw.first_bytes.empty(); }));
            CHECK(raw.first_bytes[0] == '\x16');  // a TLS handshake record: the ClientHello
            CHECK(raw.first_bytes.find(host) != std::string::npos);
        }
    }

    TEST_CASE_FIXTURE(fixture, "TLS versions: a TLS 1.2-only client, and no common version") {
        listen_tls();
        auto o = tls_opts();
        o.max_version = tls_version::tls1_2;
        std::string proto_name;
        CHECK(try_connect(o, &proto_name));
        CHECK(proto_name == "TLSv1.2");

        server s2(ioc);
        listener_config l;
        l.tls = tls_server_config{certs().leaf.cert_pem, certs().leaf.key_pem};
        l.tls->max_version = tls_version::tls1_2;
        auto p2 = s2.listen(l);
        REQUIRE(p2);
        o = tls_opts();
        o.host = "localhost";
        o.port = *p2;
        o.min_version = tls_version::tls1_3;
        auto r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.version_mismatch");
        o.min_version = tls_version::tls1_2;
        CHECK(try_connect(o, &proto_name));
        CHECK(proto_name == "TLSv1.2");
    }

    TEST_CASE_FIXTURE(fixture, "a chain with two intermediates: max_chain_depth and max_chain_bytes refuse it — trusting an intermediate") {
        pki::chain_options co;
        co.intermediates = 2;
        auto chain = pki::make_chain(certs().ca, eu1, {eu1}, co);
        REQUIRE(chain);
        listen_tls(chain->chain_pem(), chain->leaf.key_pem);
        auto o = tls_opts();
        CHECK(try_connect(o));
        o.max_chain_depth = 2;
        CHECK(try_connect(o));
        o.max_chain_depth = 1;
        auto r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.chain_too_long");

        o.max_chain_depth = -1;
        o.max_chain_bytes = chain->der_bytes() / 2;
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "tls.chain_too_big");
        o.max_chain_bytes = chain->der_bytes() + 64;
        CHECK(try_connect(o));

        // Every certificate of the trust file is an anchor: the intermediate that issued the leaf
        // is enough (as with mbedTLS), even though it is not self-signed.
        o = tls_opts();
        o.trust = chain->intermediates[0].cert_der;
        CHECK(try_connect(o));
    }

    TEST_CASE_FIXTURE(fixture, "connect failures: refused, blackhole timeout, bad target, connect twice") {
        std::uint16_t closed_port = 0;
        {
            asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
            closed_port = a.local_endpoint().port();
        }
        byte_stream_options o;
        o.host = "127.0.0.1";
        o.port = closed_port;
        auto r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "net.connect_refused");
        o.tls = true;
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "net.connect_refused");

        // A listener that never accepts: TCP completes (backlog), the TLS handshake never does.
        raw_listener hole(ioc, false);
        o.port = hole.port();
        o.connect_timeout = 300ms;
        const auto t0 = std::chrono::steady_clock::now();
        r = try_connect(o);
        const auto took = std::chrono::steady_clock::now() - t0;
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "net.timeout");
        CHECK(took >= 280ms);
        CHECK(took < 3s);

        o.host.clear();
        r = try_connect(o);
        REQUIRE_FALSE(r);
        CHECK(r.err().id() == "net.bad_url");

        listen_plain();
        o.host = "127.0.0.1";
        o.port = port;
        o.tls = false;
        probe p;
        auto bs = open(o, p);
        REQUIRE(*p.done);
        std::optional<proto::result<void>> again;
        bs->connect(o, [&](proto::result<void> r2) { again = std::move(r2); });
        REQUIRE(run_until(ioc, [&] { return again.has_value(); }));
        REQUIRE_FALSE(*again);
        CHECK(again->err().id() == "net.aborted");
        bs->close();
    }

    TEST_CASE_FIXTURE(fixture, "close() during connect: the connect ends with net.aborted at once") {
        raw_listener hole(ioc, false);
        byte_stream_options o;
        o.host = "127.0.0.1";
        o.port = hole.port();
        o.tls = true;
        o.connect_timeout = 5s;
        auto bs = byte_stream::create(ioc.get_executor());
        std::optional<proto::result<void>> done;
        bs->connect(o, [&](proto::result<void> r) { done = std::move(r); });
        run_for(ioc, 100ms);  // TCP is up, the handshake waits
        CHECK_FALSE(done.has_value());
        const auto t0 = std::chrono::steady_clock::now();
        bs->close();
        REQUIRE(run_until(ioc, [&] { return done.has_value(); }));
        CHECK(std::chrono::steady_clock::now() - t0 < 1s);
        REQUIRE_FALSE(*done);
        CHECK(done->err().id() == "net.aborted");
    }

    TEST_CASE_FIXTURE(fixture, "close(): queued writes go out first, then close_notify and FIN — no callbacks after it") {
        listen_tls();
        std::optional<ws_close_info> server_saw;
        srv.handle_ws("/station", [&](const proto::http_request&, ws_connection) -> std::variant<proto::http_response, ws_handlers> {
            ws_handlers h;
            h.on_close = [&](const ws_close_info& i) { server_saw = i; };
            return h;
        });
        probe p;
        auto bs = open(tls_opts(), p);
        REQUIRE(*p.done);
        bs->write(
            "GET /station HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        REQUIRE(run_until(ioc, [&] { return p.data.find("\r\n\r\n") != std::string::npos; }));
        // The close frame is queued, then close(): the frame is written before the connection ends.
        bs->write(std::string("\x88\x82\x00\x00\x00\x00\x03\xe8", 8));
        bs->close();
        bs->write("dropped");
        REQUIRE(run_until(ioc, [&] { return server_saw.has_value(); }));
        CHECK(server_saw->code == 1000);
        run_for(ioc, 100ms);
        CHECK_FALSE(p.end.has_value());  // not called after close()
        bs->close();                     // idempotent
        bs->abort();
    }

    TEST_CASE_FIXTURE(fixture, "abort(): the connection ends at once, without close_notify — no callbacks after it") {
        listen_tls();
        std::optional<ws_close_info> server_saw;
        srv.handle_ws("/station", [&](const proto::http_request&, ws_connection) -> std::variant<proto::http_response, ws_handlers> {
            ws_handlers h;
            h.on_close = [&](const ws_close_info& i) { server_saw = i; };
            return h;
        });
        probe p;
        auto bs = open(tls_opts(), p);
        REQUIRE(*p.done);
        bs->write(
            "GET /station HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        REQUIRE(run_until(ioc, [&] { return p.data.find("\r\n\r\n") != std::string::npos; }));
        bs->abort();
        REQUIRE(run_until(ioc, [&] { return server_saw.has_value(); }));
        CHECK(server_saw->code == 1006);  // no close frame
        REQUIRE(server_saw->error.has_value());
        CHECK(server_saw->error->id() == "net.closed");
        run_for(ioc, 50ms);
        CHECK_FALSE(p.end.has_value());
        // Writes and handlers after the end do nothing.
        bs->write("late");
        bs->set_handlers([&](std::string_view) { FAIL("no data after abort"); }, [&](proto::error) { FAIL("no end after abort"); });
        run_for(ioc, 50ms);
    }

    TEST_CASE_FIXTURE(fixture, "the peer resets or drops: on_end once with the net id") {
        srv.handle("GET", "/reset", [](proto::http_request, responder r) { r.reset(); });
        listen_plain();
        byte_stream_options o;
        o.host = "127.0.0.1";
        o.port = port;
        probe p;
        auto bs = open(o, p);
        REQUIRE(*p.done);
        bs->write("GET /reset HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
        CHECK(p.end->id() == "net.reset");
        CHECK(p.data.empty());

        // Server stop: the connection is closed without a response.
        probe q;
        auto bs2 = open(o, q);
        REQUIRE(*q.done);
        run_for(ioc, 20ms);
        srv.stop();
        REQUIRE(run_until(ioc, [&] { return q.end.has_value(); }));
        CHECK(q.end->id() == "net.closed");
    }

    TEST_CASE_FIXTURE(fixture, "a large response arrives complete through reads of at most one TLS record") {
        const std::string big(300 * 1024, 'x');
        srv.handle("GET", "/big", [&big](proto::http_request, responder r) {
            proto::http_response res;
            res.body = big;
            r.send(std::move(res));
        });
        listen_tls();
        probe p;
        auto bs = open(tls_opts(), p);
        REQUIRE(*p.done);
        bs->write("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        REQUIRE(run_until(ioc, [&] { return p.end.has_value(); }));
        CHECK(p.end->id() == "net.closed");
        CHECK(p.data.ends_with("\r\n\r\n" + big));
        CHECK(p.data_calls >= static_cast<int>(big.size() / (16 * 1024)));
    }
}

// ---- memory per idle client connection (manual: ./tests_net -tc='*byte_stream memory*' --no-skip) ----
//
// The server runs in a forked child; the byte_stream clients run here, so the RSS growth measured
// is the clients' alone. Meaningful only in a build without sanitizers.

namespace {

long heap_kib() {
    return static_cast<long>(mallinfo2().uordblks / 1024);
}

long rss_kib() {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void measure_clients(bool tls, int n) {
    auto ca = pki::make_ca("mem root");
    auto leaf = pki::make_leaf(*ca, "localhost", {"127.0.0.1"});
    REQUIRE(ca);
    REQUIRE(leaf);
    int portpipe[2];
    REQUIRE(pipe(portpipe) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        asio::io_context sio;
        server_options so;
        so.max_concurrent_handshakes = 0;
        server srv(sio, so);
        srv.handle_ws("/traffic/{id}", [](const proto::http_request&, ws_connection) -> std::variant<proto::http_response, ws_handlers> {
            return ws_handlers{};
        });
        listener_config l;
        if (tls) l.tls = tls_server_config{leaf->cert_pem, leaf->key_pem};
        auto port = srv.listen(l);
        std::uint16_t p = port ? *port : 0;
        (void)!write(portpipe[1], &p, sizeof p);
        sio.run();
        _exit(0);
    }
    std::uint16_t port = 0;
    REQUIRE(read(portpipe[0], &port, sizeof port) == sizeof port);
    REQUIRE(port != 0);

    asio::io_context ioc;
    const std::string upgrade =
        "GET /traffic/x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    std::vector<std::shared_ptr<byte_stream>> conns;
    int upgraded = 0;
    auto start = [&](int count) {
        for (int i = 0; i < count; ++i) {
            auto bs = byte_stream::create(ioc.get_executor());
            byte_stream_options o;
            o.host = "127.0.0.1";
            o.port = port;
            o.tls = tls;
            o.trust = ca->cert_der;
            auto seen = std::make_shared<bool>(false);
            bs->set_handlers(
                [&upgraded, seen](std::string_view d) {
                    if (!*seen && d.find("101") != std::string_view::npos) {
                        *seen = true;
                        ++upgraded;
                    }
                },
                [](proto::error) {});
            bs->write(upgrade);
            bs->connect(o, [](proto::result<void>) {});
            conns.push_back(bs);
        }
    };
    start(1);  // one-time allocations (OpenSSL tables, the shared SSL_CTX)
    REQUIRE(run_until(
        ioc, [&] { return upgraded == 1; }, 30s));
    run_for(ioc, 200ms);
    const long before = rss_kib();
    const long heap_before = heap_kib();
    // In batches, as a fleet ramps up (bounds the handshake peak, which the heap keeps).
    for (int done = 0; done < n; done += 50) {
        const int batch = std::min(50, n - done);
        start(batch);
        REQUIRE(run_until(
            ioc, [&] { return upgraded == done + batch + 1; }, 120s));
    }
    run_for(ioc, 1s);
    const long after = rss_kib();
    const long heap_after = heap_kib();
    MESSAGE(std::string(tls ? "wss" : "ws") << " byte_stream clients: " << n << " idle connections: RSS +" << (after - before)
                                            << " KiB = " << static_cast<double>(after - before) / n << " KiB per connection; heap in use +"
                                            << (heap_after - heap_before) << " KiB = " << static_cast<double>(heap_after - heap_before) / n
                                            << " KiB per connection");
    for (auto& c : conns) c->abort();
    run_for(ioc, 200ms);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    close(portpipe[0]);
    close(portpipe[1]);
}

}  // namespace

TEST_SUITE("net.byte_stream") {
    TEST_CASE("byte_stream memory: 1000 ws and 1000 wss idle client connections (manual)" * doctest::skip()) {
        const char* n = std::getenv("TTIG_NET_MEM_SESSIONS");  // e.g. 10000 (needs ulimit -n above it)
        const int count = n ? std::atoi(n) : 1000;
        measure_clients(false, count);
        measure_clients(true, count);
    }
}
