#pragma once
// The control protocol's HTTP side, shared by the unix-socket server
// (control.cpp) and the Windows named-pipe server (control_win.cpp).
// Internal to the agent layer: included by those two files only.

#include "stocktake/agent/control.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>

namespace stocktake::control_detail {

namespace http = boost::beast::http;

inline std::string json_error(std::string_view code, std::string_view title) {
    return "{\"errors\":[{\"code\":\"" + std::string(code) + "\",\"title\":\"" + std::string(title) + "\"}]}";
}

// Serves requests on one connection until the peer closes it, an I/O error
// or `set_timeout` expiry. `set_timeout(d)` arms the stream's deadline
// (nullopt: none, for a refresh that takes as long as its sources).
template <class Stream, class SetTimeout>
boost::asio::awaitable<void> serve_connection(Stream& stream, control_handlers& h, SetTimeout set_timeout) {
    namespace asio = boost::asio;
    boost::beast::flat_buffer buf;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024);
        set_timeout(std::optional<std::chrono::seconds>(30));
        auto [ec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        auto req = parser.release();
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        const std::string target(req.target());
        if (target == "/v1/refresh") {
            if (req.method() != http::verb::post) {
                res.result(http::status::method_not_allowed);
                res.set(http::field::allow, "POST");
                res.body() = json_error("method_not_allowed", "use POST /v1/refresh");
            } else {
                set_timeout(std::nullopt);  // a refresh may take as long as its sources' timeouts
                res.body() = co_await h.refresh();
            }
        } else if (target == "/v1/status" || target == "/v1/inventory") {
            if (req.method() != http::verb::get && req.method() != http::verb::head) {
                res.result(http::status::method_not_allowed);
                res.set(http::field::allow, "GET");
                res.body() = json_error("method_not_allowed", "use GET " + target);
            } else {
                res.body() = target == "/v1/status" ? h.status() : h.inventory();
            }
        } else {
            res.result(http::status::not_found);
            res.body() = json_error("not_found", "no such endpoint; try /v1/status, /v1/inventory or POST /v1/refresh");
        }
        res.prepare_payload();
        set_timeout(std::optional<std::chrono::seconds>(30));
        auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        if (wec || !res.keep_alive()) break;
    }
}

// serve_connection with the failures of one connection logged, not thrown
// (a cancellation is not a failure).
template <class Stream, class SetTimeout>
boost::asio::awaitable<void> serve_connection_logged(Stream& stream, control_handlers& h, SetTimeout set_timeout,
                                                     const logger& log) {
    try {
        co_await serve_connection(stream, h, set_timeout);
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) log.warn(std::string("control: connection failed: ") + e.what());
    } catch (const std::exception& e) {
        log.warn(std::string("control: connection failed: ") + e.what());
    }
}

}  // namespace stocktake::control_detail
