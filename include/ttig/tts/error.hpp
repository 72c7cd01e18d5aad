// Errors of the The Things Stack REST client (error domain "tts").
//
// Three kinds of failure reach a caller, all as proto::error values (no exceptions):
//  1. Transport and TLS failures stay what the net layer made them (net.timeout, tls.unknown_ca, ...).
//  2. An error answer of The Things Stack (any non-2xx status) becomes an api_error: the decoded
//     google.rpc.Status body (tts-api.md §5.1) with its ErrorDetails, cause chain and the
//     response's rate-limit headers. Its proto::error keeps the server's name as the cause id:
//        [tts.pkg/auth/rights:no_gateway_rights] The Things Stack refused the request: HTTP 403: no rights for gateway `gw1` (correlation id 7d4a…)
//     i.e. error.id() == "tts." + api_error.full_name(). Each distinct namespace:name gets one
//     interned std::error_category, so codes compare equal exactly when the names are equal:
//        r.err().code == tts::api_error_code("pkg/auth/rights:no_gateway_rights")
//     An error body without a usable name (grpc-gateway's own {"code":5,"message":"Not Found"},
//     a name with unexpected characters, or beyond 1024 distinct names) gets tts.api_error; a
//     non-2xx answer that is not a TTS error body at all (a proxy's HTML page) gets tts.http_status.
//     The full api_error travels next to the proto::error in tts::result<T>::api().
//  3. The client's own refusals: tts.bad_response (a 2xx body that is not the expected JSON),
//     tts.bad_argument (refused before sending), tts.rate_limit_wait (the server's rate limit
//     asks for a longer wait than allowed).
// API keys never appear in a detail: details pass through redact_secrets().
#pragma once

#include <ttig/proto/error.hpp>
#include <ttig/tts/rate_limit.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ttig::tts {

enum class tts_errc {
    api_error = 1,    // a TTS error body without a usable namespace:name (grpc-gateway routing/decoding errors)
    http_status,      // a non-2xx answer whose body is not a TTS error (proxy page, empty body)
    bad_response,     // a 2xx answer whose body is not the JSON the call expects
    bad_argument,     // an argument refused before sending (empty ID, invalid EUI, ...)
    rate_limit_wait,  // the rate limit asks for a wait longer than rate_limit_policy::max_wait (or no async sleeper)
};

const proto::table_category& tts_category() noexcept;
// The static categories of this layer (for the docs/errors.md completeness test). The interned
// per-name categories of API errors are not listed: docs/errors.md documents them as one pattern.
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(tts_errc e) noexcept { return {static_cast<int>(e), tts_category()}; }

// An error answer of The Things Stack (google.rpc.Status + ttn.lorawan.v3.ErrorDetails).
struct api_error {
    int http_status = 0;            // 0 inside a cause chain
    int grpc_code = 0;              // google.rpc.Status.code (or ErrorDetails.code in a cause)
    std::string ns;                 // "pkg/auth/rights"; empty when the body has no ErrorDetails
    std::string name;               // "no_gateway_rights" (may contain a space: "claim gateway")
    std::string message;            // Status.message: "error:<ns>:<name> (<text>)", or grpc-gateway's text
    std::string message_format;     // "no rights for gateway `{uid}`"
    std::string correlation_id;
    nlohmann::json attributes = nlohmann::json::object();  // public attributes
    std::shared_ptr<const api_error> cause;                // ErrorDetails.cause chain
    std::optional<rate_limit_info> rate_limit;             // the response's X-Rate-Limit-* headers
    std::string body_excerpt;  // non-TTS bodies: the first 200 bytes, control characters replaced

    std::string full_name() const { return named() ? ns + ":" + name : std::string(); }
    bool named() const noexcept { return !ns.empty() && !name.empty(); }
    // True when this error or one of its causes is `full_name` ("pkg/util/store:id_taken").
    bool is(std::string_view full_name) const;
    // The innermost cause (this error when there is none).
    const api_error& root_cause() const noexcept;
    // The human text: Status.message without its "error:<ns>:<name> (…)" wrapper, else
    // message_format with {attribute} placeholders filled, else the body excerpt.
    std::string text() const;
    // For a 429: max(1 s, X-Rate-Limit-Retry) (what TTS's JS SDK waits); zero for other statuses.
    std::chrono::seconds retry_after() const noexcept;
};

// Decodes an error answer. Never fails: a body that is not a TTS error yields an api_error with
// only http_status and body_excerpt. Token-shaped strings in texts and attributes are redacted.
api_error decode_api_error(int http_status, std::string_view body);
// Reads one ErrorDetails object (also a cause); nested causes up to 16 deep.
api_error decode_error_details(const nlohmann::json& details);

// The error code of an API error name: an interned category with the id "tts.<ns>:<name>", or
// tts_errc::api_error when the name is empty, longer than 200 bytes, has characters outside
// [A-Za-z0-9_./ -] around its ':', or the intern table is full.
std::error_code api_error_code(std::string_view full_name);
// Whether a code is an API error code (an interned name or tts_errc::api_error).
bool is_api_error(const std::error_code& ec) noexcept;
// The "<ns>:<name>" of an interned API error code, else "".
std::string_view api_error_name(const std::error_code& ec) noexcept;
// The proto::error for an api_error: code per api_error_code (tts.http_status for non-TTS
// bodies), detail "HTTP <status>: <text> (correlation id <id>); cause <ns>:<name>: <text>; retry after <n> s".
proto::error to_proto_error(const api_error& e);

// A proto::result<T> that also carries the api_error when the failure was an error answer of
// The Things Stack (nullptr for net/tls failures and the client's own refusals). It converts to
// proto::result<T> by slicing: the proto::error (id, detail) survives, api() does not.
template <class T>
class [[nodiscard]] result : public proto::result<T> {
public:
    result(T value) : proto::result<T>(std::move(value)) {}        // NOLINT(google-explicit-constructor)
    result(proto::error err) : proto::result<T>(std::move(err)) {}  // NOLINT(google-explicit-constructor)
    result(proto::result<T> r) : proto::result<T>(std::move(r)) {}  // NOLINT(google-explicit-constructor)
    result(proto::error err, std::shared_ptr<const api_error> api) : proto::result<T>(std::move(err)), api_(std::move(api)) {}

    const api_error* api() const noexcept { return api_.get(); }
    const std::shared_ptr<const api_error>& api_ptr() const noexcept { return api_; }

private:
    std::shared_ptr<const api_error> api_;
};

template <>
class [[nodiscard]] result<void> : public proto::result<void> {
public:
    result() = default;
    result(proto::error err) : proto::result<void>(std::move(err)) {}  // NOLINT(google-explicit-constructor)
    result(proto::result<void> r) : proto::result<void>(std::move(r)) {}  // NOLINT(google-explicit-constructor)
    result(proto::error err, std::shared_ptr<const api_error> api) : proto::result<void>(std::move(err)), api_(std::move(api)) {}

    const api_error* api() const noexcept { return api_.get(); }
    const std::shared_ptr<const api_error>& api_ptr() const noexcept { return api_; }

private:
    std::shared_ptr<const api_error> api_;
};

}  // namespace ttig::tts

template <>
struct std::is_error_code_enum<ttig::tts::tts_errc> : std::true_type {};
