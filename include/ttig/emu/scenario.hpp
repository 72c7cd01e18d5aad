// A scenario: the emulated The Things Stack's initial world, as one JSON document.
//
// Every key is optional. Errors are one line naming the JSON path:
//   [emu.bad_scenario] invalid scenario: /gateways/1/gateway/ids/gateway_id: ...
//
// {
//   "options": {
//     "rights_cache_ttl": "120s",        // GS/CUPS/LNS rights cache (duration "<n>s" or seconds as a number)
//     "restore_window": "86400s",        // how long a deleted gateway can be restored
//     "stats_ttl_connected": "43200s",   // connection stats kept after the last update while connected
//     "stats_ttl_disconnected": "172800s", // ... and after a disconnect
//     "users_create_gateways": true,     // is.user-rights.create-gateways
//     "admin_rights_all": false,         // is.admin-rights.all
//     "pbkdf2_iterations": 20000,        // API key hashing cost
//     "key_verify_memo": true,           // remember verified API keys (false: PBKDF2 on every request, as TTS)
//     "seed": 1                          // fault decisions and correlation IDs
//   },
//   "clusters": [                        // the first with "identity_server": true hosts the IS
//     {"name": "eu1", "address": "eu1.cloud.thethings.network", "identity_server": true},
//     {"name": "nam1", "address": "nam1.cloud.thethings.network"}
//   ],
//   "users": [{"user_id": "alice", "name": "Alice", "admin": false,
//              "state": "STATE_APPROVED", "state_description": ""}],
//   "organizations": [{"organization_id": "acme", "name": "ACME",
//                      "members": [{"user_id": "alice", "rights": ["RIGHT_ALL"]}]}],
//   "gateways": [{
//     "gateway": { <a TTS Gateway JSON, tts-api.md §3; ids.gateway_id required> },
//     "owner": {"user_id": "alice"} | {"organization_id": "acme"},   // member with RIGHT_ALL
//     "collaborators": [{"user_id": "bob", "rights": ["RIGHT_GATEWAY_INFO"]}],
//     "deleted_at": "2024-09-10T08:00:00Z",                           // soft-deleted
//     "connection": {                                                 // Gateway Server stats
//       "cluster": "eu1", "protocol": "semtechws/lbslns", "remote_ip": "203.0.113.7",
//       "connected_at": "...", "disconnected_at": "...", "last_status_received_at": "...",
//       "last_uplink_received_at": "...", "uplink_count": 12, "last_downlink_received_at": "...",
//       "downlink_count": 1, "last_status": {...GatewayStatus JSON...}
//     }
//   }],
//   "api_keys": [{                       // tokens are hashed on load; only the hash is stored
//     "owner": {"user_id": "alice"} | {"organization_id": "acme"} | {"gateway_id": "office-ttig"},
//     "key": "NNSXS.<39 base32>.<52 base32>", "name": "lns", "rights": ["RIGHT_GATEWAY_LINK"],
//     "expires_at": "2030-01-01T00:00:00Z"
//   }],
//   "claimable": [{                      // the claiming upstream's inventory
//     "eui": "58A0CBFFFE801234", "owner_token": "wifi-password",
//     "managed": false,                  // is_managed in claim info
//     "claimed_elsewhere": false         // claimed in another deployment: claim fails upstream
//   }],
//   "rate_limits": [{"name": "get", "max_per_min": 60, "max_burst": 10,
//                    "associations": ["grpc:method:/ttn.lorawan.v3.GatewayRegistry/Get"],
//                    "shared": false}],  // true (emulator extension): one bucket for the whole profile
//   "tls": {"eu1": {"certificate": "expired", "handshake_delay_ms": 0, "max_version": "1.3"},
//           "nam1": {"certificate": "long_chain", "chain_length": 4},   // leaf + 4 intermediates (0..16)
//           "au1": {"certificate": "big_chain", "chain_bytes": 20480}}, // >= 20480 DER bytes (1..65536), "chain_length" 1..16 (1)
//   "faults": [{
//     "rpc": "Gs.GetGatewayConnectionStats", "method": "GET", "path_prefix": "/api/v3/gs/",
//     "delay_ms": 250, "error_ratio": 0.5, "reset_ratio": 0, "blackhole_ratio": 0,
//     "lost_answer_ratio": 0,                                // carried out, then the connection is reset
//     "error": "pkg/util/store:database_unavailable"          // a known TTS error, or
//        | {"namespace": "...", "name": "...", "code": 14, "message_format": "...", "attributes": {}}
//   }]
// }
//
// The claiming upstream of a TTIG is not open source (tts-api.md §4.9): a wrong owner token
// answers 409 pkg/deviceclaimingserver:"claim gateway" with cause emu/upstream:owner_token_mismatch,
// an EUI claimed elsewhere with cause emu/upstream:gateway_claimed_elsewhere (names chosen by
// the emulator; clients should only rely on the outer error). A successful claim creates the
// record as open-source TTS does (require_authenticated_connection, enforce_duty_cycle, the GS
// address and plans) plus what a TTIG needs to get home, which the real upstream must provide in
// some form: a CUPS key "cups-key-claim" (INFO, SETTINGS_BASIC, READ_SECRETS) handed to the
// factory CUPS (factory_cups.hpp), and an LNS key "lns-key-claim" (INFO, LINK) in lbs_lns_secret.
#pragma once

