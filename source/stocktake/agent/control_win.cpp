// The control endpoint on Windows: the same HTTP/1.1 protocol as the unix
// socket, over a local named pipe (\\.\pipe\stocktake by default) whose
// DACL grants access to SYSTEM, the Administrators group and the pipe's
// owner (the account the service runs as) only. Remote clients are
// rejected, and a pipe name another live process already serves is never
// shared (FILE_FLAG_FIRST_PIPE_INSTANCE).

#include "stocktake/agent/control.hpp"

#include "stocktake/agent/control_http.hpp"
#include "stocktake/core/win32.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/windows/overlapped_ptr.hpp>
#include <boost/asio/windows/stream_handle.hpp>
#include <boost/beast/http/empty_body.hpp>

#include <memory>
#include <set>
#include <stdexcept>

#include <sddl.h>

namespace stocktake {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using pipe_handle = asio::windows::stream_handle;

// SYSTEM, built-in Administrators and the owner (Owner Rights) get full
// access; nobody else is listed, and the P flag blocks inherited ACEs.
const char* const control_pipe_sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)";

namespace {

struct connections {
    std::set<std::shared_ptr<pipe_handle>> open;
};

// Creates one instance of the pipe. Throws std::runtime_error naming it.
HANDLE create_instance(const std::wstring& name, const std::string& shown, bool first) {
    // FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name in use; asking first
    // also covers systems that ignore the flag (Wine). A pipe that exists
    // at all (free or busy instances) belongs to a live process.
    if (first && (::WaitNamedPipeW(name.c_str(), 1) || ::GetLastError() != ERROR_FILE_NOT_FOUND)) {
        // A stocktake agent answers its status: then this one must not run
        // beside it. Anything else merely squats the name.
        const auto reply = control_request(shown, "GET", "/v1/status", std::chrono::seconds{2});
        if (reply.ok && reply.status == 200 && reply.body.find("\"client_id\"") != std::string::npos)
            throw control_in_use("control pipe " + shown + ": another stocktake agent is already running and answers there; "
                                 "stop it first (sc stop stocktake) or give this one another [control] socket");
        throw std::runtime_error("control pipe " + shown + ": the name is taken by another program");
    }
    PSECURITY_DESCRIPTOR sd = nullptr;
    const std::wstring sddl = win32::widen(control_pipe_sddl);
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr))
        throw std::runtime_error("control pipe " + shown + ": cannot build its security descriptor: " +
                                 win32::error_text(::GetLastError()));
    SECURITY_ATTRIBUTES sa{sizeof sa, sd, FALSE};
    const DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    const DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    HANDLE h = ::CreateNamedPipeW(name.c_str(), open_mode, pipe_mode, PIPE_UNLIMITED_INSTANCES, 64 * 1024, 64 * 1024, 0, &sa);
    const DWORD err = ::GetLastError();
    ::LocalFree(sd);
    if (h == INVALID_HANDLE_VALUE) {
        if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY))
            throw std::runtime_error("control pipe " + shown + ": the name is taken by another program");
        throw std::runtime_error("control pipe " + shown + ": cannot create it: " + win32::error_text(err));
    }
    return h;
}

// ConnectNamedPipe as an Asio operation: completes when a client connects.
// Cancellation cancels the pending I/O.
template <class Token>
auto async_connect_pipe(pipe_handle& pipe, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code)>(
        [&pipe](auto handler) {
            auto slot = asio::get_associated_cancellation_slot(handler);
            HANDLE h = pipe.native_handle();
            if (slot.is_connected()) slot.assign([h](asio::cancellation_type) { ::CancelIoEx(h, nullptr); });
            asio::windows::overlapped_ptr ov(pipe.get_executor(), [handler = std::move(handler)](boost::system::error_code ec,
                                                                                                 std::size_t) mutable {
                auto s = asio::get_associated_cancellation_slot(handler);
                if (s.is_connected()) s.clear();
                std::move(handler)(ec);
            });
            const BOOL ok = ::ConnectNamedPipe(h, ov.get());
            const DWORD err = ::GetLastError();
            if (!ok && err == ERROR_PIPE_CONNECTED) {
                ov.complete(boost::system::error_code(), 0);  // connected between create and connect
            } else if (!ok && err != ERROR_IO_PENDING) {
                ov.complete(boost::system::error_code(static_cast<int>(err), asio::error::get_system_category()), 0);
            } else {
                ov.release();  // completes through the io_context
            }
        },
        token);
}

