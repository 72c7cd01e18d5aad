// ttigctl doctor: why does a gateway show Disconnected? Evidence, one ranked verdict, the fix.
#include "cli/common.hpp"

#include <ttig/diag/doctor.hpp>
#include <ttig/diag/fix.hpp>
#include <ttig/diag/questions.hpp>
#include <ttig/diag/html.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/color.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <unistd.h>

namespace ttig::cli {

namespace {

constexpr int exit_healthy = 0;
constexpr int exit_disconnected_known = 10;
constexpr int exit_disconnected_unknown = 11;

struct doctor_cli_options {
    std::string gateway;
    std::string tts;
    std::string api_key;
    std::string api_key_file;
    std::vector<std::string> clusters;
    std::vector<std::string> resolve;
    std::string cups_key_file, lns_key_file;
    std::string owner_token_file;
    std::string station_dir;
    std::vector<std::string> ca;
    bool insecure = false;
    double timeout_s = 15;
    double events_window_s = 0;
    bool json = false;
    std::string html;
    bool verbose = false;
    bool thorough = false;
    bool anonymous_cups = false;
    std::string led;
    std::vector<std::string> answers;
    bool no_input = false;
    bool fix = false;
    bool yes = false;
    std::string gs_address;
    std::string frequency_plan;
};

// LED patterns as a person describes them (catalogue §2.6), as user.led.* atoms.
const std::set<std::string, std::less<>> led_patterns{"green_blink_slow", "green_blink_fast", "green_solid", "green_red_alternating",
                                                      "red_blink_fast", "red_green_flicker", "off"};

// --answer KEY=VALUE: the statements only a person can make (catalogue §5.4 user.* atoms).
std::optional<diag::atom> parse_answer(std::string_view text, std::string& error) {
    const auto eq = text.find('=');
    const std::string key(text.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "yes" : std::string(text.substr(eq + 1));
    const bool yes = value == "yes" || value == "true" || value == "1";
    const bool no = value == "no" || value == "false" || value == "0";
    static const std::map<std::string, std::string, std::less<>> flags{
        {"manual-registration", "user.manual_registration"}, {"v2-history", "user.v2_history"}, {"other-instance", "user.other_instance"},
        {"recreated", "user.recreated"}, {"device-off", "user.device_off"}, {"first-boot", "user.first_boot"},
        {"wifi-unsupported", "user.wifi.unsupported"}, {"wifi-no-association", "user.wifi.no_association"},
        {"minihub-ap-visible", "user.minihub_ap_visible"}, {"buttons-dead", "user.buttons_dead"},
        {"flash-erase-loop", "user.serial.flash_erase_loop"}, {"weak-power", "user.weak_power"},
        {"lns-key-cleared", "user.lns_key_cleared"}, {"many-gateways-one-ip", "user.many_gateways_one_ip"}};
    if (key == "same-lan") {
        if (!yes && !no) {
            error = fmt::format("--answer same-lan={}: use yes or no", value);
            return std::nullopt;
        }
        return diag::atom{yes ? "user.same_lan.true" : "user.same_lan.false", "user", "you said doctor runs " + std::string(yes ? "on" : "off") + " the gateway's LAN"};
    }
    auto it = flags.find(key);
    if (it == flags.end()) {
        std::string keys = "same-lan";
        for (const auto& [k, v] : flags) keys += ", " + k;
        error = fmt::format("--answer {}: unknown question (known: {})", key, keys);
        return std::nullopt;
    }
    if (!yes && !no) {
        error = fmt::format("--answer {}={}: use yes or no", key, value);
        return std::nullopt;
    }
    if (no) return diag::atom{"", "user", ""};  // a "no" adds nothing
    return diag::atom{it->second, "user", "you said: " + key};
}

std::string read_secret(const std::string& path, std::string_view what, std::string& error) {
    auto t = read_file(path, what);
    if (!t) {
        error = t.err().what();
        return {};
    }
    std::string s = *t;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.starts_with("Authorization: ")) s = s.substr(15);
    return s;
}

void print_text(const diag::report& r, bool colour, bool verbose) {
    auto style = [&](fmt::text_style st, std::string_view s) { return colour ? fmt::format(st, "{}", s) : std::string(s); };
    const auto& v = r.v;
    const std::string who = r.gateway_id.empty() ? r.input : r.gateway_id + (r.eui.empty() ? "" : " (" + r.eui + ")");
    if (r.api_failure) {
        fmt::print("{} {}\n", style(fmt::fg(fmt::color::red) | fmt::emphasis::bold, "cannot reach the API:"), *r.api_failure);
    } else if (v.cause == "healthy") {
        fmt::print("{} {} is connected and working\n", style(fmt::fg(fmt::color::green) | fmt::emphasis::bold, "healthy:"), who);
    } else {
        const auto* info = diag::find_cause(v.cause);
        fmt::print("{} {} — {} (confidence {}, score {})\n", style(fmt::fg(fmt::color::orange_red) | fmt::emphasis::bold, "verdict:"),
                   style(fmt::emphasis::bold, v.cause), info ? std::string(info->title) : std::string("no catalogue cause fits the evidence"),
                   to_string(v.confidence), v.score);
        fmt::print("gateway: {}\n", who);
    }
    if (!v.evidence.empty()) {
        fmt::print("evidence:\n");
        for (const auto& e : v.evidence) fmt::print("  - {}\n", e);
    }
    if (!v.alternatives.empty()) {
        fmt::print("alternatives:\n");
        for (const auto& a : v.alternatives) fmt::print("  - {} ({}, score {})\n", a.cause, to_string(a.confidence), a.score);
    }
    if (!v.ruled_out.empty()) {
        fmt::print("ruled out:\n");
        for (const auto& x : v.ruled_out) fmt::print("  - {}: {}\n", x.cause, x.reason);
    }
    if (!v.fix.empty() && v.cause != "healthy" && !r.api_failure) {
        fmt::print("fix:\n");
        for (const auto& f : v.fix) fmt::print("  {} [{}] {}\n", f.automated ? "*" : "-", f.id, f.text);
    }
    for (const auto& s : r.side_effects) fmt::print("side effect: {}\n", s);
    if (verbose) {
        fmt::print("probes:\n");
        for (const auto& p : r.probes) {
            fmt::print("  {:<4} {:>8.1f} ms  {:<44} {} -> {}\n", p.id, p.duration_ms, p.title, p.target, p.outcome);
            for (const auto& l : p.exchange) fmt::print("         {}\n", l);
        }
        fmt::print("atoms:\n");
        for (const auto& a : r.atoms) fmt::print("  {} [{}] {}\n", a.id, a.probe, a.detail);
    }
    fmt::print("{} API call(s), {:.0f} ms\n", r.api_calls, r.elapsed_ms);
}

int run(doctor_cli_options o) {
    const std::string sub = "doctor";
    if (o.gateway.empty()) return report_error(sub, "cli.bad_option", "give a gateway ID, an EUI or a TTIG label code", exit_usage, o.json);
    if (o.tts.empty()) {
        const char* env = std::getenv("TTIGCTL_TTS");
        o.tts = env && *env ? env : "https://eu1.cloud.thethings.network";
    }
    std::string err;
    if (!o.api_key_file.empty()) o.api_key = read_secret(o.api_key_file, "--api-key-file", err);
    if (o.api_key.empty())
        if (const char* env = std::getenv("TTIGCTL_API_KEY")) o.api_key = env;
    if (!err.empty()) return report_error(sub, "cli.local_io", err, exit_local_io, o.json);
    if (o.api_key.empty())
        return report_error(sub, "cli.bad_option", "no API key: set TTIGCTL_API_KEY or use --api-key-file (a key with gateway INFO, STATUS_READ, READ_SECRETS)",
                            exit_usage, o.json);
    if (o.timeout_s <= 0 || o.timeout_s > 600) return report_error(sub, "cli.bad_option", "--timeout must be 0..600 seconds", exit_usage, o.json);

    diag::doctor_options d;
    d.tts_url = o.tts;
    d.api_key = o.api_key;
    d.gateway = o.gateway;
    d.other_clusters = o.clusters;
    d.resolve = o.resolve;
    for (const auto& c : o.ca) d.ca_files.emplace_back(c);
    d.insecure = o.insecure;
    d.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    d.thorough = o.thorough;
    if (o.events_window_s < 0 || o.events_window_s > 60)
        return report_error(sub, "cli.bad_option", "--events-window must be 0..60 seconds", exit_usage, o.json);
    if (o.events_window_s > 0) d.events_window = std::chrono::milliseconds(static_cast<std::int64_t>(o.events_window_s * 1000));
    d.anonymous_cups_probe = o.anonymous_cups;
    d.verbose = o.verbose || !o.html.empty();
    if (!o.station_dir.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(o.station_dir, ec))
            return report_error(sub, "cli.bad_option", fmt::format("--station-dir {}: not a directory", o.station_dir), exit_usage, o.json);
        d.station_dir = o.station_dir;
    }
    if (!o.cups_key_file.empty()) d.cups_key = read_secret(o.cups_key_file, "--cups-key-file", err);
    if (!o.lns_key_file.empty()) d.lns_key = read_secret(o.lns_key_file, "--lns-key-file", err);
    if (!err.empty()) return report_error(sub, "cli.local_io", err, exit_local_io, o.json);
    if (!o.led.empty()) {
        if (!led_patterns.count(o.led)) {
            std::string all;
            for (const auto& p : led_patterns) all += (all.empty() ? "" : ", ") + p;
            return report_error(sub, "cli.bad_option", fmt::format("--led {}: use one of {}", o.led, all), exit_usage, o.json);
        }
        if (o.led == "off") d.answers.push_back({"user.device_off", "user", "you saw the LED off: the device has no power"});
        else d.answers.push_back({"user.led." + o.led, "user", "you saw the LED: " + o.led});
    }
    for (const auto& a : o.answers) {
        std::string why;
        auto at = parse_answer(a, why);
        if (!at) return report_error(sub, "cli.bad_option", why, exit_usage, o.json);
        if (!at->id.empty()) d.answers.push_back(*at);
    }
    if (o.insecure) fmt::print(stderr, "doctor: WARNING: --insecure: TLS certificates are NOT verified; TLS evidence is not trustworthy\n");

