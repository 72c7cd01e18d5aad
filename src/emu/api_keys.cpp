#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/error.hpp>
#include <ttig/pki/base64.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>

namespace ttig::emu {

namespace {

struct right_def {
    right value;
    std::string_view name;
};

constexpr std::array right_table{
    right_def{right::user_info, "RIGHT_USER_INFO"},
    right_def{right::user_settings_basic, "RIGHT_USER_SETTINGS_BASIC"},
    right_def{right::user_settings_api_keys, "RIGHT_USER_SETTINGS_API_KEYS"},
    right_def{right::user_delete, "RIGHT_USER_DELETE"},
    right_def{right::user_authorized_clients, "RIGHT_USER_AUTHORIZED_CLIENTS"},
    right_def{right::user_applications_list, "RIGHT_USER_APPLICATIONS_LIST"},
    right_def{right::user_applications_create, "RIGHT_USER_APPLICATIONS_CREATE"},
    right_def{right::user_gateways_list, "RIGHT_USER_GATEWAYS_LIST"},
    right_def{right::user_gateways_create, "RIGHT_USER_GATEWAYS_CREATE"},
    right_def{right::user_clients_list, "RIGHT_USER_CLIENTS_LIST"},
    right_def{right::user_clients_create, "RIGHT_USER_CLIENTS_CREATE"},
    right_def{right::user_organizations_list, "RIGHT_USER_ORGANIZATIONS_LIST"},
    right_def{right::user_organizations_create, "RIGHT_USER_ORGANIZATIONS_CREATE"},
    right_def{right::user_all, "RIGHT_USER_ALL"},
    right_def{right::application_info, "RIGHT_APPLICATION_INFO"},
    right_def{right::application_settings_basic, "RIGHT_APPLICATION_SETTINGS_BASIC"},
    right_def{right::application_settings_api_keys, "RIGHT_APPLICATION_SETTINGS_API_KEYS"},
    right_def{right::application_settings_collaborators, "RIGHT_APPLICATION_SETTINGS_COLLABORATORS"},
    right_def{right::application_delete, "RIGHT_APPLICATION_DELETE"},
    right_def{right::application_devices_read, "RIGHT_APPLICATION_DEVICES_READ"},
    right_def{right::application_devices_write, "RIGHT_APPLICATION_DEVICES_WRITE"},
    right_def{right::application_devices_read_keys, "RIGHT_APPLICATION_DEVICES_READ_KEYS"},
    right_def{right::application_devices_write_keys, "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"},
    right_def{right::application_traffic_read, "RIGHT_APPLICATION_TRAFFIC_READ"},
    right_def{right::application_traffic_up_write, "RIGHT_APPLICATION_TRAFFIC_UP_WRITE"},
    right_def{right::application_traffic_down_write, "RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"},
    right_def{right::application_link, "RIGHT_APPLICATION_LINK"},
    right_def{right::application_all, "RIGHT_APPLICATION_ALL"},
    right_def{right::client_all, "RIGHT_CLIENT_ALL"},
    right_def{right::gateway_info, "RIGHT_GATEWAY_INFO"},
    right_def{right::gateway_settings_basic, "RIGHT_GATEWAY_SETTINGS_BASIC"},
    right_def{right::gateway_settings_api_keys, "RIGHT_GATEWAY_SETTINGS_API_KEYS"},
    right_def{right::gateway_settings_collaborators, "RIGHT_GATEWAY_SETTINGS_COLLABORATORS"},
    right_def{right::gateway_delete, "RIGHT_GATEWAY_DELETE"},
    right_def{right::gateway_traffic_read, "RIGHT_GATEWAY_TRAFFIC_READ"},
    right_def{right::gateway_traffic_down_write, "RIGHT_GATEWAY_TRAFFIC_DOWN_WRITE"},
    right_def{right::gateway_link, "RIGHT_GATEWAY_LINK"},
    right_def{right::gateway_status_read, "RIGHT_GATEWAY_STATUS_READ"},
    right_def{right::gateway_location_read, "RIGHT_GATEWAY_LOCATION_READ"},
    right_def{right::gateway_all, "RIGHT_GATEWAY_ALL"},
    right_def{right::organization_info, "RIGHT_ORGANIZATION_INFO"},
    right_def{right::organization_settings_basic, "RIGHT_ORGANIZATION_SETTINGS_BASIC"},
    right_def{right::organization_settings_api_keys, "RIGHT_ORGANIZATION_SETTINGS_API_KEYS"},
    right_def{right::organization_settings_members, "RIGHT_ORGANIZATION_SETTINGS_MEMBERS"},
    right_def{right::organization_delete, "RIGHT_ORGANIZATION_DELETE"},
    right_def{right::organization_applications_list, "RIGHT_ORGANIZATION_APPLICATIONS_LIST"},
    right_def{right::organization_applications_create, "RIGHT_ORGANIZATION_APPLICATIONS_CREATE"},
    right_def{right::organization_gateways_list, "RIGHT_ORGANIZATION_GATEWAYS_LIST"},
    right_def{right::organization_gateways_create, "RIGHT_ORGANIZATION_GATEWAYS_CREATE"},
    right_def{right::organization_clients_list, "RIGHT_ORGANIZATION_CLIENTS_LIST"},
    right_def{right::organization_clients_create, "RIGHT_ORGANIZATION_CLIENTS_CREATE"},
    right_def{right::organization_add_as_collaborator, "RIGHT_ORGANIZATION_ADD_AS_COLLABORATOR"},
    right_def{right::organization_all, "RIGHT_ORGANIZATION_ALL"},
    right_def{right::send_invites, "RIGHT_SEND_INVITES"},
    right_def{right::all, "RIGHT_ALL"},
    right_def{right::application_settings_packages, "RIGHT_APPLICATION_SETTINGS_PACKAGES"},
    right_def{right::gateway_write_secrets, "RIGHT_GATEWAY_WRITE_SECRETS"},
    right_def{right::gateway_read_secrets, "RIGHT_GATEWAY_READ_SECRETS"},
    right_def{right::user_notifications_read, "RIGHT_USER_NOTIFICATIONS_READ"},
    right_def{right::client_info, "RIGHT_CLIENT_INFO"},
    right_def{right::client_settings_basic, "RIGHT_CLIENT_SETTINGS_BASIC"},
    right_def{right::client_settings_collaborators, "RIGHT_CLIENT_SETTINGS_COLLABORATORS"},
    right_def{right::client_delete, "RIGHT_CLIENT_DELETE"},
};

rights with_prefix(std::string_view prefix) {
    rights r;
    for (const auto& d : right_table)
        if (d.name.substr(0, prefix.size()) == prefix) r.add(d.value);
    return r;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr std::string_view b32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view salt_alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

std::string base64url_raw(proto::byte_view data) { return pki::base64url_encode_raw(proto::as_chars(data)); }

std::optional<proto::bytes> pbkdf2(std::string_view secret, std::string_view salt, int iterations, std::size_t length) {
    proto::bytes key(length);
    if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                          EVP_sha256(), static_cast<int>(length), key.data()) != 1)
        return std::nullopt;
    return key;
}

}  // namespace

