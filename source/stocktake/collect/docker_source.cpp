#include "stocktake/collect/docker_source.hpp"

#include "stocktake/parse/docker_json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <cerrno>
#include <cstdlib>
#include <unordered_set>

#ifdef _WIN32
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/windows/stream_handle.hpp>
#include <windows.h>
#else
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace stocktake {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

constexpr std::string_view user_agent = "stocktake/0.1";

// A source failure raised inside the collector and turned into its result.
struct docker_failure {
    failure f;
};
struct docker_absent {};

struct http_reply {
    unsigned status = 0;
    std::string reason;
    std::string body;
    std::string api_version;  // the API-Version header, if any
};

#ifdef _WIN32
std::string permission_message(const docker_endpoint& ep) {
    return "access denied opening the Docker engine pipe " + ep.path + " (" + ep.url +
           "); run the agent as LocalSystem or an administrator, or add its account to the engine's 'docker-users' group";
}
#else
std::string describe_user() {
    const uid_t uid = ::geteuid();
    std::string name = std::to_string(uid);
    if (const passwd* pw = ::getpwuid(uid)) name = pw->pw_name;
    return "'" + name + "' (uid " + std::to_string(uid) + ")";
}

std::string permission_message(const docker_endpoint& ep) {
    std::string msg = "permission denied connecting to the Docker engine at " + ep.url;
    std::string grp;
    struct stat st {};
    if (::stat(ep.path.c_str(), &st) == 0) {
        std::string owner = std::to_string(st.st_uid);
        if (const passwd* pw = ::getpwuid(st.st_uid)) owner = pw->pw_name;
        grp = std::to_string(st.st_gid);
        if (const struct group* gr = ::getgrgid(st.st_gid)) grp = gr->gr_name;
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        msg += " (socket owned by " + owner + ":" + grp + ", mode " + mode + ")";
    } else if (errno == EACCES) {
        msg += " (a directory on the path to the socket is not accessible either)";
    }
    msg += " as user " + describe_user() + ". Grant access by adding the agent's user to the socket's group";
    if (!grp.empty()) {
        msg += " ('usermod -aG " + grp + " <user>', or SupplementaryGroups=" + grp + " in the systemd unit)";
    }
    msg += " and restart the agent, or run it as root";
    return msg;
}
#endif

failure map_connect_error(const docker_endpoint& ep, const error_code& ec) {
    if (ec == beast::error::timeout)
        return {errc::timeout, "connecting to the Docker engine at " + ep.url +
                                   " timed out; check that the engine is running and not overloaded"};
    if (ec == asio::error::access_denied || ec == asio::error::no_permission)
        return {errc::permission_denied, permission_message(ep)};
    if (ec == asio::error::connection_refused)
        return {errc::connect_failed, "the Docker engine at " + ep.url +
                                          " refuses connections (" + ec.message() + "): is the engine running?"};
    return {errc::connect_failed, "cannot connect to the Docker engine at " + ep.url + ": " + ec.message()};
}

failure map_io_error(const docker_endpoint& ep, std::string_view what, std::string_view target, const error_code& ec,
                     std::chrono::milliseconds timeout) {
    const std::string where = "the Docker engine at " + ep.url;
    const std::string req = "GET " + std::string(target);
    if (ec == beast::error::timeout)
        return {errc::timeout, where + " did not " + std::string(what) + " " + req + " within " +
                                   std::to_string(timeout.count()) +
                                   " ms; check that the engine is healthy (e.g. 'systemctl status docker')"};
    if (ec == http::error::partial_message || ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        return {errc::connection_lost, where + " closed the connection before finishing its answer to " + req +
                                           "; the engine may have restarted or crashed (see its log)"};
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return {errc::invalid_response, where + " sent an answer to " + req + " larger than the limit (" + ec.message() + ")"};
    if (ec.category() == make_error_code(http::error::partial_message).category())
        return {errc::invalid_response, where + " answered " + req + " with something that is not HTTP (" + ec.message() +
                                            "); check that " + ep.url + " is a Docker Engine API endpoint"};
    return {errc::connection_lost, where + ": " + std::string(what) + " " + req + " failed: " + ec.message()};
}

void throw_if_cancelled(const error_code& ec) {
    if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
}

#ifdef _WIN32
// A named pipe as an AsyncStream with basic_stream's timeout interface:
// expires_after arms a timer that cancels the handle, and the cancelled
// operation then completes with beast::error::timeout (basic_stream does
// not support stream_handle).
class pipe_stream {
public:
    using executor_type = asio::any_io_executor;
    explicit pipe_stream(const executor_type& ex) : handle_(ex), timer_(ex) {}
    executor_type get_executor() noexcept { return handle_.get_executor(); }
    asio::windows::stream_handle& handle() noexcept { return handle_; }

    void expires_after(std::chrono::milliseconds d) {
        expired_ = std::make_shared<bool>(false);
        timer_.expires_after(d);
        timer_.async_wait([flag = expired_, h = &handle_](const error_code& ec) {
            if (ec || !h->is_open()) return;  // re-armed, cancelled or closed
            *flag = true;
            error_code ignored;
            h->cancel(ignored);
        });
    }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& b, Token&& token) {
        return start<true>(b, std::forward<Token>(token));
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& b, Token&& token) {
        return start<false>(b, std::forward<Token>(token));
    }

private:
    template <bool Read, class Buffers, class Token>
    auto start(const Buffers& b, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const Buffers& bufs) {
                auto slot = asio::get_associated_cancellation_slot(handler);
                auto done = [flag = expired_, h = std::move(handler)](error_code ec, std::size_t n) mutable {
                    if (ec == asio::error::operation_aborted && flag && *flag) ec = beast::error::timeout;
                    // The writer closed its end: the end of the answer.
                    if (Read && ec.value() == ERROR_BROKEN_PIPE && ec.category() == asio::error::get_system_category())
                        ec = asio::error::eof;
                    std::move(h)(ec, n);
                };
                if constexpr (Read)
                    handle_.async_read_some(bufs, asio::bind_cancellation_slot(slot, std::move(done)));
                else
                    handle_.async_write_some(bufs, asio::bind_cancellation_slot(slot, std::move(done)));
            },
            token, b);
    }

    asio::windows::stream_handle handle_;
    asio::steady_timer timer_;
    std::shared_ptr<bool> expired_;
};

