#pragma once
// A small HTTP/1.1 client for the server tests and the ingest benchmark:
// one keep-alive connection, plain or TLS (verifying the peer), coroutine
// API. Reconnects when the server closed the previous connection.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stocktake::test {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

class http_client {
public:
    // `tls` null: plain HTTP. With TLS the server's certificate is verified
    // against `tls` and `host_name` (SNI too).
    http_client(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep,
                std::shared_ptr<boost::asio::ssl::context> tls = nullptr, std::string host_name = "localhost");
    ~http_client();
    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;

    // Sends `req` (Host and Content-Length are filled in) and reads the
    // answer. Throws boost::system::system_error on connection failures
    // (TLS verification included). `timeout` bounds the whole exchange.
    // `req` is taken by reference: keep it in a named local (GCC 12 and
    // temporaries in co_await expressions do not mix).
    boost::asio::awaitable<http_response> request(http_request& req,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds{60});

    // True when the last answer left the connection open.
    bool connected() const;
    void close();
    std::size_t connects() const;  // how many times it (re)connected

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// "Basic base64(user:pass)".
std::string basic_auth(std::string_view user_colon_password);

// A request with method, target, Authorization and optional body.
http_request make_request(boost::beast::http::verb method, std::string_view target, std::string_view auth = {},
                          std::string body = {});

// gzip (RFC 1952) of `data`.
std::string gzip(std::string_view data, int level = 6);

// gzip of `n` zero bytes, made in a streaming way (memory independent of n).
std::string gzip_zeros(std::size_t n);

}  // namespace stocktake::test
