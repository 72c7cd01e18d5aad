#include <ttig/provision/rotate.hpp>

#include <ttig/net/ws_client.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/tts/redact.hpp>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace ttig::provision {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::string_view to_string(rotate_status s) noexcept {
    switch (s) {
        case rotate_status::done: return "done";
        case rotate_status::pending: return "pending-check-in";
        case rotate_status::failed: return "failed";
        case rotate_status::rolled_back: return "rolled-back";
        case rotate_status::planned: return "planned";
    }
    return "failed";
}

namespace {

constexpr std::string_view op_kind = "rotate";

std::string subject_of(const std::string& gateway_id) { return "gateway:" + gateway_id; }

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// The key ID inside a token "NNSXS.<ID>.<secret>" (tts-api.md §2.1), or "".
std::string key_id_of(std::string_view token) {
    const auto a = token.find('.');
    if (a == std::string_view::npos) return {};
    const auto b = token.find('.', a + 1);
    if (b == std::string_view::npos) return {};
    return std::string(token.substr(a + 1, b - a - 1));
}

std::optional<proto::time_point> time_of(const json& doc, const char* field) {
    if (!doc.contains(field) || !doc[field].is_string()) return std::nullopt;
    return tts::parse_time(doc[field].get<std::string>());
}

// Second resolution: cups-last-seen is RFC 3339 without fraction (Go time.RFC3339). A check-in is
// counted only when its second is after the second of the reference, so a check-in in the same
// second as our change is never mistaken for one after it (we wait for the next instead).
bool later_second(proto::time_point a, proto::time_point ref) {
    return std::chrono::floor<std::chrono::seconds>(a) > std::chrono::floor<std::chrono::seconds>(ref);
}

const std::vector<std::string>& disabled_rights() {
    static const std::vector<std::string> r{std::string(tts::rights::gateway_info)};
    return r;
}

std::string random_suffix() {
    std::random_device rd;
    return fmt::format("{:06x}", rd() & 0xffffffu);
}

class rotation {
public:
    rotation(const rotate_options& o, rotate_env& env) : o_(o), env_(env), api_(env.api) {
        start_ = std::chrono::steady_clock::now();
    }

    rotate_result run(std::chrono::nanoseconds wait);
    rotate_result plan();
    rotate_result rollback();

private:
    // ---- bookkeeping ----
    struct stop {
        rotate_status status;
        std::string id, message, waiting;
        bool transient = false;
    };
    using step_result = std::optional<stop>;  // nullopt: go on

    const proto::clock& clock() const { return env_.clock ? *env_.clock : system_clock_; }
    void emit(const std::string& step, const std::string& status, const std::string& text) {
        if (env_.progress) env_.progress({step, status, text});
    }
    template <class R>
    R call(R r) {
        ++calls_;
        return r;
    }
    bool journal(const std::string& state, const std::string& step, const std::string& status, json detail = json::object()) {
        store::journal_step s;
        s.name = step;
        s.status = status;
        s.detail = std::move(detail);
        if (auto r = env_.journal->record(op_, state, doc_, s); !r) {
            journal_error_ = r.err().what();
            return false;
        }
        ++writes_;
        emit(step, status, s.detail.value("text", std::string()));
        if (env_.after_journal) env_.after_journal(step + ":" + status);
        return true;
    }
    stop journal_failed() { return {rotate_status::failed, "rotate.journal", "cannot write the journal: " + journal_error_, {}}; }

    template <class R>
    stop api_failed(const std::string& what, const R& r) {
        std::string id = r.err().id();
        std::string msg = fmt::format("{}: {}", what, tts::redact_secrets(r.err().what()));
        if (const auto* e = r.api(); e && e->named()) id = "tts." + e->full_name();
        const auto* e = r.api();
        return {rotate_status::failed, id, msg, {}, !e || e->http_status == 429 || e->http_status >= 500};
    }

    tts::client& api() { return api_; }
    tts::client_options options_with(const std::string& base, const std::string& key) const {
        auto c = env_.api;
        if (!base.empty()) c.base_url = base;
        if (!key.empty()) c.api_key = key;
        return c;
    }

    // ---- steps ----
    step_result preflight();
    step_result ensure_new_key(const char* kind);
    step_result verify_cups_key();
    step_result verify_lns_key();
    step_result install_cups();
    step_result wait_check_in(const char* field_after, const char* field_seen, const std::string& what);
    step_result disable_old(const char* kind);
    step_result cutover();
    step_result wait_connected();
    step_result delete_old(const char* kind);
    step_result finish_done();

    std::optional<tts::gateway> read_gateway(std::string& error, const std::vector<std::string>& mask);
    std::string stats_base() const;
    std::string target_address() const;

    rotate_result result_of(const stop& s);

