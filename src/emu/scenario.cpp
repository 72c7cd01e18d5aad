#include <ttig/emu/scenario.hpp>

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <set>

namespace ttig::emu {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

proto::error bad(const std::string& path, const std::string& what) {
    return proto::make_error(emu_errc::bad_scenario, "{}: {}", path.empty() ? "/" : path, what);
}

std::string child(const std::string& path, std::string_view key) { return fmt::format("{}/{}", path, key); }
std::string child(const std::string& path, std::size_t index) { return fmt::format("{}/{}", path, index); }

// Typed accessors that report the path on a type mismatch.
proto::result<std::optional<std::string>> opt_string(const json& obj, const char* key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
    if (!it->is_string()) return bad(child(path, key), "expected a string");
    return std::optional<std::string>(it->get<std::string>());
}

proto::result<std::string> req_string(const json& obj, const char* key, const std::string& path) {
    auto s = opt_string(obj, key, path);
    if (!s) return s.err();
    if (!*s || (*s)->empty()) return bad(child(path, key), "required");
    return **s;
}

proto::result<std::optional<bool>> opt_bool(const json& obj, const char* key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<bool>{};
    if (!it->is_boolean()) return bad(child(path, key), "expected true or false");
    return std::optional<bool>(it->get<bool>());
}

proto::result<const json*> opt_array(const json& obj, const char* key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return static_cast<const json*>(nullptr);
    if (!it->is_array()) return bad(child(path, key), "expected an array");
    return &*it;
}

proto::result<std::optional<time_point>> opt_time(const json& obj, const char* key, const std::string& path) {
    auto s = opt_string(obj, key, path);
    if (!s) return s.err();
    if (!*s) return std::optional<time_point>{};
    auto t = parse_time(**s);
    if (!t) return bad(child(path, key), fmt::format("\"{}\" is not an RFC 3339 UTC time ending in Z", **s));
    return std::optional<time_point>(*t);
}

proto::result<std::optional<std::chrono::nanoseconds>> opt_duration(const json& obj, const char* key,
                                                                   const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::chrono::nanoseconds>{};
    if (it->is_number() && it->get<double>() >= 0)
        return std::optional<std::chrono::nanoseconds>(
            std::chrono::nanoseconds(static_cast<std::int64_t>(it->get<double>() * 1e9)));
    if (it->is_string())
        if (auto d = parse_duration(it->get<std::string>()); d && d->count() >= 0)
            return std::optional<std::chrono::nanoseconds>(*d);
    return bad(child(path, key), "expected a duration (\"120s\", \"0.5s\") or a number of seconds");
}

proto::result<rights> parse_rights_list(const json& obj, const char* key, const std::string& path, bool required) {
    auto arr = opt_array(obj, key, path);
    if (!arr) return arr.err();
    rights r;
    if (!*arr) {
        if (required) return bad(child(path, key), "required");
        return r;
    }
    std::size_t i = 0;
    for (const auto& v : **arr) {
        std::optional<right> x;
        if (v.is_string()) x = parse_right(v.get<std::string>());
        else if (v.is_number_integer()) x = parse_right(std::to_string(v.get<std::int64_t>()));
        if (!x) return bad(child(child(path, key), i), fmt::format("unknown right {}", v.dump()));
        r.add(*x);
        ++i;
    }
    if (required && r.empty()) return bad(child(path, key), "at least one right is required");
    return r;
}

proto::result<entity_ref> parse_account(const json& j, const std::string& path, bool allow_gateway) {
    if (!j.is_object()) return bad(path, "expected an object with user_id, organization_id or gateway_id");
    // Both the short form {"user_id": "x"} and TTS's {"user_ids": {"user_id": "x"}}.
    if (auto e = parse_entity_ids(j)) {
        if (e->type == entity_ref::kind::gateway && !allow_gateway) return bad(path, "a gateway cannot be an owner here");
        return *e;
    }
    for (const auto& [key, kind] : {std::pair{"user_id", entity_ref::kind::user},
                                    std::pair{"organization_id", entity_ref::kind::organization},
                                    std::pair{"gateway_id", entity_ref::kind::gateway}}) {
        if (!j.contains(key)) continue;
        if (!j[key].is_string() || j[key].get<std::string>().empty()) return bad(child(path, key), "expected an ID");
        if (kind == entity_ref::kind::gateway && !allow_gateway) return bad(path, "a gateway cannot be an owner here");
        return entity_ref{kind, j[key].get<std::string>()};
    }
    return bad(path, allow_gateway ? "expected user_id, organization_id or gateway_id" : "expected user_id or organization_id");
}

proto::result<std::vector<scenario::member>> parse_members(const json& obj, const char* key, const std::string& path) {
    auto arr = opt_array(obj, key, path);
    if (!arr) return arr.err();
    std::vector<scenario::member> out;
    if (!*arr) return out;
    std::size_t i = 0;
    for (const auto& m : **arr) {
        const std::string p = child(child(path, key), i++);
        auto account = parse_account(m, p, false);
        if (!account) return account.err();
        auto r = parse_rights_list(m, "rights", p, true);
        if (!r) return r.err();
        out.push_back({*account, *r});
    }
    return out;
}

proto::result<tts_error> parse_error_ref(const json& j, const std::string& path) {
    if (j.is_string()) {
        const auto name = j.get<std::string>();
        if (!tts_error::find(name))
            return bad(path, fmt::format("unknown TTS error \"{}\" (give an object with namespace, name, code, "
                                         "message_format)",
                                         name));
        return tts_error::make(name);
    }
    if (!j.is_object()) return bad(path, "expected \"<namespace>:<name>\" or an object");
    tts_error e;
    auto ns = req_string(j, "namespace", path);
    if (!ns) return ns.err();
    auto name = req_string(j, "name", path);
    if (!name) return name.err();
    if (tts_error::find(*ns + ":" + *name)) e = tts_error::make(*ns + ":" + *name);
    e.ns = *ns;
    e.name = *name;
    if (auto it = j.find("code"); it != j.end()) {
        if (!it->is_number_integer() || it->get<int>() < 1 || it->get<int>() > 16)
            return bad(child(path, "code"), "expected a gRPC code 1..16");
        e.code = it->get<int>();
    }
    auto mf = opt_string(j, "message_format", path);
    if (!mf) return mf.err();
    if (*mf) e.message_format = **mf;
    if (e.message_format.empty()) e.message_format = e.name;
    if (auto it = j.find("attributes"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) return bad(child(path, "attributes"), "expected an object");
        e.attributes = *it;
    }
    return e;
}

proto::result<double> ratio(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return 0.0;
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) return bad(child(path, key), "expected 0..1");
    return it->get<double>();
}

