// Generic WebSocket client (ws and wss), Beast-based.
//
// One connection per object. Writes (send, ping, close) are queued and written one at a time;
// at most one async_read may be outstanding. Every operation completes on the client's strand.
// A read deadline that expires ends the session (net.timeout): WebSocket reads cannot be resumed.
#pragma once

#include <ttig/net/client_config.hpp>
#include <ttig/net/websocket.hpp>
#include <ttig/proto/http.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::net {

struct ws_connect_options {
    std::vector<std::string> headers;  // extra request header lines, "Name: value"
    std::chrono::milliseconds deadline{30000};        // resolve + connect + TLS + upgrade
    std::chrono::milliseconds write_deadline{30000};  // each send/ping (0 = none); expiry ends the session
    std::size_t read_message_max = 1u << 20;
    std::function<void(std::string_view payload)> on_pong;  // called during async_read
    std::function<void(std::string_view payload)> on_ping;  // called during async_read (pong is automatic)
};

class ws_client {
public:
    using connect_signature = void(proto::result<proto::http_response>);
    using read_signature = void(proto::result<ws_message>);
    using write_signature = void(proto::result<void>);

    explicit ws_client(boost::asio::any_io_executor ex, client_config cfg = {});
    ~ws_client();  // drops the connection without a close frame
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    // Opens ws[s]://host[:port]/path. Completes with the 101 response, or: net.http_status when the
    // server refused the upgrade (the refusal, body included, is then in handshake_response()),
    // net/tls errors otherwise.
    template <class CompletionToken>
    auto async_connect(std::string url, ws_connect_options opts, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, connect_signature>(
            [this](auto handler, std::string u, ws_connect_options o) {
                connect_impl(std::move(u), std::move(o), boost::asio::any_completion_handler<connect_signature>(std::move(handler)));
            },
            token, std::move(url), std::move(opts));
    }

    // Next text or binary message. deadline 0 = none. After a close frame: net.ws_closed (the code
    // and reason are in close_info()); after a drop: net.closed; reset: net.reset.
    template <class CompletionToken>
    auto async_read(std::chrono::milliseconds deadline, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, read_signature>(
            [this](auto handler, std::chrono::milliseconds d) {
                read_impl(d, boost::asio::any_completion_handler<read_signature>(std::move(handler)));
            },
            token, deadline);
    }

    template <class CompletionToken>
    auto async_send_text(std::string text, CompletionToken&& token) {
        return async_write_op(0, std::move(text), 0, std::forward<CompletionToken>(token));
    }
    template <class CompletionToken>
    auto async_send_binary(std::string data, CompletionToken&& token) {
        return async_write_op(1, std::move(data), 0, std::forward<CompletionToken>(token));
    }
    template <class CompletionToken>
    auto async_ping(std::string payload, CompletionToken&& token) {
        return async_write_op(2, std::move(payload), 0, std::forward<CompletionToken>(token));
    }
    // Sends a close frame and waits (bounded) for the peer's close and the TCP close.
    template <class CompletionToken>
    auto async_close(std::uint16_t code, std::string reason, CompletionToken&& token) {
        return async_write_op(3, std::move(reason), code, std::forward<CompletionToken>(token));
    }

    // Closes the TCP connection without a close frame.
    void drop();

    bool is_open() const noexcept;
    const std::optional<proto::http_response>& handshake_response() const noexcept;
    std::optional<ws_close_info> close_info() const;

    struct impl;  // opaque

private:
    template <class CompletionToken>
    auto async_write_op(int kind, std::string data, std::uint16_t code, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, write_signature>(
            [this](auto handler, int k, std::string d, std::uint16_t c) {
                write_impl(k, std::move(d), c, boost::asio::any_completion_handler<write_signature>(std::move(handler)));
            },
            token, kind, std::move(data), code);
    }

    void connect_impl(std::string url, ws_connect_options opts, boost::asio::any_completion_handler<connect_signature> h);
    void read_impl(std::chrono::milliseconds deadline, boost::asio::any_completion_handler<read_signature> h);
    void write_impl(int kind, std::string data, std::uint16_t code, boost::asio::any_completion_handler<write_signature> h);

    std::shared_ptr<impl> impl_;
};

}  // namespace ttig::net
