// The emulated The Things Stack's state: the Identity Server (users, organizations, memberships,
// gateways, API keys), the Gateway Servers' connection statistics per cluster, the claimable TTIG
// inventory of the claiming upstream, and the cluster map. Backed by the store layer (SQLite): a
// file survives a restart, ":memory:" (the default) does not. Sans-io: no sockets, time only from
// the injected proto::clock. Thread-safe (one lock around every public method).
//
// Semantics follow lorawan-stack v3.32.1 (tts-api.md):
//  - gateway IDs stay reserved after a soft delete; the EUI is unique among live gateways only;
//    restore keeps the EUI unless a live gateway took it meanwhile (bunstore RestoreGateway);
//  - API keys: only "PBKDF2$sha256$..." hashes of secrets are stored; the token is returned once;
//  - rights (IS, rights.go getRights/GatewayRights): key rights (implied) ∩ memberships (direct
//    or user -> organization -> gateway), a gateway key on its own gateway, universal rights of
//    admins (AllAdminRights ∩ key rights), + STATUS_READ / LOCATION_READ on public gateways;
//  - the Identity Server answers without caching; the Gateway Server, CUPS and LNS look rights up
//    through a cache (pkg/auth/rights NewInMemoryCache, config Rights.TTL = 2 min for success and
//    failure): a deleted or changed key keeps its old answer until the entry expires. Use the
//    cached calls (cached_gateway_rights, authorize_gateway(..., cached = true)) for GS/CUPS/LNS;
//  - connection stats (Redis registry semantics): replaced on connect, kept with disconnected_at
//    after a disconnect; expire 12 h after the last update while connected and 48 h after the
//    disconnect; only visible on the cluster the gateway connected to.
#pragma once

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/error.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/proto/eui.hpp>
#include <ttig/proto/http.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

class event_bus;

using time_point = proto::time_point;

// ---- wire conventions (tts-api.md §0) -------------------------------------------------------------

// RFC 3339 UTC with 'Z' and a fraction of 0, 3, 6 or 9 digits: "2024-09-10T08:12:05.100Z".
std::string format_time(time_point t);
// The TTS decoder's layout: "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (offsets are rejected).
std::optional<time_point> parse_time(std::string_view text);
// Seconds with an 's' suffix and a fraction of 0, 3, 6 or 9 digits: "0.530s", "1s", "-2.500s".
std::string format_duration(std::chrono::nanoseconds d);
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
// Standard base64 with padding; the decoder also accepts missing padding and URL-safe letters.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// ---- entities ---------------------------------------------------------------------------------------

struct entity_ref {
    enum class kind { user, organization, gateway };
    kind type = kind::user;
    std::string id;

    static entity_ref user(std::string id) { return {kind::user, std::move(id)}; }
    static entity_ref organization(std::string id) { return {kind::organization, std::move(id)}; }
    static entity_ref gateway(std::string id) { return {kind::gateway, std::move(id)}; }
    std::string_view type_name() const noexcept;  // "user", "organization", "gateway"
    // {"user_ids":{"user_id":"alice"}}, {"organization_ids":{...}}, {"gateway_ids":{"gateway_id":...}}
    nlohmann::ordered_json ids_json() const;
    friend bool operator==(const entity_ref&, const entity_ref&) = default;
};
// Parses OrganizationOrUserIdentifiers / EntityIdentifiers JSON ({"user_ids":{"user_id":...}} ...).
std::optional<entity_ref> parse_entity_ids(const nlohmann::json& j);

// One cluster of the deployment: its Gateway Server, CUPS and LNS are reached at `address`.
struct cluster_info {
    std::string name;             // "eu1"
    std::string address;          // host[:port] clients and gateways use: "eu1.cloud.thethings.network"
    bool identity_server = false;  // hosts the Identity Server (exactly one cluster should)
};

struct user_info {
    std::string user_id;
    std::string name;
    bool admin = false;
    // STATE_APPROVED (default), STATE_REQUESTED, STATE_REJECTED, STATE_FLAGGED, STATE_SUSPENDED.
    std::string state = "STATE_APPROVED";
    std::string state_description;
    time_point created_at{};
    time_point updated_at{};
};

