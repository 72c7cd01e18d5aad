#include <ttig/emu/error.hpp>

#include <fmt/format.h>

#include <array>

namespace ttig::emu {

namespace {

constexpr int v(emu_errc e) { return static_cast<int>(e); }

constexpr std::array emu_table{
    proto::errc_entry{v(emu_errc::bad_scenario), "bad_scenario", "invalid scenario"},
    proto::errc_entry{v(emu_errc::state_failed), "state_failed", "emulator state database failed"},
    proto::errc_entry{v(emu_errc::tts_error), "tts_error", "The Things Stack error"},
    proto::errc_entry{v(emu_errc::crypto_failed), "crypto_failed", "cryptographic operation failed"},
};

constinit const proto::table_category emu_cat{"emu", emu_table};

constexpr std::array<const proto::table_category*, 1> emu_cats{&emu_cat};

using g = tts_error::definition;
namespace c = grpc_code;

// lorawan-stack v3.32.1: errors.Define*(name, message_format) per package (tts-api.md §5.3).
constexpr std::array defs{
    // pkg/identityserver (entity_access.go, gateway_registry.go, rights.go, registry_search.go, ...)
    g{"pkg/identityserver", "unauthenticated", c::unauthenticated, "unauthenticated"},
    g{"pkg/identityserver", "unsupported_authorization", c::unauthenticated, "unsupported authorization method"},
    g{"pkg/identityserver", "api_key_not_found", c::unauthenticated, "API key not found"},
    g{"pkg/identityserver", "invalid_authorization", c::unauthenticated, "invalid authorization"},
    g{"pkg/identityserver", "api_key_expired", c::unauthenticated, "api key expired"},
    g{"pkg/identityserver", "token_not_found", c::unauthenticated, "token not found"},
    g{"pkg/identityserver", "user_rejected", c::permission_denied, "user account was rejected"},
    g{"pkg/identityserver", "user_requested", c::permission_denied, "user account approval is pending"},
    g{"pkg/identityserver", "user_suspended", c::permission_denied, "user account was suspended"},
    g{"pkg/identityserver", "permission_denied", c::permission_denied, "unauthorized request to restricted resource"},
    g{"pkg/identityserver", "insufficient_rights", c::permission_denied, "insufficient rights"},
    g{"pkg/identityserver", "neither_user_nor_organization", c::permission_denied,
      "caller is neither a user nor an organization"},
    g{"pkg/identityserver", "some_gateways_not_found", c::not_found, "some gateways not found"},
    g{"pkg/identityserver", "search_forbidden", c::permission_denied, "search is forbidden"},
    g{"pkg/identityserver", "admins_create_gateways", c::permission_denied,
      "gateways may only be created by admins, or in organizations"},
    g{"pkg/identityserver", "admins_purge_gateways", c::permission_denied, "gateways may only be purged by admins"},
    g{"pkg/identityserver", "gateway_eui_taken", c::already_exists,
      "a gateway with EUI `{gateway_eui}` is already registered (by you or someone else) as `{gateway_id}`"},
    g{"pkg/identityserver", "claim_authentication_code", c::invalid_argument, "invalid claim authentication code"},
    g{"pkg/identityserver", "restore_window_expired", c::failed_precondition, "this entity can no longer be restored"},
    g{"pkg/identityserver", "gateway_needs_collaborator", c::failed_precondition,
      "every gateway needs at least one collaborator with all rights"},
    g{"pkg/identityserver", "contact_no_collaborator", c::invalid_argument, "contact `{contact}` is not a collaborator"},
    // pkg/identityserver/store
    g{"pkg/identityserver/store", "gateway_not_found", c::not_found, "gateway with id `{gateway_id}` not found"},
    g{"pkg/identityserver/store", "gateway_not_found_by_eui", c::not_found, "gateway with eui `{gateway_eui}` not found"},
    g{"pkg/identityserver/store", "user_not_found", c::not_found, "user with id `{user_id}` not found"},
    g{"pkg/identityserver/store", "organization_not_found", c::not_found,
      "organization with id `{organization_id}` not found"},
    g{"pkg/identityserver/store", "api_key_not_found", c::not_found, "api key with id `{api_key_id}` not found"},
    g{"pkg/identityserver/blocklist", "forbidden_id", c::invalid_argument, "the ID `{id}` can not be registered"},
    // pkg/util/store
    g{"pkg/util/store", "id_taken", c::already_exists, "ID already taken, choose a different one and try again"},
    g{"pkg/util/store", "eui_taken", c::already_exists, "EUI already taken"},
    g{"pkg/util/store", "already_exists", c::already_exists, "already exists"},
    g{"pkg/util/store", "not_found", c::not_found, "no results found"},
    g{"pkg/util/store", "database_unavailable", c::unavailable, "database unavailable"},
    // pkg/auth, pkg/auth/rights, pkg/rpcmetadata
    g{"pkg/auth", "token", c::invalid_argument, "invalid token"},
    g{"pkg/auth/rights", "unauthenticated", c::unauthenticated, "unauthenticated"},
    g{"pkg/auth/rights", "no_gateway_rights", c::permission_denied, "no rights for gateway `{uid}`"},
    g{"pkg/auth/rights", "insufficient_gateway_rights", c::permission_denied, "insufficient rights for gateway `{uid}`"},
    g{"pkg/auth/rights", "no_organization_rights", c::permission_denied, "no rights for organization `{uid}`"},
    g{"pkg/auth/rights", "insufficient_organization_rights", c::permission_denied,
      "insufficient rights for organization `{uid}`"},
    g{"pkg/auth/rights", "no_user_rights", c::permission_denied, "no rights for user `{uid}`"},
    g{"pkg/auth/rights", "insufficient_user_rights", c::permission_denied, "insufficient rights for user `{uid}`"},
    g{"pkg/auth/rights", "no_application_rights", c::permission_denied, "no rights for application `{uid}`"},
    g{"pkg/auth/rights", "no_client_rights", c::permission_denied, "no rights for client `{uid}`"},
    g{"pkg/rpcmetadata", "unauthenticated", c::unauthenticated, "the context is not authenticated"},
    // pkg/errors, pkg/rpcmiddleware/validator
    g{"pkg/errors", "validation", c::invalid_argument, "invalid `{field}`: {reason}"},
    g{"pkg/errors", "context_deadline_exceeded", c::deadline_exceeded, "context deadline exceeded"},
    g{"pkg/errors", "context_canceled", c::canceled, "context canceled"},
    g{"pkg/rpcmiddleware/validator", "field_mask_paths", c::invalid_argument, "forbidden path(s) in field mask"},
    // pkg/deviceclaimingserver (grpc_gateways.go)
    g{"pkg/deviceclaimingserver", "gateway_already_exists", c::already_exists, "gateway with EUI `{eui}` already exists"},
    g{"pkg/deviceclaimingserver", "gateway_claiming_not_supported", c::aborted,
      "claiming not supported for gateway with EUI `{eui}`"},
    g{"pkg/deviceclaimingserver", "claim gateway", c::aborted, "claim gateway"},
    g{"pkg/deviceclaimingserver", "create_gateway", c::aborted, "create gateway"},
    g{"pkg/deviceclaimingserver", "no_eui", c::invalid_argument, "no EUI found for gateway"},
    g{"pkg/deviceclaimingserver", "gateway_claiming_with_qrcodes_not_implemented", c::unimplemented,
      "gateway claiming with QR codes not implemented"},
    // pkg/gatewayserver, pkg/redis, pkg/frequencyplans
    g{"pkg/gatewayserver", "not_connected", c::not_found, "gateway `{gateway_uid}` not connected"},
    g{"pkg/gatewayserver", "gateway_eui_not_registered", c::not_found, "gateway EUI `{eui}` is not registered"},
    g{"pkg/gatewayserver", "unauthenticated_gateway_connection", c::unauthenticated,
      "gateway requires an authenticated connection"},
    g{"pkg/gatewayserver", "new_connection", c::aborted, "new connection from same gateway"},
    g{"pkg/gatewayserver", "gateway_changed", c::unknown, "gateway changed in registry"},
    g{"pkg/gatewayserver/io/semtechws", "no_auth_provided", c::unauthenticated, "no auth provided `{uid}`"},
    g{"pkg/gatewayserver/io/semtechws", "missed_too_many_pongs", c::unknown, "gateway missed too many pongs"},
    g{"pkg/redis", "not_found", c::not_found, "entity not found"},
    g{"pkg/frequencyplans", "not_found", c::not_found, "frequency plan `{id}` not found"},
    // pkg/basicstation/cups (update_info.go, messages.go): for the CUPS emulation
    g{"pkg/basicstation/cups", "unauthenticated", c::unauthenticated, "call was not authenticated"},
    g{"pkg/basicstation/cups", "target_cups_credentials_not_found", c::not_found,
      "Target CUPS credentials not found for gateway `{gateway_uid}`"},
    g{"pkg/basicstation/cups", "lns_credentials_not_found", c::not_found,
      "LNS credentials not found for gateway `{gateway_uid}`"},
    g{"pkg/basicstation/cups", "server_trust", c::not_found, "fetch server trust for address `{address}`"},
    g{"pkg/basicstation/cups", "missing_router", c::invalid_argument, "missing router"},
    // pkg/events, pkg/events/grpc (pattern.go, grpc.go)
    g{"pkg/events/grpc", "no_identifiers", c::invalid_argument, "no identifiers"},
    g{"pkg/events", "unknown_event_name", c::invalid_argument, "unknown event `{name}`"},
    g{"pkg/events", "no_matching_events", c::invalid_argument, "no matching events for regexp `{regexp}`"},
    g{"pkg/events", "invalid_regexp", c::invalid_argument, "invalid regexp"},
    // pkg/ratelimit
    g{"pkg/ratelimit", "rate_limit_exceeded", c::resource_exhausted,
      "rate limit of `{rate}` accesses per minute exceeded for resource `{key}`"},
    // The emulated TTIG claim upstream (not open source: names chosen by the emulator, see scenario.hpp).
    g{"emu/upstream", "owner_token_mismatch", c::permission_denied, "owner token mismatch for gateway `{eui}`"},
    g{"emu/upstream", "gateway_claimed_elsewhere", c::already_exists, "gateway `{eui}` is already claimed"},
};

}  // namespace

const proto::table_category& emu_category() noexcept { return emu_cat; }

std::span<const proto::table_category* const> categories() noexcept { return emu_cats; }

int http_status_for_grpc(int code) noexcept {
    switch (code) {
    case grpc_code::ok: return 200;
    case grpc_code::canceled: return 499;
    case grpc_code::unknown: return 500;
    case grpc_code::invalid_argument: return 400;
    case grpc_code::deadline_exceeded: return 504;
    case grpc_code::not_found: return 404;
    case grpc_code::already_exists: return 409;
    case grpc_code::permission_denied: return 403;
    case grpc_code::resource_exhausted: return 429;
    case grpc_code::failed_precondition: return 400;
    case grpc_code::aborted: return 409;
    case grpc_code::out_of_range: return 400;
    case grpc_code::unimplemented: return 501;
    case grpc_code::internal: return 500;
    case grpc_code::unavailable: return 503;
    case grpc_code::data_loss: return 500;
    case grpc_code::unauthenticated: return 401;
    default: return 500;
    }
}

std::span<const tts_error::definition> tts_error::definitions() noexcept { return defs; }

const tts_error::definition* tts_error::find(std::string_view full_name) noexcept {
    const auto colon = full_name.rfind(':');
    if (colon == std::string_view::npos) return nullptr;
    const auto ns = full_name.substr(0, colon), name = full_name.substr(colon + 1);
    for (const auto& d : defs)
        if (d.ns == ns && d.name == name) return &d;
    return nullptr;
}

tts_error tts_error::make(std::string_view full_name, nlohmann::json attributes) {
    tts_error e;
    if (const auto* d = find(full_name)) {
        e.ns = d->ns;
        e.name = d->name;
        e.code = d->code;
        e.message_format = d->message_format;
    } else {
        const auto colon = full_name.rfind(':');
        e.ns = colon == std::string_view::npos ? std::string() : std::string(full_name.substr(0, colon));
        e.name = std::string(colon == std::string_view::npos ? full_name : full_name.substr(colon + 1));
        e.message_format = e.name;
    }
    if (attributes.is_object()) e.attributes = std::move(attributes);
    return e;
}

tts_error tts_error::with_cause(tts_error c) && {
    cause = std::make_shared<const tts_error>(std::move(c));
    return std::move(*this);
}

namespace {

std::string attribute_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
    if (v.is_number_float()) return fmt::format("{}", v.get<double>());
    if (v.is_array()) {  // Go's fmt %v of a []string: [a b c]
        std::string out = "[";
        for (std::size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + attribute_text(v[i]);
        return out + "]";
    }
    return v.dump();
}

}  // namespace

std::string tts_error::message() const {
    // ICU-style placeholders as TTS uses them: {name}; text in backticks is literal.
    std::string out;
    for (std::size_t i = 0; i < message_format.size(); ++i) {
        const char ch = message_format[i];
        if (ch == '{') {
            const auto end = message_format.find('}', i);
            if (end != std::string::npos) {
                const std::string key = message_format.substr(i + 1, end - i - 1);
                if (attributes.contains(key)) {
                    out += attribute_text(attributes[key]);
                    i = end;
                    continue;
                }
                // A missing argument makes the Go formatter fail; TTS then shows the raw format.
                return message_format;
            }
        }
        out += ch;
    }
    return out;
}

std::string tts_error::status_message() const { return fmt::format("error:{}:{} ({})", ns, name, message()); }

nlohmann::ordered_json tts_error::details_json(const std::string& correlation_id, bool with_type) const {
    nlohmann::ordered_json d;
    if (with_type) d["@type"] = "type.googleapis.com/ttn.lorawan.v3.ErrorDetails";
    if (!ns.empty()) d["namespace"] = ns;
    if (!name.empty()) d["name"] = name;
    if (!message_format.empty()) d["message_format"] = message_format;
    if (attributes.is_object() && !attributes.empty()) {
        nlohmann::ordered_json attrs = nlohmann::ordered_json::object();
        for (const auto& [k, val] : attributes.items()) attrs[k] = nlohmann::ordered_json::parse(val.dump());
        d["attributes"] = std::move(attrs);  // nlohmann::json keeps keys sorted, as protojson maps do
    }
    if (!correlation_id.empty()) d["correlation_id"] = correlation_id;
    if (cause) d["cause"] = cause->details_json(correlation_id, false);
    if (code != 0) d["code"] = code;
    return d;
}

nlohmann::ordered_json tts_error::status_json(const std::string& correlation_id) const {
    nlohmann::ordered_json s;
    s["code"] = code;
    s["message"] = status_message();
    s["details"] = nlohmann::ordered_json::array({details_json(correlation_id, true)});
    return s;
}

proto::error tts_error::to_proto() const {
    std::string detail = status_message();
    if (!internal.empty()) detail += ": " + internal;
    return proto::error{make_error_code(emu_errc::tts_error), std::move(detail)};
}

}  // namespace ttig::emu
