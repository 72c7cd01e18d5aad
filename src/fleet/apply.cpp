#include <ttig/fleet/apply.hpp>

#include <ttig/provision/claim.hpp>
#include <ttig/provision/rotate.hpp>
#include <ttig/store/journal.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace ttig::fleet {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::string_view to_string(row_status s) noexcept {
    switch (s) {
        case row_status::done: return "done";
        case row_status::pending: return "pending-check-in";
        case row_status::failed: return "failed";
        case row_status::skipped: return "skipped";
        case row_status::not_started: return "not-started";
    }
    return "failed";
}

namespace {

constexpr std::string_view op_kind = "fleet";

std::string subject_of(const std::string& id) { return "gateway:" + id; }

// Whether a failure is worth another attempt: the server or the path failed, not the request.
// 429 answers seen by this thread's requests (a worker's step runs on its thread, rotations included).
thread_local std::size_t throttled_here = 0;

bool transient(const std::string& id, int http_status) {
    if (http_status == 429 || http_status >= 500) return true;
    if (http_status != 0) return false;
    return id.starts_with("net.") || id.starts_with("tls.") || id == "tts.rate_limit_wait";
}

struct step_outcome {
    enum class kind { done, pending, failed } what = kind::done;
    std::string id, message;
    int http_status = 0;
};

class run {
public:
    run(const manifest& m, const apply_options& o, apply_env& env)
        : m_(m), o_(o), env_(env), lim_(env.clock ? *env.clock : sysclock_, o.max_rate, env.sleep, o.seed), rng_(o.seed ? o.seed : std::random_device{}()) {}

    apply_result go();

private:
    void worker();
    row_outcome process(std::size_t index, store::journal& j);
    step_outcome with_retries(const std::function<step_outcome()>& fn, row_outcome& out, const store::journal& j);
    step_outcome do_claim(const manifest_row& row, tts::client& c);
    step_outcome do_set_gs(const manifest_row& row, tts::client& c, json& doc);
    step_outcome do_rotate(const manifest_row& row, store::journal& j, bool cups, bool lns, const std::string& move_to);
    void sleep_for(std::chrono::nanoseconds d) {
        if (env_.sleep) env_.sleep(d);
        else std::this_thread::sleep_for(d);
    }
    tts::client_options client_options() {
        auto c = env_.api;
        c.before_request = [this] { lim_.acquire(); };
        c.after_response = [this](int status, const std::optional<tts::rate_limit_info>& info) {
            if (status == 429) ++throttled_here;
            lim_.observe(status, info);
        };
        c.rate_limit.honour = false;  // the shared limiter paces; 429s come back as errors and are retried
        return c;
    }
    bool stopping() const { return env_.stop && env_.stop->load(); }

    const manifest& m_;
    const apply_options& o_;
    apply_env& env_;
    proto::system_clock sysclock_;
    limiter lim_;
    std::mutex mu_;  // rows_, next_, progress, rng
    std::mt19937_64 rng_;
    std::vector<row_outcome> rows_;
    std::vector<std::size_t> order_;  // rows to work on, in manifest order
    std::size_t next_ = 0;
    std::size_t retries_ = 0;
    std::optional<tts::account_ids> key_owner_;  // the API key's owner, read once (claims)
    std::size_t finished_ = 0;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::string journal_error_;
    bool canary_hit_ = false;
};

step_outcome from_error(const proto::error& e, const tts::api_error* api, const std::string& what) {
    step_outcome s;
    s.what = step_outcome::kind::failed;
    s.http_status = api ? api->http_status : 0;
    s.id = api && api->named() ? "tts." + api->full_name() : e.id();
    s.message = what + ": " + tts::redact_secrets(e.what());
    return s;
}

step_outcome run::with_retries(const std::function<step_outcome()>& fn, row_outcome& out, const store::journal& j) {
    step_outcome s;
    int failures = 0;    // counted attempts: passing failures that moved nothing
    int throttled = 0;   // 429s (not counted, at most 100)
    int progressed = 0;  // failures after journaled progress (not counted, at most 50)
    std::size_t seen = throttled_here;
    const int max_attempts = std::max(1, o_.max_attempts);
    for (;;) {
        ++out.attempts;
        const auto writes_before = j.writes();
        s = fn();
        if (s.what != step_outcome::kind::failed || !transient(s.id, s.http_status) || stopping()) return s;
        // A 429 (answered to this step, even inside a rotation that reports it as passing) is the
        // server's pace, not a failure: the shared limiter has paused every worker for it, so the
        // step runs again at once.
        const bool was_throttled = s.http_status == 429 || throttled_here > seen;
        seen = throttled_here;
        if (was_throttled && ++throttled <= 100) {
            std::lock_guard lock(mu_);
            ++retries_;
            continue;
        }
        // A rotation that journaled progress before it failed is closer to done: that attempt is
        // not counted (a long rotation under a steady error rate would otherwise run out of
        // attempts although every try moves it on).
        const bool moved = j.writes() != writes_before && ++progressed <= 50;
        if (!moved && ++failures >= max_attempts) return s;
        // Exponential back-off with full jitter.
        const int n = std::max(1, failures);
        const auto cap = std::min<std::int64_t>(o_.backoff_cap.count(), o_.backoff_base.count() << std::min(n - 1, 20));
        std::int64_t ms = 0;
        {
            std::lock_guard lock(mu_);
            ++retries_;
            ms = std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(1, cap))(rng_);
        }
        sleep_for(std::chrono::milliseconds(ms));
    }
}

