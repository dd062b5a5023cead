#pragma once
// Runs blocking work on a worker pool and completes on the caller's
// executor (the pattern of Asio's cpp20 callback_wrapper example).

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace stocktake {

// async_run_on(pool_executor, f, token)
//
// Completion signature: void(std::exception_ptr, R) where R = f's result.
// `f` runs on `pool`; the handler runs on its own associated executor.
// Cancellation (any type) completes the operation at once with an
// exception_ptr holding system_error(operation_aborted); `f` still runs
// to its end on the pool and its result is dropped. The pool must be
// joined before the caller's execution context is destroyed.
//
// async_run_on(pool_executor, f, on_cancel, token) also calls `on_cancel()`
// (from the cancelling thread) when the operation is cancelled, so that `f`
// can be made to return early (close the handle it blocks on, say).
template <class Executor, class F, class OnCancel, class Token>
auto async_run_on(Executor pool, F f, OnCancel on_cancel, Token&& token) {
    using R = std::invoke_result_t<F&>;
    static_assert(std::is_default_constructible_v<R>, "async_run_on needs a default-constructible result");
    return boost::asio::async_initiate<Token, void(std::exception_ptr, R)>(
        [pool, on_cancel = std::move(on_cancel)](auto handler, F fn) mutable {
            using H = decltype(handler);
            struct state {
                explicit state(H h)
                    : handler(std::move(h)),
                      work(boost::asio::make_work_guard(boost::asio::get_associated_executor(*handler))) {}
                std::optional<H> handler;
                boost::asio::executor_work_guard<boost::asio::associated_executor_t<H>> work;
                std::atomic<bool> claimed{false};
            };
            auto st = std::make_shared<state>(std::move(handler));
            auto ex = boost::asio::get_associated_executor(*st->handler);
            auto slot = boost::asio::get_associated_cancellation_slot(*st->handler);
            if (slot.is_connected()) {
                slot.assign([st, ex, on_cancel](boost::asio::cancellation_type) {
                    if (st->claimed.exchange(true)) return;
                    on_cancel();
                    boost::asio::post(ex, [st] {
                        auto h = std::move(*st->handler);
                        st->handler.reset();
                        st->work.reset();
                        std::move(h)(std::make_exception_ptr(boost::system::system_error(boost::asio::error::operation_aborted)), R{});
                    });
                });
            }
            boost::asio::post(pool, [st, ex, fn = std::move(fn)]() mutable {
                if (st->claimed.load()) return;  // cancelled before it started
                std::exception_ptr ep;
                R r{};
                try {
                    r = fn();
                } catch (...) {
                    ep = std::current_exception();
                }
                boost::asio::post(ex, [st, ep, r = std::move(r)]() mutable {
                    if (st->claimed.exchange(true)) return;
                    auto s = boost::asio::get_associated_cancellation_slot(*st->handler);
                    if (s.is_connected()) s.clear();
                    auto h = std::move(*st->handler);
                    st->handler.reset();
                    st->work.reset();
                    std::move(h)(ep, std::move(r));
                });
            });
        },
        token, std::move(f));
}

template <class Executor, class F, class Token>
auto async_run_on(Executor pool, F f, Token&& token) {
    return async_run_on(std::move(pool), std::move(f), [] {}, std::forward<Token>(token));
}

}  // namespace stocktake
