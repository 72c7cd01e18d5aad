// fleet status: batch connection stats with bisection, doctor's rules on the stats, pending
// check-ins from the journal (include/ttig/fleet/status.hpp, docs/fleet.md).
#include <ttig/fleet/status.hpp>

#include <ttig/diag/verdict.hpp>
#include <ttig/store/journal.hpp>
#include <ttig/tts/calls.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <span>
#include <thread>

namespace ttig::fleet {

using namespace std::chrono_literals;

std::string_view to_string(gateway_state s) noexcept {
    switch (s) {
        case gateway_state::connected: return "connected";
        case gateway_state::disconnected: return "disconnected";
        case gateway_state::no_stats: return "no-stats";
        case gateway_state::unknown: return "unknown";
        case gateway_state::forbidden: return "forbidden";
        case gateway_state::error: return "error";
    }
    return "error";
}

std::optional<gateway_state> gateway_state_from(std::string_view s) noexcept {
    for (auto st : {gateway_state::connected, gateway_state::disconnected, gateway_state::no_stats, gateway_state::unknown,
                    gateway_state::forbidden, gateway_state::error})
        if (to_string(st) == s) return st;
    return std::nullopt;
}

bool status_result::all_connected() const noexcept {
    if (failure) return false;
    return std::all_of(gateways.begin(), gateways.end(), [](const gateway_status& g) { return g.state == gateway_state::connected; });
}

namespace {

std::string rfc3339(proto::time_point t) { return tts::format_time(t); }

bool not_connected(gateway_state s) { return s == gateway_state::disconnected || s == gateway_state::no_stats; }

}  // namespace

std::vector<diag::atom> stats_atoms(gateway_state s, const std::optional<tts::connection_stats>& stats, const tts::gateway* record,
                                    proto::time_point now) {
    std::vector<diag::atom> out;
    auto add = [&](std::string id, std::string probe, std::string detail) { out.push_back({std::move(id), std::move(probe), std::move(detail)}); };
    // P6, as doctor's stats_atoms reads a single stats answer (a batch's "absent" is its 404).
    if (s == gateway_state::connected && stats && stats->connected_at) {
        add("stats.connected", "P6", fmt::format("connected since {}", rfc3339(*stats->connected_at)));
        if (!stats->last_uplink_received_at || now - *stats->last_uplink_received_at > 1h)
            add("stats.last_uplink.old", "P6",
                stats->last_uplink_received_at ? fmt::format("last uplink {}", rfc3339(*stats->last_uplink_received_at)) : "no uplink since it connected");
    } else if (s == gateway_state::disconnected && stats && stats->disconnected_at) {
        add("stats.disconnected_at", "P6", fmt::format("disconnected at {}", rfc3339(*stats->disconnected_at)));
    } else if (s == gateway_state::no_stats) {
        add("stats.404", "P6", "no connection stats on this cluster (absent from the batch answer)");
    }
    // P2 from the gateway list (without secrets: lbs_lns_secret is not read).
    if (record) {
        const auto& g = *record;
        add("record.found", "P2", fmt::format("gateway {} exists", g.ids.gateway_id));
        if (g.created_at && now - *g.created_at < 24h) add("record.recent", "P2", fmt::format("created {}", rfc3339(*g.created_at)));
        if (g.require_authenticated_connection) add("record.auth_required", "P2", "require_authenticated_connection=true");
        if (g.gateway_server_address.empty()) add("record.gs_address.empty", "P2", "gateway_server_address is empty (Status unknown)");
        if (std::all_of(g.frequency_plan_ids.begin(), g.frequency_plan_ids.end(), [](const std::string& f) { return f.empty(); }))
            add("record.fp.empty", "P2", "frequency_plan_ids is empty");
        if (!g.target_cups_uri.empty()) add("record.target_cups.uri", "P2", fmt::format("target_cups_uri = {}", g.target_cups_uri));
        auto seen = g.attributes.find("cups-last-seen");
        if (seen == g.attributes.end()) {
            add("attr.cups_last_seen.absent", "P2", "no cups-last-seen attribute: TTS CUPS never answered this gateway");
        } else if (auto t = tts::parse_time(seen->second); !t) {
            add("attr.cups_last_seen.absent", "P2", fmt::format("cups-last-seen '{}' is not a time", seen->second));
        } else {
            if (now - *t > 25h) add("attr.cups_last_seen.stale", "P2", fmt::format("cups-last-seen {} (more than 25 h ago)", seen->second));
            else add("attr.cups_last_seen.fresh", "P2", fmt::format("cups-last-seen {}", seen->second));
            if (g.created_at && *t < *g.created_at) add("attr.cups_last_seen.before_created", "P2", "cups-last-seen is older than the record");
        }
    }
    return out;
}

proto::basic_result<std::vector<pending_gateway>, status_failure> read_pending(const std::string& journal_path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(journal_path, ec))
        return status_failure{"fleet.journal", fmt::format("--journal {}: no such journal file", journal_path), "journal"};
    auto j = store::journal::open(journal_path);
    if (!j) return status_failure{"fleet.journal", fmt::format("--journal {}: {}", journal_path, j.err().what()), "journal"};
    std::vector<pending_gateway> out;
    for (std::string_view kind : {"rotate", "fleet"}) {
        auto ops = j->ops(kind, true);
        if (!ops) return status_failure{"fleet.journal", fmt::format("--journal {}: {}", journal_path, ops.err().what()), "journal"};
        for (const auto& op : *ops) {
            if (op.state != "pending-check-in" || !op.subject.starts_with("gateway:")) continue;
            out.push_back({op.subject.substr(8), std::string(kind), op.id, op.state, op.updated_at, false});
        }
    }
    std::sort(out.begin(), out.end(), [](const pending_gateway& a, const pending_gateway& b) {
        return a.gateway_id != b.gateway_id ? a.gateway_id < b.gateway_id : a.op_id < b.op_id;
    });
    return out;
}

