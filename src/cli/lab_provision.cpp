// ttigctl lab, part 3: provisioning on a virtual clock. A TTIG fresh from the factory is claimed
// (`ttigctl claim`), goes factory CUPS -> The Things Stack CUPS -> LNS, and has its CUPS and LNS keys
// rotated (`ttigctl rotate`), proven by the station, while days of its life pass in seconds; then a
// generic Basics Station pointed at `ttigctl serve` is handed over to The Things Stack.
#include "cli/lab_provision.hpp"

#include <ttig/emu/station_fleet.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/host_map.hpp>
#include <ttig/fleet/apply.hpp>
#include <ttig/fleet/report.hpp>
#include <ttig/fleet/status.hpp>
#include <ttig/provision/claim.hpp>
#include <ttig/provision/rotate.hpp>
#include <ttig/provision/serve.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/store/journal.hpp>
#include <ttig/tts/client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <mutex>
#include <set>
#include <unistd.h>
#include <thread>

namespace ttig::cli {

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The emulated TTS and stations on one virtual clock: only I/O is real.
struct virtual_world {
    boost::asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1795996800}}};  // 2026-11-30
    std::unique_ptr<emu::tts_emulator> tts;
    std::unique_ptr<emu::station_fleet> fleet;
    net::host_map hosts;
    std::thread io;
    std::string error;

    explicit virtual_world(const fs::path& dir) {
        emu::emulator_config c;
        c.ca_dir = dir / "tts";
        c.real_time_ticks = false;
        auto e = emu::tts_emulator::start(ioc, clock, c);
        if (!e) {
            error = e.err().what();
            return;
        }
        tts = std::move(*e);
        io = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc);
            ioc.run();
        });
    }
    ~virtual_world() {
        if (fleet) fleet->stop();
        fleet.reset();
        if (tts) tts->stop();
        ioc.stop();
        if (io.joinable()) io.join();
    }
    void settle() {
        for (int i = 0; fleet && i < 3000 && fleet->summary().in_flight != 0; ++i) std::this_thread::sleep_for(5ms);  // real I/O only
    }
    void advance(std::chrono::seconds total, std::chrono::seconds step) {
        for (auto t = 0s; t < total; t += step) {
            settle();
            clock.advance(step);
            tts->tick();
            if (fleet) fleet->wake();
        }
        settle();
    }
    bool connected() {
        for (int i = 0; fleet && i < 400; ++i) {
            auto s = fleet->summary();
            if (s.leds.count("green_solid") && s.leds.at("green_solid") >= 1) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
    tts::client_options client() const {
        tts::client_options o;
        const auto cfg = tts->config_json();
        o.base_url = cfg["api_url"].get<std::string>();
        o.api_key = cfg["admin_api_key"].get<std::string>();
        o.tls.ca_pem = {tts->ca_pem()};
        o.tls.use_system_store = false;
        o.clock = &clock;
        o.deadline = 10s;
        return o;
    }
};

std::string key_id_in(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    const std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto a = t.find("NNSXS.");
    return a == std::string::npos ? "" : t.substr(a + 6, t.find('.', a + 6) - a - 6);
}

// serve: a generic Basics Station whose cups.uri points at `ttigctl serve` on 127.0.0.1 is handed
// The Things Stack's CUPS URI and a CUPS key, and connects to The Things Stack.
void serve_handover(const lab_step& step, virtual_world& w, const fs::path& dir) {
    const auto cfg = w.tts->config_json();
    tts::client api(w.client());
    const std::string id = "lab-generic";
    const auto eui = proto::parse_eui("0016C001FF10A0B1")->eui;
    tts::gateway g;
    g.ids.gateway_id = id;
    g.ids.eui = eui;
    g.frequency_plan_ids = {"EU_863_870_TTN"};
    g.gateway_server_address = cfg["lns_url"].get<std::string>().substr(6);
    g.require_authenticated_connection = true;
    auto created = api.create_gateway(tts::account_ids::user(cfg["admin_user_id"].get<std::string>()), g);
    auto cups_key = created ? api.create_api_key(id, "cups", tts::rights::cups_key()) : tts::result<tts::api_key>(created.err());
    auto lns_key = created ? api.create_api_key(id, "lns", tts::rights::lns_key()) : tts::result<tts::api_key>(created.err());
    bool ok = created && cups_key && lns_key && api.update_gateway(id, tts::gateway_update().lbs_lns_secret(lns_key->key));
    provision::serve_options so;
    so.bind = "127.0.0.1";
    so.cups_port = 0;
    so.lns_port = 0;
    so.state_dir = dir / "serve";
    so.defaults.policy = provision::serve_policy::handover;
    so.defaults.handover.cups_uri = cfg["cups_url"].get<std::string>();
    if (auto der = pki::certificate_der(proto::as_bytes(w.tts->ca_pem()))) so.defaults.handover.cups_trust = *der;
    if (cups_key) so.defaults.handover.cups_key = cups_key->key;
    auto events = std::make_shared<std::vector<std::string>>();
    auto mu = std::make_shared<std::mutex>();
    std::unique_ptr<provision::serve_server> srv;
    std::string why;
    if (ok) {
        auto s = provision::serve_server::start(w.ioc, w.clock, so, [events, mu](const provision::serve_event& e) {
            std::lock_guard lock(*mu);
            events->push_back(std::string(provision::to_string(e.kind)));
        });
        if (s) srv = std::move(*s);
        else why = s.err().what();
    } else {
        why = "could not register lab-generic";
    }
    bool up = false;
    std::string tc_uri;
    if (srv) {
        const fs::path home = dir / "station-generic";
        fs::create_directories(home);
        std::ofstream(home / "cups.uri") << srv->endpoints().cups_uri;
        std::ofstream(home / "cups.trust") << srv->pki().ca_pem;
        emu::fleet_options fo;
        fo.homes = {home};
        fo.euis = {eui};
        emu::station_fleet fleet(w.ioc, w.clock, std::move(fo));
        fleet.start();
        for (int i = 0; i < 300 && !up; ++i) {
            w.clock.advance(10s);
            w.tts->tick();
            fleet.wake();
            std::this_thread::sleep_for(10ms);  // real I/O
            auto st = api.get_connection_stats(id);
            up = st && st->connected();
        }
        std::ifstream in(home / "tc.uri");
        std::getline(in, tc_uri);
        fleet.stop();
        srv->stop();
    }
    std::vector<std::string> seen;
    {
        std::lock_guard lock(*mu);
        seen = *events;
    }
    step("serve hand-over", up && !seen.empty(),
         fmt::format("ttigctl serve --bind 127.0.0.1 --policy handover: a Basics Station pointed at it ({}) was handed the TTS CUPS URI and key "
                     "and connected to the TTS LNS ({})",
                     fmt::join(seen, ", "), tc_uri),
         why.empty() ? fmt::format("events: {}; connected at TTS: {}", fmt::join(seen, ", "), up) : why);
}

// fleet: a small migration from a manifest under injected faults (5xx, lost answers), then its
// status and a report whose path is printed (kept after the lab ends).
void fleet_migration(const lab_step& step, virtual_world& w, const fs::path& dir) {
    const auto cfg = w.tts->config_json();
    const std::string lns = cfg["lns_url"].get<std::string>().substr(6);
    tts::client api(w.client());
    fleet::manifest m;
    for (int i = 0; i < 8; ++i) {
        const auto eui = proto::parse_eui(fmt::format("58A0CBFFFE95{:04X}", i))->eui;
        (void)w.tts->state().put_claimable({eui, fmt::format("wifi-{}", i), false, emu::claimable_gateway::upstream_state::unclaimed, {}});
        fleet::manifest_row r;
        r.file = "lab-fleet.csv";
        r.line = m.rows.size() + 2;
        r.eui = eui;
        r.gateway_id = fmt::format("lab-fleet-{}", i);
        r.frequency_plan_ids = {"EU_863_870_TTN"};
        r.cluster = lns;
        r.actions = {fleet::action::claim};
        r.owner_token = fmt::format("wifi-{}", i);
        m.rows.push_back(r);
    }
    for (int i = 0; i < 4; ++i) {
        tts::gateway g;
        g.ids.gateway_id = fmt::format("lab-v2-{}", i);
        g.gateway_server_address = "router.eu.thethings.network";  // a V2-era address
        (void)api.create_gateway(tts::account_ids::user(cfg["admin_user_id"].get<std::string>()), g);
        fleet::manifest_row r;
        r.file = "lab-fleet.csv";
        r.line = m.rows.size() + 2;
        r.gateway_id = g.ids.gateway_id;
        r.cluster = lns;
        r.actions = {fleet::action::set_gs};
        m.rows.push_back(r);
    }
    emu::fault_rule faults;
    faults.rpc = "*";
    faults.path_prefix = "/api/v3/";
    faults.error_ratio = 0.05;
    faults.lost_answer_ratio = 0.05;
    w.tts->api().set_faults({faults});
    fleet::apply_options ao;
    ao.journal_path = (dir / "fleet.db").string();
    ao.concurrency = 4;
    ao.backoff_base = std::chrono::milliseconds(20);
    ao.seed = 11;
    fleet::apply_env env;
    env.api = w.client();
    env.net.tls = env.api.tls;
    env.clock = &w.clock;
    env.sleep = [&w](std::chrono::nanoseconds d) { w.clock.advance(d); };
    const auto applied = fleet::apply(m, ao, env);
    w.tts->api().set_faults({});
    fleet::status_options so;
    so.api = w.client();
    for (const auto& r : m.rows) so.gateway_ids.push_back(r.gateway_id);
    so.journal_path = ao.journal_path;
    const auto st = fleet::fleet_status(so);
    const fs::path report_dir = fs::temp_directory_path() / fmt::format("ttigctl-lab-fleet-report-{}", ::getpid());
    std::string why;
    {
        std::ofstream(dir / "status.json") << fleet::to_json(st).dump();
        auto rep = fleet::build_report(fleet::report_input{ao.journal_path, (dir / "status.json").string()});
        if (!rep) why = rep.err().message;
        else if (auto wr = fleet::write_report(*rep, report_dir); !wr) why = wr.err().message;
    }
    const bool ok = applied.done == m.rows.size() && applied.failed == 0 && !st.failure && why.empty() && fs::exists(report_dir / "report.html");
    step("fleet", ok,
         fmt::format("ttigctl fleet apply: {} gateways (8 claims, 4 moved off a V2 address) under 5 % 5xx and 5 % lost answers: {} done, {} "
                     "retries, {} requests; fleet status read them in {} call(s); report: {}",
                     m.rows.size(), applied.done, applied.retries, applied.requests, st.calls.total(), (report_dir / "report.html").string()),
         why.empty() ? fmt::format("{}", fleet::to_json(applied).dump()) : why);
}

}  // namespace