struct organization_info {
    std::string organization_id;
    std::string name;
    time_point created_at{};
    time_point updated_at{};
};

// A registered gateway. `doc` is the stored Gateway in TTS's JSON form (proto field names and
// order, every set field, zero values omitted, secrets as stored: base64 of the plaintext).
class gateway {
public:
    nlohmann::ordered_json doc = nlohmann::ordered_json::object();

    std::string id() const;
    std::optional<proto::eui64> eui() const;
    std::string name() const;
    std::string gateway_server_address() const;
    std::vector<std::string> frequency_plan_ids() const;
    std::map<std::string, std::string> attributes() const;
    std::optional<std::string> lbs_lns_secret() const;  // decoded: the LNS key text
    std::string target_cups_uri() const;
    std::optional<std::string> target_cups_key() const;  // decoded
    bool require_authenticated_connection() const;
    bool status_public() const;
    bool location_public() const;
    time_point created_at() const;
    time_point updated_at() const;
    std::optional<time_point> deleted_at() const;
    std::optional<entity_ref> administrative_contact() const;
};

// Every Gateway field mask path TTS accepts (ttnpb.GatewayFieldPathsNested).
std::span<const std::string_view> gateway_field_paths() noexcept;
// The Gateway fields anyone authenticated may read (ttnpb.PublicGatewayFields).
std::span<const std::string_view> public_gateway_fields() noexcept;
// Whether every path is one of `allowed` or below one (ttnpb.HasOnlyAllowedFields).
bool has_only_allowed_fields(std::span<const std::string> paths, std::span<const std::string_view> allowed);
// Whether any path is `field` or below it, or above it (ttnpb.HasAnyField).
bool has_any_field(std::span<const std::string> paths, std::string_view field);

// Validates the masked paths of a Gateway JSON from a request and returns them in stored form.
// `request_name` ("CreateGatewayRequest", "UpdateGatewayRequest") names the outer validation
// error. Errors: 400 pkg/errors:validation (cause chain down to the field), or a plain 400
// (code 3, no details) for a value of the wrong JSON type, as TTS's JSON decoder answers.
tts_result<nlohmann::ordered_json> normalize_gateway(const nlohmann::json& input, std::span<const std::string> paths,
                                                     std::string_view request_name);
// The gateway as a TTS read returns it for the (already cleaned) paths: ids, created_at,
// updated_at, deleted_at always, then the masked fields in proto order (version_ids and
// schedule_anytime_delay are always messages, an empty plan list reads [""] as bunstore does,
// frequency_plan_id mirrors frequency_plan_ids[0]).
nlohmann::ordered_json render_gateway(const gateway& gw, std::span<const std::string> paths);
// ttnpb.Gateway.PublicSafe on a rendered gateway.
nlohmann::ordered_json public_safe(const nlohmann::ordered_json& rendered);

struct api_key_info {
    std::string id;
    std::string name;
    emu::rights rights;  // as granted (not implied)
    time_point created_at{};
    time_point updated_at{};
    std::optional<time_point> expires_at;
    entity_ref owner;

    // APIKey JSON without "key": {id, name, rights, created_at, updated_at, expires_at}.
    nlohmann::ordered_json to_json() const;
};

struct created_api_key {
    api_key_info key;
    std::string token;  // NNSXS.<id>.<secret>: the only time it exists outside the caller
};

// Who is calling (AuthInfoResponse).
struct auth_info {
    bool authenticated = false;  // false: no (usable) Authorization header, an anonymous caller
    api_key_info key;            // the verified key (rights as granted)
    emu::rights key_rights;      // the key's rights, implied, restricted by the user's state
    emu::rights universal;       // admin rights
    bool is_admin = false;
    std::string user_state;      // the owning user's state, when the key belongs to a user

    std::optional<entity_ref> organization_or_user() const;
    // GET /api/v3/auth_info body.
    nlohmann::ordered_json to_json() const;
};