#include <ttig/emu/rate_limit.hpp>
#include <ttig/emu/tts_api.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

struct scenario {
    struct member {
        entity_ref account;
        rights granted;
    };
    struct organization {
        organization_info info;
        std::vector<member> members;
    };
    struct gateway_entry {
        nlohmann::ordered_json doc;  // normalized Gateway
        entity_ref owner;
        std::vector<member> collaborators;
        std::optional<time_point> deleted_at;
        std::optional<connection_stats> connection;
    };
    struct api_key_entry {
        entity_ref owner;
        std::string token;
        std::string name;
        rights granted;
        std::optional<time_point> expires_at;
    };

    // options (unset: keep the defaults)
    std::optional<std::chrono::nanoseconds> rights_cache_ttl, restore_window, stats_ttl_connected, stats_ttl_disconnected;
    std::optional<bool> users_create_gateways, admin_rights_all, key_verify_memo;
    std::optional<int> pbkdf2_iterations;
    std::optional<std::uint64_t> seed;

    std::vector<cluster_info> clusters;
    std::vector<user_info> users;
    std::vector<organization> organizations;
    std::vector<gateway_entry> gateways;
    std::vector<api_key_entry> api_keys;
    std::vector<claimable_gateway> claimable;
    std::vector<rate_profile> rate_limits;
    std::vector<fault_rule> faults;
    // "tls": {"<cluster>": {"certificate": "valid|expired|wrong_host|unknown_ca|rsa|long_chain|big_chain", "handshake_delay_ms": 0,
    //                       "max_version": "1.2|1.3", "chain_length": 4, "chain_bytes": 20480}}
    // — read by tts_emulator when it builds the listeners.
    nlohmann::json tls = nullptr;
};

// Parses a scenario document. Error: emu.bad_scenario, detail "<JSON path>: <what>".
proto::result<scenario> parse_scenario(std::string_view json_text);
proto::result<scenario> parse_scenario_json(const nlohmann::json& document);
// Reads and parses a scenario file. Errors: emu.bad_scenario (also for an unreadable file).
proto::result<scenario> load_scenario_file(const std::string& path);

// Copies the scenario's options into the state options (before tts_state::open).
void apply_options(const scenario& s, state_options& options);
// Creates the scenario's clusters, users, organizations, gateways, keys and inventory in the
// state. Errors: emu.bad_scenario (detail names the JSON path, e.g. a taken EUI), emu.state_failed.
proto::result<void> apply_scenario(const scenario& s, tts_state& state);
// Installs rate limits, faults and the seed in the API.
void apply_scenario(const scenario& s, tts_api& api);

// Parses a fault rule / an error reference ("pkg/util/store:database_unavailable" or an object).
proto::result<fault_rule> parse_fault_rule(const nlohmann::json& j, const std::string& path = "/faults/0");

}  // namespace ttig::emu
