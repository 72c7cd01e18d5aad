#include <ttig/proto/http.hpp>

#include <fmt/format.h>

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

namespace {
constexpr std::string_view day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<int> digits(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}
}  // namespace

std::string format_http_date(std::chrono::sys_seconds t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    const weekday wd{day};
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", day_names[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                       month_names[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count());
}

std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view s) {
    using namespace std::chrono;
    // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
        s.substr(25) != " GMT")
        return std::nullopt;
    if (std::find(std::begin(day_names), std::end(day_names), s.substr(0, 3)) == std::end(day_names)) return std::nullopt;
    const auto m = std::find(std::begin(month_names), std::end(month_names), s.substr(8, 3));
    if (m == std::end(month_names)) return std::nullopt;
    const auto d = digits(s.substr(5, 2)), y = digits(s.substr(12, 4)), hh = digits(s.substr(17, 2)), mm = digits(s.substr(20, 2)),
               ss = digits(s.substr(23, 2));
    if (!d || !y || !hh || !mm || !ss || *hh > 23 || *mm > 59 || *ss > 60) return std::nullopt;
    const year_month_day ymd{year{*y}, month{static_cast<unsigned>(m - std::begin(month_names) + 1)}, day{static_cast<unsigned>(*d)}};
    if (!ymd.ok()) return std::nullopt;
    return sys_days{ymd} + hours{*hh} + minutes{*mm} + seconds{*ss};
}

}  // namespace ttig::proto