struct connection_stats {
    std::string gateway_id;
    std::string cluster;
    std::string protocol;  // "semtechws/lbslns" (v3.32.1; older releases said "ws")
    std::optional<time_point> connected_at;
    std::optional<time_point> disconnected_at;
    std::optional<time_point> last_status_received_at;
    std::optional<time_point> last_uplink_received_at;
    std::optional<time_point> last_downlink_received_at;
    std::optional<time_point> last_tx_acknowledgment_received_at;
    std::uint64_t uplink_count = 0;
    std::uint64_t downlink_count = 0;
    std::uint64_t tx_acknowledgment_count = 0;
    nlohmann::json last_status;  // GatewayStatus JSON as TTS renders it, or null
    std::vector<std::chrono::nanoseconds> round_trips;  // the last 20
    nlohmann::json sub_bands;                           // array, or null
    std::string remote_ip;
    time_point expires_at{};

    bool connected() const noexcept { return connected_at.has_value() && !disconnected_at.has_value(); }
    // GatewayConnectionStats JSON restricted to `paths` (all when empty), zero values omitted.
    nlohmann::ordered_json to_json(std::span<const std::string> paths = {}) const;
};

// The GatewayConnectionStats field mask paths (ttnpb.GatewayConnectionStatsFieldPathsNested).
std::span<const std::string_view> connection_stats_field_paths() noexcept;

// One device of the claiming upstream's inventory (a TTIG and its owner token, the Wi-Fi password).
struct claimable_gateway {
    enum class upstream_state { unclaimed, claimed_here, claimed_elsewhere };
    proto::eui64 eui;
    std::string owner_token;
    bool managed = false;  // GetInfoByGatewayEUI is_managed
    upstream_state state = upstream_state::unclaimed;
    // After a claim here: the CUPS key the claim created, which the factory CUPS hands to the TTIG
    // with the TTS CUPS URI (the emulated upstream keeps it as the real factory CUPS must).
    std::string cups_key;
};

struct state_options {
    std::string path = ":memory:";                                  // SQLite file, or ":memory:"
    std::chrono::nanoseconds rights_cache_ttl = std::chrono::minutes(2);  // GS/CUPS/LNS rights cache
    std::chrono::nanoseconds restore_window = std::chrono::hours(24);
    std::chrono::nanoseconds stats_ttl_connected = std::chrono::hours(12);
    std::chrono::nanoseconds stats_ttl_disconnected = std::chrono::hours(48);
    bool users_create_gateways = true;  // is.user-rights.create-gateways
    bool admin_rights_all = false;      // is.admin-rights.all
    int pbkdf2_iterations = 20000;
    // Remember successful API-key verifications (secret_memo) instead of re-deriving PBKDF2 on
    // every request as TTS's Identity Server does. The answers are identical (the key row, rights,
    // expiry and user state are still read on every request); only the cost differs. Off gives
    // TTS's per-request cost (~5.6 ms per request at 20,000 iterations).
    bool key_verify_memo = true;
};

class tts_state {
public:
    // Opens (creating or migrating) the state database. Errors: emu.state_failed.
    static proto::result<std::unique_ptr<tts_state>> open(const proto::clock& clock, state_options options = {});
    ~tts_state();
    tts_state(const tts_state&) = delete;
    tts_state& operator=(const tts_state&) = delete;

    const proto::clock& clock() const noexcept;
    // The events of this deployment (events.hpp): the REST API, CUPS and the LNS publish there,
    // POST /api/v3/events subscribes.
    event_bus& events() const noexcept;
    const state_options& options() const noexcept;
    void set_rights_cache_ttl(std::chrono::nanoseconds ttl);
    void clear_rights_cache();

    // Creates user `user_id` (admin, approved) if missing and a new API key with RIGHT_ALL for it.
    // The caller gets the token once (the emulator writes it into its --config-out file).
    proto::result<created_api_key> bootstrap_admin(const std::string& user_id = "admin",
                                                   const std::string& key_name = "admin");

    // ---- clusters ----
    proto::result<void> set_clusters(std::vector<cluster_info> clusters);
    std::vector<cluster_info> clusters() const;
    std::optional<cluster_info> cluster(std::string_view name) const;
    // The cluster serving `host_or_address` ("eu1.cloud.thethings.network", "host:port",
    // "wss://host:8887", a gateway_server_address); nullopt when none matches.
    std::optional<cluster_info> cluster_for_address(std::string_view host_or_address) const;
    // The cluster with the Identity Server (else the first; a built-in "local" when none).
    cluster_info home_cluster() const;