proto::result<connection_stats> parse_connection(const json& j, const std::string& gateway_id, const std::string& path) {
    if (!j.is_object()) return bad(path, "expected an object");
    connection_stats s;
    s.gateway_id = gateway_id;
    auto cl = opt_string(j, "cluster", path);
    if (!cl) return cl.err();
    s.cluster = cl->value_or("");
    auto pr = opt_string(j, "protocol", path);
    if (!pr) return pr.err();
    s.protocol = pr->value_or("semtechws/lbslns");
    auto ip = opt_string(j, "remote_ip", path);
    if (!ip) return ip.err();
    s.remote_ip = ip->value_or("");
    for (auto [key, field] : {std::pair{"connected_at", &s.connected_at}, std::pair{"disconnected_at", &s.disconnected_at},
                              std::pair{"last_status_received_at", &s.last_status_received_at},
                              std::pair{"last_uplink_received_at", &s.last_uplink_received_at},
                              std::pair{"last_downlink_received_at", &s.last_downlink_received_at},
                              std::pair{"last_tx_acknowledgment_received_at", &s.last_tx_acknowledgment_received_at}}) {
        auto t = opt_time(j, key, path);
        if (!t) return t.err();
        *field = *t;
    }
    if (!s.connected_at && !s.disconnected_at) return bad(path, "connected_at or disconnected_at is required");
    if (s.disconnected_at) s.connected_at.reset();  // TTS removes connected_at on disconnect
    for (auto [key, field] : {std::pair{"uplink_count", &s.uplink_count}, std::pair{"downlink_count", &s.downlink_count},
                              std::pair{"tx_acknowledgment_count", &s.tx_acknowledgment_count}}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        if (it->is_number_unsigned()) *field = it->get<std::uint64_t>();
        else if (it->is_string()) {
            try {
                *field = std::stoull(it->get<std::string>());
            } catch (const std::exception&) {
                return bad(child(path, key), "expected a count");
            }
        } else
            return bad(child(path, key), "expected a count");
    }
    if (auto it = j.find("last_status"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) return bad(child(path, "last_status"), "expected an object");
        s.last_status = *it;
    }
    if (auto it = j.find("sub_bands"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) return bad(child(path, "sub_bands"), "expected an array");
        s.sub_bands = *it;
    }
    return s;
}

}  // namespace

