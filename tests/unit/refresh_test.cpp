// The concurrent refresh: every source at once, each under its own
// timeout; failures and stalls stay local; cancellation is prompt and
// leaves nothing behind.

#include "stocktake/agent/refresh.hpp"
#include "stocktake/collect/pool.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <thread>

using namespace stocktake;
using namespace stocktake::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct activity {
    int active = 0;
    int max_active = 0;
    int started = 0;
    int cancelled = 0;
};

// A source that takes `delay` (a timer, so it honours cancellation), then
// returns `result` or throws.
class fake_source final : public source {
public:
    fake_source(std::string n, std::chrono::milliseconds delay, source_result r, activity& a, bool throws = false)
        : name_(std::move(n)), delay_(delay), result_(std::move(r)), act_(a), throws_(throws) {}
    std::string_view name() const noexcept override { return name_; }
    asio::awaitable<source_result> collect() override {
        ++act_.started;
        ++act_.active;
        act_.max_active = std::max(act_.max_active, act_.active);
        struct guard {
            activity& a;
            ~guard() { --a.active; }
        } g{act_};
        asio::steady_timer t(co_await asio::this_coro::executor, delay_);
        auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            ++act_.cancelled;
            throw boost::system::system_error(ec);
        }
        if (throws_) throw std::runtime_error("boom from " + name_);
        co_return result_;
    }

private:
    std::string name_;
    std::chrono::milliseconds delay_;
    source_result result_;
    activity& act_;
    bool throws_;
};

source_result software_result(std::string src, std::vector<std::string> pkgs) {
    source_result r;
    r.source = std::move(src);
    for (auto& p : pkgs) r.software.push_back({p, "1.0", "summary of " + p, "amd64", "installed"});
    return r;
}

source_result container_result() {
    source_result r;
    r.source = "docker";
    r.containers = {{"id2", "/b", "Up", "sha256:2", "img", "running"}, {"id1", "/a", "Exited (0)", "sha256:1", "img", "exited"}};
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(refresh)

BOOST_AUTO_TEST_CASE(runs_all_sources_concurrently_and_merges) {
    asio::io_context ioc;
    activity act;
    fake_source a("dpkg", 50ms, software_result("dpkg", {"zsh", "bash"}), act);
    fake_source b("docker", 50ms, container_result(), act);
    fake_source c("registry", 50ms, software_result("registry", {"Acme Tool"}), act);
    auto res = run_bounded(ioc, refresh_sources({{&a, 5s}, {&b, 5s}, {&c, 5s}}), 10s);
    BOOST_TEST(act.max_active == 3);  // all three were in flight at once
    BOOST_TEST_REQUIRE(res.inv.software.size() == 3u);
    BOOST_TEST(res.inv.software[0].package == "Acme Tool");  // sorted by package
    BOOST_TEST(res.inv.software[1].package == "bash");
    BOOST_TEST_REQUIRE(res.inv.containers.size() == 2u);
    BOOST_TEST(res.inv.containers[0].container_name == "/a");
    BOOST_TEST(res.inv.errors.empty());
    BOOST_TEST_REQUIRE(res.reports.size() == 3u);
    BOOST_TEST(res.reports[0].source == "dpkg");
    BOOST_TEST(res.reports[0].outcome == "ok");
    BOOST_TEST(res.reports[1].items == 2u);
    BOOST_TEST((res.inv.refreshed.time_since_epoch().count() > 0));
}

BOOST_AUTO_TEST_CASE(a_stalled_source_times_out_alone) {
    asio::io_context ioc;
    activity act;
    fake_source fast("dpkg", 10ms, software_result("dpkg", {"a"}), act);
    fake_source stuck("docker", 1h, container_result(), act);
    const auto start = std::chrono::steady_clock::now();
    auto res = run_bounded(ioc, refresh_sources({{&fast, 5s}, {&stuck, 200ms}}), 10s);
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took < 5s));  // bounded by the stuck source's timeout, not its hour
    BOOST_TEST(act.cancelled == 1);
    BOOST_TEST(res.inv.software.size() == 1u);
    BOOST_TEST(res.inv.containers.empty());
    BOOST_TEST_REQUIRE(res.inv.errors.size() == 1u);
    BOOST_TEST(res.inv.errors[0].source == "docker");
    BOOST_TEST(res.inv.errors[0].code == "timeout");
    BOOST_TEST(res.inv.errors[0].message.find("200 ms") != std::string::npos, res.inv.errors[0].message);
    BOOST_TEST(res.reports[1].outcome == "timeout");
}