std::string_view right_name(right r) noexcept {
    for (const auto& d : right_table)
        if (d.value == r) return d.name;
    return "RIGHT_INVALID";
}

std::optional<right> parse_right(std::string_view s) noexcept {
    for (const auto& d : right_table)
        if (d.name == s) return d.value;
    int n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && p == s.data() + s.size()) {
        for (const auto& d : right_table)
            if (static_cast<int>(d.value) == n) return d.value;
    }
    return std::nullopt;
}

std::size_t rights::size() const noexcept { return static_cast<std::size_t>(std::popcount(bits_)); }

std::vector<right> rights::list() const {
    std::vector<right> out;
    for (unsigned i = 1; i < 64; ++i)
        if (bits_ & (std::uint64_t{1} << i)) out.push_back(static_cast<right>(i));
    return out;
}

std::vector<std::string> rights::names() const {
    std::vector<std::string> out;
    for (right r : list()) out.emplace_back(right_name(r));
    std::sort(out.begin(), out.end());
    return out;
}

rights rights::all_user() noexcept { return with_prefix("RIGHT_USER_"); }
rights rights::all_application() noexcept { return with_prefix("RIGHT_APPLICATION_"); }
rights rights::all_client() noexcept { return with_prefix("RIGHT_CLIENT_"); }
rights rights::all_gateway() noexcept { return with_prefix("RIGHT_GATEWAY_"); }
rights rights::all_organization() noexcept { return with_prefix("RIGHT_ORGANIZATION_"); }
rights rights::all_entity() noexcept { return all_application() | all_client() | all_gateway(); }

rights rights::all() noexcept {
    rights r;
    for (const auto& d : right_table) r.add(d.value);
    return r;
}

rights rights::all_admin() noexcept {
    rights r;
    for (const auto& d : right_table)
        if (!ends_with(d.name, "_KEYS") && !ends_with(d.name, "_ALL")) r.add(d.value);
    return r;
}

