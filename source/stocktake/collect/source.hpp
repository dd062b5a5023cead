#pragma once
// The collector interface: one per inventory source (dpkg, registry, docker).
// A source never throws for expected failures: it reports them in its result.

#include "stocktake/core/inventory.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake {

// partial: some parts of the source failed (one registry hive denied) and
// `error` says which, while the items read from the other parts count.
enum class source_outcome { ok, absent, failed, partial };

struct source_result {
    std::string source;  // "dpkg" | "registry" | "docker"
    source_outcome outcome = source_outcome::ok;
    std::vector<software_item> software;
    std::vector<container_item> containers;
    std::optional<source_error> error;  // set iff outcome == failed or partial
    std::vector<std::string> warnings;  // non-fatal: skipped stanzas, odd entries
    std::string detail;                 // where it read from, e.g. "unix:///var/run/docker.sock (API 1.41)"
    std::chrono::steady_clock::duration elapsed{};
};

source_result failed_result(std::string_view source, std::string_view code, std::string message);

class source {
public:
    virtual ~source() = default;
    virtual std::string_view name() const noexcept = 0;

    // Collects once. Runs on the awaiting coroutine's executor (blocking work
    // goes to the worker pool the source was given). Cancellation (terminal)
    // makes it finish promptly by throwing boost::system::system_error with
    // operation_aborted; every other failure is reported in the result.
    virtual boost::asio::awaitable<source_result> collect() = 0;
};

}  // namespace stocktake
