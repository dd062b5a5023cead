#pragma once
// The agent as a library object: it lives on a caller's executor, hands
// blocking work to a worker pool, and offers completion-token operations,
// so it embeds in any Asio program. `main` only owns the io_context, the
// pool and the signals (see source/apps/stocktake/main.cpp and
// examples/embed.cpp).

#include "stocktake/agent/logger.hpp"
#include "stocktake/config/config.hpp"
#include "stocktake/core/inventory.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace stocktake {

// What one refresh produced, in brief (the answer to `stocktake refresh`).
struct refresh_summary {
    unsigned long long number = 0;  // 1 for the first refresh of this process
    std::chrono::system_clock::time_point refreshed{};
    std::chrono::milliseconds duration{};
    std::size_t software = 0;
    std::size_t containers = 0;
    std::vector<source_error> errors;
};

// One line for humans: "refresh 3: 937 packages, 16 containers, no errors in 41 ms".
std::string describe(const refresh_summary& s);

class agent {
public:
    // `ex`: where the agent runs (all its handlers and state live there; it
    // is not thread-safe, call it from that executor). `pool`: blocking work.
    agent(boost::asio::any_io_executor ex, boost::asio::any_io_executor pool, config cfg, logger log = {});
    ~agent();
    agent(const agent&) = delete;
    agent& operator=(const agent&) = delete;

    boost::asio::any_io_executor get_executor() const noexcept;

    // Runs the service: a refresh at once, then on the timer (±10 % jitter),
    // on triggers, on changes to the dpkg database; delivery to the server
    // when one is configured; the control socket when [control] socket is
    // set. Completion signature: void(std::exception_ptr). Completes after
    // terminal cancellation (per-operation, or stop()) with a null
    // exception_ptr once every refresh, upload and control connection has
    // been cancelled; with an exception for broken infrastructure (e.g. the
    // control socket cannot be bound). Only one run at a time.
    template <class Token>
    auto async_run(Token&& token) {
        return boost::asio::async_initiate<Token, void(std::exception_ptr)>(
            [this](auto handler) { do_run(std::move(handler)); }, token);
    }

    // Asks for a refresh and completes when one that started after the
    // request has finished. Requests made during a refresh coalesce into
    // one more. Works with or without async_run. Completion signature:
    // void(std::exception_ptr, refresh_summary); cancellation (terminal)
    // abandons the wait (the refresh itself goes on when async_run drives
    // it). Fails with operation_aborted when the agent stops meanwhile.
    template <class Token>
    auto async_refresh(Token&& token) {
        return boost::asio::async_initiate<Token, void(std::exception_ptr, refresh_summary)>(
            [this](auto handler) { do_refresh(std::move(handler)); }, token);
    }

    // Ends async_run (as terminal cancellation does). Idempotent.
    void stop();

    // Applies a new, already validated configuration: sources, interval,
    // server and socket take effect without dropping the last inventory.
    void reload(config cfg);

    const config& current_config() const noexcept;

    // JSON texts for the control socket and `stocktake status`.
    std::string status_json() const;
    std::string inventory_json() const;  // "{}" before the first refresh
    std::string summary_json(const refresh_summary& s) const;

    struct impl;

private:
    void do_run(boost::asio::any_completion_handler<void(std::exception_ptr)> h);
    void do_refresh(boost::asio::any_completion_handler<void(std::exception_ptr, refresh_summary)> h);

    std::shared_ptr<impl> impl_;
};

}  // namespace stocktake
