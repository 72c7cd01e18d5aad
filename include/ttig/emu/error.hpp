// Errors of the emulated The Things Stack.
//
// Two kinds, kept apart:
//  - emu_errc: our own error domain "emu" (cause ids emu.<name>) for the emulator's failures as a
//    program: a bad scenario file, a state database that cannot be opened, OpenSSL failing.
//  - tts_error: an error *value of The Things Stack*, exactly what a real server puts in a response
//    body (namespace, name, message_format, attributes, gRPC code, optional cause). Names are kept
//    verbatim (pkg/auth/rights:no_gateway_rights); tts_error::definition() knows the namespace,
//    name, gRPC code and message format of every TTS error the emulator produces (lorawan-stack
//    v3.32.1, see tts-api.md §5.3).
#pragma once

#include <ttig/proto/error.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace ttig::emu {

enum class emu_errc {
    bad_scenario = 1,  // a scenario file is not JSON, or a value is invalid; the detail names the JSON path
    state_failed,      // the state database cannot be opened, migrated, read or written
    tts_error,         // a TTS error value turned into a proto::error (detail: "error:<ns>:<name> (<message>)")
    crypto_failed,     // OpenSSL failed to produce random bytes or a PBKDF2 hash
};

const proto::table_category& emu_category() noexcept;

// Every category emu defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(emu_errc e) noexcept { return {static_cast<int>(e), emu_category()}; }

// gRPC status codes (google.golang.org/grpc/codes) and their HTTP statuses (grpc-gateway,
// tts-api.md §5.2).
namespace grpc_code {
inline constexpr int ok = 0, canceled = 1, unknown = 2, invalid_argument = 3, deadline_exceeded = 4, not_found = 5,
                     already_exists = 6, permission_denied = 7, resource_exhausted = 8, failed_precondition = 9,
                     aborted = 10, out_of_range = 11, unimplemented = 12, internal = 13, unavailable = 14,
                     data_loss = 15, unauthenticated = 16;
}
int http_status_for_grpc(int code) noexcept;

// A TTS error value (pkg/errors.Error as serialized in ErrorDetails).
struct tts_error {
    std::string ns;              // "pkg/auth/rights"
    std::string name;            // "insufficient_gateway_rights" (may contain a space: "claim gateway")
    std::string message_format;  // "insufficient rights for gateway `{uid}`"
    int code = grpc_code::unknown;
    nlohmann::json attributes = nlohmann::json::object();  // public attributes only
    std::shared_ptr<const tts_error> cause;
    std::string internal;  // our own diagnostic (e.g. SQLite's message); never serialized

    // A known definition filled with attributes: make("pkg/auth/rights:no_gateway_rights", {{"uid", "gw"}}).
    // An unknown full name gives an error with code Unknown and message_format = name.
    static tts_error make(std::string_view full_name, nlohmann::json attributes = nlohmann::json::object());
    // The definition table (namespace:name -> code, message format), e.g. for fault configuration.
    struct definition {
        std::string_view ns;
        std::string_view name;
        int code;
        std::string_view message_format;
    };
    static std::span<const definition> definitions() noexcept;
    static const definition* find(std::string_view full_name) noexcept;

    tts_error with_cause(tts_error c) &&;

    std::string full_name() const { return ns + ":" + name; }  // "pkg/auth/rights:no_gateway_rights"
    int http_status() const noexcept { return http_status_for_grpc(code); }
    // message_format with `{attr}` placeholders filled from attributes.
    std::string message() const;
    // "error:<ns>:<name> (<message>)": google.rpc.Status.message, WWW-Authenticate on 401.
    std::string status_message() const;
    // ErrorDetails JSON in proto field order. with_type adds "@type" (top-level details only).
    nlohmann::ordered_json details_json(const std::string& correlation_id, bool with_type) const;
    // The whole unary error body: {"code","message","details":[ErrorDetails]}.
    nlohmann::ordered_json status_json(const std::string& correlation_id) const;
    // As our own error value: [emu.tts_error] with detail = status_message().
    proto::error to_proto() const;
};

// Either a value or a tts_error.
template <class T>
using tts_result = proto::basic_result<T, tts_error>;

}  // namespace ttig::emu

template <>
struct std::is_error_code_enum<ttig::emu::emu_errc> : std::true_type {};
