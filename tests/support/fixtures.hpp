#pragma once
// Test helpers: files, temp dirs, the shared cases, and running coroutines
// on an io_context with a bound (never a sleep).

#include "stocktake/core/inventory.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace stocktake::test {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p);
void write_text(const fs::path& p, std::string_view data);
fs::path cases_dir();  // ../shared/cases
std::vector<fs::path> cases_matching(std::string_view kind);  // e.g. "dpkg", "docker", "registry"

// A fresh directory under /tmp, removed (recursively) at destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(std::string_view s) const { return path_ / s; }

private:
    fs::path path_;
};

// Compares `actual` entries with a case's expected.json entries "as a set
// on the keys shown": each expected entry must appear once in actual with
// equal values for every key the expected entry has, and nothing more.
// Returns an empty string when equal, else a readable difference.
std::string compare_as_set(const boost::json::value& expected_array, const boost::json::value& actual_array);

// Parses text as JSON and throws with context on error.
boost::json::value parse_json(std::string_view text);

// The inventory as its RPort JSON object.
boost::json::value inventory_json(const inventory& inv);

// Runs `aw` on `ioc` until it completes or `limit` passes; rethrows its
// exception. Throws std::runtime_error if it did not complete in time.
// Afterwards the io_context must have no work left, else it throws too.
template <class T>
T run_bounded(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
              std::chrono::milliseconds limit = std::chrono::seconds{30}) {
    std::optional<T> result;
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
        done = true;
        error = e;
        if (!e) result.emplace(std::move(v));
    });
    ioc.restart();
    ioc.run_for(limit);
    if (!done) throw std::runtime_error("operation did not complete within the bound");
    if (!ioc.stopped()) {
        // Give already-queued completions a chance, then insist on idleness.
        ioc.poll();
        if (!ioc.stopped()) throw std::runtime_error("work was left on the io_context");
    }
    if (error) std::rethrow_exception(error);
    return std::move(*result);
}

}  // namespace stocktake::test
