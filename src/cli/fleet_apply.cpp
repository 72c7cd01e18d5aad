// ttigctl fleet apply MANIFEST --journal FILE, and fleet rollback --journal FILE (fleet/apply.hpp).
#include "cli/api_options.hpp"
#include "cli/common.hpp"
#include "cli/fleet.hpp"

#include <ttig/fleet/apply.hpp>
#include <ttig/fleet/manifest.hpp>
#include <ttig/store/journal.hpp>

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <unistd.h>

namespace ttig::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop.store(true); }

struct apply_cli_options {
    std::string manifest, journal, owner_tokens, gs_address;
    std::size_t concurrency = 8, canary = 0;
    double max_rate = 0;
    bool resume = false, json = false, yes = false;
    api_cli_options api;
};

std::string eta_text(double s) {
    if (s < 0 || s > 1e7) return "?";
    const auto t = static_cast<long>(s + 0.5);
    return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
}

void print_summary(const fleet::apply_result& r) {
    for (const auto& x : r.rows)
        if (x.status == fleet::row_status::failed) fmt::print("failed   {} ({}): [{}] {}\n", x.gateway_id, x.where, x.error_id, x.message);
    for (const auto& x : r.rows)
        if (x.status == fleet::row_status::pending) fmt::print("pending  {} ({}): {}\n", x.gateway_id, x.where, x.message);
    fmt::print("fleet apply: {} done, {} pending-check-in, {} failed, {} not started; {} requests ({} answered 429), {} retries, {:.1f} s\n",
               r.done, r.pending, r.failed, r.not_started, r.requests, r.throttled, r.retries, r.elapsed_s);
}

int exit_of(const fleet::apply_result& r) {
    if (!r.error.empty()) return exit_local_io;
    if (r.failed > 0 || r.stopped) return exit_partial;
    if (r.pending > 0) return exit_pending;
    return exit_ok;
}

int run_apply(apply_cli_options o) {
    const std::string sub = "fleet apply";
    if (o.concurrency < 1 || o.concurrency > 256) return report_error(sub, "cli.bad_option", "--concurrency must be 1..256", exit_usage, o.json);
    if (o.max_rate < 0) return report_error(sub, "cli.bad_option", "--max-rate must be >= 0 (requests per second)", exit_usage, o.json);
    fleet::manifest_options mo;
    mo.owner_tokens_file = o.owner_tokens;
    auto m = fleet::read_manifest(o.manifest, mo);
    if (!m.ok()) {
        if (o.json) {
            nlohmann::ordered_json j;
            auto errs = nlohmann::ordered_json::array();
            for (const auto& e : m.errors) errs.push_back(e.text());
            j["error"] = {{"id", "fleet.manifest"}, {"message", fmt::format("{} problem(s) in {}", m.errors.size(), o.manifest)}, {"problems", errs},
                          {"exit_code", exit_local_io}};
            print_json(j);
        } else {
            for (const auto& e : m.errors) fmt::print(stderr, "ttigctl {}: [fleet.manifest] {}\n", sub, e.text());
        }
        return exit_local_io;
    }
    auto client = make_client_options(sub, o.api, "ttigctl-fleet");
    if (!client) return report(sub, client.err(), o.json);
    {
        auto j = store::journal::open(o.journal);
        if (!j) return report_error(sub, "cli.local_io", fmt::format("--journal {}: {}", o.journal, j.err().what()), exit_local_io, o.json);
        auto ops = j->ops("fleet");
        if (ops && !ops->empty() && !o.resume)
            return report_error(sub, "fleet.journal_in_use",
                                fmt::format("--journal {} holds an earlier run ({} gateways): continue it with --resume, or give a new file", o.journal,
                                            ops->size()),
                                exit_usage, o.json);
    }
    fleet::apply_options ao;
    ao.journal_path = o.journal;
    ao.concurrency = o.concurrency;
    ao.max_rate = o.max_rate;
    ao.canary = o.canary;
    ao.default_gs_address = o.gs_address;
    fleet::apply_env env;
    env.api = *client;
    env.net.tls = client->tls;
    env.net.hosts = client->hosts;
    env.stop = &g_stop;
    // Test aid (docs/fleet.md): TTIGCTL_TEST_KILL_AFTER_JOURNAL=N sends this process SIGKILL right
    // after the run's N-th journal write, as a crash there would.
    if (const char* k = std::getenv("TTIGCTL_TEST_KILL_AFTER_JOURNAL"); k && *k) {
        const long n = std::strtol(k, nullptr, 10);
        auto count = std::make_shared<std::atomic<long>>(0);
        env.after_journal = [n, count] {
            if (++*count == n) ::kill(::getpid(), SIGKILL);
        };
    }
    std::signal(SIGINT, on_sigint);
    std::signal(SIGTERM, on_sigint);
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    std::mutex out_mu;
    env.progress = [&](const fleet::apply_progress& p, const fleet::row_outcome* row) {
        std::lock_guard lock(out_mu);
        if (tty && !o.json) {
            const double frac = p.rows ? static_cast<double>(p.finished) / static_cast<double>(p.rows) : 1;
            const int filled = static_cast<int>(frac * 30);
            const double eta = p.finished ? p.elapsed_s / static_cast<double>(p.finished) * static_cast<double>(p.rows - p.finished) : -1;
            fmt::print(stderr, "\r[{:<30}] {}/{}  done {}  pending {}  failed {}  {:.1f} req/s  ETA {}   ", std::string(static_cast<std::size_t>(filled), '#'),
                       p.finished, p.rows, p.done, p.pending, p.failed, p.rate, eta_text(eta));
        } else if (row) {
            nlohmann::ordered_json j{{"gateway_id", row->gateway_id}, {"where", row->where}, {"status", std::string(fleet::to_string(row->status))},
                                     {"finished", p.finished}, {"rows", p.rows}, {"requests", p.requests}, {"rate", p.rate}};
            if (!row->error_id.empty()) j["error"] = row->error_id;
            fmt::print(stderr, "{}\n", j.dump());
        }
    };
    auto r = fleet::apply(m, ao, env);
    if (tty && !o.json) fmt::print(stderr, "\n");
    if (r.canary && !g_stop.load()) {
        bool go_on = o.yes;
        if (!go_on && !o.json && ::isatty(STDIN_FILENO) == 1) {
            print_summary(r);
            fmt::print("canary: {} gateway(s) applied. Continue with the other {}? [y/N] ", o.canary, r.not_started);
            std::fflush(stdout);
            std::string answer;
            std::getline(std::cin, answer);
            go_on = answer == "y" || answer == "yes";
        }
        if (go_on) {
            ao.canary = 0;
            r = fleet::apply(m, ao, env);
            if (tty && !o.json) fmt::print(stderr, "\n");
        }
    }
    const int code = exit_of(r);
    if (o.json) {
        auto j = fleet::to_json(r);
        j["journal_file"] = o.journal;
        j["exit_code"] = code;
        print_json(j);
    } else {
        print_summary(r);
        if (r.canary) fmt::print("canary: stopped after {} gateway(s); run again with --resume to apply the rest\n", o.canary);
        if (r.stopped) fmt::print("stopped (Ctrl-C): the journal is consistent; run again with --resume\n");
        if (r.pending) fmt::print("{} gateway(s) wait for their station: run again with --resume after their next CUPS check-in (a TTIG: RESET)\n", r.pending);
    }
    return code;
}