    rotate_options o_;  // on a resume: the journal's plan
    rotate_env& env_;
    tts::client api_;
    store::journal_op op_;
    json doc_ = json::object();
    std::map<std::string, std::string> tokens_;  // kind -> the new key's token (memory only)
    std::size_t calls_ = 0;
    std::string journal_error_;
    std::vector<std::string> warnings_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::nanoseconds waited_{0};
    proto::system_clock system_clock_;
    std::size_t writes_ = 0;       // journal writes by this run
    std::size_t poll_calls_ = 0;   // calls of looks that found the station still to come
    std::chrono::steady_clock::duration poll_time_{0};
};

std::optional<tts::gateway> rotation::read_gateway(std::string& error, const std::vector<std::string>& mask) {
    auto g = call(api().get_gateway(o_.gateway_id, mask));
    if (!g) {
        error = tts::redact_secrets(g.err().what());
        return std::nullopt;
    }
    return std::move(*g);
}

std::string rotation::target_address() const {
    if (!doc_.value("move_to", std::string()).empty()) return doc_["move_to"].get<std::string>();
    return doc_.value("gs_address", std::string());
}

// The REST base URL of the Gateway Server the station connects to after the rotation: the
// Identity Server's when the address names the same host, else https://<gs host>.
std::string rotation::stats_base() const {
    if (doc_.contains("stats_base") && doc_["stats_base"].is_string() && !doc_["stats_base"].get<std::string>().empty())
        return doc_["stats_base"].get<std::string>();
    const std::string base = env_.api.base_url;
    auto addr = proto::tts_parse_address("wss", target_address());
    auto is = proto::tts_parse_address("https", base.substr(base.find("://") == std::string::npos ? 0 : base.find("://") + 3));
    if (!addr || !is || addr->host == is->host) return base;
    return "https://" + (addr->host.find(':') != std::string::npos ? "[" + addr->host + "]" : addr->host);
}

// ---- preflight ----------------------------------------------------------------------------------

rotation::step_result rotation::preflight() {
    auto gw = call(api().get_gateway(o_.gateway_id, {"ids", "gateway_server_address", "attributes", "target_cups_uri", "target_cups_key",
                                                     "lbs_lns_secret"}));
    if (!gw) return api_failed("GET gateway " + o_.gateway_id, gw);
    auto rights = call(api().list_gateway_rights(o_.gateway_id));
    if (!rights) return api_failed("GET rights", rights);
    std::vector<std::string> missing;
    for (auto r : {tts::rights::gateway_info, tts::rights::gateway_settings_basic, tts::rights::gateway_settings_api_keys,
                   tts::rights::gateway_read_secrets, tts::rights::gateway_write_secrets})
        if (std::find(rights->begin(), rights->end(), r) == rights->end() &&
            std::find(rights->begin(), rights->end(), tts::rights::gateway_all) == rights->end())
            missing.emplace_back(r);
    if (!missing.empty())
        return stop{rotate_status::failed, "rotate.no_rights",
                    fmt::format("your API key lacks {} on gateway {} (rotate needs INFO, SETTINGS_BASIC, SETTINGS_API_KEYS, READ_SECRETS, "
                                "WRITE_SECRETS)",
                                fmt::join(missing, ", "), o_.gateway_id),
                    {}};
    if (!gw->target_cups_uri.empty())
        return stop{rotate_status::failed, "cups-target-mode-stuck",
                    fmt::format("target_cups_uri is set ({}): the gateway is being redirected to another CUPS server; clear it first "
                                "(ttigctl doctor {} --fix) or rotate there",
                                gw->target_cups_uri, o_.gateway_id),
                    {}};
    if (gw->target_cups_key && !gw->target_cups_key->value.empty())
        return stop{rotate_status::failed, "cups-target-mode-stuck",
                    fmt::format("target_cups_key is already set (key {}…) by someone else: CUPS sends this gateway no LNS data while it "
                                "stays; clear it first (ttigctl doctor {} --fix)",
                                key_id_of(gw->target_cups_key->value).substr(0, 4), o_.gateway_id),
                    {}};
    auto seen = gw->attributes.find("cups-last-seen");
    if (seen == gw->attributes.end() || !tts::parse_time(seen->second))
        return stop{rotate_status::failed, "cups-not-yet-contacted",
                    fmt::format("gateway {} has never completed a CUPS exchange with this deployment (no cups-last-seen attribute): it "
                                "cannot receive or prove new keys. Connect it through CUPS first (ttigctl doctor {})",
                                o_.gateway_id, o_.gateway_id),
                    {}};
    if (!o_.move_to.empty()) {
        if (auto a = proto::tts_parse_address("wss", o_.move_to); !a)
            return stop{rotate_status::failed, "rotate.bad_move_to", fmt::format("--move-to {}: {}", o_.move_to, a.err().what()), {}};
        if (!o_.lns)
            return stop{rotate_status::failed, "rotate.bad_move_to", "--move-to moves the LNS connection: it needs the LNS step (drop --cups or add --lns)", {}};
    }
    auto keys = call(api().list_api_keys(o_.gateway_id, 1000));
    if (!keys) return api_failed("GET api-keys", keys);
    const auto cups_set = as_set(tts::rights::cups_key());
    const auto lns_set = as_set(tts::rights::lns_key());
    json old_cups = json::array(), old_lns = json::array();
    for (const auto& k : keys->items) {
        const auto s = as_set(k.rights);
        json entry{{"id", k.id}, {"name", k.name}, {"rights", k.rights}, {"disabled", false}, {"deleted", false}};
        if (s == cups_set) old_cups.push_back(entry);
        else if (s == lns_set) old_lns.push_back(entry);
    }
    doc_["gateway_id"] = o_.gateway_id;
    doc_["eui"] = gw->ids.eui ? gw->ids.eui->hex() : "";
    doc_["cups"] = o_.cups;
    doc_["lns"] = o_.lns;
    doc_["move_to"] = o_.move_to;
    doc_["gs_address"] = gw->gateway_server_address;
    doc_["old_cups"] = o_.cups ? old_cups : json::array();
    doc_["old_lns"] = o_.lns ? old_lns : json::array();
    doc_["stats_base"] = std::string();
    doc_["stats_base"] = stats_base();
    doc_["cups_last_seen_before"] = seen->second;
    if (o_.lns && gw->lbs_lns_secret && !gw->lbs_lns_secret->value.empty())
        doc_["lns_secret_key_before"] = key_id_of(gw->lbs_lns_secret->value);
    if (o_.cups && old_cups.empty())
        warnings_.push_back("no CUPS key with exactly the Console's rights (INFO, SETTINGS_BASIC, READ_SECRETS) exists: none will be revoked");
    warnings_.push_back("every key creation and rights change e-mails the gateway's administrative contact (The Things Stack's api_key_created / api_key_changed notifications)");
    if (o_.lns && old_lns.empty())
        warnings_.push_back("no LNS key with exactly the Console's rights (INFO, LINK) exists: none will be revoked");
    return std::nullopt;
}

// ---- keys -----------------------------------------------------------------------------------------

// Makes sure doc_[kind] names a key this process holds the token of, or one already installed.
rotation::step_result rotation::ensure_new_key(const char* kind) {
    json& k = doc_[kind];
    if (!k.is_object()) k = json::object();
    if (k.value("installed", false)) return std::nullopt;
    if (tokens_.count(kind)) return std::nullopt;
    const std::string step = std::string(kind == std::string("new_cups") ? "cups" : "lns");
    // A key from an earlier run: installed (crash after the install call), or not (delete it).
    if (k.contains("id") && k["id"].is_string()) {
        const std::string id = k["id"].get<std::string>();
        std::string err;
        auto gw = read_gateway(err, {"target_cups_key", "lbs_lns_secret", "updated_at"});
        if (!gw) return stop{rotate_status::failed, "rotate.gateway", "GET gateway: " + err, {}, true};
        const auto& secret = step == "cups" ? gw->target_cups_key : gw->lbs_lns_secret;
        if (secret && key_id_of(secret->value) == id) {
            k["installed"] = true;
            if (step == "cups" && gw->updated_at) doc_["t_install"] = tts::format_time(*gw->updated_at);
            if (!journal(step + ".installed", step + ".install", "done", {{"key_id", id}, {"text", "found installed on resume"}}))
                return journal_failed();
            return std::nullopt;
        }
        auto d = call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
        if (!d && !(d.api() && d.api()->http_status == 404)) return api_failed("DELETE uninstalled key " + id, d);
        k = json::object();
        if (!journal(step + ".deleted_uninstalled", step + ".create", "undone",
                     {{"key_id", id}, {"text", fmt::format("deleted key {} that was created but not installed before an interruption", id)}}))
            return journal_failed();
    }
    // An intent without a result: the create call may have succeeded; delete keys with that name.
    if (k.contains("name") && k["name"].is_string()) {
        const std::string name = k["name"].get<std::string>();
        auto keys = call(api().list_api_keys(o_.gateway_id, 1000));
        if (!keys) return api_failed("GET api-keys", keys);
        for (const auto& x : keys->items)
            if (x.name == name) {
                auto d = call(api().delete_api_key(o_.gateway_id, x.id, tts::api_key_delete::delete_route));
                if (!d && !(d.api() && d.api()->http_status == 404)) return api_failed("DELETE orphan key " + x.id, d);
                if (!journal(step + ".orphan_deleted", step + ".create", "undone",
                             {{"key_id", x.id}, {"text", fmt::format("deleted orphan key {} ({}) from an interrupted create", x.id, name)}}))
                    return journal_failed();
            }
        k = json::object();
    }
    const std::string name = fmt::format("{}-key-ttigctl-{}", step, o_.key_name_suffix.empty() ? random_suffix() : o_.key_name_suffix);
    k["name"] = name;
    if (!journal(step + ".intent", step + ".create", "intent", {{"name", name}})) return journal_failed();
    const auto rights = step == "cups" ? tts::rights::cups_key() : tts::rights::lns_key();
    auto created = call(api().create_api_key(o_.gateway_id, name, rights));
    if (!created) {
        // The name stays journaled as the intent: the call may have created the key before the
        // answer was lost, and the next run deletes whatever carries this name.
        (void)journal(step + ".create_failed", step + ".create", "failed", {{"name", name}});
        return api_failed("POST api-keys (" + name + ")", created);
    }
    k["id"] = created->id;
    tokens_[kind] = created->key;
    if (!journal(step + ".created", step + ".create", "done",
                 {{"key_id", created->id}, {"name", name}, {"text", fmt::format("created {} key {} ({})", step, created->id, name)}}))
        return journal_failed();
    return std::nullopt;
}

// The Identity Server accepts the new CUPS key with the three rights CUPS checks.
rotation::step_result rotation::verify_cups_key() {
    if (doc_["new_cups"].value("installed", false)) return std::nullopt;
    tts::client c(options_with({}, tokens_.at("new_cups")));
    auto info = call(c.get_auth_info());
    std::string why;
    // A passing failure says nothing about the key: stop and let a later run (which deletes this
    // uninstalled key and makes another) try again.
    if (!info && (!info.api() || info.api()->http_status == 429 || info.api()->http_status >= 500)) return api_failed("GET auth_info with the new CUPS key", info);
    if (!info) why = tts::redact_secrets(info.err().what(), tokens_.at("new_cups"));
    else if (!info->key) why = "auth_info names no API key";
    else {
        const auto have = as_set(info->key->rights);
        for (const auto& r : tts::rights::cups_key())
            if (!have.count(r)) why += (why.empty() ? "missing " : ", ") + r;
    }
    if (why.empty()) return std::nullopt;
    const std::string id = doc_["new_cups"].value("id", std::string());
    (void)call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
    doc_["new_cups"] = json::object();
    tokens_.erase("new_cups");
    (void)journal("cups.rejected", "cups.verify", "failed", {{"key_id", id}, {"text", why}});
    return stop{rotate_status::failed, "rotate.new_key_rejected",
                fmt::format("the new CUPS key {} is not accepted with the CUPS rights ({}); deleted it, nothing else changed", id, why), {}};
}

// The target Gateway Server accepts the new LNS key at /router-info (which checks RIGHT_GATEWAY_LINK
// and connects nothing; /traffic would disconnect the real gateway).
rotation::step_result rotation::verify_lns_key() {
    if (doc_["new_lns"].value("installed", false)) return std::nullopt;
    auto addr = proto::tts_parse_address("wss", target_address());
    std::string why;
    bool passing = false;  // a transport failure or 5xx/429 at the upgrade: says nothing about the key
    if (!addr) why = "no Gateway Server address to check the key at";
    else {
        const std::string url = addr->uri() + "/router-info";
        const std::string token = tokens_.at("new_lns");
        boost::asio::io_context ioc;
        net::ws_client ws(ioc.get_executor(), env_.net);
        net::ws_connect_options wo;
        wo.headers = {"Authorization: " + token};
        wo.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(env_.api.deadline);
        why = "no answer from " + url;
        auto eui = proto::parse_eui(doc_.value("eui", std::string()));
        ++calls_;
        ws.async_connect(url, wo, [&](proto::result<proto::http_response> up) {
            if (!up) {
                const auto& refused = ws.handshake_response();
                why = refused ? fmt::format("{}: upgrade refused with HTTP {}", url, refused->status) : tts::redact_secrets(up.err().what(), token);
                passing = !refused || refused->status == 429 || refused->status >= 500;
                return;
            }
            const std::string msg = proto::encode_router_info_request({eui ? eui->eui : proto::eui64{}, {}});
            ws.async_send_text(msg, [&](proto::result<void> sent) {
                if (!sent) {
                    why = sent.err().what();
                    passing = true;
                    return;
                }
                ws.async_read(wo.deadline, [&](proto::result<net::ws_message> m) {
                    if (!m) {
                        why = m.err().what();
                        passing = true;
                        return;
                    }
                    auto j = json::parse(m->data, nullptr, false);
                    if (j.is_object() && j.contains("uri") && !j.contains("error")) why.clear();
                    else why = fmt::format("{} answered {}", url, j.is_object() && j.contains("error") ? j["error"].dump() : "no uri");
                    ws.drop();
                });
            });
        });
        ioc.run_for(wo.deadline + 200ms);
        if (why.starts_with("no answer from ")) passing = true;
    }
    if (why.empty()) return std::nullopt;
    if (passing) return stop{rotate_status::failed, "rotate.lns_check_failed", fmt::format("could not check the new LNS key: {}", why), {}, true};
    const std::string id = doc_["new_lns"].value("id", std::string());
    (void)call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
    doc_["new_lns"] = json::object();
    tokens_.erase("new_lns");
    (void)journal("lns.rejected", "lns.verify", "failed", {{"key_id", id}, {"text", why}});
    return stop{rotate_status::failed, "rotate.new_key_rejected",
                fmt::format("the Gateway Server does not accept the new LNS key {} ({}); deleted it, nothing else changed", id, why), {}};
}

rotation::step_result rotation::install_cups() {
    json& k = doc_["new_cups"];
    if (k.value("installed", false)) return std::nullopt;
    auto u = call(api().update_gateway(o_.gateway_id, tts::gateway_update().target_cups_key(tokens_.at("new_cups"))));
    if (!u) return api_failed("PUT target_cups_key", u);
    std::string err;
    auto gw = read_gateway(err, {"updated_at"});
    if (!gw || !gw->updated_at) return stop{rotate_status::failed, "rotate.gateway", "GET gateway after the install: " + err, {}, true};
    k["installed"] = true;
    doc_["t_install"] = tts::format_time(*gw->updated_at);
    if (!journal("cups.installed", "cups.install", "done",
                 {{"key_id", k["id"]}, {"at", doc_["t_install"]}, {"text", "target_cups_key set: the next CUPS check-in delivers the new CUPS key"}}))
        return journal_failed();
    return std::nullopt;
}

// cups-last-seen after doc_[field_after]: records it in doc_[field_seen].
rotation::step_result rotation::wait_check_in(const char* field_after, const char* field_seen, const std::string& what) {
    if (doc_.contains(field_seen)) return std::nullopt;
    const auto after = time_of(doc_, field_after);
    if (!after) return stop{rotate_status::failed, "rotate.journal", fmt::format("journal lacks {}", field_after), {}};
    std::string err;
    auto gw = read_gateway(err, {"attributes"});
    if (!gw) return stop{rotate_status::failed, "rotate.gateway", "GET gateway: " + err, {}, true};
    auto it = gw->attributes.find("cups-last-seen");
    const auto seen = it == gw->attributes.end() ? std::nullopt : tts::parse_time(it->second);
    if (seen && later_second(*seen, *after)) {
        doc_[field_seen] = it->second;
        if (!journal(std::string(field_seen), field_seen, "done", {{"cups_last_seen", it->second}, {"text", "the station checked in: " + what}}))
            return journal_failed();
        return std::nullopt;
    }
    return stop{rotate_status::pending, {}, {},
                fmt::format("waiting for the station's next CUPS check-in ({}). A connected station asks CUPS every 24 h; press RESET "
                            "on a TTIG (not a power cycle) to make it ask at once. Last check-in: {}",
                            what, it == gw->attributes.end() ? "never" : it->second)};
}

rotation::step_result rotation::disable_old(const char* kind) {
    json& list = doc_[kind];
    const std::string step = std::string(kind) == "old_cups" ? "cups.disable" : "lns.disable";
    for (auto& k : list) {
        if (k.value("disabled", false) || k.value("deleted", false)) continue;
        const std::string id = k["id"].get<std::string>();
        tts::api_key_update up;
        up.rights = disabled_rights();
        auto r = call(api().update_api_key(o_.gateway_id, id, up));
        if (!r && !(r.api() && r.api()->http_status == 404)) return api_failed(fmt::format("PUT api-keys/{} (reduce rights)", id), r);
        k["disabled"] = true;
        if (!r) k["deleted"] = true;  // gone already
        if (!journal(step, step, "done",
                     {{"key_id", id}, {"rights_before", k["rights"]}, {"text", fmt::format("old key {} ({}) reduced to RIGHT_GATEWAY_INFO (reversible)", id, k.value("name", ""))}}))
            return journal_failed();
    }
    return std::nullopt;
}

rotation::step_result rotation::cutover() {
    if (doc_.contains("t_cutover")) return std::nullopt;
    tts::gateway_update u;
    if (o_.cups) u.target_cups_key(std::nullopt);
    if (o_.lns && !doc_["new_lns"].value("installed", false)) u.lbs_lns_secret(tokens_.at("new_lns"));
    if (!o_.move_to.empty()) u.gateway_server_address(o_.move_to);
    if (!u.empty()) {
        auto r = call(api().update_gateway(o_.gateway_id, u));
        if (!r) return api_failed(fmt::format("PUT gateway ({})", fmt::join(u.paths(), ", ")), r);
    }
    std::string err;
    auto gw = read_gateway(err, {"updated_at"});
    if (!gw || !gw->updated_at) return stop{rotate_status::failed, "rotate.gateway", "GET gateway after the cutover: " + err, {}, true};
    if (o_.lns) doc_["new_lns"]["installed"] = true;
    doc_["t_cutover"] = tts::format_time(*gw->updated_at);
    if (!journal("cutover", "cutover", "done",
                 {{"at", doc_["t_cutover"]}, {"paths", u.paths()},
                  {"text", fmt::format("record updated ({}): the next check-in {}", fmt::join(u.paths(), ", "),
                                       o_.lns ? "delivers the new LNS key" : "proves the new CUPS key")}}))
        return journal_failed();
    return std::nullopt;
}

rotation::step_result rotation::wait_connected() {
    if (doc_.contains("connected_at")) return std::nullopt;
    const auto since = time_of(doc_, "checkin2");
    tts::client c(options_with(doc_.value("stats_base", std::string()), {}));
    auto s = call(c.get_connection_stats(o_.gateway_id, doc_.value("stats_base", std::string())));
    if (s && s->connected() && s->connected_at && since && std::chrono::floor<std::chrono::seconds>(*s->connected_at) >= *since) {
        doc_["connected_at"] = tts::format_time(*s->connected_at);
        if (!journal("lns.proven", "lns.connected", "done",
                     {{"connected_at", doc_["connected_at"]}, {"text", "the station connected with the new LNS key"}}))
            return journal_failed();
        return std::nullopt;
    }
    std::string state = "no connection stats";
    if (s) state = s->connected() ? fmt::format("connected since {} (before the check-in)", s->connected_at ? tts::format_time(*s->connected_at) : "?")
                                  : "disconnected";
    else if (s.api()) state = fmt::format("stats: HTTP {} {}", s.api()->http_status, s.api()->full_name());
    return stop{rotate_status::pending, {}, {},
                fmt::format("waiting for the station to connect with the new LNS key on {} (it reconnects right after the check-in "
                            "that delivered it); now: {}",
                            doc_.value("stats_base", std::string()), state)};
}

rotation::step_result rotation::delete_old(const char* kind) {
    const std::string step = std::string(kind) == "old_cups" ? "cups.delete" : "lns.delete";
    for (auto& k : doc_[kind]) {
        if (k.value("deleted", false)) continue;
        const std::string id = k["id"].get<std::string>();
        auto r = call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
        if (!r && !(r.api() && r.api()->http_status == 404)) return api_failed(fmt::format("DELETE api-keys/{}", id), r);
        k["deleted"] = true;
        if (!journal(step, step, "done", {{"key_id", id}, {"text", fmt::format("old key {} ({}) deleted", id, k.value("name", ""))}}))
            return journal_failed();
    }
    return std::nullopt;
}

rotate_result rotation::result_of(const stop& s) {
    rotate_result r;
    r.status = s.status;
    r.state = op_.state;
    r.waiting_for = s.waiting;
    r.error_id = s.id;
    r.message = s.message;
    r.transient = s.transient;
    r.warnings = warnings_;
    r.journal_doc = nlohmann::ordered_json::parse(doc_.dump());
    if (op_.id != 0)
        if (auto st = env_.journal->steps(op_.id)) r.steps = std::move(*st);
    r.api_calls = calls_ - poll_calls_;
    r.poll_calls = poll_calls_;
    r.tool_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_ - waited_ - poll_time_).count();
    return r;
}

