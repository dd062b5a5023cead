#include "stocktake/server/log.hpp"

#include <cstdlib>

#include <unistd.h>

namespace stocktake::server {

std::string_view level_name(log_level l) noexcept {
    switch (l) {
        case log_level::debug: return "debug";
        case log_level::info: return "info";
        case log_level::warning: return "warning";
        case log_level::error: return "error";
    }
    return "info";
}

bool parse_log_level(std::string_view s, log_level& out) noexcept {
    for (auto l : {log_level::debug, log_level::info, log_level::warning, log_level::error}) {
        if (s == level_name(l)) {
            out = l;
            return true;
        }
    }
    return false;
}

void logger::log(log_level l, std::string_view msg) const {
    if (!enabled(l)) return;
    if (sink_)
        sink_(l, msg);
    else
        stderr_sink(l, msg);
}

void stderr_sink(log_level l, std::string_view msg) {
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    std::string line;
    line.reserve(msg.size() + 16);
    if (journal) {
        static constexpr const char* prio[] = {"<7>", "<6>", "<4>", "<3>"};
        line += prio[static_cast<int>(l)];
    }
    line += level_name(l);
    line += ": ";
    for (char c : msg) line.push_back(c == '\n' || c == '\r' ? ' ' : c);  // one event, one line
    line += '\n';
    std::size_t off = 0;
    while (off < line.size()) {
        const auto n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
}

}  // namespace stocktake::server
