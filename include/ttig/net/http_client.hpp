// HTTP(S) client with a keep-alive pool per (scheme, host, port).
//
// Every request has one deadline covering resolve, connect, TLS, write and read; an expired deadline
// closes that connection and completes with net.timeout. There are no silent retries: a pooled
// connection is checked for a pending EOF before reuse, and any failure after that is returned.
// TLS verification (chain + host name) and SNI follow client_config::tls; --resolve entries in
// client_config::hosts are consulted before DNS.
//
// Usable from coroutines:
//   auto r = co_await client.async_request(req, {.base_url = "https://h:8443"}, asio::use_awaitable);
// and from plain code with the blocking request() of a client that owns its io_context.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/proto/http.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ttig::net {

struct request_options {
    // "https://host[:port][/prefix]"; the request's target is appended ("/api/v3/...").
    std::string base_url;
    std::chrono::milliseconds deadline{30000};
    std::size_t body_limit = 64u << 20;  // response body limit (net.too_large beyond)
};

using response_result = proto::result<proto::http_response>;

// A response whose body is read as it arrives (server-streaming bodies, chunked or not), for at
// most the deadline: what arrived by then is the answer, not a failure.
struct stream_options {
    std::string base_url;
    // Covers resolve, connect, TLS, the request and the whole body. Expiring before the response
    // header is a failure (net.timeout); expiring after it ends the read (deadline_expired).
    std::chrono::milliseconds deadline{30000};
    std::size_t body_limit = 64u << 20;  // beyond: the read ends with error net.too_large
    // The status and fields (empty body) once the header arrived; return false to stop there.
    std::function<bool(const proto::http_response&)> on_head;
    // Each piece of body as it arrives (chunk framing removed); return false to stop reading.
    std::function<bool(std::string_view)> on_data;
};

struct streamed_response {
    proto::http_response response;  // status, headers, and every body byte received
    bool complete = false;          // the body ended (terminal chunk, Content-Length reached, or EOF of a close-delimited body)
    bool deadline_expired = false;  // the deadline ended the read
    bool stopped = false;           // on_data returned false
    std::optional<proto::error> error;  // the connection failed after the header (the body is cut short)
};
using stream_result = proto::result<streamed_response>;

class http_client {
public:
    using signature = void(response_result);

    // A client on an external executor (asynchronous use only).
    explicit http_client(boost::asio::any_io_executor ex, client_config cfg = {});
    // A client owning a private io_context, for the blocking request().
    explicit http_client(client_config cfg = {});
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Sends req (method, target, headers, body) to opts.base_url. Adds Host (host:port), User-Agent
    // and Content-Length when absent. Completes with the response whatever its status (use
    // expect_status to turn statuses into errors), or with a net/tls error.
    template <class CompletionToken>
    auto async_request(proto::http_request req, request_options opts, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, signature>(
            [this](auto handler, proto::http_request r, request_options o) {
                request_impl(std::move(r), std::move(o), boost::asio::any_completion_handler<signature>(std::move(handler)));
            },
            token, std::move(req), std::move(opts));
    }

    // Blocking convenience; needs the owning constructor (else net.aborted). Not thread-safe.
    response_result request(proto::http_request req, const request_options& opts);

    // Sends req like async_request, then reads the body incrementally (stream_options). The
    // connection is pooled again only when the body ended and the server keeps it alive.
    using stream_signature = void(stream_result);
    template <class CompletionToken>
    auto async_request_stream(proto::http_request req, stream_options opts, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, stream_signature>(
            [this](auto handler, proto::http_request r, stream_options o) {
                stream_impl(std::move(r), std::move(o), boost::asio::any_completion_handler<stream_signature>(std::move(handler)));
            },
            token, std::move(req), std::move(opts));
    }
    // Blocking; needs the owning constructor (else net.aborted).
    stream_result request_stream(proto::http_request req, const stream_options& opts);

    std::size_t connections_opened() const noexcept;  // TCP connections made so far
    std::size_t idle_connections() const noexcept;    // currently pooled
    void close_idle();                                // drops the pool

    struct impl;  // opaque

private:
    void request_impl(proto::http_request req, request_options opts, boost::asio::any_completion_handler<signature> handler);
    void stream_impl(proto::http_request req, stream_options opts, boost::asio::any_completion_handler<stream_signature> handler);

    std::unique_ptr<boost::asio::io_context> own_ioc_;
    std::shared_ptr<impl> impl_;
};

// net.http_status unless lo <= status <= hi; detail "HTTP 404 Not Found: <first 200 bytes of the body>".
proto::result<void> expect_status(const proto::http_response& res, int lo = 200, int hi = 299);

// Reason phrase for a status code ("Not Found"), or "" when unknown.
std::string_view reason_phrase(int status) noexcept;

}  // namespace ttig::net
