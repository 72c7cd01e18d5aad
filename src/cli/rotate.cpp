// ttigctl rotate GATEWAY: rotate a Basics Station gateway's CUPS and LNS keys through The Things
// Stack, proven by the station itself, journaled and resumable (provision/rotate.hpp).
#include "cli/api_options.hpp"
#include "cli/common.hpp"

#include <ttig/provision/rotate.hpp>
#include <ttig/store/journal.hpp>

#include <fmt/color.h>
#include <fmt/format.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace ttig::cli {

namespace {

struct rotate_cli_options {
    std::string gateway;
    bool cups = false, lns = false;
    std::string move_to;
    std::string journal;
    std::string wait = "0";
    double poll_s = 5;
    bool resume = false, rollback = false, dry_run = false, json = false;
    api_cli_options api;
};

// "90", "90s", "10m", "24h", "2d" -> duration.
std::optional<std::chrono::seconds> parse_duration(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || n < 0) return std::nullopt;
    const std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
    if (unit.empty() || unit == "s") return std::chrono::seconds(n);
    if (unit == "m") return std::chrono::minutes(n);
    if (unit == "h") return std::chrono::hours(n);
    if (unit == "d") return std::chrono::hours(24 * n);
    return std::nullopt;
}

std::filesystem::path default_journal() {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    std::filesystem::path dir = state && *state ? std::filesystem::path(state) : std::filesystem::path(home ? home : ".") / ".local" / "state";
    return dir / "ttigctl" / "journal.db";
}

int exit_for(const provision::rotate_result& r) {
    switch (r.status) {
        case provision::rotate_status::done:
        case provision::rotate_status::planned:
        case provision::rotate_status::rolled_back: return exit_ok;
        case provision::rotate_status::pending: return exit_pending;
        case provision::rotate_status::failed: break;
    }
    const auto& id = r.error_id;
    if (id == "rotate.journal") return exit_local_io;
    if (id == "rotate.bad_move_to" || id == "rotate.nothing_to_roll_back" || id == "rotate.unfinished") return exit_usage;
    if (id.find('.') == std::string::npos) return exit_refused_cause;  // a catalogue cause id
    if (id == "rotate.new_key_rejected" || id == "rotate.no_rights") return exit_refused_cause;
    if (id.starts_with("tts.")) return exit_rejected;
    if (id.starts_with("net.") || id.starts_with("tls.") || id == "rotate.gateway") return exit_api_unreachable;
    return exit_failed;
}

void print_text(const provision::rotate_result& r, const std::string& gateway) {
    const bool colour = stdout_is_tty();
    auto style = [&](fmt::text_style st, std::string_view s) { return colour ? fmt::format(st, "{}", s) : std::string(s); };
    for (const auto& w : r.warnings) fmt::print("warning: {}\n", w);
    switch (r.status) {
        case provision::rotate_status::planned:
            fmt::print("{} rotation of {} (nothing changed):\n", style(fmt::emphasis::bold, "plan:"), gateway);
            for (const auto& p : r.plan) fmt::print("  {}\n", p);
            break;
        case provision::rotate_status::done:
            fmt::print("{} {} rotated: the station proved the new keys; the old ones are deleted\n",
                       style(fmt::fg(fmt::color::green) | fmt::emphasis::bold, "done:"), gateway);
            break;
        case provision::rotate_status::pending:
            fmt::print("{} {}\n  {}\n  resume with: ttigctl rotate {} --resume [--wait 24h]   (or undo: --rollback)\n",
                       style(fmt::fg(fmt::color::orange) | fmt::emphasis::bold, "pending-check-in:"), gateway, r.waiting_for, gateway);
            break;
        case provision::rotate_status::rolled_back:
            fmt::print("{} {}: every key the station may hold is valid again\n", style(fmt::emphasis::bold, "rolled back:"), gateway);
            break;
        case provision::rotate_status::failed:
            fmt::print("{} [{}] {}\n", style(fmt::fg(fmt::color::red) | fmt::emphasis::bold, "failed:"), r.error_id, r.message);
            fmt::print("  the station keeps a working path; fix the cause and run again with --resume, or --rollback\n");
            break;
    }
    const auto& d = r.journal_doc;
    if (d.contains("new_cups") && d["new_cups"].contains("id")) fmt::print("  new CUPS key: {} ({})\n", d["new_cups"]["id"].get<std::string>(), d["new_cups"].value("name", ""));
    if (d.contains("new_lns") && d["new_lns"].contains("id")) fmt::print("  new LNS key:  {} ({})\n", d["new_lns"]["id"].get<std::string>(), d["new_lns"].value("name", ""));
    fmt::print("  {} API call(s), {:.0f} ms of tool time\n", r.api_calls, r.tool_ms);
}

