#include "stocktake/agent/logger.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
        } else {
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
        }
        for (char c : msg) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
        line.push_back('\n');
        std::lock_guard lock(m);
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
    };
}

}  // namespace stocktake
