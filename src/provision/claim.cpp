#include <ttig/provision/claim.hpp>
#include <ttig/tts/error.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace ttig::provision {

using ojson = nlohmann::ordered_json;

namespace {

// Catalogue causes (disconnected-catalogue §6.1) and the local refusals of a claim request.
constexpr std::array<claim_cause_info, 12> causes{{
    {"eui-not-claimable", "The Things Stack cannot claim this EUI (not in a claimable range of this deployment)",
     "re-read the 12-digit code after (92) on the label (8/B, 0/O, 1/l; it is not the Wi-Fi MAC) and try again; if a correct TTIG "
     "EUI is still not claimable, contact TTN/TTI support (every TTIG must be claimable) — do not register it manually"},
    {"owner-token-mismatch", "The claim was refused: the owner token does not match this gateway",
     "re-type the Wi-Fi password printed on the gateway's label (case, 8/B/3, 1/l, 0/O) into the owner-token file and run again; "
     "if it keeps failing, contact support"},
    {"eui-claimed-elsewhere", "The EUI is already registered or claimed, by another account, organization or network",
     "if it is in another account or organization of yours, delete it there and run again; otherwise ask the previous owner to "
     "delete it, or contact TTN/TTI support with proof of ownership"},
    {"registered-manually-not-claimed", "The EUI is registered as a gateway that was never claimed (manual registration)",
     "delete that gateway (its EUI is released; its ID stays reserved), then run claim again under a new --id"},
    {"gateway-id-taken", "The gateway ID is taken (by a live gateway, or by a deleted one: deleted IDs stay reserved)",
     "choose another --id (for example ttig-<last 6 digits of the EUI>); a deleted gateway's ID can only be reused after an "
     "administrator purges it"},
    {"claim-no-rights", "The API key may not create gateways for the collaborator",
     "use an API key of the user or organization with the right to create gateways (RIGHT_USER_GATEWAYS_CREATE / "
     "RIGHT_ORGANIZATION_GATEWAYS_CREATE), or pass --org with an organization where you may add gateways"},
    {"claim.unknown_frequency_plan", "A frequency plan ID is not one of the deployment's plans",
     "use a plan ID The Things Stack lists (EU_863_870_TTN, US_902_928_FSB_2, AU_915_928_FSB_2, ...)"},
    {"claim.bad_gateway_id", "The gateway ID does not match ^[a-z0-9](?:[-]?[a-z0-9]){2,}$ or is longer than 36 characters",
     "use lower-case letters, digits and single dashes, at least 3 characters (e.g. office-ttig)"},
    {"claim.bad_frequency_plans", "No frequency plan, or more than 8", "give 1 to 8 frequency plan IDs"},
    {"claim.bad_gs_address", "The Gateway Server address is not host[:port]",
     "give the cluster host without a scheme or path, e.g. eu1.cloud.thethings.network"},
    {"claim.no_collaborator", "The API key belongs to neither a user nor an organization, so there is no one to give the gateway to",
     "pass --org ORG, or use a user's or organization's API key"},
    {"claim.no_owner_token", "No owner token was given",
     "put the Wi-Fi password from the gateway's label in a file (chmod 600) and pass --owner-token-file, or set TTIGCTL_OWNER_TOKEN"},
}};

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> needles) {
    for (auto n : needles)
        if (text.find(n) != std::string_view::npos) return true;
    return false;
}

// "pkg/deviceclaimingserver:claim gateway ← emu/upstream:owner_token_mismatch".
std::string chain_of(const tts::api_error& e) {
    std::string s = e.named() ? e.full_name() : (e.text().empty() ? fmt::format("HTTP {}", e.http_status) : e.text());
    for (const tts::api_error* c = e.cause.get(); c; c = c->cause.get()) s += " ← " + (c->named() ? c->full_name() : c->text());
    return s;
}