    // ---- users, organizations, memberships ----
    proto::result<void> put_user(user_info user);  // create or replace
    std::optional<user_info> user(std::string_view user_id) const;
    proto::result<void> put_organization(organization_info org);
    std::optional<organization_info> organization(std::string_view organization_id) const;
    // Sets (or with empty rights removes) the membership of a user/organization on an
    // organization or gateway.
    proto::result<void> set_membership(const entity_ref& member, const entity_ref& entity, rights r);
    // Direct memberships on an entity.
    std::vector<std::pair<entity_ref, rights>> members(const entity_ref& entity) const;
    // The rights of a user/organization on a gateway through its membership chains (implied).
    rights membership_rights(const entity_ref& member, std::string_view gateway_id) const;
    // Gateways (live, or only deleted) a user/organization is a member of (directly, or also
    // through its organizations).
    std::vector<std::string> member_gateways(const entity_ref& member, bool include_indirect, bool deleted) const;

    // ---- gateways ----
    // Creates a gateway from a normalized doc (see normalize_gateway) with `collaborator` as
    // member with RIGHT_ALL. Errors: pkg/util/store:id_taken, pkg/identityserver:gateway_eui_taken.
    tts_result<gateway> create_gateway(nlohmann::ordered_json doc, const entity_ref& collaborator);
    // A live gateway (or also a deleted one). Error: pkg/identityserver/store:gateway_not_found.
    tts_result<gateway> get_gateway(std::string_view gateway_id, bool include_deleted = false) const;
    // The live gateway holding an EUI (GetIdentifiersForEUI with cluster rights: no rights check).
    std::optional<gateway> find_gateway_by_eui(proto::eui64 eui) const;
    std::vector<gateway> gateways(bool deleted = false) const;
    // Applies normalized values at the (cleaned) paths; "ids.eui" changes the EUI. Error:
    // gateway_not_found, pkg/util/store:eui_taken.
    tts_result<gateway> update_gateway(std::string_view gateway_id, const nlohmann::ordered_json& values,
                                       std::span<const std::string> paths);
    // Replaces (merge=false) or merges into the attribute map, validated as TTS validates it
    // (<= 10 pairs, key pattern, value <= 200): what the CUPS server does with cups-last-seen.
    tts_result<gateway> set_attributes(std::string_view gateway_id, const std::map<std::string, std::string>& attrs,
                                       bool merge = true);
    // Soft delete (deleted_at = at, default now).
    tts_result<void> delete_gateway(std::string_view gateway_id, std::optional<time_point> at = std::nullopt);
    // Error: restore_window_expired, gateway_not_found.
    tts_result<void> restore_gateway(std::string_view gateway_id);
    // Removes the gateway, its API keys, memberships and stats.
    tts_result<void> purge_gateway(std::string_view gateway_id);

    // ---- API keys ----
    tts_result<created_api_key> create_api_key(const entity_ref& owner, std::string name, rights r,
                                               std::optional<time_point> expires_at = std::nullopt);
    // Stores a given token's ID and hash (scenario keys). Errors: pkg/auth:token, id_taken.
    tts_result<api_key_info> import_api_key(const entity_ref& owner, std::string_view token, std::string name, rights r,
                                            std::optional<time_point> expires_at = std::nullopt);
    std::vector<api_key_info> api_keys(const entity_ref& owner) const;
    // Error: pkg/identityserver/store:api_key_not_found.
    tts_result<api_key_info> api_key(const entity_ref& owner, std::string_view key_id) const;
    struct api_key_update {
        std::optional<std::string> name;
        std::optional<emu::rights> rights;
        std::optional<std::optional<time_point>> expires_at;
    };
    tts_result<api_key_info> update_api_key(const entity_ref& owner, std::string_view key_id, const api_key_update& u);
    tts_result<void> delete_api_key(const entity_ref& owner, std::string_view key_id);

