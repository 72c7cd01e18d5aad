// fleet plan / fleet export: read the gateways with one list call per 1000, diff them against the
// manifest, and describe the calls apply would make (docs/fleet.md).
#include <ttig/fleet/plan.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace ttig::fleet {

namespace {

using ojson = nlohmann::ordered_json;

// "wss://Host:8887/" -> "host:8887": the comparison of Gateway Server addresses.
std::string normal_address(std::string_view a) {
    if (const auto s = a.find("://"); s != std::string_view::npos) a.remove_prefix(s + 3);
    while (!a.empty() && a.back() == '/') a.remove_suffix(1);
    std::string out(a);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

current_gateway current_of(const tts::gateway& g) {
    return {g.ids.gateway_id, g.ids.eui, g.gateway_server_address, g.frequency_plan_ids};
}

std::string gw_path(const std::string& id) { return "/api/v3/gateways/" + id; }

std::vector<planned_call> claim_calls(const std::string& id, proto::eui64 eui) {
    return {
        {"GET", "/api/v3/auth_info", "who the API key belongs to: the collaborator that gets the gateway", false, false, false},
        {"POST", "/api/v3/gcls/claim/info", "is EUI " + eui.hex() + " claimable?", false, false, false},
        {"GET", "/api/v3/search/gateways?eui_contains=" + eui.hex(), "is the EUI already one of your gateways?", false, false, false},
        {"POST", "/api/v3/gcls/claim", "claim EUI " + eui.hex() + " as " + id + " (owner token in the body, never shown)", true, false, false},
        {"GET", gw_path(id), "read the claimed gateway back", false, false, false},
    };
}

std::vector<planned_call> set_gs_calls(const std::string& id, const std::string& address) {
    return {{"PUT", gw_path(id), "gateway_server_address = " + address, true, false, false}};
}

// The calls of one rotation (provision::rotate: preflight, then the steps of docs/rotate.md).
std::vector<planned_call> rotation_calls(const std::string& id, bool cups, bool lns, const std::string& move_to,
                                         const std::string& current_address) {
    const std::string g = gw_path(id);
    std::vector<planned_call> c{
        {"GET", g, "preflight: the gateway record", false, false, false},
        {"GET", g + "/rights", "preflight: your rights on the gateway", false, false, false},
        {"GET", g + "/api-keys?limit=1000", "preflight: the gateway's keys (the old CUPS and LNS keys)", false, false, false},
    };
    if (cups) {
        c.push_back({"POST", g + "/api-keys", "new CUPS key cups-key-ttigctl-… (INFO, SETTINGS_BASIC, READ_SECRETS)", true, false, false});
        c.push_back({"GET", "/api/v3/auth_info", "with the new CUPS key: accepted with those rights?", false, false, false});
        c.push_back({"PUT", g, "target_cups_key = the new CUPS key", true, false, false});
        c.push_back({"GET", g, "check-in 1: cups-last-seen after the install (repeated while waiting)", false, true, false});
        c.push_back({"PUT", g + "/api-keys/{old-cups-key}", "old CUPS key: rights -> INFO only", true, false, true});
    }
    const std::string target = move_to.empty() ? current_address : move_to;
    if (lns) {
        c.push_back({"POST", g + "/api-keys", "new LNS key lns-key-ttigctl-… (INFO, LINK)", true, false, false});
        c.push_back({"WS", (target.empty() ? std::string("{gateway server}") : target) + "/router-info",
                     "with the new LNS key: accepted? (never /traffic)", false, false, false});
    }
    std::vector<std::string> what;
    if (cups) what.emplace_back("target_cups_key = null");
    if (lns) what.emplace_back("lbs_lns_secret = the new LNS key");
    if (!move_to.empty()) what.push_back("gateway_server_address = " + move_to);
    c.push_back({"PUT", g, fmt::format("cutover: {}", fmt::join(what, ", ")), true, false, false});
    c.push_back({"GET", g, "check-in 2: cups-last-seen after the cutover (repeated while waiting)", false, true, false});
    if (lns) {
        const std::string base = target.empty() ? std::string() : tts::cluster_base_url(target);
        c.push_back({"GET", base + "/api/v3/gs/gateways/" + id + "/connection/stats",
                     "connected with the new LNS key after check-in 2 (repeated while waiting)", false, true, false});
        c.push_back({"PUT", g + "/api-keys/{old-lns-key}", "old LNS key: rights -> INFO only", true, false, true});
    }
    if (cups) c.push_back({"DELETE", g + "/api-keys/{old-cups-key}", "delete the old CUPS key", true, false, true});
    if (lns) c.push_back({"DELETE", g + "/api-keys/{old-lns-key}", "delete the old LNS key", true, false, true});
    return c;
}

planned_step make_step(step_kind k, const std::string& id, std::string reason, std::vector<planned_call> calls) {
    planned_step s;
    s.kind = k;
    s.gateway_id = id;
    s.reason = std::move(reason);
    s.calls = std::move(calls);
    s.expected_calls = s.calls.size();
    return s;
}

std::string plans_text(const std::vector<std::string>& p) { return p.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(p, "|")); }

// The rotation a row asks for (after claim and set-gs), or nothing.
void plan_rotation(const manifest_row& r, row_plan& out, const std::string& current_address, bool after_claim) {
    const bool cups = r.actions.count(action::rotate_cups) > 0;
    bool lns = r.actions.count(action::rotate_lns) > 0;
    std::string move_to;
    if (r.actions.count(action::move)) {
        if (after_claim) {
            out.notes.push_back(fmt::format("move: the claim puts the gateway on {} already", r.cluster));
        } else if (normal_address(current_address) == normal_address(r.cluster)) {
            out.notes.push_back(fmt::format("move: gateway_server_address is {} already", current_address));
        } else {
            move_to = r.cluster;
            lns = true;
        }
    }
    if (!cups && !lns) return;
    step_kind k = !move_to.empty() ? step_kind::move : (cups && lns) ? step_kind::rotate : cups ? step_kind::rotate_cups : step_kind::rotate_lns;
    std::string reason;
    if (!move_to.empty())
        reason = fmt::format("move from {} to {} with a new LNS key{}", current_address.empty() ? "(no address)" : current_address, move_to,
                             cups ? " and a new CUPS key" : "");
    else
        reason = fmt::format("rotate the {} key{} as asked", cups && lns ? "CUPS and LNS" : cups ? "CUPS" : "LNS", cups && lns ? "s" : "");
    auto s = make_step(k, r.gateway_id, reason, rotation_calls(r.gateway_id, cups, lns, move_to, after_claim ? r.cluster : current_address));
    s.rotate_cups = cups;
    s.rotate_lns = lns;
    s.move_to = move_to;
    if (!move_to.empty()) out.changes.push_back(fmt::format("gateway_server_address: {} -> {} (move)", current_address, move_to));
    if (cups) out.changes.push_back("new CUPS key, old ones deleted once the station proved the new one");
    if (lns) out.changes.push_back("new LNS key, old ones deleted once the station connected with the new one");
    out.steps.push_back(std::move(s));
}

tts::list_options list_opts(const plan_options& o, std::uint32_t page) {
    tts::list_options lo;
    lo.field_mask = plan_field_mask();
    lo.limit = std::clamp<std::uint32_t>(o.page_limit, 1, 1000);
    lo.page = page;
    lo.order = "gateway_id";
    return lo;
}

ojson opt_eui(const std::optional<proto::eui64>& e) { return e ? ojson(e->hex()) : ojson(nullptr); }

ojson call_json(const planned_call& c) {
    return ojson{{"method", c.method}, {"path", c.path}, {"purpose", c.purpose}, {"writes", c.writes}, {"repeats", c.repeats},
                 {"per_old_key", c.per_old_key}};
}

}  // namespace

