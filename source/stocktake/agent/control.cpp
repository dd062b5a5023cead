#include "stocktake/agent/control.hpp"

#include "stocktake/agent/control_http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace stocktake {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

// True when something accepts connections at `path`.
bool someone_listens(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

struct connections {
    std::set<std::shared_ptr<beast::basic_stream<local>>> open;
};

asio::awaitable<void> serve_one(std::shared_ptr<beast::basic_stream<local>> stream, control_handlers& h,
                                std::shared_ptr<connections> conns, logger log) {
    auto set_timeout = [&](std::optional<std::chrono::seconds> d) {
        if (d)
            stream->expires_after(*d);
        else
            stream->expires_never();
    };
    co_await control_detail::serve_connection_logged(*stream, h, set_timeout, log);
    boost::system::error_code ignored;
    stream->socket().shutdown(local::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
    conns->open.erase(stream);
}

}  // namespace

asio::awaitable<void> serve_control_socket(std::string path, control_handlers handlers, logger log) {
    auto ex = co_await asio::this_coro::executor;
    namespace fs = std::filesystem;
    std::error_code fec;
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::exists(parent, fec)) {
        fs::create_directories(parent, fec);
        if (fec) throw std::runtime_error("control socket " + path + ": cannot create " + parent.string() + ": " + fec.message());
        ::chmod(parent.c_str(), 0755);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error("control socket " + path + ": exists and is not a socket; remove it or set [control] socket");
        if (someone_listens(path))
            throw std::runtime_error("control socket " + path + ": another stocktake service is already listening there");
        ::unlink(path.c_str());  // stale: left by a process that died
        log.info("control: removed stale socket " + path);
    }
    local::acceptor acceptor(ex);
    boost::system::error_code ec;
    acceptor.open(local(), ec);
    // Owner and group only, from the moment it exists: no window with a
    // wider mode between bind and chmod.
    const mode_t old = ::umask(0117);
    if (!ec) acceptor.bind(local::endpoint(path), ec);
    ::umask(old);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("control socket " + path + ": cannot listen: " + ec.message());
    ::chmod(path.c_str(), 0660);
    log.info("control: listening on " + path);

    auto conns = std::make_shared<connections>();
    auto cleanup = [&] {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        for (const auto& s : conns->open) s->socket().close(ignored);
        ::unlink(path.c_str());
    };
    try {
        for (;;) {
            auto [aec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (aec == asio::error::operation_aborted) throw boost::system::system_error(aec);
            if (aec) {
                log.warn("control: accept failed: " + aec.message());
                continue;
            }
            auto stream = std::make_shared<beast::basic_stream<local>>(std::move(sock));
            conns->open.insert(stream);
            asio::co_spawn(ex, serve_one(stream, handlers, conns, log), asio::detached);
        }
    } catch (...) {
        cleanup();
        throw;
    }
}

control_reply control_request(const std::string& socket_path, const std::string& method, const std::string& target,
                              std::chrono::seconds timeout) {
    control_reply out;
    asio::io_context ioc;
    beast::basic_stream<local> stream(ioc);
    boost::system::error_code ec;
    stream.expires_after(timeout);
    stream.socket().connect(local::endpoint(socket_path), ec);
    if (ec) {
        out.error = "no stocktake service is listening on " + socket_path + " (" + ec.message() + ")";
        if (ec == boost::system::errc::permission_denied)
            out.error += "; run as root or as a member of the socket's group";
        else
            out.error += "; is it running? (systemctl status stocktake)";
        return out;
    }
    http::request<http::empty_body> req{method == "POST" ? http::verb::post : http::verb::get, target, 11};
    req.set(http::field::host, "stocktake");
    req.set(http::field::user_agent, "stocktake-cli");
    req.keep_alive(false);
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
        if (wec) {
            ec = wec;
            return;
        }
        http::async_read(stream, buf, res, [&](boost::system::error_code rec, std::size_t) { ec = rec; });
    });
    ioc.run();
    if (ec) {
        out.error = "the stocktake service on " + socket_path + " did not answer " + target + ": " +
                    (ec == beast::error::timeout ? std::string("timed out") : ec.message());
        return out;
    }
    out.ok = true;
    out.status = res.result_int();
    out.body = std::move(res.body());
    return out;
}

}  // namespace stocktake
