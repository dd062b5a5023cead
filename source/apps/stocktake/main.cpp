// `stocktake`: the agent's command line. Only wiring lives here.

#include "stocktake/agent/agent.hpp"
#include "stocktake/agent/control.hpp"
#include "stocktake/agent/notify.hpp"
#include "stocktake/collect/file_io.hpp"
#include "stocktake/agent/refresh.hpp"
#include "stocktake/agent/sources.hpp"
#include "stocktake/config/config.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/version.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <functional>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#ifdef _WIN32
#include "service_win.hpp"
#endif

namespace {

namespace asio = boost::asio;

constexpr int exit_ok = 0;
constexpr int exit_usage = 1;
constexpr int exit_partial = 2;
constexpr int exit_internal = 3;
constexpr int exit_no_service = 4;

#ifdef _WIN32
const char* const usage_text = R"(Usage: stocktake <command> [options]

Software and container inventory agent (Windows).

Commands:
  collect            collect this host's inventory once and print it as JSON
  run                the agent: refresh at start, on the timer, on triggers
                     and on registry changes; deliver to the server; serve
                     the control pipe. In a console until Ctrl+C, or (with
                     --service) under the Service Control Manager
  refresh            ask the running agent for a refresh now, wait, print a
                     summary
  status             print the running agent's status as JSON
  install-service    register the Windows service "stocktake" (LocalSystem,
                     automatic start, restarted after a failure); again to
                     update it
  uninstall-service  stop and remove the service

Options of 'collect':
  --config FILE         read FILE (default: $STOCKTAKE_CONFIG, else
                        stocktake.conf next to stocktake.exe when it exists)
  --pretty              indent the JSON
  --format FORMAT       rport (default) or cyclonedx
  --sources LIST        comma-separated sources to run (registry,docker);
                        default: [inventory] sources, else all

Options of 'run' and 'install-service':
  --config FILE         as for collect (install-service records its
                        absolute path in the service's command line)
  --service             (run) started by the SCM; logs go to
                        <data_dir>\stocktake.log

Options of 'refresh' and 'status':
  --socket PIPE         the agent's control pipe (default: [control] socket
                        of the config, else \\.\pipe\stocktake)
  --config FILE         where to find [control] socket

General:
  -h, --help            show this help
  -V, --version         show the version

Environment:
  DOCKER_HOST           Docker engine to ask (npipe:////./pipe/docker_engine
                        or tcp://host:port)
  STOCKTAKE_CONFIG      config file path
  STOCKTAKE_AUTH        server credentials <auth-id>:<password>

Exit status:
  0  success: every source was read (or is absent on this host)
  1  usage or configuration error (message on stderr)
  2  collect/refresh: the inventory was made, but one or more sources failed
     (see its "errors" array and stderr)
  3  internal error
  4  refresh/status: no agent answers on the control pipe
)";
#else
const char* const usage_text = R"(Usage: stocktake <command> [options]

Software and container inventory agent.

Commands:
  collect     collect this host's inventory once and print it as JSON
  run         the service: refresh at start, on the timer, on triggers and
              on dpkg changes; deliver to the server; serve the control socket
  refresh     ask the running service for a refresh now, wait, print a summary
  status      print the running service's status as JSON

Options of 'collect':
  --config FILE         read FILE (default: $STOCKTAKE_CONFIG, else
                        /etc/stocktake/stocktake.conf when it exists)
  --pretty              indent the JSON
  --format FORMAT       rport (default) or cyclonedx
  --sources LIST        comma-separated sources to run (dpkg,registry,docker);
                        default: [inventory] sources, else all

Options of 'run':
  --config FILE         as for collect
Signals: SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the config (a bad
new config is rejected and the old one keeps running).

Options of 'refresh' and 'status':
  --socket PATH         the service's control socket (default: [control]
                        socket of the config, else /run/stocktake/stocktake.sock)
  --config FILE         where to find [control] socket

General:
  -h, --help            show this help
  -V, --version         show the version

Environment:
  DOCKER_HOST           Docker engine to ask (unix:///path or tcp://host:port)
  STOCKTAKE_CONFIG      config file path
  STOCKTAKE_AUTH        server credentials <auth-id>:<password>

Exit status:
  0  success: every source was read (or is absent on this host)
  1  usage or configuration error (message on stderr)
  2  collect/refresh: the inventory was made, but one or more sources failed
     (see its "errors" array and stderr)
  3  internal error
  4  refresh/status: no service answers on the control socket
)";
#endif

int usage_error(const std::string& msg) {
    std::cerr << "stocktake: " << msg << "\nTry 'stocktake --help'.\n";
    return exit_usage;
}

