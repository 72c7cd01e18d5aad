#include <ttig/tts/error.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>

#include <array>
#include <map>
#include <mutex>

namespace ttig::tts {

namespace {

template <class E>
constexpr int v(E e) {
    return static_cast<int>(e);
}

constexpr std::array tts_table{
    proto::errc_entry{v(tts_errc::api_error), "api_error", "The Things Stack answered with an error"},
    proto::errc_entry{v(tts_errc::http_status), "http_status", "unexpected HTTP status from The Things Stack"},
    proto::errc_entry{v(tts_errc::bad_response), "bad_response", "The Things Stack sent an answer the client cannot read"},
    proto::errc_entry{v(tts_errc::bad_argument), "bad_argument", "invalid argument for The Things Stack API"},
    proto::errc_entry{v(tts_errc::rate_limit_wait), "rate_limit_wait", "rate limit of The Things Stack requires a longer wait than allowed"},
};

constinit const proto::table_category tts_cat{"tts", tts_table};
constexpr std::array<const proto::table_category*, 1> tts_cats{&tts_cat};

constexpr std::string_view api_message = "The Things Stack refused the request";
constexpr std::size_t max_interned = 1024;
constexpr std::size_t max_name_length = 200;
constexpr int max_cause_depth = 16;

// Storage that must exist before the table_category base is constructed (base-from-member).
struct api_name_storage {
    explicit api_name_storage(std::string n) : full(std::move(n)), entry{1, full, api_message} {}
    std::string full;
    proto::errc_entry entry;
};

// One category per distinct "<ns>:<name>": its single entry (value 1) has that name, so the
// generic cause_id() gives "tts.<ns>:<name>". Never destroyed (error codes may outlive anything).
class api_category final : private api_name_storage, public proto::table_category {
public:
    explicit api_category(std::string n)
        : api_name_storage(std::move(n)), proto::table_category("tts", std::span<const proto::errc_entry>(&entry, 1)) {}
    std::string_view full_name() const noexcept { return full; }
};

struct registry {
    std::mutex mu;
    std::map<std::string, api_category*, std::less<>> by_name;
};

registry& names() {
    static registry* r = new registry;  // intentionally leaked
    return *r;
}

bool valid_part(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                        c == '/' || c == ' ' || c == '-';
        if (!ok) return false;
    }
    return s.front() != ' ' && s.back() != ' ';
}

std::string json_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string excerpt(std::string_view body) {
    std::string out(body.substr(0, 200));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

// Token-shaped strings anywhere in a JSON value are redacted (attributes are server text).
void redact_json(nlohmann::json& j) {
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        auto r = redact_secrets(s);
        if (r != s) j = r;
    } else if (j.is_array() || j.is_object()) {
        for (auto& x : j) redact_json(x);
    }
}

api_error details_at(const nlohmann::json& d, int depth) {
    api_error e;
    if (!d.is_object()) return e;
    if (auto it = d.find("namespace"); it != d.end() && it->is_string()) e.ns = it->get<std::string>();
    if (auto it = d.find("name"); it != d.end() && it->is_string()) e.name = it->get<std::string>();
    if (auto it = d.find("message_format"); it != d.end() && it->is_string()) e.message_format = redact_secrets(it->get<std::string>());
    if (auto it = d.find("correlation_id"); it != d.end() && it->is_string()) e.correlation_id = it->get<std::string>();
    if (auto it = d.find("code"); it != d.end() && it->is_number_integer()) e.grpc_code = it->get<int>();
    if (auto it = d.find("attributes"); it != d.end() && it->is_object()) {
        e.attributes = *it;
        redact_json(e.attributes);
    }
    if (auto it = d.find("cause"); it != d.end() && it->is_object() && depth < max_cause_depth)
        e.cause = std::make_shared<const api_error>(details_at(*it, depth + 1));
    return e;
}

std::string fill_format(const std::string& format, const nlohmann::json& attributes) {
    // ICU-style "{name}" placeholders; anything more complex stays as written.
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] == '{') {
            const auto close = format.find('}', i);
            if (close != std::string::npos) {
                const std::string key = format.substr(i + 1, close - i - 1);
                if (attributes.is_object() && attributes.contains(key)) {
                    out += json_text(attributes[key]);
                    i = close;
                    continue;
                }
            }
        }
        out += format[i];
    }
    return out;
}

}  // namespace

const proto::table_category& tts_category() noexcept { return tts_cat; }
std::span<const proto::table_category* const> categories() noexcept { return tts_cats; }

// ---- api_error -------------------------------------------------------------------------------------

bool api_error::is(std::string_view full) const {
    for (const api_error* e = this; e; e = e->cause.get())
        if (e->named() && e->ns.size() + 1 + e->name.size() == full.size() && full.substr(0, e->ns.size()) == e->ns &&
            full[e->ns.size()] == ':' && full.substr(e->ns.size() + 1) == e->name)
            return true;
    return false;
}

