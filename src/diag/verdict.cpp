#include <ttig/diag/verdict.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace ttig::diag {

namespace {

constexpr std::string_view off_lan_atom = "user.same_lan.false";
constexpr std::string_view healthy_id = "healthy";

int points(weight w) {
    switch (w) {
        case weight::D: return 4;
        case weight::S: return 2;
        case weight::W: return 1;
        case weight::X: return -4;
    }
    return 0;
}

bool matches(std::string_view rule, std::string_view id) {
    if (rule.ends_with('*')) return id.starts_with(rule.substr(0, rule.size() - 1));
    return rule == id;
}

// Seen from another network, doctor's DNS/TCP/TLS answers say little about the TTIG's LAN (§5.4).
bool is_network(std::string_view id) {
    return id.starts_with("dns.") || id.starts_with("tcp.") || id.starts_with("tls.");
}

// Appends `part` to a `sep`-joined list unless it is already there.
void merge(std::string& list, const std::string& part, std::string_view sep) {
    if (part.empty()) return;
    for (std::size_t at = 0; at <= list.size();) {
        auto end = std::min(list.find(sep, at), list.size());
        if (std::string_view(list).substr(at, end - at) == part) return;
        at = end + sep.size();
    }
    if (!list.empty()) list += sep;
    list += part;
}

// One atom per id, sorted, the details of repeated ids merged: the verdict does not depend on input order.
std::vector<atom> normalise(const std::vector<atom>& in) {
    std::vector<atom> v = in;
    std::sort(v.begin(), v.end(), [](const atom& l, const atom& r) {
        return std::tie(l.id, l.detail, l.probe) < std::tie(r.id, r.detail, r.probe);
    });
    std::vector<atom> out;
    for (auto& a : v) {
        if (!out.empty() && out.back().id == a.id) {
            merge(out.back().detail, a.detail, "; ");
            merge(out.back().probe, a.probe, ",");
            continue;
        }
        out.push_back(std::move(a));
    }
    return out;
}

struct hit {
    const atom* seen;
    weight w;
    bool downgraded;
};

struct card {
    const cause_info* info = nullptr;
    std::size_t index = 0;  // catalogue position, the last tie-breaker
    int score = 0;
    bool has_d = false;
    bool has_x = false;
    std::vector<hit> hits;  // D, S, W, X; rule order within a weight

    bool dropped() const { return has_x && !has_d; }
    bool counts(std::string_view id) const {
        return std::any_of(hits.begin(), hits.end(), [&](const hit& h) { return h.seen->id == id; });
    }
    confidence conf() const {
        if (has_d && !has_x) return confidence::high;
        if (!has_d && score >= 3) return confidence::medium;
        return confidence::low;
    }
};

card weigh(const cause_info& c, std::size_t index, const std::vector<atom>& atoms, bool off_lan) {
    card k;
    k.info = &c;
    k.index = index;
    for (const auto& rule : c.rules) {
        auto it = std::find_if(atoms.begin(), atoms.end(), [&](const atom& a) { return matches(rule.atom, a.id); });
        if (it == atoms.end()) continue;
        weight w = rule.w;
        bool down = off_lan && is_network(it->id) && w != weight::W;
        if (down) {
            if (w == weight::X) continue;  // a contradiction from the wrong network is no contradiction
            w = weight::W;
        }
        k.score += points(w);
        k.has_d = k.has_d || w == weight::D;
        k.has_x = k.has_x || w == weight::X;
        k.hits.push_back({&*it, w, down});
    }
    std::stable_sort(k.hits.begin(), k.hits.end(), [](const hit& l, const hit& r) { return l.w < r.w; });
    return k;
}

std::vector<std::string> evidence_of(const card& k) {
    std::vector<std::string> out;
    for (const auto& h : k.hits) {
        std::string detail = h.seen->detail;
        if (h.downgraded) {
            if (!detail.empty()) detail += "; ";
            detail += "counted W: doctor does not run on the TTIG's LAN";
        }
        out.push_back(detail.empty() ? fmt::format("{} ({})", h.seen->id, to_string(h.w))
                                     : fmt::format("{} ({}): {}", h.seen->id, to_string(h.w), detail));
    }
    return out;
}

// Why look-alike `l` lost to `win`: its contradicting atoms, else the winner's strongest atom it
// does not share, plus its own decisive atom that was not seen.
std::string reason_of(const card& l, const card& win) {
    std::vector<std::string> parts;
    std::string xs;
    for (const auto& h : l.hits) {
        if (h.w != weight::X) continue;
        xs += xs.empty() ? h.seen->id : ", " + h.seen->id;
    }
    if (!xs.empty()) {
        parts.push_back("contradicted by " + xs);
    } else {
        for (const auto& h : win.hits) {
            if (h.w == weight::D || h.w == weight::S) {
                if (l.counts(h.seen->id)) continue;
                parts.push_back(
                    fmt::format("{} ({}) fits {}, not {}", h.seen->id, to_string(h.w), win.info->id, l.info->id));
                break;
            }
        }
        auto own = [&](weight w) {
            return std::find_if(l.info->rules.begin(), l.info->rules.end(), [&](const auto& r) { return r.w == w; });
        };
        auto first_d = own(weight::D);
        auto first_s = own(weight::S);
        bool has_s = std::any_of(l.hits.begin(), l.hits.end(), [](const hit& h) { return h.w == weight::S; });
        if (first_d != l.info->rules.end()) {
            if (!l.has_d) parts.push_back(fmt::format("no {} seen", first_d->atom));
        } else if (first_s != l.info->rules.end() && !has_s) {
            parts.push_back(fmt::format("no {} seen", first_s->atom));
        }
    }
    if (parts.empty()) {
        parts.push_back(l.score == win.score ? fmt::format("tie; {} sits upstream on the chain", win.info->id)
                                             : std::string("scored lower"));
    }
    std::string out;
    for (const auto& p : parts) out += out.empty() ? p : "; " + p;
    if (l.dropped()) return out + " (dropped)";
    return out + fmt::format(" (score {} vs {})", l.score, win.score);
}

scored_cause scored(const card& k) { return {std::string(k.info->id), k.score, k.conf(), evidence_of(k)}; }

}  // namespace