struct collect_args {
    std::optional<std::string> config;
    bool pretty = false;
    stocktake::output_format format = stocktake::output_format::rport;
    std::optional<std::vector<std::string>> sources;
};

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i <= s.size()) {
        auto j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

int run_collect(const collect_args& args) {
    using namespace stocktake;
    // A one-shot process: one malloc arena and no trimming or mmap for big
    // blocks mean fewer page faults, which dominate a 20 MB database.
#ifdef __GLIBC__
    ::mallopt(M_ARENA_MAX, 1);
    ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    config cfg;
    const auto loc = locate_config(args.config);
    std::string err;
    if (loc.required || ::access(loc.path.c_str(), F_OK) == 0) {
        if (!load_config_file(loc.path, cfg, err)) {
            std::cerr << "stocktake: config error: " << err << "\n";
            return exit_usage;
        }
    }
    if (args.sources) cfg.inventory.sources = *args.sources;

    // io_context first, pool second: the pool is joined (destroyed) before
    // the io_context, so late pool completions never outlive their target.
    asio::io_context ioc;
    asio::thread_pool pool(2);
    auto sources = make_sources(cfg, pool.get_executor());

    std::optional<refresh_result> result;
    std::exception_ptr failure;
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    asio::cancellation_signal cancel;
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) cancel.emit(asio::cancellation_type::terminal);
    });
    asio::co_spawn(ioc, refresh_sources(sources.slots()),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr ep, refresh_result r) {
                       signals.cancel();
                       if (ep)
                           failure = ep;
                       else
                           result = std::move(r);
                   }));
    ioc.run();
    pool.join();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const boost::system::system_error& e) {
            if (e.code() == asio::error::operation_aborted) {
                std::cerr << "stocktake: interrupted\n";
                return 130;
            }
            std::cerr << "stocktake: internal error: " << e.what() << "\n";
        } catch (const std::exception& e) {
            std::cerr << "stocktake: internal error: " << e.what() << "\n";
        }
        return exit_internal;
    }
    for (const auto& rep : result->reports) {
        for (const auto& w : rep.warnings) std::cerr << "stocktake: warning: " << rep.source << ": " << w << "\n";
        if (rep.error) std::cerr << "stocktake: error: " << rep.source << ": " << rep.error->message << "\n";
    }
    std::string out = to_json_text(result->inv, args.format, args.pretty);
    out.push_back('\n');
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
        std::perror("stocktake: writing the inventory");
        return exit_internal;
    }
    return result->inv.errors.empty() ? exit_ok : exit_partial;
}

// Loads the config for `run`/`refresh`/`status` (as collect does).
bool load_agent_config(const std::optional<std::string>& path, stocktake::config& cfg, std::string& err) {
    using namespace stocktake;
    const auto loc = locate_config(path);
    if (loc.required || ::access(loc.path.c_str(), F_OK) == 0) {
        if (!load_config_file(loc.path, cfg, err)) return false;
    }
    return true;
}

// What `run` reports to and takes from its supervisor: systemd (through
// notify_systemd) or the Windows SCM (service_win.cpp).
struct supervisor {
    std::function<void()> running;                        // the agent is up
    std::function<void(std::function<void()>)> on_stop;   // how to ask it to stop, from any thread
    bool log_to_file = false;                             // no stderr (Windows service): data_dir/stocktake.log
};

int run_service(const std::optional<std::string>& config_path, const supervisor& sup) {
    using namespace stocktake;
    config cfg;
    std::string err;
    const bool config_ok = load_agent_config(config_path, cfg, err) && apply_defaults(cfg, err);
    logger log;
    if (sup.log_to_file) {
        // Even a config error must land somewhere an administrator looks:
        // the configured data_dir, else the default one.
        std::string dir = cfg.client.data_dir;
        if (!config_ok) {
            config fallback;
            std::string ignored;
            apply_defaults(fallback, ignored);
            dir = fallback.client.data_dir;
        }
        std::string why;
        if (make_private_dir(dir, why)) {
            auto sink = logger::file_sink(path_join(dir, "stocktake.log"), why);
            if (sink) log = logger(log_level::info, std::move(sink));
        }
        if (!why.empty()) log.error(why);
    }
    auto config_error = [&](const std::string& what) {
        if (sup.log_to_file)
            log.error("config error: " + what);
        else
            std::cerr << "stocktake: config error: " << what << "\n";
        return exit_usage;
    };
    if (!config_ok) return config_error(err);
#ifdef _WIN32
    // The service keeps its state there (pending.json is delivered as this
    // host's inventory): SYSTEM, administrators and the owner only, never a
    // folder another user made or a junction. (Linux: StateDirectory=.)
    if (std::string why; !make_private_dir(cfg.client.data_dir, why)) return config_error("client.data_dir: " + why);
#endif
    asio::io_context ioc(1);
    asio::thread_pool pool(2);
    std::optional<agent> a;
    try {
        a.emplace(ioc.get_executor(), pool.get_executor(), cfg, log);
    } catch (const std::exception& e) {  // e.g. an unreadable ca_file
        return config_error(e.what());
    }
#ifdef _WIN32
    asio::signal_set signals(ioc, SIGINT, SIGTERM);  // Ctrl+C in a console
#else
    asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
#endif
    int code = exit_ok;
    bool done = false;
    a->async_run([&](std::exception_ptr e) {
        done = true;
        signals.cancel();  // nothing else keeps the io_context running
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log.error(std::string("fatal: ") + ex.what());
            }
            code = exit_internal;
        }
        notify_systemd("STOPPING=1");
    });
    notify_systemd("READY=1\nSTATUS=running");
    if (sup.running) sup.running();
    if (sup.on_stop) {
        sup.on_stop([&] {
            asio::post(ioc, [&] {
                if (done) return;
                log.info("stopping: the Service Control Manager asked");
                a->stop();
            });
        });
    }

    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec || done) return;