int run(rotate_cli_options o) {
    const std::string sub = "rotate";
    if (o.gateway.empty()) return report_error(sub, "cli.bad_option", "give a gateway ID", exit_usage, o.json);
    if (!o.cups && !o.lns) o.cups = o.lns = true;
    if (o.rollback && (o.dry_run || o.resume))
        return report_error(sub, "cli.bad_option", "--rollback cannot be combined with --dry-run or --resume", exit_usage, o.json);
    auto wait = parse_duration(o.wait);
    if (!wait) return report_error(sub, "cli.bad_option", fmt::format("--wait {}: use 90s, 10m, 24h or 2d", o.wait), exit_usage, o.json);
    if (o.poll_s < 0.01 || o.poll_s > 3600) return report_error(sub, "cli.bad_option", "--poll must be 0.01..3600 seconds", exit_usage, o.json);
    auto client = make_client_options(sub, o.api, "ttigctl-rotate");
    if (!client) return report(sub, client.err(), o.json);

    std::filesystem::path jpath = o.journal.empty() ? default_journal() : std::filesystem::path(o.journal);
    std::error_code ec;
    if (!jpath.parent_path().empty() && !std::filesystem::exists(jpath.parent_path(), ec)) {
        std::filesystem::create_directories(jpath.parent_path(), ec);
        if (ec) return report_error(sub, "cli.local_io", fmt::format("--journal {}: cannot create {}: {}", jpath.string(), jpath.parent_path().string(), ec.message()), exit_local_io, o.json);
        std::filesystem::permissions(jpath.parent_path(), std::filesystem::perms::owner_all, ec);
    }
    auto journal = store::journal::open(jpath.string());
    if (!journal) return report_error(sub, "cli.local_io", fmt::format("--journal {}: {}", jpath.string(), journal.err().what()), exit_local_io, o.json);

    provision::rotate_env env;
    env.api = *client;
    env.net.tls = client->tls;
    env.net.hosts = client->hosts;
    env.net.user_agent = client->user_agent;
    env.journal = &*journal;
    env.poll_interval = std::chrono::milliseconds(static_cast<std::int64_t>(o.poll_s * 1000));
    if (!o.json)
        env.progress = [](const provision::rotate_event& e) {
            if (!e.text.empty()) fmt::print(stderr, "rotate: {:<14} {:<8} {}\n", e.step, e.status, e.text);
        };
    // Test aid (docs/rotate.md): TTIGCTL_TEST_KILL_AFTER_JOURNAL=N sends this process SIGKILL
    // right after its N-th journal write, as a crash at that step would.
    if (const char* k = std::getenv("TTIGCTL_TEST_KILL_AFTER_JOURNAL"); k && *k) {
        const long n = std::strtol(k, nullptr, 10);
        env.after_journal = [n, count = 0L](const std::string&) mutable {
            if (++count == n) ::kill(::getpid(), SIGKILL);
        };
    }

    provision::rotate_options ro;
    ro.gateway_id = o.gateway;
    ro.cups = o.cups;
    ro.lns = o.lns;
    ro.move_to = o.move_to;

    provision::rotate_result r;
    if (o.rollback) {
        r = provision::rollback_rotation(o.gateway, env);
    } else if (o.dry_run) {
        r = provision::plan_rotation(ro, env);
    } else {
        auto open = journal->open_op("rotate", "gateway:" + o.gateway);
        if (!open) return report_error(sub, "cli.local_io", open.err().what(), exit_local_io, o.json);
        if (*open && !o.resume)
            return report_error(sub, "rotate.unfinished",
                                fmt::format("an unfinished rotation of {} is in {} (state {}, started {}): run again with --resume, or --rollback",
                                            o.gateway, jpath.string(), (*open)->state, (*open)->created_at),
                                exit_usage, o.json);
        if (!*open && o.resume)
            return report_error(sub, "rotate.nothing_to_resume", fmt::format("no unfinished rotation of {} in {}", o.gateway, jpath.string()),
                                exit_usage, o.json);
        r = provision::rotate(ro, env, *wait);
    }
    const int code = exit_for(r);
    if (o.json) {
        auto j = provision::to_json(r);
        j["gateway_id"] = o.gateway;
        j["journal_file"] = jpath.string();
        j["exit_code"] = code;
        print_json(j);
    } else {
        print_text(r, o.gateway);
        if (r.status == provision::rotate_status::failed) fmt::print(stderr, "ttigctl rotate: [{}] {}\n", r.error_id, r.message);
    }
    return code;
}

}  // namespace

