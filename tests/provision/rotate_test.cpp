// rotate end to end: a TTIG connected to the emulated The Things Stack through its CUPS, rotated
// with the library on virtual time. What counts is the emulator's state (keys and rights, the
// record) and the station's own files and connection, never rotate's own report alone.
#include <doctest/doctest.h>

#include <ttig/provision/rotate.hpp>
#include <ttig/store/journal.hpp>

#include "support/tts_world.hpp"

#include <algorithm>
#include <set>

using namespace ttig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::set<std::string> cups_rights{"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_SETTINGS_BASIC", "RIGHT_GATEWAY_READ_SECRETS"};
const std::set<std::string> lns_rights{"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"};

struct rig : test::tts_world {
    store::journal journal = store::journal::open(":memory:").value();
    provision::rotate_env env;

    rig() {
        register_claimed();
        start_stations();
        REQUIRE(wait_for(connected));
        advance(60s);
        env.api.base_url = cfg["api_url"].get<std::string>();
        env.api.api_key = admin();
        env.api.tls.ca_pem = {tts->ca_pem()};
        env.api.tls.use_system_store = false;
        env.api.clock = &clock;
        env.api.deadline = 10s;
        env.net.tls = env.api.tls;
        env.journal = &journal;
        env.clock = &clock;
        env.poll_interval = 10min;
        // A poll interval of virtual time: the station and the emulator run through it.
        env.sleep = [this](std::chrono::nanoseconds d) { advance(std::chrono::duration_cast<std::chrono::seconds>(d), 10min); };
    }

