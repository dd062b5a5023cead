#pragma once
// Change detection: dpkg rewrites its status file (and journal) on every
// package operation; inotify tells us, and after a quiet period (so one
// `apt upgrade` gives one refresh, not hundreds) we call `on_change`.

#include "stocktake/agent/logger.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace stocktake {

// Runs until cancelled. When the directory does not exist or inotify is
// unavailable it logs once and waits for cancellation (no polling).
boost::asio::awaitable<void> watch_dpkg(std::string admindir, std::chrono::milliseconds quiet,
                                        std::function<void()> on_change, logger log);

}  // namespace stocktake
