#pragma once
// The agent's HTTPS client for the Stocktake server: system CA store plus
// an optional ca_file, peer and host name verification always on. Plain
// http:// is accepted only for loopback hosts. Beast + OpenSSL on Linux
// (http_client.cpp), WinHTTP on Windows (http_client_win.cpp).

#include "stocktake/config/server_url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace stocktake {

struct http_result {
    unsigned status = 0;
    std::string body;
    std::string etag;
};

// A failed exchange (connect, TLS, I/O, timeout) with a message naming the server.
struct transport_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class http_client {
public:
    // Throws std::runtime_error when ca_file cannot be loaded. `pool` runs
    // the blocking WinHTTP calls of the Windows build (unused elsewhere;
    // empty: `ex`).
    http_client(boost::asio::any_io_executor ex, server_url url, const std::optional<std::string>& ca_file,
                boost::asio::any_io_executor pool = {});
    ~http_client();

    // One request on a fresh connection. Throws transport_error, or
    // system_error(operation_aborted) when cancelled.
    boost::asio::awaitable<http_result> request(std::string method, std::string target,
                                                std::vector<std::pair<std::string, std::string>> headers, std::string body,
                                                std::chrono::milliseconds timeout);

    const server_url& url() const noexcept { return url_; }

private:
    struct tls_state;
    boost::asio::any_io_executor ex_;
    server_url url_;
    std::unique_ptr<tls_state> tls_;
};

}  // namespace stocktake