step_outcome run::do_claim(const manifest_row& row, tts::client& c) {
    provision::claim_request r;
    r.code = row.eui ? row.eui->hex() : std::string();
    r.owner_token = row.owner_token;
    r.gateway_id = row.gateway_id;
    r.frequency_plan_ids = row.frequency_plan_ids;
    r.gateway_server_address = !row.cluster.empty() ? row.cluster : o_.default_gs_address;
    r.check_frequency_plans = false;  // the manifest's plans were checked once by fleet plan
    // Who the gateways go to: the key's owner, asked once for the whole run. A claim is then three
    // calls instead of five: claim info, the EUI search, the claim (no auth_info, no read-back).
    std::optional<tts::account_ids> owner;
    {
        std::lock_guard lock(mu_);
        owner = key_owner_;
    }
    if (!owner)
        if (auto who = c.get_auth_info(); who && who->account()) {
            owner = who->account();
            std::lock_guard lock(mu_);
            key_owner_ = owner;
        }
    if (owner) {
        r.collaborator = owner;
        r.check_key = false;
    }
    r.read_back = false;
    auto out = provision::claim_gateway(c, r);
    step_outcome s;
    if (out.ok()) return s;
    s.what = step_outcome::kind::failed;
    s.id = out.cause.empty() ? std::string(provision::to_string(out.kind)) : out.cause;
    s.message = out.message + (out.fix.empty() ? "" : "; fix: " + out.fix);
    s.http_status = out.http_status;
    return s;
}

step_outcome run::do_set_gs(const manifest_row& row, tts::client& c, json& doc) {
    if (!doc.contains("previous_gs_address")) {
        auto g = c.get_gateway(row.gateway_id, {"gateway_server_address"});
        if (!g) return from_error(g.err(), g.api(), "GET gateway " + row.gateway_id);
        doc["previous_gs_address"] = g->gateway_server_address;
        if (g->gateway_server_address == row.cluster) return {};
    }
    auto u = c.update_gateway(row.gateway_id, tts::gateway_update().gateway_server_address(row.cluster));
    if (!u) return from_error(u.err(), u.api(), "PUT gateway_server_address");
    return {};
}

step_outcome run::do_rotate(const manifest_row& row, store::journal& j, bool cups, bool lns, const std::string& move_to) {
    provision::rotate_env re;
    re.api = client_options();
    re.net = env_.net;
    re.journal = &j;
    re.clock = env_.clock;
    re.sleep = env_.sleep;
    provision::rotate_options ro;
    ro.gateway_id = row.gateway_id;
    ro.cups = cups;
    ro.lns = lns;
    ro.move_to = move_to;
    auto r = provision::rotate(ro, re, 0s);
    step_outcome s;
    switch (r.status) {
        case provision::rotate_status::done: return s;
        case provision::rotate_status::pending:
            s.what = step_outcome::kind::pending;
            s.message = r.waiting_for;
            return s;
        default:
            s.what = step_outcome::kind::failed;
            s.id = r.error_id;
            s.message = r.message;
            // A passing failure is worth another try: the rotation resumes from its journal.
            if (r.transient) s.http_status = 503;
            return s;
    }
}