rotate_result rotation::run(std::chrono::nanoseconds wait) {
    if (!env_.journal) return result_of({rotate_status::failed, "rotate.journal", "no journal", {}});
    auto open = env_.journal->open_op(op_kind, subject_of(o_.gateway_id));
    if (!open) return result_of({rotate_status::failed, "rotate.journal", open.err().what(), {}});
    if (*open) {
        op_ = **open;
        doc_ = op_.doc;
        if (doc_.value("cups", true) != o_.cups || doc_.value("lns", true) != o_.lns || doc_.value("move_to", std::string()) != o_.move_to) {
            // The journal's plan wins on a resume: say so.
            warnings_.push_back(fmt::format("resuming the rotation started {} with its own plan (cups: {}, lns: {}, move-to: '{}')", op_.created_at,
                                            doc_.value("cups", true), doc_.value("lns", true), doc_.value("move_to", std::string())));
        }
    } else {
        if (auto s = preflight()) return result_of(*s);
        auto b = env_.journal->begin(op_kind, subject_of(o_.gateway_id), "preflight", doc_);
        if (!b) return result_of({rotate_status::failed, "rotate.journal", b.err().what(), {}});
        op_ = *b;
        emit("preflight", "done",
             fmt::format("old CUPS keys: {}, old LNS keys: {}", doc_["old_cups"].size(), doc_["old_lns"].size()));
        if (env_.after_journal) env_.after_journal("preflight:done");
    }
    o_.cups = doc_.value("cups", true);
    o_.lns = doc_.value("lns", true);
    o_.move_to = doc_.value("move_to", std::string());
    const rotate_options& eff = o_;

    const auto deadline = clock().now() + wait;
    for (;;) {
        const auto iteration_start = std::chrono::steady_clock::now();
        const auto calls_before = calls_;
        const auto writes_before = writes_;
        step_result s;
        auto step = [&](auto fn) {
            if (!s) s = fn();
        };
        if (eff.cups) {
            step([&] { return ensure_new_key("new_cups"); });
            step([&] { return verify_cups_key(); });
            step([&] { return install_cups(); });
            step([&] { return wait_check_in("t_install", "checkin1", "it receives the new CUPS key"); });
            step([&] { return disable_old("old_cups"); });
        }
        if (eff.lns) {
            step([&] { return doc_.contains("t_cutover") ? step_result{} : ensure_new_key("new_lns"); });
            step([&] { return doc_.contains("t_cutover") ? step_result{} : verify_lns_key(); });
        }
        step([&] { return cutover(); });
        step([&] {
            return wait_check_in("t_cutover", "checkin2",
                                 eff.cups && eff.lns ? "it proves the new CUPS key and receives the new LNS key"
                                 : eff.cups          ? "it proves the new CUPS key"
                                                     : "it receives the new LNS key");
        });
        if (eff.lns) {
            step([&] { return wait_connected(); });
            step([&] { return disable_old("old_lns"); });
        }
        step([&] { return delete_old("old_cups"); });
        step([&] { return delete_old("old_lns"); });
        if (!s) {
            store::journal_step fin;
            fin.name = "done";
            fin.status = "done";
            fin.detail = {{"text", "rotation proven; only the new keys are valid"}};
            if (auto f = env_.journal->finish(op_, "done", fin); !f) return result_of({rotate_status::failed, "rotate.journal", f.err().what(), {}});
            emit("done", "done", "rotation proven; only the new keys are valid");
            if (env_.after_journal) env_.after_journal("done:done");
            return result_of({rotate_status::done, {}, {}, {}});
        }
        if (s->status != rotate_status::pending) return result_of(*s);
        if (writes_ == writes_before) {  // a look that found nothing new: waiting, not tool time
            poll_calls_ += calls_ - calls_before;
            poll_time_ += std::chrono::steady_clock::now() - iteration_start;
        }
        if (op_.state != "pending-check-in") {
            store::journal_step w;
            w.name = "wait";
            w.status = "waiting";
            w.detail = {{"text", s->waiting}};
            if (auto r = env_.journal->record(op_, "pending-check-in", doc_, w); !r)
                return result_of({rotate_status::failed, "rotate.journal", r.err().what(), {}});
            emit("wait", "waiting", s->waiting);
        }
        if (clock().now() >= deadline) return result_of(*s);
        const auto t0 = std::chrono::steady_clock::now();
        if (env_.sleep) env_.sleep(env_.poll_interval);
        else std::this_thread::sleep_for(env_.poll_interval);
        waited_ += std::chrono::steady_clock::now() - t0;
    }
}