void shutdown_stream(pipe_stream& s) {
    error_code ignored;
    s.handle().close(ignored);
}

// Opens the pipe (waiting up to `timeout` while all its instances are busy).
error_code open_pipe(pipe_stream& s, const docker_endpoint& ep, std::chrono::milliseconds timeout) {
    std::wstring name(ep.path.begin(), ep.path.end());  // pipe names are ASCII
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        HANDLE h = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
        if (h != INVALID_HANDLE_VALUE) {
            error_code ec;
            s.handle().assign(h, ec);
            if (ec) ::CloseHandle(h);
            return ec;
        }
        const DWORD e = ::GetLastError();
        if (e != ERROR_PIPE_BUSY) return error_code(static_cast<int>(e), asio::error::get_system_category());
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !::WaitNamedPipeW(name.c_str(), static_cast<DWORD>(std::min<long long>(left.count(), 1000))))
            if (std::chrono::steady_clock::now() >= deadline) return beast::error::timeout;
    }
}
#endif

template <class Protocol>
void shutdown_stream(beast::basic_stream<Protocol>& s) {
    error_code ignored;
    s.socket().shutdown(asio::socket_base::shutdown_both, ignored);
}

template <class Stream>
asio::awaitable<http_reply> exchange_on(Stream& stream, const docker_endpoint& ep, const std::string& host_header,
                                        const std::string& target, const docker_options& o) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, user_agent);
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");

    stream.expires_after(o.step_timeout);
    auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    throw_if_cancelled(wec);
    if (wec) throw docker_failure{map_io_error(ep, "accept", target, wec, o.step_timeout)};

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(o.max_body);
    stream.expires_after(o.step_timeout);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    throw_if_cancelled(rec);
    if (rec) throw docker_failure{map_io_error(ep, "answer", target, rec, o.step_timeout)};
    auto& res = parser.get();
    http_reply out;
    out.status = res.result_int();
    out.reason = std::string(res.reason());
    out.body = std::move(res.body());
    if (auto it = res.find("API-Version"); it != res.end()) out.api_version = std::string(it->value());
    shutdown_stream(stream);
    co_return out;
}

