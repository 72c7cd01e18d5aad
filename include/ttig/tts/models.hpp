// The Things Stack's JSON objects that ttigctl uses, as C++ values (tts-api.md §0, §2.7, §3, §4).
//
// Wire conventions: proto snake_case names; zero values are omitted by the server, so every field
// here defaults to its zero value when absent; 64-bit integers are JSON strings; `bytes` are
// standard base64 (Secret.value, authentication_code); EUIs are 16 upper-case hex digits;
// timestamps are UTC RFC 3339 with 'Z' and 0/3/6/9 fraction digits.
//
// from_json throws nlohmann::json exceptions on a wrong JSON type (the client's decoders catch them
// and return tts.bad_response); every model keeps the object it was read from in `raw`.
#pragma once

#include <ttig/proto/clock.hpp>
#include <ttig/proto/eui.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::tts {

using time_point = proto::time_point;

// ---- wire helpers ------------------------------------------------------------------------------

// "2024-09-10T08:12:05Z", "2024-09-10T08:12:05.100Z", "...05.123456Z" (trailing zero groups trimmed).
std::string format_time(time_point t);
// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (1-9 fraction digits; 'z' accepted; offsets rejected).
std::optional<time_point> parse_time(std::string_view text);
// Standard base64 with padding / decoder that also accepts missing padding and URL-safe letters.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
// An EUI as TTS accepts it on input: 16 hex digits (any case) or base64 of 8 bytes.
std::optional<proto::eui64> parse_eui_json(const nlohmann::json& value);
// Percent-encodes a path segment or query value (everything but A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view s);

// ---- rights (api/ttn/lorawan/v3/rights.proto; tts-api.md §2.4) -----------------------------------

namespace rights {
inline constexpr std::string_view user_gateways_list = "RIGHT_USER_GATEWAYS_LIST";
inline constexpr std::string_view user_gateways_create = "RIGHT_USER_GATEWAYS_CREATE";
inline constexpr std::string_view organization_gateways_list = "RIGHT_ORGANIZATION_GATEWAYS_LIST";
inline constexpr std::string_view organization_gateways_create = "RIGHT_ORGANIZATION_GATEWAYS_CREATE";
inline constexpr std::string_view gateway_info = "RIGHT_GATEWAY_INFO";
inline constexpr std::string_view gateway_settings_basic = "RIGHT_GATEWAY_SETTINGS_BASIC";
inline constexpr std::string_view gateway_settings_api_keys = "RIGHT_GATEWAY_SETTINGS_API_KEYS";
inline constexpr std::string_view gateway_settings_collaborators = "RIGHT_GATEWAY_SETTINGS_COLLABORATORS";
inline constexpr std::string_view gateway_delete = "RIGHT_GATEWAY_DELETE";
inline constexpr std::string_view gateway_traffic_read = "RIGHT_GATEWAY_TRAFFIC_READ";
inline constexpr std::string_view gateway_traffic_down_write = "RIGHT_GATEWAY_TRAFFIC_DOWN_WRITE";
inline constexpr std::string_view gateway_link = "RIGHT_GATEWAY_LINK";
inline constexpr std::string_view gateway_status_read = "RIGHT_GATEWAY_STATUS_READ";
inline constexpr std::string_view gateway_location_read = "RIGHT_GATEWAY_LOCATION_READ";
inline constexpr std::string_view gateway_write_secrets = "RIGHT_GATEWAY_WRITE_SECRETS";
inline constexpr std::string_view gateway_read_secrets = "RIGHT_GATEWAY_READ_SECRETS";
inline constexpr std::string_view gateway_all = "RIGHT_GATEWAY_ALL";
inline constexpr std::string_view all = "RIGHT_ALL";

// The rights the Console gives the Basics Station keys (tts-api.md §2.6).
std::vector<std::string> cups_key();  // INFO, SETTINGS_BASIC, READ_SECRETS
std::vector<std::string> lns_key();   // INFO, LINK
}  // namespace rights

// ---- identifiers -------------------------------------------------------------------------------

// OrganizationOrUserIdentifiers: {"user_ids":{"user_id":…}} or {"organization_ids":{"organization_id":…}}.
struct account_ids {
    enum class kind { user, organization };
    kind type = kind::user;
    std::string id;

    static account_ids user(std::string id) { return {kind::user, std::move(id)}; }
    static account_ids organization(std::string id) { return {kind::organization, std::move(id)}; }
    friend bool operator==(const account_ids&, const account_ids&) = default;
};
void to_json(nlohmann::json& j, const account_ids& a);
void from_json(const nlohmann::json& j, account_ids& a);