#ifndef _WIN32
        if (sig == SIGHUP) {
            notify_systemd("RELOADING=1");
            config next;
            std::string why;
            if (load_agent_config(config_path ? config_path : (cfg.path.empty() ? std::nullopt : std::optional(cfg.path)), next, why) &&
                apply_defaults(next, why)) {
                try {
                    a->reload(next);
                    cfg = next;
                } catch (const std::exception& e) {
                    log.error(std::string("reload: rejected the new configuration, keeping the old one: ") + e.what());
                }
            } else {
                log.error("reload: rejected the new configuration, keeping the old one: " + why);
            }
            notify_systemd("READY=1");
            signals.async_wait(on_signal);
            return;
        }
#endif
        log.info(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
        signals.cancel();
        a->stop();
    };
    signals.async_wait(on_signal);
    {
        // However run() ends (it may throw), the supervisor must stop
        // posting to this io_context before it goes away.
        struct unhook {
            const supervisor& s;
            ~unhook() {
                if (s.on_stop) s.on_stop(nullptr);
            }
        } guard{sup};
        ioc.run();
    }
    a.reset();
    pool.join();
    return code;
}

std::string socket_for(const std::optional<std::string>& socket, const std::optional<std::string>& config_path, int& code) {
    code = exit_ok;
    if (socket) return *socket;
    stocktake::config cfg;
    std::string err;
    if (!load_agent_config(config_path, cfg, err)) {
        std::cerr << "stocktake: config error: " << err << "\n";
        code = exit_usage;
        return {};
    }
    return cfg.control.socket;
}

int run_client(const std::string& cmd, const std::optional<std::string>& socket, const std::optional<std::string>& config_path) {
    int code = exit_ok;
    const std::string path = socket_for(socket, config_path, code);
    if (code != exit_ok) return code;
    const bool refresh = cmd == "refresh";
    // A refresh waits for every source's timeout at most.
    auto reply = stocktake::control_request(path, refresh ? "POST" : "GET", refresh ? "/v1/refresh" : "/v1/status",
                                            std::chrono::seconds{refresh ? 600 : 10});
    if (!reply.ok) {
        std::cerr << "stocktake: " << reply.error << "\n";
        return exit_no_service;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(reply.body, ec);
    if (reply.status != 200 || ec || !v.is_object()) {
        std::cerr << "stocktake: the service answered " << reply.status << ": " << reply.body << "\n";
        return exit_internal;
    }
    if (!refresh) {
        std::cout << stocktake::pretty_print(v) << "\n";
        return exit_ok;
    }
    const auto& o = v.as_object();
    if (const auto* s = o.if_contains("summary"); s && s->is_string()) std::cout << std::string(s->get_string()) << "\n";
    // The refresh is done; say so when its delivery is not going through.
    if (auto st = stocktake::control_request(path, "GET", "/v1/status", std::chrono::seconds{10}); st.ok && st.status == 200) {
        boost::system::error_code sec;
        auto sv = boost::json::parse(st.body, sec);
        const auto* up = !sec && sv.is_object() ? sv.as_object().if_contains("upload") : nullptr;
        if (up && up->is_object()) {
            const auto& u = up->as_object();
            const auto* fails = u.if_contains("failures");
            const auto* err = u.if_contains("last_error");
            if (fails && fails->is_int64() && fails->as_int64() > 0 && err && err->is_string()) {
                std::cerr << "stocktake: warning: delivery to " << (u.contains("server") ? std::string(u.at("server").as_string()) : "")
                          << " is failing (" << fails->as_int64() << " attempt(s)): " << std::string(err->get_string());
                if (const auto* nr = u.if_contains("next_retry"); nr && nr->is_string())
                    std::cerr << "; next retry " << std::string(nr->get_string());
                std::cerr << "\n";
            }
        }
    }
    const auto* errs = o.if_contains("errors");
    if (errs && errs->is_array() && !errs->get_array().empty()) {
        for (const auto& e : errs->get_array())
            if (e.is_object() && e.get_object().contains("message"))
                std::cerr << "stocktake: error: " << std::string(e.at("source").as_string()) << ": "
                          << std::string(e.at("message").as_string()) << "\n";
        return exit_partial;
    }
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return usage_error("missing command");
    if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        std::cout << usage_text;
        return exit_ok;
    }
    if (args[0] == "-V" || args[0] == "--version") {
        std::cout << "stocktake " << stocktake::version_string << "\n";
        return exit_ok;
    }
    const std::string cmd = args[0];
#ifdef _WIN32
    const bool windows_cmd = cmd == "install-service" || cmd == "uninstall-service";
#else
    const bool windows_cmd = false;
    if (cmd == "install-service" || cmd == "uninstall-service")
        return usage_error("'" + cmd + "' is for Windows; on Linux install packaging/stocktake.service (systemd)");
#endif
    if (cmd != "collect" && cmd != "run" && cmd != "refresh" && cmd != "status" && !windows_cmd)
        return usage_error("unknown command '" + cmd + "'");
    bool as_service = false;

    collect_args ca;
    std::optional<std::string> socket;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const std::string& opt) -> std::optional<std::string> {
            if (auto eq = a.find('='); eq != std::string::npos && a.compare(0, eq, opt) == 0) return a.substr(eq + 1);
            if (a != opt) return std::nullopt;
            if (i + 1 >= args.size()) return std::string("\x01");
            return args[++i];
        };
        if (a == "-h" || a == "--help") {
            std::cout << usage_text;
            return exit_ok;
        }
        if (a == "-V" || a == "--version") {
            std::cout << "stocktake " << stocktake::version_string << "\n";
            return exit_ok;
        }
        if (auto v = value("--config")) {
            if (*v == "\x01") return usage_error("--config needs a file");
            ca.config = *v;
            continue;
        }
