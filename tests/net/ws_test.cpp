// net: WebSocket server and client (ws and wss) on 127.0.0.1:0.
#include "support/io_wait.hpp"
#include <ttig/net/server.hpp>
#include <ttig/net/ws_client.hpp>
#include <ttig/pki/generate.hpp>

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace ttig;
using namespace ttig::net;
using namespace std::chrono_literals;

namespace {

using ttig::test::run_until;

// Runs a test coroutine to its end on ioc.
template <class F>
void run_coro(asio::io_context& ioc, F& f, std::chrono::milliseconds limit = 10s) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, f(), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    REQUIRE(run_until(ioc, [&] { return done; }, limit));
    if (error) std::rethrow_exception(error);
}

constexpr auto aw = asio::use_awaitable;

struct ws_fixture {
    asio::io_context ioc;
    server srv{ioc};
    std::uint16_t port = 0;
    std::vector<std::string> pongs;
    std::vector<ws_close_info> closes;
    std::vector<ws_connection> conns;

    ws_fixture() {
        srv.handle_ws("/router-info", [](const proto::http_request&, ws_connection) -> std::variant<proto::http_response, ws_handlers> {
            proto::http_response res;
            res.status = 403;
            res.headers.set("Content-Type", "application/json");
            res.body = R"({"code":7,"message":"error:pkg/basicstation:unauthenticated"})";
            return res;
        });
        srv.handle_ws("/traffic/{id}", [this](const proto::http_request& req, ws_connection c) -> std::variant<proto::http_response, ws_handlers> {
            CHECK(req.headers.get("Authorization") == "Bearer secret");
            CHECK(c.params().at(0).second == "eui-1");
            CHECK(c.remote_endpoint().starts_with("127.0.0.1:"));
            conns.push_back(c);
            ws_handlers h;
            h.on_text = [c](std::string msg) {
                if (msg == "drop") c.drop();
                else if (msg == "reply-and-drop") {
                    c.send_text("bye");  // written before the drop, as TTS does on /router-info
                    c.drop();
                    c.send_text("never");  // after the drop: discarded
                }
                else if (msg == "close") c.close(4000, "bye");
                else if (msg == "ping-me") {
                    c.ping("srv");
                    c.send_text("pinged");
                } else c.send_text("echo:" + msg);
            };
            h.on_binary = [c](std::string msg) { c.send_binary(msg); };
            h.on_pong = [this](std::string p) { pongs.push_back(std::move(p)); };
            h.on_close = [this](const ws_close_info& i) { closes.push_back(i); };
            h.response_headers.set("Sec-WebSocket-Protocol", "x-test");
            return h;
        });
    }

    void start(std::optional<tls_server_config> tls = std::nullopt) {
        listener_config l;
        l.tls = std::move(tls);
        auto p = srv.listen(l);
        REQUIRE(p);
        port = *p;
    }

    ws_connect_options auth() const {
        ws_connect_options o;
        o.headers = {"Authorization: Bearer secret", "Sec-WebSocket-Protocol: x-test"};
        o.deadline = 5s;
        return o;
    }
    std::string url(const char* scheme, const char* path) const { return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + path; }
};

}  // namespace