BOOST_AUTO_TEST_CASE(a_failing_or_throwing_source_does_not_fail_the_others) {
    asio::io_context ioc;
    activity act;
    fake_source good("dpkg", 10ms, software_result("dpkg", {"a", "b"}), act);
    fake_source bad("docker", 10ms, failed_result("docker", "permission_denied", "add the user to the docker group"), act);
    fake_source boom("registry", 10ms, {}, act, true);
    auto res = run_bounded(ioc, refresh_sources({{&good, 5s}, {&bad, 5s}, {&boom, 5s}}));
    BOOST_TEST(res.inv.software.size() == 2u);
    BOOST_TEST_REQUIRE(res.inv.errors.size() == 2u);
    BOOST_TEST(res.inv.errors[0].source == "docker");  // sorted by source
    BOOST_TEST(res.inv.errors[0].code == "permission_denied");
    BOOST_TEST(res.inv.errors[1].source == "registry");
    BOOST_TEST(res.inv.errors[1].code == "internal_error");
    BOOST_TEST(res.inv.errors[1].message.find("boom from registry") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_sources_is_an_empty_inventory) {
    asio::io_context ioc;
    auto res = run_bounded(ioc, refresh_sources({}));
    BOOST_TEST(res.inv.software.empty());
    BOOST_TEST(res.reports.empty());
}

BOOST_AUTO_TEST_CASE(cancellation_is_prompt_and_leaves_no_work) {
    asio::io_context ioc;
    activity act;
    fake_source a("dpkg", 1h, software_result("dpkg", {"a"}), act);
    fake_source b("docker", 1h, container_result(), act);
    asio::cancellation_signal sig;
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, refresh_sources({{&a, 1h}, {&b, 1h}}),
                   asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr e, refresh_result) {
                       done = true;
                       error = e;
                   }));
    asio::steady_timer t(ioc, 50ms);
    t.async_wait([&](boost::system::error_code) { sig.emit(asio::cancellation_type::terminal); });
    const auto start = std::chrono::steady_clock::now();
    ioc.run_for(10s);
    BOOST_TEST(done);
    BOOST_TEST(ioc.stopped());  // nothing left pending
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    BOOST_TEST(act.cancelled == 2);
    BOOST_TEST(act.active == 0);
    BOOST_REQUIRE(error);
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
        BOOST_TEST((e.code() == asio::error::operation_aborted));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(worker_pool)

BOOST_AUTO_TEST_CASE(runs_on_the_pool_and_resumes_on_the_caller) {
    asio::io_context ioc;
    asio::thread_pool pool(2);
    const auto main_id = std::this_thread::get_id();
    std::thread::id work_id, resume_id;
    auto aw = [&]() -> asio::awaitable<int> {
        auto fn = [&] {
            work_id = std::this_thread::get_id();
            return 42;
        };
        auto [ep, v] = co_await async_run_on(pool.get_executor(), fn, asio::as_tuple(asio::use_awaitable));
        resume_id = std::this_thread::get_id();
        if (ep) std::rethrow_exception(ep);
        co_return v;
    };
    BOOST_TEST(run_bounded(ioc, aw()) == 42);
    BOOST_TEST((work_id != main_id));
    BOOST_TEST((resume_id == main_id));
    pool.join();
}

BOOST_AUTO_TEST_CASE(exceptions_travel_back) {
    asio::io_context ioc;
    asio::thread_pool pool(1);
    auto aw = [&]() -> asio::awaitable<int> {
        auto fn = []() -> int { throw std::runtime_error("parse exploded"); };
        auto [ep, v] = co_await async_run_on(pool.get_executor(), fn, asio::as_tuple(asio::use_awaitable));
        if (ep) std::rethrow_exception(ep);
        co_return v;
    };
    BOOST_CHECK_EXCEPTION(run_bounded(ioc, aw()), std::runtime_error,
                          [](const std::runtime_error& e) { return std::string(e.what()) == "parse exploded"; });
    pool.join();
}

BOOST_AUTO_TEST_CASE(cancellation_does_not_wait_for_blocking_work) {
    asio::io_context ioc;
    asio::thread_pool pool(1);
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<bool> finished{false};
    asio::cancellation_signal sig;
    bool done = false;
    std::exception_ptr error;
    auto fn = [released, &finished] {
        released.wait();  // blocks until the test lets go
        finished = true;
        return 1;
    };
    async_run_on(pool.get_executor(), fn,
                 asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(ioc, [&](std::exception_ptr e, int) {
                                                  done = true;
                                                  error = e;
                                              })));
    asio::steady_timer t(ioc, 20ms);
    t.async_wait([&](boost::system::error_code) { sig.emit(asio::cancellation_type::terminal); });
    ioc.run_for(5s);
    BOOST_TEST(done);
    BOOST_TEST(ioc.stopped());
    BOOST_TEST(!finished.load());  // completed while the work was still blocked
    BOOST_REQUIRE(error);
    BOOST_CHECK_THROW(std::rethrow_exception(error), boost::system::system_error);
    release.set_value();
    pool.join();  // the work ends; its late result is dropped
    BOOST_TEST(finished.load());
    ioc.restart();
    BOOST_TEST(ioc.poll() <= 1u);  // at most the dropped completion, which must not call the handler again
    BOOST_TEST(done);
}

BOOST_AUTO_TEST_SUITE_END()