#ifdef _WIN32
        if (cmd == "run" && a == "--service") {
            as_service = true;
            continue;
        }
#endif
        if (cmd == "refresh" || cmd == "status") {
            if (auto v2 = value("--socket")) {
                if (*v2 == "\x01") return usage_error("--socket needs a path");
                socket = *v2;
                continue;
            }
        }
        if (cmd == "collect") {
            if (a == "--pretty") {
                ca.pretty = true;
                continue;
            }
            if (auto f = value("--format")) {
                if (*f == "rport")
                    ca.format = stocktake::output_format::rport;
                else if (*f == "cyclonedx")
                    ca.format = stocktake::output_format::cyclonedx;
                else
                    return usage_error("--format must be rport or cyclonedx, not '" + (*f == "\x01" ? std::string() : *f) + "'");
                continue;
            }
            if (auto s = value("--sources")) {
                if (*s == "\x01") return usage_error("--sources needs a list such as dpkg,docker");
                auto list = split_list(*s);
                for (const auto& n : list)
                    if (n != "dpkg" && n != "docker" && n != "registry")
                        return usage_error("--sources: unknown source '" + n + "'");
                ca.sources = list;
                continue;
            }
        }
        return usage_error("unknown option '" + a + "' for " + cmd);
    }
    try {
        if (cmd == "collect") return run_collect(ca);
#ifdef _WIN32
        if (cmd == "install-service") {
            // Check the config now, not at the first `sc start`.
            stocktake::config cfg;
            std::string err;
            const auto loc = stocktake::locate_config(ca.config);
            if (!load_agent_config(ca.config, cfg, err) || !stocktake::apply_defaults(cfg, err)) {
                std::cerr << "stocktake: config error: " << err << "\nstocktake: the service was not installed\n";
                return exit_usage;
            }
            if (!loc.required && cfg.path.empty())
                std::cerr << "stocktake: note: " << loc.path << " does not exist: the service will run on built-in defaults "
                          << "(collect only, no server)\n";
            return stocktake::service::install(ca.config);
        }
        if (cmd == "uninstall-service") return stocktake::service::uninstall();
        if (cmd == "run" && as_service) {
            const auto config = ca.config;
            return stocktake::service::run_dispatcher([config](stocktake::service::control& c) {
                supervisor sup;
                sup.running = c.running;
                sup.on_stop = c.on_stop;
                sup.log_to_file = true;
                return run_service(config, sup);
            });
        }
#else
        (void)as_service;
#endif
        if (cmd == "run") return run_service(ca.config, supervisor{});
        return run_client(cmd, socket, ca.config);
    } catch (const std::exception& e) {
        std::cerr << "stocktake: internal error: " << e.what() << "\n";
        return exit_internal;
    }
}
