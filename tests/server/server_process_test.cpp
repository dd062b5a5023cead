// The real stocktake-server binary: command line, exit codes, kill -9
// durability and SIGTERM.

#include "http_client.hpp"
#include "server_fixture.hpp"
#include "support/process.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>

using namespace stocktake;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

asio::ip::tcp::endpoint local(unsigned short port) { return {asio::ip::make_address("127.0.0.1"), port}; }

// All clients in the database through the API.
std::map<std::string, std::string> fetch_all(unsigned short port) {
    asio::io_context ioc;
    auto task = [&]() -> asio::awaitable<std::map<std::string, std::string>> {
        test::http_client c(ioc.get_executor(), local(port));
        auto req = test::make_request(http::verb::get, "/api/v1/clients", test::api_user);
        const auto r = co_await c.request(req);
        if (r.result_int() != 200) throw std::runtime_error("GET /api/v1/clients: " + std::to_string(r.result_int()));
        std::map<std::string, std::string> out;
        const auto parsed = test::parse_json(r.body());
        for (const auto& e : parsed.at("data").as_array())
            out[std::string(e.at("id").as_string())] = boost::json::serialize(e.at("inventory"));
        c.close();
        co_return out;
    };
    return test::run_bounded(ioc, task(), 30s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_process)

BOOST_AUTO_TEST_CASE(help_version_and_bad_config_exit_codes) {
    const auto help = test::run_process(STOCKTAKE_SERVER_BIN, {"--help"});
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.out.find("Exit status:") != std::string::npos);
    BOOST_TEST(help.out.find("--config") != std::string::npos);
    const auto version = test::run_process(STOCKTAKE_SERVER_BIN, {"--version"});
    BOOST_TEST(version.exit_code == 0);
    BOOST_TEST(version.out.starts_with("stocktake-server "));
    const auto unknown = test::run_process(STOCKTAKE_SERVER_BIN, {"--frobnicate"});
    BOOST_TEST(unknown.exit_code == 1);
    BOOST_TEST(unknown.err.find("--frobnicate") != std::string::npos);

    test::temp_dir dir;
    const auto conf = test::write_server_config(dir.path(), "max_body = \"lots\"\n");
    const auto bad = test::run_process(STOCKTAKE_SERVER_BIN, {"--config", conf.string()});
    BOOST_TEST(bad.exit_code == 1);
    BOOST_TEST(bad.err.find(conf.string() + ":5:12: server.max_body: ") != std::string::npos, bad.err);
    const auto missing = test::run_process(STOCKTAKE_SERVER_BIN, {"--config", (dir / "absent.conf").string()});
    BOOST_TEST(missing.exit_code == 1);
    BOOST_TEST(missing.err.find("absent.conf") != std::string::npos);

    const auto good = test::write_server_config(dir.path());
    const auto check = test::run_process(STOCKTAKE_SERVER_BIN, {"--config", good.string(), "--check-config"});
    BOOST_TEST(check.exit_code == 0, check.err);
}

BOOST_AUTO_TEST_CASE(address_in_use_exits_2) {
    test::temp_dir dir;
    const auto conf = test::write_server_config(dir.path());
    test::server_child first(conf);
    // Same port, another data dir: the port is what fails.
    std::filesystem::create_directories(dir / "second");
    const auto taken = test::write_server_config(dir / "second");
    std::string text = test::read_text(taken);
    text.replace(text.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(first.port()));
    test::write_text(taken, text);
    const auto r = test::run_process(STOCKTAKE_SERVER_BIN, {"--config", taken.string()});
    BOOST_TEST(r.exit_code == 2, r.err);
    BOOST_TEST(r.err.find("cannot listen") != std::string::npos, r.err);
    // Same data dir, any port: refused as well.
    const auto again = test::run_process(STOCKTAKE_SERVER_BIN, {"--config", conf.string()});
    BOOST_TEST(again.exit_code == 2, again.err);
    BOOST_TEST(again.err.find("in use by another stocktake-server") != std::string::npos, again.err);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_auth_file) {
    test::temp_dir dir;
    const auto conf = test::write_server_config(dir.path());
    test::server_child child(conf);
    auto put_as = [&](const char* auth) {
        asio::io_context ioc;
        auto task = [&]() -> asio::awaitable<int> {
            test::http_client c(ioc.get_executor(), local(child.port()));
            auto req = test::make_request(http::verb::put, "/api/v1/clients/web-c/inventory", auth, test::sample_inventory());
            const auto r = co_await c.request(req);
            c.close();
            co_return r.result_int();
        };
        return test::run_bounded(ioc, task(), 30s);
    };
    BOOST_TEST(put_as("agent-c:pass-c") == 401);
    test::write_text(dir / "clients.auth", "agent-a:pass-a\nagent-c:pass-c\n");
    child.signal(SIGHUP);
    BOOST_TEST_REQUIRE(child.wait_for_line("SIGHUP: credentials reloaded (2 auth id(s), 1 API user(s))", 10s),
                       child.stderr_text());
    BOOST_TEST(put_as("agent-c:pass-c") == 204);
    BOOST_TEST(put_as("agent-b:pass-b") == 401);  // removed
    // A broken file is refused and the old credentials stay.
    test::write_text(dir / "clients.auth", "broken line\n");
    child.signal(SIGHUP);
    BOOST_TEST(child.wait_for_line("SIGHUP: config not reloaded", 10s), child.stderr_text());
    BOOST_TEST(put_as("agent-c:pass-c") == 204);
    child.signal(SIGTERM);
    BOOST_TEST(child.wait(10s) == 0);
}