proto::result<fault_rule> parse_fault_rule(const json& j, const std::string& path) {
    if (!j.is_object()) return bad(path, "expected an object");
    fault_rule f;
    for (auto [key, field] : {std::pair{"rpc", &f.rpc}, std::pair{"method", &f.method}, std::pair{"path_prefix", &f.path_prefix}}) {
        auto s = opt_string(j, key, path);
        if (!s) return s.err();
        *field = s->value_or("");
    }
    if (auto it = j.find("delay_ms"); it != j.end() && !it->is_null()) {
        if (!it->is_number() || it->get<double>() < 0) return bad(child(path, "delay_ms"), "expected milliseconds >= 0");
        f.delay = std::chrono::milliseconds(static_cast<std::int64_t>(it->get<double>()));
    }
    for (auto [key, field] : {std::pair{"error_ratio", &f.error_ratio}, std::pair{"reset_ratio", &f.reset_ratio},
                              std::pair{"blackhole_ratio", &f.blackhole_ratio}, std::pair{"lost_answer_ratio", &f.lost_answer_ratio}}) {
        auto r = ratio(j, key, path);
        if (!r) return r.err();
        *field = *r;
    }
    if (auto it = j.find("error"); it != j.end() && !it->is_null()) {
        auto e = parse_error_ref(*it, child(path, "error"));
        if (!e) return e.err();
        f.error = *e;
    }
    return f;
}

proto::result<scenario> parse_scenario(std::string_view text) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        // Locate the error for the one-line message.
        try {
            const json located = json::parse(text);
            (void)located;
        } catch (const json::parse_error& e) {
            return proto::make_error(emu_errc::bad_scenario, "not JSON: byte {}: {}", e.byte,
                                     std::string(e.what()).substr(std::string(e.what()).find(':') + 2));
        }
        return proto::make_error(emu_errc::bad_scenario, "not JSON");
    }
    return parse_scenario_json(doc);
}

proto::result<scenario> load_scenario_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return proto::make_error(emu_errc::bad_scenario, "{}: cannot read the file", path);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto s = parse_scenario(text);
    if (!s) return proto::make_error(emu_errc::bad_scenario, "{}: {}", path, s.err().detail);
    return s;
}

