// ttigctl fleet status (MANIFEST | --all) and fleet report (docs/fleet.md).
#include "cli/api_options.hpp"
#include "cli/common.hpp"
#include "cli/fleet.hpp"

#include <ttig/fleet/manifest.hpp>
#include <ttig/fleet/report.hpp>
#include <ttig/fleet/status.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <memory>

namespace ttig::cli {

namespace {

struct fleet_status_cli_options {
    std::string manifest;
    bool all = false;
    std::string journal;
    std::string cluster;
    std::size_t doctor = 0;
    int retries = 3;
    bool verbose = false, json = false;
    api_cli_options api;
};

struct fleet_report_cli_options {
    std::string journal;
    std::string status;
    std::string out_dir;
    bool json = false;
};

int exit_for_failure(const fleet::status_failure& f) {
    if (f.id == "fleet.journal" || f.id == "fleet.bad_status_file" || f.id == "fleet.report_output") return exit_local_io;
    if (f.id == "fleet.no_status_read") return exit_refused_cause;
    if (f.id.starts_with("net.") || f.id.starts_with("tls.")) return exit_api_unreachable;
    if (f.id.starts_with("tts.")) {
        // A refused key (401) is "cannot authenticate to the API"; other refusals are rejections.
        if (f.id.find("unauthenticated") != std::string::npos || f.id.find("api_key_not_found") != std::string::npos ||
            f.id.find("pkg/auth:token") != std::string::npos || f.id.find("neither_user_nor_organization") != std::string::npos)
            return exit_api_unreachable;
        return exit_rejected;
    }
    return exit_failed;
}

int report_manifest_errors(std::string_view sub, const fleet::manifest& m, bool json) {
    if (json) {
        nlohmann::ordered_json errs = nlohmann::ordered_json::array();
        for (const auto& e : m.errors) errs.push_back({{"file", e.file}, {"line", e.line}, {"column", e.column}, {"message", e.message}, {"text", e.text()}});
        nlohmann::ordered_json j;
        j["error"] = {{"id", "fleet.manifest"},
                      {"message", fmt::format("the manifest has {} error{}", m.errors.size(), m.errors.size() == 1 ? "" : "s")},
                      {"exit_code", static_cast<int>(exit_local_io)},
                      {"errors", std::move(errs)}};
        print_json(j);
        return exit_local_io;
    }
    for (const auto& e : m.errors) report_error(sub, "fleet.manifest", e.text(), exit_local_io, false);
    return exit_local_io;
}

void print_text(const fleet::status_result& r, bool verbose) {
    std::size_t shown = 0;
    for (const auto& g : r.gateways) {
        if (g.state == fleet::gateway_state::connected && !verbose && !g.pending) continue;
        std::string line = fmt::format("{:<36} {:<13}", g.gateway_id, fleet::to_string(g.state));
        if (g.stats && g.stats->disconnected_at) line += fmt::format(" since {}", tts::format_time(*g.stats->disconnected_at));
        else if (g.stats && g.stats->connected_at) line += fmt::format(" since {}", tts::format_time(*g.stats->connected_at));
        if (!g.cause.empty()) line += fmt::format(" cause {} ({})", g.cause, g.confidence);
        if (!g.error_id.empty()) line += fmt::format(" [{}]", g.error_id);
        if (g.pending) line += " pending-check-in";
        fmt::print("{}\n", line);
        ++shown;
    }
    if (!r.pending.empty()) {
        fmt::print("pending-check-in ({}):\n", r.pending.size());
        for (const auto& p : r.pending)
            fmt::print("  {:<36} {} op {} since {}{}\n", p.gateway_id, p.kind, p.op_id, p.since, p.in_scope ? "" : " (not in this status)");
    }
    std::string counts;
    for (auto s : {fleet::gateway_state::connected, fleet::gateway_state::disconnected, fleet::gateway_state::no_stats, fleet::gateway_state::unknown,
                   fleet::gateway_state::forbidden, fleet::gateway_state::error}) {
        auto it = r.counts.find(std::string(fleet::to_string(s)));
        if (it != r.counts.end() && it->second) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", it->second, fleet::to_string(s));
    }
    if (!r.causes.empty()) {
        std::string causes;
        for (const auto& [c, n] : r.causes) causes += fmt::format("{}{} {}", causes.empty() ? "" : ", ", n, c);
        fmt::print("causes: {}\n", causes);
    }
    fmt::print("{} gateway(s): {}\n", r.gateways.size(), counts.empty() ? "none" : counts);
    fmt::print("{} API call(s): {} list, {} batch ({} bisecting), {} auth, {} doctor; {} of them retries; {:.0f} ms\n", r.calls.total(), r.calls.list,
               r.calls.batches, r.calls.bisect, r.calls.auth, r.calls.doctor, r.calls.retries, r.elapsed_ms);
}

int run_status(fleet_status_cli_options o) {
    const std::string sub = "fleet status";
    if (o.all == !o.manifest.empty())
        return report_error(sub, "cli.bad_option", "give a MANIFEST or --all (not both)", exit_usage, o.json);
    if (o.retries < 0 || o.retries > 10) return report_error(sub, "cli.bad_option", "--retries must be 0..10", exit_usage, o.json);
    fleet::status_options so;
    if (!o.all) {
        fleet::manifest_options mo;
        mo.check_file_modes = false;  // status reads only the gateway IDs, never a token
        auto m = fleet::read_manifest(o.manifest, mo);
        if (!m.ok()) return report_manifest_errors(sub, m, o.json);
        for (const auto& row : m.rows) so.gateway_ids.push_back(row.gateway_id);
    }
    auto client = make_client_options(sub, o.api, "ttigctl-fleet-status");
    if (!client) return report(sub, client.err(), o.json);
    so.api = *client;
    so.all = o.all;
    so.journal_path = o.journal;
    so.max_retries = o.retries;
    if (!o.cluster.empty()) {
        if (!o.cluster.starts_with("https://") && !o.cluster.starts_with("http://"))
            return report_error(sub, "cli.bad_option", fmt::format("--cluster {}: use https://host[:port]", o.cluster), exit_usage, o.json);
        so.stats_base_url = o.cluster;
    }
    if (o.doctor > 0) {
        diag::doctor_options d;
        d.tts_url = client->base_url;
        d.api_key = client->api_key;
        d.resolve = o.api.resolve;
        for (const auto& f : o.api.ca) d.ca_files.emplace_back(f);
        d.insecure = o.api.insecure;
        d.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::max(15.0, o.api.timeout_s) * 1000));
        so.doctor = d;
        so.doctor_max = o.doctor;
    }
    if (!o.json) so.progress = [](std::string_view line) { fmt::print(stderr, "fleet status: {}\n", line); };

