// URLs and the host map (curl's --resolve HOST:PORT:ADDR[,ADDR...]).
//
// A host map entry sends traffic for HOST:PORT to the given addresses while the real name is still
// used for SNI, the Host header and certificate verification. So a client can talk to an emulator
// on 127.0.0.1 as if it were eu1.cloud.thethings.network:8887.
#pragma once

#include <ttig/net/error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::net {

struct url {
    std::string scheme;  // "http", "https", "ws", "wss" (lower case)
    std::string host;    // without brackets for IPv6 literals
    std::uint16_t port = 0;
    std::string target = "/";  // path and query, always starting with '/'

    bool tls() const noexcept { return scheme == "https" || scheme == "wss"; }
    bool websocket() const noexcept { return scheme == "ws" || scheme == "wss"; }
    bool default_port() const noexcept;
    // "host:port" as sent in the Host header (port omitted when default; IPv6 in brackets).
    std::string host_header() const;
    // "scheme://host[:port]" (no target).
    std::string origin() const;
    std::string str() const { return origin() + target; }
};

// Parses "scheme://host[:port][/path][?query]". Userinfo and fragments are refused.
// Errors: net.bad_url with the reason and the URL in the detail.
proto::result<url> parse_url(std::string_view text);

struct host_map_entry {
    std::string host;  // lower case
    std::uint16_t port = 0;
    std::vector<std::string> addresses;  // IPv4 / IPv6 literals (no brackets)
};

class host_map {
public:
    // Parses curl --resolve entries "[+]HOST:PORT:ADDR[,ADDR]..." (IPv6 addresses may be bracketed).
    // Errors: net.bad_host_map, detail naming the bad entry and what is wrong with it.
    static proto::result<host_map> parse(std::span<const std::string> entries);
    proto::result<void> add(std::string_view entry);

    // Addresses for host:port (host compared case-insensitively), or nullopt when not mapped.
    std::optional<std::vector<std::string>> lookup(std::string_view host, std::uint16_t port) const;
    bool empty() const noexcept { return entries_.empty(); }
    const std::vector<host_map_entry>& entries() const noexcept { return entries_; }

private:
    std::vector<host_map_entry> entries_;
};

}  // namespace ttig::net