int run_rollback(const std::string& journal, api_cli_options api, bool json) {
    const std::string sub = "fleet rollback";
    auto client = make_client_options(sub, api, "ttigctl-fleet");
    if (!client) return report(sub, client.err(), json);
    fleet::apply_env env;
    env.api = *client;
    env.net.tls = client->tls;
    env.net.hosts = client->hosts;
    auto r = fleet::rollback(journal, env);
    if (!r.error.empty()) return report_error(sub, "cli.local_io", fmt::format("--journal {}: {}", journal, r.error), exit_local_io, json);
    if (json) {
        nlohmann::ordered_json j{{"undone", r.undone}, {"not_undone", r.not_undone}, {"journal_file", journal}};
        print_json(j);
    } else {
        for (const auto& l : r.undone) fmt::print("undone      {}\n", l);
        for (const auto& l : r.not_undone) fmt::print("not undone  {}\n", l);
        fmt::print("fleet rollback: {} change(s) undone, {} cannot be undone\n", r.undone.size(), r.not_undone.size());
    }
    return r.not_undone.empty() ? exit_ok : exit_partial;
}

}  // namespace

void setup_fleet_apply(CLI::App& fleet) {
    auto o = std::make_shared<apply_cli_options>();
    auto* a = fleet.add_subcommand(
        "apply",
        "Apply a manifest: claim, set the Gateway Server address, rotate and move, many gateways at once, paced by the server's\n"
        "rate-limit headers and 429s (and --max-rate). Each step is journaled (--journal, SQLite, no tokens) and idempotent: a\n"
        "retried step never makes a second key or gateway; after a crash or Ctrl-C run again with --resume. Rotations waiting\n"
        "for their station are parked in pending-check-in and the run goes on. Exit 0 all done, 13 some pending, 9 some failed or\n"
        "stopped, 8 manifest or journal problems.");
    a->add_option("MANIFEST", o->manifest, "CSV or JSON manifest (docs/fleet.md)")->required();
    a->add_option("--journal", o->journal, "SQLite journal of this run (created 0600)")->required();
    a->add_option("--concurrency", o->concurrency, "Gateways worked on at once")->capture_default_str();
    a->add_option("--max-rate", o->max_rate, "At most this many requests per second (0: paced by the server's answers only)")->capture_default_str();
    a->add_option("--canary", o->canary, "Apply this many gateways first, report, and ask before the rest (--yes: go on without asking)");
    a->add_flag("--yes", o->yes, "Continue after the canary without asking");
    a->add_flag("--resume", o->resume, "Continue the run in --journal (done gateways are skipped, waiting rotations resumed)");
    a->add_option("--owner-tokens", o->owner_tokens, "CSV 'eui,owner_token' (0600) for claim rows");
    a->add_option("--gs-address", o->gs_address, "Gateway Server address for claim rows without a cluster (default: the --tts host)");
    add_api_options(*a, o->api, "gateway rights as for claim and rotate, and user/organization GATEWAYS_CREATE for claims");
    add_json_flag(*a, o->json);
    a->callback([o] {
        if (int rc = run_apply(*o); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto ro = std::make_shared<std::pair<std::string, api_cli_options>>();
    auto json = std::make_shared<bool>(false);
    auto* r = fleet.add_subcommand("rollback",
                                   "Undo what a fleet run did that can be undone: unfinished rotations (old keys get their rights back) and\n"
                                   "Gateway Server addresses it set. Claims and finished rotations stay (said for each).");
    r->add_option("--journal", ro->first, "The run's journal")->required();
    add_api_options(*r, ro->second, "the rights the run used");
    add_json_flag(*r, *json);
    r->callback([ro, json] {
        if (int rc = run_rollback(ro->first, ro->second, *json); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
