// net: HTTP server + client on 127.0.0.1:0, one io_context driven with run_for.
#include "support/io_wait.hpp"
#include <ttig/net/http_client.hpp>
#include <ttig/net/server.hpp>

#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <optional>
#include <thread>

namespace asio = boost::asio;
using namespace ttig;
using namespace ttig::net;
using namespace std::chrono_literals;

namespace {

using ttig::test::run_until;

proto::http_response text(int status, std::string body) {
    proto::http_response r;
    r.status = status;
    r.headers.set("Content-Type", "text/plain");
    r.body = std::move(body);
    return r;
}

proto::http_request get(std::string target) {
    proto::http_request r;
    r.method = "GET";
    r.target = std::move(target);
    return r;
}

struct fixture {
    asio::io_context ioc;
    server srv{ioc};
    std::uint16_t port = 0;

    void start(server_options opts = {}) {
        (void)opts;
        auto p = srv.listen({});
        REQUIRE(p);
        port = *p;
        CHECK(srv.port() == port);
    }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }

    response_result call(http_client& c, proto::http_request req, std::chrono::milliseconds deadline = 5s) {
        std::optional<response_result> out;
        c.async_request(std::move(req), request_options{base(), deadline}, [&](response_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        return std::move(*out);
    }

    // Sends raw bytes on a fresh TCP connection and returns everything read until the server closes.
    std::string raw_exchange(std::string request) {
        std::string got;
        bool done = false;
        auto body = [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket s(ioc);
            auto [cec] = co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::as_tuple(asio::use_awaitable));
            REQUIRE_FALSE(cec);
            co_await asio::async_write(s, asio::buffer(request), asio::as_tuple(asio::use_awaitable));
            char buf[4096];
            for (;;) {
                auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
                got.append(buf, n);
                if (ec) break;
            }
        };
        asio::co_spawn(ioc, body(), [&](std::exception_ptr) { done = true; });
        REQUIRE(run_until(ioc, [&] { return done; }));
        return got;
    }
};

}  // namespace

