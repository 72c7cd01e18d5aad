// Error domain "station": a station's credential files on disk (protocol doc §3).
//
// Same pattern as the proto domains (ttig/proto/error.hpp). Details name the file and, for
// system call failures, the errno text ("/home/st/tc.key: Permission denied"). Details never
// contain file contents (keys and tokens are secrets).
#pragma once

#include <ttig/proto/error.hpp>

#include <span>
#include <system_error>
#include <type_traits>

namespace ttig::station {

enum class station_errc {
    unreadable = 1,   // a file exists but cannot be read
    write_failed,     // creating, writing, syncing, renaming or deleting a file failed
    no_uri,           // no set of the category has a .uri file
    bad_uri,          // a URI to be written is empty or contains white space / control characters
    not_a_directory,  // the station home is missing or is not a directory
    bad_token,        // token (key) text does not follow "<name>: <value>" lines (§2.5)
    interrupted,      // an update or backup stopped after its marker was written; recovery finishes it
};

const proto::table_category& station_category() noexcept;

// Every category station defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(station_errc e) noexcept { return {static_cast<int>(e), station_category()}; }

}  // namespace ttig::station

template <>
struct std::is_error_code_enum<ttig::station::station_errc> : std::true_type {};
