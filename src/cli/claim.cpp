// ttigctl claim: claim a TTIG (label code) or another claimable gateway (EUI) on The Things Stack,
// or report why it cannot be claimed, with the fix. Idempotent: a second run reports the state.
#include "cli/api_options.hpp"
#include "cli/common.hpp"

#include <ttig/provision/claim.hpp>

#include <fmt/color.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <memory>

namespace ttig::cli {

namespace {

struct claim_cli_options {
    std::string code;
    std::string owner_token;
    std::string owner_token_file;
    std::string gateway_id;
    std::vector<std::string> frequency_plans;
    std::string org;
    std::string gs_address;
    bool dry_run = false;
    bool verbose = false;
    bool json = false;
    api_cli_options api;
};

int exit_code_of(const provision::claim_outcome& o) {
    switch (o.kind) {
        case provision::claim_kind::claimed:
        case provision::claim_kind::already:
        case provision::claim_kind::dry_run:
            return exit_ok;
        case provision::claim_kind::refused:
            return exit_refused_cause;
        case provision::claim_kind::invalid:
            return exit_usage;
        case provision::claim_kind::api_unreachable:
            return exit_api_unreachable;
        case provision::claim_kind::rejected:
            return o.http_status >= 400 && o.http_status < 500 ? exit_rejected : exit_failed;
    }
    return exit_failed;
}

void print_gateway(const provision::gateway_summary& g) {
    fmt::print("gateway {}\n", g.gateway_id);
    fmt::print("  {:<26}{}\n", "EUI", g.eui ? g.eui->hex() : std::string("?"));
    if (!g.name.empty()) fmt::print("  {:<26}{}\n", "name", g.name);
    fmt::print("  {:<26}{}\n", "Gateway Server address", g.gateway_server_address.empty() ? "(none)" : g.gateway_server_address);
    fmt::print("  {:<26}{}\n", "frequency plans",
               g.frequency_plan_ids.empty() ? "(none)" : fmt::format("{}", fmt::join(g.frequency_plan_ids, ", ")));
    fmt::print("  {:<26}{}\n", "authenticated only", g.require_authenticated_connection ? "yes" : "no");
    fmt::print("  {:<26}{}\n", "LNS key (lbs_lns_secret)",
               !g.lns_secret_set   ? "unknown (the API key cannot read secrets)"
               : *g.lns_secret_set ? "set"
                                   : "not set");
    if (!g.target_cups_uri.empty()) fmt::print("  {:<26}{}\n", "target CUPS URI", g.target_cups_uri);
    fmt::print("  {:<26}{}\n", "last CUPS contact", g.cups_last_seen ? *g.cups_last_seen : std::string("never"));
}

void print_text(const provision::claim_outcome& o, bool colour, bool verbose) {
    auto style = [&](fmt::text_style st, std::string_view s) { return colour ? fmt::format(st, "{}", s) : std::string(s); };
    using K = provision::claim_kind;
    if (o.kind == K::claimed || o.kind == K::already)
        fmt::print("{} {}\n", style(fmt::fg(fmt::color::green) | fmt::emphasis::bold, "ok:"), o.message);
    else if (o.kind == K::dry_run)
        fmt::print("{} {}\n", style(fmt::emphasis::bold, "dry run:"), o.message);
    else if (o.gateway)
        fmt::print("the EUI is held by your gateway {}:\n", o.gateway->gateway_id);
    if (o.gateway) print_gateway(*o.gateway);
    if (!o.next_step.empty()) fmt::print("next: {}\n", o.next_step);
    for (const auto& w : o.warnings) fmt::print("warning: {}\n", w);
    if (verbose || o.kind == K::dry_run) {
        fmt::print("API calls:\n");
        for (const auto& c : o.calls) fmt::print("  {} {} -> {}{}\n", c.method, c.target, c.outcome, c.writes ? " (writes)" : "");
    }
    if (!o.planned_request.empty()) fmt::print("would send: {}\n", o.planned_request);
    if (o.ok())
        fmt::print("{} API call(s)\n",
                   std::count_if(o.calls.begin(), o.calls.end(), [](const auto& c) { return c.outcome != "not sent (dry run)"; }));
}

int run(claim_cli_options o) {
    const std::string sub = "claim";
    auto client_opts = make_client_options(sub, o.api, "ttigctl-claim/" TTIG_VERSION);
    if (!client_opts) return report(sub, client_opts.err(), o.json);
    auto token = secret_from(sub, o.owner_token_file, "--owner-token-file", "TTIGCTL_OWNER_TOKEN", o.owner_token, "--owner-token");
    if (!token) return report(sub, token.err(), o.json);
    if (token->empty())
        return report_error(sub, "cli.bad_option",
                            "no owner token: put the Wi-Fi password from the gateway's label in a file (chmod 600) and pass "
                            "--owner-token-file, or set TTIGCTL_OWNER_TOKEN",
                            exit_usage, o.json);

    provision::claim_request r;
    r.code = o.code;
    r.owner_token = std::move(*token);
    r.gateway_id = o.gateway_id;
    r.frequency_plan_ids = o.frequency_plans;
    if (!o.org.empty()) r.collaborator = tts::account_ids::organization(o.org);
    r.gateway_server_address = o.gs_address;
    r.dry_run = o.dry_run;

    tts::client client(std::move(*client_opts));
    const auto out = provision::claim_gateway(client, r);
    const int code = exit_code_of(out);
    if (o.json) {
        auto j = provision::to_json(out);
        j["exit_code"] = code;
        if (code != exit_ok) j["error"] = {{"id", out.cause}, {"message", out.message}, {"exit_code", code}};
        print_json(j);
        return code;
    }
    print_text(out, stdout_is_tty(), o.verbose);
    if (code != exit_ok) {
        std::string line = out.message;
        if (!out.fix.empty()) line += "; fix: " + out.fix;
        report_error(sub, out.cause, line, code, false);
    }
    return code;
}

}  // namespace

void setup_claim(CLI::App& app) {
    auto o = std::make_shared<claim_cli_options>();
    auto* c = app.add_subcommand(
        "claim",
        "Claim a gateway on The Things Stack: a TTIG by the code after (92) on its label (or any claimable gateway by its EUI),\n"
        "with its owner token (a TTIG: the Wi-Fi password on the label). Checks the key, the frequency plan and claimability\n"
        "first (read-only), then claims with the cluster's Gateway Server address and reads the gateway back. A refusal is\n"
        "named with its fix (eui-not-claimable, owner-token-mismatch, eui-claimed-elsewhere, registered-manually-not-claimed,\n"
        "gateway-id-taken, claim-no-rights). Idempotent: run again after success, it reports the current state.\n"
        "Exit 0 claimed (or already), 4 other TTS refusal, 12 API unreachable or key refused, 14 refused for a named cause,\n"
        "64 usage (docs/exit-codes.md, docs/claim.md).");
    c->add_option("CODE", o->code, "TTIG label code (12 hex digits after (92)) or the gateway EUI in any form")->required();
    c->add_option("--id", o->gateway_id, "Gateway ID to create (lower-case letters, digits, dashes; 3-36), e.g. office-ttig")->required();
    c->add_option("--frequency-plan", o->frequency_plans, "Frequency plan ID, e.g. EU_863_870_TTN (repeatable, up to 8)")
        ->required()
        ->allow_extra_args(false)
        ->delimiter(',');
    c->add_option("--owner-token-file", o->owner_token_file,
                  "File holding the owner token (a TTIG: the Wi-Fi password on its label); must be mode 0600. Else env "
                  "TTIGCTL_OWNER_TOKEN");
    c->add_option("--owner-token", o->owner_token, "The owner token on the command line (warned: other local users can read argv)");
    c->add_option("--org", o->org, "Organization that gets the gateway (default: the user who owns the API key)");
    c->add_option("--gs-address", o->gs_address,
                  "Gateway Server address for the gateway, host[:port] (default: the --tts host, with its port unless 443)");
    c->add_flag("--dry-run", o->dry_run, "Make only the read-only checks and print the claim that would be sent (owner token not shown)");
    c->add_flag("--verbose", o->verbose, "List every API call with its outcome");
    add_api_options(*c, o->api,
                    "user (or organization) rights GATEWAYS_CREATE and GATEWAYS_LIST, gateway INFO (READ_SECRETS to report the LNS key)");
    add_json_flag(*c, o->json);
    c->callback([o] {
        if (int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
