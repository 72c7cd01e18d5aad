// provision::claim_gateway end to end against the emulated The Things Stack (real TLS on loopback):
// a TTIG label code claimed and read back, the idempotent second run, and every refusal set up
// through the emulator's state or REST API, named with its cause. Expected values come from
// tts-api.md §4.9 and basicstation-protocol.md §5.5, not from the code under test.
#include "support/run_cli.hpp"
#include "support/tts_world.hpp"

#include <ttig/emu/tts_emulator.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/provision/claim.hpp>
#include <ttig/tts/client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <thread>

using namespace ttig;
using emu::right;

namespace {

// basicstation-protocol.md §5.5: label code 58A0CB123456 → EUI 58A0CBFFFE123456.
const std::string label = "58A0CB123456";
const std::string label_eui = "58A0CBFFFE123456";
const std::string owner_token = "Zq7-wifi-Pass-9K";  // the TTIG's Wi-Fi password (distinctive: searched for in every output)

struct world : test::tts_world {
    std::string alice_key;  // a user's key with RIGHT_ALL (not an admin)

    static test::world_options with(const std::string& scenario) {
        test::world_options o;
        o.scenario = scenario;
        return o;
    }
    explicit world(const std::string& scenario = {}) : test::tts_world(with(scenario)) {
        for (const char* u : {"alice", "bob"}) {
            emu::user_info ui;
            ui.user_id = u;
            ui.name = u;
            REQUIRE(st().put_user(ui));
        }
        auto k = st().create_api_key(emu::entity_ref::user("alice"), "alice-cli", emu::rights{right::all});
        REQUIRE(k.has_value());
        alice_key = k->token;
        emu::organization_info org;
        org.organization_id = "acme";
        org.name = "ACME";
        REQUIRE(st().put_organization(org));
    }
    emu::tts_state& st() { return tts->state(); }
    std::string api_url() const { return cfg["api_url"].get<std::string>(); }
    std::string host_port() const { return api_url().substr(8); }  // "127.0.0.1:PORT"
    proto::eui64 eui(const std::string& hex) const { return proto::parse_eui(hex)->eui; }

    tts::client client(const std::string& key, std::string base = {}) {
        tts::client_options o;
        o.base_url = base.empty() ? api_url() : base;
        o.api_key = key;
        o.tls.ca_pem = {tts->ca_pem()};
        o.tls.use_system_store = false;
        o.deadline = std::chrono::milliseconds(5000);
        return tts::client(o);
    }
    // A request for the label code with alice's owner token.
    static provision::claim_request request(const std::string& id) {
        provision::claim_request r;
        r.code = label;
        r.owner_token = owner_token;
        r.gateway_id = id;
        r.frequency_plan_ids = {"EU_863_870_TTN"};
        return r;
    }
    provision::claim_outcome claim(const std::string& id, const std::string& token = owner_token, std::string code = label,
                                   std::vector<std::string> plans = {"EU_863_870_TTN"}) {
        auto c = client(alice_key);
        provision::claim_request r;
        r.code = std::move(code);
        r.owner_token = token;
        r.gateway_id = id;
        r.frequency_plan_ids = std::move(plans);
        return provision::claim_gateway(c, r);
    }
    // The claiming upstream's inventory (emulator state).
    void claimable(const std::string& hex, emu::claimable_gateway::upstream_state s = emu::claimable_gateway::upstream_state::unclaimed) {
        REQUIRE(st().put_claimable({eui(hex), owner_token, false, s, {}}));
    }
    void register_manually(const std::string& owner, const std::string& id, const std::string& hex) {
        rest("POST", "/api/v3/users/" + owner + "/gateways",
             R"({"gateway":{"ids":{"gateway_id":")" + id + R"(","eui":")" + hex + R"("},"frequency_plan_ids":["EU_863_870_TTN"]}})");
    }
    std::size_t gateways_with_eui(const std::string& hex) {
        std::size_t n = 0;
        for (const auto& g : st().gateways())
            if (g.eui() && *g.eui() == eui(hex)) ++n;
        return n;
    }
    bool any_claim_call(const provision::claim_outcome& o) const {
        for (const auto& c : o.calls)
            if (c.target == "/api/v3/gcls/claim") return true;
        return false;
    }
};

// The owner token (and its base64 form, as the claim body carries it) appears nowhere.
void check_no_token(const provision::claim_outcome& o) {
    const std::string all = provision::to_json(o).dump() + o.message + o.fix;
    CHECK(all.find(owner_token) == std::string::npos);
    CHECK(all.find("WnE3LXdpZmktUGFzcy05Sw") == std::string::npos);  // base64("Zq7-wifi-Pass-9K")
    CHECK(all.find("wrong-password") == std::string::npos);
}

}  // namespace

