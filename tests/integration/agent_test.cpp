// The agent as a library object and as the `stocktake run` service:
// embedding, triggers and their coalescing, the control socket, prompt
// shutdown mid-refresh, SIGHUP reload.

#include "stocktake/agent/agent.hpp"
#include "stocktake/agent/control.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <future>
#include <thread>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace stocktake;
using namespace stocktake::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// An "engine" that accepts connections and never answers: a refresh with
// the docker source then lasts until its step timeout.
class stalling_engine {
public:
    explicit stalling_engine(fs::path path) : path_(std::move(path)), acceptor_(ioc_, asio::local::stream_protocol::endpoint(path_.string())) {
        accept();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~stalling_engine() {
        asio::post(ioc_, [this] {
            acceptor_.close();
            held_.clear();
        });
        ioc_.stop();
        thread_.join();
    }
    std::string url() const { return "unix://" + path_.string(); }

private:
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, asio::local::stream_protocol::socket s) {
            if (ec) return;
            held_.push_back(std::move(s));
            accept();
        });
    }
    fs::path path_;
    asio::io_context ioc_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::vector<asio::local::stream_protocol::socket> held_;
    std::thread thread_;
};

struct agent_env {
    temp_dir dir;
    config cfg;
    agent_env() {
        fs::create_directories(dir / "admin");
        fs::copy(cases_dir() / "04-dpkg-multiarch" / "status", dir / "admin" / "status");
        cfg.inventory.dpkg_admindir = (dir / "admin").string();
        cfg.inventory.docker_host = "unix://" + (dir / "no-engine.sock").string();
        cfg.control.socket = (dir / "run" / "stocktake.sock").string();
        cfg.client.data_dir = (dir / "data").string();
        cfg.client.id = "test-client";
        cfg.client.name = "test";
        cfg.client.inventory_interval = 1h;
    }
};

logger quiet_logger(std::vector<std::string>* lines = nullptr) {
    return logger(log_level::debug, [lines](log_level, std::string_view m) {
        if (lines) lines->emplace_back(m);
    });
}

// Runs `ioc` until `pred` holds or `limit` passes.
template <class Pred>
bool run_until(asio::io_context& ioc, Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) {
        ioc.run_for(10ms);
        if (ioc.stopped()) ioc.restart();
    }
    return pred();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(agent_library)

BOOST_AUTO_TEST_CASE(embeds_in_another_programs_io_context) {
    agent_env env;
    asio::io_context ioc;
    asio::thread_pool pool(1);
    // The host program's own work, next to the agent.
    int ticks = 0;
    asio::steady_timer tick(ioc);
    std::function<void()> arm = [&] {
        tick.expires_after(5ms);
        tick.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            ++ticks;
            arm();
        });
    };
    arm();
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    bool run_done = false;
    std::exception_ptr run_error;
    a.async_run([&](std::exception_ptr e) {
        run_done = true;
        run_error = e;
    });
    std::optional<refresh_summary> got;
    a.async_refresh([&](std::exception_ptr e, refresh_summary s) {
        BOOST_TEST(!e);
        got = s;
    });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return got.has_value(); }));
    BOOST_TEST(got->software == 4u);
    BOOST_TEST(got->containers == 0u);
    BOOST_TEST(got->errors.empty());
    BOOST_TEST(got->number >= 1u);
    auto inv = parse_json(a.inventory_json());
    BOOST_TEST(inv.at("software_inventory").as_array().size() == 4u);
    auto st = parse_json(a.status_json());
    BOOST_TEST(st.at("running").as_bool());
    BOOST_TEST(st.at("client_id").as_string() == "test-client");
    BOOST_TEST(!st.at("next_refresh").is_null());
    BOOST_TEST(fs::exists(env.cfg.control.socket));
    BOOST_TEST(ticks > 0);  // the host's timer kept running

    a.stop();
    tick.cancel();
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return run_done; }, 2s));
    BOOST_TEST(!run_error);
    ioc.restart();
    ioc.run_for(200ms);
    BOOST_TEST(ioc.stopped());  // nothing of the agent's is left on the io_context
    BOOST_TEST(!fs::exists(env.cfg.control.socket));  // removed on the way out
    pool.join();
}