rotate_result rotation::plan() {
    if (env_.journal)
        if (auto open = env_.journal->open_op(op_kind, subject_of(o_.gateway_id)); open && *open) {
            op_ = **open;
            doc_ = op_.doc;
            auto r = result_of({rotate_status::planned, {}, {}, {}});
            r.plan.push_back(fmt::format("an unfinished rotation (state {}, started {}) would be resumed", op_.state, op_.created_at));
            return r;
        }
    if (auto s = preflight()) return result_of(*s);
    auto r = result_of({rotate_status::planned, {}, {}, {}});
    const std::string g = "/api/v3/gateways/" + o_.gateway_id;
    auto& p = r.plan;
    if (o_.cups) {
        p.push_back(fmt::format("POST {}/api-keys  new CUPS key cups-key-ttigctl-…, rights INFO, SETTINGS_BASIC, READ_SECRETS (e-mails the admin contact)", g));
        p.push_back("GET /api/v3/auth_info  with the new key: accepted with those rights?");
        p.push_back(fmt::format("PUT {}  target_cups_key = the new key", g));
        p.push_back("wait: the station's next CUPS check-in (cups-last-seen) delivers it");
        for (const auto& k : doc_["old_cups"]) p.push_back(fmt::format("PUT {}/api-keys/{}  rights -> INFO only (old CUPS key '{}', reversible)", g, k["id"].get<std::string>(), k["name"].get<std::string>()));
    }
    if (o_.lns) {
        p.push_back(fmt::format("POST {}/api-keys  new LNS key lns-key-ttigctl-…, rights INFO, LINK (e-mails the admin contact)", g));
        p.push_back(fmt::format("WS {}/router-info  with the new key: accepted? (never /traffic)", target_address()));
    }
    std::vector<std::string> paths;
    if (o_.cups) paths.emplace_back("target_cups_key = null");
    if (o_.lns) paths.emplace_back("lbs_lns_secret = the new LNS key");
    if (!o_.move_to.empty()) paths.push_back("gateway_server_address = " + o_.move_to);
    p.push_back(fmt::format("PUT {}  {}", g, fmt::join(paths, ", ")));
    p.push_back(std::string("wait: the next check-in ") + (o_.cups ? "proves the new CUPS key" : "delivers the new LNS key"));
    if (o_.lns) {
        p.push_back(fmt::format("GET {}/api/v3/gs/gateways/{}/connection/stats  connected after that check-in", doc_["stats_base"].get<std::string>(), o_.gateway_id));
        for (const auto& k : doc_["old_lns"]) p.push_back(fmt::format("PUT {}/api-keys/{}  rights -> INFO only (old LNS key '{}')", g, k["id"].get<std::string>(), k["name"].get<std::string>()));
    }
    for (const auto& k : doc_["old_cups"]) p.push_back(fmt::format("DELETE {}/api-keys/{}  (old CUPS key '{}')", g, k["id"].get<std::string>(), k["name"].get<std::string>()));
    for (const auto& k : doc_["old_lns"]) p.push_back(fmt::format("DELETE {}/api-keys/{}  (old LNS key '{}')", g, k["id"].get<std::string>(), k["name"].get<std::string>()));
    return r;
}