TEST_SUITE("provision.claim") {
    TEST_CASE("claim: a TTIG label code is claimed with the cluster's Gateway Server address, read back, and a second run reports it") {
        world w;
        w.claimable(label_eui);
        auto out = w.claim("office-ttig");
        INFO(provision::to_json(out).dump());
        REQUIRE(out.kind == provision::claim_kind::claimed);
        CHECK(out.claimed);
        CHECK_FALSE(out.already);
        CHECK(out.cause.empty());
        REQUIRE(out.eui);
        CHECK(out.eui->hex() == label_eui);
        CHECK(out.eui_form == "ttig-label");
        CHECK(out.collaborator == "user alice");
        CHECK(out.supports_claiming == true);
        // tts-api.md §4.9: host[:port], no scheme; the emulator's HTTPS port is not 443.
        CHECK(out.gateway_server_address == w.host_port());
        // The record as the emulated claim left it.
        auto rec = w.st().get_gateway("office-ttig");
        REQUIRE(rec.has_value());
        CHECK(rec->gateway_server_address() == w.host_port());
        CHECK(rec->frequency_plan_ids() == std::vector<std::string>{"EU_863_870_TTN"});
        CHECK(rec->eui() == w.eui(label_eui));
        CHECK(w.st().claimable(w.eui(label_eui))->state == emu::claimable_gateway::upstream_state::claimed_here);
        CHECK(w.st().membership_rights(emu::entity_ref::user("alice"), "office-ttig").contains(right::gateway_delete));
        // Read back, secrets reported only as set / not set.
        REQUIRE(out.gateway);
        CHECK(out.gateway->gateway_id == "office-ttig");
        CHECK(out.gateway->gateway_server_address == w.host_port());
        CHECK(out.gateway->require_authenticated_connection);  // the claim sets it (tts-api.md §4.9 step 4)
        CHECK(out.gateway->lns_secret_set == true);
        CHECK_FALSE(out.gateway->cups_last_seen);
        CHECK(out.next_step.find("RESET") != std::string::npos);
        CHECK(out.next_step.find("MINIHUB-123456") != std::string::npos);  // §5.5: last 6 digits
        // The calls, in order; only the claim writes.
        std::vector<std::string> targets;
        for (const auto& c : out.calls) {
            targets.push_back(c.method + " " + c.target.substr(0, c.target.find('?')));
            CHECK(c.writes == (c.target == "/api/v3/gcls/claim"));
            CHECK(c.outcome == "200");
        }
        CHECK(targets == std::vector<std::string>{"GET /api/v3/auth_info", "GET /api/v3/configuration/frequency-plans",
                                                  "POST /api/v3/gcls/claim/info", "GET /api/v3/search/gateways", "POST /api/v3/gcls/claim",
                                                  "GET /api/v3/gateways/office-ttig"});
        check_no_token(out);
        auto j = provision::to_json(out);
        CHECK(j["gateway_id"] == "office-ttig");
        CHECK(j["eui"] == label_eui);
        CHECK(j["claimed"] == true);
        CHECK(j["already"] == false);
        CHECK(j["cause"].is_null());
        CHECK(j["fix"].is_null());
        CHECK(j["gateway"]["lns_secret_set"] == true);

        const auto keys_before = w.st().api_keys(emu::entity_ref::gateway("office-ttig")).size();
        SUBCASE("a second run writes nothing and reports the state") {
            auto again = w.claim("office-ttig");
            INFO(provision::to_json(again).dump());
            CHECK(again.kind == provision::claim_kind::already);
            CHECK(again.already);
            CHECK_FALSE(again.claimed);
            CHECK(again.cause.empty());
            CHECK_FALSE(w.any_claim_call(again));
            for (const auto& c : again.calls) CHECK_FALSE(c.writes);
            REQUIRE(again.gateway);
            CHECK(again.gateway->gateway_id == "office-ttig");
            CHECK(again.gateway->lns_secret_set == true);
            CHECK(w.gateways_with_eui(label_eui) == 1);
            CHECK(w.st().api_keys(emu::entity_ref::gateway("office-ttig")).size() == keys_before);
            check_no_token(again);
        }
        SUBCASE("a run with another ID names the gateway that holds the EUI") {
            auto other = w.claim("hall-ttig");
            CHECK(other.kind == provision::claim_kind::refused);
            CHECK(other.cause == "eui-claimed-elsewhere");
            CHECK(other.registered_as == "office-ttig");
            CHECK(other.fix.find("--id office-ttig") != std::string::npos);
            CHECK_FALSE(w.any_claim_call(other));
            CHECK_FALSE(w.st().get_gateway("hall-ttig").has_value());
        }
        SUBCASE("the TTIG's last CUPS contact is reported once it happened") {
            REQUIRE(w.st().set_attributes("office-ttig", {{"cups-last-seen", "2026-01-01T00:00:05Z"}}));
            auto again = w.claim("office-ttig");
            REQUIRE(again.gateway);
            CHECK(again.gateway->cups_last_seen == std::optional<std::string>("2026-01-01T00:00:05Z"));
            CHECK(provision::to_json(again)["gateway"]["cups_last_seen"] == "2026-01-01T00:00:05Z");
        }
    }

    TEST_CASE("claim: a fleet's claim with the owner given and no read-back is three calls, and still idempotent") {
        world w;
        w.claimable(label_eui);
        auto c = w.client(w.alice_key);
        auto r = world::request("office-ttig");
        r.collaborator = tts::account_ids::user("alice");
        r.check_frequency_plans = false;
        r.check_key = false;
        r.read_back = false;
        auto out = provision::claim_gateway(c, r);
        INFO(provision::to_json(out).dump());
        REQUIRE(out.kind == provision::claim_kind::claimed);
        CHECK(out.collaborator == "user alice");
        CHECK_FALSE(out.gateway);
        std::vector<std::string> targets;
        for (const auto& call : out.calls) targets.push_back(call.method + " " + call.target.substr(0, call.target.find('?')));
        CHECK(targets == std::vector<std::string>{"POST /api/v3/gcls/claim/info", "GET /api/v3/search/gateways", "POST /api/v3/gcls/claim"});
        CHECK(w.st().membership_rights(emu::entity_ref::user("alice"), "office-ttig").contains(right::gateway_delete));
        // The same request again (an answer lost on the way back): found, nothing written.
        auto again = provision::claim_gateway(c, r);
        CHECK(again.kind == provision::claim_kind::already);
        CHECK_FALSE(w.any_claim_call(again));
        CHECK(w.gateways_with_eui(label_eui) == 1);
        check_no_token(again);
    }

    TEST_CASE("claim: each refusal set up in the emulator is named with its cause and fix") {
        world w;
        w.claimable(label_eui);
        SUBCASE("not in the claiming inventory") {
            auto out = w.claim("office-ttig", owner_token, "58A0CBFFFE999999");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "eui-not-claimable");
            CHECK(out.supports_claiming == false);
            CHECK_FALSE(w.any_claim_call(out));
            CHECK_FALSE(out.fix.empty());
            check_no_token(out);
        }
        SUBCASE("wrong owner token") {
            auto out = w.claim("office-ttig", "wrong-password");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "owner-token-mismatch");
            CHECK(out.http_status == 409);
            CHECK(out.tts_error.find("pkg/deviceclaimingserver:claim gateway") != std::string::npos);
            CHECK(out.fix.find("Wi-Fi password") != std::string::npos);
            CHECK_FALSE(w.st().get_gateway("office-ttig").has_value());
            CHECK(w.st().claimable(w.eui(label_eui))->state == emu::claimable_gateway::upstream_state::unclaimed);
            check_no_token(out);
        }
        SUBCASE("claimed in another network (upstream)") {
            w.claimable(label_eui, emu::claimable_gateway::upstream_state::claimed_elsewhere);
            auto out = w.claim("office-ttig");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "eui-claimed-elsewhere");
            CHECK(out.http_status == 409);
            check_no_token(out);
        }
        SUBCASE("registered by another user") {
            w.register_manually("bob", "bobs-ttig", label_eui);
            auto out = w.claim("office-ttig");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "eui-claimed-elsewhere");
            CHECK(out.tts_error == "pkg/deviceclaimingserver:gateway_already_exists");
            CHECK(out.registered_as.empty());  // invisible to alice (tts-api.md §4.3)
            CHECK(w.gateways_with_eui(label_eui) == 1);
            check_no_token(out);
        }
        SUBCASE("registered manually by the same user, under another ID") {
            w.register_manually("alice", "desk-ttig", label_eui);
            auto out = w.claim("office-ttig");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "registered-manually-not-claimed");
            CHECK(out.registered_as == "desk-ttig");
            REQUIRE(out.gateway);
            CHECK_FALSE(out.gateway->require_authenticated_connection);
            CHECK(out.gateway->lns_secret_set == false);
            CHECK(out.fix.find("delete gateway desk-ttig") != std::string::npos);
            CHECK_FALSE(w.any_claim_call(out));
            check_no_token(out);
        }
        SUBCASE("gateway ID used by a live gateway") {
            w.register_manually("bob", "office-ttig", "58A0CBFFFE000001");
            auto out = w.claim("office-ttig");
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "gateway-id-taken");
            CHECK(out.tts_error.find("pkg/util/store:id_taken") != std::string::npos);
            CHECK(out.message.find("a live gateway has it") != std::string::npos);
            // The upstream claim was rolled back (tts-api.md §4.9 step 5).
            CHECK(w.st().claimable(w.eui(label_eui))->state == emu::claimable_gateway::upstream_state::unclaimed);
            CHECK(w.gateways_with_eui(label_eui) == 0);
            check_no_token(out);
        }
        SUBCASE("gateway ID of a deleted gateway") {
            w.register_manually("bob", "office-ttig", "58A0CBFFFE000001");
            w.rest("DELETE", "/api/v3/gateways/office-ttig", "");
            auto out = w.claim("office-ttig");
            CHECK(out.cause == "gateway-id-taken");
            CHECK(out.message.find("stays reserved") != std::string::npos);
        }
        SUBCASE("an organization the key may not add gateways to") {
            auto c = w.client(w.alice_key);
            provision::claim_request r;
            r.code = label;
            r.owner_token = owner_token;
            r.gateway_id = "office-ttig";
            r.frequency_plan_ids = {"EU_863_870_TTN"};
            r.collaborator = tts::account_ids::organization("acme");
            auto out = provision::claim_gateway(c, r);
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "claim-no-rights");
            CHECK(out.collaborator == "organization acme");
            CHECK(out.tts_error.find("no_organization_rights") != std::string::npos);
            CHECK_FALSE(w.st().get_gateway("office-ttig").has_value());
            check_no_token(out);
        }
        SUBCASE("a key without the right to create gateways") {
            auto k = w.st().create_api_key(emu::entity_ref::user("alice"), "gw-only", emu::rights{right::gateway_all});
            REQUIRE(k.has_value());
            auto c = w.client(k->token);
            provision::claim_request r;
            r.code = label;
            r.owner_token = owner_token;
            r.gateway_id = "office-ttig";
            r.frequency_plan_ids = {"EU_863_870_TTN"};
            auto out = provision::claim_gateway(c, r);
            INFO(provision::to_json(out).dump());
            CHECK(out.kind == provision::claim_kind::refused);
            CHECK(out.cause == "claim-no-rights");
            check_no_token(out);
        }
        SUBCASE("an unknown frequency plan is refused before anything is claimed") {
            auto out = w.claim("office-ttig", owner_token, label, {"EU_863_870_NOPE"});
            CHECK(out.kind == provision::claim_kind::invalid);
            CHECK(out.cause == "claim.unknown_frequency_plan");
            CHECK(out.message.find("EU_863_870_NOPE") != std::string::npos);
            for (const auto& c : out.calls) CHECK(c.target.find("/gcls/") == std::string::npos);
        }
        SUBCASE("a bad gateway ID and a bad label are refused without a call") {
            auto id = w.claim("Office_TTIG");
            CHECK(id.kind == provision::claim_kind::invalid);
            CHECK(id.cause == "claim.bad_gateway_id");
            CHECK(id.calls.empty());
            auto code = w.claim("office-ttig", owner_token, "58A0CB12345");
            CHECK(code.kind == provision::claim_kind::invalid);
            CHECK(code.cause.starts_with("eui."));
            CHECK(code.calls.empty());
        }
    }

    TEST_CASE("claim: other refusals of The Things Stack pass its namespace and name through") {
        SUBCASE("a transient server error") {
            world w(R"({"faults":[{"rpc":"GatewayClaimingServer.Claim","error_ratio":1,"error":"pkg/util/store:database_unavailable"}]})");
            w.claimable(label_eui);
            auto out = w.claim("office-ttig");
            INFO(provision::to_json(out).dump());
            CHECK(out.kind == provision::claim_kind::rejected);
            CHECK(out.cause == "tts.pkg/util/store:database_unavailable");
            CHECK(out.http_status == 503);  // Unavailable (tts-api.md §5.2)
            CHECK(out.message.find("POST /api/v3/gcls/claim on ") != std::string::npos);
            check_no_token(out);
        }
        SUBCASE("a failing EUI search stops before the claim (a claim of ours whose answer was lost would look like another's)") {
            world w(R"({"faults":[{"path_prefix":"/api/v3/search/","error_ratio":1,"error":"pkg/util/store:database_unavailable"}]})");
            w.claimable(label_eui);
            auto out = w.claim("office-ttig");
            INFO(provision::to_json(out).dump());
            CHECK(out.kind == provision::claim_kind::rejected);
            CHECK(out.http_status == 503);
            CHECK(out.message.find("cannot look for your gateways with EUI " + label_eui) != std::string::npos);
            CHECK_FALSE(w.any_claim_call(out));
            CHECK(w.gateways_with_eui(label_eui) == 0);
        }
        SUBCASE("an upstream refusal without a cause") {
            world w(
                R"({"faults":[{"rpc":"GatewayClaimingServer.Claim","error_ratio":1,)"
                R"("error":{"namespace":"pkg/deviceclaimingserver","name":"claim gateway","code":10,"message_format":"claim gateway"}}]})");
            w.claimable(label_eui);
            auto out = w.claim("office-ttig");
            INFO(provision::to_json(out).dump());
            CHECK(out.kind == provision::claim_kind::rejected);
            CHECK(out.cause == "tts.pkg/deviceclaimingserver:claim gateway");
            CHECK(out.http_status == 409);  // Aborted
            CHECK_FALSE(out.fix.empty());
        }
    }

    TEST_CASE("claim: a dry run makes only read-only calls and shows the claim without the owner token") {
        world w;
        w.claimable(label_eui);
        auto c = w.client(w.alice_key);
        auto r = world::request("office-ttig");
        r.gateway_server_address = "eu1.cloud.thethings.network";
        r.dry_run = true;
        auto out = provision::claim_gateway(c, r);
        INFO(provision::to_json(out).dump());
        CHECK(out.kind == provision::claim_kind::dry_run);
        CHECK_FALSE(out.claimed);
        REQUIRE_FALSE(out.calls.empty());
        CHECK(out.calls.back().outcome == "not sent (dry run)");
        for (std::size_t i = 0; i + 1 < out.calls.size(); ++i) CHECK_FALSE(out.calls[i].writes);
        auto body = nlohmann::json::parse(out.planned_request);
        CHECK(body["authenticated_identifiers"]["gateway_eui"] == label_eui);
        CHECK(body["collaborator"] == nlohmann::json::parse(R"({"user_ids":{"user_id":"alice"}})"));
        CHECK(body["target_gateway_server_address"] == "eu1.cloud.thethings.network");
        CHECK(body["target_frequency_plan_ids"] == nlohmann::json::array({"EU_863_870_TTN"}));
        CHECK(w.gateways_with_eui(label_eui) == 0);
        CHECK(w.st().claimable(w.eui(label_eui))->state == emu::claimable_gateway::upstream_state::unclaimed);
        check_no_token(out);
    }

    TEST_CASE("claim: an unreachable API or a refused key is api_unreachable naming the hop") {
        world w;
        w.claimable(label_eui);
        SUBCASE("nothing listens") {
            auto c = w.client(w.alice_key, "https://127.0.0.1:9");
            provision::claim_request r{label, owner_token, "office-ttig", {"EU_863_870_TTN"}, std::nullopt, {}, false, true};
            auto out = provision::claim_gateway(c, r);
            CHECK(out.kind == provision::claim_kind::api_unreachable);
            CHECK(out.message.find("GET /api/v3/auth_info on https://127.0.0.1:9") != std::string::npos);
            CHECK(out.cause.starts_with("net."));
        }
        SUBCASE("unknown API key") {
            auto c = w.client("NNSXS." + std::string(39, 'Q') + "." + std::string(52, 'R'));
            provision::claim_request r{label, owner_token, "office-ttig", {"EU_863_870_TTN"}, std::nullopt, {}, false, true};
            auto out = provision::claim_gateway(c, r);
            CHECK(out.kind == provision::claim_kind::api_unreachable);
            CHECK(out.http_status == 401);
            CHECK(out.cause.starts_with("tts.pkg/identityserver:"));
            CHECK(provision::to_json(out).dump().find(std::string(52, 'R')) == std::string::npos);
        }
    }

    TEST_CASE("claim: addresses, gateway IDs and the documented cause ids") {
        // tts-api.md §1.1 / §4.9: host, port only when not 443, no scheme.
        CHECK(provision::gateway_server_address_of("https://eu1.cloud.thethings.network") == "eu1.cloud.thethings.network");
        CHECK(provision::gateway_server_address_of("https://eu1.cloud.thethings.network:443/") == "eu1.cloud.thethings.network");
        CHECK(provision::gateway_server_address_of("https://127.0.0.1:8443") == "127.0.0.1:8443");
        CHECK(provision::gateway_server_address_of("https://[::1]:8443") == "[::1]:8443");
        // tts-api.md §3.1: ^[a-z0-9](?:[-]?[a-z0-9]){2,}$, at most 36.
        CHECK(provision::valid_gateway_id("office-ttig"));
        CHECK(provision::valid_gateway_id("eui-58a0cbfffe123456"));
        CHECK(provision::valid_gateway_id("abc"));
        CHECK_FALSE(provision::valid_gateway_id("ab"));
        CHECK_FALSE(provision::valid_gateway_id("a--bc"));
        CHECK_FALSE(provision::valid_gateway_id("-abc"));
        CHECK_FALSE(provision::valid_gateway_id("abc-"));
        CHECK_FALSE(provision::valid_gateway_id("Office"));
        CHECK_FALSE(provision::valid_gateway_id(std::string(37, 'a')));
        CHECK(provision::valid_gateway_id(std::string(36, 'a')));

        std::ifstream in(std::string(TTIG_SOURCE_DIR) + "/docs/errors.md");
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string doc = ss.str();
        for (const auto& c : provision::claim_causes()) {
            CAPTURE(c.id);
            CHECK(doc.find("| `" + std::string(c.id) + "` |") != std::string::npos);
            CHECK_FALSE(c.fix.empty());
        }
    }
}
