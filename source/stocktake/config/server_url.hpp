#pragma once
// The agent's `server` URL: https://host[:port][/base], or http:// to a
// loopback host only (so credentials never cross a network in clear).

#include <string>
#include <string_view>

namespace stocktake {

struct server_url {
    bool tls = true;
    std::string host;
    std::string port;
    std::string base_path;  // without a trailing '/', e.g. "" or "/stocktake"
    std::string text;       // as configured, for messages
};

bool is_loopback_host(std::string_view host);

// Parses https://host[:port][/base] (or http:// to a loopback host).
bool parse_server_url(std::string_view url, server_url& out, std::string& why);

}  // namespace stocktake
