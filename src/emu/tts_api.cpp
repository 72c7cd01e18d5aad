#include <ttig/emu/tts_api.hpp>
#include <ttig/proto/router_config.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

namespace ttig::emu {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

std::string full_method(std::string_view rpc) {
    const auto dot = rpc.find('.');
    if (dot == std::string_view::npos) return std::string(rpc);
    return fmt::format("/ttn.lorawan.v3.{}/{}", rpc.substr(0, dot), rpc.substr(dot + 1));
}

namespace {

// ---- small helpers ------------------------------------------------------------------------------------

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto end = s.find(sep, start);
        out.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

std::string to_snake(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c >= 'A' && c <= 'Z') {
            out += '_';
            out += static_cast<char>(c - 'A' + 'a');
        } else
            out += c;
    }
    return out;
}

// protojson accepts lowerCamelCase field names too; map them to the proto names. Map keys of
// `attributes` are user data and stay as they are.
json snake_keys(const json& in) {
    if (in.is_array()) {
        json out = json::array();
        for (const auto& v : in) out.push_back(snake_keys(v));
        return out;
    }
    if (!in.is_object()) return in;
    json out = json::object();
    for (const auto& [k, v] : in.items()) {
        const std::string key = to_snake(k);
        out[key] = (key == "attributes" || key == "attributes_contain") ? v : snake_keys(v);
    }
    return out;
}

tts_error plain(int code, std::string message) {
    tts_error e;
    e.code = code;
    e.message_format = std::move(message);
    return e;
}

tts_error validation(std::string_view request, std::string field, std::string reason) {
    return tts_error::make("pkg/errors:validation",
                           {{"field", std::move(field)}, {"reason", std::move(reason)}, {"name", fmt::format("{}ValidationError", request)}});
}

bool ci_contains(std::string_view hay, std::string_view needle) {
    if (needle.empty()) return true;
    auto lower = [](std::string_view s) {
        std::string o(s);
        std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return o;
    };
    return lower(hay).find(lower(needle)) != std::string::npos;
}

std::optional<proto::eui64> parse_eui_json(const json& v) {
    if (!v.is_string()) return std::nullopt;
    const auto s = v.get<std::string>();
    if (s.size() == 16) {
        proto::bytes b;
        if (proto::from_hex(s, b) && b.size() == 8) {
            std::uint64_t x = 0;
            for (auto c : b) x = (x << 8) | c;
            return proto::eui64{x};
        }
    }
    if (auto raw = base64_decode(s); raw && raw->size() == 8) {
        std::uint64_t x = 0;
        for (unsigned char c : *raw) x = (x << 8) | c;
        return proto::eui64{x};
    }
    return std::nullopt;
}

bool valid_id(std::string_view s) {  // ^[a-z0-9](?:[-]?[a-z0-9]){2,}$, <= 36
    if (s.empty() || s.size() > 36 || s.front() == '-' || s.back() == '-') return false;
    std::size_t alnum = 0;
    char prev = 0;
    for (char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ++alnum;
        else if (c == '-') {
            if (prev == '-') return false;
        } else
            return false;
        prev = c;
    }
    return alnum >= 3;
}

constexpr std::string_view id_regex_reason = "value does not match regex pattern \"^[a-z0-9](?:[-]?[a-z0-9]){2,}$\"";

struct plan_name {
    std::string_view id, base_id, name;
    std::uint32_t base_frequency;
};
// TheThingsNetwork/lorawan-frequency-plans frequency-plans.yml entries of the built-in plans.
constexpr std::array<plan_name, 3> plan_names{{
    {"EU_863_870_TTN", "EU_863_870", "Europe 863-870 MHz (SF9 for RX2 - recommended)", 868},
    {"US_902_928_FSB_2", "", "United States 902-928 MHz, FSB 2 (used by TTN)", 915},
    {"AU_915_928_FSB_2", "", "Australia 915-928 MHz, FSB 2 (used by TTN)", 915},
}};

constexpr std::array<std::string_view, 9> gateway_orders{"",     "gateway_id",  "-gateway_id", "gateway_eui", "-gateway_eui",
                                                         "name", "-name",       "created_at",  "-created_at"};
constexpr std::array<std::string_view, 9> api_key_orders{"",        "api_key_id",  "-api_key_id", "name",       "-name",
                                                         "created_at", "-created_at", "expires_at",  "-expires_at"};

template <std::size_t N>
std::string in_list_reason(const std::array<std::string_view, N>& list) {
    std::string s = "value must be in list [";
    for (std::size_t i = 0; i < N; ++i) s += (i ? " " : "") + std::string(list[i]);
    return s + "]";
}

struct reply {
    ojson body = ojson::object();
    std::vector<std::pair<std::string, std::string>> headers;
};
using outcome = tts_result<reply>;

reply ok(ojson body) { return reply{std::move(body), {}}; }

}  // namespace

// =================================================================================================
// One request
// =================================================================================================

struct tts_api::call {
    tts_api& api;
    tts_state& st;
    const proto::http_request& req;
    std::string cluster;
    std::optional<std::string> authorization;
    std::vector<std::string> params;  // path parameters
    std::string rpc;
    json body = json::object();
    proto::http_fields headers;  // extra response headers (rate limits, X-Warning)

    // ---- common steps ----

    // Rate limiting of /api/v3 calls (pkg/ratelimit UnaryServerInterceptor).
    tts_result<void> rate_limit(std::string_view entity) {
        std::string token_id;
        if (authorization) {
            const auto sp = authorization->find(' ');
            if (sp != std::string::npos)
                if (auto parts = split_token(std::string_view(*authorization).substr(sp + 1))) token_id = parts->id;
        }
        const auto resource = grpc_method_resource(full_method(rpc), entity, token_id);
        auto r = api.limiter_.take(resource);
        if (!r) return {};
        r->apply_headers(headers);
        if (r->limited)
            return tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", resource.key}, {"rate", r->limit}});
        return {};
    }

    tts_result<auth_info> auth() const { return st.authenticate(authorization ? std::optional<std::string_view>(*authorization) : std::nullopt); }

    bool has_auth_metadata() const { return authorization && authorization->find(' ') != std::string::npos; }

    std::vector<std::string> query_mask() const {
        std::vector<std::string> paths;
        for (const auto& v : req.query_values("field_mask"))
            for (auto& p : split(v, ','))
                if (!p.empty()) paths.push_back(to_snake(p));
        for (const auto& v : req.query_values("field_mask.paths"))
            for (auto& p : split(v, ','))
                if (!p.empty()) paths.push_back(to_snake(p));
        return paths;
    }

    static tts_result<std::vector<std::string>> body_mask(const json& b) {
        std::vector<std::string> paths;
        auto it = b.find("field_mask");
        if (it == b.end() || it->is_null()) return paths;
        if (it->is_string()) {
            for (auto& p : split(it->get<std::string>(), ','))
                if (!p.empty()) paths.push_back(to_snake(p));
            return paths;
        }
        if (it->is_object()) {
            auto ps = it->find("paths");
            if (ps == it->end() || ps->is_null()) return paths;
            if (!ps->is_array()) return plain(grpc_code::invalid_argument, "invalid value for field_mask.paths");
            for (const auto& p : *ps) {
                if (!p.is_string()) return plain(grpc_code::invalid_argument, "invalid value for field_mask.paths");
                paths.push_back(to_snake(p.get<std::string>()));
            }
            return paths;
        }
        return plain(grpc_code::invalid_argument, "invalid value for field_mask");
    }

    static tts_result<void> check_mask(const std::vector<std::string>& paths, std::span<const std::string_view> allowed) {
        json forbidden = json::array();
        for (const auto& p : paths)
            if (std::find(allowed.begin(), allowed.end(), p) == allowed.end()) forbidden.push_back(p);
        if (!forbidden.empty())
            return tts_error::make("pkg/rpcmiddleware/validator:field_mask_paths", {{"forbidden_paths", forbidden}});
        return {};
    }

    std::optional<std::string> query_one(std::string_view key) const {
        auto v = req.query_values(key);
        if (v.empty()) return std::nullopt;
        return v.back();
    }