    // The gateway's keys: id -> {name, rights}.
    std::map<std::string, std::pair<std::string, std::set<std::string>>> keys() {
        std::map<std::string, std::pair<std::string, std::set<std::string>>> out;
        auto j = rest("GET", "/api/v3/gateways/" + gw + "/api-keys?limit=1000");
        for (const auto& k : j.value("api_keys", nlohmann::json::array())) {
            std::set<std::string> r;
            for (const auto& x : k.value("rights", nlohmann::json::array())) r.insert(x.get<std::string>());
            out[k["id"].get<std::string>()] = {k.value("name", ""), r};
        }
        return out;
    }
    nlohmann::json record() {
        return rest("GET", "/api/v3/gateways/" + gw + "?field_mask=attributes,target_cups_key,lbs_lns_secret,gateway_server_address");
    }
    std::string file(const std::string& name) {
        std::ifstream in(home() / name, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    provision::rotate_options opts(bool cups = true, bool lns = true) {
        provision::rotate_options o;
        o.gateway_id = gw;
        o.cups = cups;
        o.lns = lns;
        return o;
    }
    // The station works: connected now, and still after a day (its next CUPS check-in included).
    void check_station_works() {
        CHECK(wait_for(connected));
        advance(25h, 10min);
        CHECK(led() == "green_solid");
        auto r = record();
        CHECK(r["attributes"].contains("cups-last-seen"));
    }
};

std::string key_id_in(const std::string& file_text) {
    const auto a = file_text.find("NNSXS.");
    if (a == std::string::npos) return {};
    const auto b = file_text.find('.', a + 6);
    return file_text.substr(a + 6, b - a - 6);
}

}  // namespace

TEST_CASE("rotate: CUPS and LNS keys of a connected TTIG end with only the new keys valid and the station connected") {
    rig w;
    const auto before = w.keys();
    REQUIRE(before.size() == 2);
    auto r = provision::rotate(w.opts(), w.env, 72h);
    INFO(provision::to_json(r).dump(2));
    REQUIRE(r.status == provision::rotate_status::done);

    const auto after = w.keys();
    CHECK(after.size() == 2);
    CHECK_FALSE(after.count(w.cups_key_id));
    CHECK_FALSE(after.count(w.lns_key_id));
    std::string new_cups, new_lns;
    for (const auto& [id, k] : after) {
        if (k.second == cups_rights) new_cups = id;
        if (k.second == lns_rights) new_lns = id;
    }
    REQUIRE(!new_cups.empty());
    REQUIRE(!new_lns.empty());
    CHECK(after.at(new_cups).first.starts_with("cups-key-ttigctl-"));
    CHECK(after.at(new_lns).first.starts_with("lns-key-ttigctl-"));
    // The station holds the new keys in its own files and is connected with them.
    CHECK(key_id_in(w.file("cups.key")) == new_cups);
    CHECK(key_id_in(w.file("tc.key")) == new_lns);
    auto rec = w.record();
    CHECK_FALSE(rec.contains("target_cups_key"));
    CHECK(key_id_in(emu::base64_decode(rec["lbs_lns_secret"]["value"].get<std::string>()).value_or("")) == new_lns);
    w.check_station_works();
    // No token in the journal.
    for (const auto& s : r.steps) CHECK(s.detail.dump().find("NNSXS.") == std::string::npos);
    CHECK(r.journal_doc.dump().find("NNSXS.") == std::string::npos);
}

TEST_CASE("rotate: a wait for the station is pending-check-in and a later run resumes it") {
    rig w;
    auto r = provision::rotate(w.opts(true, false), w.env, 0s);
    REQUIRE(r.status == provision::rotate_status::pending);
    CHECK(r.state == "pending-check-in");
    CHECK(r.waiting_for.find("RESET") != std::string::npos);
    // The old CUPS key still works: nothing was revoked yet.
    CHECK(w.keys().at(w.cups_key_id).second == cups_rights);
    w.advance(25h, 10min);
    r = provision::rotate(w.opts(true, false), w.env, 0s);
    REQUIRE(r.status == provision::rotate_status::pending);  // check-in 2: the proof
    // Now the old CUPS key is disabled (reversible), not deleted.
    CHECK(w.keys().at(w.cups_key_id).second == std::set<std::string>{"RIGHT_GATEWAY_INFO"});
    w.advance(25h, 10min);
    r = provision::rotate(w.opts(true, false), w.env, 0s);
    REQUIRE(r.status == provision::rotate_status::done);
    CHECK_FALSE(w.keys().count(w.cups_key_id));
    CHECK(w.keys().count(w.lns_key_id));  // --cups alone leaves the LNS key alone
    w.check_station_works();
}

TEST_CASE("rotate: LNS only, proven by the station's reconnection") {
    rig w;
    auto r = provision::rotate(w.opts(false, true), w.env, 72h);
    INFO(provision::to_json(r).dump(2));
    REQUIRE(r.status == provision::rotate_status::done);
    const auto k = w.keys();
    CHECK(k.count(w.cups_key_id));
    CHECK_FALSE(k.count(w.lns_key_id));
    CHECK(key_id_in(w.file("tc.key")) != w.lns_key_id);
    w.check_station_works();
}

TEST_CASE("rotate: faults leave a working path") {
    SUBCASE("an API error at the cutover stops the run; a resume finishes it") {
        rig w;
        emu::fault_rule f;
        f.rpc = "GatewayRegistry.Update";
        f.error_ratio = 1;
        // LNS only: create, verify, then the cutover update fails.
        w.tts->api().set_faults({f});
        auto o = w.opts(false, true);
        auto r = provision::rotate(o, w.env, 0s);
        REQUIRE(r.status == provision::rotate_status::failed);
        CHECK(r.error_id == "tts.pkg/util/store:database_unavailable");
        w.advance(1h, 10min);
        CHECK(w.led() == "green_solid");
        CHECK(w.keys().at(w.lns_key_id).second == lns_rights);
        w.tts->api().set_faults({});
        r = provision::rotate(o, w.env, 72h);
        INFO(provision::to_json(r).dump(2));
        REQUIRE(r.status == provision::rotate_status::done);
        // Exactly one new LNS key: the one created before the failure was deleted on resume.
        std::size_t lns = 0;
        for (const auto& [id, k] : w.keys()) lns += k.second == lns_rights;
        CHECK(lns == 1);
        w.check_station_works();
    }
    SUBCASE("the station never checks in: pending, old keys valid, rollback restores everything") {
        rig w;
        w.fleet.reset();  // the station is gone (unplugged)
        auto r = provision::rotate(w.opts(), w.env, 30h);
        REQUIRE(r.status == provision::rotate_status::pending);
        CHECK(w.keys().at(w.cups_key_id).second == cups_rights);
        CHECK(w.keys().at(w.lns_key_id).second == lns_rights);
        r = provision::rollback_rotation(w.gw, w.env);
        REQUIRE(r.status == provision::rotate_status::rolled_back);
        CHECK(w.keys().size() == 2);  // the new CUPS key (never delivered) is deleted
        CHECK_FALSE(w.record().contains("target_cups_key"));
        w.start_stations();
        w.check_station_works();
    }
    SUBCASE("a new LNS key the Gateway Server rejects is deleted before it is installed") {
        rig w;
        w.env.after_journal = [&](const std::string& step) {
            if (step != "lns.create:done") return;
            // Something takes the new key's LINK right away (a stand-in for any rejection).
            for (const auto& [id, k] : w.keys())
                if (k.first.starts_with("lns-key-ttigctl-"))
                    w.rest("PUT", "/api/v3/gateways/" + w.gw + "/api-keys/" + id,
                           R"({"api_key":{"rights":["RIGHT_GATEWAY_INFO"]},"field_mask":{"paths":["rights"]}})");
        };
        auto r = provision::rotate(w.opts(false, true), w.env, 0s);
        REQUIRE(r.status == provision::rotate_status::failed);
        CHECK(r.error_id == "rotate.new_key_rejected");
        CHECK(w.keys().size() == 2);
        CHECK(w.keys().count(w.lns_key_id));
        CHECK(key_id_in(emu::base64_decode(w.record()["lbs_lns_secret"]["value"].get<std::string>()).value_or("")) == w.lns_key_id);
        w.check_station_works();
    }
    SUBCASE("a new CUPS key that The Things Stack rejects is deleted before it is installed") {
        rig w;
        emu::fault_rule f;
        f.rpc = "EntityAccess.AuthInfo";
        f.error_ratio = 1;
        f.error = emu::tts_error::make("pkg/auth/rights:no_gateway_rights");
        w.tts->api().set_faults({f});
        auto r = provision::rotate(w.opts(true, false), w.env, 0s);
        REQUIRE(r.status == provision::rotate_status::failed);
        CHECK(r.error_id == "rotate.new_key_rejected");
        CHECK(w.keys().size() == 2);
        CHECK_FALSE(w.record().contains("target_cups_key"));
        w.tts->api().set_faults({});
        w.check_station_works();
    }
}

TEST_CASE("rotate: refuses a gateway in target-CUPS mode and one that never used CUPS") {
    rig w;
    w.put(R"({"target_cups_key":{"value":")" + emu::base64_encode(w.cups_key) + R"("}})", R"(["target_cups_key"])");
    auto r = provision::rotate(w.opts(), w.env, 0s);
    CHECK(r.status == provision::rotate_status::failed);
    CHECK(r.error_id == "cups-target-mode-stuck");
    CHECK(w.keys().size() == 2);
}

TEST_CASE("rotate: --dry-run lists the calls and changes nothing") {
    rig w;
    auto r = provision::plan_rotation(w.opts(), w.env);
    REQUIRE(r.status == provision::rotate_status::planned);
    CHECK(r.plan.size() >= 10);
    const std::string all = nlohmann::json(r.plan).dump();
    CHECK(all.find(w.cups_key_id) != std::string::npos);
    CHECK(all.find(w.lns_key_id) != std::string::npos);
    CHECK(w.keys().size() == 2);
    auto ops = w.journal.ops("rotate");
    REQUIRE(ops);
    CHECK(ops->empty());
}
