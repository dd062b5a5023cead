#pragma once
// Change detection: dpkg rewrites its status file (and journal) on every
// package operation; inotify tells us, and after a quiet period (so one
// `apt upgrade` gives one refresh, not hundreds) we call `on_change`.

#include "stocktake/agent/logger.hpp"
#ifdef _WIN32
#include "stocktake/collect/registry_source.hpp"
#endif

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stocktake {

// Runs until cancelled. When the directory does not exist or inotify is
// unavailable it logs once and waits for cancellation (no polling).
boost::asio::awaitable<void> watch_dpkg(std::string admindir, std::chrono::milliseconds quiet,
                                        std::function<void()> on_change, logger log);

#ifdef _WIN32

// Windows: watches the Uninstall keys the registry source reads (by
// default machine_locations(): HKLM's two views and each loaded user hive)
// and calls `on_change` after a quiet period. Runs until cancelled.
boost::asio::awaitable<void> watch_registry(std::chrono::milliseconds quiet, std::function<void()> on_change, logger log,
                                            std::optional<std::vector<registry_location>> locations = std::nullopt);
#endif

}  // namespace stocktake