namespace {

using stats_map = std::map<std::string, tts::connection_stats>;

struct runner {
    const status_options& o;
    tts::client& c;
    status_result& res;
    std::map<std::string, std::size_t, std::less<>> index;  // gateway ID → res.gateways position
    std::string base;
    bool stats_ok = false;      // a batch answered: the cluster is reachable
    bool auth_checked = false;

    void note(std::string_view line) const {
        if (o.progress) o.progress(line);
    }

    static bool retryable(const tts::result<stats_map>& r) {
        if (const auto* a = r.api()) return a->http_status == 429 || a->http_status >= 500;
        const std::string id = r.err().id();
        return id.starts_with("net.") && id != "net.aborted";
    }

    template <class T>
    void wait_before_retry(const tts::result<T>& r, int attempt) const {
        if (const auto* a = r.api(); a && a->http_status == 429) return;  // the client waits out the bucket itself
        if (o.retry_wait) o.retry_wait(attempt);
        else std::this_thread::sleep_for(std::chrono::milliseconds(250 * attempt));
    }

    tts::result<stats_map> call_batch(std::span<const std::string> ids, bool bisecting) {
        for (int attempt = 0;; ++attempt) {
            auto call = tts::calls::batch_connection_stats(ids, {}, base);
            ++res.calls.batches;
            if (bisecting) ++res.calls.bisect;
            if (attempt > 0) ++res.calls.retries;
            auto r = c.run(call);
            if (r || attempt >= o.max_retries || !retryable(r)) return r;
            wait_before_retry(r, attempt + 1);
        }
    }

    void set(const std::string& id, gateway_state s, std::string error_id = {}, std::string detail = {}) {
        auto it = index.find(id);
        if (it == index.end()) return;
        auto& g = res.gateways[it->second];
        g.state = s;
        g.error_id = std::move(error_id);
        g.error_detail = std::move(detail);
    }

    // Whether the key can read stats at all (else every gateway would be bisected down to itself).
    bool key_can_read_stats() {
        ++res.calls.auth;
        auto a = c.get_auth_info();
        if (!a || a->access_method != "api_key" || !a->key) return true;  // cannot tell: bisect
        for (const auto& r : a->key->rights)
            if (r == tts::rights::gateway_status_read || r == tts::rights::gateway_all || r == tts::rights::all) return true;
        return false;
    }

