#pragma once
// Small blocking file helpers with errors an administrator can act on.

#include "stocktake/core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace stocktake {

// Reads a whole regular file. On failure returns false and fills `err`
// with permission_denied/unreadable and a message naming the path and cause.
bool read_file(const std::string& path, std::string& out, failure& err);

// Lists the names in a directory (no "." or ".."). `exists` is false when
// the directory does not exist (ENOENT/ENOTDIR), which is not an error.
bool list_dir(const std::string& path, std::vector<std::string>& names, bool& exists, failure& err);

// "Permission denied" etc. for errno.
std::string errno_text(int e);

// Maps an errno from opening/reading `path` to a failure.
failure file_failure(std::string_view what, const std::string& path, int e);

}  // namespace stocktake
