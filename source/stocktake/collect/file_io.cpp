#include "stocktake/collect/file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _WIN32
#include "stocktake/core/win32.hpp"

#include <aclapi.h>
#include <sddl.h>
#endif

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

#ifdef _WIN32
namespace {
constexpr const wchar_t* private_dir_sddl = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)";

struct local_free {
    void* p = nullptr;
    ~local_free() {
        if (p) ::LocalFree(p);
    }
};

std::string sid_text(PSID sid) {
    wchar_t name[256], domain[256];
    DWORD n = 256, d = 256;
    SID_NAME_USE use;
    if (::LookupAccountSidW(nullptr, sid, name, &n, domain, &d, &use))
        return win32::narrow(std::wstring(domain) + (d ? L"\\" : L"") + name);
    LPWSTR s = nullptr;
    if (::ConvertSidToStringSidW(sid, &s)) {
        std::string out = win32::narrow(s);
        ::LocalFree(s);
        return out;
    }
    return "an unknown account";
}

bool is_current_user(PSID sid) {
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
    alignas(TOKEN_USER) unsigned char buf[256];
    DWORD n = 0;
    const bool ok = ::GetTokenInformation(token, TokenUser, buf, sizeof buf, &n) &&
                    ::EqualSid(reinterpret_cast<TOKEN_USER*>(buf)->User.Sid, sid);
    ::CloseHandle(token);
    return ok;
}
}  // namespace

bool make_private_dir(const std::string& dir, std::string& why) {
    const std::wstring w = win32::widen(dir);
    local_free sd;
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(private_dir_sddl, SDDL_REVISION_1, &sd.p, nullptr)) {
        why = dir + ": cannot build a security descriptor: " + win32::error_text(::GetLastError());
        return false;
    }
    const DWORD attrs = ::GetFileAttributesW(w.c_str());
    if (attrs == INVALID_FILE_ATTRIBUTES) {
        SECURITY_ATTRIBUTES sa{sizeof sa, sd.p, FALSE};
        if (!::CreateDirectoryW(w.c_str(), &sa) && ::GetLastError() != ERROR_ALREADY_EXISTS) {
            why = "cannot create " + dir + ": " + win32::error_text(::GetLastError());
            return false;
        }
        return true;
    }
    if (!(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
        why = dir + " exists and is not a folder";
        return false;
    }
    if (attrs & FILE_ATTRIBUTE_REPARSE_POINT) {
        why = dir + " is a junction or link; refusing to keep the agent's state there (remove it)";
        return false;
    }
    PSID owner = nullptr;
    local_free osd;
    if (::GetNamedSecurityInfoW(w.c_str(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &owner, nullptr, nullptr, nullptr,
                                &osd.p) == ERROR_SUCCESS &&
        owner && !::IsWellKnownSid(owner, WinLocalSystemSid) && !::IsWellKnownSid(owner, WinBuiltinAdministratorsSid) &&
        !is_current_user(owner)) {
        why = dir + " is owned by " + sid_text(owner) +
              ", not by SYSTEM or an administrator; another user may have made it: remove it (or choose another data_dir)";
        return false;
    }
    BOOL present = FALSE, defaulted = FALSE;
    PACL dacl = nullptr;
    ::GetSecurityDescriptorDacl(sd.p, &present, &dacl, &defaulted);
    const DWORD st = ::SetNamedSecurityInfoW(const_cast<wchar_t*>(w.c_str()), SE_FILE_OBJECT,
                                             DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                             dacl, nullptr);
    if (st != ERROR_SUCCESS) {
        why = "cannot restrict access to " + dir + ": " + win32::error_text(st);
        return false;
    }
    return true;
}

bool write_file_atomically(const std::string& dir, const std::string& name, std::string_view data, std::string& why) {
    const std::wstring wdir = win32::widen(dir);
    if (::GetFileAttributesW(wdir.c_str()) == INVALID_FILE_ATTRIBUTES && !make_private_dir(dir, why)) return false;
    const std::string tmp = path_join(dir, "." + name + ".tmp");
    const std::string dst = path_join(dir, name);
    const std::wstring wtmp = win32::widen(tmp), wdst = win32::widen(dst);
    HANDLE h = ::CreateFileW(wtmp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        why = "cannot write " + tmp + ": " + win32::error_text(::GetLastError());
        return false;
    }
    std::size_t off = 0;
    bool ok = true;
    while (ok && off < data.size()) {
        DWORD n = 0;
        const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(data.size() - off, 1u << 30));
        ok = ::WriteFile(h, data.data() + off, chunk, &n, nullptr) != 0;
        off += n;
    }
    if (ok) ok = ::FlushFileBuffers(h) != 0;
    const DWORD werr = ::GetLastError();
    ::CloseHandle(h);
    if (!ok) {
        why = "cannot write " + tmp + ": " + win32::error_text(werr);
        ::DeleteFileW(wtmp.c_str());
        return false;
    }
    if (!::MoveFileExW(wtmp.c_str(), wdst.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        why = "cannot replace " + dst + ": " + win32::error_text(::GetLastError());
        ::DeleteFileW(wtmp.c_str());
        return false;
    }
    return true;
}

void remove_file(const std::string& path) { ::DeleteFileW(win32::widen(path).c_str()); }
#else
bool make_private_dir(const std::string& dir, std::string& why) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        why = "cannot create " + dir + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

bool write_file_atomically(const std::string& dir, const std::string& name, std::string_view data, std::string& why) {
    if (!make_private_dir(dir, why)) return false;
    const std::string tmp = path_join(dir, "." + name + ".tmp");
    const std::string dst = path_join(dir, name);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        why = "cannot write " + tmp + ": " + std::strerror(errno);
        return false;
    }
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            why = "cannot write " + tmp + ": " + std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        why = "cannot flush " + tmp + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    if (::rename(tmp.c_str(), dst.c_str()) != 0) {
        why = "cannot replace " + dst + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

void remove_file(const std::string& path) { ::unlink(path.c_str()); }
#endif

}  // namespace stocktake