void provisioning_tour(const lab_step& step, const fs::path& dir) {
    virtual_world w(dir);
    if (!step("virtual clock", w.tts != nullptr, "The Things Stack emulator and a TTIG on a virtual clock (days pass in seconds)", w.error)) return;
    const auto cfg = w.tts->config_json();
    const std::string lns_address = cfg["lns_url"].get<std::string>().substr(6);  // 127.0.0.1:PORT

    // A TTIG fresh from the factory: its label code, its Wi-Fi password, only the factory CUPS.
    const std::string label = "58A0CB80F00D", wifi = "LabWiFiPass";
    const auto eui = proto::parse_eui(label)->eui;
    (void)w.tts->state().put_claimable({eui, wifi, false, emu::claimable_gateway::upstream_state::unclaimed, {}});
    const fs::path home = dir / "ttig-claimed";
    fs::create_directories(home);
    const std::string entry = cfg["factory_cups_resolve"].get<std::string>();  // rjs.sm.tc:PORT:127.0.0.1
    (void)w.hosts.add(entry);
    std::ofstream(home / "cups.uri") << "https://rjs.sm.tc:" << entry.substr(entry.find(':') + 1, entry.rfind(':') - entry.find(':') - 1);
    std::ofstream(home / "cups.trust") << w.tts->ca_pem();
    emu::fleet_options fo;
    fo.hosts = &w.hosts;
    fo.homes = {home};
    fo.euis = {eui};
    fo.profile = emu::station_profile::ttig();
    w.fleet = std::make_unique<emu::station_fleet>(w.ioc, w.clock, std::move(fo));
    w.fleet->start();
    w.advance(2min, 30s);  // the factory CUPS has nothing for it yet: it retries every minute

    // claim, as `ttigctl claim 58A0CB80F00D --owner-token-file … --id lab-claimed --frequency-plan EU_863_870_TTN`.
    tts::client api(w.client());
    provision::claim_request cr;
    cr.code = label;
    cr.owner_token = wifi;
    cr.gateway_id = "lab-claimed";
    cr.frequency_plan_ids = {"EU_863_870_TTN"};
    cr.gateway_server_address = lns_address;
    const auto claimed = provision::claim_gateway(api, cr);
    w.advance(3min, 30s);  // factory CUPS -> TTS CUPS -> LNS
    const bool up = claimed.kind == provision::claim_kind::claimed && w.connected();
    const auto again = provision::claim_gateway(api, cr);  // idempotent: reports the current state
    auto wrong = cr;
    wrong.owner_token = "not-the-password";
    wrong.gateway_id = "lab-claimed-2";
    const auto refused = provision::claim_gateway(api, wrong);
    step("claim", up && again.kind == provision::claim_kind::already && refused.cause == "eui-claimed-elsewhere",
         fmt::format("ttigctl claim {}: EUI {}, claimed as {}; the TTIG went factory CUPS -> TTS CUPS -> LNS (LED green); a re-run "
                     "reports it {}; a second claim is refused: {}",
                     label, eui.hex(), cr.gateway_id, to_string(again.kind), refused.cause),
         fmt::format("claim: {} {} {}; connected: {}; re-run: {}; second claim: {}", to_string(claimed.kind), claimed.cause, claimed.message,
                     up, to_string(again.kind), refused.cause));

    serve_handover(step, w, dir);
    fleet_migration(step, w, dir);

    // rotate, as `ttigctl rotate lab-claimed --wait 3d`: each poll lets ten minutes of the station's life pass.
    auto journal = store::journal::open((dir / "journal.db").string());
    if (!journal) {
        step("rotate", false, "ttigctl rotate lab-claimed", journal.err().what());
        return;
    }
    provision::rotate_env env;
    env.api = w.client();
    env.net.tls = env.api.tls;
    env.journal = &*journal;
    env.clock = &w.clock;
    env.poll_interval = 10min;
    env.sleep = [&w](std::chrono::nanoseconds d) { w.advance(std::chrono::duration_cast<std::chrono::seconds>(d), 10min); };
    std::vector<std::string> seen;
    env.progress = [&seen](const provision::rotate_event& e) {
        if (e.status == "done" && (seen.empty() || seen.back() != e.step)) seen.push_back(e.step);
    };
    provision::rotate_options ro;
    ro.gateway_id = cr.gateway_id;
    const auto t0 = w.clock.now();
    const auto r = provision::rotate(ro, env, 72h);
    const double days = std::chrono::duration<double>(w.clock.now() - t0).count() / 86400.0;
    const bool still_up = w.connected();
    std::set<std::string> names;
    auto keys = api.list_api_keys(cr.gateway_id);
    if (keys)
        for (const auto& k : keys->items) names.insert(k.name.substr(0, k.name.rfind('-')));
    const bool only_new = keys && keys->items.size() == 2 && names == std::set<std::string>{"cups-key-ttigctl", "lns-key-ttigctl"};
    const std::string new_cups = r.journal_doc.contains("new_cups") ? r.journal_doc["new_cups"].value("id", "") : "";
    const bool station_holds = !new_cups.empty() && key_id_in(home / "cups.key") == new_cups;
    step("rotate", r.status == provision::rotate_status::done && still_up && only_new && station_holds,
         fmt::format("ttigctl rotate {}: new CUPS and LNS keys, each proven by the TTIG ({:.1f} virtual days: {}); old keys "
                     "cups-key-claim and lns-key-claim deleted; {} API calls and {:.0f} ms of tool time (+{} looks while waiting)",
                     cr.gateway_id, days, fmt::join(seen, " -> "), r.api_calls, r.tool_ms, r.poll_calls),
         fmt::format("status {} {} {}; connected {}; keys {}; station holds the new CUPS key: {}", to_string(r.status), r.error_id, r.message,
                     still_up, fmt::join(names, ","), station_holds));
}

}  // namespace ttig::cli
