#include <ttig/diag/questions.hpp>

#include <algorithm>
#include <map>

namespace ttig::diag {

namespace {

const std::map<std::string, std::string, std::less<>>& texts() {
    static const std::map<std::string, std::string, std::less<>> t{
        {"user.manual_registration", "Did you add the gateway with the \"Register gateway\" form (not by claiming it)?"},
        {"user.v2_history", "Did this gateway run on The Things Network V2 before?"},
        {"user.other_instance", "Was the gateway used with another LoRaWAN network server or instance?"},
        {"user.recreated", "Did you delete the gateway and add it again?"},
        {"user.device_off", "Is the gateway unplugged or switched off right now?"},
        {"user.first_boot", "Is this its first power-up after a long time in storage?"},
        {"user.wifi.unsupported", "Is the WiFi 5 GHz-only, WPA3-only, enterprise (802.1X) or behind a captive portal?"},
        {"user.wifi.no_association", "Does your access point show no connection or DHCP lease from the gateway?"},
        {"user.minihub_ap_visible", "Can you see a WiFi network named MINIHUB-xxxxxx?"},
        {"user.buttons_dead", "Do the buttons have no effect at all?"},
        {"user.serial.flash_erase_loop", "Does a serial console show \"Erasing FLASH ... Restarting\" over and over?"},
        {"user.weak_power", "Is it powered from a weak USB port or cable (not the wall plug)?"},
        {"user.lns_key_cleared", "Did you clear the LNS key on purpose (for example to use a local network server)?"},
        {"user.many_gateways_one_ip", "Are many gateways behind the same public IP address?"},
        {"user.same_lan.true", "Is this computer on the same network (LAN) as the gateway?"},
    };
    return t;
}

const std::vector<std::string> led_choices{"green_blink_slow", "green_blink_fast", "green_solid", "green_red_alternating",
                                           "red_blink_fast", "red_green_flicker"};

}  // namespace

bool needs_answers(const verdict& v) { return v.cause == "unknown" || (v.cause != "healthy" && v.confidence != confidence::high); }

std::vector<question> questions_for(const verdict& v, const std::vector<atom>& atoms, std::size_t max) {
    std::vector<std::string> causes{v.cause};
    for (const auto& a : v.alternatives) causes.push_back(a.cause);
    if (v.cause == "unknown")  // nothing to go on: the questions of the device and WiFi causes
        for (const auto& c : catalogue())
            if (c.position == chain::device) causes.emplace_back(c.id);
    auto answered = [&](std::string_view id) {
        return std::any_of(atoms.begin(), atoms.end(), [&](const atom& a) {
            return a.id == id || (id.starts_with("user.led.") && a.id.starts_with("user.led.")) ||
                   (id.starts_with("user.same_lan") && a.id.starts_with("user.same_lan"));
        });
    };
    std::vector<question> out;
    bool led = false;
    std::vector<std::string> keys;
    for (const auto& id : causes) {
        const auto* c = find_cause(id);
        if (!c) continue;
        for (const auto& r : c->rules) {
            const std::string a(r.atom);
            if (!a.starts_with("user.") || answered(a)) continue;
            if (a.starts_with("user.led.")) led = true;
            else if (a.starts_with("user.same_lan")) {
                if (std::find(keys.begin(), keys.end(), "user.same_lan.true") == keys.end()) keys.push_back("user.same_lan.true");
            } else if (texts().count(a) && std::find(keys.begin(), keys.end(), a) == keys.end()) {
                keys.push_back(a);
            }
        }
    }
    if (led) out.push_back({"led", "What does the gateway's LED do?", led_choices});
    for (const auto& k : keys) {
        if (out.size() >= max) break;
        out.push_back({k, texts().at(k), {}});
    }
    if (out.size() > max) out.resize(max);
    return out;
}

std::optional<atom> answer_atom(const question& q, const std::string& answer) {
    if (q.key == "led") {
        if (std::find(q.choices.begin(), q.choices.end(), answer) == q.choices.end()) return std::nullopt;
        return atom{"user.led." + answer, "user", "you saw the LED: " + answer};
    }
    const bool yes = answer == "y" || answer == "yes" || answer == "Y";
    const bool no = answer == "n" || answer == "no" || answer == "N";
    if (q.key == "user.same_lan.true") {
        if (!yes && !no) return std::nullopt;
        return atom{yes ? "user.same_lan.true" : "user.same_lan.false", "user", yes ? "you said: same LAN" : "you said: not on the gateway's LAN"};
    }
    if (!yes) return std::nullopt;
    return atom{q.key, "user", "you said yes: " + q.text};
}

}  // namespace ttig::diag