// Names and texts of an error and its causes, lower case (for the upstream's unpublished names).
std::string chain_text(const tts::api_error& e) {
    std::string s;
    for (const tts::api_error* c = &e; c; c = c->cause.get()) s += lower(c->full_name()) + " " + lower(c->text()) + " | ";
    return s;
}

class run_state {
public:
    run_state(tts::client& c, const claim_request& r, claim_outcome& o) : client(c), req(r), out(o) {}

    tts::client& client;
    const claim_request& req;
    claim_outcome& out;

    // Removes the owner token (and its base64 form) and token-shaped strings from a text.
    std::string scrub(std::string_view text) const {
        std::string s = tts::redact_secrets(text);
        auto cut = [&s](const std::string& secret) {
            if (secret.size() < 4) return;
            for (auto at = s.find(secret); at != std::string::npos; at = s.find(secret, at)) s.replace(at, secret.size(), "…");
        };
        cut(req.owner_token);
        cut(tts::base64_encode(req.owner_token));
        return s;
    }

    template <class T>
    tts::result<T> run(const tts::call<T>& c) {
        api_call rec;
        rec.method = c.head.http.method;
        rec.target = c.head.http.target;
        rec.writes = c.head.rpc == "GatewayClaimingServer.Claim";
        auto r = client.run(c);
        if (r)
            rec.outcome = "200";
        else if (const auto* e = r.api())
            rec.outcome = fmt::format("{} {}", e->http_status, e->named() ? e->full_name() : e->text());
        else
            rec.outcome = r.err().what();
        rec.outcome = scrub(rec.outcome);
        out.calls.push_back(std::move(rec));
        return r;
    }

    // The hop ("POST /api/v3/gcls/claim on https://…").
    std::string hop() const {
        const auto& last = out.calls.back();
        const auto q = last.target.find('?');
        return fmt::format("{} {} on {}", last.method, last.target.substr(0, q), client.base_url());
    }

    // Whether a failure means the API cannot be used at all: transport/TLS failures, 401, a
    // malformed key (400 pkg/auth:token). Sets the outcome when it does.
    template <class R>
    bool unreachable(const R& r) {
        if (r) return false;
        const auto* e = r.api();
        if (!e) {
            if (r.err().code == tts::tts_errc::bad_argument || r.err().code == tts::tts_errc::rate_limit_wait) return false;
            if (r.err().code == tts::tts_errc::bad_response)
                fail(claim_kind::api_unreachable, r.err().id(),
                     fmt::format("not The Things Stack's API: {}: {}", hop(), detail_of(r.err())),
                     "check that --tts is The Things Stack's URL (https://<cluster host>)");
            else
                fail(claim_kind::api_unreachable, r.err().id(),
                     fmt::format("cannot reach The Things Stack: {}: {}", hop(), detail_of(r.err())),
                     "check --tts, the network path and --ca; --resolve maps a name to another address");
            return true;
        }
        if (e->http_status == 401 || e->is("pkg/auth:token")) {
            fail(claim_kind::api_unreachable, r.err().id(),
                 fmt::format("The Things Stack does not accept the API key: {}: {}", hop(), detail_of(r.err())),
                 "check the API key (TTIGCTL_API_KEY or --api-key-file): it may be mistyped, deleted or expired");
            out.http_status = e->http_status;
            out.tts_error = chain_of(*e);
            return true;
        }
        return false;
    }

    std::string detail_of(const proto::error& e) const {
        std::string m = e.code.message();
        if (!e.detail.empty()) m += ": " + e.detail;
        return scrub(m);
    }

    void fail(claim_kind k, std::string cause, std::string message, std::string fix) {
        out.kind = k;
        out.cause = std::move(cause);
        out.message = scrub(message);
        out.fix = std::move(fix);
    }

    void refuse(std::string_view cause, std::string message, std::string fix = {}) {
        const auto* info = find_claim_cause(cause);
        if (fix.empty() && info) fix = std::string(info->fix);
        fail(cause.starts_with("claim.") ? claim_kind::invalid : claim_kind::refused, std::string(cause), std::move(message),
             std::move(fix));
    }