asio::awaitable<void> serve_one(std::shared_ptr<pipe_handle> pipe, control_handlers& h, std::shared_ptr<connections> conns,
                                logger log) {
    // No per-request deadline on a pipe: only SYSTEM, administrators and
    // the service account may connect, each client holds its own instance
    // and all I/O is overlapped, so a stalled one blocks nobody else.
    auto set_timeout = [](std::optional<std::chrono::seconds>) {};
    co_await control_detail::serve_connection_logged(*pipe, h, set_timeout, log);
    // Just close: what was written stays readable for the client (no
    // FlushFileBuffers, which would block this thread on a slow reader).
    boost::system::error_code ignored;
    if (pipe->is_open()) pipe->close(ignored);
    conns->open.erase(pipe);
}

}  // namespace

asio::awaitable<void> serve_control_socket(std::string path, control_handlers handlers, logger log) {
    auto ex = co_await asio::this_coro::executor;
    if (path.rfind("\\\\.\\pipe\\", 0) != 0)
        throw std::runtime_error("control pipe " + path + ": must be a local pipe name such as \\\\.\\pipe\\stocktake");
    const std::wstring name = win32::widen(path);
    auto conns = std::make_shared<connections>();
    auto next = std::make_shared<pipe_handle>(ex, create_instance(name, path, true));
    log.info("control: listening on " + path);
    auto cleanup = [&] {
        boost::system::error_code ignored;
        if (next) next->close(ignored);
        for (const auto& p : conns->open) p->close(ignored);
    };
    try {
        for (;;) {
            auto [ec] = co_await async_connect_pipe(*next, asio::as_tuple(asio::use_awaitable));
            if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) throw boost::system::system_error(asio::error::operation_aborted);
            // The next instance first, so that the name never disappears.
            auto following = std::make_shared<pipe_handle>(ex, create_instance(name, path, false));
            if (ec) {
                log.warn("control: accepting a client failed: " + ec.message());
                boost::system::error_code ignored;
                next->close(ignored);
            } else {
                conns->open.insert(next);
                asio::co_spawn(ex, serve_one(next, handlers, conns, log), asio::detached);
            }
            next = std::move(following);
        }
    } catch (...) {
        cleanup();
        throw;
    }
}

control_reply control_request(const std::string& pipe_path, const std::string& method, const std::string& target,
                              std::chrono::seconds timeout) {
    control_reply out;
    const std::wstring name = win32::widen(pipe_path);
    HANDLE h = INVALID_HANDLE_VALUE;
    const auto give_up = std::chrono::steady_clock::now() + std::min<std::chrono::seconds>(timeout, std::chrono::seconds{10});
    for (;;) {
        h = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                          FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
        if (h != INVALID_HANDLE_VALUE) break;
        const DWORD err = ::GetLastError();
        // Every instance is busy for a moment while the service makes the next one.
        if (err == ERROR_PIPE_BUSY && std::chrono::steady_clock::now() < give_up) {
            ::WaitNamedPipeW(name.c_str(), 500);
            continue;
        }
        out.error = "no stocktake service is listening on " + pipe_path + " (" + win32::error_text(err) + ")";
        if (err == ERROR_ACCESS_DENIED)
            out.error += "; run it from an elevated (administrator) prompt";
        else
            out.error += "; is it running? (sc query stocktake)";
        return out;
    }
    asio::io_context ioc;
    pipe_handle pipe(ioc, h);
    http::request<http::empty_body> req{method == "POST" ? http::verb::post : http::verb::get, target, 11};
    req.set(http::field::host, "stocktake");
    req.set(http::field::user_agent, "stocktake-cli");
    req.keep_alive(false);
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    boost::system::error_code ec;
    bool timed_out = false;
    asio::steady_timer timer(ioc, timeout);
    timer.async_wait([&](boost::system::error_code tec) {
        if (tec) return;
        timed_out = true;
        boost::system::error_code ignored;
        pipe.close(ignored);
    });
    http::async_write(pipe, req, [&](boost::system::error_code wec, std::size_t) {
        if (wec) {
            ec = wec;
            timer.cancel();
            return;
        }
        http::async_read(pipe, buf, res, [&](boost::system::error_code rec, std::size_t) {
            ec = rec;
            timer.cancel();
        });
    });
    ioc.run();
    if (ec || timed_out) {
        out.error = "the stocktake service on " + pipe_path + " did not answer " + target + ": " +
                    (timed_out ? std::string("timed out") : ec.message());
        return out;
    }
    out.ok = true;
    out.status = res.result_int();
    out.body = std::move(res.body());
    return out;
}

}  // namespace stocktake
