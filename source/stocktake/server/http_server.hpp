#pragma once
// The HTTP/1.1 front end of stocktake-server: Beast on Asio C++20
// coroutines, TLS when a context is given.
//
// Each connection runs as one coroutine on its own strand of the given
// executor, so with an io_context run by several threads connections
// proceed in parallel, and none waits for another's database write (the
// store has its own thread). Per connection:
//   - a TLS handshake must finish within 10 s;
//   - the next request header must be complete within idle_timeout
//     (keep-alive idle time and slow-header "slowloris" clients alike);
//   - a request body must be complete within request_timeout;
//   - a response must be written within 30 s.
// At max_connections the server stops accepting until one ends (the
// kernel's listen backlog holds newcomers).
//
// Shutdown (shutdown()): the listener closes at once; idle connections
// close; a connection in the middle of a request finishes it (its response
// says Connection: close). After shutdown_grace every connection still
// open is closed. async_run completes when the last connection has ended.

#include "stocktake/server/credentials.hpp"
#include "stocktake/server/log.hpp"
#include "stocktake/server/server_config.hpp"
#include "stocktake/server/store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace stocktake::server {

class http_server {
public:
    // `tls` null: plain HTTP. `db` must outlive the server.
    http_server(boost::asio::any_io_executor ex, server_section cfg, store& db, credentials clients,
                credentials api_users, std::shared_ptr<boost::asio::ssl::context> tls, logger log);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds cfg.listen and listens. Throws boost::system::system_error
    // (address in use, permission denied).
    void listen();
    boost::asio::ip::tcp::endpoint local_endpoint() const;

    // async_run(token): completion void(std::exception_ptr). Accepts until
    // shutdown(), then completes once every connection has ended. Not
    // cancellable through the token: use shutdown() / terminate(). The
    // server must not be destroyed before it completes.
    template <class Token>
    auto async_run(Token&& token) {
        return boost::asio::co_spawn(executor(), run(), std::forward<Token>(token));
    }

    // Thread-safe, idempotent. Graceful: see the comment above.
    void shutdown();
    // Thread-safe: closes every connection now (the end of the grace period).
    void terminate();

    std::size_t connections() const;

    // Thread-safe: requests from now on check these (SIGHUP reload).
    void set_credentials(credentials clients, credentials api_users);

    struct impl;

private:
    boost::asio::any_io_executor executor() const;
    boost::asio::awaitable<void> run();

    std::shared_ptr<impl> impl_;
};

// "127.0.0.1:8443", "[::1]:8443".
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace stocktake::server
