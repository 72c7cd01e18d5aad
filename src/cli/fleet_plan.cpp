// ttigctl fleet plan MANIFEST: the manifest checked (every error at once), the current state read
// (one GET per 1000 gateways) and the diff with the calls `fleet apply` would make.
// ttigctl fleet export FILE: the current state of the gateways as a manifest (docs/fleet.md).
#include "cli/api_options.hpp"
#include "cli/common.hpp"
#include "cli/fleet.hpp"

#include <ttig/fleet/manifest.hpp>
#include <ttig/fleet/plan.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

namespace ttig::cli {

namespace {

namespace fs = std::filesystem;

struct fleet_plan_cli_options {
    std::string manifest;
    std::string owner_tokens;
    std::string user, org;
    bool verbose = false;
    bool json = false;
    api_cli_options api;
};

struct fleet_export_cli_options {
    std::string file;
    std::string format;  // "", csv, json
    std::string user, org;
    bool force = false;
    bool json = false;
    api_cli_options api;
};

tts::list_scope scope_of(const std::string& user, const std::string& org) {
    if (!user.empty()) return tts::list_scope::user(user);
    if (!org.empty()) return tts::list_scope::organization(org);
    return tts::list_scope::caller();
}

// A failed list: 401 or transport/TLS → the API is unreachable for us; other TTS refusals → 4.
int exit_for_list(const std::string& id, int http_status) {
    if (id.starts_with("net.") || id.starts_with("tls.") || http_status == 401) return exit_api_unreachable;
    if (id.starts_with("tts.")) return exit_rejected;
    return exit_failed;
}

int report_manifest(std::string_view sub, const fleet::manifest& m, bool json) {
    if (json) {
        nlohmann::ordered_json errs = nlohmann::ordered_json::array();
        for (const auto& e : m.errors)
            errs.push_back({{"file", e.file},
                            {"line", e.line},
                            {"index", e.json ? nlohmann::ordered_json(e.line) : nlohmann::ordered_json(nullptr)},
                            {"column", e.column},
                            {"message", e.message},
                            {"text", e.text()}});
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

int run_plan(fleet_plan_cli_options o) {
    const std::string sub = "fleet plan";
    if (!o.user.empty() && !o.org.empty())
        return report_error(sub, "cli.bad_option", "--user and --org exclude each other", exit_usage, o.json);
    // Every manifest error before any call (and before the API options are even looked at).
    fleet::manifest_options mo;
    mo.owner_tokens_file = o.owner_tokens;
    auto m = fleet::read_manifest(o.manifest, mo);
    if (!m.ok()) return report_manifest(sub, m, o.json);

    auto client_opts = make_client_options(sub, o.api, "ttigctl-fleet/" TTIG_VERSION);
    if (!client_opts) return report(sub, client_opts.err(), o.json);
    tts::client client(std::move(*client_opts));
    fleet::plan_options po;
    po.scope = scope_of(o.user, o.org);
    const auto p = fleet::plan_fleet(client, m, po);
    if (!p.ok) {
        const int code = exit_for_list(p.error_id, p.http_status);
        const std::string message = fmt::format("cannot list the gateways ({}): {}", p.scope, p.error_message);
        if (o.json) {
            auto j = fleet::to_json(p);
            j["error"] = {{"id", p.error_id}, {"message", message}, {"exit_code", code}};
            print_json(j);
            return code;
        }
        return report_error(sub, p.error_id, message, code, false);
    }
    if (o.json) {
        auto j = fleet::to_json(p);
        j["manifest"] = o.manifest;
        j["exit_code"] = 0;
        print_json(j);
    } else {
        fmt::print("{}", fleet::to_text(p, o.verbose));
    }
    return exit_ok;
}

// Writes `data` to `path` through a temp file in the same directory and a rename.
std::string write_atomically(const std::string& path, const std::string& data) {
    const fs::path target(path);
    const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno));
        out << data;
        out.flush();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return fmt::format("cannot write {}", tmp.string());
        }
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return fmt::format("cannot write {}: {}", path, ec.message());
    }
    return {};
}

