// Error domain "store": SQLite, behind the store layer's RAII wrapper.
//
// Same pattern as the proto domains (ttig/proto/error.hpp): an enum class and a table_category
// with a stable cause id "store.<name>" per value. The detail carries SQLite's own message
// (sqlite3_errmsg) followed by the first words of the SQL that failed, e.g.
// "UNIQUE constraint failed: gateways.gateway_id (in: INSERT INTO gateways ...)".
#pragma once

#include <ttig/proto/error.hpp>

#include <span>
#include <system_error>
#include <type_traits>

namespace ttig::store {

enum class store_errc {
    open_failed = 1,  // the database file cannot be opened or created (path, permissions, not a database)
    sql_error,        // SQLite rejected a statement (syntax, missing table, misuse)
    constraint,       // a UNIQUE / NOT NULL / CHECK / FOREIGN KEY constraint failed
    busy,             // the database is locked by another connection (busy timeout elapsed)
    io_error,         // disk I/O error, disk full, read-only file system
    corrupt,          // the file is not a database or is corrupt
    schema_too_new,   // the file's user_version is newer than this program's migrations
    bad_column,       // a column read with the wrong index or an unexpected NULL
};

const proto::table_category& store_category() noexcept;

// Every category store defines (for the docs/errors.md completeness test).
std::span<const proto::table_category* const> categories() noexcept;

inline std::error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

}  // namespace ttig::store

template <>
struct std::is_error_code_enum<ttig::store::store_errc> : std::true_type {};