    // A TTS refusal with no cause of ours: its name passes through.
    template <class R>
    void reject(const R& r, std::string_view what,
                std::string fix = "act on The Things Stack's message; quote the correlation id to support") {
        const auto* e = r.api();
        if (e && e->http_status == 429)
            fix = fmt::format("the rate limit was reached: wait {} s and run again", e->retry_after().count());
        else if (!e && r.err().code == tts::tts_errc::rate_limit_wait)
            fix = "the rate limit asks for a long wait: run again later";
        fail(claim_kind::rejected, r.err().id(), fmt::format("{}: {}: {}", what, hop(), detail_of(r.err())), std::move(fix));
        if (e) {
            out.http_status = e->http_status;
            out.tts_error = chain_of(*e);
        }
    }

    gateway_summary summarize(const tts::gateway& g, bool secret_known) const {
        gateway_summary s;
        s.gateway_id = g.ids.gateway_id;
        s.eui = g.ids.eui;
        s.name = g.name;
        s.gateway_server_address = g.gateway_server_address;
        for (const auto& p : g.frequency_plan_ids)
            if (!p.empty()) s.frequency_plan_ids.push_back(p);
        s.require_authenticated_connection = g.require_authenticated_connection;
        if (secret_known) s.lns_secret_set = g.lbs_lns_secret.has_value() && !g.lbs_lns_secret->value.empty();
        s.target_cups_uri = g.target_cups_uri;
        if (auto it = g.attributes.find("cups-last-seen"); it != g.attributes.end()) s.cups_last_seen = it->second;
        s.created_at = g.created_at;
        return s;
    }

    // GET /gateways/{id} with the summary's fields; without lbs_lns_secret when the key may not
    // read secrets. nullopt (and a warning) when it cannot be read.
    std::optional<gateway_summary> read_summary(const std::string& id) {
        std::vector<std::string> mask{"name",       "gateway_server_address", "frequency_plan_ids", "require_authenticated_connection",
                                      "attributes", "target_cups_uri",        "lbs_lns_secret"};
        auto g = run(tts::calls::get_gateway(id, mask));
        bool secret_known = true;
        if (!g && g.api() && g.api()->is("pkg/auth/rights:insufficient_gateway_rights")) {
            mask.pop_back();
            secret_known = false;
            g = run(tts::calls::get_gateway(id, mask));
        }
        if (!g) {
            out.warnings.push_back(scrub(fmt::format("cannot read gateway {}: {}", id, g.err().what())));
            return std::nullopt;
        }
        return summarize(*g, secret_known);
    }

    static bool looks_manual(const gateway_summary& s) {
        return !s.require_authenticated_connection && s.lns_secret_set != true && !s.cups_last_seen && s.target_cups_uri.empty();
    }

    std::string next_step(const gateway_summary* g) const {
        const auto eui = *out.eui;
        if (g && g->cups_last_seen)
            return fmt::format("the gateway last fetched its configuration from The Things Stack's CUPS at {}; nothing to do",
                               *g->cups_last_seen);
        if (eui.looks_like_ttig())
            return fmt::format(
                "the TTIG picks up its new configuration at its next CUPS check (within 24 h); to make it ask now, hold RESET 5 s "
                "(factory reset: it keeps the claim, forgets Wi-Fi) and set up Wi-Fi again (SETUP 10 s, join MINIHUB-{} with the "
                "label's Wi-Fi password, open http://192.168.4.1); a power cycle alone may not do it",
                eui.hex().substr(10));
        return "the gateway picks up its configuration at its next CUPS contact; restart it to make it ask now";
    }

    void claim();
    void claim_for(const tts::account_ids& collaborator);  // steps 3 to 7

private:
    bool prepare();
    bool check_existing();
    void map_claim_error(const tts::result<tts::claim_result>& r, const tts::claim_request& body);
};

