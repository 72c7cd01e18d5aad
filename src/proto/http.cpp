#include <ttig/proto/http.hpp>

namespace ttig::proto {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); };
               return lower(x) == lower(y);
           });
}

std::optional<std::string_view> http_fields::get(std::string_view name) const noexcept {
    for (const auto& [k, v] : items)
        if (iequals(k, name)) return std::string_view(v);
    return std::nullopt;
}

void http_fields::set(std::string name, std::string value) {
    std::erase_if(items, [&](const auto& kv) { return iequals(kv.first, name); });
    items.emplace_back(std::move(name), std::move(value));
}

void http_fields::add(std::string name, std::string value) { items.emplace_back(std::move(name), std::move(value)); }

std::string_view http_request::path() const noexcept {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view http_request::query() const noexcept {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) << 4 | hex(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> http_request::query_values(std::string_view key) const {
    std::vector<std::string> out;
    std::string_view q = query();
    while (!q.empty()) {
        auto amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) == key) out.push_back(eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1)));
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

}  // namespace ttig::proto
