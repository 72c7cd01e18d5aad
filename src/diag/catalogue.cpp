// The cause catalogue of disconnected-catalogue.md §6 as verdict rules, plus `healthy`.
//
// Evidence atoms: the contract between the collectors (they produce atoms) and decide() (it
// weighs them). docs/doctor.md "Evidence atoms" carries the same list; tests/diag checks that
// every atom a rule names is documented there. An atom is present or absent: collectors emit
// only what they saw, never a "not seen" twin unless listed here.
//
//   P0  clock.skew                          local UTC differs from the IS `Date` header by > 5 min
//   P1  eui.malformed                       EUI has no FFFE in bytes 4-5, is a MAC, or 12 hex were padded
//   P2  record.found                        P2 200 or P3 lists the EUI among the caller's gateways
//       record.absent                       P2 404 gateway_not_found, or P3 finds no gateway with the EUI
//       record.forbidden                    P2 403 no_gateway_rights / insufficient_gateway_rights
//       record.recent                       record created_at < 24 h ago
//       record.manual_defaults              require_authenticated_connection=false, no lbs_lns_secret and
//                                           no target_cups_uri (the Console's manual-form defaults)
//       record.lns_secret.absent            lbs_lns_secret empty (read with READ_SECRETS)
//       record.lns_secret.present           lbs_lns_secret set
//       record.auth_required                require_authenticated_connection=true
//       record.gs_address.empty             gateway_server_address empty ("Status unknown")
//       record.gs_address.other_cluster     gateway_server_address names another cluster
//       record.gs_address.invalid           gateway_server_address has a typo, a private or unresolvable host
//       record.fp.empty                     frequency_plan_ids empty
//       record.fp.unknown                   a plan ID not in GET /configuration/frequency-plans
//       record.fp.band_mismatch             the plan's base frequency differs from the TTIG variant
//                                           (serial TMBH100868... / ...915...)
//       record.target_cups.uri              target_cups_uri set
//       record.target_cups.key              target_cups_key set
//       attr.cups_last_seen.absent          no cups-last-seen attribute
//       attr.cups_last_seen.stale           cups-last-seen older than 25 h
//       attr.cups_last_seen.fresh           cups-last-seen within 25 h
//       attr.cups_last_seen.before_created  cups-last-seen older than the record's created_at
//   P3  (record.found / record.absent, see P2)
//   P4  claim.supported                     claim/info supports_claiming=true
//       claim.unsupported                   claim/info supports_claiming false or absent
//   A5  claim.409.gateway_already_exists    claim refused: pkg/deviceclaimingserver:gateway_already_exists
//                                           (from doctor's claim attempt or the error the user reports)
//       claim.409.not_supported             claim refused: gateway_claiming_not_supported
//       claim.409.owner_token               claim refused: "claim gateway" whose upstream cause names the owner token
//       claim.409.upstream                  claim refused: "claim gateway" with any other upstream cause
//       claim.409.id_taken                  claim or create refused: pkg/util/store:id_taken
//       create.409.eui_taken                manual create refused: pkg/identityserver:gateway_eui_taken
//   P5  keys.lns.missing                    no key with the ID inside lbs_lns_secret
//       keys.lns.expired                    that key has expired
//       keys.lns.no_link                    that key lacks RIGHT_GATEWAY_LINK
//       keys.cups.none                      no key with INFO + SETTINGS_BASIC + READ_SECRETS
//       keys.default_names_only             no keys, or only cups-api-key-* / lns-api-key-* names
//       keys.newer_than_record              every key was created after the record's created_at
//   P6  stats.connected                     200 with connected_at on <gs>
//       stats.disconnected_at               200 with disconnected_at (disconnected within 48 h)
//       stats.404                           404 pkg/gatewayserver:not_connected on <gs>
//       stats.other_cluster.connected       200 connected on another cluster of the deployment
//       stats.remote_ip.changes             two polls 30 s apart: connected_at reset, remote IP differs
//       stats.last_uplink.old               last_uplink_received_at absent or older than 1 h
//       stats.rtt.high                      round_trip_times.max above 1 s
//       stats.old_id.present                stats still answer for the gateway's previous ID
//   P7  event.disconnect.<name>             gs.gateway.disconnect with error details[0].name <name>:
//                                           new_connection, gateway_changed, missed_too_many_pongs,
//                                           api_key_not_found, api_key_expired; io_error for read/close
//                                           errors without a TTS error name
//       event.registry.<event>              registry event: gateway.api-key.delete, gateway.update,
//                                           gateway.delete, gateway.create
//       event.connect_disconnect.pairs      three or more gs.gateway.connect/disconnect pairs in the tail
//       event.tail.empty                    the 24 h tail holds no gateway event at all
//       event.tail.no_missed_pongs          connect events but never missed_too_many_pongs
//   P8  dns.fail                            NXDOMAIN / timeout for <cluster>, <gs> or rjs.sm.tc
//   P9  tcp.443.fail, tcp.8887.fail, tcp.9191.fail   connect timeout / RST on that port
//   P10 tls.443.verify_fail, tls.8887.verify_fail    chain does not verify against the system roots
//       tls.8887.root_mismatch              8887 chain ends in another root than the tc.trust the gateway was given
//       tls.8887.ecdsa                      8887 presents an ECDSA certificate
//       tls.8887.big_chain                  8887 chain of several KB (mbedTLS heap on the TTIG)
//   --  deploy.version.before_3_30_2        deployment older than 3.30.2 (version detection unverified)
//       deploy.tls_by_tts                   TTS terminates TLS itself (CUPS keeps a 5 s header timeout)
//   F1  station.cups_key.revoked            --station-dir: the key ID in cups.key is not among the gateway's keys
//       station.tc_key.revoked              --station-dir: the key ID in tc.key is not among the gateway's keys
//       station.tc_uri.mismatch             --station-dir: tc.uri differs from the record's Gateway Server URI
//   P11 cups.anon.404_not_found_by_eui      404 gateway_not_found_by_eui: EUI not registered
//       cups.anon.401                       401 unauthenticated: EUI registered (by someone)
//       cups.anon.200                       200: EUI was just auto-registered (critical event)
//   P12 cups.auth.ok_lns                    200 with tcUri wss://<gs>:8887 and tcCred
//       cups.auth.ok_cups_only              200 with only cupsUri/cupsCred, empty tcUri
//       cups.auth.404_lns_credentials       404 lns_credentials_not_found
//       cups.auth.404_server_trust          404 server_trust
//       cups.auth.404_target_cups           404 target_cups_credentials_not_found
//       cups.auth.401                       401: the probe key is wrong (says nothing about the gateway)
//   P13 lnsinfo.ok                          router-info answered with a uri
//       lnsinfo.unauthorized                {"error":"Unauthorized"} with the stored key
//       lnsinfo.not_registered              gateway_eui_not_registered
//       lnsinfo.429                         HTTP 429 at the upgrade
//   P14 p14.old_id.404                      the record's previous ID answers 404 while P3 finds the new record
//       p14.target_id.200                   the ID a claim/create asked for is a live gateway
//       p14.target_id.reserved              P14 404 but the claim/create still answers id_taken (deleted, reserved)
//   any any.429                             any probe got 429 pkg/ratelimit:rate_limit_exceeded
//   user user.led.<pattern>                 green_blink_slow, green_blink_fast, green_solid, green_red_alternating,
//                                           red_blink_fast (station_led names), red_green_flicker (red, green flicker)
//        user.manual_registration           used "Register gateway" (manual form)
//        user.v2_history                    gateway ran on TTN V2 before
//        user.other_instance                gateway was forwarded to / used on another instance
//        user.recreated                     deleted and re-created the gateway
//        user.same_lan.true / .false        doctor runs / does not run on the TTIG's LAN
//                                           (.false: network atoms count as W, network X atoms not at all)
//        user.device_off                    the TTIG is unplugged or powered off
//        user.first_boot                    first power-up after long storage
//        user.wifi.unsupported              5 GHz-only, WPA3-only, 802.1X or captive-portal network
//        user.wifi.no_association           AP logs show no association or DHCP lease
//        user.minihub_ap_visible            the MINIHUB-xxxxxx access point is visible
//        user.buttons_dead                  no MINIHUB AP and the buttons have no effect
//        user.serial.flash_erase_loop       serial log loops "Erasing FLASH ... Restarting"
//        user.weak_power                    weak USB port or cable
//        user.lns_key_cleared               LNS key cleared on purpose (e.g. pointed at a local LNS)
//        user.many_gateways_one_ip          many gateways behind one public IP
#include <ttig/diag/verdict.hpp>

