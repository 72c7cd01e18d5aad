#include <ttig/tts/calls.hpp>
#include <ttig/tts/error.hpp>

#include <fmt/format.h>

#include <charconv>
#include <exception>

namespace ttig::tts {

using json = nlohmann::json;

namespace {

constexpr std::string_view api = "/api/v3";

// "?k=v&k2=v2" with encoded values; field masks keep their commas.
class query {
public:
    query& add(std::string_view key, std::string_view value) {
        out_ += out_.empty() ? '?' : '&';
        out_ += key;
        out_ += '=';
        out_ += url_encode(value);
        return *this;
    }
    query& mask(const std::vector<std::string>& paths) {
        if (paths.empty()) return *this;
        out_ += out_.empty() ? '?' : '&';
        out_ += "field_mask=";
        for (std::size_t i = 0; i < paths.size(); ++i) {
            if (i) out_ += ',';
            out_ += url_encode(paths[i]);
        }
        return *this;
    }
    const std::string& str() const noexcept { return out_; }

private:
    std::string out_;
};

request_head head(std::string rpc, std::string entity, std::string method, std::string target,
                  std::optional<json> body = std::nullopt) {
    request_head h;
    h.rpc = std::move(rpc);
    h.entity = std::move(entity);
    h.http.method = std::move(method);
    h.http.target = std::move(target);
    if (body) h.http.body = body->dump();
    return h;
}

request_head invalid(std::string rpc, std::string detail) {
    request_head h;
    h.rpc = rpc;
    h.invalid = proto::make_error(tts_errc::bad_argument, "{}: {}", rpc, detail);
    return h;
}

std::string gw_entity(const std::string& id) { return "gateway:" + id; }

std::string excerpt(std::string_view body) {
    std::string out(body.substr(0, 120));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return out;
}

// Parses the body as a JSON object and hands it to `f`; wrong shapes become tts.bad_response.
template <class T, class F>
decoder<T> json_decoder(std::string rpc, F f) {
    return [rpc = std::move(rpc), f = std::move(f)](const proto::http_response& res) -> proto::result<T> {
        json j = res.body.empty() ? json::object() : json::parse(res.body, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            return proto::make_error(tts_errc::bad_response, "{}: HTTP {} body is not a JSON object: {}", rpc, res.status,
                                     excerpt(res.body));
        try {
            if constexpr (std::is_void_v<T>) {
                f(j, res);
                return {};
            } else {
                return f(j, res);
            }
        } catch (const std::exception& e) {
            return proto::make_error(tts_errc::bad_response, "{}: {}", rpc, e.what());
        }
    };
}

decoder<void> empty_decoder(std::string rpc) {
    return json_decoder<void>(std::move(rpc), [](const json&, const proto::http_response&) {});
}

std::optional<std::uint64_t> total_count(const proto::http_response& res) {
    auto v = res.headers.get("X-Total-Count");
    if (!v) return std::nullopt;
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
    return n;
}

template <class T>
decoder<page<T>> page_decoder(std::string rpc, std::string list_key, std::uint32_t number, std::uint32_t limit) {
    return json_decoder<page<T>>(std::move(rpc), [list_key = std::move(list_key), number, limit](const json& j, const proto::http_response& res) {
        page<T> p;
        p.number = number == 0 ? 1 : number;
        p.limit = limit;
        p.total = total_count(res);
        if (auto it = j.find(list_key); it != j.end() && !it->is_null())
            for (const auto& x : it->get_ref<const json::array_t&>()) p.items.push_back(x.get<T>());
        return p;
    });
}

void add_paging(query& q, const list_options& o) {
    q.mask(o.field_mask);
    if (!o.order.empty()) q.add("order", o.order);
    q.add("limit", std::to_string(o.limit));
    q.add("page", std::to_string(o.page));
    if (o.deleted) q.add("deleted", "true");
}

}  // namespace

namespace calls {

call<auth_info> get_auth_info() {
    const std::string rpc = "EntityAccess.AuthInfo";
    return {head(rpc, "", "GET", std::string(api) + "/auth_info"),
            json_decoder<auth_info>(rpc, [](const json& j, const proto::http_response&) { return j.get<auth_info>(); })};
}

call<gateway> get_gateway(const std::string& gateway_id, const std::vector<std::string>& field_mask) {
    const std::string rpc = "GatewayRegistry.Get";
    auto dec = json_decoder<gateway>(rpc, [](const json& j, const proto::http_response&) { return j.get<gateway>(); });
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    query q;
    q.mask(field_mask);
    return {head(rpc, gw_entity(gateway_id), "GET", fmt::format("{}/gateways/{}{}", api, url_encode(gateway_id), q.str())), dec};
}

call<page<gateway>> list_gateways(const list_scope& scope, const list_options& options) {
    const std::string rpc = "GatewayRegistry.List";
    auto dec = page_decoder<gateway>(rpc, "gateways", options.page, options.limit);
    if (options.limit > 1000) return {invalid(rpc, "limit above 1000"), dec};
    std::string path;
    switch (scope.type) {
        case list_scope::kind::caller: path = fmt::format("{}/gateways", api); break;
        case list_scope::kind::user:
            if (scope.id.empty()) return {invalid(rpc, "empty user ID"), dec};
            path = fmt::format("{}/users/{}/gateways", api, url_encode(scope.id));
            break;
        case list_scope::kind::organization:
            if (scope.id.empty()) return {invalid(rpc, "empty organization ID"), dec};
            path = fmt::format("{}/organizations/{}/gateways", api, url_encode(scope.id));
            break;
    }
    query q;
    add_paging(q, options);
    return {head(rpc, "", "GET", path + q.str()), dec};
}

call<page<gateway>> search_gateways_by_eui(proto::eui64 eui, const list_options& options) {
    const std::string rpc = "EntityRegistrySearch.SearchGateways";
    auto dec = page_decoder<gateway>(rpc, "gateways", options.page, options.limit);
    if (options.limit > 1000) return {invalid(rpc, "limit above 1000"), dec};
    query q;
    q.add("eui_contains", eui.hex());
    add_paging(q, options);
    return {head(rpc, "", "GET", fmt::format("{}/search/gateways{}", api, q.str())), dec};
}

call<gateway> create_gateway(const account_ids& owner, const gateway& g) {
    const std::string rpc = "GatewayRegistry.Create";
    auto dec = json_decoder<gateway>(rpc, [](const json& j, const proto::http_response&) { return j.get<gateway>(); });
    if (owner.id.empty()) return {invalid(rpc, "empty owner ID"), dec};
    if (g.ids.gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    const char* kind = owner.type == account_ids::kind::organization ? "organizations" : "users";
    json body{{"gateway", json(g)}};
    return {head(rpc, gw_entity(g.ids.gateway_id), "POST", fmt::format("{}/{}/{}/gateways", api, kind, url_encode(owner.id)), body),
            dec};
}

call<gateway> update_gateway(const std::string& gateway_id, const gateway_update& update) {
    const std::string rpc = "GatewayRegistry.Update";
    auto dec = json_decoder<gateway>(rpc, [](const json& j, const proto::http_response&) { return j.get<gateway>(); });
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    json values = update.values();
    if (!values["ids"].is_object()) values["ids"] = json::object();
    values["ids"]["gateway_id"] = gateway_id;
    json body{{"gateway", std::move(values)}, {"field_mask", {{"paths", update.paths()}}}};
    return {head(rpc, gw_entity(gateway_id), "PUT", fmt::format("{}/gateways/{}", api, url_encode(gateway_id)), body), dec};
}

call<void> delete_gateway(const std::string& gateway_id) {
    const std::string rpc = "GatewayRegistry.Delete";
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), empty_decoder(rpc)};
    return {head(rpc, gw_entity(gateway_id), "DELETE", fmt::format("{}/gateways/{}", api, url_encode(gateway_id))), empty_decoder(rpc)};
}

call<void> restore_gateway(const std::string& gateway_id) {
    const std::string rpc = "GatewayRegistry.Restore";
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), empty_decoder(rpc)};
    return {head(rpc, gw_entity(gateway_id), "POST", fmt::format("{}/gateways/{}/restore", api, url_encode(gateway_id)), json::object()),
            empty_decoder(rpc)};
}

