#pragma once
// Fixtures for the server tests: an in-process server on 127.0.0.1:0, the
// real stocktake-server binary as a child process, test certificates made
// with the openssl CLI, and sample inventories.

#include "http_client.hpp"
#include "support/fixtures.hpp"

#include "stocktake/server/http_server.hpp"
#include "stocktake/server/store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace stocktake::test {

inline constexpr const char* agent_a = "agent-a:pass-a";
inline constexpr const char* agent_b = "agent-b:pass-b";
inline constexpr const char* api_user = "admin:api-secret";

// An inventory object as the agent sends it (compact Boost.JSON text),
// with UTF-8, a container, an errors entry and an extra key.
std::string sample_inventory(int variant = 0);
// The same content as sample_inventory(0) with another `refreshed`.
std::string sample_inventory_refreshed(const std::string& refreshed);
// A larger one: `packages` software entries.
std::string big_inventory(std::size_t packages, int variant = 0);

// A server in this process, on the given io_context, with agent-a and
// agent-b as clients and admin as API user.
class live_server {
public:
    live_server(boost::asio::io_context& ioc, const fs::path& data_dir,
                const std::function<void(server::server_section&)>& tweak = {},
                std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
    ~live_server();

    boost::asio::ip::tcp::endpoint endpoint() const { return ep_; }
    server::store& db() { return *db_; }
    server::http_server& http() { return *srv_; }

    // Graceful shutdown; completes when the server's run has completed.
    boost::asio::awaitable<void> stop();
    bool stopped() const { return done_; }

    // Log lines so far ("<level>: <message>").
    std::vector<std::string> log_lines() const;
    bool logged(std::string_view needle) const;

private:
    std::optional<server::store> db_;
    std::optional<server::http_server> srv_;
    boost::asio::ip::tcp::endpoint ep_;
    boost::asio::steady_timer done_timer_;
    bool done_ = false;
    std::exception_ptr error_;
    mutable std::mutex log_mutex_;
    std::vector<std::string> lines_;
};

// Test PKI made with the openssl CLI: a CA, a server certificate for
// localhost and 127.0.0.1 signed by it, and an unrelated second CA.
struct test_pki {
    fs::path ca_cert, server_cert, server_key, other_ca_cert, other_key;
};
test_pki make_pki(const fs::path& dir);

// A client TLS context trusting exactly `ca`.
std::shared_ptr<boost::asio::ssl::context> client_tls(const fs::path& ca);

// The real stocktake-server binary as a child process.
class server_child {
public:
    // Starts `stocktake-server --config config` and waits (bounded) until
    // it logs "listening on"; throws with its stderr if it exits first.
    explicit server_child(const fs::path& config);
    ~server_child();  // SIGKILL if still running

    int pid() const;
    unsigned short port() const { return port_; }
    void signal(int sig);
    // The exit code (128 + signal when killed); throws when it does not
    // exit within `limit`.
    int wait(std::chrono::milliseconds limit);
    std::string stderr_text();
    // Reads stderr until a line containing `needle` (true) or `limit` passes.
    bool wait_for_line(std::string_view needle, std::chrono::milliseconds limit);
    // Peak resident memory (VmHWM) in KiB, from /proc.
    long peak_rss_kib() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    unsigned short port_ = 0;
};

// Writes a server config (and the auth files it names) into dir; returns
// its path. `extra` lines are appended to [server].
fs::path write_server_config(const fs::path& dir, const std::string& extra = {}, const std::string& api = "auth = \"admin:api-secret\"");

// This process's peak resident memory (VmHWM) in KiB.
long self_peak_rss_kib();

}  // namespace stocktake::test
