// WebSocket value types shared by the server and the client.
#pragma once

#include <ttig/proto/error.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace ttig::net {

struct ws_message {
    bool binary = false;
    std::string data;
};

struct ws_close_info {
    std::uint16_t code = 1006;  // the peer's close code; 1006 when the connection ended without a close frame
    std::string reason;
    std::optional<proto::error> error;  // why it ended when there was no close frame (net.closed, net.reset, ...)
};

}  // namespace ttig::net