std::string_view to_string(weight w) noexcept {
    switch (w) {
        case weight::D: return "D";
        case weight::S: return "S";
        case weight::W: return "W";
        case weight::X: return "X";
    }
    return "?";
}

std::string_view to_string(confidence c) noexcept {
    switch (c) {
        case confidence::high: return "high";
        case confidence::medium: return "medium";
        case confidence::low: return "low";
    }
    return "?";
}

verdict decide(const std::vector<atom>& input) {
    const auto atoms = normalise(input);
    const bool off_lan = std::any_of(atoms.begin(), atoms.end(), [](const atom& a) { return a.id == off_lan_atom; });

    const auto& cat = catalogue();
    std::vector<card> cards;
    cards.reserve(cat.size());
    for (std::size_t i = 0; i < cat.size(); ++i) cards.push_back(weigh(cat[i], i, atoms, off_lan));

    std::vector<const card*> ranked;
    for (const auto& k : cards)
        if (!k.dropped() && k.score > 0) ranked.push_back(&k);
    // Confidence tier first: a cause with decisive evidence (high) outranks one that only adds up
    // supporting atoms, because several S atoms (stats.404, no cups-last-seen) are shared by most
    // disconnected gateways and would otherwise tie with, or beat, a single D. Then score, then
    // chain position (upstream masks downstream evidence), then catalogue order.
    std::stable_sort(ranked.begin(), ranked.end(), [](const card* l, const card* r) {
        const bool lh = l->conf() == confidence::high, rh = r->conf() == confidence::high;
        if (lh != rh) return lh;
        if (l->score != r->score) return l->score > r->score;
        if (l->info->position != r->info->position) return l->info->position < r->info->position;
        return l->index < r->index;
    });

    // Connected with recent traffic and nothing decisive against it: healthy, whatever else scored.
    const card* win = ranked.empty() ? nullptr : ranked.front();
    auto healthy = std::find_if(cards.begin(), cards.end(), [](const card& k) { return k.info->id == healthy_id; });
    if (healthy != cards.end() && healthy->has_d && !healthy->has_x &&
        std::none_of(cards.begin(), cards.end(), [&](const card& k) { return &k != &*healthy && k.has_d; }))
        win = &*healthy;

    verdict v;
    if (!win) {
        v.cause = "unknown";
        v.fix.push_back({"ADV",
                         "Not enough evidence: answer the LED question, run doctor on the TTIG's LAN, or allow the "
                         "authenticated CUPS probe (P12)",
                         false});
        return v;
    }
    v.cause = std::string(win->info->id);
    v.confidence = win->conf();
    v.score = win->score;
    v.evidence = evidence_of(*win);
    v.fix = win->info->fix;

    for (const card* k : ranked) {
        if (k == win) continue;
        if (v.alternatives.size() == 2) break;
        v.alternatives.push_back(scored(*k));
    }
    for (auto id : win->info->look_alikes) {
        auto l = std::find_if(cards.begin(), cards.end(), [&](const card& k) { return k.info->id == id; });
        if (l == cards.end() || &*l == win) continue;
        bool alternative = std::any_of(v.alternatives.begin(), v.alternatives.end(),
                                       [&](const scored_cause& s) { return s.cause == id; });
        if (!alternative) v.ruled_out.push_back({std::string(id), reason_of(*l, *win)});
    }
    return v;
}

nlohmann::ordered_json to_json(const verdict& v) {
    nlohmann::ordered_json j;
    j["verdict"] = v.cause;
    j["confidence"] = std::string(to_string(v.confidence));
    j["score"] = v.score;
    j["evidence"] = v.evidence;
    j["alternatives"] = nlohmann::ordered_json::array();
    for (const auto& a : v.alternatives)
        j["alternatives"].push_back(
            {{"cause", a.cause}, {"confidence", std::string(to_string(a.confidence))}, {"score", a.score}});
    j["ruled_out"] = nlohmann::ordered_json::array();
    for (const auto& r : v.ruled_out) j["ruled_out"].push_back({{"cause", r.cause}, {"reason", r.reason}});
    j["fix"] = nlohmann::ordered_json::array();
    for (const auto& f : v.fix) j["fix"].push_back({{"action", f.id}, {"text", f.text}, {"automated", f.automated}});
    return j;
}

}  // namespace ttig::diag