TEST_SUITE("net.ws") {
    TEST_CASE_FIXTURE(ws_fixture, "upgrade refused with a JSON 403: the client sees the status and body") {
        start();
        ws_client c(ioc.get_executor());
        auto body = [&]() -> asio::awaitable<void> {
            auto r = co_await c.async_connect(url("ws", "/router-info"), ws_connect_options{}, aw);
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "net.http_status");
            CHECK(r.err().detail.find("HTTP 403 Forbidden") != std::string::npos);
            REQUIRE(c.handshake_response().has_value());
            CHECK(c.handshake_response()->status == 403);
            CHECK(c.handshake_response()->headers.get("Content-Type") == "application/json");
            CHECK(c.handshake_response()->body == R"({"code":7,"message":"error:pkg/basicstation:unauthenticated"})");
            CHECK_FALSE(c.is_open());
        };
        run_coro(ioc, body);
    }

    TEST_CASE_FIXTURE(ws_fixture, "accepted session: echo text and binary, client ping gets a pong, client close") {
        start();
        ws_client c(ioc.get_executor());
        std::vector<std::string> client_pongs;
        auto body = [&]() -> asio::awaitable<void> {
            auto o = auth();
            o.on_pong = [&](std::string_view p) { client_pongs.emplace_back(p); };
            auto r = co_await c.async_connect(url("ws", "/traffic/eui-1"), o, aw);
            REQUIRE(r);
            CHECK(r->status == 101);
            CHECK(r->headers.get("Sec-WebSocket-Protocol") == "x-test");
            CHECK(c.is_open());
            REQUIRE(co_await c.async_send_text("hello", aw));
            auto m = co_await c.async_read(2s, aw);
            REQUIRE(m);
            CHECK_FALSE(m->binary);
            CHECK(m->data == "echo:hello");
            REQUIRE(co_await c.async_send_binary(std::string("\x00\x01\x02", 3), aw));
            m = co_await c.async_read(2s, aw);
            REQUIRE(m);
            CHECK(m->binary);
            CHECK(m->data == std::string("\x00\x01\x02", 3));
            REQUIRE(co_await c.async_ping("cli", aw));
            REQUIRE(co_await c.async_send_text("after-ping", aw));
            m = co_await c.async_read(2s, aw);
            REQUIRE(m);
            CHECK(m->data == "echo:after-ping");
            CHECK(client_pongs == std::vector<std::string>{"cli"});
            REQUIRE(co_await c.async_close(1000, "done", aw));
            CHECK_FALSE(c.is_open());
        };
        run_coro(ioc, body);
        REQUIRE(run_until(ioc, [&] { return closes.size() == 1; }));
        CHECK(closes[0].code == 1000);
        CHECK(closes[0].reason == "done");
        CHECK_FALSE(closes[0].error.has_value());
        CHECK(srv.stats().ws_sessions == 1);
        CHECK(srv.stats().open_connections == 0);
        REQUIRE(conns.size() == 1);
        CHECK_FALSE(conns[0].is_open());
        CHECK_FALSE(conns[0].send_text("late"));
    }

    TEST_CASE_FIXTURE(ws_fixture, "server ping() is answered by the client, on_pong sees the payload") {
        start();
        ws_client c(ioc.get_executor());
        std::vector<std::string> client_pings;
        auto body = [&]() -> asio::awaitable<void> {
            auto o = auth();
            o.on_ping = [&](std::string_view p) { client_pings.emplace_back(p); };
            REQUIRE(co_await c.async_connect(url("ws", "/traffic/eui-1"), o, aw));
            REQUIRE(co_await c.async_send_text("ping-me", aw));
            auto m = co_await c.async_read(2s, aw);  // the server's ping arrives (and is answered) during this read
            REQUIRE(m);
            CHECK(m->data == "pinged");
        };
        run_coro(ioc, body);
        CHECK(client_pings == std::vector<std::string>{"srv"});
        REQUIRE(run_until(ioc, [&] { return pongs.size() == 1; }));
        CHECK(pongs[0] == "srv");
    }

    TEST_CASE_FIXTURE(ws_fixture, "server drop() closes TCP without a close frame, close() sends one") {
        start();
        ws_client c1(ioc.get_executor()), c2(ioc.get_executor());
        auto body = [&]() -> asio::awaitable<void> {
            REQUIRE(co_await c1.async_connect(url("ws", "/traffic/eui-1"), auth(), aw));
            REQUIRE(co_await c1.async_send_text("drop", aw));
            auto m = co_await c1.async_read(2s, aw);
            REQUIRE_FALSE(m);
            CHECK(m.err().id() == "net.closed");
            REQUIRE(c1.close_info().has_value());
            CHECK(c1.close_info()->code == 1006);

            ws_client c3(ioc.get_executor());
            REQUIRE(co_await c3.async_connect(url("ws", "/traffic/eui-1"), auth(), aw));
            REQUIRE(co_await c3.async_send_text("reply-and-drop", aw));
            m = co_await c3.async_read(2s, aw);
            REQUIRE(m);
            CHECK(m->data == "bye");
            m = co_await c3.async_read(2s, aw);
            REQUIRE_FALSE(m);
            CHECK(m.err().id() == "net.closed");

            REQUIRE(co_await c2.async_connect(url("ws", "/traffic/eui-1"), auth(), aw));
            REQUIRE(co_await c2.async_send_text("close", aw));
            m = co_await c2.async_read(2s, aw);
            REQUIRE_FALSE(m);
            CHECK(m.err().id() == "net.ws_closed");
            CHECK(m.err().detail == "close code 4000: bye");
            REQUIRE(c2.close_info().has_value());
            CHECK(c2.close_info()->code == 4000);
            CHECK(c2.close_info()->reason == "bye");
        };
        run_coro(ioc, body);
        REQUIRE(run_until(ioc, [&] { return closes.size() == 3; }));
        CHECK(closes[0].code == 1006);
        REQUIRE(closes[0].error.has_value());
        CHECK(closes[0].error->id() == "net.aborted");
        CHECK(closes[1].code == 1006);
        CHECK(closes[2].code == 4000);
    }

    TEST_CASE_FIXTURE(ws_fixture, "read deadline gives net.timeout, server stop() ends sessions") {
        start();
        ws_client c(ioc.get_executor()), c2(ioc.get_executor());
        auto body = [&]() -> asio::awaitable<void> {
            REQUIRE(co_await c.async_connect(url("ws", "/traffic/eui-1"), auth(), aw));
            auto m = co_await c.async_read(100ms, aw);
            REQUIRE_FALSE(m);
            CHECK(m.err().id() == "net.timeout");
            REQUIRE(co_await c2.async_connect(url("ws", "/traffic/eui-1"), auth(), aw));
        };
        run_coro(ioc, body);
        REQUIRE(run_until(ioc, [&] { return closes.size() == 1; }));
        srv.stop();
        std::optional<proto::result<ws_message>> got;
        c2.async_read(2s, [&](proto::result<ws_message> r) { got.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return got.has_value(); }));
        REQUIRE_FALSE(*got);
        CHECK(got->err().id() == "net.closed");
        REQUIRE(run_until(ioc, [&] { return closes.size() == 2; }));
    }

    TEST_CASE_FIXTURE(ws_fixture, "wss: echo over TLS with a verified server certificate") {
        auto ca = pki::make_ca("ws test root");
        REQUIRE(ca);
        auto leaf = pki::make_leaf(*ca, "eu1.cloud.thethings.network", {"eu1.cloud.thethings.network"});
        REQUIRE(leaf);
        start(tls_server_config{leaf->cert_pem, leaf->key_pem});
        client_config cfg;
        cfg.tls.use_system_store = false;
        cfg.tls.ca_pem = {ca->cert_pem};
        REQUIRE(cfg.hosts.add("eu1.cloud.thethings.network:" + std::to_string(port) + ":127.0.0.1"));
        ws_client c(ioc.get_executor(), cfg);
        auto body = [&]() -> asio::awaitable<void> {
            REQUIRE(co_await c.async_connect("wss://eu1.cloud.thethings.network:" + std::to_string(port) + "/traffic/eui-1", auth(), aw));
            for (int i = 0; i < 20; ++i) {
                std::string big(5000 + i * 1000, static_cast<char>('a' + i));
                REQUIRE(co_await c.async_send_text(big, aw));
                auto m = co_await c.async_read(2s, aw);
                REQUIRE(m);
                CHECK(m->data == "echo:" + big);
            }
            REQUIRE(co_await c.async_close(1000, "", aw));
        };
        run_coro(ioc, body);
        REQUIRE(run_until(ioc, [&] { return closes.size() == 1; }));
        CHECK(closes[0].code == 1000);
    }

    TEST_CASE_FIXTURE(ws_fixture, "client: bad header lines and non-ws URLs are refused before connecting") {
        start();
        ws_client c(ioc.get_executor());
        auto body = [&]() -> asio::awaitable<void> {
            ws_connect_options o;
            o.headers = {"NoColon"};
            auto r = co_await c.async_connect(url("ws", "/traffic/eui-1"), o, aw);
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "net.bad_header");
            r = co_await c.async_connect(url("http", "/traffic/eui-1"), ws_connect_options{}, aw);
            REQUIRE_FALSE(r);
            CHECK(r.err().id() == "net.bad_url");
        };
        run_coro(ioc, body);
        CHECK(srv.stats().accepted == 0);
    }
}

