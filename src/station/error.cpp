#include <ttig/station/error.hpp>

#include <array>

namespace ttig::station {

namespace {

constexpr int v(station_errc e) { return static_cast<int>(e); }

constexpr std::array station_table{
    proto::errc_entry{v(station_errc::unreadable), "unreadable", "cannot read station file"},
    proto::errc_entry{v(station_errc::write_failed), "write_failed", "cannot write station file"},
    proto::errc_entry{v(station_errc::no_uri), "no_uri", "no URI file in the credential set"},
    proto::errc_entry{v(station_errc::bad_uri), "bad_uri", "URI is empty or contains white space"},
    proto::errc_entry{v(station_errc::not_a_directory), "not_a_directory", "station home is not a directory"},
    proto::errc_entry{v(station_errc::bad_token), "bad_token", "malformed auth token"},
    proto::errc_entry{v(station_errc::interrupted), "interrupted",
                      "station file update interrupted; recovery will complete it"},
};

constinit const proto::table_category station_cat{"station", station_table};

constexpr std::array<const proto::table_category*, 1> station_cats{&station_cat};

}  // namespace

const proto::table_category& station_category() noexcept { return station_cat; }

std::span<const proto::table_category* const> categories() noexcept { return station_cats; }

}  // namespace ttig::station