rights rights::implied() const noexcept {
    rights out = *this;
    for (right r : list()) {
        switch (r) {
        case right::user_all: out = out | all_user(); break;
        case right::application_all: out = out | all_application(); break;
        case right::application_link:
            out = out | rights{right::application_info, right::application_traffic_read,
                               right::application_traffic_down_write};
            break;
        case right::gateway_all: out = out | all_gateway(); break;
        case right::gateway_link: out.add(right::gateway_info); break;
        case right::organization_all: out = out | all_organization(); break;
        case right::all: out = out | all(); break;
        case right::client_all:
            out = out | rights{right::client_info, right::client_settings_basic, right::client_settings_collaborators,
                               right::client_delete};
            break;
        default: break;
        }
    }
    return out;
}

// ---- tokens -------------------------------------------------------------------------------------

std::optional<token_parts> split_token(std::string_view token) {
    token_parts p;
    const auto a = token.find('.');
    if (a == std::string_view::npos) return std::nullopt;
    const auto b = token.find('.', a + 1);
    if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) return std::nullopt;
    p.type = std::string(token.substr(0, a));
    p.id = std::string(token.substr(a + 1, b - a - 1));
    p.secret = std::string(token.substr(b + 1));
    static constexpr std::array<std::string_view, 5> types{"NNSXS", "MFRWG", "OJSWM", "MF2XI", "ONZW4"};
    if (std::find(types.begin(), types.end(), p.type) == types.end()) return std::nullopt;
    return p;
}

std::string base32_encode(proto::byte_view data) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::uint8_t b : data) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out += b32_alphabet[(acc >> bits) & 0x1f];
        }
    }
    if (bits > 0) out += b32_alphabet[(acc << (5 - bits)) & 0x1f];
    return out;
}

proto::result<generated_token> generate_api_key() {
    std::array<std::uint8_t, 24> id{};
    std::array<std::uint8_t, 32> secret{};
    if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1 ||
        RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
        return proto::make_error(emu_errc::crypto_failed, "RAND_bytes failed");
    generated_token t;
    t.id = base32_encode(id);
    t.secret = base32_encode(secret);
    t.token = fmt::format("{}.{}.{}", api_key_type, t.id, t.secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    return t;
}

proto::result<std::string> hash_secret(std::string_view secret, int iterations) {
    if (iterations < 1) return proto::make_error(emu_errc::crypto_failed, "PBKDF2 iterations must be positive");
    std::array<std::uint8_t, 16> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
        return proto::make_error(emu_errc::crypto_failed, "RAND_bytes failed");
    std::string salt;
    for (std::uint8_t b : raw) salt += salt_alphabet[b % salt_alphabet.size()];
    auto key = pbkdf2(secret, salt, iterations, 32);
    if (!key) return proto::make_error(emu_errc::crypto_failed, "PKCS5_PBKDF2_HMAC failed");
    return fmt::format("PBKDF2$sha256${}${}${}", iterations, salt, base64url_raw(*key));
}

bool verify_secret(std::string_view hash, std::string_view secret) {
    // PBKDF2$<algorithm>$<iterations>$<salt>$<key in base64url>
    std::array<std::string_view, 5> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto end = i + 1 < parts.size() ? hash.find('$', start) : hash.size();
        if (end == std::string_view::npos) return false;
        parts[i] = hash.substr(start, end - start);
        start = end + 1;
    }
    if (parts[4].find('$') != std::string_view::npos) return false;
    if (parts[0] != "PBKDF2" || parts[1] != "sha256") return false;
    int iterations = 0;
    const auto [p, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), iterations);
    if (ec != std::errc() || p != parts[2].data() + parts[2].size() || iterations < 1) return false;
    const std::size_t key_len = parts[4].size() * 6 / 8;
    if (key_len == 0 || key_len > 64) return false;
    auto key = pbkdf2(secret, parts[3], iterations, key_len);
    if (!key) return false;
    const std::string computed = base64url_raw(*key);
    return computed.size() == parts[4].size() && CRYPTO_memcmp(computed.data(), parts[4].data(), computed.size()) == 0;
}

bool secret_memo::verify(std::string_view hash, std::string_view secret) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (EVP_Digest(secret.data(), secret.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) != 1) {
        ++derivations_;
        return verify_secret(hash, secret);
    }
    std::string key;
    key.reserve(hash.size() + 1 + digest_len);
    key.append(hash);
    key += '\0';
    key.append(reinterpret_cast<const char*>(digest.data()), digest_len);
    if (ok_.contains(key)) return true;
    ++derivations_;
    if (!verify_secret(hash, secret)) return false;
    if (ok_.size() >= capacity_) ok_.clear();
    ok_.insert(std::move(key));
    return true;
}

}  // namespace ttig::emu
