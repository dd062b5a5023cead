// `stocktake`: the agent's command line. Only wiring lives here.

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

#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace asio = boost::asio;

constexpr int exit_ok = 0;
constexpr int exit_usage = 1;
constexpr int exit_partial = 2;
constexpr int exit_internal = 3;

const char* const usage_text = R"(Usage: stocktake <command> [options]

Software and container inventory agent.

Commands:
  collect     collect this host's inventory once and print it as JSON

Options of 'collect':
  --config FILE         read FILE (default: $STOCKTAKE_CONFIG, else
                        /etc/stocktake/stocktake.conf when it exists)
  --pretty              indent the JSON
  --format FORMAT       rport (default) or cyclonedx
  --sources LIST        comma-separated sources to run (dpkg,docker);
                        default: [inventory] sources, else all

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
  2  the inventory was printed, but one or more sources failed (see its
     "errors" array and stderr)
  3  internal error
)";

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
    if (cmd != "collect") return usage_error("unknown command '" + cmd + "'");

    collect_args ca;
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
        if (a == "--pretty") {
            ca.pretty = true;
        } else if (auto v = value("--config")) {
            if (*v == "\x01") return usage_error("--config needs a file");
            ca.config = *v;
        } else if (auto f = value("--format")) {
            if (*f == "rport")
                ca.format = stocktake::output_format::rport;
            else if (*f == "cyclonedx")
                ca.format = stocktake::output_format::cyclonedx;
            else
                return usage_error("--format must be rport or cyclonedx, not '" + (*f == "\x01" ? std::string() : *f) + "'");
        } else if (auto s = value("--sources")) {
            if (*s == "\x01") return usage_error("--sources needs a list such as dpkg,docker");
            auto list = split_list(*s);
            for (const auto& n : list)
                if (n != "dpkg" && n != "docker") return usage_error("--sources: unknown source '" + n + "'");
            ca.sources = list;
        } else {
            return usage_error("unknown option '" + a + "' for collect");
        }
    }
    try {
        return run_collect(ca);
    } catch (const std::exception& e) {
        std::cerr << "stocktake: internal error: " << e.what() << "\n";
        return exit_internal;
    }
}