row_outcome run::process(std::size_t index, store::journal& j) {
    const auto& row = m_.rows[index];
    row_outcome out;
    out.gateway_id = row.gateway_id;
    out.where = row.where();
    const auto t0 = std::chrono::steady_clock::now();
    auto finish = [&](row_status st) {
        out.status = st;
        out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        return out;
    };
    auto open = j.open_op(op_kind, subject_of(row.gateway_id));
    if (!open) {
        out.error_id = "fleet.journal";
        out.message = open.err().what();
        return finish(row_status::failed);
    }
    store::journal_op op;
    if (*open) {
        op = **open;
    } else {
        auto last = j.latest(op_kind, subject_of(row.gateway_id));
        if (last && *last && (*last)->state == "done") {  // finished in an earlier run
            for (auto& [k, v] : (*last)->doc["actions"].items()) out.done.push_back(k);
            return finish(row_status::done);
        }
        auto b = j.begin(op_kind, subject_of(row.gateway_id), "started", json{{"line", out.where}, {"actions", json::object()}});
        if (!b) {
            out.error_id = "fleet.journal";
            out.message = b.err().what();
            return finish(row_status::failed);
        }
        op = *b;
    }
    json doc = op.doc;
    tts::client c(client_options());
    auto record = [&](const std::string& action, const std::string& state) -> bool {
        doc["actions"][action] = state;
        store::journal_step s;
        s.name = action;
        s.status = state;
        if (auto r = j.record(op, state == "done" ? "working" : state, doc, s); !r) {
            out.error_id = "fleet.journal";
            out.message = r.err().what();
            return false;
        }
        if (env_.after_journal) env_.after_journal();
        return true;
    };
    struct planned {
        std::string name;
        std::function<step_outcome()> fn;
    };
    std::vector<planned> steps;
    if (row.actions.count(action::claim)) steps.push_back({"claim", [&] { return do_claim(row, c); }});
    if (row.actions.count(action::set_gs)) steps.push_back({"set_gs", [&] { return do_set_gs(row, c, doc); }});
    const bool rc = row.actions.count(action::rotate_cups) > 0, rl = row.actions.count(action::rotate_lns) > 0;
    const bool mv = row.actions.count(action::move) > 0;
    if (rc || rl || mv)
        steps.push_back({"rotate", [&, rc, rl, mv] { return do_rotate(row, j, rc, rl || mv, mv ? row.cluster : std::string()); }});
    for (const auto& st : steps) {
        if (doc["actions"].value(st.name, std::string()) == "done") {
            out.done.push_back(st.name);
            continue;
        }
        if (stopping()) return finish(row_status::not_started);
        auto s = with_retries(st.fn, out, j);
        if (s.what == step_outcome::kind::done) {
            if (!record(st.name, "done")) return finish(row_status::failed);
            out.done.push_back(st.name);
            continue;
        }
        if (s.what == step_outcome::kind::pending) {
            if (doc["actions"].value(st.name, std::string()) != "pending-check-in" && !record(st.name, "pending-check-in"))
                return finish(row_status::failed);
            out.message = s.message;
            return finish(row_status::pending);
        }
        out.error_id = s.id;
        out.message = s.message;
        store::journal_step fs;
        fs.name = st.name;
        fs.status = "failed";
        fs.detail = {{"id", s.id}, {"message", s.message}};
        (void)j.record(op, "failed", doc, fs);
        return finish(row_status::failed);
    }
    store::journal_step fin;
    fin.name = "done";
    fin.status = "done";
    if (auto r = j.finish(op, "done", fin); !r) {
        out.error_id = "fleet.journal";
        out.message = r.err().what();
        return finish(row_status::failed);
    }
    if (env_.after_journal) env_.after_journal();
    return finish(row_status::done);
}

void run::worker() {
    auto j = store::journal::open(o_.journal_path);
    if (!j) {
        std::lock_guard lock(mu_);
        journal_error_ = j.err().what();
        return;
    }
    for (;;) {
        std::size_t index = 0;
        {
            std::lock_guard lock(mu_);
            if (next_ >= order_.size() || stopping()) return;
            if (o_.canary > 0 && next_ >= o_.canary) {
                canary_hit_ = true;
                return;
            }
            index = order_[next_++];
        }
        row_outcome r = process(index, *j);
        std::lock_guard lock(mu_);
        rows_[index] = r;
        ++finished_;
        if (env_.progress) {
            apply_progress p;
            p.rows = m_.rows.size();
            p.finished = finished_;
            for (const auto& x : rows_) {
                p.done += x.status == row_status::done;
                p.pending += x.status == row_status::pending;
                p.failed += x.status == row_status::failed;
            }
            const auto ls = lim_.stats();
            p.requests = ls.requests;
            p.throttled = ls.throttled;
            p.retries = retries_;
            p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
            p.rate = p.elapsed_s > 0 ? static_cast<double>(p.requests) / p.elapsed_s : 0;
            env_.progress(p, &rows_[index]);
        }
    }
}

