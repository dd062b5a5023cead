#pragma once
// An injected logger (as Boost.Redis does it): a level and a sink. One line
// per event; the default sink writes journald-friendly lines to stderr.

#include <functional>
#include <string>
#include <string_view>

namespace stocktake {

enum class log_level { debug = 0, info, warning, error };

std::string_view level_word(log_level l) noexcept;

class logger {
public:
    using sink = std::function<void(log_level, std::string_view)>;

    logger();  // stderr, info and up
    logger(log_level min, sink s) : min_(min), sink_(std::move(s)) {}

    void log(log_level l, std::string_view msg) const {
        if (l >= min_ && sink_) sink_(l, msg);
    }
    void debug(std::string_view m) const { log(log_level::debug, m); }
    void info(std::string_view m) const { log(log_level::info, m); }
    void warn(std::string_view m) const { log(log_level::warning, m); }
    void error(std::string_view m) const { log(log_level::error, m); }

    // The stderr sink: "<6>message" under journald (JOURNAL_STREAM set),
    // else "2026-12-03T16:44:37Z info message". Newlines are folded so an
    // event is always one line.
    static sink stderr_sink();

    // Appends "2026-12-03T16:44:37Z info message" lines to `path` (for the
    // Windows service, which has no stderr). A file over 10 MiB at start is
    // kept as <path>.1. Returns an empty sink and sets `error` when the
    // file cannot be opened.
    static sink file_sink(const std::string& path, std::string& error);

private:
    log_level min_ = log_level::info;
    sink sink_;
};

}  // namespace stocktake