call<void> purge_gateway(const std::string& gateway_id) {
    const std::string rpc = "GatewayRegistry.Purge";
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), empty_decoder(rpc)};
    return {head(rpc, gw_entity(gateway_id), "DELETE", fmt::format("{}/gateways/{}/purge", api, url_encode(gateway_id))),
            empty_decoder(rpc)};
}

call<std::vector<std::string>> list_gateway_rights(const std::string& gateway_id) {
    const std::string rpc = "GatewayAccess.ListRights";
    auto dec = json_decoder<std::vector<std::string>>(rpc, [](const json& j, const proto::http_response&) {
        std::vector<std::string> out;
        if (auto it = j.find("rights"); it != j.end() && !it->is_null())
            for (const auto& r : it->get_ref<const json::array_t&>()) out.push_back(r.get<std::string>());
        return out;
    });
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    return {head(rpc, gw_entity(gateway_id), "GET", fmt::format("{}/gateways/{}/rights", api, url_encode(gateway_id))), dec};
}

call<api_key> create_api_key(const std::string& gateway_id, const std::string& name, const std::vector<std::string>& key_rights,
                             std::optional<time_point> expires_at) {
    const std::string rpc = "GatewayAccess.CreateAPIKey";
    auto dec = json_decoder<api_key>(rpc, [](const json& j, const proto::http_response&) {
        auto k = j.get<api_key>();
        if (k.key.empty()) throw std::invalid_argument("the answer has no key");
        return k;
    });
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    if (key_rights.empty()) return {invalid(rpc, "an API key needs at least one right"), dec};
    json body{{"name", name}, {"rights", key_rights}};
    if (expires_at) body["expires_at"] = format_time(*expires_at);
    return {head(rpc, gw_entity(gateway_id), "POST", fmt::format("{}/gateways/{}/api-keys", api, url_encode(gateway_id)), body), dec};
}

