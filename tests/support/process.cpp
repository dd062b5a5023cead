#include "support/process.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <boost/process/v2/src.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace stocktake::test {
namespace asio = boost::asio;
namespace bp = boost::process::v2;

std::string find_program(const std::string& name) {
    auto p = bp::environment::find_executable(name);
    return p.empty() ? std::string() : p.string();
}

process_result run_process(const std::string& exe, const std::vector<std::string>& args,
                           const std::map<std::string, std::optional<std::string>>& env, std::chrono::seconds limit) {
    asio::io_context ioc;
    std::map<std::string, std::string> vars;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : env) {
        if (v)
            vars[k] = *v;
        else
            vars.erase(k);
    }
    std::vector<std::string> env_list;
    for (const auto& [k, v] : vars) env_list.push_back(k + "=" + v);

    asio::readable_pipe out_pipe(ioc), err_pipe(ioc);
    std::string path = exe;
    if (path.find('/') == std::string::npos) path = find_program(exe);
    if (path.empty()) throw std::runtime_error("program not found: " + exe);
    bp::process proc(ioc, path, args, bp::process_stdio{nullptr, out_pipe, err_pipe},
                     bp::process_environment(env_list));
    process_result r;
    std::array<char, 65536> ob{}, eb{};
    std::function<void()> read_out, read_err;
    read_out = [&] {
        out_pipe.async_read_some(asio::buffer(ob), [&](boost::system::error_code ec, std::size_t n) {
            r.out.append(ob.data(), n);
            if (!ec) read_out();
        });
    };
    read_err = [&] {
        err_pipe.async_read_some(asio::buffer(eb), [&](boost::system::error_code ec, std::size_t n) {
            r.err.append(eb.data(), n);
            if (!ec) read_err();
        });
    };
    read_out();
    read_err();
    bool exited = false;
    proc.async_wait([&](boost::system::error_code, int code) {
        exited = true;
        r.exit_code = code;
    });
    ioc.run_for(limit);
    if (!exited) {
        boost::system::error_code ec;
        proc.terminate(ec);
        throw std::runtime_error(exe + " did not finish within " + std::to_string(limit.count()) + " s");
    }
    ioc.restart();
    ioc.run_for(std::chrono::seconds{5});  // drain the pipes
    return r;
}

}  // namespace stocktake::test
