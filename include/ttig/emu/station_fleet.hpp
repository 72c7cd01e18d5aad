// Many emulated stations in one process: each a station_engine over its own home directory,
// driven on one io_context with net::byte_stream connections that carry the engine's exact bytes.
// The fleet reads what the station reads (an HTTP response head with the station's rules, a body of
// Content-Length bytes, server WebSocket frames) and reports it to the engine; it wakes each engine
// at its deadlines on the injected clock (a manual clock is advanced with advance()).
//
// Threading: run the io_context on one thread; every public call is posted onto it (thread-safe).
#pragma once

#include <ttig/emu/station_engine.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/eui.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ttig::net {
class host_map;
}

namespace ttig::emu {

struct fleet_options {
    std::vector<std::filesystem::path> homes;  // one per station
    std::vector<proto::eui64> euis;            // same length as homes
    station_profile profile = station_profile::basicstation();
    station_timing timing;
    const net::host_map* hosts = nullptr;      // --resolve (must outlive the fleet)
    // Called on the io thread for every station event.
    std::function<void(std::size_t index, const station_event&)> on_event;
    // The io_context polls the clock at this period for deadlines when the clock is virtual and
    // nobody calls advance() (0 = only advance() and I/O wake stations).
    std::chrono::milliseconds poll{0};
};

struct fleet_summary {
    std::size_t stations = 0;
    std::map<std::string, std::size_t> tc;    // tc phase -> stations
    std::map<std::string, std::size_t> leds;  // LED state -> stations
    std::uint64_t cups_requests = 0;
    std::uint64_t tc_connects = 0;
    // Exchanges in progress: connections being set up, and CUPS answers or WebSocket upgrades
    // not read yet (a driver of virtual time waits for 0 before advancing further).
    std::size_t in_flight = 0;
};

class station_fleet {
public:
    station_fleet(boost::asio::io_context& ioc, const proto::clock& clock, fleet_options options);
    ~station_fleet();
    station_fleet(const station_fleet&) = delete;
    station_fleet& operator=(const station_fleet&) = delete;

    void start();  // power on every station
    void stop();   // abort every connection; engines stay as they are

    // Station controls (index 0-based); out-of-range indexes are ignored.
    void press_reset(std::size_t i);
    void press_setup(std::size_t i);
    void power_cycle(std::size_t i);
    void set_network(std::size_t i, bool up);
    // After advancing a manual clock: fire every due deadline (repeatedly, until none is due).
    void wake();

    std::size_t size() const noexcept;
    // Snapshot, taken on the io thread (blocks the caller until it has run; do not call from it).
    fleet_summary summary();
    // Same, from the io thread itself (tests driving ioc.poll()).
    fleet_summary summary_now() const;
    const station_engine& engine(std::size_t i) const;  // io thread only

private:
    void on_station(std::size_t i, std::function<void(station_engine&)> f);
    struct impl;
    std::shared_ptr<impl> p_;
};

}  // namespace ttig::emu