int run_export(fleet_export_cli_options o) {
    const std::string sub = "fleet export";
    if (!o.user.empty() && !o.org.empty())
        return report_error(sub, "cli.bad_option", "--user and --org exclude each other", exit_usage, o.json);
    const bool to_stdout = o.file == "-";
    if (to_stdout && o.json)
        return report_error(sub, "cli.bad_option", "--json prints a summary on stdout: write the manifest to a file, not -", exit_usage, true);
    fleet::manifest_format format = fleet::format_for_path(o.file);
    if (o.format == "csv") format = fleet::manifest_format::csv;
    else if (o.format == "json") format = fleet::manifest_format::json;
    std::error_code ec;
    if (!to_stdout && fs::exists(o.file, ec) && !o.force)
        return report_error(sub, "cli.would_overwrite", fmt::format("{} exists; pass --force to replace it", o.file), exit_usage, o.json);

    auto client_opts = make_client_options(sub, o.api, "ttigctl-fleet/" TTIG_VERSION);
    if (!client_opts) return report(sub, client_opts.err(), o.json);
    tts::client client(std::move(*client_opts));
    fleet::plan_options po;
    po.scope = scope_of(o.user, o.org);
    auto r = fleet::export_gateways(client, po);
    if (!r.ok) {
        const int code = exit_for_list(r.error_id, r.http_status);
        return report_error(sub, r.error_id, fmt::format("cannot list the gateways ({}): {}", fleet::scope_text(po.scope), r.error_message),
                            code, o.json);
    }
    const std::string text = fleet::format_manifest(r.rows, format);
    if (to_stdout) {
        fmt::print("{}", text);
        std::fflush(stdout);
        return exit_ok;
    }
    if (auto err = write_atomically(o.file, text); !err.empty()) return report_error(sub, "cli.local_io", err, exit_local_io, o.json);
    if (o.json) {
        nlohmann::ordered_json j;
        j["file"] = o.file;
        j["format"] = format == fleet::manifest_format::json ? "json" : "csv";
        j["scope"] = fleet::scope_text(po.scope);
        j["gateways"] = r.rows.size();
        j["read_calls"] = r.read_calls;
        j["exit_code"] = 0;
        print_json(j);
    } else {
        fmt::print("wrote {} gateway{} ({}) to {} in {} call{}\n", r.rows.size(), r.rows.size() == 1 ? "" : "s", fleet::scope_text(po.scope),
                   o.file, r.read_calls, r.read_calls == 1 ? "" : "s");
    }
    return exit_ok;
}

}  // namespace

void setup_fleet_plan(CLI::App& fleet) {
    {
        auto o = std::make_shared<fleet_plan_cli_options>();
        auto* c = fleet.add_subcommand(
            "plan",
            "Check a manifest (every error at once, file:line each, before any call), read the current state of your gateways\n"
            "(one GET per 1000 gateways) and print per row what differs and the steps and calls `fleet apply` would make.\n"
            "Makes only GET calls. Exit 0 planned (conflicts are part of the plan), 8 manifest errors, 4 TTS refused the list,\n"
            "12 API unreachable or key refused, 64 usage (docs/fleet.md, docs/exit-codes.md).");
        c->add_option("MANIFEST", o->manifest, "The manifest: CSV (.csv) or JSON (.json), one gateway a row")->required();
        c->add_option("--owner-tokens", o->owner_tokens, "CSV file of EUI,owner_token lines for the claims (mode 0600)");
        c->add_option("--user", o->user, "Compare with the gateways of this user (direct collaborator) instead of all of yours");
        c->add_option("--org", o->org, "Compare with the gateways of this organization instead of all of yours");
        c->add_flag("--verbose", o->verbose, "Also list the rows without changes");
        add_api_options(*c, o->api, "user or organization right GATEWAYS_LIST");
        add_json_flag(*c, o->json);
        c->callback([o] {
            if (int rc = run_plan(*o); rc != 0) throw CLI::RuntimeError(rc);
        });
    }
    {
        auto o = std::make_shared<fleet_export_cli_options>();
        auto* c = fleet.add_subcommand(
            "export",
            "Write the current state of your gateways (or --user's, --org's) as a manifest: EUI, gateway ID, frequency plans,\n"
            "cluster (Gateway Server address); no actions, no tokens. CSV or JSON by the file's extension (or --format); '-'\n"
            "writes to stdout. `fleet plan` of the file shows no change. Exit 0, 4 TTS refused the list, 8 cannot write,\n"
            "12 API unreachable, 64 usage.");
        c->add_option("FILE", o->file, "The manifest to write (.csv or .json), or - for stdout")->required();
        c->add_option("--format", o->format, "csv or json (default: by the extension; csv)")->check(CLI::IsMember({"csv", "json"}));
        c->add_option("--user", o->user, "Export this user's gateways (direct collaborator)");
        c->add_option("--org", o->org, "Export this organization's gateways");
        c->add_flag("--force", o->force, "Replace FILE if it exists");
        add_api_options(*c, o->api, "user or organization right GATEWAYS_LIST");
        add_json_flag(*c, o->json);
        c->callback([o] {
            if (int rc = run_export(*o); rc != 0) throw CLI::RuntimeError(rc);
        });
    }
}

}  // namespace ttig::cli
