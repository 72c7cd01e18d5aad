// net: chunked responses (responder::stream) and the client's incremental body read
// (http_client::async_request_stream) on 127.0.0.1:0, one io_context driven with run_for.
#include "support/io_wait.hpp"
#include <ttig/net/http_client.hpp>
#include <ttig/net/server.hpp>

#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace asio = boost::asio;
using namespace ttig;
using namespace ttig::net;
using namespace std::chrono_literals;

namespace {

using ttig::test::run_until;

proto::http_request get(std::string target) {
    proto::http_request r;
    r.method = "GET";
    r.target = std::move(target);
    return r;
}

proto::http_response head(int status) {
    proto::http_response r;
    r.status = status;
    r.headers.set("Content-Type", "application/json");
    r.headers.set("Content-Length", "999");  // ignored: a stream has no length
    return r;
}

// What a streaming handler left behind for the test.
struct stream_slot {
    std::optional<stream_writer> writer;
    std::optional<bool> closed;  // on_close's argument
};

struct fixture {
    asio::io_context ioc;
    server srv{ioc};
    std::uint16_t port = 0;
    std::shared_ptr<stream_slot> slot = std::make_shared<stream_slot>();

    void start() {
        srv.handle("GET", "/stream", [s = slot](proto::http_request, responder r) {
            auto w = r.stream(head(200));
            w.write("{\"n\":1}\n");
            w.on_close([s](bool ended) { s->closed = ended; });
            s->writer = w;
        });
        srv.handle("GET", "/plain", [](proto::http_request, responder r) {
            proto::http_response res;
            res.body = "plain";
            r.send(std::move(res));
        });
        auto p = srv.listen({});
        REQUIRE(p);
        port = *p;
    }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }

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

TEST_SUITE("net.stream") {
    TEST_CASE_FIXTURE(fixture, "server: a chunked response on the wire, then the connection closes as asked (raw bytes)") {
        srv.handle("GET", "/once", [](proto::http_request, responder r) {
            auto w = r.stream(head(200));
            CHECK(w.is_open());
            CHECK(w.write("abc"));
            CHECK(w.write(""));  // ignored: an empty chunk would end the body
            CHECK(w.write("{\"result\":{}}\n"));
            w.end();
            CHECK_FALSE(w.is_open());
            CHECK_FALSE(w.write("late"));
        });
        start();
        const std::string got = raw_exchange("GET /once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        CHECK(got.starts_with("HTTP/1.1 200 OK\r\n"));
        CHECK(got.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
        CHECK(got.find("Content-Length") == std::string::npos);
        CHECK(got.find("Connection: close\r\n") != std::string::npos);
        CHECK(got.ends_with("\r\n\r\n3\r\nabc\r\ne\r\n{\"result\":{}}\n\r\n0\r\n\r\n"));
    }

    TEST_CASE_FIXTURE(fixture, "client reads chunks as they come — after the terminal chunk the connection serves the next request") {
        start();
        http_client c(ioc.get_executor());
        std::string seen;
        std::optional<stream_result> out;
        stream_options o;
        o.base_url = base();
        o.deadline = 10s;
        o.on_data = [&](std::string_view d) {
            seen.append(d);
            return true;
        };
        c.async_request_stream(get("/stream"), o, [&](stream_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return seen == "{\"n\":1}\n"; }));
        REQUIRE(slot->writer);
        CHECK_FALSE(out.has_value());  // the stream is open: nothing has ended it
        CHECK(slot->writer->write("{\"n\":2}\n"));
        REQUIRE(run_until(ioc, [&] { return seen.size() == 16; }));
        slot->writer->end();
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE(out->has_value());
        const streamed_response& s = **out;
        CHECK(s.complete);
        CHECK_FALSE(s.deadline_expired);
        CHECK_FALSE(s.error);
        CHECK(s.response.status == 200);
        CHECK(s.response.headers.get("Transfer-Encoding") == "chunked");
        CHECK_FALSE(s.response.headers.get("Content-Length").has_value());
        CHECK(s.response.body == "{\"n\":1}\n{\"n\":2}\n");
        REQUIRE(run_until(ioc, [&] { return slot->closed.has_value(); }));
        CHECK(*slot->closed == true);

        // keep-alive: the pooled connection answers the next request
        std::optional<response_result> plain;
        c.async_request(get("/plain"), request_options{base(), 5s}, [&](response_result r) { plain.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return plain.has_value(); }));
        REQUIRE(plain->has_value());
        CHECK((*plain)->body == "plain");
        CHECK(c.connections_opened() == 1);
    }

    TEST_CASE_FIXTURE(fixture, "server notices a client that goes away mid-stream — writes then fail") {
        start();
        http_client c(ioc.get_executor());
        std::optional<stream_result> out;
        stream_options o;
        o.base_url = base();
        o.on_data = [](std::string_view) { return false; };  // stop after the first piece: the client closes
        c.async_request_stream(get("/stream"), o, [&](stream_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE(out->has_value());
        CHECK((*out)->stopped);
        CHECK_FALSE((*out)->complete);
        REQUIRE(run_until(ioc, [&] { return slot->closed.has_value(); }));
        CHECK(*slot->closed == false);
        REQUIRE(slot->writer);
        CHECK_FALSE(slot->writer->is_open());
        CHECK_FALSE(slot->writer->write("more"));
        // registering after the end still runs the callback, with the same answer
        std::optional<bool> late;
        slot->writer->on_close([&](bool ended) { late = ended; });
        REQUIRE(run_until(ioc, [&] { return late.has_value(); }));
        CHECK(*late == false);
    }

    TEST_CASE_FIXTURE(fixture, "client: the deadline ends an open stream with what arrived — server stop ends a stream") {
        start();
        http_client c(ioc.get_executor());
        std::optional<stream_result> out;
        stream_options o;
        o.base_url = base();
        o.deadline = 300ms;
        c.async_request_stream(get("/stream"), o, [&](stream_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE(out->has_value());
        CHECK((*out)->deadline_expired);
        CHECK_FALSE((*out)->complete);
        CHECK((*out)->response.body == "{\"n\":1}\n");
        REQUIRE(run_until(ioc, [&] { return slot->closed.has_value(); }));
        CHECK(*slot->closed == false);

        slot->closed.reset();
        std::optional<stream_result> second;
        std::string seen;
        o.deadline = 10s;
        o.on_data = [&](std::string_view d) {
            seen.append(d);
            return true;
        };
        c.async_request_stream(get("/stream"), o, [&](stream_result r) { second.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return !seen.empty(); }));
        srv.stop();
        REQUIRE(run_until(ioc, [&] { return second.has_value() && slot->closed.has_value(); }));
        CHECK(*slot->closed == false);
        REQUIRE(second->has_value());
        CHECK_FALSE((*second)->complete);
        CHECK((*second)->error.has_value());  // the connection closed before the terminal chunk
    }

    TEST_CASE_FIXTURE(fixture, "client: a stream request before the header fails like any request — a plain body streams too") {
        start();
        http_client c(ioc.get_executor());
        std::optional<stream_result> out;
        stream_options o;
        o.base_url = "http://127.0.0.1:1";  // nothing listens there
        o.deadline = 5s;
        c.async_request_stream(get("/stream"), o, [&](stream_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE_FALSE(out->has_value());
        CHECK(out->err().id().starts_with("net."));

        out.reset();
        o.base_url = base();
        std::optional<int> status;
        o.on_head = [&](const proto::http_response& h) {
            status = h.status;
            return true;
        };
        c.async_request_stream(get("/plain"), o, [&](stream_result r) { out.emplace(std::move(r)); });
        REQUIRE(run_until(ioc, [&] { return out.has_value(); }));
        REQUIRE(out->has_value());
        CHECK(status == 200);
        CHECK((*out)->complete);
        CHECK((*out)->response.body == "plain");
    }
}