apply_result run::go() {
    apply_result res;
    if (o_.journal_path.empty() || o_.journal_path == ":memory:") {
        res.error = "fleet apply needs a journal file (--journal FILE)";
        return res;
    }
    {  // create the file and its schema once, before the workers open it
        auto j = store::journal::open(o_.journal_path);
        if (!j) {
            res.error = j.err().what();
            return res;
        }
    }
    rows_.resize(m_.rows.size());
    for (std::size_t i = 0; i < m_.rows.size(); ++i) {
        rows_[i].gateway_id = m_.rows[i].gateway_id;
        rows_[i].where = m_.rows[i].where();
        order_.push_back(i);
    }
    std::vector<std::thread> ws;
    const std::size_t n = std::max<std::size_t>(1, std::min(o_.concurrency, std::max<std::size_t>(1, m_.rows.size())));
    for (std::size_t i = 0; i < n; ++i) ws.emplace_back([this] { worker(); });
    for (auto& t : ws) t.join();
    res.rows = rows_;
    for (const auto& r : rows_) {
        res.done += r.status == row_status::done;
        res.pending += r.status == row_status::pending;
        res.failed += r.status == row_status::failed;
        res.not_started += r.status == row_status::not_started;
    }
    const auto ls = lim_.stats();
    res.requests = ls.requests;
    res.throttled = ls.throttled;
    res.retries = retries_;
    res.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    res.stopped = stopping();
    res.canary = canary_hit_;
    res.error = journal_error_;
    return res;
}

}  // namespace

apply_result apply(const manifest& m, const apply_options& o, apply_env& env) {
    run r(m, o, env);
    return r.go();
}

rollback_result rollback(const std::string& journal_path, apply_env& env) {
    rollback_result out;
    auto j = store::journal::open(journal_path);
    if (!j) {
        out.error = j.err().what();
        return out;
    }
    tts::client c(env.api);
    provision::rotate_env re;
    re.api = env.api;
    re.net = env.net;
    re.journal = &*j;
    re.clock = env.clock;
    re.sleep = env.sleep;
    auto rot = j->ops("rotate", true);
    if (rot)
        for (const auto& op : *rot) {
            const std::string id = op.subject.substr(op.subject.find(':') + 1);
            auto r = provision::rollback_rotation(id, re);
            if (r.status == provision::rotate_status::rolled_back) out.undone.push_back(fmt::format("{}: rotation rolled back (old keys valid again)", id));
            else out.not_undone.push_back(fmt::format("{}: rotation rollback failed: [{}] {}", id, r.error_id, r.message));
        }
    auto ops = j->ops(std::string(op_kind));
    if (!ops) {
        out.error = ops.err().what();
        return out;
    }
    for (auto op : *ops) {
        const std::string id = op.subject.substr(op.subject.find(':') + 1);
        const auto& acts = op.doc.value("actions", json::object());
        if (acts.value("set_gs", std::string()) == "done" && op.doc.contains("previous_gs_address") && op.state != "rolled-back") {
            auto u = c.update_gateway(id, tts::gateway_update().gateway_server_address(op.doc["previous_gs_address"].get<std::string>()));
            if (u) out.undone.push_back(fmt::format("{}: gateway_server_address back to '{}'", id, op.doc["previous_gs_address"].get<std::string>()));
            else out.not_undone.push_back(fmt::format("{}: gateway_server_address: {}", id, tts::redact_secrets(u.err().what())));
        }
        if (acts.value("claim", std::string()) == "done")
            out.not_undone.push_back(fmt::format("{}: claimed; not undone (an unclaim releases the device; delete it in the Console if meant)", id));
        if (acts.value("rotate", std::string()) == "done")
            out.not_undone.push_back(fmt::format("{}: rotation finished; its old keys are deleted", id));
        store::journal_step s;
        s.name = "rollback";
        s.status = "done";
        if (!op.finished) (void)j->finish(op, "rolled-back", s);
    }
    return out;
}

nlohmann::ordered_json to_json(const apply_result& r) {
    nlohmann::ordered_json j;
    j["done"] = r.done;
    j["pending"] = r.pending;
    j["failed"] = r.failed;
    j["not_started"] = r.not_started;
    j["requests"] = r.requests;
    j["throttled"] = r.throttled;
    j["retries"] = r.retries;
    j["elapsed_s"] = r.elapsed_s;
    j["stopped"] = r.stopped;
    j["canary"] = r.canary;
    if (!r.error.empty()) j["error"] = r.error;
    auto rows = nlohmann::ordered_json::array();
    for (const auto& x : r.rows) {
        nlohmann::ordered_json o;
        o["gateway_id"] = x.gateway_id;
        o["where"] = x.where;
        o["status"] = std::string(to_string(x.status));
        o["done"] = x.done;
        if (!x.error_id.empty()) o["error"] = {{"id", x.error_id}, {"message", x.message}};
        else if (!x.message.empty()) o["waiting_for"] = x.message;
        o["attempts"] = x.attempts;
        o["ms"] = x.ms;
        rows.push_back(std::move(o));
    }
    j["rows"] = std::move(rows);
    return j;
}

}  // namespace ttig::fleet
