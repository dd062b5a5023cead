#include "server_fixture.hpp"

#include "support/process.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

namespace stocktake::test {
namespace asio = boost::asio;
namespace json = boost::json;
namespace bp = boost::process::v2;

std::string sample_inventory_refreshed(const std::string& refreshed) {
    auto v = json::parse(sample_inventory(0));
    v.as_object()["refreshed"] = refreshed;
    return json::serialize(v);
}

std::string sample_inventory(int variant) {
    json::object inv;
    inv["refreshed"] = "2024-09-18T13:29:40." + std::to_string(100000000 + variant) + "Z";
    inv["software_inventory"] = json::array{
        json::object{{"package", "curl"}, {"version", "8.5.0-2ubuntu10.4"},
                     {"summary", "command line tool for transferring data with URL syntax"},
                     {"architecture", "amd64"}, {"state", "installed"}},
        json::object{{"package", "libc6"}, {"version", "2.36-9+deb12u4"}, {"summary", "GNU C Library: Shared libraries"},
                     {"architecture", "amd64"}, {"state", "installed"}},
        json::object{{"package", "übersetzer"}, {"version", "1:2.0"}, {"summary", "Ünïcödé → ✓"},
                     {"architecture", "all"}, {"state", "half-configured"}},
    };
    inv["container_inventory"] = json::array{json::object{
        {"container_id", "ef5bde85d185571548ecc8de319a1ccd59e8a623ff3880f4e30c6fbe1b31abb8"},
        {"container_name", "/stoic_goldberg"},
        {"status", "Up 23 seconds"},
        {"image_id", "sha256:b1e9cef3f2977f8bdd19eb9ae04f83b315f80fe4f5c5651fedf41482c12432f7"},
        {"image_name", "ubuntu:latest"},
        {"state", "running"}}};
    inv["errors"] = json::array{json::object{{"source", "docker"}, {"code", "permission_denied"}, {"message", "no access"}}};
    inv["x_extra"] = json::object{{"variant", variant}};
    return json::serialize(inv);
}

std::string big_inventory(std::size_t packages, int variant) {
    json::object inv;
    inv["refreshed"] = "2024-09-18T13:29:40." + std::to_string(100000000 + variant) + "Z";
    json::array sw;
    for (std::size_t i = 0; i < packages; ++i)
        sw.push_back(json::object{{"package", "package-" + std::to_string(i)},
                                  {"version", "1." + std::to_string(i) + "-" + std::to_string(variant)},
                                  {"summary", "a package for testing the ingest of many entries"},
                                  {"architecture", "amd64"}, {"state", "installed"}});
    inv["software_inventory"] = std::move(sw);
    inv["container_inventory"] = json::array{};
    return json::serialize(inv);
}

live_server::live_server(asio::io_context& ioc, const fs::path& data_dir,
                         const std::function<void(server::server_section&)>& tweak,
                         std::shared_ptr<asio::ssl::context> tls)
    : done_timer_(ioc) {
    server::server_section cfg;
    cfg.listen = {"127.0.0.1", 0};
    cfg.data_dir = data_dir.string();
    cfg.max_body = 1u << 20;
    cfg.shutdown_grace = std::chrono::seconds{5};
    if (tweak) tweak(cfg);
    fs::create_directories(data_dir);
    server::logger log(server::log_level::debug, [this](server::log_level l, std::string_view m) {
        std::lock_guard lk(log_mutex_);
        lines_.push_back(std::string(server::level_name(l)) + ": " + std::string(m));
    });
    db_.emplace(cfg.data_dir, log);
    server::credentials clients, api;
    clients.add("agent-a", "pass-a");
    clients.add("agent-b", "pass-b");
    api.add("admin", "api-secret");
    srv_.emplace(ioc.get_executor(), cfg, *db_, std::move(clients), std::move(api), std::move(tls), log);
    srv_->listen();
    ep_ = srv_->local_endpoint();
    srv_->async_run([this](std::exception_ptr e) {
        error_ = e;
        done_ = true;
        done_timer_.cancel();
    });
}

live_server::~live_server() {
    if (db_) db_->stop();
}

asio::awaitable<void> live_server::stop() {
    srv_->shutdown();
    while (!done_) {
        done_timer_.expires_at(asio::steady_timer::time_point::max());
        co_await done_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (error_) std::rethrow_exception(error_);
}

std::vector<std::string> live_server::log_lines() const {
    std::lock_guard lk(log_mutex_);
    return lines_;
}

bool live_server::logged(std::string_view needle) const {
    std::lock_guard lk(log_mutex_);
    for (const auto& l : lines_)
        if (l.find(needle) != std::string::npos) return true;
    return false;
}

namespace {

void openssl(const std::vector<std::string>& args) {
    const auto r = run_process("openssl", args, {}, std::chrono::seconds{60});
    if (r.exit_code != 0) {
        std::string cmd = "openssl";
        for (const auto& a : args) cmd += " " + a;
        throw std::runtime_error(cmd + " failed: " + r.err);
    }
}

void make_ca(const fs::path& dir, const std::string& name, const std::string& cn) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             (dir / (name + ".key")).string(), "-out", (dir / (name + ".crt")).string(), "-days", "2", "-subj",
             "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
}

}  // namespace

test_pki make_pki(const fs::path& dir) {
    fs::create_directories(dir);
    make_ca(dir, "ca", "Stocktake Test CA");
    make_ca(dir, "other-ca", "Somebody Else's CA");
    write_text(dir / "server.ext",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             (dir / "server.key").string(), "-out", (dir / "server.csr").string(), "-subj", "/CN=localhost"});
    openssl({"x509", "-req", "-in", (dir / "server.csr").string(), "-CA", (dir / "ca.crt").string(), "-CAkey",
             (dir / "ca.key").string(), "-CAcreateserial", "-out", (dir / "server.crt").string(), "-days", "2",
             "-extfile", (dir / "server.ext").string()});
    return {dir / "ca.crt", dir / "server.crt", dir / "server.key", dir / "other-ca.crt", dir / "other-ca.key"};
}