asio::awaitable<http_reply> exchange(const docker_endpoint& ep, const std::string& target, const docker_options& o) {
    auto ex = co_await asio::this_coro::executor;
#ifdef _WIN32
    if (ep.type == docker_endpoint::kind::npipe) {
        pipe_stream stream(ex);
        const error_code ec = open_pipe(stream, ep, o.step_timeout);
        if (ec == error_code(ERROR_FILE_NOT_FOUND, asio::error::get_system_category()) ||
            ec == error_code(ERROR_PATH_NOT_FOUND, asio::error::get_system_category()))
            throw docker_absent{};  // no pipe: no engine here
        if (ec == error_code(ERROR_ACCESS_DENIED, asio::error::get_system_category()))
            throw docker_failure{{errc::permission_denied, permission_message(ep)}};
        if (ec) throw docker_failure{map_connect_error(ep, ec)};
        const std::string host_header = "docker";
        co_return co_await exchange_on(stream, ep, host_header, target, o);
    }
#else
    if (ep.type == docker_endpoint::kind::unix_socket) {
        beast::basic_stream<asio::local::stream_protocol> stream(ex);
        const asio::local::stream_protocol::endpoint peer(ep.path);
        stream.expires_after(o.step_timeout);
        auto [ec] = co_await stream.async_connect(peer, asio::as_tuple(asio::use_awaitable));
        throw_if_cancelled(ec);
        if (ec == boost::system::errc::no_such_file_or_directory || ec == boost::system::errc::not_a_directory)
            throw docker_absent{};  // no socket: no engine here
        if (ec) throw docker_failure{map_connect_error(ep, ec)};
        const std::string host_header = "docker";
        co_return co_await exchange_on(stream, ep, host_header, target, o);
    }
#endif
    if (ep.type == docker_endpoint::kind::tcp) {
        using namespace asio::experimental::awaitable_operators;
        asio::ip::tcp::resolver resolver(ex);
        asio::steady_timer timer(ex, o.step_timeout);
        auto resolve = resolver.async_resolve(ep.host, ep.port, asio::as_tuple(asio::use_awaitable));
        auto deadline = timer.async_wait(asio::as_tuple(asio::use_awaitable));
        auto race = std::move(resolve) || std::move(deadline);
        auto r = co_await std::move(race);
        if (r.index() == 1) {
            auto [tec] = std::get<1>(r);
            throw_if_cancelled(tec);  // cancelled, not timed out
            throw docker_failure{{errc::timeout, "resolving " + ep.host + " for " + ep.url + " timed out"}};
        }
        auto [rec, results] = std::get<0>(r);
        throw_if_cancelled(rec);
        if (rec) throw docker_failure{{errc::connect_failed, "cannot resolve " + ep.host + " for " + ep.url + ": " + rec.message()}};
        beast::basic_stream<asio::ip::tcp> stream(ex);
        stream.expires_after(o.step_timeout);
        auto [ec, endpoint] = co_await stream.async_connect(results, asio::as_tuple(asio::use_awaitable));
        throw_if_cancelled(ec);
        if (ec) throw docker_failure{map_connect_error(ep, ec)};
        const std::string host_header = ep.host + ":" + ep.port;
        co_return co_await exchange_on(stream, ep, host_header, target, o);
    }
#ifdef _WIN32
    throw docker_failure{{errc::unsupported, "unix sockets (" + ep.url + ") are not used on Windows; use npipe:// or tcp://"}};
#else
    throw docker_failure{{errc::unsupported, "named pipes (" + ep.url + ") exist only on Windows"}};
#endif
}

std::string url_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

class docker_source final : public source {
public:
    explicit docker_source(docker_options o) : opts_(std::move(o)) {}
    std::string_view name() const noexcept override { return "docker"; }

    asio::awaitable<source_result> collect() override {
        source_result res;
        res.source = "docker";
        const auto start = std::chrono::steady_clock::now();
        try {
            docker_endpoint ep;
            if (!choose_endpoint(ep)) {
                res.outcome = source_outcome::absent;
            } else {
                res.detail = ep.url;
                co_await list(ep, res);
            }
        } catch (const docker_absent&) {
            res.outcome = source_outcome::absent;
            res.containers.clear();
        } catch (const docker_failure& f) {
            res.outcome = source_outcome::failed;
            res.error = source_error{"docker", std::string(code_word(f.f.code)), f.f.message};
            res.containers.clear();
        }
        res.elapsed = std::chrono::steady_clock::now() - start;
        co_return res;
    }

private:
    bool choose_endpoint(docker_endpoint& ep) const {
        failure err;
        const std::optional<std::string>& chosen = opts_.env_host ? opts_.env_host : opts_.docker_host;
        if (chosen) {
            if (!parse_docker_host(*chosen, ep, err)) throw docker_failure{err};
            return true;
        }
#ifdef _WIN32
        // Docker Desktop and the Windows engine listen on this pipe.
        const std::string default_pipe = "npipe:////./pipe/docker_engine";
        failure ignored;
        return parse_docker_host(default_pipe, ep, ignored);
#else
        for (const auto& p : opts_.default_sockets) {
            struct stat st {};
            if (::stat(p.c_str(), &st) == 0 || errno == EACCES) {
                ep.type = docker_endpoint::kind::unix_socket;
                ep.path = p;
                ep.url = "unix://" + p;
                return true;
            }
        }
        return false;
#endif
    }

