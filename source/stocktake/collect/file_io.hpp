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

// dir + separator + name ('\\' on Windows, '/' elsewhere).
inline std::string path_join(const std::string& dir, std::string_view name) {
#ifdef _WIN32
    constexpr char sep = '\\';
#else
    constexpr char sep = '/';
#endif
    std::string out = dir;
    if (!out.empty() && out.back() != sep && out.back() != '/') out.push_back(sep);
    out += name;
    return out;
}

// Writes dir/name so that a crash leaves either the old or the new file,
// never a torn one: a temporary file, flushed to disk, renamed over the
// old one. Creates `dir` (owner only) when missing. On failure returns
// false and sets `why` (naming the file and the cause).
bool write_file_atomically(const std::string& dir, const std::string& name, std::string_view data, std::string& why);

// Creates `dir` for private state when missing. Linux: mode 0700. Windows:
// a protected DACL granting SYSTEM, Administrators and the owner only; an
// existing folder must be a real directory (no junction or link) owned by
// SYSTEM, Administrators or this process's user, and gets that DACL.
// On failure returns false and sets `why` (naming the folder).
bool make_private_dir(const std::string& dir, std::string& why);

// Removes a file; a missing one is not an error.
void remove_file(const std::string& path);

// "Permission denied" etc. for errno.
std::string errno_text(int e);

// Maps an errno from opening/reading `path` to a failure.
failure file_failure(std::string_view what, const std::string& path, int e);

}  // namespace stocktake