BOOST_AUTO_TEST_CASE(refresh_without_run) {
    agent_env env;
    asio::io_context ioc;
    asio::thread_pool pool(1);
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    std::vector<refresh_summary> got;
    for (int i = 0; i < 3; ++i)
        a.async_refresh([&](std::exception_ptr e, refresh_summary s) {
            BOOST_TEST(!e);
            got.push_back(s);
        });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return got.size() == 3; }));
    for (const auto& s : got) BOOST_TEST(s.software == 4u);
    // The first call refreshed; the two during it coalesced into one more.
    BOOST_TEST(got[0].number == 1u);
    BOOST_TEST(got[1].number == 2u);
    BOOST_TEST(got[2].number == 2u);
    BOOST_TEST(parse_json(a.status_json()).at("refreshes").to_number<std::int64_t>() == 2);
    ioc.restart();
    ioc.run_for(100ms);
    BOOST_TEST(ioc.stopped());
    pool.join();
}

BOOST_AUTO_TEST_CASE(triggers_during_a_refresh_coalesce) {
    agent_env env;
    stalling_engine engine(env.dir / "stall.sock");
    env.cfg.inventory.docker_host = engine.url();
    env.cfg.inventory.docker_step_timeout = 300ms;  // each refresh takes ~0.3 s
    asio::io_context ioc;
    asio::thread_pool pool(1);
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    bool run_done = false;
    a.async_run([&](std::exception_ptr) { run_done = true; });
    // Let the start-up refresh begin, then trigger five times during it.
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return parse_json(a.status_json()).at("refreshing").as_bool(); }));
    std::vector<refresh_summary> got;
    for (int i = 0; i < 5; ++i)
        a.async_refresh([&](std::exception_ptr e, refresh_summary s) {
            BOOST_TEST(!e);
            got.push_back(s);
        });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return got.size() == 5; }));
    for (const auto& s : got) {
        BOOST_TEST(s.number == 2u);  // one rerun answered all five
        BOOST_TEST_REQUIRE(s.errors.size() == 1u);
        BOOST_TEST(s.errors[0].source == "docker");
        BOOST_TEST(s.errors[0].code == "timeout");
        BOOST_TEST(s.software == 4u);  // the slow source did not hold back dpkg
    }
    BOOST_TEST(parse_json(a.status_json()).at("refreshes").to_number<std::int64_t>() == 2);
    a.stop();
    BOOST_TEST(run_until(ioc, [&] { return run_done; }, 2s));
    pool.join();
}

BOOST_AUTO_TEST_CASE(stop_mid_refresh_is_prompt) {
    agent_env env;
    stalling_engine engine(env.dir / "stall.sock");
    env.cfg.inventory.docker_host = engine.url();
    env.cfg.inventory.docker_step_timeout = 60s;
    asio::io_context ioc;
    asio::thread_pool pool(1);
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    bool run_done = false;
    std::exception_ptr err;
    a.async_run([&](std::exception_ptr e) {
        run_done = true;
        err = e;
    });
    bool refresh_failed = false;
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return parse_json(a.status_json()).at("refreshing").as_bool(); }));
    a.async_refresh([&](std::exception_ptr e, refresh_summary) { refresh_failed = e != nullptr; });
    ioc.run_for(100ms);
    const auto start = std::chrono::steady_clock::now();
    a.stop();
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return run_done && refresh_failed; }, 2s));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 1s));
    BOOST_TEST(!err);  // a clean stop
    ioc.restart();
    ioc.run_for(100ms);
    BOOST_TEST(ioc.stopped());
    pool.join();
}

BOOST_AUTO_TEST_CASE(control_socket_endpoints) {
    agent_env env;
    asio::io_context ioc;
    asio::thread_pool pool(1);
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    bool run_done = false;
    a.async_run([&](std::exception_ptr) { run_done = true; });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return fs::exists(env.cfg.control.socket); }));
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(env.cfg.control.socket.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0660u);  // owner and group only
    const std::string sock = env.cfg.control.socket;
    auto ask = [&](std::string method, std::string target) {
        auto f = std::async(std::launch::async, [=] { return control_request(sock, method, target, 10s); });
        run_until(ioc, [&] { return f.wait_for(0ms) == std::future_status::ready; });
        return f.get();
    };
    auto r = ask("POST", "/v1/refresh");
    BOOST_TEST_REQUIRE(r.ok, r.error);
    BOOST_TEST(r.status == 200u);
    auto sum = parse_json(r.body);
    BOOST_TEST(sum.at("software").as_int64() == 4);
    BOOST_TEST(sum.at("summary").as_string().find("4 packages") != std::string::npos);
    auto s = ask("GET", "/v1/status");
    BOOST_TEST(s.status == 200u);
    BOOST_TEST(parse_json(s.body).at("running").as_bool());
    auto inv = ask("GET", "/v1/inventory");
    BOOST_TEST(parse_json(inv.body).at("software_inventory").as_array().size() == 4u);
    BOOST_TEST(ask("GET", "/v1/nope").status == 404u);
    BOOST_TEST(ask("GET", "/v1/refresh").status == 405u);
    a.stop();
    BOOST_TEST(run_until(ioc, [&] { return run_done; }, 2s));
    pool.join();
}

