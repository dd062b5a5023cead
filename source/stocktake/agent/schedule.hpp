#pragma once
// The refresh schedule and the upload backoff as pure state machines: no
// Asio, no clock of their own. The service feeds them events with the
// current time; tests step them by hand (tests/unit/schedule_test.cpp).

#include <chrono>
#include <optional>

namespace stocktake {

using sched_clock = std::chrono::steady_clock;

// "Refresh at start, then every interval (±10 % jitter, so a fleet does not
// stampede), and on triggers; a trigger during a refresh is coalesced into
// exactly one more refresh."
class refresh_schedule {
public:
    enum class action { none, refresh_now };

    // interval 0 disables the timer (triggers still work).
    explicit refresh_schedule(std::chrono::milliseconds interval) : interval_(interval) {}

    action on_start(sched_clock::time_point now);
    action on_trigger(sched_clock::time_point now);
    // `u` in [0, 1) picks the jitter: the next refresh comes after
    // interval * (0.9 + 0.2 u).
    action on_refresh_done(sched_clock::time_point now, double u);
    // Call when the wait for next_deadline() ended; refreshes if it is due.
    action on_timer(sched_clock::time_point now);
    // A new interval (config reload) takes effect from the last refresh.
    action set_interval(std::chrono::milliseconds interval, sched_clock::time_point now, double u);

    bool refreshing() const noexcept { return refreshing_; }
    bool rerun_pending() const noexcept { return pending_; }
    std::optional<sched_clock::time_point> next_deadline() const noexcept { return deadline_; }
    std::chrono::milliseconds interval() const noexcept { return interval_; }
    // How many refreshes have been started and finished (for waiters).
    unsigned long long started() const noexcept { return started_; }
    unsigned long long finished() const noexcept { return finished_; }
    // The refresh that will satisfy a trigger made now: the next one to start.
    // Call after on_trigger: the refresh that answers it is the last one started
    // (if it began because of the trigger) or the coalesced rerun.
    unsigned long long target_after_trigger() const noexcept { return pending_ ? started_ + 1 : started_; }

    static std::chrono::milliseconds jittered(std::chrono::milliseconds interval, double u);

private:
    action begin();

    std::chrono::milliseconds interval_;
    std::optional<sched_clock::time_point> deadline_;
    std::optional<sched_clock::time_point> last_done_;
    bool refreshing_ = false;
    bool pending_ = false;
    unsigned long long started_ = 0;
    unsigned long long finished_ = 0;
};

// Exponential backoff with jitter, capped: attempt n waits
// min(cap, base * 2^n) * (0.5 + 0.5 u).
class backoff {
public:
    backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) : base_(base), cap_(cap) {}
    std::chrono::milliseconds next(double u);
    void reset() noexcept { attempt_ = 0; }
    unsigned attempts() const noexcept { return attempt_; }

private:
    std::chrono::milliseconds base_;
    std::chrono::milliseconds cap_;
    unsigned attempt_ = 0;
};

}  // namespace stocktake