    void resolve(std::span<const std::string> ids, bool bisecting) {
        if (res.failure || ids.empty()) return;
        auto r = call_batch(ids, bisecting);
        if (r) {
            stats_ok = true;
            for (const auto& id : ids) {
                auto it = r->find(id);
                if (it == r->end()) {
                    set(id, gateway_state::no_stats);
                    continue;
                }
                auto& g = res.gateways[index.at(id)];
                g.state = it->second.connected() ? gateway_state::connected
                          : it->second.disconnected_at ? gateway_state::disconnected
                                                       : gateway_state::no_stats;
                g.stats = std::move(it->second);
            }
            return;
        }
        const auto* api = r.api();
        const int status = api ? api->http_status : 0;
        const std::string id = r.err().id();
        const std::string detail = r.err().detail;
        if (status == 401 || (api && api->is("pkg/identityserver:neither_user_nor_organization"))) {
            res.failure = status_failure{id, fmt::format("batch connection stats on {}: {}", base, r.err().what()), "batch"};
            return;
        }
        if (status == 403 || status == 404 || status == 400) {
            if (ids.size() == 1) {
                set(ids[0], status == 403 ? gateway_state::forbidden : gateway_state::unknown, id, detail);
                return;
            }
            if (status == 403 && !auth_checked) {
                auth_checked = true;
                if (!key_can_read_stats()) {
                    res.failure = status_failure{"fleet.no_status_read",
                                                 "the API key lacks RIGHT_GATEWAY_STATUS_READ: the batch connection stats refuse every gateway", "auth"};
                    return;
                }
            }
            note(fmt::format("batch of {} refused ({}): bisecting", ids.size(), id));
            const std::size_t half = ids.size() / 2;
            resolve(ids.subspan(0, half), true);
            resolve(ids.subspan(half), true);
            return;
        }
        if (!stats_ok && !api) {
            res.failure = status_failure{id, fmt::format("batch connection stats on {}: {}", base, r.err().what()), "batch"};
            return;
        }
        for (const auto& g : ids) set(g, gateway_state::error, id, detail);
    }
};

}  // namespace

