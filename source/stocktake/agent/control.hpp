#pragma once
// The local control socket: HTTP/1.1 over a unix socket (mode 0660, owner
// and group only). Endpoints: POST /v1/refresh (waits, answers a summary),
// GET /v1/status, GET /v1/inventory. Also the client side used by
// `stocktake refresh` and `stocktake status`.

#include "stocktake/agent/logger.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace stocktake {

struct control_handlers {
    std::function<boost::asio::awaitable<std::string>()> refresh;  // JSON summary
    std::function<std::string()> status;                            // JSON
    std::function<std::string()> inventory;                         // JSON
};

// Binds `path` (replacing a stale socket left by a dead process; refusing
// when another service answers there), serves until cancelled, then
// closes every connection and removes the socket file. Throws
// std::runtime_error naming the path when it cannot bind.
boost::asio::awaitable<void> serve_control_socket(std::string path, control_handlers handlers, logger log);

// Thrown by serve_control_socket when another stocktake agent already
// serves the endpoint (a second agent must not run beside it).
struct control_in_use : std::runtime_error {
    using std::runtime_error::runtime_error;
};

#ifdef _WIN32
// The named pipe's security descriptor (SDDL): full access for SYSTEM, the
// Administrators group and the pipe's owner (the service account); no one else.
extern const char* const control_pipe_sddl;
#endif

struct control_reply {
    bool ok = false;       // connected and got an HTTP answer
    unsigned status = 0;   // HTTP status
    std::string body;
    std::string error;     // why not ok, in words for the user
};

// Blocking client for the CLI: one request, `timeout` for the whole exchange.
control_reply control_request(const std::string& socket_path, const std::string& method, const std::string& target,
                              std::chrono::seconds timeout);

}  // namespace stocktake