// EntityIdentifiers (one of user, organization, gateway, application, client).
struct entity_ids {
    enum class kind { user, organization, gateway, application, client, unknown };
    kind type = kind::unknown;
    std::string id;
    friend bool operator==(const entity_ids&, const entity_ids&) = default;
};
void to_json(nlohmann::json& j, const entity_ids& e);
void from_json(const nlohmann::json& j, entity_ids& e);

struct gateway_ids {
    std::string gateway_id;
    std::optional<proto::eui64> eui;
    friend bool operator==(const gateway_ids&, const gateway_ids&) = default;
};
void to_json(nlohmann::json& j, const gateway_ids& ids);
void from_json(const nlohmann::json& j, gateway_ids& ids);

// ---- Gateway (tts-api.md §3) ---------------------------------------------------------------------

// Secret: `value` holds the decoded bytes (for lbs_lns_secret / target_cups_key: the API key text,
// no "Bearer "). A secret: never log it.
struct secret {
    std::string key_id;
    std::string value;
    friend bool operator==(const secret&, const secret&) = default;
};
void to_json(nlohmann::json& j, const secret& s);
void from_json(const nlohmann::json& j, secret& s);

struct gateway {
    gateway_ids ids;
    std::optional<time_point> created_at, updated_at, deleted_at;  // read-only
    std::string name;
    std::string description;
    std::map<std::string, std::string> attributes;
    std::optional<account_ids> administrative_contact, technical_contact;
    std::string gateway_server_address;
    std::vector<std::string> frequency_plan_ids;
    bool require_authenticated_connection = false;
    bool status_public = false;
    bool location_public = false;
    bool enforce_duty_cycle = false;
    bool schedule_downlink_late = false;
    bool update_location_from_status = false;
    bool auto_update = false;
    bool disable_packet_broker_forwarding = false;
    std::string schedule_anytime_delay;  // duration text, "0.530s"
    std::optional<secret> lbs_lns_secret;
    std::string target_cups_uri;
    std::optional<secret> target_cups_key;
    // The object as read. to_json writes the modelled fields over it, so fields not modelled here
    // (antennas, version_ids, ...) survive a read-modify-write. Read-only fields are not written back.
    nlohmann::json raw = nlohmann::json::object();
};
// Every non-zero modelled field (plus unmodelled fields of raw): a Create body's "gateway".
void to_json(nlohmann::json& j, const gateway& g);
void from_json(const nlohmann::json& j, gateway& g);
// The value of a top-level field for an Update body, zero values included (null for an unset
// secret, which clears it). Unmodelled fields come from raw (null when absent).
nlohmann::json gateway_field(const gateway& g, std::string_view top_level_path);

// An Update: the paths of a field mask and the gateway values they take.
class gateway_update {
public:
    gateway_update& name(std::string v);
    gateway_update& description(std::string v);
    gateway_update& gateway_server_address(std::string v);
    gateway_update& frequency_plan_ids(std::vector<std::string> v);
    gateway_update& attributes(std::map<std::string, std::string> v);  // replaces the whole map
    gateway_update& require_authenticated_connection(bool v);
    gateway_update& status_public(bool v);
    gateway_update& location_public(bool v);
    gateway_update& lbs_lns_secret(std::optional<std::string> key);  // nullopt clears it
    gateway_update& target_cups_uri(std::string v);
    gateway_update& target_cups_key(std::optional<std::string> key);  // nullopt clears it
    // Any other path (value as TTS's JSON; null clears).
    gateway_update& set(std::string path, nlohmann::json value);
    // Every field of `g` named by `paths` (top-level or nested paths).
    static gateway_update from(const gateway& g, std::vector<std::string> paths);

    const std::vector<std::string>& paths() const noexcept { return paths_; }
    const nlohmann::json& values() const noexcept { return values_; }  // the body's "gateway"
    bool empty() const noexcept { return paths_.empty(); }

private:
    void add_path(std::string p);
    std::vector<std::string> paths_;
    nlohmann::json values_ = nlohmann::json::object();
};

// ---- API keys (tts-api.md §4.8) ------------------------------------------------------------------

