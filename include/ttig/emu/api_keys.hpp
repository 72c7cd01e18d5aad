// API keys and rights as The Things Stack defines them (lorawan-stack v3.32.1: pkg/auth/auth.go,
// pkg/auth/pbkdf2, pkg/ttnpb/rights.go, api/ttn/lorawan/v3/rights.proto; tts-api.md §2).
//
//  - Token: "<type>.<id>.<secret>", unpadded base32. An API key is NNSXS (base32 "key") + 24
//    random bytes of ID (39 chars) + 32 random bytes of secret (52 chars) = 98 chars.
//  - At rest only a salted hash of the secret is kept, in TTS's format
//    "PBKDF2$sha256$<iterations>$<16-char salt>$<base64url key>".
//  - Rights are enum values 1..63 held as a 64-bit set; implied() expands the pseudo-rights
//    (RIGHT_ALL, RIGHT_GATEWAY_ALL, ...) and RIGHT_GATEWAY_LINK => RIGHT_GATEWAY_INFO one level deep,
//    exactly as ttnpb.Rights.Implied does.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ttig::emu {

// ttn.lorawan.v3.Right values (rights.proto).
enum class right : std::uint8_t {
    user_info = 1,
    user_settings_basic = 2,
    user_settings_api_keys = 3,
    user_delete = 4,
    user_authorized_clients = 5,
    user_applications_list = 6,
    user_applications_create = 7,
    user_gateways_list = 8,
    user_gateways_create = 9,
    user_clients_list = 10,
    user_clients_create = 11,
    user_organizations_list = 12,
    user_organizations_create = 13,
    user_all = 14,
    application_info = 15,
    application_settings_basic = 16,
    application_settings_api_keys = 17,
    application_settings_collaborators = 18,
    application_delete = 19,
    application_devices_read = 20,
    application_devices_write = 21,
    application_devices_read_keys = 22,
    application_devices_write_keys = 23,
    application_traffic_read = 24,
    application_traffic_up_write = 25,
    application_traffic_down_write = 26,
    application_link = 27,
    application_all = 28,
    client_all = 29,
    gateway_info = 30,
    gateway_settings_basic = 31,
    gateway_settings_api_keys = 32,
    gateway_settings_collaborators = 33,
    gateway_delete = 34,
    gateway_traffic_read = 35,
    gateway_traffic_down_write = 36,
    gateway_link = 37,
    gateway_status_read = 38,
    gateway_location_read = 39,
    gateway_all = 40,
    organization_info = 41,
    organization_settings_basic = 42,
    organization_settings_api_keys = 43,
    organization_settings_members = 44,
    organization_delete = 45,
    organization_applications_list = 46,
    organization_applications_create = 47,
    organization_gateways_list = 48,
    organization_gateways_create = 49,
    organization_clients_list = 50,
    organization_clients_create = 51,
    organization_add_as_collaborator = 52,
    organization_all = 53,
    send_invites = 54,
    all = 55,
    application_settings_packages = 56,
    gateway_write_secrets = 57,
    gateway_read_secrets = 58,
    user_notifications_read = 59,
    client_info = 60,
    client_settings_basic = 61,
    client_settings_collaborators = 62,
    client_delete = 63,
};

// "RIGHT_GATEWAY_INFO" for right::gateway_info.
std::string_view right_name(right r) noexcept;
// A right by name ("RIGHT_GATEWAY_INFO") or number ("30"), as protojson accepts enums.
std::optional<right> parse_right(std::string_view name_or_number) noexcept;

// A set of rights.
class rights {
public:
    constexpr rights() = default;
    rights(std::initializer_list<right> list) noexcept {
        for (right r : list) add(r);
    }
    static rights from_bits(std::uint64_t bits) noexcept {
        rights r;
        r.bits_ = bits;
        return r;
    }
    std::uint64_t bits() const noexcept { return bits_; }