call<page<api_key>> list_api_keys(const std::string& gateway_id, std::uint32_t limit, std::uint32_t page_number, const std::string& order) {
    const std::string rpc = "GatewayAccess.ListAPIKeys";
    auto dec = page_decoder<api_key>(rpc, "api_keys", page_number, limit);
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    if (limit > 1000) return {invalid(rpc, "limit above 1000"), dec};
    query q;
    if (!order.empty()) q.add("order", order);
    q.add("limit", std::to_string(limit));
    q.add("page", std::to_string(page_number));
    return {head(rpc, gw_entity(gateway_id), "GET", fmt::format("{}/gateways/{}/api-keys{}", api, url_encode(gateway_id), q.str())), dec};
}

call<api_key> get_api_key(const std::string& gateway_id, const std::string& key_id) {
    const std::string rpc = "GatewayAccess.GetAPIKey";
    auto dec = json_decoder<api_key>(rpc, [](const json& j, const proto::http_response&) { return j.get<api_key>(); });
    if (gateway_id.empty() || key_id.empty()) return {invalid(rpc, "empty gateway or key ID"), dec};
    return {head(rpc, gw_entity(gateway_id), "GET",
                 fmt::format("{}/gateways/{}/api-keys/{}", api, url_encode(gateway_id), url_encode(key_id))),
            dec};
}

call<api_key> update_api_key(const std::string& gateway_id, const std::string& key_id, const api_key_update& update) {
    const std::string rpc = "GatewayAccess.UpdateAPIKey";
    auto dec = json_decoder<api_key>(rpc, [](const json& j, const proto::http_response&) {
        auto k = j.get<api_key>();
        if (k.id.empty()) throw std::invalid_argument("the answer names no key (was it deleted?)");
        return k;
    });
    if (gateway_id.empty() || key_id.empty()) return {invalid(rpc, "empty gateway or key ID"), dec};
    if (update.rights && update.rights->empty()) return {invalid(rpc, "empty rights delete the key: use delete_api_key"), dec};
    json key{{"id", key_id}};
    std::vector<std::string> paths;
    if (update.name) {
        key["name"] = *update.name;
        paths.emplace_back("name");
    }
    if (update.rights) {
        key["rights"] = *update.rights;
        paths.emplace_back("rights");
    }
    if (update.expires_at) {
        key["expires_at"] = *update.expires_at ? json(format_time(**update.expires_at)) : json();
        paths.emplace_back("expires_at");
    }
    if (paths.empty()) return {invalid(rpc, "nothing to update"), dec};
    json body{{"api_key", key}, {"field_mask", {{"paths", paths}}}};
    return {head(rpc, gw_entity(gateway_id), "PUT",
                 fmt::format("{}/gateways/{}/api-keys/{}", api, url_encode(gateway_id), url_encode(key_id)), body),
            dec};
}

call<void> delete_api_key(const std::string& gateway_id, const std::string& key_id, api_key_delete how) {
    const bool route = how == api_key_delete::delete_route;
    const std::string rpc = route ? "GatewayAccess.DeleteAPIKey" : "GatewayAccess.UpdateAPIKey";
    if (gateway_id.empty() || key_id.empty()) return {invalid(rpc, "empty gateway or key ID"), empty_decoder(rpc)};
    const std::string target = fmt::format("{}/gateways/{}/api-keys/{}", api, url_encode(gateway_id), url_encode(key_id));
    if (route) return {head(rpc, gw_entity(gateway_id), "DELETE", target), empty_decoder(rpc)};
    json body{{"api_key", {{"id", key_id}, {"rights", json::array()}}}, {"field_mask", {{"paths", {"rights"}}}}};
    return {head(rpc, gw_entity(gateway_id), "PUT", target, body), empty_decoder(rpc)};
}

call<claim_info> get_claim_info(proto::eui64 eui) {
    const std::string rpc = "GatewayClaimingServer.GetInfoByGatewayEUI";
    return {head(rpc, "", "POST", fmt::format("{}/gcls/claim/info", api), json{{"eui", eui.hex()}}),
            json_decoder<claim_info>(rpc, [](const json& j, const proto::http_response&) { return j.get<claim_info>(); })};
}