    auto r = fleet::fleet_status(so);
    int code = exit_ok;
    if (r.failure) code = exit_for_failure(*r.failure);
    else if (!r.all_connected()) code = exit_partial;
    if (r.failure) {
        if (o.json) {
            auto j = fleet::to_json(r);
            j["error"] = {{"id", r.failure->id}, {"message", r.failure->message}, {"exit_code", code}};
            j["exit_code"] = code;
            print_json(j);
        } else {
            fmt::print(stderr, "ttigctl {}: [{}] {}\n", sub, r.failure->id, r.failure->message);
            if (r.calls.total()) fmt::print(stderr, "ttigctl {}: {} API call(s) made\n", sub, r.calls.total());
        }
        return code;
    }
    if (o.json) {
        auto j = fleet::to_json(r);
        j["exit_code"] = code;
        print_json(j);
    } else {
        print_text(r, o.verbose);
    }
    return code;
}

int run_report(fleet_report_cli_options o) {
    const std::string sub = "fleet report";
    if (o.journal.empty() && o.status.empty())
        return report_error(sub, "cli.bad_option", "give --journal FILE and/or --status FILE", exit_usage, o.json);
    fleet::report_input in{o.journal, o.status};
    auto r = fleet::build_report(in);
    if (!r) return report_error(sub, r.err().id, r.err().message, exit_for_failure(r.err()), o.json);
    if (auto w = fleet::write_report(*r, o.out_dir); !w) return report_error(sub, w.err().id, w.err().message, exit_local_io, o.json);
    const std::filesystem::path dir(o.out_dir);
    if (o.json) {
        nlohmann::ordered_json j;
        j["out_dir"] = o.out_dir;
        j["files"] = {(dir / "report.json").string(), (dir / "report.csv").string(), (dir / "report.html").string()};
        j["gateways"] = r->gateways.size();
        j["causes"] = r->causes.size();
        j["timeline_points"] = r->timeline.size();
        j["exit_code"] = 0;
        print_json(j);
    } else {
        fmt::print("wrote {}, {}, {}: {} gateway(s), {} cause(s), {} timeline point(s)\n", (dir / "report.json").string(), (dir / "report.csv").string(),
                   (dir / "report.html").string(), r->gateways.size(), r->causes.size(), r->timeline.size());
    }
    return exit_ok;
}

}  // namespace