bool run_state::prepare() {
    out.input = req.code;
    out.gateway_id = req.gateway_id;
    out.frequency_plan_ids = req.frequency_plan_ids;
    auto parsed = proto::parse_eui(req.code);
    if (!parsed) {
        fail(claim_kind::invalid, parsed.err().id(), fmt::format("{}: {}", req.code, detail_of(parsed.err())),
             "give the 12-digit code after (92) on the label, or the 16-digit EUI");
        return false;
    }
    out.eui = parsed->eui;
    out.eui_form = std::string(proto::to_string(parsed->form));
    if (!valid_gateway_id(req.gateway_id)) {
        refuse("claim.bad_gateway_id", fmt::format("gateway ID `{}` is not valid: lower-case letters, digits and single dashes, 3 to 36 "
                                                   "characters, starting and ending with a letter or digit",
                                                   req.gateway_id));
        return false;
    }
    if (req.frequency_plan_ids.empty() || req.frequency_plan_ids.size() > 8) {
        refuse("claim.bad_frequency_plans",
               fmt::format("{} frequency plan IDs given; a claim takes 1 to 8", req.frequency_plan_ids.size()));
        return false;
    }
    if (req.owner_token.empty()) {
        refuse("claim.no_owner_token",
               "no owner token: the claim needs the gateway's owner token (a TTIG: the Wi-Fi password on its label)");
        return false;
    }
    out.gateway_server_address =
        req.gateway_server_address.empty() ? gateway_server_address_of(client.base_url()) : req.gateway_server_address;
    const auto& a = out.gateway_server_address;
    if (a.empty() || a.find("://") != std::string::npos || a.find_first_of("/ \t@?#") != std::string::npos) {
        refuse("claim.bad_gs_address", fmt::format("Gateway Server address `{}`: use host[:port] without a scheme or path", a));
        return false;
    }
    return true;
}

// Step 5: a gateway of the caller already holds the EUI. Returns true when that settles the run.
bool run_state::check_existing() {
    tts::list_options lo;
    lo.field_mask = {"name"};
    lo.limit = 10;
    auto found = run(tts::calls::search_gateways_by_eui(*out.eui, lo));
    if (unreachable(found)) return true;
    if (const auto* e = found.api(); !found && e && (e->http_status >= 500 || e->http_status == 429)) {
        // Passing: without this answer a claim whose earlier answer was lost (made, then the
        // connection dropped) would look like someone else's and be refused. Stop; a re-run settles it.
        reject(found, fmt::format("cannot look for your gateways with EUI {}", out.eui->hex()),
               e->http_status == 429 ? std::string() : "run the same command again (a passing server failure)");
        return true;
    }
    if (!found) {
        out.warnings.push_back(
            scrub(fmt::format("could not look for your gateways with EUI {} ({}); a gateway of yours holding it would "
                              "make the claim fail with eui-claimed-elsewhere",
                              out.eui->hex(), found.err().what())));
        return false;
    }
    const tts::gateway* mine = nullptr;
    for (const auto& g : found->items)
        if (g.ids.eui && *g.ids.eui == *out.eui) mine = &g;
    if (!mine) return false;
    const std::string id = mine->ids.gateway_id;
    out.registered_as = id;
    auto summary = read_summary(id);
    if (!summary) {
        gateway_summary s;
        s.gateway_id = id;
        s.eui = out.eui;
        summary = s;
    }
    out.gateway = summary;
    const bool manual = looks_manual(*summary);
    if (id == req.gateway_id) {
        out.kind = claim_kind::already;
        out.already = true;
        out.message = fmt::format("{} is already claimed as gateway {}: nothing changed", out.eui->hex(), id);
        if (manual)
            out.warnings.push_back(
                "the record looks manually registered (require_authenticated_connection off, no LNS key, never seen by CUPS): if the "
                "gateway never connects, see registered-manually-not-claimed in `ttigctl doctor " +
                id + "`");
        if (!summary->gateway_server_address.empty() && summary->gateway_server_address != out.gateway_server_address)
            out.warnings.push_back(fmt::format("its Gateway Server address is {}, not {} as asked (not changed)",
                                               summary->gateway_server_address, out.gateway_server_address));
        if (summary->frequency_plan_ids != req.frequency_plan_ids && !summary->frequency_plan_ids.empty())
            out.warnings.push_back(fmt::format("its frequency plans are {}, not {} as asked (not changed)",
                                               fmt::format("{}", fmt::join(summary->frequency_plan_ids, ",")),
                                               fmt::format("{}", fmt::join(req.frequency_plan_ids, ","))));
        out.next_step = next_step(&*summary);
        return true;
    }
    if (manual) {
        refuse("registered-manually-not-claimed",
               fmt::format("{} is registered as your gateway {}, which was never claimed (require_authenticated_connection off, no LNS "
                           "key, never seen by CUPS): a TTIG registered by hand never gets its configuration",
                           out.eui->hex(), id),
               fmt::format("delete gateway {} (its EUI is released, the ID {} stays reserved), then run claim again with --id {}", id, id,
                           req.gateway_id));
    } else {
        refuse("eui-claimed-elsewhere", fmt::format("{} is already claimed as your gateway {}, not {}", out.eui->hex(), id, req.gateway_id),
               fmt::format("run again with --id {} to see its state; to move it to {}, delete gateway {} first (its ID stays reserved)", id,
                           req.gateway_id, id));
    }
    return true;
}