std::string_view to_string(step_kind k) noexcept {
    switch (k) {
        case step_kind::claim: return "claim";
        case step_kind::set_gs: return "set-gs";
        case step_kind::rotate_cups: return "rotate-cups";
        case step_kind::rotate_lns: return "rotate-lns";
        case step_kind::rotate: return "rotate";
        case step_kind::move: return "move";
        case step_kind::nothing: return "nothing";
    }
    return "?";
}

std::string_view to_string(row_state s) noexcept {
    switch (s) {
        case row_state::missing: return "missing";
        case row_state::exists: return "exists";
        case row_state::conflict: return "conflict";
    }
    return "?";
}

const std::vector<std::string>& plan_field_mask() {
    static const std::vector<std::string> m{"gateway_server_address", "frequency_plan_ids"};
    return m;
}

std::string scope_text(const tts::list_scope& s) {
    switch (s.type) {
        case tts::list_scope::kind::caller: return "caller";
        case tts::list_scope::kind::user: return "user " + s.id;
        case tts::list_scope::kind::organization: return "organization " + s.id;
    }
    return "?";
}

gateway_list list_gateways(tts::client& client, const plan_options& o) {
    gateway_list out;
    std::uint32_t page = 1;
    for (std::size_t n = 0; n < o.max_pages; ++n, ++page) {
        auto p = client.list_gateways(o.scope, list_opts(o, page));
        ++out.calls;
        if (!p) {
            out.ok = false;
            out.error_id = p.err().id();
            out.error_message = p.err().what();  // "[id] message: detail": without the id (the caller prints it)
            if (const std::string prefix = "[" + out.error_id + "] "; out.error_message.starts_with(prefix))
                out.error_message.erase(0, prefix.size());
            if (p.api()) out.http_status = p.api()->http_status;
            return out;
        }
        const bool more = p->has_more() && !p->items.empty();
        for (auto& g : p->items) out.gateways.push_back(std::move(g));
        if (!more) break;
    }
    return out;
}