    auto rep = diag::run_doctor(d);
    // On a terminal, ask what only a person can see, and only when the evidence is not decisive.
    if (!o.no_input && !o.json && !rep.api_failure && isatty(0) && stdout_is_tty() && diag::needs_answers(rep.v)) {
        const auto qs = diag::questions_for(rep.v, rep.atoms);
        if (!qs.empty()) fmt::print("The evidence does not settle it ({} vs {}). {} question(s); Enter skips:\n", rep.v.cause,
                                    rep.v.alternatives.empty() ? std::string("nothing else") : rep.v.alternatives.front().cause, qs.size());
        for (const auto& q : qs) {
            if (q.choices.empty()) fmt::print("  {} [y/n] ", q.text);
            else fmt::print("  {} ({}) ", q.text, fmt::join(q.choices, ", "));
            std::fflush(stdout);
            std::string answer;
            if (!std::getline(std::cin, answer)) break;
            if (auto a = diag::answer_atom(q, answer)) rep.atoms.push_back(*a);
        }
        if (!qs.empty()) fmt::print("\n");
        rep.v = diag::decide(rep.atoms);
    }
    auto code_of = [](const diag::report& r) -> int {
        if (r.api_failure) return exit_api_unreachable;
        if (r.v.cause == "healthy") return exit_healthy;
        if (r.v.cause == "unknown") return exit_disconnected_unknown;
        return exit_disconnected_known;
    };
    int code = code_of(rep);
    auto j = diag::to_json(rep);
    j["exit_code"] = code;
    if (!o.json) print_text(rep, stdout_is_tty(), o.verbose);
    // --fix: the plan, confirmation, the calls, then the ladder again as proof.
    if (o.fix && !rep.api_failure) {
        diag::fix_options fo{o.gs_address, o.frequency_plan};
        const auto plan = diag::plan_fix(rep, d, fo);
        j["fix_plan"] = diag::to_json(plan);
        bool go = false;
        if (!plan.empty()) {
            if (!o.json) {
                fmt::print("\nfix plan for {}:\n", plan.cause);
                for (const auto& st : plan.steps) {
                    fmt::print("  [{}] {}\n", st.action, st.what);
                    for (const auto& c : st.calls) fmt::print("        {}\n", c);
                }
                for (const auto& w : plan.warnings) fmt::print("  note: {}\n", w);
            }
            if (o.yes) go = true;
            else if (!o.no_input && !o.json && isatty(0) && stdout_is_tty()) {
                fmt::print("apply these changes? [y/N] ");
                std::fflush(stdout);
                std::string answer;
                std::getline(std::cin, answer);
                go = answer == "y" || answer == "Y" || answer == "yes";
            } else if (!o.json) {
                fmt::print("not applied: run again with --yes to apply\n");
            }
        } else if (!o.json) {
            fmt::print("\nno fix: {}\n", plan.not_fixable);
        }
        if (go) {
            const auto res = diag::apply_fix(plan, rep, d, fo);
            j["fix"] = diag::to_json(res);
            if (res.applied) code = code_of(res.after);
            if (res.error) code = res.after.api_failure ? exit_api_unreachable : code;
            j["exit_code"] = code;
            if (!o.json) {
                for (const auto& l : res.done) fmt::print("done: {}\n", l);
                if (res.error) fmt::print("fix failed: {}\n", *res.error);
                fmt::print("after the fix: {} ({}){}\n", res.after.v.cause, to_string(res.after.v.confidence),
                           res.proven ? fmt::format(" — proven by {}", res.proof) : " — not proven yet");
            }
            if (res.error) code = exit_failed;
        }
    }
    if (!o.html.empty()) {
        std::ofstream out(o.html, std::ios::binary | std::ios::trunc);
        out << diag::render_html(j);
        if (!out) return report_error(sub, "cli.local_io", fmt::format("cannot write the HTML report {}", o.html), exit_local_io, o.json);
    }
    if (o.json) print_json(j);
    return code;
}

}  // namespace