void setup_fleet_status(CLI::App& fleet) {
    auto o = std::make_shared<fleet_status_cli_options>();
    auto* s = fleet.add_subcommand(
        "status",
        "Connection state of every gateway of a manifest (or --all you can list): batch connection stats, 100 gateways a call;\n"
        "a batch that one unknown or forbidden gateway makes fail is bisected, so it costs O(log n) calls. Gateways that are not\n"
        "connected get doctor's top cause from their stats (no extra call; --doctor N runs the full doctor on N of them).\n"
        "--journal lists gateways still pending-check-in. Every API call is counted, retries included.\n"
        "Exit 0 all connected, 9 some not connected (disconnected, no stats, unknown, forbidden, error), 12 API unreachable or key\n"
        "refused, 14 the key lacks STATUS_READ, 4 other refusals, 8 manifest or journal, 64 usage.");
    s->add_option("MANIFEST", o->manifest, "Manifest (CSV or JSON; only the gateway IDs are used)");
    s->add_flag("--all", o->all, "Every gateway your key can list (instead of a manifest)");
    s->add_option("--journal", o->journal, "A rotate / fleet apply journal: list its gateways still pending-check-in");
    s->add_option("--cluster", o->cluster, "Read connection stats from this cluster's URL (default: --tts)");
    s->add_option("--doctor", o->doctor, "Run the full doctor on at most N gateways that are not connected")->capture_default_str();
    s->add_option("--retries", o->retries, "Retries per call after a 429, a 5xx or a transport failure (0..10)")->capture_default_str();
    s->add_flag("--verbose", o->verbose, "List connected gateways too");
    add_api_options(*s, o->api, "the gateway right STATUS_READ (and the user/organization right GATEWAYS_LIST for --all)");
    add_json_flag(*s, o->json);
    s->callback([o] {
        if (int rc = run_status(*o); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto ro = std::make_shared<fleet_report_cli_options>();
    auto* r = fleet.add_subcommand("report",
                                   "Write report.json, report.csv and a self-contained report.html (inline SVG charts: connected vs disconnected\n"
                                   "over the run, causes by count, slowest steps) from a fleet journal and/or a `fleet status --json` file.\n"
                                   "Exit 0 written, 8 journal/status unreadable or the directory not writable, 64 usage.");
    r->add_option("--journal", ro->journal, "The fleet apply (or rotate) journal");
    r->add_option("--status", ro->status, "A `fleet status --json` output file");
    r->add_option("--out-dir", ro->out_dir, "Directory for report.json, report.csv, report.html (created if missing)")->required();
    add_json_flag(*r, ro->json);
    r->callback([ro] {
        if (int rc = run_report(*ro); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