rotate_result rotation::rollback() {
    auto open = env_.journal->open_op(op_kind, subject_of(o_.gateway_id));
    if (!open) return result_of({rotate_status::failed, "rotate.journal", open.err().what(), {}});
    if (!*open)
        return result_of({rotate_status::failed, "rotate.nothing_to_roll_back",
                          fmt::format("no unfinished rotation of {} in {}", o_.gateway_id, env_.journal->path()), {}});
    op_ = **open;
    doc_ = op_.doc;
    for (const char* kind : {"old_cups", "old_lns"}) {
        if (!doc_.contains(kind)) continue;
        for (auto& k : doc_[kind]) {
            if (k.value("deleted", false)) {
                if (kind == std::string("old_cups") && !doc_.contains("checkin2"))
                    warnings_.push_back(fmt::format("old key {} is already deleted", k["id"].get<std::string>()));
                continue;
            }
            if (!k.value("disabled", false)) continue;
            tts::api_key_update up;
            up.rights = k["rights"].get<std::vector<std::string>>();
            const std::string id = k["id"].get<std::string>();
            auto r = call(api().update_api_key(o_.gateway_id, id, up));
            if (!r) return result_of(api_failed(fmt::format("PUT api-keys/{} (restore rights)", id), r));
            k["disabled"] = false;
            if (!journal("rollback", "rollback.restore", "done", {{"key_id", id}, {"text", fmt::format("old key {} has its rights back", id)}}))
                return result_of(journal_failed());
        }
    }
    // target_cups_key: cleared; the new CUPS key is deleted unless the station may hold it.
    if (doc_.contains("new_cups") && doc_["new_cups"].contains("id")) {
        if (!doc_.contains("t_cutover")) {
            auto u = call(api().update_gateway(o_.gateway_id, tts::gateway_update().target_cups_key(std::nullopt)));
            if (!u) return result_of(api_failed("PUT target_cups_key = null", u));
        }
        if (!doc_.contains("checkin1")) {
            const std::string id = doc_["new_cups"]["id"].get<std::string>();
            auto d = call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
            if (!d && !(d.api() && d.api()->http_status == 404)) return result_of(api_failed("DELETE new CUPS key " + id, d));
            doc_["new_cups"]["deleted"] = true;
            if (!journal("rollback", "rollback.delete_new", "done", {{"key_id", id}, {"text", "new CUPS key deleted (never delivered)"}}))
                return result_of(journal_failed());
        } else {
            warnings_.push_back("the new CUPS key stays valid: the station received it");
        }
    }
    if (doc_.contains("new_lns") && doc_["new_lns"].contains("id") && !doc_["new_lns"].value("installed", false)) {
        const std::string id = doc_["new_lns"]["id"].get<std::string>();
        auto d = call(api().delete_api_key(o_.gateway_id, id, tts::api_key_delete::delete_route));
        if (!d && !(d.api() && d.api()->http_status == 404)) return result_of(api_failed("DELETE new LNS key " + id, d));
    } else if (doc_.contains("new_lns") && doc_["new_lns"].value("installed", false)) {
        warnings_.push_back("the new LNS key stays in lbs_lns_secret and valid: the station may have received it; the old one is valid again too");
    }
    store::journal_step fin;
    fin.name = "rollback";
    fin.status = "done";
    fin.detail = {{"text", "rolled back: every key the station may hold is valid"}};
    if (auto f = env_.journal->finish(op_, "rolled-back", fin); !f) return result_of({rotate_status::failed, "rotate.journal", f.err().what(), {}});
    return result_of({rotate_status::rolled_back, {}, {}, {}});
}

}  // namespace

