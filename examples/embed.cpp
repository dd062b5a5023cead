// Embedding the Stocktake agent in another program's Asio event loop.
//
// The host program owns the io_context (and a small pool for blocking
// work); the agent is just another object on it. Here the host also runs
// its own periodic work (a heartbeat), asks the agent for a refresh with a
// completion token (a coroutine, use_awaitable), prints what it got, and
// shuts everything down. Usage: stocktake-embed-example [dpkg-admindir]

#include "stocktake/agent/agent.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
    asio::io_context ioc;
    asio::thread_pool pool(1);

    stocktake::config cfg;  // plain structs: fill in what you need
    if (argc > 1) cfg.inventory.dpkg_admindir = argv[1];
    cfg.inventory.sources = {"dpkg"};
    cfg.control.socket.clear();           // the host has its own control plane
    cfg.client.inventory_interval = 0s;  // refresh when we ask
    stocktake::logger quiet(stocktake::log_level::warning, stocktake::logger::stderr_sink());
    stocktake::agent agent(ioc.get_executor(), pool.get_executor(), cfg, quiet);

    // The host's own work.
    int heartbeats = 0;
    asio::steady_timer heartbeat(ioc);
    bool stopping = false;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        while (!stopping) {
            heartbeat.expires_after(1ms);
            co_await heartbeat.async_wait(asio::use_awaitable);
            ++heartbeats;
        }
    }, asio::detached);

    // The agent's service loop, cancelled at the end by stop().
    agent.async_run([](std::exception_ptr e) {
        if (e) std::cerr << "agent stopped with an error\n";
    });

    // A refresh on demand, awaited from a coroutine of the host.
    int status = 1;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        auto summary = co_await agent.async_refresh(asio::use_awaitable);
        std::cout << "agent: " << stocktake::describe(summary) << "\n";
        std::cout << "host: " << heartbeats << " heartbeats meanwhile\n";
        status = summary.errors.empty() ? 0 : 2;
        stopping = true;
        agent.stop();
    }, asio::detached);

    ioc.run();  // returns once the agent and the host's work are done
    pool.join();
    std::cout << "host: event loop drained, exiting\n";
    return status;
}
