// The agent's HTTPS client on Windows: WinHTTP (no OpenSSL in the Windows
// build). TLS 1.2+ verified against the Windows certificate store, host
// name checked, no redirects, no automatic Windows logon. The blocking
// WinHTTP calls run on the worker pool; cancelling completes the request at
// once and closes its handle, which on Windows also ends the blocked call
// (Wine's WinHTTP keeps it until its timeout).

#include "stocktake/agent/http_client.hpp"

#include "stocktake/collect/pool.hpp"
#include "stocktake/core/win32.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>

#include <winsock2.h>
#include <winhttp.h>

namespace stocktake {
namespace asio = boost::asio;

struct http_client::tls_state {
    asio::any_io_executor pool;
};

http_client::http_client(asio::any_io_executor ex, server_url url, const std::optional<std::string>& ca_file,
                         asio::any_io_executor pool)
    : ex_(std::move(ex)), url_(std::move(url)), tls_(std::make_unique<tls_state>()) {
    tls_->pool = pool ? std::move(pool) : ex_;
    if (ca_file)
        throw std::runtime_error("client.ca_file: not supported by the Windows build; import the CA that signed the server's "
                                 "certificate into the Local Computer's \"Trusted Root Certification Authorities\" store "
                                 "(certutil -addstore Root ca.crt) and remove ca_file");
}

http_client::~http_client() = default;

namespace {

struct internet_handle {
    HINTERNET h = nullptr;
    internet_handle() = default;
    explicit internet_handle(HINTERNET x) : h(x) {}
    internet_handle(const internet_handle&) = delete;
    internet_handle& operator=(const internet_handle&) = delete;
    ~internet_handle() {
        if (h) ::WinHttpCloseHandle(h);
    }
};

// Our own words for the errors users meet (Wine's winhttp.dll has no
// message texts, and these name the cause more plainly anyway).
std::string winhttp_text(DWORD err) {
    const char* what = nullptr;
    switch (err) {
        case ERROR_WINHTTP_TIMEOUT: what = "timed out"; break;
        case ERROR_WINHTTP_NAME_NOT_RESOLVED: what = "the host name could not be resolved"; break;
        case ERROR_WINHTTP_CANNOT_CONNECT: what = "connection refused or unreachable"; break;
        case ERROR_WINHTTP_CONNECTION_ERROR: what = "the connection was reset"; break;
        case ERROR_WINHTTP_INVALID_SERVER_RESPONSE: what = "the server's answer is not valid HTTP"; break;
        case ERROR_WINHTTP_SECURE_CHANNEL_ERROR: what = "TLS handshake failed"; break;
        case ERROR_WINHTTP_SECURE_FAILURE: what = "the server's certificate was rejected"; break;
        case ERROR_WINHTTP_SECURE_INVALID_CA: what = "the server's certificate is not signed by a trusted CA"; break;
        case ERROR_WINHTTP_SECURE_CERT_CN_INVALID: what = "the server's certificate does not name this host"; break;
        case ERROR_WINHTTP_SECURE_CERT_DATE_INVALID: what = "the server's certificate has expired or is not yet valid"; break;
        case ERROR_WINHTTP_SECURE_CERT_REVOKED: what = "the server's certificate is revoked"; break;
        case ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED: what = "the server asks for a client certificate"; break;
        case WSAECONNREFUSED: what = "connection refused"; break;  // Wine passes socket errors through
        case WSAECONNRESET: what = "the connection was reset"; break;
        case WSAETIMEDOUT: what = "timed out"; break;
        default: break;
    }
    if (what) return std::string(what) + " (WinHTTP " + std::to_string(err) + ")";
    if (err >= WINHTTP_ERROR_BASE && err <= WINHTTP_ERROR_LAST)
        return win32::error_text(err, ::GetModuleHandleW(L"winhttp.dll"));
    return win32::error_text(err);
}

bool is_tls_error(DWORD err) {
    return err == ERROR_WINHTTP_SECURE_CHANNEL_ERROR || err == ERROR_WINHTTP_SECURE_FAILURE ||
           err == ERROR_WINHTTP_SECURE_INVALID_CA || err == ERROR_WINHTTP_SECURE_CERT_CN_INVALID ||
           err == ERROR_WINHTTP_SECURE_CERT_DATE_INVALID || err == ERROR_WINHTTP_SECURE_INVALID_CERT;
}

// The request handle, closable from the cancelling thread.
struct exchange_state {
    std::mutex m;
    HINTERNET request = nullptr;
    bool cancelled = false;