status_result fleet_status(const status_options& o) {
    status_result res;
    const auto t0 = std::chrono::steady_clock::now();
    const proto::system_clock sys;
    const proto::clock& clock = o.api.clock ? *o.api.clock : static_cast<const proto::clock&>(sys);
    auto finish = [&]() -> status_result {
        res.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        return std::move(res);
    };

    // The journal first: a path that does not work fails before any call.
    if (!o.journal_path.empty()) {
        auto p = read_pending(o.journal_path);
        if (!p) {
            res.failure = p.err();
            return finish();
        }
        res.pending = std::move(*p);
    }

    tts::client c(o.api);
    runner run{o, c, res, {}, o.stats_base_url.empty() ? o.api.base_url : o.stats_base_url};

    std::vector<std::string> ids;
    std::map<std::string, tts::gateway, std::less<>> records;
    if (o.all) {
        tts::list_options lo;
        lo.limit = 1000;
        lo.order = "gateway_id";
        lo.field_mask = {"gateway_server_address", "frequency_plan_ids", "require_authenticated_connection", "attributes", "target_cups_uri"};
        for (std::uint32_t page = 1;; ++page) {
            lo.page = page;
            tts::result<tts::page<tts::gateway>> r = proto::error{};
            for (int attempt = 0;; ++attempt) {
                ++res.calls.list;
                if (attempt > 0) ++res.calls.retries;
                r = c.list_gateways(tts::list_scope::caller(), lo);
                const auto* a = r.api();
                const bool again = !r && (a ? (a->http_status == 429 || a->http_status >= 500) : r.err().id().starts_with("net."));
                if (r || !again || attempt >= o.max_retries) break;
                run.wait_before_retry(r, attempt + 1);
            }
            if (!r) {
                res.failure = status_failure{r.err().id(), fmt::format("listing gateways (page {}) on {}: {}", page, o.api.base_url, r.err().what()), "list"};
                return finish();
            }
            for (auto& g : r->items) {
                ids.push_back(g.ids.gateway_id);
                records.insert_or_assign(g.ids.gateway_id, std::move(g));
            }
            run.note(fmt::format("listed page {}: {} gateway(s) so far", page, ids.size()));
            if (!r->has_more() || r->items.empty()) break;
        }
    } else {
        ids = o.gateway_ids;
    }

    // De-duplicate, keep the order.
    std::vector<std::string> unique;
    for (auto& id : ids) {
        if (run.index.count(id)) continue;
        run.index.emplace(id, unique.size());
        unique.push_back(id);
        gateway_status g;
        g.gateway_id = id;
        res.gateways.push_back(std::move(g));
    }

    const std::size_t batch = std::clamp<std::size_t>(o.batch_size, 1, tts::batch_stats_max_ids);
    for (std::size_t start = 0; start < unique.size() && !res.failure; start += batch) {
        const std::size_t n = std::min(batch, unique.size() - start);
        run.resolve(std::span<const std::string>(unique.data() + start, n), false);
        run.note(fmt::format("stats: {}/{} gateway(s), {} call(s)", start + n, unique.size(), res.calls.total()));
    }
    if (res.failure) return finish();

    // Doctor's rules on the evidence at hand, then (optionally) the full ladder for a few.
    const auto now = clock.now();
    std::size_t doctored = 0;
    std::set<std::string, std::less<>> pending_ids;
    for (auto& p : res.pending) {
        p.in_scope = run.index.count(p.gateway_id) > 0;
        pending_ids.insert(p.gateway_id);
    }
    for (auto& g : res.gateways) {
        g.pending = pending_ids.count(g.gateway_id) > 0;
        if (!not_connected(g.state)) continue;
        auto rec = records.find(g.gateway_id);
        const auto atoms = stats_atoms(g.state, g.stats, rec == records.end() ? nullptr : &rec->second, now);
        for (const auto& a : atoms) g.atoms.push_back(a.id);
        const auto v = diag::decide(atoms);
        g.cause = v.cause;
        g.confidence = std::string(diag::to_string(v.confidence));
        if (o.doctor && doctored < o.doctor_max) {
            ++doctored;
            auto d = *o.doctor;
            d.gateway = g.gateway_id;
            run.note(fmt::format("doctor {}", g.gateway_id));
            const auto rep = diag::run_doctor(d);
            res.calls.doctor += rep.api_calls;
            g.doctor = diag::to_json(rep);
            if (!rep.api_failure) {
                g.cause = rep.v.cause;
                g.confidence = std::string(diag::to_string(rep.v.confidence));
            }
        }
    }
    for (const auto& g : res.gateways) {
        ++res.counts[std::string(to_string(g.state))];
        if (!g.cause.empty()) ++res.causes[g.cause];
    }
    return finish();
}