plan_result plan_against(const std::vector<manifest_row>& rows, const std::vector<tts::gateway>& current) {
    plan_result out;
    out.gateways_seen = current.size();
    std::map<std::string, const tts::gateway*> by_id;
    std::map<proto::eui64, const tts::gateway*> by_eui;
    for (const auto& g : current) {
        by_id[g.ids.gateway_id] = &g;
        if (g.ids.eui) by_eui[*g.ids.eui] = &g;
    }
    bool any_claim = false;
    for (const auto& r : rows) {
        row_plan p;
        p.where = r.where();
        p.line = r.line;
        p.gateway_id = r.gateway_id;
        p.eui = r.eui;
        p.actions.assign(r.actions.begin(), r.actions.end());
        const tts::gateway* have = by_id.count(r.gateway_id) ? by_id[r.gateway_id] : nullptr;
        const tts::gateway* eui_holder = (r.eui && by_eui.count(*r.eui)) ? by_eui[*r.eui] : nullptr;
        const bool wants_claim = r.actions.count(action::claim) > 0;
        if (have) {
            p.current = current_of(*have);
            if (r.eui && have->ids.eui && *have->ids.eui != *r.eui) {
                p.state = row_state::conflict;
                p.problem_id = "fleet.eui_mismatch";
                p.problem = fmt::format("gateway {} exists with EUI {}, the row names {}", r.gateway_id, have->ids.eui->hex(), r.eui->hex());
            } else if (r.eui && eui_holder && eui_holder != have) {
                p.state = row_state::conflict;
                p.problem_id = "fleet.eui_elsewhere";
                p.problem = fmt::format("EUI {} is your gateway {}, not {}", r.eui->hex(), eui_holder->ids.gateway_id, r.gateway_id);
            } else {
                p.state = row_state::exists;
                if (wants_claim) p.notes.push_back(fmt::format("claim: {} exists already{}", r.gateway_id, r.eui ? " with EUI " + r.eui->hex() : ""));
                if (r.eui && !have->ids.eui) p.notes.push_back(fmt::format("the gateway has no EUI; the row names {}", r.eui->hex()));
                const std::string& addr = have->gateway_server_address;
                const bool moves = r.actions.count(action::move) && normal_address(addr) != normal_address(r.cluster);
                if (r.actions.count(action::set_gs)) {
                    if (normal_address(addr) == normal_address(r.cluster)) {
                        p.notes.push_back(fmt::format("set-gs: gateway_server_address is {} already", addr));
                    } else if (moves) {
                        p.notes.push_back("set-gs: done by the move's cutover");
                    } else {
                        auto s = make_step(step_kind::set_gs, r.gateway_id,
                                           fmt::format("gateway_server_address is {}, the row wants {}", addr.empty() ? "(empty)" : addr, r.cluster),
                                           set_gs_calls(r.gateway_id, r.cluster));
                        s.gateway_server_address = r.cluster;
                        p.changes.push_back(fmt::format("gateway_server_address: {} -> {}", addr.empty() ? "(empty)" : addr, r.cluster));
                        p.steps.push_back(std::move(s));
                    }
                } else if (!r.cluster.empty() && !r.actions.count(action::move) && normal_address(addr) != normal_address(r.cluster)) {
                    p.notes.push_back(fmt::format("gateway_server_address is {}, the row's cluster is {} (no set-gs or move asked: left as is)",
                                                  addr.empty() ? "(empty)" : addr, r.cluster));
                }
                if (!r.frequency_plan_ids.empty() && r.frequency_plan_ids != have->frequency_plan_ids)
                    p.notes.push_back(fmt::format("frequency plans are {}, the row names {} (no action changes them)",
                                                  plans_text(have->frequency_plan_ids), plans_text(r.frequency_plan_ids)));
                plan_rotation(r, p, addr, false);
            }
        } else if (eui_holder) {
            p.state = row_state::conflict;
            p.current = current_of(*eui_holder);
            p.problem_id = "fleet.eui_elsewhere";
            p.problem = fmt::format("EUI {} is your gateway {}, not {}", r.eui->hex(), eui_holder->ids.gateway_id, r.gateway_id);
        } else if (wants_claim) {
            p.state = row_state::missing;
            any_claim = true;
            auto s = make_step(step_kind::claim, r.gateway_id,
                               fmt::format("no gateway {} (nor EUI {}) among yours", r.gateway_id, r.eui ? r.eui->hex() : "?"),
                               claim_calls(r.gateway_id, r.eui.value_or(proto::eui64{})));
            s.eui = r.eui;
            s.frequency_plan_ids = r.frequency_plan_ids;
            s.gateway_server_address = r.cluster;
            p.changes.push_back(fmt::format("claim EUI {} as {} ({}{})", r.eui ? r.eui->hex() : "?", r.gateway_id,
                                            plans_text(r.frequency_plan_ids), r.cluster.empty() ? "" : ", on " + r.cluster));
            p.steps.push_back(std::move(s));
            if (r.actions.count(action::set_gs)) p.notes.push_back("set-gs: the claim sets the gateway_server_address");
            plan_rotation(r, p, r.cluster, true);
        } else {
            p.state = row_state::conflict;
            p.problem_id = "fleet.gateway_missing";
            p.problem = r.actions.empty()
                            ? fmt::format("gateway {} is not among yours (add the claim action to claim it)", r.gateway_id)
                            : fmt::format("gateway {} is not among yours, and the row does not ask to claim it", r.gateway_id);
        }
        for (const auto& s : p.steps) p.expected_calls += s.expected_calls;
        out.planned_calls += p.expected_calls;
        if (p.state == row_state::conflict) ++out.conflicts;
        else if (p.steps.empty()) ++out.rows_unchanged;
        else ++out.rows_with_changes;
        out.rows.push_back(std::move(p));
    }
    if (any_claim)
        out.shared_calls.push_back({"GET", "/api/v3/configuration/frequency-plans",
                                    "every frequency plan of the claims exists (once per run)", false, false, false});
    out.planned_calls += out.shared_calls.size();
    return out;
}