    asio::awaitable<std::optional<docker::api_version>> negotiate(const docker_endpoint& ep) const {
        const std::string ping_target = "/_ping";
        auto ping = co_await exchange(ep, ping_target, opts_);
        if (ping.status == 200) {
            if (auto v = docker::parse_api_version(ping.api_version)) co_return std::min(*v, docker::client_api_version);
        }
        // Old engines' /_ping carries no API-Version header: /version says it.
        const std::string version_target = "/version";
        auto ver = co_await exchange(ep, version_target, opts_);
        if (ver.status == 200) {
            if (auto v = docker::version_from_version_body(ver.body)) co_return std::min(*v, docker::client_api_version);
        }
        co_return std::nullopt;  // unversioned requests: the engine's own default
    }

    // How one walk through GET /containers/json ended.
    struct walk_result {
        enum class end { complete, version_too_new, anchor_vanished, paging_ignored } how = end::complete;
        std::vector<container_item> items;
        std::vector<std::string> warnings;
        docker::api_version engine_version{};  // for version_too_new
    };

    std::string list_target(const std::optional<docker::api_version>& version, bool paged, std::size_t limit,
                            const std::string& before) const {
        std::string target = (version ? "/v" + version->str() : std::string()) + "/containers/json?all=1";
        // `limit` and `before` make the engine include stopped containers
        // whatever `all` says, so "running only" is a status filter
        // (running, paused and restarting are what `docker ps` shows).
        if (paged) target += "&limit=" + std::to_string(limit);
        std::string filters;
        if (!opts_.all) filters = "\"status\":[\"running\",\"paused\",\"restarting\"]";
        if (!before.empty()) {
            // API 1.24 moved `before` from a query parameter into filters.
            if (version && *version < docker::api_version{1, 24})
                target += "&before=" + url_encode(before);
            else
                filters += std::string(filters.empty() ? "" : ",") + "\"before\":[\"" + before + "\"]";
        }
        if (!filters.empty()) target += "&filters=" + url_encode("{" + filters + "}");
        return target;
    }

    // Pages through the list (`paged`), or asks for all of it at once.
    asio::awaitable<walk_result> walk(const docker_endpoint& ep, const std::optional<docker::api_version>& version,
                                      bool paged, bool may_renegotiate) const {
        walk_result w;
        const std::size_t limit = std::max<std::size_t>(opts_.page_size, 1);
        std::unordered_set<std::string> seen;
        std::string before;
        for (;;) {
            const std::string target = list_target(version, paged, limit, before);
            auto reply = co_await exchange(ep, target, opts_);
            if (reply.status >= 400) {
                const std::string msg = docker::error_message(reply.body);
                if (reply.status == 400 && may_renegotiate) {
                    if (auto v = docker::version_from_error(msg); v && (!version || *v < *version)) {
                        w.how = walk_result::end::version_too_new;
                        w.engine_version = *v;
                        co_return w;
                    }
                }
                if (!before.empty() && (reply.status == 404 || msg.find("No such container") != std::string::npos)) {
                    w.how = walk_result::end::anchor_vanished;  // removed since the last page
                    co_return w;
                }
                throw docker_failure{{errc::engine_error, "the Docker engine at " + ep.url + " answered " +
                                                              std::to_string(reply.status) + " " + reply.reason +
                                                              " to GET " + target + ": " + msg}};
            }
            std::string why;
            auto page = docker::parse_containers(reply.body, why);
            if (!page)
                throw docker_failure{{errc::invalid_response,
                                      "the Docker engine at " + ep.url + " answered GET " + target + " with " + why +
                                          ": " + docker::error_message(reply.body.substr(0, 120))}};
            for (auto& p : page->problems) w.warnings.push_back("GET " + target + ": " + p);
            const std::size_t raw = page->containers.size() + page->problems.size();
            std::size_t fresh = 0;
            std::string last;
            for (auto& c : page->containers) {
                last = c.container_id;
                if (seen.insert(c.container_id).second) {
                    w.items.push_back(std::move(c));
                    ++fresh;
                }
            }
            if (!paged) co_return w;
            if (raw == limit && fresh == 0) {
                // A full page with nothing new: the engine ignores `before`.
                w.how = walk_result::end::paging_ignored;
                co_return w;
            }
            // A short page is the last one; more than asked for means the
            // engine ignores `limit` and sent everything.
            if (raw != limit || last.empty()) co_return w;
            before = last;
        }
    }