void run_state::map_claim_error(const tts::result<tts::claim_result>& r, const tts::claim_request& body) {
    const auto* e = r.api();
    if (!e) {
        reject(r, "the claim was not sent");
        return;
    }
    out.http_status = e->http_status;
    out.tts_error = chain_of(*e);
    const std::string eui = out.eui->hex();
    // Open-source TTS rolls the upstream claim back when creating the gateway fails (tts-api.md §4.9 step 5).
    const std::string rolled_back = e->full_name() == "pkg/deviceclaimingserver:create_gateway" ? "; the claim was rolled back" : "";
    auto any = [&](std::initializer_list<std::string_view> names) {
        for (auto n : names)
            if (e->is(n)) return true;
        return false;
    };
    if (any({"pkg/deviceclaimingserver:gateway_already_exists", "pkg/identityserver:gateway_eui_taken"})) {
        refuse("eui-claimed-elsewhere",
               fmt::format("{} is already registered in The Things Stack, in an account or organization your API key cannot see ({})", eui,
                           out.tts_error));
        return;
    }
    if (any({"pkg/deviceclaimingserver:gateway_claiming_not_supported"})) {
        refuse("eui-not-claimable",
               fmt::format("The Things Stack cannot claim {}: no claiming upstream serves it ({})", eui, out.tts_error));
        return;
    }
    if (any({"pkg/util/store:id_taken"})) {
        // Live or reserved? A public-only read answers 200 for a live gateway, 404 for none (tts-api.md §4.1).
        auto live = run(tts::calls::get_gateway(body.target_gateway_id, {"name"}));
        const std::string which = live ? "a live gateway has it" : "it belonged to a deleted gateway and stays reserved";
        refuse("gateway-id-taken",
               fmt::format("gateway ID {} is taken: {} ({}){}", body.target_gateway_id, which, out.tts_error, rolled_back));
        return;
    }
    if (any({"pkg/auth/rights:no_user_rights", "pkg/auth/rights:insufficient_user_rights", "pkg/auth/rights:no_organization_rights",
             "pkg/auth/rights:insufficient_organization_rights", "pkg/identityserver:admins_create_gateways"})) {
        refuse("claim-no-rights",
               fmt::format("your API key may not create gateways for {} ({}){}", out.collaborator, out.tts_error, rolled_back));
        return;
    }
    if (e->full_name() == "pkg/deviceclaimingserver:claim gateway") {
        // The upstream's error names are not published (tts-api.md §4.9): read its words.
        const std::string t = chain_text(*e);
        if (contains_any(t, {"owner_token", "owner token", "authentication_code", "authentication code", "claim_authentication",
                             "auth_code", "mismatch", "wrong token", "invalid token"})) {
            refuse("owner-token-mismatch", fmt::format("the claiming upstream refused the owner token for {} ({})", eui, out.tts_error));
            return;
        }
        if (contains_any(t, {"claimed", "already"})) {
            refuse(
                "eui-claimed-elsewhere",
                fmt::format("the claiming upstream says {} is claimed elsewhere, by another network or account ({})", eui, out.tts_error));
            return;
        }
    }
    reject(r, "The Things Stack refused the claim");
}