namespace ttig::diag {

namespace {

constexpr auto D = weight::D;
constexpr auto S = weight::S;
constexpr auto W = weight::W;
constexpr auto X = weight::X;

fix_step a(std::string id, std::string text) { return {std::move(id), std::move(text), true}; }
fix_step m(std::string id, std::string text) { return {std::move(id), std::move(text), false}; }

std::vector<cause_info> build() {
    std::vector<cause_info> c;

    // §6.1 Registry and claiming.
    c.push_back({"registered-manually-not-claimed",
                 "Registered with the manual form, never claimed: TTS CUPS never hears from it", chain::claim,
                 {{"user.manual_registration", D}, {"record.manual_defaults", S}, {"attr.cups_last_seen.absent", S},
                  {"claim.supported", S}, {"claim.409.gateway_already_exists", S}, {"keys.default_names_only", W},
                  {"cups.anon.401", W}, {"user.led.green_solid", W}, {"user.led.green_blink_fast", W},
                  {"record.absent", X}, {"claim.unsupported", X}, {"attr.cups_last_seen.fresh", X},
                  {"attr.cups_last_seen.stale", X}, {"cups.anon.404_not_found_by_eui", X}, {"stats.connected", X}},
                 {"cups-not-yet-contacted", "eui-not-claimable", "eui-claimed-elsewhere",
                  "recreated-stale-credentials"},
                 {a("A5", "Save the record, delete it (the EUI is released, the ID stays reserved) and claim the EUI "
                          "with the owner token (label WiFi password), under a new ID if needed; re-apply the saved "
                          "settings"),
                  m("M1", "Factory reset (RESET 5 s) and redo the WiFi setup so the TTIG asks CUPS now")}});
    c.push_back({"eui-not-claimable",
                 "The EUI is not claimable here: typo, MAC address, wrong deployment or not a TTIG", chain::claim,
                 {{"eui.malformed", D}, {"claim.unsupported", D}, {"claim.409.not_supported", D},
                  {"claim.supported", X}, {"claim.409.gateway_already_exists", X}, {"claim.409.owner_token", X},
                  {"stats.connected", X}},
                 {"registered-manually-not-claimed"},
                 {m("ADV", "Re-read the 12-hex code after (92) on the label and insert FFFE after the sixth hex "
                           "digit; watch 8/B/3, 0/O, 1/l; the WiFi MAC on the back is not the EUI"),
                  m("ADV", "If a correct TTIG EUI is still not claimable, contact TTN/TTI support: every TTIG "
                           "must be claimable")}});
    c.push_back({"owner-token-mismatch",
                 "The claim is refused: owner token (claim authentication code) mismatch", chain::claim,
                 {{"claim.409.owner_token", D}, {"claim.supported", S}, {"claim.409.upstream", W},
                  {"claim.409.gateway_already_exists", X}, {"claim.unsupported", X}, {"eui.malformed", X},
                  {"stats.connected", X}},
                 {"eui-claimed-elsewhere"},
                 {m("ADV", "Re-type the label WiFi password (case, 8/B/3, 1/l, 0/O)"),
                  a("A5", "Retry the claim once with the re-typed owner token (claim step only, nothing is deleted)"),
                  m("ADV", "Still refused: contact support with proof of ownership")}});
    c.push_back({"eui-claimed-elsewhere", "The EUI is registered or claimed by someone else", chain::registry,
                 {{"cups.anon.401", D}, {"claim.409.gateway_already_exists", D}, {"create.409.eui_taken", D},
                  {"record.absent", S}, {"record.forbidden", S}, {"claim.409.upstream", S}, {"record.found", X},
                  {"record.manual_defaults", X}, {"cups.anon.404_not_found_by_eui", X}, {"cups.anon.200", X},
                  {"stats.connected", X}},
                 {"registered-manually-not-claimed", "gateway-deleted", "owner-token-mismatch"},
                 {m("ADV", "If it is in another account or organisation of yours, delete it there and claim again"),
                  m("ADV", "Otherwise contact the previous owner or TTN support with proof of ownership (TTS "
                           "Cloud: the tenant admin)")}});
    c.push_back({"gateway-id-taken",
                 "The gateway ID is taken (live, or reserved by a deleted gateway)", chain::registry,
                 {{"claim.409.id_taken", D}, {"p14.target_id.200", D}, {"p14.target_id.reserved", S},
                  {"create.409.eui_taken", X}, {"claim.409.gateway_already_exists", X}, {"stats.connected", X}},
                 {"eui-claimed-elsewhere"},
                 {a("A5", "Claim under another ID: doctor proposes ttig-<last 6 hex of EUI> variants that P14 "
                          "reports free"),
                  m("ADV", "To reuse a deleted gateway's ID an admin must purge it")}});
    c.push_back({"recreated-stale-credentials",
                 "Deleted and re-created: the TTIG still holds the old record's credentials", chain::registry,
                 {{"user.recreated", D}, {"record.recent", S}, {"p14.old_id.404", S}, {"keys.newer_than_record", S},
                  {"attr.cups_last_seen.absent", S}, {"attr.cups_last_seen.before_created", S},
                  {"event.registry.gateway.create", W}, {"stats.old_id.present", W}, {"user.led.green_blink_fast", W},
                  {"record.absent", X}, {"attr.cups_last_seen.fresh", X}, {"stats.connected", X}},
                 {"lns-key-revoked", "registered-manually-not-claimed"},
                 {a("A5", "If the record was re-created with the manual form: delete it and claim the EUI (the claim "
                          "re-provisions the CUPS side)"),
                  m("M1", "Factory reset and redo the WiFi setup"),
                  m("ADV", "Generic LBS: install the new record's CUPS/LNS keys on the device")}});
    c.push_back({"gateway-deleted", "The gateway record was deleted; the TTIG keeps trying", chain::registry,
                 {{"cups.anon.404_not_found_by_eui", D}, {"lnsinfo.not_registered", D}, {"record.absent", S},
                  {"event.registry.gateway.delete", S}, {"lnsinfo.unauthorized", W}, {"user.led.green_blink_fast", W},
                  {"record.found", X}, {"cups.anon.401", X}, {"lnsinfo.ok", X}, {"stats.connected", X}},
                 {"eui-claimed-elsewhere"},
                 {a("A6", "Restore the gateway (POST /gateways/<id>/restore) within the restore window"),
                  a("A5", "Past the window: claim the EUI again (new ID, the old one stays reserved)"),
                  m("M1", "Factory reset and redo the WiFi setup")}});

    // §6.2 Provisioning (CUPS).
    c.push_back({"cups-not-yet-contacted", "Claimed recently; the TTIG has not asked TTS CUPS yet", chain::cups,
                 {{"record.recent", S}, {"attr.cups_last_seen.absent", S}, {"attr.cups_last_seen.before_created", S},
                  {"cups.auth.ok_lns", S}, {"stats.404", W}, {"user.led.green_solid", W},
                  {"user.led.green_blink_fast", W}, {"record.manual_defaults", X}, {"user.manual_registration", X},
                  {"attr.cups_last_seen.fresh", X}, {"cups.auth.404_lns_credentials", X},
                  {"cups.auth.404_server_trust", X}, {"cups.auth.404_target_cups", X}, {"cups.auth.ok_cups_only", X},
                  {"record.absent", X}, {"stats.connected", X}},
                 {"connected-elsewhere", "lns-key-missing", "registered-manually-not-claimed"},
                 {m("M1", "Factory reset (RESET 5 s) and redo the WiFi setup; a power cycle alone may not trigger "
                          "CUPS"),
                  m("ADV", "Or wait: the TTIG asks CUPS at least every 24 h")}});
    c.push_back({"connected-elsewhere",
                 "The TTIG is connected to another LNS (V2, another cluster or instance)", chain::cups,
                 // Connected on another cluster of this deployment is gs-address-wrong-or-unreachable's
                 // decisive atom (§6.2: "D → see gs-address-wrong-or-unreachable"), not this cause's.
                 {{"stats.404", S}, {"attr.cups_last_seen.absent", S}, {"station.tc_uri.mismatch", W},
                  {"attr.cups_last_seen.stale", S}, {"user.v2_history", S}, {"user.other_instance", S},
                  {"user.led.green_solid", S}, {"record.recent", X}, {"attr.cups_last_seen.fresh", X},
                  {"stats.connected", X}},
                 {"cups-not-yet-contacted", "gs-address-wrong-or-unreachable", "cups-target-mode-stuck"},
                 {a("A5", "If it was never claimed on this deployment: delete the record and claim the EUI"),
                  m("M1", "Factory reset and redo the WiFi setup"),
                  m("ADV", "If it was forwarded on purpose, look at the target instance")}});
    c.push_back({"lns-key-missing",
                 "The record has no LNS key: CUPS answers 404 lns_credentials_not_found", chain::cups,
                 {{"cups.auth.404_lns_credentials", D}, {"record.lns_secret.absent", S},
                  {"attr.cups_last_seen.absent", W}, {"attr.cups_last_seen.stale", W}, {"user.led.green_blink_fast", W},
                  {"lnsinfo.ok", X}, {"record.lns_secret.present", X}, {"cups.auth.ok_lns", X},
                  {"cups.auth.404_server_trust", X}, {"cups.anon.404_not_found_by_eui", X}, {"user.lns_key_cleared", X},
                  {"record.absent", X}, {"stats.connected", X}},
                 {"gs-address-wrong-or-unreachable", "gateway-deleted", "require-auth-mismatch", "lns-key-revoked",
                  "cups-not-yet-contacted"},
                 {a("A1", "Create an LNS key (INFO + LINK) and store it in lbs_lns_secret"),
                  m("M1", "Factory reset if still Disconnected after 15 min")}});
    c.push_back({"cups-key-revoked", "The gateway's CUPS key was deleted: CUPS refuses the TTIG", chain::cups,
                 {{"station.cups_key.revoked", D}, {"keys.cups.none", S}, {"event.registry.gateway.api-key.delete", S}, {"attr.cups_last_seen.stale", S},
                  {"cups.auth.ok_lns", S}, {"attr.cups_last_seen.fresh", X}, {"record.absent", X},
                  {"stats.connected", X}},
                 {"lns-key-revoked"},
                 {a("A5", "TTIG: delete the record and claim again (only the claim places a new CUPS key on a TTIG)"),
                  m("M1", "Then factory reset and redo the WiFi setup"),
                  m("ADV", "Generic LBS: put a new CUPS key into cups.key")}});
    c.push_back({"cups-target-mode-stuck",
                 "The record is in CUPS-redirect or key-rotation mode: no LNS data is ever sent", chain::cups,
                 {{"record.target_cups.key", D}, {"cups.auth.ok_cups_only", D}, {"cups.auth.404_target_cups", D},
                  {"record.target_cups.uri", S}, {"cups.auth.ok_lns", X}, {"stats.connected", X}},
                 {"connected-elsewhere"},
                 {a("A7", "Clear target_cups_uri and target_cups_key (only when forwarding was not intended)"),
                  m("ADV", "If forwarding is intended, look at the target instance")}});
    c.push_back({"gs-address-wrong-or-unreachable",
                 "The Gateway Server address is empty, wrong, another cluster or unreachable", chain::cups,
                 {{"record.gs_address.empty", D}, {"cups.auth.404_server_trust", D},
                  {"stats.other_cluster.connected", D}, {"record.gs_address.other_cluster", S}, {"station.tc_uri.mismatch", S},
                  {"record.gs_address.invalid", S}, {"cups.auth.ok_lns", X}, {"stats.connected", X}},
                 {"tls-trust-mismatch", "connected-elsewhere"},
                 {a("A2", "Set gateway_server_address to the cluster host (reconnects within ~10 min; the TTIG gets "
                          "the new address at its next CUPS round)"),
                  m("M1", "Factory reset to make the TTIG ask CUPS now")}});

    // §6.3 LNS, authentication and configuration.
    c.push_back({"lns-key-revoked", "The LNS key in lbs_lns_secret was deleted, expired or lost LINK", chain::lns,
                 {{"lnsinfo.unauthorized", D}, {"keys.lns.*", D}, {"station.tc_key.revoked", S},
                  {"event.disconnect.api_key_not_found", S},
                  {"event.disconnect.api_key_expired", S}, {"event.registry.gateway.api-key.delete", W},
                  {"record.lns_secret.present", W}, {"stats.disconnected_at", W}, {"lnsinfo.ok", X},
                  {"lnsinfo.not_registered", X}, {"record.lns_secret.absent", X}, {"record.absent", X},
                  {"stats.connected", X}},
                 {"lns-key-missing", "cups-key-revoked", "recreated-stale-credentials", "frequency-plan-missing"},
                 {a("A1", "Create a new LNS key (INFO + LINK) and store it in lbs_lns_secret; CUPS sends it because "
                          "the credentials CRC changes"),
                  m("ADV", "doctor polls the connection stats every 60 s for 15 min"),
                  m("M1", "Factory reset if still Disconnected after 15 min")}});
    c.push_back({"duplicate-connection", "A second client connects as this gateway and kicks the TTIG off", chain::lns,
                 {{"event.disconnect.new_connection", D}, {"stats.remote_ip.changes", S},
                  {"event.connect_disconnect.pairs", W}, {"stats.connected", W}, {"stats.disconnected_at", W}},
                 {"backhaul-flapping", "settings-change-disconnect", "frequency-plan-band-mismatch"},
                 {m("ADV", "Find the second client (test Station, copied keys, cloned EUI) from the remote addresses"),
                  a("A4", "Rotate the LNS key (A1, then delete the old key) so only the CUPS-fed TTIG reconnects")}});
    c.push_back({"require-auth-mismatch",
                 "The LNS key was cleared on purpose; TTS refuses unauthenticated LBS traffic", chain::lns,
                 {{"user.lns_key_cleared", S}, {"record.lns_secret.absent", S}, {"record.auth_required", W},
                  {"record.lns_secret.present", X}, {"lnsinfo.ok", X}, {"record.absent", X}, {"stats.connected", X}},
                 {"lns-key-missing"},
                 {a("A1", "Restore an LNS key (A1) if the gateway should use TTS")}});
    c.push_back({"frequency-plan-missing",
                 "The record has no (or an unknown) frequency plan: traffic fails after discovery", chain::lns,
                 {{"record.fp.empty", D}, {"record.fp.unknown", D}, {"cups.auth.ok_lns", S}, {"lnsinfo.ok", S},
                  {"event.tail.empty", W}, {"user.led.green_blink_fast", W}, {"lnsinfo.unauthorized", X},
                  {"record.absent", X}, {"stats.connected", X}},
                 {"lns-key-revoked"},
                 {a("A3", "Set the frequency plan (e.g. EU_863_870_TTN, US_902_928_FSB_2, AU_915_928_FSB_2)")}});
    c.push_back({"frequency-plan-band-mismatch",
                 "The frequency plan is for another band than the TTIG's radio", chain::lns,
                 {{"record.fp.band_mismatch", S}, {"event.connect_disconnect.pairs", S}, {"stats.disconnected_at", W},
                  {"stats.last_uplink.old", W}, {"event.disconnect.new_connection", X}, {"record.fp.empty", X}},
                 {"duplicate-connection", "backhaul-flapping"},
                 {a("A3", "Set a frequency plan of the device's band (serial TMBH100868... = EU868, ...915... = "
                          "US915)")}});
    c.push_back({"settings-change-disconnect",
                 "A settings edit disconnected the gateway (gateway_changed); it reconnects", chain::lns,
                 {{"event.disconnect.gateway_changed", D}, {"event.registry.gateway.update", S}, {"stats.connected", W},
                  {"stats.disconnected_at", W}},
                 {"duplicate-connection"},
                 {m("ADV", "Expected behaviour after a settings change; nothing to fix")}});
    c.push_back({"firmware-no-pong",
                 "Console says Connected long after power loss: the firmware does not answer pings", chain::lns,
                 {{"stats.connected", S}, {"stats.last_uplink.old", S}, {"event.tail.no_missed_pongs", W},
                  {"event.disconnect.missed_too_many_pongs", X}, {"stats.404", X}},
                 {"backhaul-flapping", "stale-console"},
                 {m("ADV", "Trust last_uplink_received_at, not the status"),
                  m("ADV", "Firmware updates only come through the factory chain")}});

    // §6.4 Network and TLS.
    c.push_back({"dns-failure", "The TTIG's LAN resolver cannot resolve the cluster or rjs.sm.tc", chain::network,
                 {{"dns.fail", D}, {"attr.cups_last_seen.stale", S}, {"user.led.green_blink_fast", W},
                  {"attr.cups_last_seen.fresh", X}, {"stats.connected", X}},
                 {"firewall-blocks-ports"},
                 {m("M3", "Fix the LAN DNS (filtering resolvers, split DNS)")}});
    c.push_back({"firewall-blocks-ports", "The LAN blocks the LNS port 8887 (or 443, 9191)", chain::network,
                 {{"tcp.8887.fail", D}, {"tcp.9191.fail", S}, {"tcp.443.fail", S}, {"attr.cups_last_seen.fresh", S},
                  {"cups.auth.ok_lns", W}, {"stats.404", W}, {"user.led.green_blink_fast", W}, {"dns.fail", X},
                  {"tls.8887.verify_fail", X}, {"tls.8887.ecdsa", X}, {"stats.connected", X}},
                 {"tls-trust-mismatch", "tls-handshake-too-slow", "dns-failure", "api-rate-limited"},
                 {m("M3", "Allow outbound TCP 443, 8887, 9191 and UDP 53")}});
    c.push_back({"tls-trust-mismatch",
                 "The TTIG's trust does not match the server chain (X.509 verification failed)", chain::network,
                 // A LNS chain that does not verify from doctor's side (system roots + --ca) cannot
                 // verify on a TTIG either: decisive. A root other than the one the gateway holds stays S.
                 {{"tls.8887.root_mismatch", S}, {"tls.8887.verify_fail", D}, {"cups.auth.ok_lns", S},
                  {"tls.443.verify_fail", W}, {"clock.skew", X}, {"cups.auth.404_server_trust", X},
                  {"tcp.8887.fail", X}, {"stats.connected", X}},
                 {"gs-address-wrong-or-unreachable", "firewall-blocks-ports", "clock-skew"},
                 {m("M1", "TTIG: factory reset so CUPS sends the trust again"),
                  m("ADV", "Generic LBS: install ISRG Root X1 / a minimal CA list")}});
    c.push_back({"tls-handshake-too-slow",
                 "The TLS handshake (ECDSA certificate) outlasts the server's header timeout", chain::network,
                 {{"tls.8887.ecdsa", S}, {"deploy.version.before_3_30_2", S}, {"deploy.tls_by_tts", W},
                  {"tls.8887.big_chain", W}, {"tcp.8887.fail", X}, {"stats.connected", X}},
                 {"firewall-blocks-ports"},
                 {m("ADV", "Deployment upgrade (LBS listener header timeout 5 -> 30 s, 3.30.2); nothing to do on "
                           "the device")}});
    c.push_back({"clock-skew", "doctor's clock is off: its TLS verdicts are not reliable", chain::network,
                 {{"clock.skew", D}},
                 {"tls-trust-mismatch"},
                 {m("ADV", "Fix the clock of the host running doctor, then run doctor again")}});
    c.push_back({"backhaul-flapping", "The link drops and reconnects (read/close errors, missed pongs)", chain::network,
                 {{"event.connect_disconnect.pairs", S}, {"event.disconnect.missed_too_many_pongs", S},
                  {"event.disconnect.io_error", S}, {"stats.rtt.high", W}, {"stats.connected", W},
                  {"stats.disconnected_at", W}, {"event.disconnect.new_connection", X}, {"stats.remote_ip.changes", X}},
                 {"duplicate-connection", "power-supply-insufficient", "firmware-no-pong",
                  "frequency-plan-band-mismatch"},
                 {m("ADV", "Move the TTIG closer to the AP, use a fixed 2.4 GHz channel and a stable uplink")}});
    c.push_back({"api-rate-limited", "The public IP hits TTS rate limits (429) at connect or CUPS", chain::network,
                 {{"any.429", D}, {"lnsinfo.429", D}, {"user.many_gateways_one_ip", S}, {"stats.connected", X}},
                 {"firewall-blocks-ports"},
                 {m("ADV", "Spread gateways over public IPs and stop looping clients; doctor backs off")}});

    // §6.5 Device and WiFi.
    c.push_back({"wifi-unsupported-network", "The WiFi is not 2.4 GHz WPA/WPA2-Personal", chain::device,
                 {{"user.wifi.unsupported", S}, {"user.led.green_blink_slow", W}, {"attr.cups_last_seen.absent", W},
                  {"attr.cups_last_seen.stale", W}, {"user.led.green_solid", X}, {"user.led.green_blink_fast", X},
                  {"attr.cups_last_seen.fresh", X}, {"stats.connected", X}},
                 {"wifi-not-joined"},
                 {m("M3", "Use a 2.4 GHz WPA2-Personal SSID (or mixed mode)")}});
    c.push_back({"wifi-not-joined", "The TTIG does not join the WiFi (password, signal)", chain::device,
                 // The LED is the only window on the TTIG's WiFi state (§2.6), so here it is decisive; a
                 // fresh cups-last-seen does not contradict a WiFi lost since.
                 {{"user.led.green_blink_slow", D}, {"user.wifi.no_association", S}, {"user.wifi.unsupported", X},
                  {"user.led.green_solid", X}, {"user.led.green_blink_fast", X}, {"stats.connected", X}},
                 {"wifi-unsupported-network"},
                 {m("M1", "RESET 5 s, then SETUP 10 s and re-enter the WiFi password on http://192.168.4.1")}});
    c.push_back({"config-mode-active", "The TTIG is in configuration mode (MINIHUB AP), not forwarding", chain::device,
                 {{"user.led.red_blink_fast", D}, {"user.minihub_ap_visible", S}, {"user.buttons_dead", X},
                  {"stats.connected", X}},
                 {"flash-corrupted", "firmware-update-in-progress"},
                 {m("M2", "Finish the WiFi setup, or hold SETUP 5 s to reboot into gateway mode")}});
    c.push_back({"firmware-update-in-progress", "A firmware update is running (green/red alternating)", chain::device,
                 {{"user.led.green_red_alternating", S}, {"user.first_boot", S}, {"stats.connected", X}},
                 {"config-mode-active"},
                 {m("ADV", "Leave it powered and check again after 15 min")}});
    c.push_back({"flash-corrupted", "Flash erase/restart loop: no AP, buttons ignored", chain::device,
                 {{"user.serial.flash_erase_loop", D}, {"user.led.red_green_flicker", S}, {"user.buttons_dead", S},
                  {"user.minihub_ap_visible", X}, {"stats.connected", X}},
                 {"config-mode-active"},
                 {m("M1", "Try a factory reset"),
                  m("ADV", "Otherwise support/RMA (re-flashing is not documented)")}});

    // The row's only evidence is W in §6.5; S here so that the cause can win on its own (low confidence).
    c.push_back({"power-supply-insufficient", "Weak power supply: random reboots, flapping", chain::device,
                 {{"user.weak_power", S}, {"event.connect_disconnect.pairs", W}, {"stats.disconnected_at", W}},
                 {"backhaul-flapping"},
                 {m("ADV", "Use the wall plug or a USB-C supply of at least 900 mA")}});
    c.push_back({"stale-console",
                 "Not a fault: the Console shows a state that does not match the device", chain::device,
                 {{"stats.connected", S}, {"user.device_off", S}, {"stats.last_uplink.old", W}, {"stats.404", X}},
                 {"firmware-no-pong"},
                 {m("ADV", "Wait (an unclean drop can take ~18 min to show); read last_uplink_received_at")}});

    // Connected with recent traffic and nothing against it.
    c.push_back({"healthy", "Connected, with recent traffic", chain::none,
                 {{"stats.connected", D}, {"stats.last_uplink.old", X}, {"user.device_off", X},
                  {"stats.remote_ip.changes", X}, {"event.connect_disconnect.pairs", X},
                  {"event.disconnect.new_connection", X}},
                 {"stale-console", "firmware-no-pong"},
                 {m("ADV", "Nothing to fix; if the Console disagrees, check that it shows the gateway's cluster")}});
    return c;
}

}  // namespace

const std::vector<cause_info>& catalogue() {
    static const std::vector<cause_info> c = build();
    return c;
}

const cause_info* find_cause(std::string_view id) {
    for (const auto& c : catalogue())
        if (c.id == id) return &c;
    return nullptr;
}

}  // namespace ttig::diag