plan_result plan_fleet(tts::client& client, const manifest& m, const plan_options& o) {
    if (!m.ok()) {
        plan_result p;
        p.ok = false;
        p.scope = scope_text(o.scope);
        p.error_id = "fleet.manifest";
        p.error_message = fmt::format("the manifest has {} error{}", m.errors.size(), m.errors.size() == 1 ? "" : "s");
        return p;
    }
    auto list = list_gateways(client, o);
    if (!list.ok) {
        plan_result p;
        p.ok = false;
        p.scope = scope_text(o.scope);
        p.read_calls = list.calls;
        p.error_id = list.error_id;
        p.error_message = list.error_message;
        p.http_status = list.http_status;
        return p;
    }
    auto p = plan_against(m.rows, list.gateways);
    p.scope = scope_text(o.scope);
    p.read_calls = list.calls;
    return p;
}

nlohmann::ordered_json to_json(const plan_result& p) {
    ojson j;
    j["ok"] = p.ok;
    j["scope"] = p.scope;
    j["gateways_seen"] = p.gateways_seen;
    j["read_calls"] = p.read_calls;
    j["planned_calls"] = p.planned_calls;
    j["summary"] = ojson{{"rows", p.rows.size()},
                         {"with_changes", p.rows_with_changes},
                         {"unchanged", p.rows_unchanged},
                         {"conflicts", p.conflicts}};
    ojson shared = ojson::array();
    for (const auto& c : p.shared_calls) shared.push_back(call_json(c));
    j["shared_calls"] = std::move(shared);
    ojson rows = ojson::array();
    for (const auto& r : p.rows) {
        ojson rj;
        rj["where"] = r.where;
        rj["gateway_id"] = r.gateway_id;
        rj["eui"] = opt_eui(r.eui);
        ojson acts = ojson::array();
        for (action a : r.actions) acts.push_back(std::string(to_string(a)));
        rj["actions"] = std::move(acts);
        rj["state"] = std::string(to_string(r.state));
        rj["kind"] = std::string(to_string(r.kind()));
        if (r.current)
            rj["current"] = ojson{{"gateway_id", r.current->gateway_id},
                                  {"eui", opt_eui(r.current->eui)},
                                  {"gateway_server_address", r.current->gateway_server_address},
                                  {"frequency_plan_ids", r.current->frequency_plan_ids}};
        else
            rj["current"] = nullptr;
        rj["changes"] = r.changes;
        rj["notes"] = r.notes;
        rj["problem_id"] = r.problem_id.empty() ? ojson(nullptr) : ojson(r.problem_id);
        rj["problem"] = r.problem.empty() ? ojson(nullptr) : ojson(r.problem);
        ojson steps = ojson::array();
        for (const auto& s : r.steps) {
            ojson sj;
            sj["kind"] = std::string(to_string(s.kind));
            sj["reason"] = s.reason;
            if (s.kind == step_kind::claim) {
                sj["eui"] = opt_eui(s.eui);
                sj["frequency_plan_ids"] = s.frequency_plan_ids;
            }
            if (s.kind == step_kind::claim || s.kind == step_kind::set_gs) sj["gateway_server_address"] = s.gateway_server_address;
            if (s.rotate_cups || s.rotate_lns) {
                sj["rotate_cups"] = s.rotate_cups;
                sj["rotate_lns"] = s.rotate_lns;
                sj["move_to"] = s.move_to.empty() ? ojson(nullptr) : ojson(s.move_to);
            }
            ojson calls = ojson::array();
            for (const auto& c : s.calls) calls.push_back(call_json(c));
            sj["calls"] = std::move(calls);
            sj["expected_calls"] = s.expected_calls;
            steps.push_back(std::move(sj));
        }
        rj["steps"] = std::move(steps);
        rj["expected_calls"] = r.expected_calls;
        rows.push_back(std::move(rj));
    }
    j["rows"] = std::move(rows);
    if (!p.ok) j["error"] = ojson{{"id", p.error_id}, {"message", p.error_message}, {"http_status", p.http_status}};
    return j;
}