void run_state::claim() {
    if (!prepare()) return;

    // Step 2: who is calling; the collaborator (a fleet checked the key once for every gateway).
    if (!req.check_key && req.collaborator) {
        const auto& c = *req.collaborator;
        out.collaborator = fmt::format("{} {}", c.type == tts::account_ids::kind::organization ? "organization" : "user", c.id);
        claim_for(c);
        return;
    }
    auto who = run(tts::calls::get_auth_info());
    if (unreachable(who)) return;
    if (!who && ((who.api() && who.api()->http_status == 429) || who.err().code == tts::tts_errc::rate_limit_wait)) {
        reject(who, "cannot read who owns the API key");
        return;
    }
    if (!who) {
        fail(claim_kind::api_unreachable, who.err().id(),
             fmt::format("cannot learn who owns the API key: {}: {}", hop(), detail_of(who.err())),
             "check --tts (The Things Stack's URL), the API key and its owner's state");
        if (const auto* e = who.api()) {
            out.http_status = e->http_status;
            out.tts_error = chain_of(*e);
        }
        return;
    }
    std::optional<tts::account_ids> coll = req.collaborator;
    if (!coll) coll = who->account();
    if (!coll) {
        refuse("claim.no_collaborator",
               fmt::format("the API key belongs to no user or organization ({}), so the gateway has no one to belong to",
                           who->entity ? "a gateway or application key" : "no owner in auth_info"));
        return;
    }
    out.collaborator = fmt::format("{} {}", coll->type == tts::account_ids::kind::organization ? "organization" : "user", coll->id);
    claim_for(*coll);
}

