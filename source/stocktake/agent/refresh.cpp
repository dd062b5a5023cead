#include "stocktake/agent/refresh.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <variant>

namespace stocktake {
namespace asio = boost::asio;

source_result failed_result(std::string_view source, std::string_view code, std::string message) {
    source_result r;
    r.source = std::string(source);
    r.outcome = source_outcome::failed;
    r.error = source_error{std::string(source), std::string(code), std::move(message)};
    return r;
}

namespace {

std::string seconds_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

// Turns every failure but cancellation into the source's own result, so a
// throwing source completes at once (awaitable `||` waits for the first
// *success*, so a bare exception would otherwise wait for the timeout).
asio::awaitable<source_result> guarded(source* src) {
    const std::string name(src->name());
    try {
        co_return co_await src->collect();
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        co_return failed_result(name, "internal_error", "the " + name + " source failed unexpectedly: " + std::string(e.what()));
    } catch (const std::exception& e) {
        co_return failed_result(name, "internal_error", "the " + name + " source failed unexpectedly: " + std::string(e.what()));
    }
}

asio::awaitable<source_result> run_one(source_slot slot) {
    using namespace asio::experimental::awaitable_operators;
    const auto start = std::chrono::steady_clock::now();
    const std::string name(slot.src->name());
    asio::steady_timer timer(co_await asio::this_coro::executor, slot.timeout);
    source_result r;
    std::variant<source_result, std::monostate> v;
    try {
        auto race = guarded(slot.src) || timer.async_wait(asio::use_awaitable);
        v = co_await std::move(race);
    } catch (const asio::multiple_exceptions& e) {
        // Both sides were cancelled: report the cancellation itself.
        std::rethrow_exception(e.first_exception());
    }
    if (v.index() == 0) {
        r = std::move(std::get<0>(v));
    } else {
        r = failed_result(name, "timeout",
                          "the " + name + " source did not finish within " + seconds_text(slot.timeout) +
                              "; it was stopped so the other sources could be reported");
    }
    if (r.source.empty()) r.source = name;
    r.elapsed = std::chrono::steady_clock::now() - start;
    co_return r;
}

}  // namespace

refresh_result merge_results(std::vector<source_result> results) {
    refresh_result out;
    for (auto& r : results) {
        source_report rep;
        rep.source = r.source;
        rep.elapsed = r.elapsed;
        rep.detail = r.detail;
        rep.items = r.software.size() + r.containers.size();
        rep.warnings = std::move(r.warnings);
        switch (r.outcome) {
            case source_outcome::ok: rep.outcome = "ok"; break;
            case source_outcome::absent: rep.outcome = "absent"; break;
            case source_outcome::failed:
                rep.outcome = r.error && r.error->code == "timeout" ? "timeout" : "failed";
                break;
            case source_outcome::partial: rep.outcome = "partial"; break;
        }
        if (r.outcome == source_outcome::failed || r.outcome == source_outcome::partial) {
            source_error e = r.error.value_or(source_error{r.source, "failed", "the " + r.source + " source failed"});
            rep.error = e;
            out.inv.errors.push_back(std::move(e));
        }
        if (r.outcome != source_outcome::failed) {
            // The first source's vectors are taken whole (no copy, no page
            // faults for a second buffer); later ones are appended.
            auto take = [](auto& dst, auto& src) {
                if (dst.empty())
                    dst = std::move(src);
                else
                    std::move(src.begin(), src.end(), std::back_inserter(dst));
            };
            take(out.inv.software, r.software);
            take(out.inv.containers, r.containers);
        }
        out.reports.push_back(std::move(rep));
    }
    out.inv.refreshed = std::chrono::system_clock::now();
    sort_inventory(out.inv);
    return out;
}

asio::awaitable<refresh_result> refresh_sources(std::vector<source_slot> slots) {
    auto ex = co_await asio::this_coro::executor;
    using op_t = decltype(asio::co_spawn(ex, run_one(source_slot{}), asio::deferred));
    std::vector<op_t> ops;
    ops.reserve(slots.size());
    for (const auto& s : slots) ops.push_back(asio::co_spawn(ex, run_one(s), asio::deferred));

    std::vector<source_result> results(slots.size());
    if (!ops.empty()) {
        auto group = asio::experimental::make_parallel_group(std::move(ops));
        auto wait = group.async_wait(asio::experimental::wait_for_all(), asio::deferred);
        auto [order, exceptions, values] = co_await std::move(wait)(asio::use_awaitable);
        for (std::size_t i = 0; i < exceptions.size(); ++i) {
            if (exceptions[i]) std::rethrow_exception(exceptions[i]);  // only cancellation gets here
        }
        results = std::move(values);
    }
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted);
    co_return merge_results(std::move(results));
}

}  // namespace stocktake