BOOST_AUTO_TEST_CASE(acknowledged_writes_survive_kill_9) {
    test::temp_dir dir;
    const auto conf = test::write_server_config(dir.path());
    std::map<std::string, std::string> acked;  // id -> inventory text the server said 204 to
    {
        test::server_child child(conf);
        asio::io_context ioc;
        // 8 connections write 40 clients each, concurrently; after 100
        // acknowledgements the server is killed with writes in flight.
        constexpr int conns = 8, per_conn = 40, kill_after = 100;
        int acks = 0;
        bool killed = false;
        auto writer = [&](int w) -> asio::awaitable<void> {
            test::http_client c(ioc.get_executor(), local(child.port()));
            for (int i = 0; i < per_conn; ++i) {
                const std::string id = "host-" + std::to_string(w) + "-" + std::to_string(i);
                const std::string inv = test::sample_inventory(w * 1000 + i);
                auto req = test::make_request(http::verb::put, "/api/v1/clients/" + id + "/inventory", test::agent_a, inv);
                test::http_response r;
                try {
                    r = co_await c.request(req, 10s);
                } catch (const boost::system::system_error&) {
                    co_return;  // the server is gone
                }
                if (r.result_int() != 204) throw std::runtime_error("unexpected status " + std::to_string(r.result_int()));
                acked[id] = inv;
                if (++acks == kill_after && !killed) {
                    killed = true;
                    child.signal(SIGKILL);
                }
            }
        };
        auto all = [&]() -> asio::awaitable<int> {
            int finished = 0;
            asio::steady_timer t(ioc);
            for (int w = 0; w < conns; ++w)
                asio::co_spawn(ioc, writer(w), [&](std::exception_ptr e) {
                    if (e) std::rethrow_exception(e);
                    if (++finished == conns) t.cancel();
                });
            t.expires_after(60s);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return finished;
        };
        BOOST_TEST(test::run_bounded(ioc, all(), 90s) == conns);
        BOOST_TEST(killed);
        BOOST_TEST(child.wait(10s) == 128 + SIGKILL);
    }
    BOOST_TEST(acked.size() >= 100u);

    // The database is intact and every acknowledged write is there.
    const auto db = dir / "data" / "stocktake.db";
    const auto check = test::run_process("sqlite3", {db.string(), "PRAGMA integrity_check;"});
    BOOST_TEST(check.exit_code == 0, check.err);
    BOOST_TEST(check.out == "ok\n");
    test::server_child again(conf);
    const auto stored = fetch_all(again.port());
    for (const auto& [id, inv] : acked) {
        const auto it = stored.find(id);
        BOOST_TEST_REQUIRE((it != stored.end()), "acknowledged but lost: " << id);
        BOOST_TEST(it->second == inv);
    }
    again.signal(SIGTERM);
    BOOST_TEST(again.wait(10s) == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_exits_0_promptly) {
    // Several rounds: shutdown completing while the signal handler re-arms
    // once left the process waiting forever (a race, so repeat it).
    for (int round = 0; round < 6; ++round) {
        test::temp_dir dir;
        const auto conf = test::write_server_config(dir.path());
        test::server_child child(conf);
        {
            asio::io_context ioc;
            auto task = [&]() -> asio::awaitable<int> {
                test::http_client c(ioc.get_executor(), local(child.port()));
                auto req = test::make_request(http::verb::put, "/api/v1/clients/web-01/inventory", test::agent_a,
                                              test::sample_inventory());
                const auto r = co_await c.request(req);
                c.close();
                co_return r.result_int();
            };
            BOOST_TEST(test::run_bounded(ioc, task(), 30s) == 204);
        }
        const auto t0 = std::chrono::steady_clock::now();
        child.signal(SIGTERM);
        BOOST_TEST_REQUIRE(child.wait(10s) == 0, "round " << round << ": " << child.stderr_text());
        BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
        const auto err = child.stderr_text();
        BOOST_TEST(err.find("info: received Terminated: shutting down") != std::string::npos, err);
        BOOST_TEST(err.find("info: stopped") != std::string::npos, err);
        BOOST_TEST(err.find("PUT /api/v1/clients/web-01/inventory 204 auth=agent-a") != std::string::npos, err);
    }
}

BOOST_AUTO_TEST_CASE(gzip_bomb_keeps_the_server_small) {
    test::temp_dir dir;
    const auto conf = test::write_server_config(dir.path(), "max_body = \"1MB\"\n");
    test::server_child child(conf);
    const std::string bomb = test::gzip_zeros(std::size_t{1} << 30);
    const long before = child.peak_rss_kib();
    asio::io_context ioc;
    auto task = [&]() -> asio::awaitable<int> {
        test::http_client c(ioc.get_executor(), local(child.port()));
        auto req = test::make_request(http::verb::put, "/api/v1/clients/web-bomb/inventory", test::agent_a, bomb);
        req.set(http::field::content_encoding, "gzip");
        const auto r = co_await c.request(req);
        c.close();
        co_return r.result_int();
    };
    BOOST_TEST(test::run_bounded(ioc, task(), 30s) == 413);
    const long after = child.peak_rss_kib();
    BOOST_TEST(after - before < 128 * 1024, "server peak RSS grew by " << (after - before) << " KiB");
    child.signal(SIGTERM);
    BOOST_TEST(child.wait(10s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
