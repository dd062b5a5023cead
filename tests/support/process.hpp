#pragma once
// Runs reference programs (docker, dpkg-query, our own CLI) through
// Boost.Process v2 and captures what they print.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stocktake::test {

struct process_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// Runs `exe` with `args`. `env` entries replace or add variables of the
// current environment (a nullopt value removes one). Throws if `exe`
// cannot be started or does not end within `limit`.
process_result run_process(const std::string& exe, const std::vector<std::string>& args,
                           const std::map<std::string, std::optional<std::string>>& env = {},
                           std::chrono::seconds limit = std::chrono::seconds{120});

// Full path of a program found on PATH, or empty.
std::string find_program(const std::string& name);

}  // namespace stocktake::test