    tts_result<std::uint32_t> query_uint(std::string_view key) const {
        auto v = query_one(key);
        if (!v || v->empty()) return std::uint32_t{0};
        std::uint32_t n = 0;
        const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || p != v->data() + v->size())
            return plain(grpc_code::invalid_argument,
                         fmt::format("type mismatch, parameter: {}, error: strconv.ParseUint: parsing \"{}\": invalid syntax",
                                     key, *v));
        return n;
    }

    bool query_bool(std::string_view key) const {
        auto v = query_one(key);
        return v && (*v == "true" || *v == "1" || *v == "True" || *v == "TRUE");
    }

    // cleanFieldMaskPaths(GatewayFieldPathsNested, mask, add, remove) plus the deprecated-field rules
    // of the registry reads.
    static std::vector<std::string> clean_read_mask(std::vector<std::string> mask, const std::vector<std::string>& extra = {}) {
        std::set<std::string> sel(mask.begin(), mask.end());
        if (sel.count("frequency_plan_id")) sel.insert("frequency_plan_ids");
        if (sel.count("contact_info")) {
            sel.erase("contact_info");
            sel.insert("administrative_contact");
            sel.insert("technical_contact");
        }
        for (const char* p : {"ids", "created_at", "updated_at"}) sel.insert(p);
        for (const auto& p : extra) sel.insert(p);
        sel.erase("frequency_plan_id");
        std::vector<std::string> out;
        for (auto p : gateway_field_paths())
            if (sel.count(std::string(p))) out.emplace_back(p);
        return out;
    }

    // The caller's rights on a gateway for listed entries: membership chains ∪ universal (listGateways).
    rights listed_rights(const auth_info& a, const std::string& gateway_id) const {
        rights r;
        if (auto ou = a.organization_or_user()) r = st.membership_rights(*ou, gateway_id);
        return r | a.universal;
    }

    ojson render_listed(const auth_info& a, const gateway& gw, const std::vector<std::string>& mask, bool blank_secrets) {
        const rights r = listed_rights(a, gw.id());
        ojson out = render_gateway(gw, mask);
        if (!r.contains(right::gateway_info)) out = public_safe(out);
        if (blank_secrets && !r.contains(right::gateway_read_secrets))
            for (const char* f : {"lbs_lns_secret", "target_cups_key", "claim_authentication_code"}) out.erase(f);
        return out;
    }

    static tts_result<void> require_entity(const rights& have, const entity_ref& e, rights required) {
        const char* kind = e.type == entity_ref::kind::organization ? "organization" : "user";
        if (have.empty()) return tts_error::make(fmt::format("pkg/auth/rights:no_{}_rights", kind), {{"uid", e.id}});
        const rights missing = required - have;
        if (!missing.empty())
            return tts_error::make(fmt::format("pkg/auth/rights:insufficient_{}_rights", kind),
                                   {{"uid", e.id}, {"missing", missing.names()}});
        return {};
    }

    // ---- handlers ----

    outcome auth_info_() {
        if (auto r = rate_limit(""); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        return ok(a->to_json());
    }

    outcome get_gateway() {
        const std::string& id = params[0];
        auto mask = query_mask();
        if (auto r = check_mask(mask, gateway_field_paths()); !r) return std::move(r).err();
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        if (auto r = st.require_authenticated(*a); !r) return std::move(r).err();
        const auto paths = clean_read_mask(mask);
        auto have = st.gateway_rights(*a, id);
        if (!have) return std::move(have).err();
        bool public_only = false;
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_info}); !r) {
            if (!has_only_allowed_fields(paths, public_gateway_fields())) return std::move(r).err();
            public_only = true;
        }
        if (has_any_field(paths, "lbs_lns_secret") || has_any_field(paths, "claim_authentication_code") ||
            has_any_field(paths, "target_cups_key")) {
            if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_read_secrets}); !r)
                return std::move(r).err();
        }
        auto gw = st.get_gateway(id);
        if (!gw) return std::move(gw).err();
        ojson out = render_gateway(*gw, paths);
        if (public_only) out = public_safe(out);
        return ok(std::move(out));
    }

    tts_result<std::pair<std::uint32_t, std::uint32_t>> paging(std::string_view request, bool from_body) {
        std::uint32_t limit = 0, page = 0;
        if (from_body) {
            auto get = [&](const char* k, std::uint32_t& out) -> tts_result<void> {
                auto it = body.find(k);
                if (it == body.end() || it->is_null()) return {};
                if (it->is_number_unsigned()) out = it->get<std::uint32_t>();
                else if (it->is_string() && !it->get<std::string>().empty()) {
                    const auto s = it->get<std::string>();
                    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
                    if (ec != std::errc() || p != s.data() + s.size())
                        return plain(grpc_code::invalid_argument, fmt::format("invalid value for uint32 field {}", k));
                } else if (!it->is_number_unsigned())
                    return plain(grpc_code::invalid_argument, fmt::format("invalid value for uint32 field {}", k));
                return {};
            };
            if (auto r = get("limit", limit); !r) return std::move(r).err();
            if (auto r = get("page", page); !r) return std::move(r).err();
        } else {
            auto l = query_uint("limit");
            if (!l) return std::move(l).err();
            auto p = query_uint("page");
            if (!p) return std::move(p).err();
            limit = *l;
            page = *p;
        }
        if (limit > 1000) return validation(request, "limit", "value must be less than or equal to 1000");
        return std::pair{limit, page};
    }

    template <class T>
    static std::vector<T> paginate(std::vector<T> items, std::uint32_t limit, std::uint32_t page) {
        if (limit == 0) return items;
        if (page == 0) page = 1;
        const std::size_t offset = static_cast<std::size_t>(page - 1) * limit;
        if (offset >= items.size()) return {};
        const auto end = std::min(items.size(), offset + limit);
        return std::vector<T>(items.begin() + static_cast<std::ptrdiff_t>(offset), items.begin() + static_cast<std::ptrdiff_t>(end));
    }

    static void sort_gateways(std::vector<gateway>& gws, std::string_view order) {
        const bool desc = !order.empty() && order.front() == '-';
        const auto key = desc ? order.substr(1) : order;
        std::stable_sort(gws.begin(), gws.end(), [&](const gateway& a, const gateway& b) {
            auto cmp = [&]() -> int {
                if (key == "gateway_eui") {
                    const auto ea = a.eui() ? a.eui()->hex() : std::string(), eb = b.eui() ? b.eui()->hex() : std::string();
                    return ea.compare(eb);
                }
                if (key == "name") return a.name().compare(b.name());
                if (key == "created_at") return a.created_at() < b.created_at() ? -1 : a.created_at() > b.created_at() ? 1 : 0;
                return a.id().compare(b.id());
            }();
            return desc ? cmp > 0 : cmp < 0;
        });
    }

    reply gateways_reply(ojson list, std::size_t total) {
        reply r;
        if (!list.empty()) r.body["gateways"] = std::move(list);
        r.headers.emplace_back("X-Total-Count", std::to_string(total));
        return r;
    }

    outcome list_gateways(std::optional<entity_ref> collaborator, bool filter_route) {
        std::vector<std::string> mask;
        std::string order;
        bool deleted = false;
        std::optional<time_point> updated_since;
        if (filter_route) {
            auto m = body_mask(body);
            if (!m) return std::move(m).err();
            mask = *m;
            if (auto c = body.find("collaborator"); c != body.end() && !c->is_null()) collaborator = parse_entity_ids(*c);
            order = body.value("order", "");
            deleted = body.value("deleted", false);
            if (auto f = body.find("filters"); f != body.end() && f->is_array())
                for (const auto& filter : *f)
                    if (filter.is_object() && filter.contains("updated_since") && filter["updated_since"].is_string())
                        updated_since = parse_time(filter["updated_since"].get<std::string>());
        } else {
            mask = query_mask();
            order = query_one("order").value_or("");
            deleted = query_bool("deleted");
        }
        if (auto r = check_mask(mask, gateway_field_paths()); !r) return std::move(r).err();
        if (std::find(gateway_orders.begin(), gateway_orders.end(), order) == gateway_orders.end())
            return validation("ListGatewaysRequest", "order", in_list_reason(gateway_orders));
        auto pg = paging("ListGatewaysRequest", filter_route);
        if (!pg) return std::move(pg).err();
        if (auto r = rate_limit(""); !r) return std::move(r).err();
        const auto paths = clean_read_mask(mask);
        auto a = auth();
        if (!a) return std::move(a).err();
        bool include_indirect = false;
        if (!collaborator) {
            collaborator = a->organization_or_user();
            include_indirect = true;
        }
        if (!collaborator) return ok(ojson::object());
        const bool org = collaborator->type == entity_ref::kind::organization;
        if (auto r = require_entity(st.entity_rights(*a, *collaborator), *collaborator,
                                    {org ? right::organization_gateways_list : right::user_gateways_list});
            !r)
            return std::move(r).err();
        std::vector<gateway> gws;
        for (const auto& id : st.member_gateways(*collaborator, include_indirect, deleted))
            if (auto g = st.get_gateway(id, true)) {
                if (updated_since && g->updated_at() < *updated_since) continue;
                gws.push_back(std::move(*g));
            }
        sort_gateways(gws, order);
        const std::size_t total = gws.size();
        ojson list = ojson::array();
        for (const auto& g : paginate(std::move(gws), pg->first, pg->second)) list.push_back(render_listed(*a, g, paths, true));
        return gateways_reply(std::move(list), total);
    }

    outcome search_gateways() {
        auto mask = query_mask();
        if (auto r = check_mask(mask, gateway_field_paths()); !r) return std::move(r).err();
        const std::string order = query_one("order").value_or("");
        if (std::find(gateway_orders.begin(), gateway_orders.end(), order) == gateway_orders.end())
            return validation("SearchGatewaysRequest", "order", in_list_reason(gateway_orders));
        auto pg = paging("SearchGatewaysRequest", false);
        if (!pg) return std::move(pg).err();
        const std::string query = query_one("query").value_or(""), id_contains = query_one("id_contains").value_or(""),
                          name_contains = query_one("name_contains").value_or(""),
                          description_contains = query_one("description_contains").value_or(""),
                          eui_contains = query_one("eui_contains").value_or("");
        for (const auto& [k, v] : {std::pair{"query", &query}, std::pair{"id_contains", &id_contains},
                                   std::pair{"name_contains", &name_contains},
                                   std::pair{"description_contains", &description_contains}})
            if (v->size() > 50) return validation("SearchGatewaysRequest", k, "value length must be at most 50 runes");
        if (eui_contains.size() > 16)
            return validation("SearchGatewaysRequest", "eui_contains", "value length must be at most 16 runes");
        std::map<std::string, std::string> attributes_contain;
        for (const auto& kv : split(req.query(), '&')) {
            const auto eq = kv.find('=');
            const std::string key = proto::percent_decode(kv.substr(0, eq));
            if (key.rfind("attributes_contain[", 0) == 0 && key.back() == ']')
                attributes_contain[key.substr(19, key.size() - 20)] =
                    eq == std::string::npos ? std::string() : proto::percent_decode(kv.substr(eq + 1));
        }
        if (auto r = rate_limit(""); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto member = a->organization_or_user();
        if (!member) return tts_error::make("pkg/identityserver:search_forbidden");
        const bool deleted = query_bool("deleted");
        std::vector<std::string> extra;
        if (!id_contains.empty()) extra.emplace_back("ids");
        if (!name_contains.empty()) extra.emplace_back("name");
        if (!description_contains.empty()) extra.emplace_back("description");
        if (!attributes_contain.empty()) extra.emplace_back("attributes");
        const auto paths = clean_read_mask(mask, extra);
        std::vector<gateway> candidates;
        // A whole EUI and nothing else to match is one indexed lookup (a claim's check runs this
        // per gateway; reading every gateway would make a fleet of N cost N² here).
        const bool whole_eui = eui_contains.size() == 16 &&
                               std::all_of(eui_contains.begin(), eui_contains.end(), [](unsigned char ch) { return std::isxdigit(ch) != 0; });
        if (whole_eui && !deleted && query.empty() && id_contains.empty() && name_contains.empty() && description_contains.empty() &&
            attributes_contain.empty()) {
            if (auto g = st.find_gateway_by_eui(proto::parse_eui(eui_contains)->eui)) {
                bool visible = a->is_admin;
                if (!visible) {
                    const auto ids = st.member_gateways(*member, true, false);
                    visible = std::find(ids.begin(), ids.end(), g->id()) != ids.end();
                }
                if (visible) candidates.push_back(std::move(*g));
            }
        } else if (a->is_admin) {
            candidates = st.gateways(deleted);
        } else {
            for (const auto& id : st.member_gateways(*member, true, deleted))
                if (auto g = st.get_gateway(id, true)) candidates.push_back(std::move(*g));
        }
        std::vector<gateway> gws;
        for (auto& g : candidates) {
            const std::string eui = g.eui() ? g.eui()->hex() : std::string();
            const std::string desc = g.doc.value("description", "");
            if (!query.empty() && !ci_contains(g.id(), query) && !ci_contains(g.name(), query) && !ci_contains(desc, query) &&
                !ci_contains(eui, query))
                continue;
            if (!ci_contains(g.id(), id_contains) || !ci_contains(g.name(), name_contains) ||
                !ci_contains(desc, description_contains))
                continue;
            if (!eui_contains.empty() && !ci_contains(eui, eui_contains)) continue;
            bool attrs_ok = true;
            const auto attrs = g.attributes();
            for (const auto& [k, v] : attributes_contain) {
                auto it = attrs.find(k);
                if (it == attrs.end() || !ci_contains(it->second, v)) attrs_ok = false;
            }
            if (!attrs_ok) continue;
            gws.push_back(std::move(g));
        }
        sort_gateways(gws, order);
        const std::size_t total = gws.size();
        ojson list = ojson::array();
        for (const auto& g : paginate(std::move(gws), pg->first, pg->second)) list.push_back(render_listed(*a, g, paths, true));
        return gateways_reply(std::move(list), total);
    }

    outcome create_gateway(const entity_ref& collaborator) {
        auto g = body.find("gateway");
        if (g == body.end() || g->is_null()) return validation("CreateGatewayRequest", "gateway", "value is required");
        if (!g->is_object()) return plain(grpc_code::invalid_argument, "invalid value for message field gateway");
        if (!g->contains("ids") || (*g)["ids"].is_null())
            return tts_error::make("pkg/errors:validation", {{"field", "gateway"},
                                                             {"reason", "embedded message failed validation"},
                                                             {"name", "CreateGatewayRequestValidationError"}})
                .with_cause(tts_error::make("pkg/errors:validation", {{"field", "ids"},
                                                                      {"reason", "value is required"},
                                                                      {"name", "GatewayValidationError"}}));
        if (!valid_id(collaborator.id)) {
            const bool user = collaborator.type == entity_ref::kind::user;
            return validation("CreateGatewayRequest", "collaborator", "embedded message failed validation")
                .with_cause(tts_error::make("pkg/errors:validation", {{"field", user ? "user_ids" : "organization_ids"},
                                                                      {"reason", std::string(id_regex_reason)},
                                                                      {"name", "OrganizationOrUserIdentifiersValidationError"}}));
        }
        std::vector<std::string> paths;
        for (const auto& [k, v] : g->items()) paths.push_back(k);
        auto doc = normalize_gateway(*g, paths, "CreateGatewayRequest");
        if (!doc) return std::move(doc).err();
        const std::string id = (*doc)["ids"].value("gateway_id", "");
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto created = create_checked(*a, std::move(*doc), collaborator);
        if (!created) return std::move(created).err();
        std::vector<std::string> all;
        for (auto p : gateway_field_paths())
            if (std::string_view(p).find('.') == std::string_view::npos) all.emplace_back(p);
        return ok(render_gateway(*created, all));
    }

    // createGateway after validation: rights, contacts, store.
    tts_result<gateway> create_checked(const auth_info& a, ojson doc, const entity_ref& collaborator) {
        if (collaborator.type == entity_ref::kind::user) {
            if (!a.is_admin && !st.options().users_create_gateways) return tts_error::make("pkg/identityserver:admins_create_gateways");
            if (auto r = require_entity(st.entity_rights(a, collaborator), collaborator, {right::user_gateways_create}); !r)
                return std::move(r).err();
        } else {
            if (auto r = require_entity(st.entity_rights(a, collaborator), collaborator, {right::organization_gateways_create});
                !r)
                return std::move(r).err();
        }
        for (const char* c : {"administrative_contact", "technical_contact"}) {
            if (!doc.contains(c)) continue;
            auto contact = parse_entity_ids(json::parse(doc[c].dump()));
            if (!contact || !(*contact == collaborator))
                return tts_error::make("pkg/identityserver:contact_no_collaborator", {{"contact", contact ? contact->id : ""}});
        }
        auto created = st.create_gateway(std::move(doc), collaborator);
        if (created) publish(registry_event("gateway.create", created->id(), created->eui()));
        return created;
    }

    outcome update_gateway() {
        const std::string& id = params[0];
        auto m = body_mask(body);
        if (!m) return std::move(m).err();
        if (auto r = check_mask(*m, gateway_field_paths()); !r) return std::move(r).err();
        json gw_in = body.contains("gateway") && body["gateway"].is_object() ? body["gateway"] : json::object();
        // Backwards compatibility for frequency_plan_id.
        std::set<std::string> sel(m->begin(), m->end());
        if (sel.count("frequency_plan_id")) sel.insert("frequency_plan_ids");
        if ((!gw_in.contains("frequency_plan_ids") || gw_in["frequency_plan_ids"].empty()) && gw_in.contains("frequency_plan_id") &&
            gw_in["frequency_plan_id"].is_string() && !gw_in["frequency_plan_id"].get<std::string>().empty())
            gw_in["frequency_plan_ids"] = json::array({gw_in["frequency_plan_id"]});
        for (const char* p : {"ids", "created_at", "updated_at", "frequency_plan_id"}) sel.erase(p);
        if (sel.count("contact_info")) {
            sel.erase("contact_info");
            headers.add("X-Warning", "Contact info is deprecated and will be removed in the next major release");
        }
        std::vector<std::string> paths;
        for (auto p : gateway_field_paths()) {
            const std::string s(p);
            if (!sel.count(s)) continue;
            // FlattenPaths(administrative_contact, technical_contact).
            if (s.rfind("administrative_contact.", 0) == 0) paths.emplace_back("administrative_contact");
            else if (s.rfind("technical_contact.", 0) == 0) paths.emplace_back("technical_contact");
            else paths.push_back(s);
        }
        std::sort(paths.begin(), paths.end());
        paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
        gw_in["ids"] = json{{"gateway_id", id}};
        if (body.contains("gateway") && body["gateway"].is_object() && body["gateway"].contains("ids") &&
            body["gateway"]["ids"].is_object() && body["gateway"]["ids"].contains("eui"))
            gw_in["ids"]["eui"] = body["gateway"]["ids"]["eui"];
        auto values = normalize_gateway(gw_in, paths, "UpdateGatewayRequest");
        if (!values) return std::move(values).err();
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = st.gateway_rights(*a, id);
        if (!have) return std::move(have).err();
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_settings_basic}); !r) {
            const bool link = tts_state::require_gateway_rights(*have, id, {right::gateway_link}).has_value();
            static constexpr std::array<std::string_view, 2> link_fields{"antennas", "attributes"};
            if (!(link && has_only_allowed_fields(*m, link_fields))) return std::move(r).err();
        }
        for (const char* f : {"lbs_lns_secret", "target_cups_key", "claim_authentication_code"})
            if (has_any_field(paths, f))
                if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_write_secrets}); !r)
                    return std::move(r).err();
        for (const char* c : {"administrative_contact", "technical_contact"}) {
            if (!values->contains(c)) continue;
            auto contact = parse_entity_ids(json::parse((*values)[c].dump()));
            if (!contact || st.membership_rights(*contact, id).empty())
                return tts_error::make("pkg/identityserver:contact_no_collaborator", {{"contact", contact ? contact->id : ""}});
        }
        auto updated = st.update_gateway(id, *values, paths);
        if (!updated) return std::move(updated).err();
        {
            std::optional<proto::eui64> req_eui;  // reqGtw.GetIds(): the EUI only when the request names one
            if (auto e = values->find("ids"); e != values->end() && e->is_object() && e->contains("eui")) req_eui = parse_eui_json(json::parse((*e)["eui"].dump()));
            publish(registry_event("gateway.update", id, req_eui).with_value(ojson(paths)));
        }
        std::vector<std::string> out_paths = paths;
        for (const char* p : {"ids", "created_at", "updated_at"}) out_paths.emplace_back(p);
        return ok(render_gateway(*updated, out_paths));
    }

    outcome delete_gateway() {
        const std::string& id = params[0];
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = st.gateway_rights(*a, id);
        if (!have) return std::move(have).err();
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_delete}); !r) return std::move(r).err();
        if (auto r = st.delete_gateway(id); !r) return std::move(r).err();
        publish(registry_event("gateway.delete", id));
        return ok(ojson::object());
    }

    outcome restore_gateway() {
        const std::string& id = params[0];
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = st.gateway_rights(*a, id, true);
        if (!have) return std::move(have).err();
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_delete}); !r) return std::move(r).err();
        if (auto r = st.restore_gateway(id); !r) return std::move(r).err();
        publish(registry_event("gateway.restore", id));
        return ok(ojson::object());
    }

    outcome purge_gateway() {
        const std::string& id = params[0];
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        if (!a->is_admin) return tts_error::make("pkg/identityserver:admins_purge_gateways");
        if (auto r = st.purge_gateway(id); !r) return std::move(r).err();
        publish(registry_event("gateway.purge", id));
        return ok(ojson::object());
    }

    outcome list_rights() {
        const std::string& id = params[0];
        if (auto r = rate_limit("gateway:" + id); !r) return std::move(r).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = st.gateway_rights(*a, id);
        if (!have) return std::move(have).err();
        const rights r = *have & rights::all_gateway();
        ojson out = ojson::object();
        if (!r.empty()) out["rights"] = r.names();
        return ok(std::move(out));
    }

    // ---- API keys ----

    static tts_result<rights> parse_rights(const json& v, std::string_view request, bool require_one) {
        if (!v.is_null() && !v.is_array()) return plain(grpc_code::invalid_argument, "invalid value for repeated field rights");
        rights r;
        const std::size_t n = v.is_array() ? v.size() : 0;
        if (require_one && n == 0) return validation(request, "rights", "value must contain at least 1 item(s)");
        for (std::size_t i = 0; i < n; ++i) {
            std::optional<right> x;
            if (v[i].is_string()) x = parse_right(v[i].get<std::string>());
            else if (v[i].is_number_integer()) {
                x = parse_right(std::to_string(v[i].get<std::int64_t>()));
                if (!x) return validation(request, fmt::format("rights[{}]", i), "value must be one of the defined enum values");
            }
            if (!x) return plain(grpc_code::invalid_argument, fmt::format("invalid value for enum field rights: {}", v[i].dump()));
            if (r.contains(*x)) return validation(request, fmt::format("rights[{}]", i), "repeated value must contain unique items");
            r.add(*x);
        }
        return r;
    }

    tts_result<std::optional<time_point>> parse_expiry(const json& v, std::string_view request) const {
        if (v.is_null()) return std::optional<time_point>{};
        auto t = v.is_string() ? parse_time(v.get<std::string>()) : std::nullopt;
        if (!t) return plain(grpc_code::invalid_argument, fmt::format("invalid value for timestamp field expires_at: {}", v.dump()));
        if (*t <= st.clock().now()) return validation(request, "expires_at", "value must be greater than now");
        return std::optional<time_point>(*t);
    }

    tts_result<rights> key_admin_rights(const std::string& id, const auth_info& a) {
        auto have = st.gateway_rights(a, id);
        if (!have) return have;
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_settings_api_keys}); !r) return std::move(r).err();
        return have;
    }

    outcome create_api_key() {
        const std::string& id = params[0];
        const std::string name = body.value("name", "");
        if (body.contains("name") && !body["name"].is_string())
            return plain(grpc_code::invalid_argument, "invalid value for string field name");
        if (name.size() > 50) return validation("CreateGatewayAPIKeyRequest", "name", "value length must be at most 50 runes");
        auto r = parse_rights(body.value("rights", json()), "CreateGatewayAPIKeyRequest", true);
        if (!r) return std::move(r).err();
        auto exp = parse_expiry(body.value("expires_at", json()), "CreateGatewayAPIKeyRequest");
        if (!exp) return std::move(exp).err();
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = key_admin_rights(id, *a);
        if (!have) return std::move(have).err();
        if (auto c = tts_state::require_gateway_rights(*have, id, *r); !c) return std::move(c).err();
        auto k = st.create_api_key(entity_ref::gateway(id), name, *r, *exp);
        if (!k) return std::move(k).err();
        ojson j = k->key.to_json();
        publish(registry_event("gateway.api-key.create", id).with_data("ttn.lorawan.v3.APIKey", j));
        ojson out;
        out["id"] = j["id"];
        out["key"] = k->token;
        for (const auto& [key, v] : j.items())
            if (key != "id") out[key] = v;
        return ok(std::move(out));
    }

    outcome list_api_keys() {
        const std::string& id = params[0];
        const std::string order = query_one("order").value_or("");
        if (std::find(api_key_orders.begin(), api_key_orders.end(), order) == api_key_orders.end())
            return validation("ListGatewayAPIKeysRequest", "order", in_list_reason(api_key_orders));
        auto pg = paging("ListGatewayAPIKeysRequest", false);
        if (!pg) return std::move(pg).err();
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        if (auto have = key_admin_rights(id, *a); !have) return std::move(have).err();
        auto keys = st.api_keys(entity_ref::gateway(id));
        const bool desc = !order.empty() && order.front() == '-';
        const std::string key = desc ? order.substr(1) : order;
        std::stable_sort(keys.begin(), keys.end(), [&](const api_key_info& x, const api_key_info& y) {
            int c = 0;
            if (key == "name") c = x.name.compare(y.name);
            else if (key == "created_at") c = x.created_at < y.created_at ? -1 : x.created_at > y.created_at ? 1 : 0;
            else if (key == "expires_at") {
                const auto ex = x.expires_at.value_or(time_point{}), ey = y.expires_at.value_or(time_point{});
                c = ex < ey ? -1 : ex > ey ? 1 : 0;
            } else
                c = x.id.compare(y.id);
            return desc ? c > 0 : c < 0;
        });
        const std::size_t total = keys.size();
        reply out;
        ojson list = ojson::array();
        for (const auto& k : paginate(std::move(keys), pg->first, pg->second)) list.push_back(k.to_json());
        if (!list.empty()) out.body["api_keys"] = std::move(list);
        out.headers.emplace_back("X-Total-Count", std::to_string(total));
        return out;
    }

    outcome get_api_key() {
        const std::string& id = params[0];
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        if (auto have = key_admin_rights(id, *a); !have) return std::move(have).err();
        auto k = st.api_key(entity_ref::gateway(id), params[1]);
        if (!k) return std::move(k).err();
        return ok(k->to_json());
    }

    outcome update_api_key() {
        const std::string& id = params[0];
        auto m = body_mask(body);
        if (!m) return std::move(m).err();
        static constexpr std::array<std::string_view, 7> key_paths{"created_at", "expires_at", "id",        "key",
                                                                   "name",       "rights",     "updated_at"};
        if (auto r = check_mask(*m, key_paths); !r) return std::move(r).err();
        auto kj = body.find("api_key");
        if (kj == body.end() || kj->is_null()) return validation("UpdateGatewayAPIKeyRequest", "api_key", "value is required");
        if (!kj->is_object()) return plain(grpc_code::invalid_argument, "invalid value for message field api_key");
        std::vector<std::string> paths = *m;
        if (paths.empty()) paths = {"rights", "name"};
        auto has = [&](std::string_view p) { return std::find(paths.begin(), paths.end(), p) != paths.end(); };
        const std::string name = kj->value("name", "");
        if (name.size() > 50)
            return validation("UpdateGatewayAPIKeyRequest", "api_key", "embedded message failed validation")
                .with_cause(validation("APIKey", "name", "value length must be at most 50 runes"));
        auto new_rights = parse_rights(kj->value("rights", json()), "APIKey", false);
        if (!new_rights) return std::move(new_rights).err();
        std::optional<time_point> expiry;
        if (has("expires_at")) {
            auto e = parse_expiry(kj->value("expires_at", json()), "APIKey");
            if (!e) return std::move(e).err();
            expiry = *e;
        }
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = key_admin_rights(id, *a);
        if (!have) return std::move(have).err();
        const auto owner = entity_ref::gateway(id);
        if (!new_rights->empty()) {
            auto existing = st.api_key(owner, params[1]);
            if (!existing) return std::move(existing).err();
            if (auto r = tts_state::require_gateway_rights(*have, id, *new_rights - existing->rights); !r && !(*new_rights - existing->rights).empty())
                return std::move(r).err();
            if (auto r = tts_state::require_gateway_rights(*have, id, existing->rights - *new_rights); !r && !(existing->rights - *new_rights).empty())
                return std::move(r).err();
        }
        if (new_rights->empty() && has("rights")) {
            if (auto r = st.delete_api_key(owner, params[1]); !r) return std::move(r).err();
            publish(registry_event("gateway.api-key.delete", id));
            return ok(ojson::object());
        }
        tts_state::api_key_update u;
        if (has("name")) u.name = name;
        if (has("rights")) u.rights = *new_rights;
        if (has("expires_at")) u.expires_at = expiry;
        auto k = st.update_api_key(owner, params[1], u);
        if (!k) return std::move(k).err();
        publish(registry_event("gateway.api-key.update", id).with_data("ttn.lorawan.v3.APIKey", k->to_json()));
        return ok(k->to_json());
    }

    outcome delete_api_key() {
        const std::string& id = params[0];
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        if (auto have = key_admin_rights(id, *a); !have) return std::move(have).err();
        if (auto r = st.delete_api_key(entity_ref::gateway(id), params[1]); !r) return std::move(r).err();
        publish(registry_event("gateway.api-key.delete", id));
        return ok(ojson::object());
    }

    // ---- claiming (Device Claiming Server) ----

    outcome claim_info() {
        auto e = body.find("eui");
        std::optional<proto::eui64> eui;
        if (e != body.end() && !e->is_null()) {
            eui = parse_eui_json(*e);
            if (!eui) return plain(grpc_code::invalid_argument, fmt::format("invalid value for EUI field eui: {}", e->dump()));
        }
        if (auto rl = rate_limit(""); !rl) return std::move(rl).err();
        if (!has_auth_metadata()) return tts_error::make("pkg/rpcmetadata:unauthenticated");
        ojson out;
        out["eui"] = eui.value_or(proto::eui64{}).hex();
        if (eui) {
            if (auto c = st.claimable(*eui)) {
                out["supports_claiming"] = true;
                if (c->managed) out["is_managed"] = true;
            }
        }
        return ok(std::move(out));
    }

    outcome claim() {
        if (body.contains("qr_code") && !body["qr_code"].is_null())
            return tts_error::make("pkg/deviceclaimingserver:gateway_claiming_with_qrcodes_not_implemented");
        const char* req_name = "ClaimGatewayRequest";
        auto ai = body.find("authenticated_identifiers");
        if (ai == body.end() || !ai->is_object())
            return validation(req_name, "source_gateway", "value is required");
        std::optional<proto::eui64> eui;
        if (auto e = ai->find("gateway_eui"); e != ai->end() && !e->is_null()) {
            eui = parse_eui_json(*e);
            if (!eui) return plain(grpc_code::invalid_argument, fmt::format("invalid value for EUI field gateway_eui: {}", e->dump()));
        }
        std::string code;
        if (auto c = ai->find("authentication_code"); c != ai->end() && !c->is_null()) {
            auto raw = c->is_string() ? base64_decode(c->get<std::string>()) : std::nullopt;
            if (!raw) return plain(grpc_code::invalid_argument, "invalid value for bytes field authentication_code");
            code = *raw;
        }
        if (code.size() > 2048)
            return validation(req_name, "authenticated_identifiers", "embedded message failed validation")
                .with_cause(validation("ClaimGatewayRequest_AuthenticatedIdentifiers", "authentication_code",
                                       "value length must be at most 2048 bytes"));
        auto coll = body.find("collaborator");
        if (coll == body.end() || coll->is_null()) return validation(req_name, "collaborator", "value is required");
        auto collaborator = parse_entity_ids(*coll);
        if (!collaborator || collaborator->type == entity_ref::kind::gateway)
            return plain(grpc_code::invalid_argument, "invalid value for message field collaborator");
        const std::string target_id = body.value("target_gateway_id", "");
        if (!valid_id(target_id)) return validation(req_name, "target_gateway_id", std::string(id_regex_reason));
        const std::string address = body.value("target_gateway_server_address", "");
        if (address.find("://") != std::string::npos)
            return validation(req_name, "target_gateway_server_address",
                              "value does not match regex pattern \"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\\\\-]*[a-zA-Z0-9])\\\\.)*(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\\\\-]*[A-Za-z0-9])(?::[0-9]{1,5})?$|^$\"");
        json plans = body.value("target_frequency_plan_ids", json::array());
        if (!plans.is_array()) return plain(grpc_code::invalid_argument, "invalid value for repeated field target_frequency_plan_ids");
        if (plans.size() > 8) return validation(req_name, "target_frequency_plan_ids", "value must contain no more than 8 item(s)");
        if (plans.empty() && body.contains("target_frequency_plan_id") && body["target_frequency_plan_id"].is_string() &&
            !body["target_frequency_plan_id"].get<std::string>().empty())
            plans = json::array({body["target_frequency_plan_id"]});
        if (auto rl = rate_limit(""); !rl) return std::move(rl).err();
        if (!has_auth_metadata()) return tts_error::make("pkg/rpcmetadata:unauthenticated");

        const proto::eui64 gateway_eui = eui.value_or(proto::eui64{});
        if (st.find_gateway_by_eui(gateway_eui))
            return tts_error::make("pkg/deviceclaimingserver:gateway_already_exists", {{"eui", gateway_eui.hex()}});
        auto device = st.claimable(gateway_eui);
        if (!device) return tts_error::make("pkg/deviceclaimingserver:gateway_claiming_not_supported", {{"eui", gateway_eui.hex()}});
        // The upstream claim (the TTIG claim upstream is not open source: see scenario.hpp).
        if (device->state == claimable_gateway::upstream_state::claimed_elsewhere)
            return tts_error::make("pkg/deviceclaimingserver:claim gateway")
                .with_cause(tts_error::make("emu/upstream:gateway_claimed_elsewhere", {{"eui", gateway_eui.hex()}}));
        if (code != device->owner_token)
            return tts_error::make("pkg/deviceclaimingserver:claim gateway")
                .with_cause(tts_error::make("emu/upstream:owner_token_mismatch", {{"eui", gateway_eui.hex()}}));
        const auto previous = device->state;
        (void)st.set_claim_state(gateway_eui, claimable_gateway::upstream_state::claimed_here);
        auto rollback = [&](tts_error cause) -> outcome {
            (void)st.set_claim_state(gateway_eui, previous);
            return tts_error::make("pkg/deviceclaimingserver:create_gateway").with_cause(std::move(cause));
        };
        json gw{{"ids", {{"gateway_id", target_id}, {"eui", gateway_eui.hex()}}},
                {"gateway_server_address", address},
                {"frequency_plan_ids", plans},
                {"enforce_duty_cycle", true},
                {"require_authenticated_connection", true}};
        std::vector<std::string> paths{"ids", "gateway_server_address", "frequency_plan_ids", "enforce_duty_cycle",
                                       "require_authenticated_connection"};
        auto doc = normalize_gateway(gw, paths, "CreateGatewayRequest");
        if (!doc) return rollback(std::move(doc).err());
        auto a = auth();
        if (!a) return rollback(std::move(a).err());
        auto created = create_checked(*a, std::move(*doc), *collaborator);
        if (!created) return rollback(std::move(created).err());
        // What the claiming upstream provisions for a TTIG (emulator's choice, scenario.hpp): a CUPS
        // key the factory CUPS hands to the device with the TTS CUPS URI, and an LNS key in
        // lbs_lns_secret so that TTS CUPS can answer with the LNS credentials.
        const auto owner = entity_ref::gateway(target_id);
        auto cups_key = st.create_api_key(owner, "cups-key-claim", rights{right::gateway_info, right::gateway_settings_basic,
                                                                            right::gateway_read_secrets});
        auto undo = [&](tts_error cause) -> outcome {
            (void)st.purge_gateway(target_id);
            return rollback(std::move(cause));
        };
        if (!cups_key) return undo(std::move(cups_key).err());
        auto lns_key = st.create_api_key(owner, "lns-key-claim", rights{right::gateway_info, right::gateway_link});
        if (!lns_key) return undo(std::move(lns_key).err());
        const std::vector<std::string> secret_path{"lbs_lns_secret"};
        if (auto u = st.update_gateway(target_id, ojson{{"lbs_lns_secret", {{"value", base64_encode(lns_key->token)}}}}, secret_path); !u)
            return undo(std::move(u).err());
        (void)st.set_claim_state(gateway_eui, claimable_gateway::upstream_state::claimed_here, cups_key->token);
        ojson out;
        out["gateway_id"] = target_id;
        out["eui"] = gateway_eui.hex();
        return ok(std::move(out));
    }

    outcome unclaim() {
        const std::string& id = params[0];
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        if (!has_auth_metadata()) return tts_error::make("pkg/rpcmetadata:unauthenticated");
        auto a = auth();
        if (!a) return std::move(a).err();
        auto have = st.gateway_rights(*a, id);
        if (!have) return std::move(have).err();
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_info, right::gateway_delete}); !r)
            return std::move(r).err();
        auto gw = st.get_gateway(id);
        if (!gw) return std::move(gw).err();
        const auto eui = gw->eui();
        if (!eui || eui->is_zero()) return tts_error::make("pkg/deviceclaimingserver:no_eui");
        if (!st.claimable(*eui))
            return tts_error::make("pkg/deviceclaimingserver:gateway_claiming_not_supported", {{"eui", eui->hex()}});
        (void)st.set_claim_state(*eui, claimable_gateway::upstream_state::unclaimed);
        return ok(ojson::object());
    }

    // ---- Gateway Server ----

    outcome connection_stats() {
        const std::string& id = params[0];
        if (auto rl = rate_limit("gateway:" + id); !rl) return std::move(rl).err();
        if (!has_auth_metadata()) return tts_error::make("pkg/rpcmetadata:unauthenticated");
        auto have = st.cached_gateway_rights(*authorization, id);
        if (!have) return std::move(have).err();
        if (auto r = tts_state::require_gateway_rights(*have, id, {right::gateway_status_read}); !r) return std::move(r).err();
        auto s = st.connection_stats_of(id);
        if (!s || s->cluster != cluster)
            return tts_error::make("pkg/gatewayserver:not_connected", {{"gateway_uid", id}})
                .with_cause(tts_error::make("pkg/redis:not_found"));
        return ok(s->to_json());
    }

    outcome batch_connection_stats() {
        const char* req_name = "BatchGetGatewayConnectionStatsRequest";
        auto m = body_mask(body);
        if (!m) return std::move(m).err();
        if (auto r = check_mask(*m, connection_stats_field_paths()); !r) return std::move(r).err();
        json ids = body.value("gateway_ids", json::array());
        if (!ids.is_array()) return plain(grpc_code::invalid_argument, "invalid value for repeated field gateway_ids");
        if (ids.empty() || ids.size() > 100)
            return validation(req_name, "gateway_ids", "value must contain between 1 and 100 items, inclusive");
        std::vector<std::string> gateway_ids;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::string gid = ids[i].is_object() ? ids[i].value("gateway_id", "") : std::string();
            if (!valid_id(gid))
                return validation(req_name, fmt::format("gateway_ids[{}]", i), "embedded message failed validation")
                    .with_cause(validation("GatewayIdentifiers", "gateway_id", std::string(id_regex_reason)));
            gateway_ids.push_back(gid);
        }
        if (auto rl = rate_limit(""); !rl) return std::move(rl).err();
        if (!has_auth_metadata()) return tts_error::make("pkg/rpcmetadata:unauthenticated");
        auto a = auth();
        if (!a) return std::move(a).err();
        // IS GatewayBatchAccess.AssertRights (rights.go assertGatewayRights).
        auto ou = a->organization_or_user();
        if (!ou) return tts_error::make("pkg/identityserver:neither_user_nor_organization");
        const rights required{right::gateway_status_read};
        if (!a->key_rights.includes_all(required)) return tts_error::make("pkg/identityserver:insufficient_rights");
        std::vector<std::string> unique;
        for (const auto& g : gateway_ids)
            if (std::find(unique.begin(), unique.end(), g) == unique.end()) unique.push_back(g);
        std::vector<std::string> check;
        for (const auto& g : unique) {
            auto gw = st.get_gateway(g);
            if (!gw) {
                if (a->is_admin) return tts_error::make("pkg/identityserver:some_gateways_not_found");
                return tts_error::make("pkg/identityserver:insufficient_rights");
            }
            if (!gw->status_public()) check.push_back(g);
        }
        if (!check.empty() && !(a->is_admin && a->universal.includes_all(required))) {
            for (const auto& g : check)
                if (!st.membership_rights(*ou, g).includes_all(required))
                    return tts_error::make("pkg/identityserver:insufficient_rights");
        }
        std::map<std::string, ojson> entries;
        for (const auto& g : unique)
            if (auto s = st.connection_stats_of(g); s && s->cluster == cluster) entries[g] = s->to_json(*m);
        ojson out = ojson::object();
        if (!entries.empty()) {
            ojson e = ojson::object();
            for (auto& [k, v] : entries) e[k] = std::move(v);
            out["entries"] = std::move(e);
        }
        return ok(std::move(out));
    }

    outcome frequency_plans() {
        if (auto rl = rate_limit(""); !rl) return std::move(rl).err();
        const auto band = query_one("band_id").value_or("");
        auto base = query_uint("base_frequency");
        if (!base) return std::move(base).err();
        ojson list = ojson::array();
        for (const auto& fp : proto::frequency_plans()) {
            const plan_name* n = nullptr;
            for (const auto& p : plan_names)
                if (p.id == fp.id) n = &p;
            if (!band.empty() && fp.band_id != band) continue;
            if (*base && (!n || n->base_frequency != *base)) continue;
            ojson e;
            e["id"] = fp.id;
            if (n && !n->base_id.empty()) e["base_id"] = n->base_id;
            if (n) e["name"] = n->name;
            if (n) e["base_frequency"] = n->base_frequency;
            e["band_id"] = fp.band_id;
            list.push_back(std::move(e));
        }
        ojson out = ojson::object();
        if (!list.empty()) out["frequency_plans"] = std::move(list);
        return ok(std::move(out));
    }

    // ---- events (tts-api.md §4.11; pkg/events/grpc Stream) ----

    std::string remote_ip() const {
        std::string a = req.remote_address;
        if (const auto colon = a.rfind(':'); colon != std::string::npos) a.resize(colon);
        if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
        return a;
    }

    // An Identity Server event about one gateway, as the registry publishes it (WithAuthFromContext,
    // WithClientInfoFromContext): from the IS's cluster, with the RPC's correlation ID.
    event registry_event(std::string name, const std::string& gateway_id, std::optional<proto::eui64> eui = std::nullopt) const {
        event e;
        e.name = std::move(name);
        e.gateway(gateway_id, eui);
        e.cluster = st.home_cluster().name;
        e.correlation_ids.push_back(fmt::format("rpc:{}:{}", full_method(rpc), st.events().new_id()));
        e.with_authorization(authorization);
        e.remote_ip = remote_ip();
        if (auto ua = req.headers.get("User-Agent")) e.user_agent = std::string(*ua);
        return e;
    }

    void publish(event e) const { st.events().publish(std::move(e)); }

    // Set when events_stream failed while decoding the body (grpc-gateway answers those as unary errors).
    bool events_decode_error = false;

    struct stream_ids {
        ojson rendered;           // EntityIdentifiers in proto order
        std::string kind;         // "gateway", "application", "device", "user", "organization", "client", "" (none set)
        std::string id;           // the entity ID (device: the application ID for rights)
        std::string inner_field;  // "gateway_id", ...
        std::string inner_value;
    };

    tts_result<event_stream> events_stream(const std::string& delimiter) {
        // ---- decoding (protojson) ----
        auto fail = [this](std::string message) -> tts_error {
            events_decode_error = true;
            return plain(grpc_code::invalid_argument, std::move(message));
        };
        std::vector<stream_ids> ids;
        if (auto it = body.find("identifiers"); it != body.end() && !it->is_null()) {
            if (!it->is_array()) return fail("invalid value for repeated field identifiers");
            static constexpr std::array<std::array<std::string_view, 3>, 6> kinds{{{"application_ids", "application", "application_id"},
                                                                                   {"client_ids", "client", "client_id"},
                                                                                   {"device_ids", "device", "device_id"},
                                                                                   {"gateway_ids", "gateway", "gateway_id"},
                                                                                   {"organization_ids", "organization", "organization_id"},
                                                                                   {"user_ids", "user", "user_id"}}};
            for (const auto& item : *it) {
                if (!item.is_object()) return fail("invalid value for message field identifiers");
                stream_ids x;
                x.rendered = ojson::object();
                for (const auto& k : kinds) {
                    auto f = item.find(std::string(k[0]));
                    if (f == item.end() || f->is_null()) continue;
                    if (!f->is_object()) return fail(fmt::format("invalid value for message field {}", k[0]));
                    if (!x.kind.empty()) return fail("invalid value for oneof field ids: oneof set more than once");
                    x.kind = std::string(k[1]);
                    x.inner_field = std::string(k[2]);
                    ojson inner = ojson::object();
                    if (x.kind == "device") {
                        // EndDeviceIdentifiers: device_id, application_ids, dev_eui, join_eui, dev_addr.
                        inner["device_id"] = f->value("device_id", "");
                        std::string app;
                        if (auto a = f->find("application_ids"); a != f->end() && a->is_object()) app = a->value("application_id", "");
                        inner["application_ids"] = ojson{{"application_id", app}};
                        x.inner_value = inner["device_id"].get<std::string>();
                        x.id = app;
                    } else {
                        auto v = f->find(x.inner_field);
                        if (v != f->end() && !v->is_null() && !v->is_string())
                            return fail(fmt::format("invalid value for string field {}", x.inner_field));
                        x.inner_value = v != f->end() && v->is_string() ? v->get<std::string>() : std::string{};
                        x.id = x.inner_value;
                        if (!x.inner_value.empty()) inner[x.inner_field] = x.inner_value;
                        if (x.kind == "gateway") {
                            if (auto e = f->find("eui"); e != f->end() && !e->is_null()) {
                                auto eui = parse_eui_json(*e);
                                if (!eui) return fail(fmt::format("invalid value for EUI field eui: {}", e->dump()));
                                inner["eui"] = eui->hex();
                            }
                        }
                    }
                    x.rendered[std::string(k[0])] = std::move(inner);
                }
                ids.push_back(std::move(x));
            }
        }
        std::vector<std::string> patterns;
        if (auto it = body.find("names"); it != body.end() && !it->is_null()) {
            if (!it->is_array()) return fail("invalid value for repeated field names");
            for (const auto& n : *it) {
                if (!n.is_string()) return fail(fmt::format("invalid value for string field names: {}", n.dump()));
                patterns.push_back(n.get<std::string>());
            }
        }
        std::uint32_t tail = 0;
        if (auto it = body.find("tail"); it != body.end() && !it->is_null()) {
            if (it->is_number_unsigned() && it->get<std::uint64_t>() <= UINT32_MAX) tail = it->get<std::uint32_t>();
            else if (it->is_string() && !it->get<std::string>().empty()) {
                const auto t = it->get<std::string>();
                const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), tail);
                if (ec != std::errc() || p != t.data() + t.size()) return fail("invalid value for uint32 field tail");
            } else
                return fail("invalid value for uint32 field tail");
        }
        std::optional<time_point> after;
        if (auto it = body.find("after"); it != body.end() && !it->is_null()) {
            auto t = it->is_string() ? parse_time(it->get<std::string>()) : std::nullopt;
            if (!t) return fail(fmt::format("invalid value for timestamp field after: {}", it->dump()));
            after = *t;
        }

        // ---- the stream interceptors: rate limit (grpc:stream:accept), then validation ----
        std::string token_id;
        if (authorization) {
            const auto sp = authorization->find(' ');
            if (sp != std::string::npos)
                if (auto parts = split_token(std::string_view(*authorization).substr(sp + 1))) token_id = parts->id;
        }
        rate_resource resource;
        resource.key = fmt::format("grpc:stream:accept:{}", full_method(rpc));
        resource.classes = {resource.key, "grpc:stream:accept"};
        if (!token_id.empty()) resource.key += ":token:" + token_id;
        if (auto r = api.limiter_.take(resource)) {
            r->apply_headers(headers);
            if (r->limited) return tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", resource.key}, {"rate", r->limit}});
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const auto& x = ids[i];
            auto outer = [&](tts_error cause) {
                return validation("StreamEventsRequest", fmt::format("identifiers[{}]", i), "embedded message failed validation")
                    .with_cause(std::move(cause));
            };
            if (x.kind.empty())
                return outer(tts_error::make("pkg/errors:validation",
                                             {{"field", "ids"}, {"reason", "value is required"}, {"name", "EntityIdentifiersValidationError"}}));
            if (x.kind == "gateway" && !valid_id(x.inner_value)) {
                tts_error inner = x.inner_value.empty()
                                      ? tts_error::make("pkg/errors:validation", {{"field", "gateway_id"},
                                                                                  {"reason", "value length must be between 1 and 36 runes, inclusive"},
                                                                                  {"name", "GatewayIdentifiersValidationError"}})
                                      : tts_error::make("pkg/errors:validation", {{"field", "gateway_id"},
                                                                                  {"reason", std::string(id_regex_reason)},
                                                                                  {"name", "GatewayIdentifiersValidationError"}});
                return outer(tts_error::make("pkg/errors:validation", {{"field", "gateway_ids"},
                                                                       {"reason", "embedded message failed validation"},
                                                                       {"name", "EntityIdentifiersValidationError"}})
                                 .with_cause(std::move(inner)));
            }
        }

        // ---- EventsServer.Stream ----
        if (ids.empty()) return tts_error::make("pkg/events/grpc:no_identifiers");
        auto names = names_from_patterns(patterns);
        if (!names) return std::move(names).err();
        auto a = auth();
        if (!a) return std::move(a).err();
        event_filter filter;
        filter.names = *names;
        filter.cluster = cluster;
        for (const auto& x : ids) {  // rights.RequireAny
            if (x.kind == "gateway") {
                auto have = st.gateway_rights(*a, x.id);
                if (!have) return std::move(have).err();
                if (have->empty()) return tts_error::make("pkg/auth/rights:no_gateway_rights", {{"uid", x.id}});
                filter.gateway_rights[x.id] = *have;
                filter.identifiers.push_back(entity_ref::gateway(x.id));
            } else if (x.kind == "user" || x.kind == "organization") {
                const auto e = x.kind == "user" ? entity_ref::user(x.id) : entity_ref::organization(x.id);
                const rights have = st.entity_rights(*a, e);
                if (have.empty()) return tts_error::make(fmt::format("pkg/auth/rights:no_{}_rights", x.kind), {{"uid", x.id}});
                filter.entity_rights[fmt::format("{}:{}", e.type_name(), e.id)] = have;
                filter.identifiers.push_back(e);
            } else if (x.kind == "client") {
                return tts_error::make("pkg/auth/rights:no_client_rights", {{"uid", x.id}});
            } else {  // application, device: the emulator has no applications
                return tts_error::make("pkg/auth/rights:no_application_rights", {{"uid", x.id}});
            }
        }
        event_stream out;
        out.filter = std::move(filter);
        out.tail = tail;
        out.after = after;
        out.delimiter = delimiter;
        event& start = out.start;
        start.name = "events.stream.start";
        start.time = st.clock().now();
        for (const auto& x : ids) start.identifiers.push_back(x.rendered);
        if (!names->empty()) start.with_value(ojson(*names));
        start.correlation_ids.push_back(fmt::format("rpc:{}:{}", full_method(rpc), st.events().new_id()));
        start.origin = event_bus::origin_of(cluster);
        start.unique_id = st.events().new_id();
        return out;
    }
};

