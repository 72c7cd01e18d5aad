// The TTIG's factory ("Root") CUPS, rjs.sm.tc:9191 (disconnected-catalogue §2.3): the first hop of
// a TTIG's provisioning chain. It is run by the TTIG's maker, not by The Things Stack, and its code
// is not public; what the emulator does is the documented behaviour, with the details chosen here:
//
// - A TTIG whose EUI was claimed through this emulator's Device Claiming Server (the claiming
//   upstream's state `claimed_here`) gets a CUPS redirect: cupsUri = the TTS CUPS URI of the
//   cluster its record points at, cupsCred = that CUPS server's trust + "Authorization: <the CUPS
//   key the claim created>". No LNS data: the TTIG asks the TTS CUPS for that at once.
// - Any other EUI (unclaimed, claimed elsewhere, not in the inventory) gets 404 and a text body;
//   a station retries a failed CUPS exchange after a minute.
// - The request is read as the station writes it; the device's factory credentials are not
//   checked (the real server authenticates the device with its factory key; unknown how).
// - The answer is written in the station's dialect (sigLen 0, no key CRC).
//
// The redirect is decided when the TTIG calls, from the current registry: deleting the gateway
// does not withdraw the claim upstream, so the TTIG is still sent to TTS CUPS, which then answers
// gateway_not_found_by_eui (the `gateway-deleted` path of the catalogue).
#pragma once

#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/proto/http.hpp>

#include <functional>
#include <optional>
#include <string>

namespace ttig::emu {

// Where a claimed gateway's TTIG is sent: the TTS CUPS URI and the trust (DER) the TTIG needs for it.
struct factory_target {
    std::string cups_uri;
    proto::bytes trust_der;
};

// Given the live record of a claimed gateway (absent when deleted), the TTS CUPS to send it to.
using factory_target_for = std::function<factory_target(const std::optional<gateway>& record)>;

class factory_cups {
public:
    factory_cups(tts_state& state, factory_target_for target);

    // POST /update-info from a station.
    proto::http_response handle(const proto::http_request& request) const;

private:
    tts_state& state_;
    factory_target_for target_;
};

}  // namespace ttig::emu
