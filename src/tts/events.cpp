#include <ttig/tts/events.hpp>

#include <fmt/format.h>

namespace ttig::tts {

using json = nlohmann::json;

namespace {

constexpr std::string_view type_prefix = "type.googleapis.com/";

std::vector<std::string> strings(const json& j, const char* key) {
    std::vector<std::string> out;
    if (auto it = j.find(key); it != j.end() && it->is_array())
        for (const auto& v : *it) out.push_back(v.get<std::string>());
    return out;
}

}  // namespace

const json& event::value() const {
    static const json null;
    if (data_type != "google.protobuf.Value" || !data.is_object()) return null;
    auto it = data.find("value");
    return it == data.end() ? null : *it;
}

event event_from_json(const json& j) {
    event e;
    e.raw = j;
    e.name = j.value("name", "");
    if (auto t = j.find("time"); t != j.end() && t->is_string()) e.time = parse_time(t->get<std::string>());
    if (auto ids = j.find("identifiers"); ids != j.end() && ids->is_array()) {
        e.identifiers = *ids;
        for (const auto& id : *ids)
            if (auto g = id.find("gateway_ids"); g != id.end() && g->is_object()) e.gateway_ids.push_back(g->value("gateway_id", ""));
    } else {
        e.identifiers = json::array();
    }
    if (auto d = j.find("data"); d != j.end() && d->is_object()) {
        e.data = *d;
        std::string type = d->value("@type", "");
        if (type.starts_with(type_prefix)) type.erase(0, type_prefix.size());
        e.data_type = std::move(type);
    }
    e.correlation_ids = strings(j, "correlation_ids");
    e.origin = j.value("origin", "");
    if (auto v = j.find("visibility"); v != j.end() && v->is_object()) e.visibility = strings(*v, "rights");
    e.remote_ip = j.value("remote_ip", "");
    e.unique_id = j.value("unique_id", "");
    return e;
}

std::string decode_event_messages(std::string_view body, events_read& out) {
    std::size_t start = 0;
    while (start < body.size()) {
        const auto nl = body.find('\n', start);
        if (nl == std::string_view::npos) break;
        const std::string_view line = body.substr(start, nl - start);
        start = nl + 1;
        if (line.empty() || line == "\r") continue;  // the second '\n' of "\n\n"
        const json m = json::parse(line, nullptr, false);
        try {
            if (m.is_object() && m.contains("result") && m["result"].is_object()) {
                event e = event_from_json(m["result"]);
                if (e.name == "events.stream.start" && !out.start) {
                    if (const auto& v = e.value(); v.is_array())
                        for (const auto& n : v) out.names.push_back(n.get<std::string>());
                    out.start = std::move(e);
                } else {
                    out.events.push_back(std::move(e));
                }
                continue;
            }
            if (m.is_object() && m.contains("error") && m["error"].is_object()) {
                out.stream_error = std::make_shared<const api_error>(decode_api_error(0, m["error"].dump()));
                continue;
            }
        } catch (const json::exception&) {
        }
        ++out.bad_messages;
    }
    return std::string(body.substr(start));
}

namespace calls {

request_head stream_events(const events_request& r) {
    request_head h;
    h.rpc = "Events.Stream";
    h.base_url = r.base_url;
    if (r.gateway_ids.empty()) {
        h.invalid = proto::make_error(tts_errc::bad_argument, "{}: no gateway IDs", h.rpc);
        return h;
    }
    json ids = json::array();
    for (const auto& id : r.gateway_ids) {
        if (id.empty()) {
            h.invalid = proto::make_error(tts_errc::bad_argument, "{}: empty gateway ID", h.rpc);
            return h;
        }
        ids.push_back({{"gateway_ids", {{"gateway_id", id}}}});
    }
    nlohmann::ordered_json body;
    body["identifiers"] = std::move(ids);
    if (!r.names.empty()) body["names"] = r.names;
    if (r.tail > 0) body["tail"] = r.tail;
    if (r.after) body["after"] = format_time(*r.after);
    h.http.method = "POST";
    h.http.target = "/api/v3/events";
    h.http.body = body.dump();
    return h;
}

}  // namespace calls

}  // namespace ttig::tts