std::string to_text(const plan_result& p, bool verbose) {
    std::string out;
    for (const auto& r : p.rows) {
        const bool show = verbose || r.state == row_state::conflict || !r.steps.empty();
        if (!show) continue;
        out += fmt::format("{}  {}{}: {}\n", r.where, r.gateway_id, r.eui ? " (" + r.eui->hex() + ")" : "",
                           r.state == row_state::conflict ? "CONFLICT" : r.steps.empty() ? "no change" : "change");
        if (!r.problem.empty()) out += fmt::format("  [{}] {}\n", r.problem_id, r.problem);
        for (const auto& c : r.changes) out += fmt::format("  ~ {}\n", c);
        for (const auto& n : r.notes) out += fmt::format("  = {}\n", n);
        for (const auto& s : r.steps) {
            out += fmt::format("  step {}: {} ({} call{})\n", to_string(s.kind), s.reason, s.expected_calls, s.expected_calls == 1 ? "" : "s");
            for (const auto& c : s.calls)
                out += fmt::format("    {:<6} {}  {}{}{}\n", c.method, c.path, c.purpose, c.repeats ? " [repeats]" : "",
                                   c.per_old_key ? " [per old key]" : "");
        }
    }
    if (!p.shared_calls.empty()) {
        out += "once per run:\n";
        for (const auto& c : p.shared_calls) out += fmt::format("    {:<6} {}  {}\n", c.method, c.path, c.purpose);
    }
    out += fmt::format("{} row{}: {} to change, {} unchanged, {} conflict{}; {} gateway{} read in {} call{} ({}); apply would make about "
                       "{} call{}\n",
                       p.rows.size(), p.rows.size() == 1 ? "" : "s", p.rows_with_changes, p.rows_unchanged, p.conflicts,
                       p.conflicts == 1 ? "" : "s", p.gateways_seen, p.gateways_seen == 1 ? "" : "s", p.read_calls,
                       p.read_calls == 1 ? "" : "s", p.scope, p.planned_calls, p.planned_calls == 1 ? "" : "s");
    return out;
}

export_result export_gateways(tts::client& client, const plan_options& o) {
    export_result out;
    auto list = list_gateways(client, o);
    out.read_calls = list.calls;
    if (!list.ok) {
        out.ok = false;
        out.error_id = list.error_id;
        out.error_message = list.error_message;
        out.http_status = list.http_status;
        return out;
    }
    std::sort(list.gateways.begin(), list.gateways.end(),
              [](const tts::gateway& a, const tts::gateway& b) { return a.ids.gateway_id < b.ids.gateway_id; });
    std::size_t line = 1;
    for (const auto& g : list.gateways) {
        manifest_row r;
        r.line = ++line;  // the CSV line it will be written on (header on line 1)
        r.eui = g.ids.eui;
        r.gateway_id = g.ids.gateway_id;
        r.frequency_plan_ids = g.frequency_plan_ids;
        r.cluster = normal_address(g.gateway_server_address);
        out.rows.push_back(std::move(r));
    }
    return out;
}

}  // namespace ttig::fleet