TEST_SUITE("net.http") {
    TEST_CASE_FIXTURE(fixture, "server: routing by method and pattern, params, 404 and 405") {
        srv.handle("GET", "/api/v3/gateways/{gateway_id}", [](proto::http_request req, responder r) {
            r.send(text(200, "gw=" + std::string(r.param("gateway_id")) + " q=" + std::string(req.query())));
        });
        srv.handle("GET", "/api/v3/gateways/special", [](proto::http_request, responder r) { r.send(text(200, "exact")); });
        srv.handle("*", "/static/*", [](proto::http_request req, responder r) { r.send(text(200, "prefix " + req.method)); });
        srv.handle("POST", "/echo", [](proto::http_request req, responder r) { r.send(text(201, req.body)); });
        start();
        http_client c(ioc.get_executor());

        auto res = call(c, get("/api/v3/gateways/eui-1?field_mask=name"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "gw=eui-1 q=field_mask=name");
        res = call(c, get("/api/v3/gateways/special"));
        REQUIRE(res);
        CHECK(res->body == "exact");
        auto del = get("/static/a/b");
        del.method = "DELETE";
        res = call(c, del);
        REQUIRE(res);
        CHECK(res->body == "prefix DELETE");
        proto::http_request post = get("/echo");
        post.method = "POST";
        post.body = R"({"a":1})";
        res = call(c, post);
        REQUIRE(res);
        CHECK(res->status == 201);
        CHECK(res->body == R"({"a":1})");
        res = call(c, get("/nowhere"));
        REQUIRE(res);
        CHECK(res->status == 404);
        CHECK(res->body == "404 page not found\n");
        res = call(c, get("/echo"));
        REQUIRE(res);
        CHECK(res->status == 405);
        CHECK(res->headers.get("Allow") == "POST");
        CHECK(expect_status(*res).err().what() == "[net.http_status] unexpected HTTP status: HTTP 405 Method Not Allowed: 405 method not allowed\n");
    }

    TEST_CASE_FIXTURE(fixture, "server: responses always carry Content-Length, never chunked (raw bytes)") {
        srv.handle("GET", "/x", [](proto::http_request, responder r) {
            auto res = text(200, "hello");
            res.headers.set("Transfer-Encoding", "chunked");  // ignored: the server frames the body itself
            res.headers.set("Content-Length", "999");
            r.send(std::move(res));
        });
        srv.handle("GET", "/empty", [](proto::http_request, responder r) { r.send(proto::http_response{200, {}, ""}); });
        start();
        const std::string raw = raw_exchange("GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /empty HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        // Two pipelined requests, answered in order on the same connection.
        CHECK(raw ==
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
              "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        CHECK(srv.stats().requests == 2);
    }

    TEST_CASE_FIXTURE(fixture, "server: HEAD gets the length without the body, errors 400/413/431 close") {
        srv.handle("*", "/x", [](proto::http_request, responder r) { r.send(text(200, "hello")); });
        start();
        CHECK(raw_exchange("HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") ==
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
        CHECK(raw_exchange("BLAH\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
        CHECK(raw_exchange("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n").starts_with("HTTP/1.1 413 Payload Too Large\r\n"));
        CHECK(raw_exchange("GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n")
                  .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    TEST_CASE_FIXTURE(fixture, "client: keep-alive reuses one connection") {
        srv.handle("GET", "/n", [](proto::http_request, responder r) { r.send(text(200, "ok")); });
        start();
        http_client c(ioc.get_executor());
        for (int i = 0; i < 3; ++i) {
            CAPTURE(i);
            auto res = call(c, get("/n"));
            REQUIRE(res);
            CHECK(res->status == 200);
        }
        CHECK(srv.stats().accepted == 1);
        CHECK(c.connections_opened() == 1);
        CHECK(c.idle_connections() == 1);
    }

    TEST_CASE_FIXTURE(fixture, "client: a connection the server closed is not reused, and nothing is retried") {
        int calls = 0;
        srv.handle("GET", "/close", [&](proto::http_request, responder r) {
            ++calls;
            auto res = text(200, "bye");
            res.headers.set("Connection", "close");
            r.send(std::move(res));
        });
        start();
        http_client c(ioc.get_executor());
        REQUIRE(call(c, get("/close")));
        REQUIRE(call(c, get("/close")));
        CHECK(calls == 2);
        CHECK(srv.stats().accepted == 2);
        CHECK(c.connections_opened() == 2);
    }

    TEST_CASE_FIXTURE(fixture, "client: a stalled route times out with net.timeout") {
        srv.handle("GET", "/stall", [](proto::http_request, responder r) { r.stall(); });
        start();
        http_client c(ioc.get_executor());
        const auto t0 = std::chrono::steady_clock::now();
        auto res = call(c, get("/stall"), 300ms);
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "net.timeout");
        CHECK(res.err().detail == "read response from 127.0.0.1:" + std::to_string(port) + ": deadline expired");
        CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
        CHECK(c.idle_connections() == 0);
    }

    TEST_CASE_FIXTURE(fixture, "client: reset() gives net.reset, a handler that never answers gives 500") {
        srv.handle("GET", "/reset", [](proto::http_request, responder r) { r.reset(); });
        srv.handle("GET", "/forgot", [](proto::http_request, responder) {});
        srv.handle("GET", "/throws", [](proto::http_request, responder) -> void { throw std::runtime_error("boom"); });
        start();
        http_client c(ioc.get_executor());
        auto res = call(c, get("/reset"));
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "net.reset");
        res = call(c, get("/forgot"));
        REQUIRE(res);
        CHECK(res->status == 500);
        res = call(c, get("/throws"));
        REQUIRE(res);
        CHECK(res->status == 500);
    }

    TEST_CASE_FIXTURE(fixture, "server: send_after delays the answer, stop() closes everything") {
        srv.handle("GET", "/slow", [](proto::http_request, responder r) { r.send_after(text(200, "late"), 50ms); });
        srv.handle("GET", "/stall", [](proto::http_request, responder r) { r.stall(); });
        start();
        http_client c(ioc.get_executor());
        const auto t0 = std::chrono::steady_clock::now();
        auto res = call(c, get("/slow"));
        REQUIRE(res);
        CHECK(res->body == "late");
        CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);

        std::optional<response_result> stalled;
        c.async_request(get("/stall"), request_options{base(), 10s}, [&](response_result r) { stalled.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return srv.stats().requests == 2; }));
        srv.stop();
        REQUIRE(run_until(ioc, [&] { return stalled.has_value(); }));
        REQUIRE_FALSE(*stalled);
        CHECK(stalled->err().id() == "net.closed");
        CHECK(srv.stats().open_connections == 0);
    }

    TEST_CASE_FIXTURE(fixture, "accept hook: reset and blackhole faults") {
        accept_action next = accept_action::reset;
        srv.set_accept_hook([&](const std::string& remote) {
            CHECK(remote.starts_with("127.0.0.1:"));
            return next;
        });
        srv.handle("GET", "/x", [](proto::http_request, responder r) { r.send(text(200, "x")); });
        start();
        http_client c(ioc.get_executor());
        auto res = call(c, get("/x"));
        REQUIRE_FALSE(res);
        CHECK((res.err().id() == "net.reset" || res.err().id() == "net.closed"));
        next = accept_action::blackhole;
        res = call(c, get("/x"), 200ms);
        REQUIRE_FALSE(res);
        CHECK(res.err().id() == "net.timeout");
        next = accept_action::accept;
        res = call(c, get("/x"));
        REQUIRE(res);
        CHECK(res->body == "x");
    }

    TEST_CASE("client: connection refused, bad URLs") {
        asio::io_context ioc;
        // A port that was just free: bind, read the port, close.
        std::uint16_t port = 0;
        {
            asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
            port = a.local_endpoint().port();
        }
        http_client c(ioc.get_executor());
        std::optional<response_result> out;
        c.async_request(get("/"), request_options{"http://127.0.0.1:" + std::to_string(port), 2s}, [&](response_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE_FALSE(*out);
        CHECK(out->err().id() == "net.connect_refused");
        out.reset();
        c.async_request(get("/"), request_options{"ws://127.0.0.1:1", 2s}, [&](response_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE_FALSE(*out);
        CHECK(out->err().id() == "net.bad_url");
    }

    TEST_CASE("client: blocking request() with a private io_context and a base URL prefix") {
        asio::io_context ioc;
        server srv(ioc);
        srv.handle("GET", "/api/v3/gateways", [](proto::http_request req, responder r) {
            r.send(text(200, std::string(req.headers.get("User-Agent").value_or("")) + " " + std::string(req.headers.get("Host").value_or(""))));
        });
        auto port = srv.listen({});
        REQUIRE(port);
        auto guard = asio::make_work_guard(ioc);
        std::thread t([&] { ioc.run(); });
        {
            client_config cfg;
            cfg.user_agent = "ttigctl-test";
            http_client c(cfg);
            const std::string base = "http://127.0.0.1:" + std::to_string(*port) + "/api/v3/";
            auto res = c.request(get("/gateways"), request_options{base, 5s});
            REQUIRE(res);
            CHECK(res->body == "ttigctl-test 127.0.0.1:" + std::to_string(*port));
            res = c.request(get("gateways"), request_options{base, 5s});
            REQUIRE(res);
            CHECK(c.connections_opened() == 1);
        }
        srv.stop();
        guard.reset();
        ioc.stop();
        t.join();
    }
}