    void cancel() {
        std::lock_guard lk(m);
        cancelled = true;
        if (request) {
            ::WinHttpCloseHandle(request);
            request = nullptr;
        }
    }
};

struct outcome {
    http_result result;
    std::string error;  // transport failure, in words
    bool cancelled = false;
};

outcome exchange(const server_url& url, const std::string& method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                 std::chrono::milliseconds timeout, exchange_state& st) {
    outcome out;
    auto fail = [&](std::string what) {
        const DWORD err = ::GetLastError();
        {
            std::lock_guard lk(st.m);
            if (st.cancelled) {
                out.cancelled = true;
                return out;
            }
        }
        out.error = what + ": " + winhttp_text(err);
        if (is_tls_error(err))
            out.error += "; check that the server's certificate names " + url.host +
                         " and that the CA that signed it is in the Local Computer's Trusted Root store "
                         "(certutil -addstore Root ca.crt)";
        else if (err == ERROR_WINHTTP_TIMEOUT || err == WSAETIMEDOUT)  // Wine reports the socket's error
            out.error = url.text + " did not answer within " + std::to_string(timeout.count()) + " ms";
        return out;
    };
    internet_handle session(::WinHttpOpen(L"stocktake/0.1", WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY, WINHTTP_NO_PROXY_NAME,
                                          WINHTTP_NO_PROXY_BYPASS, 0));
    if (!session.h)  // before Windows 8.1 (and on Wine): the WinHTTP proxy setting
        session.h = ::WinHttpOpen(L"stocktake/0.1", WINHTTP_ACCESS_TYPE_DEFAULT_PROXY, WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0);
    if (!session.h) return fail("WinHTTP is unavailable");
    const int ms = static_cast<int>(std::min<long long>(timeout.count(), 0x7fffffff));
    ::WinHttpSetTimeouts(session.h, ms, ms, ms, ms);
    if (url.tls) {
        DWORD protocols = WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_2;
#ifdef WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_3
        protocols |= WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_3;
#endif
        if (!::WinHttpSetOption(session.h, WINHTTP_OPTION_SECURE_PROTOCOLS, &protocols, sizeof protocols)) {
            protocols = WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_2;
            ::WinHttpSetOption(session.h, WINHTTP_OPTION_SECURE_PROTOCOLS, &protocols, sizeof protocols);
        }
    }
    const std::wstring host = win32::widen(url.host);
    const int port = std::stoi(url.port);
    internet_handle conn(::WinHttpConnect(session.h, host.c_str(), static_cast<INTERNET_PORT>(port), 0));
    if (!conn.h) return fail("cannot connect to " + url.text);
    const std::wstring wmethod = win32::widen(method), wpath = win32::widen(url.base_path + target);
    HINTERNET req = ::WinHttpOpenRequest(conn.h, wmethod.c_str(), wpath.c_str(), nullptr, WINHTTP_NO_REFERER,
                                         WINHTTP_DEFAULT_ACCEPT_TYPES, url.tls ? WINHTTP_FLAG_SECURE : 0);
    if (!req) return fail("cannot start a request to " + url.text);
    {
        std::lock_guard lk(st.m);
        if (st.cancelled) {
            ::WinHttpCloseHandle(req);
            out.cancelled = true;
            return out;
        }
        st.request = req;
    }
    // Whoever clears st.request closes it.
    struct closer {
        exchange_state& st;
        ~closer() {
            std::lock_guard lk(st.m);
            if (st.request) ::WinHttpCloseHandle(st.request);
            st.request = nullptr;
        }
    } close_at_end{st};
    // The session's timeouts, and the one WinHttpSetTimeouts does not set:
    // waiting for the status line.
    ::WinHttpSetTimeouts(req, ms, ms, ms, ms);
    DWORD response_ms = static_cast<DWORD>(ms);
    ::WinHttpSetOption(req, WINHTTP_OPTION_RECEIVE_RESPONSE_TIMEOUT, &response_ms, sizeof response_ms);
    DWORD never = WINHTTP_OPTION_REDIRECT_POLICY_NEVER;
    ::WinHttpSetOption(req, WINHTTP_OPTION_REDIRECT_POLICY, &never, sizeof never);
    DWORD no_logon = WINHTTP_AUTOLOGON_SECURITY_LEVEL_HIGH;
    ::WinHttpSetOption(req, WINHTTP_OPTION_AUTOLOGON_POLICY, &no_logon, sizeof no_logon);
    // A cancel closes `req` from another thread (that is how a blocked
    // call is ended): check before each further use of it, so that the
    // worker does not touch a closed handle (whose value may be reused).
    auto gone = [&] {
        std::lock_guard lk(st.m);
        if (st.cancelled) out.cancelled = true;
        return st.cancelled;
    };
    std::string head;
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    const std::wstring whead = win32::widen(head);
    if (gone()) return out;
    if (!::WinHttpSendRequest(req, whead.c_str(), static_cast<DWORD>(whead.size()),
                              body.empty() ? WINHTTP_NO_REQUEST_DATA : const_cast<char*>(body.data()),
                              static_cast<DWORD>(body.size()), static_cast<DWORD>(body.size()), 0))
        return fail("sending to " + url.text + " failed");
    if (gone()) return out;
    if (!::WinHttpReceiveResponse(req, nullptr)) return fail("reading the answer of " + url.text + " failed");
    DWORD status = 0, size = sizeof status;
    if (gone()) return out;
    if (!::WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER, WINHTTP_HEADER_NAME_BY_INDEX, &status,
                               &size, WINHTTP_NO_HEADER_INDEX))
        return fail("reading the answer of " + url.text + " failed");
    out.result.status = status;
    wchar_t etag[512];
    DWORD etag_size = sizeof etag;
    if (::WinHttpQueryHeaders(req, WINHTTP_QUERY_ETAG, WINHTTP_HEADER_NAME_BY_INDEX, etag, &etag_size, WINHTTP_NO_HEADER_INDEX))
        out.result.etag = win32::narrow(std::wstring_view(etag, etag_size / sizeof(wchar_t)));
    for (;;) {
        DWORD avail = 0;
        if (gone()) return out;
        if (!::WinHttpQueryDataAvailable(req, &avail)) return fail("reading the answer of " + url.text + " failed");
        if (avail == 0) break;
        if (out.result.body.size() + avail > (1u << 20)) {
            out.error = "the answer of " + url.text + " is larger than 1 MiB";
            return out;
        }
        const std::size_t at = out.result.body.size();
        out.result.body.resize(at + avail);
        DWORD got = 0;
        if (gone()) return out;
        if (!::WinHttpReadData(req, out.result.body.data() + at, avail, &got)) return fail("reading the answer of " + url.text + " failed");
        out.result.body.resize(at + got);
        if (got == 0) break;
    }
    return out;
}

}  // namespace

asio::awaitable<http_result> http_client::request(std::string method, std::string target,
                                                  std::vector<std::pair<std::string, std::string>> headers,
                                                  std::string body, std::chrono::milliseconds timeout) {
    auto st = std::make_shared<exchange_state>();
    auto url = url_;
    auto work = [st, url, method = std::move(method), target = std::move(target), headers = std::move(headers),
                 body = std::move(body), timeout]() { return exchange(url, method, target, headers, body, timeout, *st); };
    auto on_cancel = [st] { st->cancel(); };
    auto [ep, out] = co_await async_run_on(tls_->pool, std::move(work), std::move(on_cancel), asio::as_tuple(asio::use_awaitable));
    if (ep) std::rethrow_exception(ep);  // operation_aborted when cancelled
    if (out.cancelled) throw boost::system::system_error(asio::error::operation_aborted);
    if (!out.error.empty()) throw transport_error(out.error);
    co_return std::move(out.result);
}

}  // namespace stocktake