proto::result<scenario> parse_scenario_json(const json& doc) {
    if (!doc.is_object()) return bad("", "a scenario is a JSON object");
    static const std::set<std::string> known{"options", "clusters", "users",       "organizations", "gateways",
                                             "api_keys", "claimable", "rate_limits", "faults", "tls"};
    for (const auto& [k, v] : doc.items())
        if (!known.count(k)) return bad("/" + k, "unknown key");
    scenario s;
    // TLS variants per cluster are read by the network emulator (tts_emulator), not the state.
    if (auto it = doc.find("tls"); it != doc.end() && !it->is_null()) {
        if (!it->is_object()) return bad("/tls", "expected an object of cluster name -> TLS settings");
        s.tls = *it;
    }

    // ---- options ----
    if (auto it = doc.find("options"); it != doc.end() && !it->is_null()) {
        const std::string p = "/options";
        if (!it->is_object()) return bad(p, "expected an object");
        for (auto [key, field] : {std::pair{"rights_cache_ttl", &s.rights_cache_ttl}, std::pair{"restore_window", &s.restore_window},
                                  std::pair{"stats_ttl_connected", &s.stats_ttl_connected},
                                  std::pair{"stats_ttl_disconnected", &s.stats_ttl_disconnected}}) {
            auto d = opt_duration(*it, key, p);
            if (!d) return d.err();
            *field = *d;
        }
        for (auto [key, field] : {std::pair{"users_create_gateways", &s.users_create_gateways},
                                  std::pair{"admin_rights_all", &s.admin_rights_all},
                                  std::pair{"key_verify_memo", &s.key_verify_memo}}) {
            auto b = opt_bool(*it, key, p);
            if (!b) return b.err();
            *field = *b;
        }
        if (auto i = it->find("pbkdf2_iterations"); i != it->end() && !i->is_null()) {
            if (!i->is_number_integer() || i->get<int>() < 1) return bad(child(p, "pbkdf2_iterations"), "expected a positive integer");
            s.pbkdf2_iterations = i->get<int>();
        }
        if (auto i = it->find("seed"); i != it->end() && !i->is_null()) {
            if (!i->is_number_unsigned()) return bad(child(p, "seed"), "expected a non-negative integer");
            s.seed = i->get<std::uint64_t>();
        }
    }

    // ---- clusters ----
    auto clusters = opt_array(doc, "clusters", "");
    if (!clusters) return clusters.err();
    if (*clusters) {
        std::size_t i = 0;
        std::set<std::string> names;
        for (const auto& c : **clusters) {
            const std::string p = child("/clusters", i++);
            if (!c.is_object()) return bad(p, "expected an object");
            auto name = req_string(c, "name", p);
            if (!name) return name.err();
            auto address = req_string(c, "address", p);
            if (!address) return address.err();
            auto is = opt_bool(c, "identity_server", p);
            if (!is) return is.err();
            if (!names.insert(*name).second) return bad(child(p, "name"), fmt::format("duplicate cluster \"{}\"", *name));
            s.clusters.push_back({*name, *address, is->value_or(false)});
        }
    }

    // ---- users ----
    auto users = opt_array(doc, "users", "");
    if (!users) return users.err();
    if (*users) {
        std::size_t i = 0;
        for (const auto& u : **users) {
            const std::string p = child("/users", i++);
            if (!u.is_object()) return bad(p, "expected an object");
            user_info info;
            auto id = req_string(u, "user_id", p);
            if (!id) return id.err();
            info.user_id = *id;
            auto name = opt_string(u, "name", p);
            if (!name) return name.err();
            info.name = name->value_or("");
            auto admin = opt_bool(u, "admin", p);
            if (!admin) return admin.err();
            info.admin = admin->value_or(false);
            auto state = opt_string(u, "state", p);
            if (!state) return state.err();
            info.state = state->value_or("STATE_APPROVED");
            static const std::set<std::string> states{"STATE_REQUESTED", "STATE_APPROVED", "STATE_REJECTED", "STATE_FLAGGED",
                                                      "STATE_SUSPENDED"};
            if (!states.count(info.state)) return bad(child(p, "state"), fmt::format("unknown state \"{}\"", info.state));
            auto desc = opt_string(u, "state_description", p);
            if (!desc) return desc.err();
            info.state_description = desc->value_or("");
            s.users.push_back(std::move(info));
        }
    }

    // ---- organizations ----
    auto orgs = opt_array(doc, "organizations", "");
    if (!orgs) return orgs.err();
    if (*orgs) {
        std::size_t i = 0;
        for (const auto& o : **orgs) {
            const std::string p = child("/organizations", i++);
            if (!o.is_object()) return bad(p, "expected an object");
            scenario::organization org;
            auto id = req_string(o, "organization_id", p);
            if (!id) return id.err();
            org.info.organization_id = *id;
            auto name = opt_string(o, "name", p);
            if (!name) return name.err();
            org.info.name = name->value_or("");
            auto members = parse_members(o, "members", p);
            if (!members) return members.err();
            org.members = std::move(*members);
            s.organizations.push_back(std::move(org));
        }
    }

    // ---- gateways ----
    auto gws = opt_array(doc, "gateways", "");
    if (!gws) return gws.err();
    if (*gws) {
        std::size_t i = 0;
        for (const auto& g : **gws) {
            const std::string p = child("/gateways", i++);
            if (!g.is_object()) return bad(p, "expected an object");
            scenario::gateway_entry e;
            auto gj = g.find("gateway");
            if (gj == g.end() || !gj->is_object()) return bad(child(p, "gateway"), "required: a TTS Gateway object");
            std::vector<std::string> paths;
            for (const auto& [k, v] : gj->items()) paths.push_back(k);
            if (!gj->contains("ids")) return bad(child(p, "gateway/ids"), "required");
            auto docn = normalize_gateway(*gj, paths, "CreateGatewayRequest");
            if (!docn) {
                // Name the innermost field of the validation chain.
                std::string where = child(p, "gateway");
                const tts_error* e2 = &docn.err();
                std::string reason = e2->message();
                for (; e2; e2 = e2->cause.get()) {
                    if (e2->attributes.contains("field") && e2->attributes["field"] != "gateway")
                        where += "/" + e2->attributes["field"].get<std::string>();
                    reason = e2->message();
                }
                return bad(where, reason);
            }
            e.doc = *docn;
            auto owner_it = g.find("owner");
            if (owner_it == g.end()) return bad(child(p, "owner"), "required: {\"user_id\": ...} or {\"organization_id\": ...}");
            auto owner = parse_account(*owner_it, child(p, "owner"), false);
            if (!owner) return owner.err();
            e.owner = *owner;
            auto coll = parse_members(g, "collaborators", p);
            if (!coll) return coll.err();
            e.collaborators = std::move(*coll);
            auto del = opt_time(g, "deleted_at", p);
            if (!del) return del.err();
            e.deleted_at = *del;
            if (auto c = g.find("connection"); c != g.end() && !c->is_null()) {
                auto st = parse_connection(*c, e.doc["ids"]["gateway_id"].get<std::string>(), child(p, "connection"));
                if (!st) return st.err();
                e.connection = std::move(*st);
            }
            s.gateways.push_back(std::move(e));
        }
    }

    // ---- api keys ----
    auto keys = opt_array(doc, "api_keys", "");
    if (!keys) return keys.err();
    if (*keys) {
        std::size_t i = 0;
        for (const auto& k : **keys) {
            const std::string p = child("/api_keys", i++);
            if (!k.is_object()) return bad(p, "expected an object");
            scenario::api_key_entry e;
            auto owner_it = k.find("owner");
            if (owner_it == k.end()) return bad(child(p, "owner"), "required");
            auto owner = parse_account(*owner_it, child(p, "owner"), true);
            if (!owner) return owner.err();
            e.owner = *owner;
            auto token = req_string(k, "key", p);
            if (!token) return token.err();
            auto parts = split_token(*token);
            if (!parts || parts->type != api_key_type || parts->id.empty() || parts->secret.empty())
                return bad(child(p, "key"), "not an API key (NNSXS.<id>.<secret>)");
            e.token = *token;
            auto name = opt_string(k, "name", p);
            if (!name) return name.err();
            e.name = name->value_or("");
            auto r = parse_rights_list(k, "rights", p, true);
            if (!r) return r.err();
            e.granted = *r;
            auto exp = opt_time(k, "expires_at", p);
            if (!exp) return exp.err();
            e.expires_at = *exp;
            s.api_keys.push_back(std::move(e));
        }
    }

    // ---- claimable inventory ----
    auto inv = opt_array(doc, "claimable", "");
    if (!inv) return inv.err();
    if (*inv) {
        std::size_t i = 0;
        for (const auto& c : **inv) {
            const std::string p = child("/claimable", i++);
            if (!c.is_object()) return bad(p, "expected an object");
            auto eui_text = req_string(c, "eui", p);
            if (!eui_text) return eui_text.err();
            auto eui = proto::parse_eui(*eui_text);
            if (!eui) return bad(child(p, "eui"), eui.err().what());
            auto token = req_string(c, "owner_token", p);
            if (!token) return token.err();
            auto managed = opt_bool(c, "managed", p);
            if (!managed) return managed.err();
            auto elsewhere = opt_bool(c, "claimed_elsewhere", p);
            if (!elsewhere) return elsewhere.err();
            s.claimable.push_back({eui->eui, *token, managed->value_or(false),
                                   elsewhere->value_or(false) ? claimable_gateway::upstream_state::claimed_elsewhere
                                                              : claimable_gateway::upstream_state::unclaimed,
                                   std::string{}});
        }
    }

    // ---- rate limits ----
    auto limits = opt_array(doc, "rate_limits", "");
    if (!limits) return limits.err();
    if (*limits) {
        std::size_t i = 0;
        for (const auto& l : **limits) {
            const std::string p = child("/rate_limits", i++);
            if (!l.is_object()) return bad(p, "expected an object");
            rate_profile rp;
            auto name = opt_string(l, "name", p);
            if (!name) return name.err();
            rp.name = name->value_or(fmt::format("profile-{}", i - 1));
            auto per_min = l.find("max_per_min");
            if (per_min == l.end() || !per_min->is_number_integer() || per_min->get<int>() < 1)
                return bad(child(p, "max_per_min"), "required: a positive integer");
            rp.max_per_min = per_min->get<int>();
            if (auto b = l.find("max_burst"); b != l.end() && !b->is_null()) {
                if (!b->is_number_integer() || b->get<int>() < 0) return bad(child(p, "max_burst"), "expected an integer >= 0");
                rp.max_burst = b->get<int>();
            }
            if (auto sh = l.find("shared"); sh != l.end() && !sh->is_null()) {
                if (!sh->is_boolean()) return bad(child(p, "shared"), "expected true or false");
                rp.shared = sh->get<bool>();
            }
            auto assoc = opt_array(l, "associations", p);
            if (!assoc) return assoc.err();
            if (!*assoc || (*assoc)->empty()) return bad(child(p, "associations"), "required: the classes to limit");
            for (std::size_t j = 0; j < (*assoc)->size(); ++j) {
                if (!(**assoc)[j].is_string()) return bad(child(child(p, "associations"), j), "expected a class name");
                rp.associations.push_back((**assoc)[j].get<std::string>());
            }
            s.rate_limits.push_back(std::move(rp));
        }
    }

    // ---- faults ----
    auto faults = opt_array(doc, "faults", "");
    if (!faults) return faults.err();
    if (*faults) {
        std::size_t i = 0;
        for (const auto& f : **faults) {
            auto rule = parse_fault_rule(f, child("/faults", i++));
            if (!rule) return rule.err();
            s.faults.push_back(std::move(*rule));
        }
    }
    return s;
}

