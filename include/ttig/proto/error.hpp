// Error values with stable cause ids.
//
// Every failure that crosses a library API is a value: proto::error = {std::error_code, detail}.
// Each domain (eui, blob, cups, tc, ...) is an enum class with a std::error_category whose values
// carry a stable cause id "<domain>.<name>". Users see "[cups.truncated] message: detail".
// docs/errors.md lists every id; tests/proto/error_test.cpp checks that it does.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace ttig::proto {

// One row of a domain's table: enum value, short name (the part after "<domain>."), message.
struct errc_entry {
    int value;
    std::string_view name;
    std::string_view message;
};

// A category backed by a static table. All ttig categories derive from this, which is how
// cause_id() recognises them.
class table_category : public std::error_category {
public:
    constexpr table_category(std::string_view domain, std::span<const errc_entry> table) noexcept
        : domain_(domain), table_(table) {}

    const char* name() const noexcept override { return domain_.data(); }
    std::string message(int value) const override;

    std::string_view domain() const noexcept { return domain_; }
    std::span<const errc_entry> entries() const noexcept { return table_; }
    // "<domain>.<name>", or "<domain>.unknown_<value>" for a value outside the table.
    std::string id(int value) const;

private:
    std::string_view domain_;  // must be NUL-terminated (string literal)
    std::span<const errc_entry> table_;
};

// The categories proto defines. Other layers expose theirs the same way (pki::categories(), ...);
// the documentation test walks all of them.
std::span<const table_category* const> categories() noexcept;

// Cause id of any error_code: ttig ids for ttig categories, "sys.<category>.<value>" otherwise.
std::string cause_id(const std::error_code& ec);

// An error value: what went wrong (code, with a stable id) and the particulars (detail: which
// field, which byte offset, what the peer said).
struct error {
    std::error_code code;
    std::string detail;

    std::string id() const { return cause_id(code); }
    // "[<id>] <message>: <detail>" (": <detail>" omitted when empty).
    std::string what() const;
    friend bool operator==(const error& a, const error& b) { return a.code == b.code && a.detail == b.detail; }
};

// Minimal expected-like result: either a value or an error of type E. C++20 has no
// std::expected. proto::result<T> uses proto::error; other layers reuse the template with their
// own error values (emu::tts_result<T> holds a The Things Stack error).
template <class T, class E>
class [[nodiscard]] basic_result {
public:
    basic_result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    basic_result(E err) : v_(std::in_place_index<1>, std::move(err)) {}      // NOLINT(google-explicit-constructor)

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }

    const E& err() const& { return std::get<1>(v_); }
    E&& err() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, E> v_;
};

// Success or an error.
template <class E>
class [[nodiscard]] basic_result<void, E> {
public:
    basic_result() = default;
    basic_result(E err) : err_(std::move(err)) {}  // NOLINT(google-explicit-constructor)
    bool has_value() const noexcept { return !err_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    const E& err() const& { return *err_; }
    E&& err() && { return std::move(*err_); }

private:
    std::optional<E> err_;
};

template <class T>
using result = basic_result<T, error>;

template <class E>
    requires std::is_error_code_enum_v<E>
error make_error(E e, std::string detail = {}) {
    return error{make_error_code(e), std::move(detail)};
}

template <class E, class... Args>
    requires(std::is_error_code_enum_v<E> && sizeof...(Args) > 0)
error make_error(E e, fmt::format_string<Args...> fmtstr, Args&&... args) {
    return error{make_error_code(e), fmt::format(fmtstr, std::forward<Args>(args)...)};
}

// ---- Domains defined by proto ------------------------------------------------------------------

// EUI-64 / ID6 / TTIG label parsing.
enum class eui_errc {
    empty = 1,
    bad_character,
    too_long,
    mixed_separators,
    bad_group,
    bad_id6,
    tts_format,
    bad_label,
};

// Credential blobs (the cred segments of a CUPS response).
enum class blob_errc {
    empty = 1,
    trust_not_der,
    bad_der_length,
    part_overflow,
    token_syntax,
    too_long,
};

// CUPS update-info request and response.
enum class cups_errc {
    bad_json = 1,
    not_object,
    missing_router,
    bad_router,
    bad_field_type,
    bad_crc,
    short_body,
    truncated,
    bad_sig_len,
    field_length,
    bad_uri,
    trailing_bytes,
};

// LNS (discovery + traffic) messages; "tc" is the station's name for its LNS connection.
enum class tc_errc {
    bad_json = 1,
    not_object,
    missing_msgtype,
    unknown_msgtype,
    missing_field,
    bad_field_type,
    bad_value,
    infos_rejected,
    unknown_region,
    unknown_frequency_plan,
    bad_router,
    empty_router,
    bad_uri,
    bad_frequency_plan,
};

// The station's own wire readers (station_wire.hpp): WebSocket frames and HTTP response heads.
enum class wire_errc {
    ws_reserved_bits = 1,
    ws_bad_opcode,
    ws_bad_control_frame,
    ws_too_long,
    http_bad_status_line,
    http_bad_header,
    http_head_too_long,
    http_bad_content_length,
};

const table_category& eui_category() noexcept;
const table_category& blob_category() noexcept;
const table_category& cups_category() noexcept;
const table_category& tc_category() noexcept;
const table_category& wire_category() noexcept;

inline std::error_code make_error_code(eui_errc e) noexcept { return {static_cast<int>(e), eui_category()}; }
inline std::error_code make_error_code(blob_errc e) noexcept { return {static_cast<int>(e), blob_category()}; }
inline std::error_code make_error_code(cups_errc e) noexcept { return {static_cast<int>(e), cups_category()}; }
inline std::error_code make_error_code(tc_errc e) noexcept { return {static_cast<int>(e), tc_category()}; }
inline std::error_code make_error_code(wire_errc e) noexcept { return {static_cast<int>(e), wire_category()}; }

}  // namespace ttig::proto

template <>
struct std::is_error_code_enum<ttig::proto::eui_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<ttig::proto::blob_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<ttig::proto::cups_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<ttig::proto::tc_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<ttig::proto::wire_errc> : std::true_type {};

template <>
struct fmt::formatter<ttig::proto::error> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const ttig::proto::error& e, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(e.what(), ctx);
    }
};
