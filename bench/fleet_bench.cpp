// `ttigctl fleet` at scale against `ttigctl emulate tts` (each its own process, loopback, real time):
//
//   baseline  fleet apply of N gateways with no rate limit: the calls the manifest needs (C) and
//             the final state S0 (read from the emulator's state file after it stopped).
//   limited   the same on a fresh emulator limited to R requests/s (one shared GCRA bucket of burst
//             B over every /api/v3 call: class "grpc:method", `"shared": true`, an emulator
//             extension): API-phase time against the lower bound C / R, the calls made, the 429s,
//             peak RSS of the fleet process; then `fleet status --all` of the N gateways (calls,
//             retries counted); the final state must equal S0.
//   soak      the limited run again with 5 % 5xx, 2 % resets before the work, 1 % lost answers
//             (work done, answer lost) on every /api/v3 call, and 429 bursts (claims get their own
//             bucket of burst 5): every gateway exactly once — the final state must equal S0.
//   kill      no rate limit; SIGKILL after K random journal writes, then --resume, 20 times, then
//             a last --resume to the end: the final state must equal S0 and every gateway keeps
//             working credentials (its LNS secret is a live key with RIGHT_GATEWAY_LINK; a
//             rotation still waiting for its station keeps its old CUPS and LNS keys unchanged).
//
// Action mix (N rows): 40 % claim (EUI + owner token), 30 % set-gs (Gateway Server address),
// 30 % move|rotate-cups (a move to the emulator's cluster with an LNS key rotation, plus a CUPS key
// rotation). There are no stations here, so rotations end their API phase in pending-check-in
// (exit 13) — the check-ins and the rest of a rotation are tested in tests/fleet and tests/cli.
// "State" compared: every gateway (ID, EUI, Gateway Server address, plans, target CUPS key's key
// name, LNS secret's key name) and its API keys (name without the random suffix, rights), sorted.
//
//   fleet_bench [--gateways 10000] [--rate 500] [--burst 500] [--concurrency 16] [--kills 20]
//               [--phases baseline,limited,soak,kill] [--seed 1]
#include "bench_common.hpp"

#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/clock.hpp>

#include <CLI/CLI.hpp>

#include <map>
#include <random>
#include <set>

namespace fs = std::filesystem;
using namespace ttig;
using bench::json;
using bench::ojson;