// ---- memory per idle session (manual: ./tests_net -tc='*idle session memory*' --no-skip) -------
//
// The server runs in this process; the clients run in a forked child, so the RSS growth measured
// here is the server's alone. Meaningful only in a build without sanitizers.

namespace {

long heap_kib() { return static_cast<long>(mallinfo2().uordblks / 1024); }

long rss_kib() {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void measure(bool tls, int sessions) {
    asio::io_context ioc;
    server_options so;
    server srv(ioc, so);
    srv.handle_ws("/traffic/{id}", [](const proto::http_request&, ws_connection c) -> std::variant<proto::http_response, ws_handlers> {
        ws_handlers h;
        h.on_text = [c](std::string m) { c.send_text(std::move(m)); };
        return h;
    });
    auto ca = pki::make_ca("mem root");
    auto leaf = pki::make_leaf(*ca, "localhost", {"127.0.0.1"});
    listener_config l;
    if (tls) l.tls = tls_server_config{leaf->cert_pem, leaf->key_pem};
    auto port = srv.listen(l);
    REQUIRE(port);
    // Warm up: one session, so that one-time allocations (OpenSSL tables, Beast) are not counted.
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    auto spawn = [&](int n) {
        pid_t pid = fork();
        if (pid == 0) {
            close(pipefd[1]);
            asio::io_context cio;
            client_config cfg;
            cfg.tls.use_system_store = false;
            cfg.tls.ca_pem = {ca->cert_pem};
            std::vector<std::unique_ptr<ws_client>> cs;
            int ok = 0;
            for (int i = 0; i < n; ++i) {
                cs.push_back(std::make_unique<ws_client>(cio.get_executor(), cfg));
                cs.back()->async_connect(std::string(tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(*port) + "/traffic/x", ws_connect_options{},
                                         [&](proto::result<proto::http_response> r) { ok += r ? 1 : 0; });
            }
            cio.run();
            char c;
            (void)!read(pipefd[0], &c, 1);  // wait for the parent to measure
            _exit(ok == n ? 0 : 1);
        }
        return pid;
    };
    pid_t warm = spawn(1);
    REQUIRE(run_until(ioc, [&] { return srv.stats().ws_sessions == 1; }, 30s));
    ioc.run_for(200ms);
    const long before = rss_kib();
    const long heap_before = heap_kib();

    pid_t pid = spawn(sessions);
    // Counted once TLS and the upgrade request are through; then let the 101s go out.
    REQUIRE(run_until(ioc, [&] { return srv.stats().ws_sessions == static_cast<std::uint64_t>(sessions) + 1; }, 120s));
    ioc.run_for(1s);
    const long after = rss_kib();
    const long heap_after = heap_kib();
    MESSAGE(std::string(tls ? "wss" : "ws") << ": " << sessions << " idle sessions: RSS +" << (after - before) << " KiB = "
                                            << static_cast<double>(after - before) / sessions << " KiB per session; heap in use +"
                                            << (heap_after - heap_before) << " KiB = " << static_cast<double>(heap_after - heap_before) / sessions
                                            << " KiB per session");
    close(pipefd[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    waitpid(warm, &st, 0);
    close(pipefd[0]);
    srv.stop();
}

}  // namespace

TEST_SUITE("net.ws") {
    TEST_CASE("idle session memory: 1000 ws and 1000 wss sessions (manual)" * doctest::skip()) {
        const char* n = std::getenv("TTIG_NET_MEM_SESSIONS");  // e.g. 10000 (needs ulimit -n above it)
        const int sessions = n ? std::atoi(n) : 1000;
        measure(false, sessions);
        measure(true, sessions);
    }
}