std::shared_ptr<asio::ssl::context> client_tls(const fs::path& ca) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->load_verify_file(ca.string());
    ctx->set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

struct server_child::impl {
    asio::io_context ioc;
    asio::readable_pipe err{ioc};
    std::optional<bp::process> proc;
    std::string text;
    asio::streambuf sb;
    bool exited = false;
    int code = -1;
};

server_child::server_child(const fs::path& config) : impl_(std::make_unique<impl>()) {
    auto& d = *impl_;
    d.proc.emplace(d.ioc, std::string(STOCKTAKE_SERVER_BIN), std::vector<std::string>{"--config", config.string()},
                   bp::process_stdio{nullptr, nullptr, d.err});
    // Read stderr line by line until the listening line shows the port.
    const std::regex re("listening on [0-9.]+:([0-9]+)");
    bool found = false;
    std::function<void()> read_line = [&] {
        asio::async_read_until(d.err, d.sb, '\n', [&](boost::system::error_code ec, std::size_t n) {
            if (ec) return;
            std::string line(asio::buffers_begin(d.sb.data()), asio::buffers_begin(d.sb.data()) + static_cast<long>(n));
            d.sb.consume(n);
            d.text += line;
            std::smatch m;
            if (std::regex_search(line, m, re)) {
                port_ = static_cast<unsigned short>(std::stoi(m[1]));
                found = true;
                return;
            }
            read_line();
        });
    };
    read_line();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (!found && std::chrono::steady_clock::now() < deadline) {
        if (d.ioc.stopped()) break;  // stderr closed: it exited
        d.ioc.run_one_for(std::chrono::milliseconds{200});
    }
    d.ioc.restart();
    if (!found) {
        boost::system::error_code ec;
        d.proc->terminate(ec);
        throw std::runtime_error("stocktake-server did not start: " + d.text);
    }
}

server_child::~server_child() {
    if (impl_ && impl_->proc && !impl_->exited) {
        ::kill(impl_->proc->id(), SIGKILL);
        boost::system::error_code ec;
        impl_->proc->wait(ec);
    }
}

int server_child::pid() const { return impl_->proc->id(); }

void server_child::signal(int sig) { ::kill(impl_->proc->id(), sig); }

int server_child::wait(std::chrono::milliseconds limit) {
    auto& d = *impl_;
    if (d.exited) return d.code;
    // Collect the rest of stderr as well.
    std::array<char, 4096> buf{};
    std::function<void()> read_more = [&] {
        d.err.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t n) {
            d.text.append(buf.data(), n);
            if (!ec) read_more();
        });
    };
    if (d.sb.size()) {
        d.text.append(asio::buffers_begin(d.sb.data()), asio::buffers_end(d.sb.data()));
        d.sb.consume(d.sb.size());
    }
    read_more();
    d.proc->async_wait([&](boost::system::error_code, int native) {
        d.exited = true;
        d.code = WIFSIGNALED(native) ? 128 + WTERMSIG(native) : WEXITSTATUS(native);
    });
    d.ioc.restart();
    d.ioc.run_for(limit);
    if (!d.exited) throw std::runtime_error("stocktake-server did not exit in time");
    boost::system::error_code ec;
    d.err.close(ec);
    d.ioc.restart();
    d.ioc.poll();
    return d.code;
}

std::string server_child::stderr_text() { return impl_->text; }

bool server_child::wait_for_line(std::string_view needle, std::chrono::milliseconds limit) {
    auto& d = *impl_;
    bool found = false;
    std::function<void()> read_line = [&] {
        asio::async_read_until(d.err, d.sb, '\n', [&](boost::system::error_code ec, std::size_t n) {
            if (ec) return;
            std::string line(asio::buffers_begin(d.sb.data()), asio::buffers_begin(d.sb.data()) + static_cast<long>(n));
            d.sb.consume(n);
            d.text += line;
            if (line.find(needle) != std::string::npos) {
                found = true;
                return;
            }
            read_line();
        });
    };
    read_line();
    d.ioc.restart();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!found && !d.ioc.stopped() && std::chrono::steady_clock::now() < deadline)
        d.ioc.run_one_for(std::chrono::milliseconds{100});
    if (!found) {
        d.err.cancel();  // drop the pending read
        d.ioc.restart();
        d.ioc.poll();
    }
    d.ioc.restart();
    return found;
}

namespace {
long vm_hwm(const std::string& status_file) {
    std::ifstream f(status_file);
    std::string line;
    while (std::getline(f, line))
        if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
    return -1;
}
}  // namespace

long server_child::peak_rss_kib() const { return vm_hwm("/proc/" + std::to_string(impl_->proc->id()) + "/status"); }

long self_peak_rss_kib() { return vm_hwm("/proc/self/status"); }

fs::path write_server_config(const fs::path& dir, const std::string& extra, const std::string& api) {
    write_text(dir / "clients.auth", "# agents\nagent-a:pass-a\n\nagent-b:pass-b\n");
    const fs::path conf = dir / "server.conf";
    write_text(conf, "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"" + (dir / "data").string() +
                         "\"\nclient_auth_file = \"" + (dir / "clients.auth").string() + "\"\n" + extra + "\n[api]\n" +
                         api + "\n");
    return conf;
}

}  // namespace stocktake::test
