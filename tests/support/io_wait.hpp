// Driving an io_context from a test: run it until a condition holds (real I/O only — timers of
// the code under test run on virtual time and are never waited for here).
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace ttig::test {

// Runs `ioc` in 5 ms slices until `done()` is true; false when `limit` passed first.
template <class Pred>
bool run_until(boost::asio::io_context& ioc, Pred done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        if (ioc.stopped()) ioc.restart();
        ioc.run_for(std::chrono::milliseconds(5));
    }
    return true;
}

}  // namespace ttig::test
