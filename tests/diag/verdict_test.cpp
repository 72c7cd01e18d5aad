// Tests for doctor's verdict engine (disconnected-catalogue.md §5.3-§5.5, §6): atoms in, one ranked verdict out.
#include <doctest/doctest.h>

#include <ttig/diag/verdict.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

using namespace ttig;

namespace {

diag::atom at(std::string id, std::string probe = "test", std::string detail = {}) {
    return {std::move(id), std::move(probe), std::move(detail)};
}

const diag::scored_cause* alternative(const diag::verdict& v, std::string_view cause) {
    for (const auto& a : v.alternatives)
        if (a.cause == cause) return &a;
    return nullptr;
}

const diag::ruled_out* ruled(const diag::verdict& v, std::string_view cause) {
    for (const auto& r : v.ruled_out)
        if (r.cause == cause) return &r;
    return nullptr;
}

bool has_line(const std::vector<std::string>& lines, std::string_view prefix) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.starts_with(prefix); });
}

std::string concrete(std::string_view rule) {
    std::string s(rule);
    if (s.ends_with('*')) s.back() = 'x';  // any member of the family
    return s;
}

// §5.5 example A: a TTIG added with the manual form after the V2 shutdown.
std::vector<diag::atom> example_a() {
    return {at("record.found", "P2", "created 2021-12-20"),
            at("record.manual_defaults", "P2", "auth not required, no lbs_lns_secret, no target_cups_uri"),
            at("attr.cups_last_seen.absent", "P2", "no cups-* attributes"),
            at("claim.supported", "P4", "supports_claiming=true"),
            at("stats.404", "P6", "pkg/gatewayserver:not_connected"),
            at("cups.anon.401", "P11", "EUI is registered"),
            at("user.led.green_solid", "user", "LED solid green"),
            at("user.manual_registration", "user", "I used Register gateway")};
}

// §5.5 example B: the LNS key was deleted during a clean-up.
std::vector<diag::atom> example_b() {
    return {at("record.found", "P2"),
            at("record.lns_secret.present", "P2", "key ID ABC"),
            at("keys.lns.missing", "P5", "no key with ID ABC"),
            at("lnsinfo.unauthorized", "P13", "{\"error\":\"Unauthorized\"}"),
            at("event.registry.gateway.api-key.delete", "P7", "2024-05-01T10:00:00Z"),
            at("event.disconnect.api_key_not_found", "P7", "2024-05-01T10:09:12Z"),
            at("stats.disconnected_at", "P6", "2024-05-01T10:09:12Z")};
}

// §5.5 example C: a second Station with the same EUI and a copied key.
std::vector<diag::atom> example_c() {
    return {at("event.disconnect.new_connection", "P7", "every few seconds"),
            at("event.connect_disconnect.pairs", "P7", "41 connect/disconnect pairs"),
            at("stats.remote_ip.changes", "P6", "198.51.100.7 then 203.0.113.9")};
}

}  // namespace

