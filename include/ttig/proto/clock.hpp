// Time as an input. Code that needs "now" takes a proto::clock; tests pass a manual_clock and
// advance it (virtual time), so no test sleeps to wait for a timer.
#pragma once

#include <chrono>
#include <mutex>

namespace ttig::proto {

using time_point = std::chrono::sys_time<std::chrono::nanoseconds>;

class clock {
public:
    virtual ~clock() = default;
    virtual time_point now() const = 0;
};

// Wall-clock time.
class system_clock final : public clock {
public:
    time_point now() const override { return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()); }
};

// Virtual time: stands still until advanced. Thread-safe.
class manual_clock final : public clock {
public:
    explicit manual_clock(time_point start = time_point{std::chrono::seconds{1735689600}}) : now_(start) {}
    time_point now() const override {
        std::lock_guard lock(mu_);
        return now_;
    }
    void advance(std::chrono::nanoseconds d) {
        std::lock_guard lock(mu_);
        now_ += d;
    }
    void set(time_point t) {
        std::lock_guard lock(mu_);
        now_ = t;
    }

private:
    mutable std::mutex mu_;
    time_point now_;
};

}  // namespace ttig::proto
