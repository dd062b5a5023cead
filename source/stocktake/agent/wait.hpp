#pragma once
// For the agent's loops that have nothing to do (no socket configured, no
// database to watch...): wait, without waking up, until cancelled; then
// throw system_error(operation_aborted) as any cancelled wait does.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace stocktake {

inline boost::asio::awaitable<void> wait_until_cancelled() {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, boost::asio::steady_timer::time_point::max());
    co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace stocktake
