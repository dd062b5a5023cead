#pragma once
// One refresh: every source runs concurrently under its own timeout and the
// results are merged into one inventory. A failing or slow source never
// fails or delays the others beyond its own timeout.

#include "stocktake/collect/source.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace stocktake {

struct source_slot {
    source* src = nullptr;  // not owned; must outlive the refresh
    std::chrono::milliseconds timeout{60'000};
};

// What one source did in one refresh (for logs and `stocktake status`).
struct source_report {
    std::string source;
    std::string outcome;  // "ok" | "absent" | "failed" | "timeout"
    std::chrono::steady_clock::duration elapsed{};
    std::size_t items = 0;
    std::string detail;
    std::vector<std::string> warnings;
    std::optional<source_error> error;
};

struct refresh_result {
    inventory inv;  // sorted; `refreshed` is when the last source finished
    std::vector<source_report> reports;  // in the order of the slots
};

// Completes on the awaiting coroutine's executor. Cancellation (terminal)
// cancels every source and throws system_error(operation_aborted) promptly;
// no operation is left pending on the executor afterwards.
boost::asio::awaitable<refresh_result> refresh_sources(std::vector<source_slot> slots);

// Merges results as refresh_sources does (exposed for tests).
refresh_result merge_results(std::vector<source_result> results);

}  // namespace stocktake