const api_error& api_error::root_cause() const noexcept {
    const api_error* e = this;
    while (e->cause) e = e->cause.get();
    return *e;
}

std::string api_error::text() const {
    if (!message.empty()) {
        // "error:<ns>:<name> (<text>)" -> "<text>"
        if (named()) {
            const std::string head = "error:" + full_name() + " (";
            if (message.size() > head.size() && message.compare(0, head.size(), head) == 0 && message.back() == ')')
                return message.substr(head.size(), message.size() - head.size() - 1);
        }
        return message;
    }
    if (!message_format.empty()) return fill_format(message_format, attributes);
    return body_excerpt;
}

std::chrono::seconds api_error::retry_after() const noexcept {
    if (http_status != 429) return std::chrono::seconds{0};
    const auto retry = rate_limit ? rate_limit->retry : std::chrono::seconds{0};
    return std::max(std::chrono::seconds{1}, retry);
}

api_error decode_error_details(const nlohmann::json& details) { return details_at(details, 0); }

api_error decode_api_error(int http_status, std::string_view body) {
    api_error e;
    e.http_status = http_status;
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    // Stream errors wrap the status: {"error": {...}} (tts-api.md §4.11).
    if (j.is_object() && !j.contains("code") && j.contains("error") && j["error"].is_object()) j = j["error"];
    const bool status_like = j.is_object() && ((j.contains("code") && j["code"].is_number_integer()) ||
                                               (j.contains("message") && j["message"].is_string()));
    if (!status_like) {
        e.body_excerpt = redact_secrets(excerpt(body));
        return e;
    }
    if (auto it = j.find("code"); it != j.end() && it->is_number_integer()) e.grpc_code = it->get<int>();
    if (auto it = j.find("message"); it != j.end() && it->is_string()) e.message = redact_secrets(it->get<std::string>());
    if (auto it = j.find("details"); it != j.end() && it->is_array()) {
        for (const auto& d : *it) {
            if (!d.is_object() || !d.contains("name")) continue;
            api_error inner = details_at(d, 0);
            e.ns = std::move(inner.ns);
            e.name = std::move(inner.name);
            e.message_format = std::move(inner.message_format);
            e.correlation_id = std::move(inner.correlation_id);
            e.attributes = std::move(inner.attributes);
            e.cause = std::move(inner.cause);
            if (e.grpc_code == 0) e.grpc_code = inner.grpc_code;
            break;
        }
    }
    return e;
}

// ---- codes -----------------------------------------------------------------------------------------

std::error_code api_error_code(std::string_view full) {
    const auto colon = full.rfind(':');
    if (full.size() > max_name_length || colon == std::string_view::npos || !valid_part(full.substr(0, colon)) ||
        !valid_part(full.substr(colon + 1)) || full.substr(0, colon).find(':') != std::string_view::npos)
        return make_error_code(tts_errc::api_error);
    auto& r = names();
    std::lock_guard lock(r.mu);
    if (auto it = r.by_name.find(full); it != r.by_name.end()) return {1, *it->second};
    if (r.by_name.size() >= max_interned) return make_error_code(tts_errc::api_error);
    auto* cat = new api_category(std::string(full));  // intentionally leaked: lives as long as the program
    r.by_name.emplace(std::string(full), cat);
    return {1, *cat};
}

bool is_api_error(const std::error_code& ec) noexcept {
    return dynamic_cast<const api_category*>(&ec.category()) != nullptr || ec == make_error_code(tts_errc::api_error);
}

std::string_view api_error_name(const std::error_code& ec) noexcept {
    if (const auto* c = dynamic_cast<const api_category*>(&ec.category())) return c->full_name();
    return {};
}

proto::error to_proto_error(const api_error& e) {
    std::error_code code;
    if (e.named()) code = api_error_code(e.full_name());
    else if (e.grpc_code != 0 || !e.message.empty()) code = make_error_code(tts_errc::api_error);
    else code = make_error_code(tts_errc::http_status);

    std::string detail = fmt::format("HTTP {}", e.http_status);
    const std::string text = e.text();
    if (!text.empty()) detail += ": " + text;
    if (!e.named() && e.grpc_code != 0) detail += fmt::format(" (gRPC code {})", e.grpc_code);
    if (e.named() && code == make_error_code(tts_errc::api_error)) detail += fmt::format(" [{}]", e.full_name());
    if (!e.correlation_id.empty()) detail += fmt::format(" (correlation id {})", e.correlation_id);
    for (const api_error* c = e.cause.get(); c; c = c->cause.get()) {
        detail += "; cause ";
        if (c->named()) detail += c->full_name();
        const std::string ct = c->text();
        if (!ct.empty()) detail += (c->named() ? ": " : "") + ct;
    }
    if (e.http_status == 429) detail += fmt::format("; retry after {} s", e.retry_after().count());
    return proto::error{code, redact_secrets(detail)};
}

}  // namespace ttig::tts
