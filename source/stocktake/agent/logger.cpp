#include "stocktake/agent/logger.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

namespace stocktake {

std::string_view level_word(log_level l) noexcept {
    switch (l) {
        case log_level::debug: return "debug";
        case log_level::info: return "info";
        case log_level::warning: return "warning";
        case log_level::error: return "error";
    }
    return "info";
}

logger::logger() : sink_(stderr_sink()) {}

namespace {
// "2026-12-03T16:44:37Z info message" (no newline).
std::string timestamped(log_level l, std::string_view msg) {
    std::string line;
    line.reserve(msg.size() + 40);
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
#ifdef _WIN32
    ::gmtime_s(&tm, &t);
#else
    ::gmtime_r(&t, &tm);
#endif
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    line += buf;
    line += level_word(l);
    line += ' ';
    for (char c : msg) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    return line;
}
}  // namespace

logger::sink logger::file_sink(const std::string& path, std::string& error) {
    // Keep one old generation: a file over 10 MiB at start becomes <path>.1.
    if (std::FILE* probe = std::fopen(path.c_str(), "rb")) {
        std::fseek(probe, 0, SEEK_END);
        const long size = std::ftell(probe);
        std::fclose(probe);
        if (size > 10L * 1024 * 1024) {
            const std::string old = path + ".1";
            std::remove(old.c_str());
            std::rename(path.c_str(), old.c_str());
        }
    }
    std::FILE* f = std::fopen(path.c_str(), "ab");
    if (!f) {
        error = "cannot open the log file " + path + ": " + std::strerror(errno);
        return {};
    }
    auto file = std::shared_ptr<std::FILE>(f, [](std::FILE* x) { std::fclose(x); });
    auto m = std::make_shared<std::mutex>();
    return [file, m](log_level l, std::string_view msg) {
        std::string line = timestamped(l, msg);
#ifdef _WIN32
        line += "\r\n";
#else
        line += "\n";
#endif
        std::lock_guard lock(*m);
        std::fwrite(line.data(), 1, line.size(), file.get());
        std::fflush(file.get());
    };
}

logger::sink logger::stderr_sink() {
    const bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
    return [journald](log_level l, std::string_view msg) {
        static std::mutex m;
        std::string line;
        line.reserve(msg.size() + 40);
        if (journald) {
            // sd-daemon(3) priority prefixes: err=3, warning=4, info=6, debug=7.
            const char* p = l == log_level::error ? "<3>" : l == log_level::warning ? "<4>" : l == log_level::info ? "<6>" : "<7>";
            line += p;
            for (char c : msg) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
        } else {
            line = timestamped(l, msg);
        }
        line.push_back('\n');
        std::lock_guard lock(m);
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
    };
}

}  // namespace stocktake