void setup_doctor(CLI::App& app) {
    auto o = std::make_shared<doctor_cli_options>();
    auto* d = app.add_subcommand(
        "doctor",
        "Explain why a gateway shows Disconnected: gathers the safe evidence (gateway record, API keys, connection stats,\n"
        "events, TLS, LNS discovery, CUPS), names the most likely cause with its evidence, the look-alikes it ruled out,\n"
        "and the fix. Exit 0 healthy, 10 disconnected with a known cause, 11 cause unknown, 12 API unreachable or key\n"
        "refused, 64 usage (docs/exit-codes.md).\n"
        "Safe by design: doctor never opens /traffic with any key (the Gateway Server keeps one connection per gateway and\n"
        "would disconnect the real gateway); it asks /router-info only, which checks the key and connects nothing.");
    d->add_option("GATEWAY", o->gateway, "Gateway ID, EUI in any form, or TTIG label code (12 hex after (92))")->required();
    d->add_option("--tts", o->tts, "The Things Stack URL (Identity Server and home cluster); env TTIGCTL_TTS; default https://eu1.cloud.thethings.network");
    d->add_option("--api-key", o->api_key, "Your API key (prefer TTIGCTL_API_KEY or --api-key-file: other users can read argv)");
    d->add_option("--api-key-file", o->api_key_file, "File holding your API key (else env TTIGCTL_API_KEY); gateway rights INFO, STATUS_READ, READ_SECRETS");
    d->add_option("--cluster", o->clusters, "URL of another cluster of the deployment to look for the gateway's connection (repeatable)")->allow_extra_args(false);
    d->add_option("--resolve", o->resolve, "HOST:PORT:ADDR, as curl: connect HOST:PORT to ADDR (names, SNI and certificate checks unchanged)")->allow_extra_args(false);
    d->add_option("--cups-key-file", o->cups_key_file, "The gateway's own CUPS key (for the authenticated CUPS probe)");
    d->add_option("--lns-key-file", o->lns_key_file, "The gateway's own LNS key (for /router-info; default: the one in the registry)");
    d->add_option("--station-dir", o->station_dir,
                  "A Basics Station file set (cups.*, tc.*) to check against the server: its key IDs, tc.uri (read only)");
    d->add_option("--ca", o->ca, "Extra trust anchor (PEM) for the TLS checks (repeatable)")->allow_extra_args(false);
    d->add_flag("--insecure", o->insecure, "Do not verify TLS certificates (loudly warned; TLS evidence becomes meaningless)");
    d->add_option("--timeout", o->timeout_s, "Seconds for the whole run; every probe stops by then")->capture_default_str();
    d->add_option("--events-window", o->events_window_s,
                  "Seconds to read the gateway's event tail (default: 3 x the record request's round trip, 0.1-2 s)");
    d->add_option("--html", o->html, "Also write a self-contained HTML report (attach it to a support ticket)");
    d->add_flag("--verbose", o->verbose, "Every probe with its raw exchange (secrets redacted) and every evidence atom");
    d->add_flag("--thorough", o->thorough,
                "Slower evidence: a longer events window and the authenticated CUPS probe P12 — which WRITES the\n"
                "gateway's cups-last-seen attribute (as the gateway's own CUPS check would)");
    d->add_flag("--anonymous-cups-probe", o->anonymous_cups,
                "Allow the anonymous CUPS probe P11 on a deployment that is not TTN / TTS Cloud (it can auto-register the EUI\n"
                "where gcs.basic-station.owner-for-unknown is set)");
    d->add_option("--led", o->led, "The TTIG's LED as you see it: green_blink_slow, green_blink_fast, green_solid, green_red_alternating, "
                                   "red_blink_fast, red_green_flicker, off");
    d->add_option("--answer", o->answers,
                  "KEY=yes|no, what only you can know: same-lan, manual-registration, recreated, v2-history, other-instance, "
                  "device-off, first-boot, wifi-unsupported, lns-key-cleared, ... (repeatable)")->allow_extra_args(false);
    d->add_flag("--no-input", o->no_input,
                "Never ask: no questionnaire (asked on a terminal only when the evidence cannot separate the leading causes) and\n"
                "no confirmation for --fix");
    d->add_flag("--fix", o->fix,
                "Show the plan for causes fixable through the API (missing/revoked LNS key, Gateway Server address, frequency\n"
                "plan, stuck target CUPS), apply it after confirmation (or --yes), then run the ladder again to prove it.\n"
                "Nothing is revoked or deleted. Creating an API key e-mails the gateway's administrative contact.");
    d->add_flag("--yes", o->yes, "Apply the --fix plan without asking");
    d->add_option("--gs-address", o->gs_address, "Gateway Server address for the A2 fix (default: the --tts host)");
    d->add_option("--frequency-plan", o->frequency_plan, "Frequency plan ID for the A3 fix (EU_863_870_TTN, US_902_928_FSB_2, ...)");
    add_json_flag(*d, o->json);
    d->callback([o] {
        if (int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