namespace {

struct options {
    std::string ttigctl = TTIG_CLI_BINARY;
    std::size_t gateways = 10000;
    int rate = 500;   // requests per second
    int burst = 0;    // 0: one second's worth
    std::size_t concurrency = 16;
    int kills = 20;
    std::string phases = "baseline,limited,soak,kill";
    std::uint64_t seed = 1;
    bool keep = false;
};

// ---- the fleet ----------------------------------------------------------------------------------

struct fleet_spec {
    std::size_t claims = 0, addresses = 0, moves = 0;
    std::string user_token;                           // the bench user's API key (RIGHT_ALL)
    std::map<std::string, std::string> cups_key_ids;  // move rows: gateway -> its original CUPS key ID
    std::map<std::string, std::string> lns_key_ids;   // move rows: gateway -> its original LNS key ID
};

std::string random_token(std::mt19937_64& rng) {
    static constexpr char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::uniform_int_distribution<int> d(0, 31);
    std::string id, secret;
    for (int i = 0; i < 39; ++i) id += b32[d(rng)];
    for (int i = 0; i < 52; ++i) secret += b32[d(rng)];
    return "NNSXS." + id + "." + secret;
}

std::string key_id_of(const std::string& token) { return token.substr(6, 39); }

std::string claim_eui(std::size_t i) { return fmt::format("58A0CBFFFE{:06X}", 0x100000 + i); }
std::string old_eui(std::size_t i) { return fmt::format("0016C001FF{:06X}", 0x200000 + i); }

// Scenario: user "bench", its key, the existing gateways (with CUPS and LNS keys for the moved
// ones), the claimable TTIGs, rate limits and faults.
json make_scenario(fleet_spec& f, std::size_t n, std::uint64_t seed, int rate, int burst, bool soak) {
    std::mt19937_64 rng(seed);
    f.claims = n * 4 / 10;
    f.addresses = n * 3 / 10;
    f.moves = n - f.claims - f.addresses;
    f.user_token = random_token(rng);
    json s;
    s["options"] = {{"pbkdf2_iterations", 1000}, {"seed", seed}};
    s["users"] = json::array({{{"user_id", "bench"}, {"name", "Fleet bench"}}});
    json keys = json::array();
    keys.push_back({{"owner", {{"user_id", "bench"}}}, {"key", f.user_token}, {"name", "fleet"}, {"rights", {"RIGHT_ALL"}}});
    json gws = json::array();
    for (std::size_t i = 0; i < f.addresses + f.moves; ++i) {
        const bool move = i >= f.addresses;
        const std::string id = move ? fmt::format("move-{}", i - f.addresses) : fmt::format("addr-{}", i);
        json g = {{"ids", {{"gateway_id", id}, {"eui", old_eui(i)}}},
                  {"frequency_plan_ids", {"EU_863_870_TTN"}},
                  {"gateway_server_address", "old.example.com"}};
        if (move) {
            const std::string cups = random_token(rng), lns = random_token(rng);
            f.cups_key_ids[id] = key_id_of(cups);
            f.lns_key_ids[id] = key_id_of(lns);
            keys.push_back({{"owner", {{"gateway_id", id}}}, {"key", cups}, {"name", "cups"},
                            {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"}}});
            keys.push_back({{"owner", {{"gateway_id", id}}}, {"key", lns}, {"name", "lns"}, {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}});
            g["require_authenticated_connection"] = true;
            g["attributes"] = {{"cups-last-seen", "2026-11-01T08:00:00Z"}};  // its station uses CUPS here
            g["lbs_lns_secret"] = {{"value", emu::base64_encode(lns)}};
        }
        gws.push_back({{"gateway", g}, {"owner", {{"user_id", "bench"}}}});
    }
    s["gateways"] = gws;
    s["api_keys"] = keys;
    json inv = json::array();
    for (std::size_t i = 0; i < f.claims; ++i) inv.push_back({{"eui", claim_eui(i)}, {"owner_token", fmt::format("pass-{}", i)}});
    s["claimable"] = inv;
    json limits = json::array();
    if (soak) limits.push_back({{"name", "claims"}, {"max_per_min", 60 * std::max(1, rate / 4)}, {"max_burst", 5},
                                {"associations", {"grpc:method:/ttn.lorawan.v3.GatewayClaimingServer/Claim"}}});
    if (rate > 0)
        limits.push_back({{"name", "deployment"}, {"max_per_min", 60 * rate}, {"max_burst", burst > 0 ? burst : rate},
                          {"associations", {"grpc:method"}}, {"shared", true}});
    if (!limits.empty()) s["rate_limits"] = limits;
    if (soak)
        s["faults"] = json::array({{{"path_prefix", "/api/v3/"}, {"error_ratio", 0.05}, {"reset_ratio", 0.02}, {"lost_answer_ratio", 0.01}}});
    return s;
}

// The manifest (0600: it holds owner tokens). `cluster`: the emulator's Gateway Server address.
void write_manifest(const fs::path& path, const fleet_spec& f, const std::string& cluster) {
    std::ofstream m(path, std::ios::binary | std::ios::trunc);
    m << "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n";
    // Interleaved, as a real fleet list is: claim, claim, set-gs, move, …
    std::size_t c = 0, a = 0, v = 0;
    while (c < f.claims || a < f.addresses || v < f.moves) {
        for (int k = 0; k < 4 && c < f.claims; ++k, ++c)
            m << claim_eui(c) << ",claimed-" << c << ",EU_863_870_TTN," << cluster << ",claim,pass-" << c << "\n";
        for (int k = 0; k < 3 && a < f.addresses; ++k, ++a) m << ",addr-" << a << ",," << cluster << ",set-gs,\n";
        for (int k = 0; k < 3 && v < f.moves; ++k, ++v) m << ",move-" << v << ",," << cluster << ",move|rotate-cups,\n";
    }
    m.close();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

// ---- processes ------------------------------------------------------------------------------------

struct tool_run {
    int exit_code = -1;  // 128 + signal when killed
    double wall_s = 0;
    long maxrss_kib = 0;
    std::string out, err;
};

// stdout and stderr go to <dir>/<name>.out and .err (kept with --keep).
tool_run run_tool(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env, const fs::path& dir,
                  const std::string& name) {
    tool_run r;
    const fs::path out = dir / (name + ".out"), err = dir / (name + ".err");
    std::vector<std::string> a = args;
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    const auto t0 = bench::steady::now();
    const pid_t pid = ::fork();
    if (pid < 0) return r;
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
        const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o >= 0) ::dup2(o, 1);
        if (e >= 0) ::dup2(e, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    r.wall_s = bench::seconds_since(t0);
    r.maxrss_kib = ru.ru_maxrss;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = bench::read_text(out);
    r.err = bench::read_text(err);
    return r;
}

// One emulator with its state in `dir`/state.db (kept after it stops, for the state check).
struct world {
    fs::path dir;
    bench::emulator_process emu;
    fleet_spec spec;
    std::string api, cluster, ca;
    fs::path manifest, key_file;
    int runs = 0;

    std::string start(const options& o, const std::string& name, int rate, bool soak) {
        dir = fs::temp_directory_path() / fmt::format("ttig-fleet-bench-{}-{}", ::getpid(), name);
        fs::remove_all(dir);
        fs::create_directories(dir);
        bench::emulator_options eo;
        eo.ttigctl = o.ttigctl;
        eo.scenario_json = make_scenario(spec, o.gateways, o.seed, rate, o.burst, soak).dump();
        eo.extra_args = {"--state", (dir / "state.db").string(), "--threads", "2"};
        eo.start_timeout = std::chrono::seconds(600);
        if (auto e = emu.start(eo); !e.empty()) return e;
        api = emu.config()["api_url"].get<std::string>();
        ca = emu.config()["ca_file"].get<std::string>();
        // The emulator's cluster: its Gateway Server (LNS) as a gateway would be told to use it.
        const std::string lns = emu.config()["lns_url"].get<std::string>();  // wss://127.0.0.1:PORT
        cluster = "localhost:" + lns.substr(lns.rfind(':') + 1);
        manifest = dir / "fleet.csv";
        write_manifest(manifest, spec, cluster);
        key_file = dir / "api.key";
        std::ofstream(key_file) << spec.user_token;
        fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
        return {};
    }

    std::vector<std::string> api_args() const {
        return {"--tts", api, "--api-key-file", key_file.string(), "--ca", ca, "--resolve", cluster + ":127.0.0.1"};
    }

    tool_run apply(const options& o, const fs::path& journal, bool resume, std::optional<long> kill_after = std::nullopt) {
        std::vector<std::string> args{o.ttigctl, "fleet", "apply", manifest.string(), "--journal", journal.string(),
                                      "--concurrency", std::to_string(o.concurrency), "--json"};
        if (resume) args.push_back("--resume");
        for (auto& a : api_args()) args.push_back(a);
        std::vector<std::pair<std::string, std::string>> env;
        if (kill_after) env.emplace_back("TTIGCTL_TEST_KILL_AFTER_JOURNAL", std::to_string(*kill_after));
        return run_tool(args, env, dir, fmt::format("apply-{}", runs++));
    }

    // Stops the emulator and reads its state file: the normalized state, and the credential check.
    struct snapshot {
        std::vector<std::string> lines;  // one per gateway
        std::size_t gateways = 0, keys = 0;
        std::vector<std::string> broken;  // gateways without working credentials, with why
    };
    snapshot stop_and_read() {
        emu.stop();
        snapshot s;
        proto::system_clock clock;
        emu::state_options so;
        so.path = (dir / "state.db").string();
        auto st = emu::tts_state::open(clock, so);
        if (!st) {
            s.broken.push_back(fmt::format("state file: {}", st.err().what()));
            return s;
        }
        auto& state = **st;
        for (const auto& g : state.gateways()) {
            const std::string id = g.id();
            std::map<std::string, std::string> name_of;  // key ID -> "name:rights"
            std::map<std::string, emu::api_key_info> by_id;
            std::multiset<std::string> keys;
            for (const auto& k : state.api_keys(emu::entity_ref::gateway(id))) {
                std::string name = k.name;
                // Rotation keys carry a time suffix (cups-key-ttigctl-<stamp>): compare without it.
                if (name.rfind("cups-key-ttigctl-", 0) == 0 || name.rfind("lns-key-ttigctl-", 0) == 0) name = name.substr(0, name.rfind('-'));
                const std::string entry = fmt::format("{}{}", name, k.to_json()["rights"].dump());
                name_of[k.id] = entry;
                by_id[k.id] = k;
                keys.insert(entry);
                ++s.keys;
            }
            auto key_entry = [&](const std::optional<std::string>& token) -> std::string {
                if (!token || token->empty()) return "-";
                if (token->size() < 45 || token->rfind("NNSXS.", 0) != 0) return "not-a-key";
                auto it = name_of.find(key_id_of(*token));
                return it == name_of.end() ? "deleted-key" : it->second;
            };
            std::string gs = g.gateway_server_address();
            if (gs == cluster) gs = "<the emulator's cluster>";  // its port differs from run to run
            std::string line = fmt::format("{} eui={} gs={} fp={} target_cups_key={} lns_secret={} keys=", id, g.eui() ? g.eui()->hex() : "-",
                                           gs, json(g.frequency_plan_ids()).dump(), key_entry(g.target_cups_key()),
                                           key_entry(g.lbs_lns_secret()));
            for (const auto& k : keys) line += k + ";";
            s.lines.push_back(std::move(line));
            ++s.gateways;
            // Working credentials: the LNS secret is a live key that may link.
            if (auto lns = g.lbs_lns_secret(); lns && !lns->empty()) {
                auto it = by_id.find(lns->size() >= 45 ? key_id_of(*lns) : std::string());
                if (it == by_id.end()) s.broken.push_back(id + ": lbs_lns_secret is not a live key");
                else if (it->second.to_json()["rights"].dump().find("RIGHT_GATEWAY_LINK") == std::string::npos)
                    s.broken.push_back(id + ": lbs_lns_secret's key may not link");
            }
            // A rotation waiting for its station leaves the keys the station holds as they were.
            if (auto c = spec.cups_key_ids.find(id); c != spec.cups_key_ids.end()) {
                auto k = by_id.find(c->second);
                if (k == by_id.end()) s.broken.push_back(id + ": its station's CUPS key is gone");
                else if (k->second.to_json()["rights"].size() != 3) s.broken.push_back(id + ": its station's CUPS key lost rights");
                if (by_id.find(spec.lns_key_ids.at(id)) == by_id.end()) s.broken.push_back(id + ": its station's LNS key is gone");
            }
        }
        std::sort(s.lines.begin(), s.lines.end());
        return s;
    }

    void cleanup(bool keep) {
        emu.stop();
        if (!keep) fs::remove_all(dir);
    }
};

// The first lines that differ between two snapshots.
std::vector<std::string> diff(const world::snapshot& a, const world::snapshot& b) {
    std::vector<std::string> out;
    std::vector<std::string> only_a, only_b;
    std::set_difference(a.lines.begin(), a.lines.end(), b.lines.begin(), b.lines.end(), std::back_inserter(only_a));
    std::set_difference(b.lines.begin(), b.lines.end(), a.lines.begin(), a.lines.end(), std::back_inserter(only_b));
    for (std::size_t i = 0; i < only_a.size() && i < 3; ++i) out.push_back("reference: " + only_a[i]);
    for (std::size_t i = 0; i < only_b.size() && i < 3; ++i) out.push_back("this run:  " + only_b[i]);
    if (only_a.size() + only_b.size() > 6) out.push_back(fmt::format("… {} + {} lines differ", only_a.size(), only_b.size()));
    return out;
}

json parse_json(const std::string& s) { return json::parse(s, nullptr, false); }
double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"fleet_bench: ttigctl fleet apply/status of many gateways against ttigctl emulate tts (rate limit, faults, kill -9)"};
    app.add_option("--ttigctl", o.ttigctl)->capture_default_str();
    app.add_option("--gateways", o.gateways, "manifest rows")->capture_default_str()->check(CLI::Range(10, 1000000));
    app.add_option("--rate", o.rate, "the emulator's limit R, requests/s over every /api/v3 call")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--burst", o.burst, "its burst B (0: R)")->capture_default_str();
    app.add_option("--concurrency", o.concurrency, "fleet apply --concurrency")->capture_default_str();
    app.add_option("--kills", o.kills, "SIGKILLs in the kill phase")->capture_default_str();
    app.add_option("--phases", o.phases, "comma-separated: baseline,limited,soak,kill")->capture_default_str();
    app.add_option("--seed", o.seed)->capture_default_str();
    app.add_flag("--keep", o.keep, "keep the work directories (state files, journals, manifests)");
    CLI11_PARSE(app, argc, argv);
    auto want = [&](const char* p) { return ("," + o.phases + ",").find(fmt::format(",{},", p)) != std::string::npos; };
    bench::print_machine("fleet_bench");
    const int burst = o.burst > 0 ? o.burst : o.rate;
    fmt::print("fleet_bench: {} gateways, R = {} requests/s, burst {}, class grpc:method (every /api/v3 call, one shared bucket), concurrency {}\n",
               o.gateways, o.rate, burst, o.concurrency);
    ojson result;
    result["gateways"] = o.gateways;
    result["rate"] = o.rate;
    result["burst"] = burst;
    result["concurrency"] = o.concurrency;
    bool ok = true;
    auto fail = [&](const std::string& what) {
        fmt::print("FAIL: {}\n", what);
        ok = false;
    };
    world::snapshot reference;
    // Stops the emulator, reads its state and compares it with the baseline's; every gateway must
    // keep working credentials.
    auto check_state = [&](world& w, const char* phase, const char* meaning) {
        auto snap = w.stop_and_read();
        auto d = diff(reference, snap);
        fmt::print("{} state == baseline state{}: {}; gateways without working credentials: {}\n", phase, meaning, d.empty() ? "yes" : "NO",
                   snap.broken.size());
        for (const auto& l : d) fail(l);
        for (std::size_t i = 0; i < snap.broken.size() && i < 5; ++i) fail(fmt::format("{}: {}", phase, snap.broken[i]));
    };

    // A fresh emulator for a phase, then one fleet apply of the manifest; false (said on stderr)
    // when either cannot be done.
    auto start_and_apply = [&](world& w, const char* phase, int rate, bool soak, tool_run& r, json& j) {
        if (auto e = w.start(o, phase, rate, soak); !e.empty()) {
            fmt::print(stderr, "fleet_bench: {}: {}\n", phase, e);
            return false;
        }
        r = w.apply(o, w.dir / "journal.db", false);
        j = parse_json(r.out);
        if (j.is_discarded()) {
            fmt::print(stderr, "fleet_bench: {}: fleet apply printed no JSON (exit {}): {}\n", phase, r.exit_code, r.err.substr(0, 2000));
            return false;
        }
        return true;
    };

    // ---- baseline ----
    std::size_t calls_needed = 0;
    {
        world w;
        tool_run r;
        json j;
        if (!start_and_apply(w, "baseline", 0, false, r, j)) return 1;
        result["action_mix"] = {{"claim", w.spec.claims}, {"set-gs", w.spec.addresses}, {"move|rotate-cups", w.spec.moves}};
        fmt::print("action mix: {} claim, {} set-gs, {} move|rotate-cups (rotations end pending-check-in: no stations)\n", w.spec.claims,
                   w.spec.addresses, w.spec.moves);
        calls_needed = j.value("requests", std::size_t{0});
        fmt::print("baseline (no limit): exit {}, {} done, {} pending, {} failed, {} calls, {:.1f} s ({:.0f} calls/s), peak RSS {:.1f} MiB\n",
                   r.exit_code, j.value("done", 0), j.value("pending", 0), j.value("failed", 0), calls_needed, j.value("elapsed_s", 0.0),
                   static_cast<double>(calls_needed) / std::max(1e-9, j.value("elapsed_s", 0.0)), mib(r.maxrss_kib));
        if (j.value("failed", 0) != 0) fail("baseline: rows failed");
        result["baseline"] = {{"exit", r.exit_code}, {"calls", calls_needed}, {"elapsed_s", j.value("elapsed_s", 0.0)},
                              {"peak_rss_mib", mib(r.maxrss_kib)}, {"pending", j.value("pending", 0)}};
        reference = w.stop_and_read();
        fmt::print("baseline state: {} gateways, {} gateway API keys, {} without working credentials\n", reference.gateways, reference.keys,
                   reference.broken.size());
        if (reference.gateways != o.gateways) fail(fmt::format("baseline: {} gateways in the state, {} expected", reference.gateways, o.gateways));
        for (std::size_t i = 0; i < reference.broken.size() && i < 5; ++i) fail(reference.broken[i]);
        w.cleanup(o.keep);
    }

    // ---- limited ----
    if (want("limited")) {
        world w;
        tool_run r;
        json j;
        if (!start_and_apply(w, "limited", o.rate, false, r, j)) return 1;
        const double elapsed = j.value("elapsed_s", 0.0);
        const double bound = static_cast<double>(calls_needed) / o.rate;
        const std::size_t calls = j.value("requests", std::size_t{0}), throttled = j.value("throttled", std::size_t{0});
        fmt::print("limited (R = {}/s, burst {}): exit {}, {} calls ({} answered 429, {} step retries), API phase {:.1f} s, process {:.1f} s; "
                   "lower bound {} / {} = {:.1f} s; ratio {:.3f}; peak RSS {:.1f} MiB\n",
                   o.rate, burst, r.exit_code, calls, throttled, j.value("retries", 0), elapsed, r.wall_s, calls_needed, o.rate, bound,
                   elapsed / bound, mib(r.maxrss_kib));
        if (elapsed / bound > 1.10) fail(fmt::format("limited: ratio {:.3f} > 1.10", elapsed / bound));
        if (r.maxrss_kib >= 200 * 1024) fail("limited: peak RSS >= 200 MiB");
        result["limited"] = {{"exit", r.exit_code},           {"calls", calls},          {"throttled", throttled},
                             {"retries", j.value("retries", 0)}, {"api_phase_s", elapsed},  {"process_s", r.wall_s},
                             {"lower_bound_s", bound},          {"ratio", elapsed / bound}, {"peak_rss_mib", mib(r.maxrss_kib)}};
        // fleet status --all of the same gateways, under the same limit.
        std::vector<std::string> args{o.ttigctl, "fleet", "status", "--all", "--json"};
        for (auto& a : w.api_args()) args.push_back(a);
        auto s = run_tool(args, {}, w.dir, "status");
        auto sj = parse_json(s.out);
        if (sj.is_discarded()) fail("status printed no JSON: " + s.err.substr(0, 500));
        else {
            const auto calls_j = sj.value("api_calls", json::object());
            fmt::print("status --all: exit {}, {} gateways, api_calls {} ({:.1f} s, peak RSS {:.1f} MiB)\n", s.exit_code,
                       sj.value("gateways", json::array()).size(), calls_j.dump(), s.wall_s, mib(s.maxrss_kib));
            if (sj.value("gateways", json::array()).size() != o.gateways) fail("status: not every gateway");
            if (calls_j.value("total", std::size_t{1000000}) > (o.gateways + 999) / 1000 + (o.gateways + 99) / 100)
                fail("status: more calls than list pages (1,000 a page) + batches (100 each)");
            result["status"] = {{"exit", s.exit_code}, {"api_calls", calls_j}, {"wall_s", s.wall_s}, {"peak_rss_mib", mib(s.maxrss_kib)}};
        }
        check_state(w, "limited", "");
        w.cleanup(o.keep);
    }

    // ---- soak ----
    if (want("soak")) {
        world w;
        tool_run r;
        json j;
        if (!start_and_apply(w, "soak", o.rate, true, r, j)) return 1;
        fmt::print("soak (5 % 5xx, 2 % resets, 1 % lost answers, 429 bursts): exit {}, {} done, {} pending, {} failed, {} calls, {} answered 429, "
                   "{} step retries, {:.1f} s, peak RSS {:.1f} MiB\n",
                   r.exit_code, j.value("done", 0), j.value("pending", 0), j.value("failed", 0), j.value("requests", 0), j.value("throttled", 0),
                   j.value("retries", 0), j.value("elapsed_s", 0.0), mib(r.maxrss_kib));
        if (j.value("failed", 0) != 0) {
            for (const auto& row : j["rows"])
                if (row.value("status", "") == "failed") {
                    fail("soak: failed row " + row.dump());
                    break;
                }
        }
        result["soak"] = {{"exit", r.exit_code},         {"calls", j.value("requests", 0)},  {"throttled", j.value("throttled", 0)},
                          {"retries", j.value("retries", 0)}, {"failed", j.value("failed", 0)}, {"elapsed_s", j.value("elapsed_s", 0.0)}};
        check_state(w, "soak", " (every gateway exactly once)");
        w.cleanup(o.keep);
    }

    // ---- kill ----
    if (want("kill")) {
        world w;
        if (auto e = w.start(o, "kill", 0, false); !e.empty()) {
            fmt::print(stderr, "fleet_bench: kill: {}\n", e);
            return 1;
        }
        // Journal writes of the fleet operations in a whole run: about 1.9 a row for this mix
        // (measured); 1.5 a row keeps all the kill points inside the run.
        const long writes = static_cast<long>(o.gateways) * 3 / 2;
        std::mt19937_64 rng(o.seed * 7919);
        std::uniform_int_distribution<long> point(1, std::max<long>(2, 2 * writes / (o.kills + 1)));
        int killed = 0;
        std::vector<long> points;
        const auto t0 = bench::steady::now();
        for (int k = 0; k < o.kills; ++k) {
            points.push_back(point(rng));
            auto r = w.apply(o, w.dir / "journal.db", k > 0, points.back());
            if (r.exit_code == 128 + SIGKILL) ++killed;
            else break;  // finished before the kill point
        }
        auto r = w.apply(o, w.dir / "journal.db", true);
        auto j = parse_json(r.out);
        fmt::print("kill: {} SIGKILLs after {} journal writes, then --resume: exit {}, {} done, {} pending, {} failed ({:.1f} s in all)\n",
                   killed, json(points).dump(), r.exit_code, j.value("done", 0), j.value("pending", 0), j.value("failed", 0), bench::seconds_since(t0));
        if (killed != o.kills) fail(fmt::format("kill: only {} of {} runs were killed", killed, o.kills));
        result["kill"] = {{"killed", killed}, {"points", points}, {"exit", r.exit_code}, {"failed", j.value("failed", 0)}};
        check_state(w, "kill", "");
        w.cleanup(o.keep);
    }

    result["ok"] = ok;
    fmt::print("{}\n", result.dump());
    fmt::print("{}\n", ok ? "fleet_bench: every check held" : "fleet_bench: FAILED");
    return ok ? 0 : 1;
}
