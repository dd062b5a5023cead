#pragma once
// The dpkg source: reads an admin directory (status, updates/, status.d/)
// and reports the installed packages.

#include "stocktake/collect/source.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

namespace stocktake {

struct dpkg_options {
    std::string admindir = "/var/lib/dpkg";
};

// Blocking: reads and parses the admin directory as dpkg does. A missing
// directory is outcome absent; an unreadable file is outcome failed with
// a message naming the path and the cause.
source_result read_dpkg_admindir(const dpkg_options& opts);

// The source runs read_dpkg_admindir on `pool` and resumes on the caller's
// executor.
std::unique_ptr<source> make_dpkg_source(dpkg_options opts, boost::asio::any_io_executor pool);

}  // namespace stocktake
