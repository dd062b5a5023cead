#include "stocktake/agent/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace stocktake {

std::chrono::milliseconds refresh_schedule::jittered(std::chrono::milliseconds interval, double u) {
    u = std::clamp(u, 0.0, 1.0);
    const double f = 0.9 + 0.2 * u;
    return std::chrono::milliseconds{static_cast<long long>(std::llround(static_cast<double>(interval.count()) * f))};
}

refresh_schedule::action refresh_schedule::begin() {
    refreshing_ = true;
    pending_ = false;
    deadline_.reset();
    ++started_;
    return action::refresh_now;
}

refresh_schedule::action refresh_schedule::on_start(sched_clock::time_point) {
    if (refreshing_) return action::none;
    return begin();
}

refresh_schedule::action refresh_schedule::on_trigger(sched_clock::time_point) {
    if (refreshing_) {
        pending_ = true;  // however many triggers come, one rerun
        return action::none;
    }
    return begin();
}

refresh_schedule::action refresh_schedule::on_refresh_done(sched_clock::time_point now, double u) {
    refreshing_ = false;
    ++finished_;
    last_done_ = now;
    if (pending_) return begin();
    if (interval_.count() > 0)
        deadline_ = now + jittered(interval_, u);
    else
        deadline_.reset();
    return action::none;
}

refresh_schedule::action refresh_schedule::on_timer(sched_clock::time_point now) {
    if (refreshing_ || !deadline_ || now < *deadline_) return action::none;
    return begin();
}

refresh_schedule::action refresh_schedule::set_interval(std::chrono::milliseconds interval, sched_clock::time_point now,
                                                        double u) {
    interval_ = interval;
    if (refreshing_) return action::none;  // the deadline is set when it ends
    if (interval_.count() == 0) {
        deadline_.reset();
        return action::none;
    }
    const auto from = last_done_.value_or(now);
    deadline_ = from + jittered(interval_, u);
    if (now >= *deadline_) return begin();
    return action::none;
}

std::chrono::milliseconds backoff::next(double u) {
    u = std::clamp(u, 0.0, 1.0);
    const unsigned shift = std::min(attempt_, 30u);
    ++attempt_;
    auto d = base_.count();
    for (unsigned i = 0; i < shift && d < cap_.count(); ++i) d *= 2;
    d = std::min(d, cap_.count());
    return std::chrono::milliseconds{static_cast<long long>(static_cast<double>(d) * (0.5 + 0.5 * u))};
}

}  // namespace stocktake