    // ---- authentication and rights ----
    // The Identity Server's authInfo for an Authorization header value ("Bearer NNSXS...."),
    // uncached. No header, or one without a space: anonymous (authenticated = false). Errors:
    // pkg/identityserver:unsupported_authorization, pkg/auth:token, api_key_not_found,
    // invalid_authorization, api_key_expired.
    tts_result<auth_info> authenticate(std::optional<std::string_view> authorization) const;
    // IS RequireAuthenticated: unauthenticated / user_requested / user_rejected / user_suspended.
    tts_result<void> require_authenticated(const auth_info& auth) const;
    // IS GatewayRights (uncached). A missing gateway gives empty rights, or for an admin
    // gateway_not_found. include_deleted: see soft-deleted gateways too (restore).
    tts_result<rights> gateway_rights(const auth_info& auth, std::string_view gateway_id,
                                      bool include_deleted = false) const;
    // Rights on a user or organization (create/list checks).
    rights entity_rights(const auth_info& auth, const entity_ref& entity) const;
    // rights.RequireGateway: no_gateway_rights {uid} / insufficient_gateway_rights {uid, missing}.
    static tts_result<void> require_gateway_rights(rights have, std::string_view gateway_id, rights required);
    // The Gateway Server's / CUPS's rights look-up through the cache (both results cached).
    tts_result<rights> cached_gateway_rights(std::optional<std::string_view> authorization, std::string_view gateway_id);
    // For CUPS/LNS: verifies the Authorization header against the gateway and the required
    // rights. No header: pkg/rpcmetadata:unauthenticated; then the auth errors above, then
    // no_gateway_rights / insufficient_gateway_rights. Returns the caller's rights.
    tts_result<rights> authorize_gateway(std::optional<std::string_view> authorization, std::string_view gateway_id,
                                         rights required, bool cached = true);

    // ---- connection state (the Gateway Server; called by the LNS emulation) ----
    // A new connection replaces the record: connected_at = at, counters cleared.
    proto::result<void> gateway_connected(std::string_view gateway_id, std::string_view cluster, time_point at,
                                          std::string_view protocol = "semtechws/lbslns",
                                          std::string_view remote_ip = {});
    proto::result<void> gateway_disconnected(std::string_view gateway_id, time_point at);
    proto::result<void> record_uplink(std::string_view gateway_id, time_point at);
    proto::result<void> record_downlink(std::string_view gateway_id, time_point at);
    proto::result<void> record_tx_ack(std::string_view gateway_id, time_point at);
    proto::result<void> record_status(std::string_view gateway_id, time_point at, nlohmann::json status);
    proto::result<void> record_round_trip(std::string_view gateway_id, std::chrono::nanoseconds rtt);
    // The same, keyed by the EUI a station presents (resolved to the live gateway holding it).
    // Error: emu.state_failed "gateway EUI `...` is not registered".
    proto::result<void> gateway_connected(proto::eui64 eui, std::string_view cluster, time_point at,
                                          std::string_view protocol = "semtechws/lbslns",
                                          std::string_view remote_ip = {});
    proto::result<void> gateway_disconnected(proto::eui64 eui, time_point at);
    proto::result<void> record_uplink(proto::eui64 eui, time_point at);
    proto::result<void> record_downlink(proto::eui64 eui, time_point at);
    proto::result<void> record_tx_ack(proto::eui64 eui, time_point at);
    proto::result<void> record_status(proto::eui64 eui, time_point at, nlohmann::json status);
    // Stores a whole record (scenario); expires_at is computed when zero.
    proto::result<void> put_connection_stats(connection_stats stats);
    // The unexpired record, if any (on any cluster).
    std::optional<connection_stats> connection_stats_of(std::string_view gateway_id) const;

    // ---- claiming upstream inventory ----
    proto::result<void> put_claimable(claimable_gateway g);
    std::optional<claimable_gateway> claimable(proto::eui64 eui) const;
    std::vector<claimable_gateway> claimables() const;
    proto::result<void> set_claim_state(proto::eui64 eui, claimable_gateway::upstream_state s, std::string_view cups_key = {});

private:
    struct impl;
    explicit tts_state(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

}  // namespace ttig::emu
