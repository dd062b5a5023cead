// `stocktake-server`: the collection server's command line. Only wiring
// lives here: config, the io_context and its threads, signals.

// GCC 12 at -O3 reports -Wnull-dereference inside Asio's any_executor
// comparisons (system headers, inlined here); not a problem of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif

#include "stocktake/server/credentials.hpp"
#include "stocktake/server/http_server.hpp"
#include "stocktake/server/log.hpp"
#include "stocktake/server/server_config.hpp"
#include "stocktake/server/store.hpp"
#include "stocktake/server/tls.hpp"
#include "stocktake/version.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace {

namespace asio = boost::asio;
namespace srv = stocktake::server;

constexpr int exit_ok = 0;
constexpr int exit_usage = 1;
constexpr int exit_start = 2;
constexpr int exit_internal = 3;

constexpr const char* default_config = "/etc/stocktake/stocktake-server.conf";

const char* const usage_text = R"(Usage: stocktake-server [--config FILE] [--check-config]

Receives inventories from stocktake agents, stores them (SQLite in
data_dir) and serves them to API users.

Options:
  -c, --config FILE     read FILE (default: /etc/stocktake/stocktake-server.conf)
      --check-config    validate the configuration (files, certificate, key)
                        and exit
  -h, --help            show this help
  -V, --version         show the version

API:
  PUT  /api/v1/clients/{id}/inventory   agent (Basic, client_auth_file); 204
  PATCH /api/v1/clients/{id}/inventory  agent: new "refreshed" for unchanged content
  HEAD /api/v1/clients/{id}/inventory   agent: ETag of the stored inventory
  GET  /api/v1/clients                  API user (Basic, [api])
  GET  /api/v1/clients/{id}             API user

Signals:
  SIGTERM, SIGINT   stop accepting, finish requests in flight (up to
                    [server] shutdown_grace), then exit; a second one
                    closes every connection at once
  SIGHUP            reload client_auth_file and [api] credentials

Exit status:
  0  stopped by SIGTERM/SIGINT after a clean shutdown
  1  usage or configuration error (message on stderr names the key and line)
  2  could not start: the listen address or the database is unusable
  3  internal error
)";

int usage_error(const std::string& msg) {
    std::cerr << "stocktake-server: " << msg << "\nTry 'stocktake-server --help'.\n";
    return exit_usage;
}

// Hundreds of agents need hundreds of descriptors: lift the soft limit.
void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// The auth files named by the config (also on SIGHUP).
bool load_credentials(const srv::server_config& cfg, srv::credentials& clients, srv::credentials& api_users,
                      std::string& err) {
    std::string why;
    if (!srv::load_credentials_file(cfg.server.client_auth_file, clients, why)) {
        err = srv::where(cfg, "server.client_auth_file") + "server.client_auth_file: " + why;
        return false;
    }
    if (cfg.api.auth) {
        const auto colon = cfg.api.auth->find(':');
        api_users.add(cfg.api.auth->substr(0, colon), std::string_view(*cfg.api.auth).substr(colon + 1));
    } else if (cfg.api.auth_file && !srv::load_credentials_file(*cfg.api.auth_file, api_users, why)) {
        err = srv::where(cfg, "api.auth_file") + "api.auth_file: " + why;
        return false;
    }
    return true;
}