// =================================================================================================
// Routing
// =================================================================================================

namespace {

struct route {
    std::string method;
    std::vector<std::string_view> pattern;  // "{}" = parameter
    std::string_view rpc;
    int handler;
};

enum handler_id {
    h_auth_info,
    h_get,
    h_list,
    h_list_user,
    h_list_org,
    h_list_filter,
    h_search,
    h_create_user,
    h_create_org,
    h_update,
    h_delete,
    h_restore,
    h_purge,
    h_rights,
    h_key_create,
    h_key_list,
    h_key_get,
    h_key_update,
    h_key_delete,
    h_claim_info,
    h_claim,
    h_unclaim,
    h_authorize,
    h_stats,
    h_batch_stats,
    h_plans,
    h_events,
};

const std::vector<route>& routes() {
    static const std::vector<route> r{
        {"GET", {"auth_info"}, "EntityAccess.AuthInfo", h_auth_info},
        {"GET", {"gateways", "{}"}, "GatewayRegistry.Get", h_get},
        {"GET", {"gateways"}, "GatewayRegistry.List", h_list},
        {"GET", {"users", "{}", "gateways"}, "GatewayRegistry.List", h_list_user},
        {"GET", {"organizations", "{}", "gateways"}, "GatewayRegistry.List", h_list_org},
        {"POST", {"gateways", "filter"}, "GatewayRegistry.List", h_list_filter},
        {"GET", {"search", "gateways"}, "EntityRegistrySearch.SearchGateways", h_search},
        {"POST", {"users", "{}", "gateways"}, "GatewayRegistry.Create", h_create_user},
        {"POST", {"organizations", "{}", "gateways"}, "GatewayRegistry.Create", h_create_org},
        {"PUT", {"gateways", "{}"}, "GatewayRegistry.Update", h_update},
        {"DELETE", {"gateways", "{}"}, "GatewayRegistry.Delete", h_delete},
        {"POST", {"gateways", "{}", "restore"}, "GatewayRegistry.Restore", h_restore},
        {"DELETE", {"gateways", "{}", "purge"}, "GatewayRegistry.Purge", h_purge},
        {"GET", {"gateways", "{}", "rights"}, "GatewayAccess.ListRights", h_rights},
        {"POST", {"gateways", "{}", "api-keys"}, "GatewayAccess.CreateAPIKey", h_key_create},
        {"GET", {"gateways", "{}", "api-keys"}, "GatewayAccess.ListAPIKeys", h_key_list},
        {"GET", {"gateways", "{}", "api-keys", "{}"}, "GatewayAccess.GetAPIKey", h_key_get},
        {"PUT", {"gateways", "{}", "api-keys", "{}"}, "GatewayAccess.UpdateAPIKey", h_key_update},
        {"DELETE", {"gateways", "{}", "api-keys", "{}"}, "GatewayAccess.DeleteAPIKey", h_key_delete},
        {"POST", {"gcls", "claim", "info"}, "GatewayClaimingServer.GetInfoByGatewayEUI", h_claim_info},
        {"POST", {"gcls", "claim"}, "GatewayClaimingServer.Claim", h_claim},
        {"DELETE", {"gcls", "claim", "{}"}, "GatewayClaimingServer.Unclaim", h_unclaim},
        {"POST", {"gcls", "gateways", "{}", "authorize"}, "GatewayClaimingServer.AuthorizeGateway", h_authorize},
        {"DELETE", {"gcls", "gateways", "{}", "authorize"}, "GatewayClaimingServer.UnauthorizeGateway", h_authorize},
        {"GET", {"gs", "gateways", "{}", "connection", "stats"}, "Gs.GetGatewayConnectionStats", h_stats},
        {"POST", {"gs", "gateways", "connection", "stats"}, "Gs.BatchGetGatewayConnectionStats", h_batch_stats},
        {"GET", {"configuration", "frequency-plans"}, "Configuration.ListFrequencyPlans", h_plans},
        {"POST", {"events"}, "Events.Stream", h_events},
    };
    return r;
}

bool match(const route& r, const std::vector<std::string>& segs, std::vector<std::string>& params) {
    if (r.pattern.size() != segs.size()) return false;
    std::vector<std::string> p;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        if (r.pattern[i] == "{}") {
            if (segs[i].empty()) return false;
            p.push_back(segs[i]);
        } else if (r.pattern[i] != segs[i])
            return false;
    }
    params = std::move(p);
    return true;
}

}  // namespace