void apply_options(const scenario& s, state_options& o) {
    if (s.rights_cache_ttl) o.rights_cache_ttl = *s.rights_cache_ttl;
    if (s.restore_window) o.restore_window = *s.restore_window;
    if (s.stats_ttl_connected) o.stats_ttl_connected = *s.stats_ttl_connected;
    if (s.stats_ttl_disconnected) o.stats_ttl_disconnected = *s.stats_ttl_disconnected;
    if (s.users_create_gateways) o.users_create_gateways = *s.users_create_gateways;
    if (s.admin_rights_all) o.admin_rights_all = *s.admin_rights_all;
    if (s.key_verify_memo) o.key_verify_memo = *s.key_verify_memo;
    if (s.pbkdf2_iterations) o.pbkdf2_iterations = *s.pbkdf2_iterations;
}

proto::result<void> apply_scenario(const scenario& s, tts_state& state) {
    if (!s.clusters.empty())
        if (auto r = state.set_clusters(s.clusters); !r) return r;
    for (const auto& u : s.users)
        if (auto r = state.put_user(u); !r) return r;
    std::size_t i = 0;
    for (const auto& o : s.organizations) {
        const std::string p = child("/organizations", i++);
        if (auto r = state.put_organization(o.info); !r) return r;
        std::size_t j = 0;
        for (const auto& m : o.members) {
            if (!state.user(m.account.id)) return bad(child(child(p, "members"), j), fmt::format("unknown user \"{}\"", m.account.id));
            if (auto r = state.set_membership(m.account, entity_ref::organization(o.info.organization_id), m.granted); !r) return r;
            ++j;
        }
    }
    auto account_exists = [&](const entity_ref& e) {
        return e.type == entity_ref::kind::user ? state.user(e.id).has_value() : state.organization(e.id).has_value();
    };
    i = 0;
    for (const auto& g : s.gateways) {
        const std::string p = child("/gateways", i++);
        if (!account_exists(g.owner)) return bad(child(p, "owner"), fmt::format("unknown {} \"{}\"", g.owner.type_name(), g.owner.id));
        auto created = state.create_gateway(g.doc, g.owner);
        if (!created) return bad(child(p, "gateway"), created.err().status_message());
        const std::string id = created->id();
        std::size_t j = 0;
        for (const auto& m : g.collaborators) {
            if (!account_exists(m.account))
                return bad(child(child(p, "collaborators"), j), fmt::format("unknown {} \"{}\"", m.account.type_name(), m.account.id));
            if (auto r = state.set_membership(m.account, entity_ref::gateway(id), m.granted); !r) return r;
            ++j;
        }
        if (g.connection) {
            if (!g.connection->cluster.empty() && !state.cluster(g.connection->cluster))
                return bad(child(child(p, "connection"), "cluster"), fmt::format("unknown cluster \"{}\"", g.connection->cluster));
            auto c = *g.connection;
            if (c.cluster.empty()) c.cluster = state.home_cluster().name;
            if (auto r = state.put_connection_stats(std::move(c)); !r) return r;
        }
        if (g.deleted_at) {
            if (auto r = state.delete_gateway(id, g.deleted_at); !r) return bad(p, r.err().status_message());
        }
    }
    i = 0;
    for (const auto& k : s.api_keys) {
        const std::string p = child("/api_keys", i++);
        const bool exists = k.owner.type == entity_ref::kind::gateway ? state.get_gateway(k.owner.id, true).has_value()
                                                                       : account_exists(k.owner);
        if (!exists) return bad(child(p, "owner"), fmt::format("unknown {} \"{}\"", k.owner.type_name(), k.owner.id));
        auto r = state.import_api_key(k.owner, k.token, k.name, k.granted, k.expires_at);
        if (!r) return bad(child(p, "key"), r.err().name == "id_taken" ? "duplicate key ID" : r.err().status_message());
    }
    for (const auto& c : s.claimable)
        if (auto r = state.put_claimable(c); !r) return r;
    return {};
}

void apply_scenario(const scenario& s, tts_api& api) {
    api.set_rate_limits(s.rate_limits);
    api.set_faults(s.faults);
    if (s.seed) api.reseed(*s.seed);
}

}  // namespace ttig::emu