void setup_rotate(CLI::App& app) {
    auto o = std::make_shared<rotate_cli_options>();
    auto* r = app.add_subcommand(
        "rotate",
        "Rotate a gateway's CUPS and LNS API keys through The Things Stack, without ever leaving it without a working path home.\n"
        "New keys are created with the Console's rights and handed to the station through CUPS (target_cups_key, then\n"
        "lbs_lns_secret); the old keys are first only reduced to RIGHT_GATEWAY_INFO (reversible) and deleted once the station has\n"
        "proven the new ones (a CUPS check-in that only the new CUPS key can make, a connection after the check-in that delivered\n"
        "the LNS key). Waiting for the station is the state pending-check-in (exit 13): a connected station asks CUPS every 24 h,\n"
        "a TTIG at once after a press on RESET (not a power cycle). Resume with --resume (and --wait), undo with --rollback.\n"
        "Every step is journaled in SQLite (--journal; key IDs and names, never tokens). Each key creation e-mails the gateway's\n"
        "administrative contact. Exit 0 done, 13 pending, 14 refused for a named cause, 4 API error, 12 API unreachable, 8 journal.");
    r->add_option("GATEWAY", o->gateway, "Gateway ID")->required();
    r->add_flag("--cups", o->cups, "Rotate the CUPS key (default: both)");
    r->add_flag("--lns", o->lns, "Rotate the LNS key (default: both)");
    r->add_option("--move-to", o->move_to,
                  "Also move the gateway to another cluster: its new gateway_server_address (host[:port]), set with the new LNS key");
    r->add_option("--journal", o->journal, "SQLite journal (default $XDG_STATE_HOME/ttigctl/journal.db, created 0600)");
    r->add_option("--wait", o->wait, "How long to wait for the station (90s, 10m, 24h, 2d); 0 = look once and return")->capture_default_str();
    r->add_option("--poll", o->poll_s, "Seconds between looks at the record while waiting")->capture_default_str();
    r->add_flag("--resume", o->resume, "Continue the unfinished rotation of this gateway from the journal");
    r->add_flag("--rollback", o->rollback, "Undo the unfinished rotation: old keys get their rights back, target_cups_key is cleared");
    r->add_flag("--dry-run", o->dry_run, "Print the calls the rotation would make; change nothing");
    add_api_options(*r, o->api, "gateway rights INFO, SETTINGS_BASIC, SETTINGS_API_KEYS, READ_SECRETS, WRITE_SECRETS");
    add_json_flag(*r, o->json);
    r->callback([o] {
        if (int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