call<claim_result> claim_gateway(const claim_request& request) {
    const std::string rpc = "GatewayClaimingServer.Claim";
    auto dec = json_decoder<claim_result>(rpc, [](const json& j, const proto::http_response&) { return j.get<claim_result>(); });
    if (request.target_gateway_id.empty()) return {invalid(rpc, "empty target gateway ID"), dec};
    if (request.collaborator.id.empty()) return {invalid(rpc, "empty collaborator ID"), dec};
    if (request.target_gateway_server_address.find("://") != std::string::npos)
        return {invalid(rpc, "target_gateway_server_address must be host[:port] without a scheme"), dec};
    return {head(rpc, "", "POST", fmt::format("{}/gcls/claim", api), json(request)), dec};
}

call<void> unclaim_gateway(const std::string& gateway_id) {
    const std::string rpc = "GatewayClaimingServer.Unclaim";
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), empty_decoder(rpc)};
    return {head(rpc, gw_entity(gateway_id), "DELETE", fmt::format("{}/gcls/claim/{}", api, url_encode(gateway_id))), empty_decoder(rpc)};
}

call<connection_stats> get_connection_stats(const std::string& gateway_id, const std::string& base_url) {
    const std::string rpc = "Gs.GetGatewayConnectionStats";
    auto dec = json_decoder<connection_stats>(rpc, [](const json& j, const proto::http_response&) { return j.get<connection_stats>(); });
    if (gateway_id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
    auto h = head(rpc, gw_entity(gateway_id), "GET", fmt::format("{}/gs/gateways/{}/connection/stats", api, url_encode(gateway_id)));
    h.base_url = base_url;
    return {std::move(h), dec};
}

call<std::map<std::string, connection_stats>> batch_connection_stats(std::span<const std::string> gateway_ids,
                                                                     const std::vector<std::string>& field_mask,
                                                                     const std::string& base_url) {
    const std::string rpc = "Gs.BatchGetGatewayConnectionStats";
    auto dec = json_decoder<std::map<std::string, connection_stats>>(rpc, [](const json& j, const proto::http_response&) {
        std::map<std::string, connection_stats> out;
        if (auto it = j.find("entries"); it != j.end() && !it->is_null())
            for (const auto& [id, v] : it->get_ref<const json::object_t&>()) out.emplace(id, v.get<connection_stats>());
        return out;
    });
    if (gateway_ids.empty() || gateway_ids.size() > batch_stats_max_ids)
        return {invalid(rpc, fmt::format("{} gateway IDs; one batch takes 1 to {}", gateway_ids.size(), batch_stats_max_ids)), dec};
    json ids = json::array();
    for (const auto& id : gateway_ids) {
        if (id.empty()) return {invalid(rpc, "empty gateway ID"), dec};
        ids.push_back({{"gateway_id", id}});
    }
    json body{{"gateway_ids", std::move(ids)}};
    if (!field_mask.empty()) body["field_mask"] = {{"paths", field_mask}};
    auto h = head(rpc, "", "POST", fmt::format("{}/gs/gateways/connection/stats", api), body);
    h.base_url = base_url;
    return {std::move(h), dec};
}

call<std::vector<frequency_plan>> list_frequency_plans(const std::string& band_id, std::uint32_t base_frequency, bool gateways_only) {
    const std::string rpc = "Configuration.ListFrequencyPlans";
    query q;
    if (gateways_only) q.add("gateways_only", "true");
    if (!band_id.empty()) q.add("band_id", band_id);
    if (base_frequency) q.add("base_frequency", std::to_string(base_frequency));
    return {head(rpc, "", "GET", fmt::format("{}/configuration/frequency-plans{}", api, q.str())),
            json_decoder<std::vector<frequency_plan>>(rpc, [](const json& j, const proto::http_response&) {
                std::vector<frequency_plan> out;
                if (auto it = j.find("frequency_plans"); it != j.end() && !it->is_null())
                    for (const auto& p : it->get_ref<const json::array_t&>()) out.push_back(p.get<frequency_plan>());
                return out;
            })};
}

}  // namespace calls

std::string cluster_base_url(std::string_view address, std::uint16_t https_port) {
    if (const auto s = address.find("://"); s != std::string_view::npos) address.remove_prefix(s + 3);
    if (const auto slash = address.find('/'); slash != std::string_view::npos) address = address.substr(0, slash);
    std::string host;
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        host = std::string(address.substr(0, close == std::string_view::npos ? address.size() : close + 1));
    } else {
        host = std::string(address.substr(0, address.find(':')));
    }
    if (host.empty()) return {};
    if (https_port == 443) return "https://" + host;
    return fmt::format("https://{}:{}", host, https_port);
}

}  // namespace ttig::tts