nlohmann::ordered_json to_json(const status_result& r) {
    using oj = nlohmann::ordered_json;
    oj j = oj::object();
    oj gws = oj::array();
    for (const auto& g : r.gateways) {
        oj e = oj::object();
        e["gateway_id"] = g.gateway_id;
        e["state"] = to_string(g.state);
        if (g.stats) {
            const auto& s = *g.stats;
            if (s.connected_at) e["connected_at"] = tts::format_time(*s.connected_at);
            if (s.disconnected_at) e["disconnected_at"] = tts::format_time(*s.disconnected_at);
            if (s.last_uplink_received_at) e["last_uplink_received_at"] = tts::format_time(*s.last_uplink_received_at);
            if (!s.protocol.empty()) e["protocol"] = s.protocol;
        }
        if (!g.cause.empty()) {
            e["cause"] = g.cause;
            e["confidence"] = g.confidence;
            e["atoms"] = g.atoms;
        }
        if (!g.error_id.empty()) e["error"] = oj{{"id", g.error_id}, {"detail", g.error_detail}};
        e["pending"] = g.pending;
        if (!g.doctor.is_null()) e["doctor"] = g.doctor;
        gws.push_back(std::move(e));
    }
    j["gateways"] = std::move(gws);
    oj counts = oj::object();
    for (auto s : {gateway_state::connected, gateway_state::disconnected, gateway_state::no_stats, gateway_state::unknown,
                   gateway_state::forbidden, gateway_state::error}) {
        auto it = r.counts.find(std::string(to_string(s)));
        counts[std::string(to_string(s))] = it == r.counts.end() ? 0 : it->second;
    }
    j["counts"] = std::move(counts);
    oj causes = oj::object();
    for (const auto& [k, v] : r.causes) causes[k] = v;
    j["causes"] = std::move(causes);
    oj pend = oj::array();
    for (const auto& p : r.pending)
        pend.push_back(oj{{"gateway_id", p.gateway_id}, {"kind", p.kind}, {"op_id", p.op_id}, {"state", p.state}, {"since", p.since}, {"in_scope", p.in_scope}});
    j["pending"] = std::move(pend);
    j["api_calls"] = oj{{"total", r.calls.total()}, {"list", r.calls.list},     {"batches", r.calls.batches}, {"bisect", r.calls.bisect},
                        {"retries", r.calls.retries}, {"auth", r.calls.auth}, {"doctor", r.calls.doctor}};
    j["elapsed_ms"] = r.elapsed_ms;
    if (r.failure) j["failure"] = oj{{"id", r.failure->id}, {"message", r.failure->message}, {"hop", r.failure->hop}};
    return j;
}

proto::basic_result<status_result, status_failure> status_from_json(const nlohmann::json& j) {
    auto bad = [](std::string what) { return status_failure{"fleet.bad_status_file", std::move(what), "status"}; };
    if (!j.is_object() || !j.contains("gateways") || !j["gateways"].is_array()) return bad("not a fleet status JSON: no \"gateways\" array");
    status_result r;
    try {
        std::size_t i = 0;
        for (const auto& e : j["gateways"]) {
            gateway_status g;
            if (!e.is_object() || !e.contains("gateway_id") || !e["gateway_id"].is_string())
                return bad(fmt::format("/gateways/{}: no gateway_id", i));
            g.gateway_id = e["gateway_id"].get<std::string>();
            auto st = gateway_state_from(e.value("state", ""));
            if (!st) return bad(fmt::format("/gateways/{}/state: unknown state", i));
            g.state = *st;
            g.cause = e.value("cause", "");
            g.confidence = e.value("confidence", "");
            if (e.contains("atoms") && e["atoms"].is_array())
                for (const auto& a : e["atoms"])
                    if (a.is_string()) g.atoms.push_back(a.get<std::string>());
            if (e.contains("error") && e["error"].is_object()) {
                g.error_id = e["error"].value("id", "");
                g.error_detail = e["error"].value("detail", "");
            }
            g.pending = e.value("pending", false);
            ++r.counts[std::string(to_string(g.state))];
            if (!g.cause.empty()) ++r.causes[g.cause];
            r.gateways.push_back(std::move(g));
            ++i;
        }
        if (j.contains("pending") && j["pending"].is_array())
            for (const auto& p : j["pending"])
                r.pending.push_back({p.value("gateway_id", ""), p.value("kind", ""), p.value("op_id", std::int64_t{0}), p.value("state", ""),
                                     p.value("since", ""), p.value("in_scope", false)});
        if (j.contains("api_calls") && j["api_calls"].is_object()) {
            const auto& c = j["api_calls"];
            r.calls.list = c.value("list", std::size_t{0});
            r.calls.batches = c.value("batches", std::size_t{0});
            r.calls.bisect = c.value("bisect", std::size_t{0});
            r.calls.retries = c.value("retries", std::size_t{0});
            r.calls.auth = c.value("auth", std::size_t{0});
            r.calls.doctor = c.value("doctor", std::size_t{0});
        }
    } catch (const nlohmann::json::exception& e) {
        return bad(e.what());
    }
    return r;
}

}  // namespace ttig::fleet
