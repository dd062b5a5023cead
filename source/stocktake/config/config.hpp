#pragma once
// Agent configuration: plain structs with documented defaults, filled from
// TOML in one place (config.cpp) and validated before anything starts.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake {

struct client_config {
    std::optional<std::string> server;  // https://host:port; unset = collect only
    std::optional<std::string> auth;    // "<auth-id>:<password>" (STOCKTAKE_AUTH wins)
    std::string id;                     // default: /etc/machine-id
    std::string name;                   // default: the host name
    std::chrono::seconds inventory_interval{std::chrono::hours{4}};  // 0 = no timer
#ifdef _WIN32
    std::string data_dir = "C:\\ProgramData\\Stocktake";  // %ProgramData%\Stocktake, see apply_defaults
#else
    std::string data_dir = "/var/lib/stocktake";
#endif
    std::optional<std::string> ca_file;  // an extra CA to trust for `server`
    std::chrono::milliseconds retry_min{1'000};   // upload backoff: first retry
    std::chrono::milliseconds retry_max{60'000};  // upload backoff: cap
};

struct inventory_config {
    bool all_containers = true;              // containers = "all" | "running"
    std::optional<std::string> docker_host;  // DOCKER_HOST wins
    std::string dpkg_admindir = "/var/lib/dpkg";
#ifdef _WIN32
    std::vector<std::string> sources = {"registry", "docker"};  // which collectors run
#else
    std::vector<std::string> sources = {"dpkg", "docker"};  // which collectors run
#endif
    std::chrono::milliseconds source_timeout{60'000};       // per source, per refresh
    std::chrono::milliseconds docker_step_timeout{10'000};   // per Docker API step
    std::size_t docker_page_size = 100;
    // After a change to the dpkg database, refresh once it has been quiet
    // this long (one `apt upgrade`, one refresh); 0 = do not watch.
    std::chrono::milliseconds watch_quiet{5'000};
};

struct control_config {
#ifdef _WIN32
    std::string socket = "\\\\.\\pipe\\stocktake";
#else
    std::string socket = "/run/stocktake/stocktake.sock";
#endif
};

struct config {
    client_config client;
    inventory_config inventory;
    control_config control;
    std::string path;  // the file it came from, empty for built-in defaults
};

inline constexpr std::string_view default_config_path = "/etc/stocktake/stocktake.conf";

// Parses TOML text. On error returns false and sets `error` to
// "<source>:<line>:<column>: <key>: <problem>". Identity defaults (id,
// name) are not filled here; see apply_defaults.
bool parse_config(std::string_view text, std::string_view source_name, config& out, std::string& error);

// Loads a file (see parse_config). A missing file is an error.
bool load_config_file(const std::string& path, config& out, std::string& error);

// Which file to read: `cli` (--config) wins, then STOCKTAKE_CONFIG, then the
// default path. `required` is false only for the default path, which may be
// absent (then built-in defaults apply).
struct config_location {
    std::string path;
    bool required = false;
};
config_location locate_config(const std::optional<std::string>& cli);

// Fills id (/etc/machine-id) and name (host name) when unset, and applies
// STOCKTAKE_AUTH. Returns false with `error` if no id can be found and
// a server is configured.
bool apply_defaults(config& c, std::string& error);

// An absolute path on this platform (/x; on Windows C:\x or \\server\share).
bool is_absolute_path(std::string_view p);

// "4h", "30m", "90s", "1h30m", "500ms", "0". Returns nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);

}  // namespace stocktake
