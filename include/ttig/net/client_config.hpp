// Settings shared by the net clients (http_client, ws_client, probe) and the log sink type.
#pragma once

#include <ttig/net/host_map.hpp>
#include <ttig/net/tls.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace ttig::net {

// The library never prints; callers may pass a sink. Messages never contain secrets (no header
// values, no bodies, no keys).
enum class log_level { debug, info, warning, error };
using log_sink = std::function<void(log_level, std::string_view)>;

struct client_config {
    tls_client_config tls;
    host_map hosts;                       // --resolve entries, consulted before DNS
    std::string user_agent = "ttigctl";   // sent unless the request has its own User-Agent
    std::size_t max_idle_per_origin = 4;  // keep-alive pool size per (scheme, host, port)
    std::chrono::seconds idle_timeout{90};  // a pooled connection idle longer than this is not reused
    log_sink log;
};

}  // namespace ttig::net
