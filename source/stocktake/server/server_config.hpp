#pragma once
// stocktake-server configuration: plain structs with documented defaults,
// filled from TOML in one place (server_config.cpp) and validated before
// anything starts. Errors read "<file>:<line>:<column>: <key>: <problem>".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace stocktake::server {

// Where a key was written, for errors found after parsing (a file that does
// not exist, a certificate that does not load).
struct key_location {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

struct listen_address {
    std::string host;  // an IP literal without brackets; "" = every interface
    std::uint16_t port = 8443;
};

struct server_section {
    listen_address listen{"0.0.0.0", 8443};
    std::string data_dir = "/var/lib/stocktake-server";
    std::optional<std::string> tls_cert;  // with tls_key: HTTPS; both unset: plain HTTP
    std::optional<std::string> tls_key;
    std::string client_auth_file;          // required: "<auth-id>:<password>" per line
    std::size_t max_body = 16u << 20;      // decoded (decompressed) body limit
    std::size_t max_connections = 1024;    // accepting pauses at this many
    std::chrono::milliseconds idle_timeout{30'000};     // keep-alive: next request header complete
    std::chrono::milliseconds request_timeout{60'000};  // a whole request body
    std::chrono::milliseconds shutdown_grace{10'000};   // SIGTERM: in-flight requests get this long
    std::string log_level = "info";                     // debug | info | warning | error
};

struct api_section {
    std::optional<std::string> auth;       // "user:pass"
    std::optional<std::string> auth_file;  // same format as client_auth_file
};

struct server_config {
    server_section server;
    api_section api;
    std::string path;                              // the file it came from
    std::map<std::string, key_location> locations;  // "server.tls_cert" -> where it was set
};

// Parses TOML text. Checks types, units and syntax only (no file access).
// On error returns false and sets `error`.
bool parse_server_config(std::string_view text, std::string_view source_name, server_config& out, std::string& error);

// Loads and parses a file, then validate_server_config().
bool load_server_config_file(const std::string& path, server_config& out, std::string& error);

// The checks that touch the system: data_dir usable (created if missing),
// auth files readable and well-formed, certificate and key load and match.
// Errors name the key and the line it was set on.
bool validate_server_config(const server_config& cfg, std::string& error);

// "16MB", "512KB", "1GiB", "1048576" (bytes). KB/MB/GB are powers of 1024,
// as RPort reads them. Returns nullopt when malformed or zero.
std::optional<std::size_t> parse_size(std::string_view s);

// "host:port", "[v6]:port", ":port" (every interface). Returns nullopt when malformed.
std::optional<listen_address> parse_listen(std::string_view s);

// "file:line:col: " for a key, or "file: " if it was not set in the file.
std::string where(const server_config& cfg, const std::string& key);

}  // namespace stocktake::server
