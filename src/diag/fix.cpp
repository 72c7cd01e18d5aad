#include <ttig/diag/fix.hpp>

#include <ttig/net/host_map.hpp>
#include <ttig/tts/client.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

namespace ttig::diag {

namespace {

tts::client_options client_options(const doctor_options& d) {
    return doctor_client_options(d, d.tts_url, std::max(d.timeout, std::chrono::milliseconds(1000)), d.api_key);
}

std::string tts_host(const doctor_options& d) {
    auto u = net::parse_url(d.tts_url);
    return u ? u->host : std::string{};
}

bool has_atom(const report& r, std::string_view id) {
    return std::any_of(r.atoms.begin(), r.atoms.end(), [&](const atom& a) { return a.id == id; });
}

template <class R>
std::string error_text(const R& r) {
    return r.err().what();
}

}  // namespace

fix_plan plan_fix(const report& r, const doctor_options& d, const fix_options& f) {
    fix_plan p;
    p.cause = r.v.cause;
    const std::string gw = r.gateway_id;
    if (r.api_failure || gw.empty() || !has_atom(r, "record.found")) {
        p.not_fixable = "doctor has no gateway record to change";
        return p;
    }
    const std::string path = "/api/v3/gateways/" + gw;
    if (p.cause == "lns-key-missing" || p.cause == "lns-key-revoked") {
        p.steps.push_back({"A1", "create an LNS key (RIGHT_GATEWAY_INFO, RIGHT_GATEWAY_LINK) and store it in lbs_lns_secret",
                           {fmt::format("POST {}/api-keys {{\"name\":\"lns-key-<date>\",\"rights\":[\"RIGHT_GATEWAY_INFO\",\"RIGHT_GATEWAY_LINK\"]}}", path),
                            fmt::format("PUT {} lbs_lns_secret = <the new key> (field mask lbs_lns_secret)", path)}});
        p.warnings.push_back("creating an API key e-mails the gateway's administrative contact");
        p.warnings.push_back("the gateway gets the new key at its next CUPS exchange: after a /router-info rejection (reference "
                             "Station), within 24 h, or at once after a RESET (factory reset)");
    } else if (p.cause == "gs-address-wrong-or-unreachable") {
        const std::string a = f.gs_address.empty() ? tts_host(d) : f.gs_address;
        p.steps.push_back({"A2", fmt::format("set gateway_server_address to {}", a),
                           {fmt::format("PUT {} gateway_server_address = \"{}\" (field mask gateway_server_address)", path, a)}});
        p.warnings.push_back("the Gateway Server drops the current connection at its next registry read (~10 min); the TTIG gets the "
                             "address at its next CUPS round");
    } else if (p.cause == "frequency-plan-missing") {
        if (f.frequency_plan.empty()) {
            p.not_fixable = "A3 needs the plan: run again with --frequency-plan (EU_863_870_TTN, US_902_928_FSB_2, AU_915_928_FSB_2, ...)";
            return p;
        }
        p.steps.push_back({"A3", fmt::format("set frequency_plan_ids to [{}]", f.frequency_plan),
                           {fmt::format("PUT {} frequency_plan_ids = [\"{}\"] (field mask frequency_plan_ids)", path, f.frequency_plan)}});
    } else if (p.cause == "cups-target-mode-stuck") {
        p.steps.push_back({"A7", "clear target_cups_uri and target_cups_key (only if forwarding to another CUPS was not intended)",
                           {fmt::format("PUT {} target_cups_uri = \"\", target_cups_key = null (field mask target_cups_uri, target_cups_key)", path)}});
    } else {
        p.not_fixable = r.v.cause == "healthy" ? "the gateway is healthy" : fmt::format("{} has no fix doctor can make through the API", r.v.cause);
    }
    return p;
}

fix_result apply_fix(const fix_plan& plan, const report& before, const doctor_options& d, const fix_options& f) {
    fix_result out;
    tts::client c(client_options(d));
    const std::string gw = before.gateway_id;
    doctor_options again = d;
    for (const auto& s : plan.steps) {
        if (s.action == "A1") {
            const auto* clock = d.clock;
            const auto now = clock ? clock->now() : proto::system_clock{}.now();
            const std::string name = fmt::format("lns-key-{:%Y%m%d-%H%M%S}", std::chrono::floor<std::chrono::seconds>(now));
            auto k = c.create_api_key(gw, name, {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"});
            if (!k) {
                out.error = "A1 create the LNS key: " + error_text(k);
                break;
            }
            out.done.push_back(fmt::format("A1 created API key {} ({})", k->id, name));
            tts::gateway_update u;
            u.lbs_lns_secret(k->key);
            auto g = c.update_gateway(gw, u);
            if (!g) {
                out.error = fmt::format("A1 store key {} in lbs_lns_secret: {} (the key exists; delete it or store it by hand)", k->id, error_text(g));
                break;
            }
            out.done.push_back(fmt::format("A1 lbs_lns_secret now holds key {}", k->id));
            again.lns_key = k->key;  // prove it: /router-info must accept it
        } else if (s.action == "A2") {
            tts::gateway_update u;
            u.gateway_server_address(f.gs_address.empty() ? tts_host(d) : f.gs_address);
            auto g = c.update_gateway(gw, u);
            if (!g) {
                out.error = "A2 set gateway_server_address: " + error_text(g);
                break;
            }
            out.done.push_back("A2 gateway_server_address = " + g->gateway_server_address);
        } else if (s.action == "A3") {
            tts::gateway_update u;
            u.frequency_plan_ids({f.frequency_plan});
            auto g = c.update_gateway(gw, u);
            if (!g) {
                out.error = "A3 set frequency_plan_ids: " + error_text(g);
                break;
            }
            out.done.push_back("A3 frequency_plan_ids = [" + f.frequency_plan + "]");
        } else if (s.action == "A7") {
            tts::gateway_update u;
            u.target_cups_uri("");
            u.target_cups_key(std::nullopt);
            auto g = c.update_gateway(gw, u);
            if (!g) {
                out.error = "A7 clear target CUPS: " + error_text(g);
                break;
            }
            out.done.push_back("A7 target_cups_uri and target_cups_key cleared");
        }
    }
    out.applied = !out.error && !out.done.empty();
    // Prove it: the ladder again, from the start.
    again.gateway = gw;
    out.after = run_doctor(again);
    out.proven = out.applied && out.after.v.cause != plan.cause && !out.after.api_failure;
    if (out.proven) {
        for (const char* a : {"lnsinfo.ok", "stats.connected", "cups.auth.ok_lns"})
            if (has_atom(out.after, a)) {
                out.proof = a;
                break;
            }
        if (out.proof.empty()) out.proof = fmt::format("the verdict is now {}", out.after.v.cause);
    }
    return out;
}

nlohmann::ordered_json to_json(const fix_plan& p) {
    nlohmann::ordered_json j;
    j["cause"] = p.cause;
    j["steps"] = nlohmann::ordered_json::array();
    for (const auto& s : p.steps) j["steps"].push_back({{"action", s.action}, {"what", s.what}, {"calls", s.calls}});
    j["warnings"] = p.warnings;
    if (!p.not_fixable.empty()) j["not_fixable"] = p.not_fixable;
    return j;
}

nlohmann::ordered_json to_json(const fix_result& r) {
    nlohmann::ordered_json j;
    j["applied"] = r.applied;
    j["done"] = r.done;
    if (r.error) j["error"] = *r.error;
    j["proven"] = r.proven;
    j["proof"] = r.proof;
    j["after"] = to_json(r.after);
    return j;
}

}  // namespace ttig::diag
