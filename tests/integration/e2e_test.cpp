// End to end on loopback: the real stocktake-server, then `stocktake run` on
// this host's real dpkg database (and the test Docker engine when there is
// one); the inventory must appear on the API, equal to `stocktake collect`.

#include "http_client.hpp"
#include "server_fixture.hpp"
#include "stocktake/agent/control.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/real_peer.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace stocktake;
using namespace stocktake::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

const std::string cli = STOCKTAKE_CLI;

struct child {
    pid_t pid = -1;
    ~child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    int stop(std::chrono::milliseconds limit = 3s) {
        if (pid <= 0) return -1;
        ::kill(pid, SIGTERM);
        const auto end = std::chrono::steady_clock::now() + limit;
        int status = 0;
        while (std::chrono::steady_clock::now() < end) {
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(10ms);
        }
        return -1;
    }
};

child spawn_agent(const fs::path& conf, const fs::path& log) {
    child c;
    c.pid = ::fork();
    if (c.pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execl(cli.c_str(), cli.c_str(), "run", "--config", conf.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    return c;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

// GET on the API; status 0 when the server cannot be reached.
std::pair<unsigned, std::string> api_get(unsigned short port, const std::string& target,
                                         std::shared_ptr<asio::ssl::context> tls = nullptr) {
    asio::io_context ioc;
    http_client c(ioc.get_executor(), {asio::ip::make_address("127.0.0.1"), port}, tls);
    auto req = make_request(http::verb::get, target, api_user);
    std::pair<unsigned, std::string> out{0, {}};
    asio::co_spawn(ioc, c.request(req, 5s), [&](std::exception_ptr e, http_response r) {
        if (!e) out = {r.result_int(), r.body()};
    });
    ioc.run_for(10s);
    return out;
}

// A log for a failure message (which Boost.Test builds eagerly): never throws.
std::string log_of(const fs::path& p) {
    std::error_code ec;
    return fs::exists(p, ec) ? read_text(p) : std::string("(no log yet)");
}

unsigned short free_port() {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

std::string docker_line() {
    if (auto h = test_docker_host()) return "docker_host = \"" + *h + "\"\n";
    return "docker_host = \"unix:///nonexistent/docker.sock\"\n";
}

fs::path agent_config(const temp_dir& d, const std::string& server, const std::string& id, const std::string& extra_client = {},
                      const std::string& extra_inventory = {}) {
    const auto p = d / ("agent-" + id + ".conf");
    write_text(p, "[client]\nserver = \"" + server + "\"\nauth = \"agent-a:pass-a\"\nid = \"" + id + "\"\nname = \"host-" + id +
                      "\"\ninventory_interval = '1h'\ndata_dir = \"" + (d / ("data-" + id)).string() +
                      "\"\nupload_retry_min = '200ms'\nupload_retry_max = '1s'\n" + extra_client + "\n[inventory]\n" +
                      docker_line() + extra_inventory + "\n[control]\nsocket = \"" + (d / ("run-" + id) / "s.sock").string() +
                      "\"\n");
    return p;
}

std::set<std::string> software_keys(const json::value& inv) {
    std::set<std::string> out;
    for (const auto& e : inv.at("software_inventory").as_array()) {
        const auto& o = e.as_object();
        std::string k;
        for (const char* f : {"package", "architecture", "version", "summary", "state"})
            k += std::string(o.contains(f) ? o.at(f).as_string().c_str() : "") + "|";
        out.insert(k);
    }
    return out;
}

std::set<std::string> container_ids(const json::value& inv) {
    std::set<std::string> out;
    for (const auto& e : inv.at("container_inventory").as_array())
        out.insert(std::string(e.at("container_id").as_string()) + " " + std::string(e.at("container_name").as_string()));
    return out;
}

json::value agent_status(const temp_dir& d, const std::string& id) {
    auto r = control_request((d / ("run-" + id) / "s.sock").string(), "GET", "/v1/status", 5s);
    if (!r.ok) return json::value(nullptr);
    return parse_json(r.body);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_AUTO_TEST_CASE(this_hosts_inventory_appears_on_the_api) {
    temp_dir d;
    server_child server(write_server_config(d.path() / "srv"));
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
    const auto conf = agent_config(d, url, "e2e");
    const auto start = std::chrono::steady_clock::now();
    auto agent = spawn_agent(conf, d / "agent.log");
    std::pair<unsigned, std::string> got;
    BOOST_TEST_REQUIRE(eventually([&] { return (got = api_get(server.port(), "/api/v1/clients/e2e")).first == 200; }, 20s),
                       "not delivered; agent log:\n" << log_of(d / "agent.log"));
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST_MESSAGE("delivered " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms after start");
    BOOST_TEST((took < 10s));
    auto v = parse_json(got.second);
    const auto& data = v.at("data").as_object();
    BOOST_TEST(data.at("id").as_string() == "e2e");
    BOOST_TEST(data.at("name").as_string() == "host-e2e");
    const auto& inv = data.at("inventory");
    BOOST_TEST(inv.at("refreshed").is_string());

    // Equal to what `stocktake collect` finds with the same config.
    auto c = run_process(cli, {"collect", "--config", conf.string()});
    BOOST_TEST_REQUIRE((c.exit_code == 0 || c.exit_code == 2), c.err);
    auto local = parse_json(c.out);
    BOOST_TEST(software_keys(inv).size() > 50u);
    BOOST_TEST((software_keys(inv) == software_keys(local)));
    BOOST_TEST((container_ids(inv) == container_ids(local)));
    if (test_docker_host()) BOOST_TEST(container_ids(inv).size() >= 13u);

    // The list endpoint has it too.
    auto list = api_get(server.port(), "/api/v1/clients");
    BOOST_TEST(list.first == 200u);
    BOOST_TEST(list.second.find("\"id\":\"e2e\"") != std::string::npos);

    // `stocktake refresh` updates it.
    const std::string before(inv.at("refreshed").as_string());
    auto r = run_process(cli, {"refresh", "--config", conf.string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(eventually([&] {
        auto g = api_get(server.port(), "/api/v1/clients/e2e");
        return g.first == 200 && std::string(parse_json(g.second).at("data").at("inventory").at("refreshed").as_string()) > before;
    }, 10s));
    auto st = agent_status(d, "e2e");
    BOOST_TEST_REQUIRE(st.is_object());
    BOOST_TEST(st.at("upload").at("pending").as_bool() == false);
    // Nothing but `refreshed` changed (no container ticked its status), so
    // the refresh went as a PATCH, not a whole inventory.
    const std::string mode(st.at("upload").at("last_mode").as_string());
    BOOST_TEST((mode == "unchanged" || (test_docker_host() && mode == "full")), mode);
    if (!test_docker_host()) BOOST_TEST(read_text(d / "agent.log").find("already has this inventory") != std::string::npos);
    BOOST_TEST(agent.stop() == 0);
}

BOOST_AUTO_TEST_CASE(server_down_at_start_then_up) {
    temp_dir d;
    const auto port = free_port();
    const auto conf = agent_config(d, "http://127.0.0.1:" + std::to_string(port), "late");
    auto agent = spawn_agent(conf, d / "agent.log");
    // The agent finds nobody there and keeps the inventory for later.
    BOOST_TEST_REQUIRE(eventually([&] {
        auto st = agent_status(d, "late");
        return st.is_object() && st.at("upload").at("failures").to_number<int>() >= 1;
    }, 10s));
    BOOST_TEST(fs::exists(d / "data-late" / "pending.json"));
    fs::create_directories(d / "srv");
    write_text(d / "srv" / "clients.auth", "agent-a:pass-a\n");
    write_text(d / "srv" / "server.conf", "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\ndata_dir = \"" +
                                              (d / "srv" / "data").string() + "\"\nclient_auth_file = \"" +
                                              (d / "srv" / "clients.auth").string() + "\"\n[api]\nauth = \"admin:api-secret\"\n");
    server_child server(d / "srv" / "server.conf");
    BOOST_TEST_REQUIRE(server.port() == port);
    // Delivered as soon as the server is reachable (the backoff is capped
    // at 1 s here), not one interval (1 h) later.
    BOOST_TEST(eventually([&] { return api_get(port, "/api/v1/clients/late").first == 200; }, 10s),
               log_of(d / "agent.log"));
    BOOST_TEST(eventually([&] { return !fs::exists(d / "data-late" / "pending.json"); }, 5s));
    BOOST_TEST(agent.stop() == 0);
}

BOOST_AUTO_TEST_CASE(tls_verified_and_an_untrusted_server_refused) {
    temp_dir d;
    auto pki = make_pki(d.path() / "pki");
    server_child server(write_server_config(d.path() / "srv", "tls_cert = \"" + pki.server_cert.string() +
                                                                 "\"\ntls_key = \"" + pki.server_key.string() + "\""));
    const std::string url = "https://127.0.0.1:" + std::to_string(server.port());
    auto good = spawn_agent(agent_config(d, url, "tls-ok", "ca_file = \"" + pki.ca_cert.string() + "\""), d / "ok.log");
    auto bad = spawn_agent(agent_config(d, url, "tls-bad", "ca_file = \"" + pki.other_ca_cert.string() + "\""), d / "bad.log");
    auto tls = client_tls(pki.ca_cert);
    BOOST_TEST(eventually([&] { return api_get(server.port(), "/api/v1/clients/tls-ok", tls).first == 200; }, 20s),
               log_of(d / "ok.log"));
    BOOST_TEST_REQUIRE(eventually([&] {
        auto st = agent_status(d, "tls-bad");
        return st.is_object() && st.at("upload").at("failures").to_number<int>() >= 1;
    }, 10s));
    const std::string err(agent_status(d, "tls-bad").at("upload").at("last_error").as_string());
    BOOST_TEST(err.find("certificate") != std::string::npos, err);
    BOOST_TEST(err.find("ca_file") != std::string::npos, err);
    BOOST_TEST(api_get(server.port(), "/api/v1/clients/tls-bad", tls).first == 404u);  // nothing got through
    BOOST_TEST(good.stop() == 0);
    BOOST_TEST(bad.stop() == 0);
}

BOOST_AUTO_TEST_CASE(plain_http_only_to_loopback) {
    temp_dir d;
    const auto conf = agent_config(d, "http://inventory.example.net:8080", "far");
    auto r = run_process(cli, {"run", "--config", conf.string()});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.err.find("client.server") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("loopback") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(a_crash_leaves_the_inventory_to_deliver_after_restart) {
    temp_dir d;
    const auto port = free_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    // First life: no server; the inventory waits in data_dir.
    {
        auto a = spawn_agent(agent_config(d, url, "crash"), d / "a1.log");
        BOOST_TEST_REQUIRE(eventually([&] { return fs::exists(d / "data-crash" / "pending.json"); }, 10s));
        ::kill(a.pid, SIGKILL);
    }
    const auto pending = parse_json(read_text(d / "data-crash" / "pending.json"));
    const std::string first_refreshed(pending.at("refreshed").as_string());
    // Second life: the server is up, and this life's own first refresh is
    // held up by a stalled engine, so what arrives first is the inventory
    // the first life left behind.
    fs::create_directories(d / "srv");
    write_text(d / "srv" / "clients.auth", "agent-a:pass-a\n");
    write_text(d / "srv" / "server.conf", "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\ndata_dir = \"" +
                                              (d / "srv" / "data").string() + "\"\nclient_auth_file = \"" +
                                              (d / "srv" / "clients.auth").string() + "\"\n[api]\nauth = \"admin:api-secret\"\n");
    server_child server(d / "srv" / "server.conf");
    asio::io_context stall_ioc;
    asio::local::stream_protocol::acceptor stall(stall_ioc, asio::local::stream_protocol::endpoint((d / "stall.sock").string()));
    std::vector<asio::local::stream_protocol::socket> held;
    std::function<void()> accept = [&] {
        stall.async_accept([&](boost::system::error_code ec, asio::local::stream_protocol::socket s) {
            if (ec) return;
            held.push_back(std::move(s));
            accept();
        });
    };
    accept();
    std::thread stall_thread([&] { stall_ioc.run_for(30s); });
    auto conf2 = agent_config(d, url, "crash");
    std::string text = read_text(conf2);
    auto pos = text.find("docker_host = ");
    text.replace(pos, text.find('\n', pos) - pos, "docker_host = \"unix://" + (d / "stall.sock").string() + "\"\ndocker_timeout = '20s'");
    write_text(conf2, text);
    auto b = spawn_agent(conf2, d / "a2.log");
    std::string got_refreshed;
    BOOST_TEST(eventually([&] {
        auto g = api_get(port, "/api/v1/clients/crash");
        if (g.first != 200) return false;
        got_refreshed = std::string(parse_json(g.second).at("data").at("inventory").at("refreshed").as_string());
        return true;
    }, 10s), log_of(d / "a2.log"));
    BOOST_TEST(got_refreshed == first_refreshed);
    BOOST_TEST(read_text(d / "a2.log").find("undelivered inventory") != std::string::npos);
    BOOST_TEST(b.stop() == 0);
    stall_ioc.stop();
    stall_thread.join();
}

BOOST_AUTO_TEST_SUITE_END()
