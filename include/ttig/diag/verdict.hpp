// doctor's verdict (disconnected-catalogue.md §5.3, §5.4, §6): evidence atoms in, one ranked
// verdict out. Sans-io and deterministic: the collectors (diag/collect.hpp) turn probe answers
// into atoms; this file only weighs them.
//
// Scoring (§5.3): every cause lists atoms as D (+4), S (+2), W (+1) or X (-4). Score = sum of the
// weights of the atoms present; a cause with an X atom and no D atom is dropped. Confidence: high =
// at least one D and no X; medium = score >= 3 without D; low = anything else. Ranking: score,
// then chain position (registry -> claim -> CUPS -> LNS -> network -> device), upstream first.
// `user.same_lan=false` downgrades every network atom (dns.*, tcp.*, tls.*) to W.
// That answer is the atom `user.same_lan.false`; a network X atom then does not count at all.
// The atom ids are listed in src/diag/catalogue.cpp and docs/doctor.md.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::diag {

enum class weight { D, S, W, X };
std::string_view to_string(weight w) noexcept;  // "D", "S", "W", "X"

enum class confidence { high, medium, low };
std::string_view to_string(confidence c) noexcept;  // "high", "medium", "low"

// Where a cause sits on the provisioning chain (§5.3 rule 4); upstream wins ties.
enum class chain { registry, claim, cups, lns, network, device, none };

// One piece of evidence: a §5.4 atom id ("stats.404", "keys.lns.missing",
// "event.disconnect.new_connection", "user.led.green_solid", ...), the probe that produced it
// ("P6", "user", ...) and a human line that says what was seen (never a secret).
struct atom {
    std::string id;
    std::string probe;
    std::string detail;
};

// A fix step (§7): action id ("A1", "M1", "ADV"), the text, and whether doctor can carry it out.
struct fix_step {
    std::string id;
    std::string text;
    bool automated = false;
};

// A catalogue row (§6).
struct cause_info {
    std::string_view id;            // "lns-key-revoked"
    std::string_view title;         // one line, what the user sees
    chain position = chain::none;
    struct rule {
        std::string_view atom;      // atom id; a trailing '*' matches a prefix ("event.disconnect.*")
        weight w;
    };
    std::vector<rule> rules;
    std::vector<std::string_view> look_alikes;  // cause ids (§6 column d)
    std::vector<fix_step> fix;
};

// Every cause of §6 plus `healthy` (stats.connected with recent traffic, no fault atoms).
const std::vector<cause_info>& catalogue();
const cause_info* find_cause(std::string_view id);

struct scored_cause {
    std::string cause;
    int score = 0;
    enum confidence confidence = confidence::low;
    std::vector<std::string> evidence;  // "<atom> (<weight>): <detail>"
};

// A look-alike the verdict ruled out and why (the atom that separated them, or the missing one).
struct ruled_out {
    std::string cause;
    std::string reason;
};

struct verdict {
    std::string cause;  // "healthy", a §6 cause id, or "unknown"
    enum confidence confidence = confidence::low;
    int score = 0;
    std::vector<std::string> evidence;
    std::vector<scored_cause> alternatives;  // at most two
    std::vector<struct ruled_out> ruled_out;
    std::vector<fix_step> fix;
};

// Weighs the atoms. "healthy" when the gateway is connected with nothing against it; "unknown"
// when no cause reaches a positive score.
verdict decide(const std::vector<atom>& atoms);

// JSON of a verdict ({"verdict","confidence","score","evidence","alternatives","ruled_out","fix"}),
// the schema of docs/doctor.md.
nlohmann::ordered_json to_json(const verdict& v);

}  // namespace ttig::diag
