#include <ttig/net/host_map.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ttig::net {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool parse_port(std::string_view s, std::uint16_t& port) {
    if (s.empty() || s.size() > 5) return false;
    unsigned value = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || p != s.data() + s.size() || value == 0 || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

bool is_ip_literal(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool valid_host_name(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    return std::all_of(h.begin(), h.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_'; });
}

std::uint16_t default_port_of(std::string_view scheme) {
    return (scheme == "https" || scheme == "wss") ? 443 : 80;
}

}  // namespace

bool url::default_port() const noexcept { return port == default_port_of(scheme); }

std::string url::host_header() const {
    // Always host:port (RFC 7230 §5.4 allows it; style anchor B3).
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string url::origin() const {
    std::string h = host.find(':') != std::string::npos ? fmt::format("[{}]", host) : host;
    if (default_port()) return fmt::format("{}://{}", scheme, h);
    return fmt::format("{}://{}:{}", scheme, h, port);
}

proto::result<url> parse_url(std::string_view text) {
    auto bad = [&](std::string_view why) { return proto::make_error(net_errc::bad_url, "\"{}\": {}", text, why); };
    const auto sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0) return bad("expected scheme://host[:port][/path]");
    url u;
    u.scheme = lower(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ws" && u.scheme != "wss")
        return bad(fmt::format("unsupported scheme \"{}\" (http, https, ws, wss)", u.scheme));
    std::string_view rest = text.substr(sep + 3);
    const auto auth_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view tail = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos) return bad("user information in URLs is not supported");
    if (tail.find('#') != std::string_view::npos) return bad("fragments are not allowed");
    if (tail.find_first_of(" \t\r\n") != std::string_view::npos) return bad("white space in path");
    std::string_view host, port;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("unexpected characters after IPv6 literal");
            port = after.substr(1);
            has_port = true;
        }
        unsigned char buf[16];
        if (inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1) return bad("invalid IPv6 literal");
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            has_port = true;
        }
        if (!valid_host_name(host)) return bad(host.empty() ? "missing host" : "invalid host name");
    }
    u.host = lower(host);
    if (has_port) {
        if (!parse_port(port, u.port)) return bad(fmt::format("port \"{}\" is not a number from 1 to 65535", port));
    } else {
        u.port = default_port_of(u.scheme);
    }
    if (tail.empty()) u.target = "/";
    else if (tail.front() == '?') u.target = "/" + std::string(tail);
    else u.target = std::string(tail);
    return u;
}

proto::result<host_map> host_map::parse(std::span<const std::string> entries) {
    host_map m;
    for (const auto& e : entries)
        if (auto r = m.add(e); !r) return std::move(r).err();
    return m;
}

proto::result<void> host_map::add(std::string_view entry) {
    auto bad = [&](std::string_view why) {
        return proto::make_error(net_errc::bad_host_map, "\"{}\": {} (expected HOST:PORT:ADDRESS[,ADDRESS...])", entry, why);
    };
    std::string_view s = entry;
    if (!s.empty() && s.front() == '-') return bad("removal entries (-HOST:PORT) are not supported");
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    std::string_view host;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos) return bad("unterminated '[' in host");
        host = s.substr(1, close - 1);
        s.remove_prefix(close + 1);
        if (s.empty() || s.front() != ':') return bad("missing ':' after host");
        s.remove_prefix(1);
    } else {
        const auto c = s.find(':');
        if (c == std::string_view::npos) return bad("missing ':' after host");
        host = s.substr(0, c);
        s.remove_prefix(c + 1);
    }
    if (host.empty()) return bad("empty host");
    if (host.find_first_of(" \t/") != std::string_view::npos) return bad("invalid host name");
    const auto c2 = s.find(':');
    if (c2 == std::string_view::npos) return bad("missing ':' after port");
    host_map_entry out;
    out.host = lower(host);
    if (!parse_port(s.substr(0, c2), out.port))
        return bad(fmt::format("port \"{}\" is not a number from 1 to 65535", s.substr(0, c2)));
    s.remove_prefix(c2 + 1);
    if (s.empty()) return bad("no address");
    while (!s.empty()) {
        std::string_view a;
        if (s.front() == '[') {
            const auto close = s.find(']');
            if (close == std::string_view::npos) return bad("unterminated '[' in address");
            a = s.substr(1, close - 1);
            s.remove_prefix(close + 1);
            if (!s.empty()) {
                if (s.front() != ',') return bad("expected ',' between addresses");
                s.remove_prefix(1);
                if (s.empty()) return bad("empty address after ','");
            }
        } else {
            const auto comma = s.find(',');
            a = s.substr(0, comma);
            if (comma == std::string_view::npos) {
                s = {};
            } else {
                s.remove_prefix(comma + 1);
                if (s.empty()) return bad("empty address after ','");
            }
        }
        std::string addr(a);
        if (addr.empty()) return bad("empty address");
        if (!is_ip_literal(addr)) return bad(fmt::format("\"{}\" is not an IP address", addr));
        out.addresses.push_back(std::move(addr));
    }
    // A later entry for the same host:port replaces the earlier one (curl keeps the last).
    std::erase_if(entries_, [&](const host_map_entry& x) { return x.host == out.host && x.port == out.port; });
    entries_.push_back(std::move(out));
    return {};
}

std::optional<std::vector<std::string>> host_map::lookup(std::string_view host, std::uint16_t port) const {
    const std::string h = lower(host);
    for (const auto& e : entries_)
        if (e.port == port && e.host == h) return e.addresses;
    return std::nullopt;
}

}  // namespace ttig::net