    asio::awaitable<void> list(const docker_endpoint& ep, source_result& res) const {
        auto version = co_await negotiate(ep);
        res.detail = ep.url + (version ? " (API " + version->str() + ")" : " (API unversioned)");
        bool renegotiated = false;
        bool paged = true;
        int vanished = 0;
        for (;;) {
            walk_result w = co_await walk(ep, version, paged, !renegotiated);
            using end = walk_result::end;
            if (w.how == end::version_too_new) {
                // The engine is older than it said (or said nothing): speak its version.
                version = std::min(w.engine_version, docker::client_api_version);
                res.detail = ep.url + " (API " + version->str() + ")";
                renegotiated = true;
                continue;
            }
            if (w.how == end::anchor_vanished) {
                // Containers were removed while we paged: start again, and
                // after a few tries ask for the whole list at once.
                if (++vanished >= 3) {
                    paged = false;
                    res.warnings.push_back("containers at " + ep.url +
                                           " kept disappearing while listing them page by page; listed them in one request");
                }
                continue;
            }
            if (w.how == end::paging_ignored) {
                paged = false;
                res.warnings.push_back("the Docker engine at " + ep.url +
                                       " ignores the 'before' filter when paging; listed the containers in one request");
                continue;
            }
            std::move(w.warnings.begin(), w.warnings.end(), std::back_inserter(res.warnings));
            if (!opts_.all) {
                // Running only, even from an engine that ignores the status filter.
                std::erase_if(w.items, [](const container_item& c) {
                    return c.state == "created" || c.state == "exited" || c.state == "dead" || c.state == "removing";
                });
            }
            res.containers = std::move(w.items);
            co_return;
        }
    }

    docker_options opts_;
};

}  // namespace

bool parse_docker_host(std::string_view url, docker_endpoint& out, failure& err) {
    out = docker_endpoint{};
    out.url = std::string(url);
    auto bad = [&](std::string why) {
        err = {errc::unsupported, "cannot use Docker host '" + std::string(url) + "': " + why};
        return false;
    };
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return bad("expected unix:///path, tcp://host:port or npipe:////./pipe/name");
    const std::string_view scheme = url.substr(0, sep);
    const std::string_view rest = url.substr(sep + 3);
    if (scheme == "unix") {
        if (rest.empty() || rest.front() != '/') return bad("a unix socket path must be absolute");
        out.type = docker_endpoint::kind::unix_socket;
        out.path = std::string(rest);
        return true;
    }
    if (scheme == "npipe") {
        // npipe:////./pipe/docker_engine -> \\.\pipe\docker_engine
        std::string p(rest);
        for (auto& c : p)
            if (c == '/') c = '\\';
        if (p.empty()) return bad("a pipe name is missing");
        out.type = docker_endpoint::kind::npipe;
        out.path = p;
        return true;
    }
    if (scheme == "tcp" || scheme == "http") {
        // The url_view refers into its input, which must outlive it.
        const std::string as_http = "http://" + std::string(rest);
        auto r = boost::urls::parse_uri(as_http);
        if (!r || r->host().empty()) return bad("a host is missing or malformed");
        out.type = docker_endpoint::kind::tcp;
        out.host = std::string(r->host());
        if (out.host.size() > 2 && out.host.front() == '[') out.host = out.host.substr(1, out.host.size() - 2);
        out.port = r->has_port() ? std::string(r->port()) : std::string("2375");
        return true;
    }
    if (scheme == "https" || scheme == "ssh")
        return bad("the " + std::string(scheme) + ":// transport is not supported; use a unix socket or plain tcp://");
    return bad("unknown scheme '" + std::string(scheme) + "'");
}

docker_options docker_options_from_environment(docker_options base) {
    if (const char* h = std::getenv("DOCKER_HOST"); h && *h) base.env_host = std::string(h);
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) base.default_sockets.push_back(std::string(x) + "/podman/podman.sock");
    return base;
}

std::unique_ptr<source> make_docker_source(docker_options opts) { return std::make_unique<docker_source>(std::move(opts)); }

}  // namespace stocktake