tts_api::tts_api(tts_state& state, api_options options)
    : state_(&state), rng_(options.seed), limiter_(state.clock()) {}

void tts_api::set_faults(std::vector<fault_rule> rules) {
    std::lock_guard lock(mu_);
    faults_ = std::move(rules);
}

std::vector<fault_rule> tts_api::faults() const {
    std::lock_guard lock(mu_);
    return faults_;
}

void tts_api::set_rate_limits(std::vector<rate_profile> profiles) { limiter_.set_profiles(std::move(profiles)); }
std::vector<rate_profile> tts_api::rate_limits() const { return limiter_.profiles(); }

void tts_api::reseed(std::uint64_t seed) {
    std::lock_guard lock(mu_);
    rng_.seed(seed);
}

api_result tts_api::handle(const proto::http_request& request, std::string_view cluster_name) {
    std::lock_guard lock(mu_);
    api_result result;

    // A correlation ID per request: a random (version 4) UUID in hex, as pkg/errors makes them.
    std::uint64_t hi = rng_(), lo = rng_();
    hi = (hi & ~std::uint64_t{0xF000}) | 0x4000;
    lo = (lo & ~(std::uint64_t{0xC} << 60)) | (std::uint64_t{0x8} << 60);
    const std::string correlation_id = fmt::format("{:016x}{:016x}", hi, lo);

    auto send_error = [&](const tts_error& e, const proto::http_fields* extra) {
        proto::http_response& resp = result.response;
        resp.status = e.http_status();
        if (extra)
            for (const auto& [k, v] : extra->items) resp.headers.add(k, v);
        resp.headers.set("Content-Type", "application/json");
        ojson body;
        if (e.ns.empty() && e.name.empty()) {
            body["code"] = e.code;
            body["message"] = e.message_format;
        } else
            body = e.status_json(correlation_id);
        if (e.code == grpc_code::unauthenticated)
            resp.headers.set("WWW-Authenticate", e.ns.empty() ? e.message_format : e.status_message());
        resp.body = body.dump();
    };

    // ---- route ----
    std::string_view path = request.path();
    constexpr std::string_view prefix = "/api/v3/";
    std::vector<std::string> segs;
    if (path.substr(0, prefix.size()) == prefix) {
        for (auto& s : split(path.substr(prefix.size()), '/')) segs.push_back(proto::percent_decode(s));
        while (!segs.empty() && segs.back().empty()) segs.pop_back();
    }
    const route* found = nullptr;
    bool path_known = false;
    std::vector<std::string> params;
    if (!segs.empty()) {
        for (const auto& r : routes()) {
            std::vector<std::string> p;
            if (!match(r, segs, p)) continue;
            path_known = true;
            if (r.method == request.method) {
                found = &r;
                params = std::move(p);
                break;
            }
        }
    }
    if (!found) {
        send_error(path_known ? plain(grpc_code::unimplemented, "Method Not Allowed") : plain(grpc_code::not_found, "Not Found"),
                   nullptr);
        return result;
    }
    result.rpc = std::string(found->rpc);

    // ---- faults ----
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    bool lose_answer = false;
    for (const auto& f : faults_) {
        if (!f.rpc.empty() && f.rpc != "*" && f.rpc != found->rpc && f.rpc != full_method(found->rpc)) continue;
        if (!f.method.empty() && f.method != request.method) continue;
        if (!f.path_prefix.empty() && path.substr(0, f.path_prefix.size()) != f.path_prefix) continue;
        result.delay += f.delay;
        if (f.blackhole_ratio > 0 && unit(rng_) < f.blackhole_ratio) {
            result.act = api_result::action::blackhole;
            return result;
        }
        if (f.reset_ratio > 0 && unit(rng_) < f.reset_ratio) {
            result.act = api_result::action::reset;
            return result;
        }
        if (f.error_ratio > 0 && unit(rng_) < f.error_ratio) {
            send_error(f.error, nullptr);
            return result;
        }
        if (f.lost_answer_ratio > 0 && unit(rng_) < f.lost_answer_ratio) lose_answer = true;
    }

    // ---- cluster ----
    std::string cluster(cluster_name);
    if (cluster.empty()) {
        std::string host = request.local_host;
        if (auto h = request.headers.get("Host"); host.empty() && h) host = std::string(*h);
        if (auto c = state_->cluster_for_address(host)) cluster = c->name;
        else cluster = state_->home_cluster().name;
    }

    call c{*this, *state_, request, cluster, std::nullopt, std::move(params), std::string(found->rpc), json::object(), {}, false};
    if (auto h = request.headers.get("Authorization")) c.authorization = std::string(*h);

    // ---- body ----
    if (request.method == "POST" || request.method == "PUT") {
        if (!request.body.empty()) {
            json b = json::parse(request.body, nullptr, false);
            if (b.is_discarded()) {
                send_error(plain(grpc_code::invalid_argument, "unexpected EOF or invalid character in JSON body"), nullptr);
                return result;
            }
            if (!b.is_object()) {
                send_error(plain(grpc_code::invalid_argument, "invalid JSON body: expected an object"), nullptr);
                return result;
            }
            c.body = snake_keys(b);
        }
    }

    if (found->handler == h_events) {
        // grpc-gateway: the marshaler is chosen by an Accept value equal to "text/event-stream".
        bool sse = false;
        for (const auto& [k, v] : request.headers.items)
            if (proto::iequals(k, "Accept") && v == "text/event-stream") sse = true;
        const std::string delimiter = sse ? "\n\n" : "\n";
        auto plan = c.events_stream(delimiter);
        if (!plan && c.events_decode_error) {
            send_error(plan.err(), &c.headers);
            return result;
        }
        proto::http_response& resp = result.response;
        result.act = api_result::action::stream;
        for (const auto& [k, v] : c.headers.items) resp.headers.add(k, v);
        resp.headers.set("Content-Type", sse ? "text/event-stream" : "application/json");
        if (!plan) {
            // handleForwardResponseStreamError before the first message: {"error": Status} + delimiter.
            resp.status = plan.err().http_status();
            ojson body;
            body["error"] = plan.err().status_json(correlation_id);
            resp.body = body.dump() + delimiter;
            return result;
        }
        resp.status = 200;
        result.events = std::make_shared<const event_stream>(std::move(*plan));
        return result;
    }

    outcome out = [&]() -> outcome {
        switch (found->handler) {
        case h_auth_info: return c.auth_info_();
        case h_get: return c.get_gateway();
        case h_list: return c.list_gateways(std::nullopt, false);
        case h_list_user: return c.list_gateways(entity_ref::user(c.params[0]), false);
        case h_list_org: return c.list_gateways(entity_ref::organization(c.params[0]), false);
        case h_list_filter: return c.list_gateways(std::nullopt, true);
        case h_search: return c.search_gateways();
        case h_create_user: return c.create_gateway(entity_ref::user(c.params[0]));
        case h_create_org: return c.create_gateway(entity_ref::organization(c.params[0]));
        case h_update: return c.update_gateway();
        case h_delete: return c.delete_gateway();
        case h_restore: return c.restore_gateway();
        case h_purge: return c.purge_gateway();
        case h_rights: return c.list_rights();
        case h_key_create: return c.create_api_key();
        case h_key_list: return c.list_api_keys();
        case h_key_get: return c.get_api_key();
        case h_key_update: return c.update_api_key();
        case h_key_delete: return c.delete_api_key();
        case h_claim_info: return c.claim_info();
        case h_claim: return c.claim();
        case h_unclaim: return c.unclaim();
        case h_authorize: return plain(grpc_code::unimplemented, "method AuthorizeGateway not implemented");
        case h_stats: return c.connection_stats();
        case h_batch_stats: return c.batch_connection_stats();
        case h_plans: return c.frequency_plans();
        case h_events: break;  // answered above
        }
        return plain(grpc_code::unimplemented, "Not Implemented");
    }();

    if (lose_answer) result.act = api_result::action::reset;  // done, but the answer is lost
    if (!out) {
        send_error(out.err(), &c.headers);
        return result;
    }
    proto::http_response& resp = result.response;
    resp.status = 200;
    for (const auto& [k, v] : c.headers.items) resp.headers.add(k, v);
    for (const auto& [k, v] : out->headers) resp.headers.set(k, v);
    resp.headers.set("Content-Type", "application/json");
    resp.body = out->body.dump();
    return result;
}

}  // namespace ttig::emu