BOOST_AUTO_TEST_CASE(stale_socket_replaced_live_one_refused) {
    agent_env env;
    fs::create_directories(fs::path(env.cfg.control.socket).parent_path());
    {
        // A socket file left behind by a process that died.
        asio::io_context tmp;
        asio::local::stream_protocol::acceptor acc(tmp, asio::local::stream_protocol::endpoint(env.cfg.control.socket));
    }
    BOOST_TEST_REQUIRE(fs::exists(env.cfg.control.socket));
    asio::io_context ioc;
    asio::thread_pool pool(1);
    agent a(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger());
    bool run_done = false;
    a.async_run([&](std::exception_ptr) { run_done = true; });
    std::optional<refresh_summary> got;
    a.async_refresh([&](std::exception_ptr, refresh_summary s) { got = s; });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return got.has_value(); }));
    // A second service on the same socket must refuse, not steal it.
    std::vector<std::string> b_log;
    agent b(ioc.get_executor(), pool.get_executor(), env.cfg, quiet_logger(&b_log));
    bool b_done = false;
    std::string b_error;
    b.async_run([&](std::exception_ptr e) {
        b_done = true;
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& x) {
            b_error = x.what();
        }
    });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return b_done; }, 5s));
    std::string joined;
    for (auto& l : b_log) joined += l + "\n";
    BOOST_TEST(b_error.find("already listening") != std::string::npos, b_error << " / log: " << joined);
    BOOST_TEST(fs::exists(env.cfg.control.socket));  // the first one's socket survived
    a.stop();
    BOOST_TEST(run_until(ioc, [&] { return run_done; }, 2s));
    pool.join();
}