void run_state::claim_for(const tts::account_ids& collaborator) {
    const tts::account_ids* coll = &collaborator;
    // Step 3: the plans exist.
    if (req.check_frequency_plans) {
        auto plans = run(tts::calls::list_frequency_plans());
        if (unreachable(plans)) return;
        if (!plans) {
            out.warnings.push_back(scrub(fmt::format("could not list the frequency plans ({}); not checked", plans.err().what())));
        } else {
            std::set<std::string> known;
            for (const auto& p : *plans) known.insert(p.id);
            for (const auto& want : req.frequency_plan_ids) {
                if (known.count(want)) continue;
                std::string list;
                std::size_t n = 0;
                for (const auto& k : known) {
                    if (n++ == 12) {
                        list += ", …";
                        break;
                    }
                    list += (list.empty() ? "" : ", ") + k;
                }
                refuse("claim.unknown_frequency_plan",
                       fmt::format("frequency plan {} is not one of the {} plans of {} ({})", want, known.size(), client.base_url(), list));
                return;
            }
        }
    }

    // Step 4: claimable at all?
    auto info = run(tts::calls::get_claim_info(*out.eui));
    if (unreachable(info)) return;
    if (!info) {
        reject(info, fmt::format("cannot ask whether {} is claimable", out.eui->hex()),
               "check that --tts is a The Things Stack deployment with claiming (TTN / TTS Cloud)");
        return;
    }
    out.supports_claiming = info->supports_claiming;
    out.is_managed = info->is_managed;
    if (!info->supports_claiming) {
        std::string why =
            out.eui->looks_like_ttig() ? "" : " (it does not look like a TTIG EUI: 58A0CB FFFE + the last 6 digits of the label code)";
        refuse("eui-not-claimable",
               fmt::format("{} is not claimable on {}: claim info has no supports_claiming{}", out.eui->hex(), client.base_url(), why));
        return;
    }

    // Step 5: done before?
    if (check_existing()) return;

    // Step 6: the claim.
    tts::claim_request body;
    body.gateway_eui = *out.eui;
    body.authentication_code = req.owner_token;
    body.collaborator = *coll;
    body.target_gateway_id = req.gateway_id;
    body.target_gateway_server_address = out.gateway_server_address;
    body.target_frequency_plan_ids = req.frequency_plan_ids;
    if (req.dry_run) {
        // The body in tts-api.md §4.9's order, the owner token replaced by its length.
        ojson j;
        j["authenticated_identifiers"] = {
            {"gateway_eui", out.eui->hex()},
            {"authentication_code", fmt::format("<owner token, {} bytes, not shown>", req.owner_token.size())}};
        j["collaborator"] = ojson::parse(nlohmann::json(body.collaborator).dump());
        j["target_gateway_id"] = body.target_gateway_id;
        j["target_gateway_server_address"] = body.target_gateway_server_address;
        j["target_frequency_plan_ids"] = body.target_frequency_plan_ids;
        out.planned_request = j.dump();
        out.calls.push_back({"POST", "/api/v3/gcls/claim", "not sent (dry run)", true});
        out.kind = claim_kind::dry_run;
        out.message = fmt::format("{} can be claimed as {} for {}; nothing was changed", out.eui->hex(), req.gateway_id, out.collaborator);
        return;
    }
    auto claimed = run(tts::calls::claim_gateway(body));
    if (!claimed) {
        if (unreachable(claimed)) {
            if (!claimed.api())
                out.fix += "; the claim may or may not have been made: run the same command again (it reports the current state)";
            return;
        }
        map_claim_error(claimed, body);
        return;
    }
    out.kind = claim_kind::claimed;
    out.claimed = true;
    const std::string id = claimed->gateway_id.empty() ? req.gateway_id : claimed->gateway_id;
    out.message = fmt::format("claimed {} as gateway {} for {}", out.eui->hex(), id, out.collaborator);

    // Step 7: read it back.
    if (!req.read_back) return;
    out.gateway = read_summary(id);
    out.next_step = next_step(out.gateway ? &*out.gateway : nullptr);
    if (out.gateway && out.gateway->lns_secret_set == false)
        out.warnings.push_back(
            "the claim left no LNS key in lbs_lns_secret: the gateway cannot get LNS credentials from CUPS (see "
            "`ttigctl doctor --fix`)");
}

ojson opt_bool(const std::optional<bool>& b) {
    return b ? ojson(*b) : ojson();
}
ojson opt_str(const std::string& s) {
    return s.empty() ? ojson() : ojson(s);
}

}  // namespace

std::string_view to_string(claim_kind k) noexcept {
    switch (k) {
        case claim_kind::claimed:
            return "claimed";
        case claim_kind::already:
            return "already";
        case claim_kind::dry_run:
            return "dry_run";
        case claim_kind::refused:
            return "refused";
        case claim_kind::rejected:
            return "rejected";
        case claim_kind::api_unreachable:
            return "api_unreachable";
        case claim_kind::invalid:
            return "invalid";
    }
    return "invalid";
}

std::span<const claim_cause_info> claim_causes() noexcept {
    return causes;
}

const claim_cause_info* find_claim_cause(std::string_view id) noexcept {
    for (const auto& c : causes)
        if (c.id == id) return &c;
    return nullptr;
}

