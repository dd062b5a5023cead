// The refresh schedule and the backoff, stepped by hand with an injected
// clock: no sleeps, exact answers.

#include "stocktake/agent/schedule.hpp"

#include <boost/test/unit_test.hpp>

using namespace stocktake;
using namespace std::chrono_literals;
using act = refresh_schedule::action;

namespace {
const sched_clock::time_point t0{std::chrono::hours{1000}};
}

BOOST_AUTO_TEST_SUITE(schedule)

BOOST_AUTO_TEST_CASE(refreshes_at_start_then_every_interval_with_jitter) {
    refresh_schedule s(4h);
    BOOST_TEST((s.on_start(t0) == act::refresh_now));
    BOOST_TEST(s.refreshing());
    BOOST_TEST(!s.next_deadline().has_value());  // no timer while refreshing
    BOOST_TEST((s.on_refresh_done(t0 + 1s, 0.5) == act::none));
    BOOST_TEST_REQUIRE(s.next_deadline().has_value());
    BOOST_TEST((*s.next_deadline() == t0 + 1s + 4h));  // u = 0.5: no jitter
    BOOST_TEST((s.on_timer(t0 + 1s + 3h) == act::none));  // early wake-up: nothing
    BOOST_TEST((s.on_timer(t0 + 1s + 4h) == act::refresh_now));
    BOOST_TEST(s.started() == 2u);
    BOOST_TEST((s.on_refresh_done(t0 + 4h + 2s, 0.0) == act::none));
    BOOST_TEST((*s.next_deadline() == t0 + 4h + 2s + std::chrono::milliseconds{4h} * 9 / 10));
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_ten_percent) {
    BOOST_TEST((refresh_schedule::jittered(100s, 0.0) == 90s));
    BOOST_TEST((refresh_schedule::jittered(100s, 0.5) == 100s));
    BOOST_TEST((refresh_schedule::jittered(100s, 1.0) == 110s));
    BOOST_TEST((refresh_schedule::jittered(100s, -3.0) == 90s));  // clamped
    for (double u = 0; u < 1; u += 0.01) {
        const auto d = refresh_schedule::jittered(4h, u);
        BOOST_TEST((d >= std::chrono::milliseconds{4h} * 9 / 10));
        BOOST_TEST((d <= std::chrono::milliseconds{4h} * 11 / 10));
    }
}

BOOST_AUTO_TEST_CASE(triggers_during_a_refresh_coalesce_into_one_rerun) {
    refresh_schedule s(1h);
    BOOST_TEST((s.on_start(t0) == act::refresh_now));
    // Five triggers while the first refresh runs...
    for (int i = 0; i < 5; ++i) {
        BOOST_TEST((s.on_trigger(t0 + 1ms * i) == act::none));
        BOOST_TEST(s.target_after_trigger() == 2u);  // all answered by refresh 2
    }
    BOOST_TEST(s.rerun_pending());
    // ...give exactly one more refresh, at once.
    BOOST_TEST((s.on_refresh_done(t0 + 1s, 0.5) == act::refresh_now));
    BOOST_TEST(s.started() == 2u);
    BOOST_TEST(!s.rerun_pending());
    BOOST_TEST((s.on_refresh_done(t0 + 2s, 0.5) == act::none));
    BOOST_TEST(s.finished() == 2u);
    BOOST_TEST((*s.next_deadline() == t0 + 2s + 1h));
}

BOOST_AUTO_TEST_CASE(a_trigger_when_idle_refreshes_now) {
    refresh_schedule s(1h);
    s.on_start(t0);
    s.on_refresh_done(t0 + 1s, 0.5);
    BOOST_TEST((s.on_trigger(t0 + 10min) == act::refresh_now));
    BOOST_TEST(s.target_after_trigger() == 2u);
    BOOST_TEST((s.on_refresh_done(t0 + 10min + 1s, 0.5) == act::none));
    // The interval restarts from the triggered refresh.
    BOOST_TEST((*s.next_deadline() == t0 + 10min + 1s + 1h));
}

BOOST_AUTO_TEST_CASE(interval_zero_disables_the_timer_not_triggers) {
    refresh_schedule s(0ms);
    BOOST_TEST((s.on_start(t0) == act::refresh_now));
    BOOST_TEST((s.on_refresh_done(t0 + 1s, 0.5) == act::none));
    BOOST_TEST(!s.next_deadline().has_value());
    BOOST_TEST((s.on_timer(t0 + 1000h) == act::none));
    BOOST_TEST((s.on_trigger(t0 + 2h) == act::refresh_now));
}

BOOST_AUTO_TEST_CASE(reload_changes_the_interval) {
    refresh_schedule s(4h);
    s.on_start(t0);
    s.on_refresh_done(t0, 0.5);
    BOOST_TEST((s.set_interval(1h, t0 + 30min, 0.5) == act::none));
    BOOST_TEST((*s.next_deadline() == t0 + 1h));
    BOOST_TEST((s.set_interval(10min, t0 + 30min, 0.5) == act::refresh_now));  // already overdue
    BOOST_TEST(s.refreshing());
    s.on_refresh_done(t0 + 31min, 0.5);
    BOOST_TEST((s.set_interval(0ms, t0 + 32min, 0.5) == act::none));
    BOOST_TEST(!s.next_deadline().has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(upload_backoff)

BOOST_AUTO_TEST_CASE(doubles_up_to_the_cap_with_jitter) {
    backoff b(1s, 60s);
    BOOST_TEST((b.next(1.0) == 1s));
    BOOST_TEST((b.next(1.0) == 2s));
    BOOST_TEST((b.next(1.0) == 4s));
    BOOST_TEST((b.next(0.0) == 4s));  // 8 s, halved by the jitter
    for (int i = 0; i < 40; ++i) b.next(0.5);  // no overflow however long it fails
    BOOST_TEST((b.next(1.0) == 60s));
    BOOST_TEST((b.next(0.0) == 30s));
    BOOST_TEST(b.attempts() == 46u);
    b.reset();
    BOOST_TEST((b.next(1.0) == 1s));
}

BOOST_AUTO_TEST_SUITE_END()
