#pragma once
// One line per event with its severity, on stderr. Under systemd (stderr
// connected to the journal, JOURNAL_STREAM set) each line starts with the
// syslog "<N>" prefix that journald turns into a priority.

#include <functional>
#include <string>
#include <string_view>

namespace stocktake::server {

enum class log_level { debug = 0, info, warning, error };

std::string_view level_name(log_level l) noexcept;
bool parse_log_level(std::string_view s, log_level& out) noexcept;

// Injected into the server: a threshold plus a sink. Thread-safe when the
// sink is (the default one writes each line with a single write(2)).
class logger {
public:
    using sink = std::function<void(log_level, std::string_view line)>;

    logger() = default;  // stderr, info
    logger(log_level threshold, sink s) : threshold_(threshold), sink_(std::move(s)) {}

    bool enabled(log_level l) const noexcept { return l >= threshold_; }
    void log(log_level l, std::string_view msg) const;
    void debug(std::string_view m) const { log(log_level::debug, m); }
    void info(std::string_view m) const { log(log_level::info, m); }
    void warning(std::string_view m) const { log(log_level::warning, m); }
    void error(std::string_view m) const { log(log_level::error, m); }
    void set_threshold(log_level l) noexcept { threshold_ = l; }

private:
    log_level threshold_ = log_level::info;
    sink sink_;
};

// The default sink: "<level>: <message>\n" to stderr, one write per line.
void stderr_sink(log_level l, std::string_view line);

}  // namespace stocktake::server