std::string gateway_server_address_of(std::string_view base_url) {
    if (const auto s = base_url.find("://"); s != std::string_view::npos) base_url.remove_prefix(s + 3);
    if (const auto slash = base_url.find('/'); slash != std::string_view::npos) base_url = base_url.substr(0, slash);
    std::string_view host = base_url, port;
    if (!base_url.empty() && base_url.front() == '[') {
        const auto close = base_url.find(']');
        if (close != std::string_view::npos) {
            host = base_url.substr(0, close + 1);
            if (close + 1 < base_url.size() && base_url[close + 1] == ':') port = base_url.substr(close + 2);
        }
    } else if (const auto colon = base_url.rfind(':'); colon != std::string_view::npos) {
        host = base_url.substr(0, colon);
        port = base_url.substr(colon + 1);
    }
    if (port.empty() || port == "443") return std::string(host);
    return fmt::format("{}:{}", host, port);
}

bool valid_gateway_id(std::string_view id) noexcept {
    if (id.size() < 3 || id.size() > 36) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(id.front()) || !alnum(id.back())) return false;
    std::size_t count = 0;
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (alnum(id[i])) {
            ++count;
            continue;
        }
        if (id[i] != '-' || id[i - 1] == '-') return false;
    }
    return count >= 3;
}

claim_outcome claim_gateway(tts::client& client, const claim_request& request) {
    claim_outcome out;
    run_state rs(client, request, out);
    rs.claim();
    return out;
}

nlohmann::ordered_json to_json(const gateway_summary& g) {
    ojson j;
    j["gateway_id"] = g.gateway_id;
    j["eui"] = g.eui ? ojson(g.eui->hex()) : ojson();
    j["name"] = opt_str(g.name);
    j["gateway_server_address"] = g.gateway_server_address;
    j["frequency_plan_ids"] = g.frequency_plan_ids;
    j["require_authenticated_connection"] = g.require_authenticated_connection;
    j["lns_secret_set"] = opt_bool(g.lns_secret_set);
    j["target_cups_uri"] = opt_str(g.target_cups_uri);
    j["cups_last_seen"] = g.cups_last_seen ? ojson(*g.cups_last_seen) : ojson();
    j["created_at"] = g.created_at ? ojson(tts::format_time(*g.created_at)) : ojson();
    return j;
}

nlohmann::ordered_json to_json(const claim_outcome& o) {
    ojson j;
    j["gateway_id"] = o.gateway_id;
    j["eui"] = o.eui ? ojson(o.eui->hex()) : ojson();
    j["claimed"] = o.claimed;
    j["already"] = o.already;
    j["dry_run"] = o.kind == claim_kind::dry_run;
    j["result"] = std::string(to_string(o.kind));
    j["cause"] = opt_str(o.cause);
    j["fix"] = opt_str(o.fix);
    j["message"] = o.message;
    j["tts_error"] = opt_str(o.tts_error);
    j["http_status"] = o.http_status ? ojson(o.http_status) : ojson();
    j["input"] = o.input;
    j["eui_form"] = opt_str(o.eui_form);
    j["collaborator"] = opt_str(o.collaborator);
    j["gateway_server_address"] = opt_str(o.gateway_server_address);
    j["frequency_plan_ids"] = o.frequency_plan_ids;
    j["claim_info"] = {{"supports_claiming", opt_bool(o.supports_claiming)}, {"is_managed", opt_bool(o.is_managed)}};
    j["registered_as"] = opt_str(o.registered_as);
    j["gateway"] = o.gateway ? to_json(*o.gateway) : ojson();
    j["next_step"] = opt_str(o.next_step);
    j["warnings"] = o.warnings;
    ojson calls = ojson::array();
    for (const auto& c : o.calls)
        calls.push_back({{"method", c.method}, {"target", c.target}, {"outcome", c.outcome}, {"writes", c.writes}});
    j["api_calls"] = std::move(calls);
    j["planned_request"] = o.planned_request.empty() ? ojson() : ojson::parse(o.planned_request);
    return j;
}

}  // namespace ttig::provision