struct api_key {
    std::string id;
    std::string key;  // the whole token: only in a Create answer. A secret: never log it.
    std::string name;
    std::vector<std::string> rights;
    std::optional<time_point> created_at, updated_at, expires_at;
    nlohmann::json raw = nlohmann::json::object();  // as read, without "key"
};
// to_json writes the wire form without "key": printing or logging a model never shows the token.
void to_json(nlohmann::json& j, const api_key& k);
void from_json(const nlohmann::json& j, api_key& k);

struct api_key_update {
    std::optional<std::string> name;
    std::optional<std::vector<std::string>> rights;  // an empty list deletes the key
    std::optional<std::optional<time_point>> expires_at;  // {nullopt}: never expires
};

// ---- auth_info (tts-api.md §2.7) -----------------------------------------------------------------

struct auth_info {
    // "api_key", "oauth_access_token", "user_session", "gateway_token", or "" (anonymous).
    std::string access_method;
    std::optional<api_key> key;        // api_key.api_key (its rights are the key's rights)
    std::optional<entity_ids> entity;  // api_key.entity_ids: the key's owner
    std::vector<std::string> universal_rights;
    bool is_admin = false;
    nlohmann::json raw = nlohmann::json::object();

    // The owner as a user or organization (where gateways are created), if it is one.
    std::optional<account_ids> account() const;
};
void to_json(nlohmann::json& j, const auth_info& a);  // raw (without any key)
void from_json(const nlohmann::json& j, auth_info& a);

// ---- Gateway Server connection statistics (tts-api.md §4.10) -------------------------------------

struct connection_stats {
    std::optional<time_point> connected_at, disconnected_at;
    std::string protocol;  // "semtechws/lbslns", "udp", ...
    std::optional<time_point> last_status_received_at, last_uplink_received_at, last_downlink_received_at,
        last_tx_acknowledgment_received_at;
    std::uint64_t uplink_count = 0, downlink_count = 0, tx_acknowledgment_count = 0;
    nlohmann::json last_status;       // GatewayStatus, or null
    nlohmann::json round_trip_times;  // {min,max,median,count}, or null
    nlohmann::json sub_bands;         // array, or null
    std::string remote_ip;            // gateway_remote_address.ip
    nlohmann::json raw = nlohmann::json::object();

    // connected ⇔ connected_at present and disconnected_at absent.
    bool connected() const noexcept { return connected_at.has_value() && !disconnected_at.has_value(); }
};
void to_json(nlohmann::json& j, const connection_stats& s);
void from_json(const nlohmann::json& j, connection_stats& s);

// ---- claiming (tts-api.md §4.9) ------------------------------------------------------------------

struct claim_info {
    proto::eui64 eui;
    bool supports_claiming = false;
    bool is_managed = false;
    nlohmann::json raw = nlohmann::json::object();
};
void to_json(nlohmann::json& j, const claim_info& c);
void from_json(const nlohmann::json& j, claim_info& c);

struct claim_request {
    proto::eui64 gateway_eui;
    std::string authentication_code;  // the owner token as bytes (a TTIG: its Wi-Fi password); sent base64
    account_ids collaborator;
    std::string target_gateway_id;
    std::string target_gateway_server_address;  // host[:port], no scheme
    std::vector<std::string> target_frequency_plan_ids;
};
void to_json(nlohmann::json& j, const claim_request& c);

struct claim_result {
    std::string gateway_id;
    proto::eui64 eui;
};
void to_json(nlohmann::json& j, const claim_result& c);
void from_json(const nlohmann::json& j, claim_result& c);

// ---- frequency plans (tts-api.md §4.12) ----------------------------------------------------------

struct frequency_plan {
    std::string id, base_id, name, band_id;
    std::uint32_t base_frequency = 0;  // MHz
    nlohmann::json raw = nlohmann::json::object();
};
void to_json(nlohmann::json& j, const frequency_plan& p);
void from_json(const nlohmann::json& j, frequency_plan& p);

// ---- lists ---------------------------------------------------------------------------------------

// One page of a list (tts-api.md §7).
template <class T>
struct page {
    std::vector<T> items;
    std::optional<std::uint64_t> total;  // X-Total-Count
    std::uint32_t number = 1;            // the page asked for (1-based)
    std::uint32_t limit = 0;             // the limit asked for (0: none)

    // Whether a later page holds more items (per X-Total-Count; without it: a full page).
    bool has_more() const noexcept {
        if (limit == 0) return false;
        if (total) return static_cast<std::uint64_t>(number) * limit < *total;
        return items.size() == limit;
    }
};

}  // namespace ttig::tts