TEST_SUITE("diag.verdict") {
    TEST_CASE("example A: registered manually, never claimed") {
        auto v = diag::decide(example_a());
        CHECK(v.cause == "registered-manually-not-claimed");
        CHECK(v.confidence == diag::confidence::high);
        CHECK(v.score == 12);
        CHECK(v.evidence.front() == "user.manual_registration (D): I used Register gateway");
        CHECK(has_line(v.evidence, "record.manual_defaults (S): "));
        CHECK(has_line(v.evidence, "claim.supported (S): supports_claiming=true"));
        auto* alt = alternative(v, "connected-elsewhere");
        REQUIRE(alt);
        CHECK(alt->confidence == diag::confidence::medium);
        CHECK(v.alternatives.size() <= 2);
        REQUIRE(v.fix.size() == 2);
        CHECK(v.fix[0].id == "A5");
        CHECK(v.fix[0].automated);
        CHECK(v.fix[1].id == "M1");
        CHECK_FALSE(v.fix[1].automated);
        auto* not_claimable = ruled(v, "eui-not-claimable");
        REQUIRE(not_claimable);
        CHECK(not_claimable->reason.find("claim.supported") != std::string::npos);
        auto* elsewhere = ruled(v, "eui-claimed-elsewhere");
        REQUIRE(elsewhere);
        CHECK(elsewhere->reason.find("record.found") != std::string::npos);
    }

    TEST_CASE("example B: LNS key deleted") {
        auto v = diag::decide(example_b());
        CHECK(v.cause == "lns-key-revoked");
        CHECK(v.confidence == diag::confidence::high);
        CHECK(has_line(v.evidence, "keys.lns.missing (D): no key with ID ABC"));
        CHECK(has_line(v.evidence, "lnsinfo.unauthorized (D): "));
        CHECK(has_line(v.evidence, "event.disconnect.api_key_not_found (S): "));
        REQUIRE_FALSE(v.fix.empty());
        CHECK(v.fix[0].id == "A1");
        CHECK(v.fix.back().id == "M1");
        auto* missing = ruled(v, "lns-key-missing");
        REQUIRE(missing);
        CHECK(missing->reason.find("record.lns_secret.present") != std::string::npos);
    }

    TEST_CASE("example C: duplicate connection") {
        auto v = diag::decide(example_c());
        CHECK(v.cause == "duplicate-connection");
        CHECK(v.confidence == diag::confidence::high);
        CHECK(v.score == 7);
        auto rotate = [](const diag::fix_step& f) { return f.id == "A4" && f.automated; };
        CHECK(std::any_of(v.fix.begin(), v.fix.end(), rotate));
        auto* flapping = ruled(v, "backhaul-flapping");
        REQUIRE(flapping);
        CHECK(flapping->reason.find("event.disconnect.new_connection") != std::string::npos);
        CHECK_FALSE(alternative(v, "backhaul-flapping"));
    }

    TEST_CASE("connected with recent traffic is healthy") {
        auto v = diag::decide({at("stats.connected", "P6", "connected_at 2024-05-01T10:00:00Z")});
        CHECK(v.cause == "healthy");
        CHECK(v.confidence == diag::confidence::high);
        CHECK(v.score == 4);
        CHECK(v.evidence == std::vector<std::string>{"stats.connected (D): connected_at 2024-05-01T10:00:00Z"});
        REQUIRE(v.fix.size() == 1);
        CHECK(v.fix[0].id == "ADV");
    }

    TEST_CASE("healthy wins over causes without a decisive atom") {
        // settings-change-disconnect ties at 4 and sits upstream, but has no D.
        auto v =
            diag::decide({at("stats.connected"), at("event.registry.gateway.update"), at("stats.disconnected_at")});
        CHECK(v.cause == "healthy");
        auto* alt = alternative(v, "settings-change-disconnect");
        REQUIRE(alt);
        CHECK(alt->score == 4);
    }

    TEST_CASE("a decisive fault beats healthy") {
        auto v = diag::decide({at("stats.connected"), at("event.disconnect.gateway_changed")});
        CHECK(v.cause == "settings-change-disconnect");
        CHECK(v.score == 5);
        CHECK(alternative(v, "healthy"));
    }

    TEST_CASE("connected without recent uplinks is not healthy") {
        auto v = diag::decide({at("stats.connected"), at("stats.last_uplink.old")});
        CHECK(v.cause == "firmware-no-pong");
        CHECK(v.confidence == diag::confidence::medium);
        CHECK_FALSE(alternative(v, "healthy"));
    }

    TEST_CASE("nothing scores above zero: unknown") {
        for (const auto& atoms : {std::vector<diag::atom>{}, std::vector<diag::atom>{at("probe.noise")},
                                  std::vector<diag::atom>{at("record.found"), at("user.same_lan.false")}}) {
            auto v = diag::decide(atoms);
            CHECK(v.cause == "unknown");
            CHECK(v.score == 0);
            CHECK(v.confidence == diag::confidence::low);
            CHECK(v.evidence.empty());
            CHECK(v.alternatives.empty());
            CHECK(v.ruled_out.empty());
            REQUIRE(v.fix.size() == 1);
            CHECK(v.fix[0].id == "ADV");
        }
    }

    TEST_CASE("an X atom drops a cause that has no D and only costs points otherwise") {
        // connected-elsewhere scores 8 from S atoms, but record.recent contradicts it.
        auto v = diag::decide({at("stats.404"), at("attr.cups_last_seen.absent"), at("user.v2_history"),
                               at("user.led.green_solid"), at("record.recent")});
        CHECK(v.cause == "cups-not-yet-contacted");
        CHECK(v.confidence == diag::confidence::medium);
        CHECK_FALSE(alternative(v, "connected-elsewhere"));
        auto* elsewhere = ruled(v, "connected-elsewhere");
        REQUIRE(elsewhere);
        CHECK(elsewhere->reason == "contradicted by record.recent (dropped)");

        // D + S + X: kept, score 2, and an X rules out high confidence.
        auto k = diag::decide({at("cups.auth.404_lns_credentials"), at("record.lns_secret.absent"), at("lnsinfo.ok")});
        CHECK(k.cause == "lns-key-missing");
        CHECK(k.score == 2);
        CHECK(k.confidence == diag::confidence::low);
        CHECK(has_line(k.evidence, "lnsinfo.ok (X)"));
        CHECK(k.evidence.back() == "lnsinfo.ok (X)");
    }

    TEST_CASE("doctor off the TTIG's LAN: network atoms count as W") {
        auto on = diag::decide({at("tcp.8887.fail", "P9", "timeout")});
        CHECK(on.cause == "firewall-blocks-ports");
        CHECK(on.confidence == diag::confidence::high);
        CHECK(on.score == 4);

        auto off = diag::decide({at("tcp.8887.fail", "P9", "timeout"), at("user.same_lan.false", "user")});
        CHECK(off.cause == "firewall-blocks-ports");
        CHECK(off.confidence == diag::confidence::low);
        CHECK(off.score == 1);
        CHECK(off.evidence ==
              std::vector<std::string>{"tcp.8887.fail (W): timeout; counted W: doctor does not run on the TTIG's LAN"});

        // A network contradiction seen from another network does not count either.
        std::vector<diag::atom> trust{at("tls.8887.root_mismatch"), at("cups.auth.ok_lns"), at("tcp.8887.fail")};
        CHECK(diag::decide(trust).cause != "tls-trust-mismatch");  // X without D: dropped
        trust.push_back(at("user.same_lan.false"));
        auto t = diag::decide(trust);
        CHECK(t.cause == "tls-trust-mismatch");
        CHECK(t.score == 3);
        CHECK(t.confidence == diag::confidence::medium);
        // Non-network atoms keep their weight.
        auto clock = diag::decide({at("clock.skew"), at("user.same_lan.false")});
        CHECK(clock.cause == "clock-skew");
        CHECK(clock.confidence == diag::confidence::high);
    }

    TEST_CASE("equal scores: the upstream cause wins") {
        for (bool reversed : {false, true}) {
            std::vector<diag::atom> atoms{at("user.led.red_blink_fast"), at("dns.fail")};
            if (reversed) std::reverse(atoms.begin(), atoms.end());
            auto v = diag::decide(atoms);
            CHECK(v.cause == "dns-failure");  // network sits upstream of device
            CHECK(v.score == 4);
            REQUIRE_FALSE(v.alternatives.empty());
            CHECK(v.alternatives[0].cause == "config-mode-active");
            CHECK(v.alternatives[0].score == 4);
            CHECK(v.alternatives[0].confidence == diag::confidence::high);
        }
    }

    TEST_CASE("a prefix rule matches a family of atoms, once") {
        auto v = diag::decide({at("keys.lns.expired", "P5", "expired 2024-04-30"), at("keys.lns.no_link", "P5")});
        CHECK(v.cause == "lns-key-revoked");
        CHECK(v.score == 4);  // one rule, counted once
        CHECK(v.evidence == std::vector<std::string>{"keys.lns.expired (D): expired 2024-04-30"});
    }

    TEST_CASE("input order and repeated atoms do not change the verdict") {
        auto atoms = example_a();
        const auto want = diag::to_json(diag::decide(atoms)).dump();
        std::reverse(atoms.begin(), atoms.end());
        CHECK(diag::to_json(diag::decide(atoms)).dump() == want);
        std::rotate(atoms.begin(), atoms.begin() + 3, atoms.end());
        atoms.push_back(at("stats.404", "P6", "pkg/gatewayserver:not_connected"));
        CHECK(diag::to_json(diag::decide(atoms)).dump() == want);

        // The details of one atom seen twice are merged, in a fixed order.
        auto v = diag::decide({at("tcp.8887.fail", "P9", "eu1 timeout"), at("tcp.8887.fail", "P9", "eu1 RST"),
                               at("tcp.8887.fail", "P9", "eu1 timeout")});
        CHECK(v.evidence == std::vector<std::string>{"tcp.8887.fail (D): eu1 RST; eu1 timeout"});
    }

    TEST_CASE("to_json has the shape of §5.3") {
        auto j = diag::to_json(diag::decide(example_a()));
        std::vector<std::string> keys;
        for (const auto& [k, _] : j.items()) keys.push_back(k);
        const std::vector<std::string> want{"verdict",      "confidence", "score", "evidence",
                                            "alternatives", "ruled_out",  "fix"};
        CHECK(keys == want);
        CHECK(j["verdict"] == "registered-manually-not-claimed");
        CHECK(j["confidence"] == "high");
        CHECK(j["score"] == 12);
        CHECK(j["evidence"][0] == "user.manual_registration (D): I used Register gateway");
        REQUIRE(j["alternatives"].size() == 2);
        CHECK(j["alternatives"][0] ==
              nlohmann::ordered_json{{"cause", "connected-elsewhere"}, {"confidence", "medium"}, {"score", 6}});
        REQUIRE(j["ruled_out"].is_array());
        CHECK(j["ruled_out"][0].contains("cause"));
        CHECK(j["ruled_out"][0].contains("reason"));
        CHECK(j["fix"][0]["action"] == "A5");
        CHECK(j["fix"][0]["automated"] == true);
        const auto& m1 = diag::find_cause("registered-manually-not-claimed")->fix[1];
        CHECK(j["fix"][1] == nlohmann::ordered_json{{"action", "M1"}, {"text", m1.text}, {"automated", false}});

        auto u = diag::to_json(diag::decide({}));
        CHECK(u["verdict"] == "unknown");
        CHECK(u["alternatives"].is_array());
        CHECK(u["ruled_out"].is_array());
        CHECK(u["evidence"].is_array());
    }

    TEST_CASE("every cause wins on its own decisive atoms (or all its strong ones)") {
        for (const auto& c : diag::catalogue()) {
            std::vector<diag::atom> atoms;
            for (const auto& r : c.rules)
                if (r.w == diag::weight::D) atoms.push_back(at(concrete(r.atom)));
            if (atoms.empty())
                for (const auto& r : c.rules)
                    if (r.w == diag::weight::S) atoms.push_back(at(concrete(r.atom)));
            CAPTURE(c.id);
            REQUIRE_FALSE(atoms.empty());
            auto v = diag::decide(atoms);
            INFO(diag::to_json(v).dump());
            CHECK(v.cause == c.id);
        }
    }

    TEST_CASE("catalogue: every cause of §6, unique ids, look-alikes exist") {
        const auto& cat = diag::catalogue();
        std::set<std::string_view> ids;
        for (const auto& c : cat) {
            CAPTURE(c.id);
            CHECK(ids.insert(c.id).second);
            CHECK_FALSE(c.title.empty());
            CHECK_FALSE(c.fix.empty());
            CHECK(std::any_of(c.rules.begin(), c.rules.end(),
                              [](const auto& r) { return r.w == diag::weight::D || r.w == diag::weight::S; }));
            std::set<std::string_view> atoms;
            for (const auto& r : c.rules) CHECK(atoms.insert(r.atom).second);
            for (auto l : c.look_alikes) {
                CAPTURE(l);
                CHECK(l != c.id);
                CHECK(diag::find_cause(l) != nullptr);
            }
        }
        for (std::string_view id :
             {"registered-manually-not-claimed", "eui-not-claimable", "owner-token-mismatch", "eui-claimed-elsewhere",
              "gateway-id-taken", "recreated-stale-credentials", "gateway-deleted", "cups-not-yet-contacted",
              "connected-elsewhere", "lns-key-missing", "cups-key-revoked", "cups-target-mode-stuck",
              "gs-address-wrong-or-unreachable", "lns-key-revoked", "duplicate-connection", "require-auth-mismatch",
              "frequency-plan-missing", "frequency-plan-band-mismatch", "settings-change-disconnect",
              "firmware-no-pong", "dns-failure", "firewall-blocks-ports", "tls-trust-mismatch",
              "tls-handshake-too-slow", "clock-skew",
              "backhaul-flapping", "api-rate-limited", "wifi-unsupported-network", "wifi-not-joined",
              "config-mode-active", "firmware-update-in-progress", "flash-corrupted", "power-supply-insufficient",
              "stale-console", "healthy"}) {
            CAPTURE(id);
            CHECK(ids.count(id) == 1);
        }
        CHECK(cat.size() == 35);
        CHECK(diag::find_cause("no-such-cause") == nullptr);
    }

    TEST_CASE("every atom a rule names is documented in docs/doctor.md") {
        std::ifstream f(TTIG_SOURCE_DIR "/docs/doctor.md");
        REQUIRE(f);
        std::stringstream ss;
        ss << f.rdbuf();
        const auto doc = ss.str();
        for (const auto& c : diag::catalogue()) {
            for (const auto& r : c.rules) {
                std::string a(r.atom);
                if (a.ends_with('*')) a.pop_back();
                CAPTURE(a);
                CHECK(doc.find("`" + a) != std::string::npos);
            }
        }
    }

    TEST_CASE("weights and confidences print as §5.3 writes them") {
        CHECK(diag::to_string(diag::weight::D) == "D");
        CHECK(diag::to_string(diag::weight::S) == "S");
        CHECK(diag::to_string(diag::weight::W) == "W");
        CHECK(diag::to_string(diag::weight::X) == "X");
        CHECK(diag::to_string(diag::confidence::high) == "high");
        CHECK(diag::to_string(diag::confidence::medium) == "medium");
        CHECK(diag::to_string(diag::confidence::low) == "low");
    }
}