int run(const std::string& config_path, bool check_only) {
    srv::server_config cfg;
    std::string err;
    if (!srv::load_server_config_file(config_path, cfg, err)) {
        std::cerr << "stocktake-server: config error: " << err << "\n";
        return exit_usage;
    }
    srv::log_level level = srv::log_level::info;
    srv::parse_log_level(cfg.server.log_level, level);
    srv::logger log(level, srv::stderr_sink);

    srv::credentials clients, api_users;
    if (!load_credentials(cfg, clients, api_users, err)) {
        std::cerr << "stocktake-server: config error: " << err << "\n";
        return exit_usage;
    }
    std::shared_ptr<asio::ssl::context> tls;
    if (cfg.server.tls_cert) {
        srv::tls_error te;
        tls = srv::make_server_tls_context(*cfg.server.tls_cert, *cfg.server.tls_key, te);
        if (!tls) {
            std::cerr << "stocktake-server: config error: " << te.message << "\n";
            return exit_usage;
        }
    }
    if (check_only) {
        std::cout << "stocktake-server: " << config_path << ": configuration OK\n";
        return exit_ok;
    }
    if (clients.empty()) log.warning(cfg.server.client_auth_file + ": no auth ids: no agent can deliver");
    if (api_users.empty()) log.warning("[api] has no auth or auth_file: the GET API answers 401 to everyone");
    if (!tls) log.warning("tls_cert/tls_key unset: serving plain HTTP; agents send passwords in clear text");

    raise_fd_limit();
    std::optional<srv::store> db;
    try {
        db.emplace(cfg.server.data_dir, log);
    } catch (const std::exception& e) {
        log.error(e.what());
        return exit_start;
    }
    log.info("database " + db->path() + ": " + std::to_string(db->size()) + " client(s)");

    asio::io_context ioc;
    srv::http_server server(ioc.get_executor(), cfg.server, *db, std::move(clients), std::move(api_users), tls, log);
    try {
        server.listen();
    } catch (const boost::system::system_error& e) {
        log.error(e.what());
        return exit_start;
    }
    log.info("stocktake-server " + std::string(stocktake::version_string) + " listening on " +
             srv::format_endpoint(server.local_endpoint()) + (tls ? " (https)" : " (http)"));

    // The signal_set, its handler and the final cancel share one strand: the
    // io_context runs on several threads, and a cancel racing the handler's
    // re-arm would leave the set waiting forever.
    auto signal_strand = asio::make_strand(ioc);
    asio::signal_set signals(signal_strand, SIGINT, SIGTERM, SIGHUP);
    int signal_count = 0;
    bool finished = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec || finished) return;
        if (sig == SIGHUP) {
            // Reload the credentials; every other setting needs a restart.
            srv::server_config fresh;
            srv::credentials c, a;
            std::string why;
            if (!srv::load_server_config_file(config_path, fresh, why) || !load_credentials(fresh, c, a, why)) {
                log.error("SIGHUP: config not reloaded, the old credentials stay: " + why);
            } else {
                // Swap first, then log: the line promises the new credentials are live.
                const auto n_clients = c.size(), n_api = a.size();
                server.set_credentials(std::move(c), std::move(a));
                log.info("SIGHUP: credentials reloaded (" + std::to_string(n_clients) + " auth id(s), " +
                         std::to_string(n_api) + " API user(s)); other settings change at restart");
            }
        } else if (++signal_count == 1) {
            log.info(std::string("received ") + ::strsignal(sig) + ": shutting down");
            server.shutdown();
        } else {
            log.warning(std::string("received ") + ::strsignal(sig) + " again: closing every connection now");
            server.terminate();
        }
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    std::exception_ptr failure;
    server.async_run([&](std::exception_ptr e) {
        failure = e;
        asio::post(signal_strand, [&] {
            finished = true;
            boost::system::error_code ignored;
            signals.cancel(ignored);
        });
    });

    // The event loop on every core: TLS, gzip and JSON work spread over them.
    const unsigned n = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) threads.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    db->stop();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            log.error(std::string("internal error: ") + e.what());
        }
        return exit_internal;
    }
    log.info("stopped");
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = default_config;
    bool check_only = false;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << usage_text;
            return exit_ok;
        }
        if (a == "-V" || a == "--version") {
            std::cout << "stocktake-server " << stocktake::version_string << "\n";
            return exit_ok;
        }
        if (a == "-c" || a == "--config") {
            if (i + 1 >= args.size()) return usage_error(a + " needs a file name");
            config = args[++i];
        } else if (a.starts_with("--config=")) {
            config = a.substr(9);
        } else if (a == "--check-config") {
            check_only = true;
        } else {
            return usage_error("unknown option '" + a + "'");
        }
    }
    try {
        return run(config, check_only);
    } catch (const std::exception& e) {
        std::cerr << "stocktake-server: internal error: " << e.what() << "\n";
        return exit_internal;
    }
}
