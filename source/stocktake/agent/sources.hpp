#pragma once
// Builds the configured sources (the wiring shared by `collect` and `run`).

#include "stocktake/agent/refresh.hpp"
#include "stocktake/collect/source.hpp"
#include "stocktake/config/config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <vector>

namespace stocktake {

struct source_set {
    std::vector<std::unique_ptr<source>> owned;
    std::vector<source_slot> slots() const;
    std::chrono::milliseconds timeout{60'000};
};

// `pool` runs blocking work (file parsing, registry enumeration).
source_set make_sources(const config& cfg, boost::asio::any_io_executor pool);

}  // namespace stocktake