rotate_result rotate(const rotate_options& o, rotate_env& env, std::chrono::nanoseconds wait) {
    rotation r(o, env);
    return r.run(wait);
}

rotate_result plan_rotation(const rotate_options& o, rotate_env& env) {
    rotation r(o, env);
    return r.plan();
}

rotate_result rollback_rotation(const std::string& gateway_id, rotate_env& env) {
    rotate_options o;
    o.gateway_id = gateway_id;
    rotation r(o, env);
    return r.rollback();
}

nlohmann::ordered_json to_json(const rotate_result& r) {
    nlohmann::ordered_json j;
    j["status"] = std::string(to_string(r.status));
    j["state"] = r.state;
    if (!r.waiting_for.empty()) j["waiting_for"] = r.waiting_for;
    if (!r.error_id.empty()) j["error"] = {{"id", r.error_id}, {"message", r.message}};
    if (!r.plan.empty()) j["plan"] = r.plan;
    j["warnings"] = r.warnings;
    j["journal"] = r.journal_doc;
    auto steps = nlohmann::ordered_json::array();
    for (const auto& s : r.steps)
        steps.push_back({{"seq", s.seq}, {"step", s.name}, {"status", s.status}, {"at", s.at}, {"detail", nlohmann::ordered_json::parse(s.detail.dump())}});
    j["steps"] = std::move(steps);
    j["api_calls"] = r.api_calls;
    j["poll_calls"] = r.poll_calls;
    j["tool_ms"] = r.tool_ms;
    return j;
}

}  // namespace ttig::provision
