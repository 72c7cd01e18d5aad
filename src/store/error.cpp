#include <ttig/store/error.hpp>

#include <array>

namespace ttig::store {

namespace {

constexpr int v(store_errc e) { return static_cast<int>(e); }

constexpr std::array store_table{
    proto::errc_entry{v(store_errc::open_failed), "open_failed", "cannot open the database"},
    proto::errc_entry{v(store_errc::sql_error), "sql_error", "SQL statement failed"},
    proto::errc_entry{v(store_errc::constraint), "constraint", "database constraint failed"},
    proto::errc_entry{v(store_errc::busy), "busy", "database is locked"},
    proto::errc_entry{v(store_errc::io_error), "io_error", "database I/O error"},
    proto::errc_entry{v(store_errc::corrupt), "corrupt", "database file is corrupt or not a database"},
    proto::errc_entry{v(store_errc::schema_too_new), "schema_too_new", "database schema is newer than this program"},
    proto::errc_entry{v(store_errc::bad_column), "bad_column", "unexpected column value"},
};

constinit const proto::table_category store_cat{"store", store_table};

constexpr std::array<const proto::table_category*, 1> store_cats{&store_cat};

}  // namespace

const proto::table_category& store_category() noexcept { return store_cat; }

std::span<const proto::table_category* const> categories() noexcept { return store_cats; }

}  // namespace ttig::store