BOOST_AUTO_TEST_CASE(the_embedding_example_runs) {
    temp_dir d;
    fs::create_directories(d / "admin");
    fs::copy(cases_dir() / "05-dpkg-epochs" / "status", d / "admin" / "status");
    auto r = run_process(STOCKTAKE_EMBED_EXAMPLE, {(d / "admin").string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("agent: refresh ") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("5 packages, 0 containers, no errors") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("host: event loop drained") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(service_process)

namespace {

const std::string cli = STOCKTAKE_CLI;

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(cli.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(cli.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

bool wait_for(std::function<bool()> pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

// Waits for `pid` up to `limit`; returns the exit status or -1.
int reap(pid_t pid, std::chrono::milliseconds limit) {
    int status = 0;
    if (!wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string write_config(const agent_env& env, const std::string& interval, const std::string& docker) {
    const auto p = env.dir / "stocktake.conf";
    write_text(p, "[client]\nid = \"svc\"\ninventory_interval = '" + interval + "'\ndata_dir = \"" + env.cfg.client.data_dir +
                      "\"\n[inventory]\ndpkg_admindir = \"" + env.cfg.inventory.dpkg_admindir + "\"\ndocker_host = \"" +
                      docker + "\"\ndocker_timeout = '60s'\n[control]\nsocket = \"" + env.cfg.control.socket + "\"\n");
    return p.string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigterm_mid_refresh_exits_0_within_2s) {
    agent_env env;
    stalling_engine engine(env.dir / "stall.sock");
    const auto conf = write_config(env, "1h", engine.url());
    const pid_t pid = spawn({"run", "--config", conf}, env.dir / "log");
    BOOST_TEST_REQUIRE(wait_for([&] { return fs::exists(env.cfg.control.socket); }, 10s));
    // The start-up refresh is stuck on the engine now.
    BOOST_TEST_REQUIRE(wait_for([&] {
        auto r = control_request(env.cfg.control.socket, "GET", "/v1/status", 2s);
        return r.ok && parse_json(r.body).at("refreshing").as_bool();
    }, 5s));
    const auto start = std::chrono::steady_clock::now();
    ::kill(pid, SIGTERM);
    const int code = reap(pid, 2s);
    BOOST_TEST(code == 0, "exit status " << code << "; log:\n" << read_text(env.dir / "log"));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    BOOST_TEST(read_text(env.dir / "log").find("stopping on SIGTERM") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_and_a_bad_config_keeps_the_old) {
    agent_env env;
    auto conf = write_config(env, "1h", env.cfg.inventory.docker_host.value());
    const pid_t pid = spawn({"run", "--config", conf}, env.dir / "log");
    auto interval = [&]() -> std::int64_t {
        auto r = control_request(env.cfg.control.socket, "GET", "/v1/status", 2s);
        if (!r.ok) return -1;
        return parse_json(r.body).at("interval_s").as_int64();
    };
    BOOST_TEST_REQUIRE(wait_for([&] { return interval() == 3600; }, 10s));
    write_config(env, "30m", env.cfg.inventory.docker_host.value());
    ::kill(pid, SIGHUP);
    BOOST_TEST(wait_for([&] { return interval() == 1800; }, 5s));
    write_text(conf, "[client]\ninventory_interval = 'soon'\n");
    ::kill(pid, SIGHUP);
    BOOST_TEST(wait_for([&] { return read_text(env.dir / "log").find("rejected the new configuration") != std::string::npos; }, 5s));
    BOOST_TEST(interval() == 1800);  // still running, with the old config
    BOOST_TEST(read_text(env.dir / "log").find("client.inventory_interval") != std::string::npos);
    ::kill(pid, SIGTERM);
    BOOST_TEST(reap(pid, 2s) == 0);
}

BOOST_AUTO_TEST_CASE(refresh_and_status_without_a_service) {
    temp_dir d;
    auto r = run_process(cli, {"refresh", "--socket", (d / "none.sock").string()});
    BOOST_TEST(r.exit_code == 4);
    BOOST_TEST(r.err.find("no stocktake service is listening on " + (d / "none.sock").string()) != std::string::npos, r.err);
    auto s = run_process(cli, {"status", "--socket", (d / "none.sock").string()});
    BOOST_TEST(s.exit_code == 4);
}

BOOST_AUTO_TEST_CASE(refresh_and_status_commands) {
    agent_env env;
    const auto conf = write_config(env, "1h", env.cfg.inventory.docker_host.value());
    const pid_t pid = spawn({"run", "--config", conf}, env.dir / "log");
    BOOST_TEST_REQUIRE(wait_for([&] { return fs::exists(env.cfg.control.socket); }, 10s));
    auto r = run_process(cli, {"refresh", "--config", conf});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("4 packages, 0 containers, no errors") != std::string::npos, r.out);
    auto s = run_process(cli, {"status", "--socket", env.cfg.control.socket});
    BOOST_TEST(s.exit_code == 0);
    auto st = parse_json(s.out);
    BOOST_TEST(st.at("refreshes").as_int64() >= 2);
    BOOST_TEST(st.at("last_refresh").at("software").as_int64() == 4);
    BOOST_TEST(st.at("data_dir").as_string() == env.cfg.client.data_dir);
    BOOST_TEST(r.err.find("delivery") == std::string::npos, r.err);  // no server: nothing to warn about
    ::kill(pid, SIGTERM);
    BOOST_TEST(reap(pid, 2s) == 0);
}

BOOST_AUTO_TEST_CASE(refresh_warns_when_delivery_is_failing) {
    agent_env env;
    // A loopback port nobody listens on.
    asio::io_context ioc;
    unsigned short port = 0;
    {
        asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    const auto conf = env.dir / "stocktake.conf";
    write_text(conf, "[client]\nid = \"svc\"\nserver = \"" + url + "\"\nauth = \"a:b\"\ndata_dir = \"" + env.cfg.client.data_dir +
                         "\"\n[inventory]\ndpkg_admindir = \"" + env.cfg.inventory.dpkg_admindir + "\"\ndocker_host = \"" +
                         env.cfg.inventory.docker_host.value() + "\"\n[control]\nsocket = \"" + env.cfg.control.socket + "\"\n");
    const pid_t pid = spawn({"run", "--config", conf.string()}, env.dir / "log");
    BOOST_TEST_REQUIRE(wait_for([&] {
        auto r = control_request(env.cfg.control.socket, "GET", "/v1/status", 2s);
        return r.ok && parse_json(r.body).at("upload").at("failures").as_int64() > 0;
    }, 10s));
    auto r = run_process(cli, {"refresh", "--config", conf.string()});
    BOOST_TEST(r.exit_code == 0, r.err);  // the refresh itself worked
    BOOST_TEST(r.out.find("4 packages") != std::string::npos, r.out);
    BOOST_TEST(r.err.find("warning: delivery to " + url + " is failing") != std::string::npos, r.err);
    ::kill(pid, SIGTERM);
    BOOST_TEST(reap(pid, 2s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