    void add(right r) noexcept { bits_ |= bit(r); }
    bool contains(right r) const noexcept { return (bits_ & bit(r)) != 0; }
    bool empty() const noexcept { return bits_ == 0; }
    bool includes_all(rights required) const noexcept { return (required.bits_ & ~bits_) == 0; }
    std::size_t size() const noexcept;

    rights operator|(rights o) const noexcept { return from_bits(bits_ | o.bits_); }
    rights operator&(rights o) const noexcept { return from_bits(bits_ & o.bits_); }
    rights operator-(rights o) const noexcept { return from_bits(bits_ & ~o.bits_); }
    friend bool operator==(rights, rights) = default;

    // ttnpb.Rights.Implied: each right plus what it implies (one level).
    rights implied() const noexcept;
    // Every right, in enum order.
    std::vector<right> list() const;
    // Names sorted as strings (ttnpb.Rights.Sorted), the order the emulator prints.
    std::vector<std::string> names() const;

    // The sets of ttnpb/rights.go: every RIGHT_USER_*, RIGHT_GATEWAY_*, RIGHT_ORGANIZATION_*, ...
    static rights all_user() noexcept;
    static rights all_application() noexcept;
    static rights all_client() noexcept;
    static rights all_gateway() noexcept;
    static rights all_organization() noexcept;
    static rights all_entity() noexcept;  // application + client + gateway
    static rights all() noexcept;
    static rights all_admin() noexcept;  // all but *_KEYS and *_ALL (AdminRights.All = false)

private:
    static std::uint64_t bit(right r) noexcept { return std::uint64_t{1} << static_cast<unsigned>(r); }
    std::uint64_t bits_ = 0;
};

// ---- tokens -------------------------------------------------------------------------------------

inline constexpr std::string_view api_key_type = "NNSXS";  // base32("key")

struct token_parts {
    std::string type;    // "NNSXS"
    std::string id;      // public key ID (APIKey.id)
    std::string secret;  // never stored
};

// auth.SplitToken: exactly three '.'-separated parts and a known type (NNSXS, MFRWG, OJSWM,
// MF2XI, ONZW4); nullopt otherwise (TTS: 400 pkg/auth:token).
std::optional<token_parts> split_token(std::string_view token);

// Unpadded RFC 4648 base32 (upper case).
std::string base32_encode(proto::byte_view data);

struct generated_token {
    std::string id;
    std::string secret;
    std::string token;  // NNSXS.<id>.<secret>
};
// A fresh API key from OpenSSL's RNG. Error: emu.crypto_failed.
proto::result<generated_token> generate_api_key();

// PBKDF2-SHA256 hash of a secret in TTS's format, with a fresh 16-char alphanumeric salt.
// Error: emu.crypto_failed.
proto::result<std::string> hash_secret(std::string_view secret, int iterations = 20000);
// Constant-time check of a secret against a stored hash; false for a malformed hash.
bool verify_secret(std::string_view hash, std::string_view secret);

// verify_secret with a memo of successful verifications, keyed by the stored hash (which carries
// the key's random salt and iteration count) and a SHA-256 of the presented secret. Only successes
// are remembered, so a wrong secret always pays the full derivation; a rotated or deleted key has a
// new hash or none, so nothing stale can match. Bounded: cleared when `capacity` is reached. Not
// thread-safe (the state calls it under its lock).
class secret_memo {
public:
    explicit secret_memo(std::size_t capacity = 4096) : capacity_(capacity) {}
    bool verify(std::string_view hash, std::string_view secret);
    void clear() noexcept { ok_.clear(); }
    std::size_t size() const noexcept { return ok_.size(); }
    std::uint64_t derivations() const noexcept { return derivations_; }  // full verify_secret runs

private:
    std::size_t capacity_;
    std::unordered_set<std::string> ok_;
    std::uint64_t derivations_ = 0;
};

}  // namespace ttig::emu
