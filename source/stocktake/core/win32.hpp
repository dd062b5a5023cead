#pragma once
// Small helpers for the Windows-only code: UTF-8 <-> UTF-16 and error text.
// Include only from .cpp files built for Windows (it pulls in <windows.h>).

#ifndef _WIN32
#error "win32.hpp is for the Windows build only"
#endif

#include "stocktake/core/utf8.hpp"

#include <windows.h>

#include <string>
#include <string_view>

namespace stocktake::win32 {

inline std::wstring widen(std::string_view s) {
    if (s.empty()) return {};
    const int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n > 0 ? n : 0), L'\0');
    if (n > 0) ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n);
    return out;
}

inline std::string narrow(std::wstring_view s) {
    return utf8::from_utf16(std::u16string_view(reinterpret_cast<const char16_t*>(s.data()), s.size()));
}

// "Access is denied. (5)": the system's text for a Win32 error code.
inline std::string error_text(DWORD code, HMODULE module = nullptr) {
    wchar_t* buf = nullptr;
    const DWORD flags = FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_IGNORE_INSERTS |
                        (module ? FORMAT_MESSAGE_FROM_HMODULE : FORMAT_MESSAGE_FROM_SYSTEM);
    const DWORD n = ::FormatMessageW(flags, module, code, 0, reinterpret_cast<wchar_t*>(&buf), 0, nullptr);
    std::string out;
    if (n && buf) {
        out = narrow(std::wstring_view(buf, n));
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '.')) out.pop_back();
    }
    if (buf) ::LocalFree(buf);
    if (out.empty()) out = "error";
    return out + " (" + std::to_string(code) + ")";
}

// This executable's full path ("" when it cannot be had).
inline std::wstring exe_path() {
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {
        const DWORD n = ::GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
        if (n == 0) return {};
        if (n < path.size()) {
            path.resize(n);
            return path;
        }
        path.resize(path.size() * 2);
    }
}

// Closes a HANDLE on scope exit.
struct handle_guard {
    HANDLE h = nullptr;
    explicit handle_guard(HANDLE x = nullptr) : h(x) {}
    handle_guard(const handle_guard&) = delete;
    handle_guard& operator=(const handle_guard&) = delete;
    ~handle_guard() {
        if (h && h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
    }
    HANDLE release() {
        HANDLE x = h;
        h = nullptr;
        return x;
    }
};

}  // namespace stocktake::win32
