#include "stocktake/collect/file_io.hpp"

#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stocktake {
namespace {
#ifdef _WIN32
constexpr int read_flags = O_RDONLY | O_BINARY;  // no CRLF translation
#else
constexpr int read_flags = O_RDONLY | O_CLOEXEC;
#endif
}  // namespace

std::string errno_text(int e) { return std::strerror(e); }

failure file_failure(std::string_view what, const std::string& path, int e) {
    failure f;
    f.code = e == EACCES || e == EPERM ? errc::permission_denied : errc::unreadable;
    f.message = "cannot " + std::string(what) + " " + path + ": " + errno_text(e);
    if (f.code == errc::permission_denied)
        f.message += " (run the agent as a user that may read it, e.g. root or a member of its group)";
    return f;
}

bool read_file(const std::string& path, std::string& out, failure& err) {
    const int fd = ::open(path.c_str(), read_flags);
    if (fd < 0) {
        err = file_failure("open", path, errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        err = file_failure("stat", path, errno);
        ::close(fd);
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        err = file_failure("read", path, EISDIR);
        ::close(fd);
        return false;
    }
    out.clear();
    // Files can change size while we read (dpkg rewrites status atomically,
    // so normally they do not): read until EOF rather than trusting st_size.
    std::size_t cap = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 65536;
    out.resize(cap);
    std::size_t len = 0;
    for (;;) {
        if (len == out.size()) out.resize(out.size() * 2);
        const ssize_t n = ::read(fd, out.data() + len, out.size() - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = file_failure("read", path, errno);
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
    }
    out.resize(len);
    ::close(fd);
    return true;
}

bool list_dir(const std::string& path, std::vector<std::string>& names, bool& exists, failure& err) {
    names.clear();
    exists = true;
    DIR* d = ::opendir(path.c_str());
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) {
            exists = false;
            return true;
        }
        err = file_failure("open directory", path, errno);
        return false;
    }
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    const int e = errno;
    ::closedir(d);
    if (e != 0) {
        err = file_failure("read directory", path, e);
        return false;
    }
    return true;
}

}  // namespace stocktake
