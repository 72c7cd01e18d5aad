// HTTP messages as plain values, shared by the sans-io handlers (emulators, CUPS, REST) and the
// net layer that carries them. No parsing here: Beast does the framing in net/.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttig::proto {

// Header fields in arrival order; names compared case-insensitively.
struct http_fields {
    std::vector<std::pair<std::string, std::string>> items;

    std::optional<std::string_view> get(std::string_view name) const noexcept;
    void set(std::string name, std::string value);  // replaces every field of that name
    void add(std::string name, std::string value);  // appends
    bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
};

struct http_request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query: "/api/v3/gateways/gw1?field_mask=name"
    http_fields headers;
    std::string body;
    // Filled by the server that received it:
    bool tls = false;            // arrived over TLS
    std::string remote_address;  // "127.0.0.1:54321"
    std::string local_host;      // Host header value, as sent

    std::string_view path() const noexcept;   // target without the query
    std::string_view query() const noexcept;  // after '?', or empty
    // Every value of a query parameter, percent-decoded, in order ("field_mask=a,b" gives "a,b").
    std::vector<std::string> query_values(std::string_view key) const;
};

struct http_response {
    int status = 200;
    http_fields headers;
    std::string body;  // servers always send Content-Length: body.size()
};

// The HTTP Date header (RFC 9110 IMF-fixdate, what Go's net/http writes): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::chrono::sys_seconds t);
// Reads an IMF-fixdate; nullopt for anything else (the obsolete RFC 850 and asctime forms too).
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text);

bool iequals(std::string_view a, std::string_view b) noexcept;
std::string percent_decode(std::string_view s);

}  // namespace ttig::proto
