#pragma once
// The inventory model: plain data, no I/O. Shaped after RPort's inventory
// object (see SPEC.md); extra fields (architecture, state, errors) ride along.

#include <chrono>
#include <string>
#include <vector>

namespace stocktake {

struct software_item {
    std::string package;
    std::string version;
    std::string summary;
    std::string architecture;  // dpkg only; empty for Windows programs
    std::string state;         // dpkg's third Status word; empty for Windows programs

    friend bool operator==(const software_item&, const software_item&) = default;
};

struct container_item {
    std::string container_id;
    std::string container_name;  // "/name" or empty
    std::string status;          // Docker's human status, e.g. "Up 3 hours"
    std::string image_id;
    std::string image_name;
    std::string state;           // created|running|paused|restarting|removing|exited|dead

    friend bool operator==(const container_item&, const container_item&) = default;
};

// One failed source. `code` is a short stable word, `message` is for an
// administrator: what failed and what to do about it.
struct source_error {
    std::string source;  // "dpkg" | "registry" | "docker"
    std::string code;
    std::string message;

    friend bool operator==(const source_error&, const source_error&) = default;
};

struct inventory {
    std::chrono::system_clock::time_point refreshed{};
    std::vector<software_item> software;
    std::vector<container_item> containers;
    std::vector<source_error> errors;
};

// Sorts software by (package, architecture, version, summary), containers by
// (name, id) and errors by source, so equal inputs give byte-equal output.
void sort_inventory(inventory& inv);

}  // namespace stocktake
