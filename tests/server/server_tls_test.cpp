// HTTPS with a CA and server certificate made by the openssl CLI, and a
// client that verifies them.

#include "http_client.hpp"
#include "server_fixture.hpp"

#include "stocktake/server/server_config.hpp"
#include "stocktake/server/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

using namespace stocktake;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

struct tls_fixture {
    test::temp_dir dir;
    test::test_pki pki = test::make_pki(dir / "pki");
    asio::io_context ioc;
    std::optional<test::live_server> srv;

    tls_fixture() {
        server::tls_error err;
        auto ctx = server::make_server_tls_context(pki.server_cert.string(), pki.server_key.string(), err);
        BOOST_TEST_REQUIRE(ctx != nullptr, err.message);
        srv.emplace(ioc, dir / "data", nullptr, ctx);
    }

    template <class F>
    void run(F body) {
        test::run_bounded(ioc, scenario(*this, std::move(body)), 60s);
    }
    template <class F>
    static asio::awaitable<int> scenario(tls_fixture& f, F body) {
        std::exception_ptr ep;
        try {
            co_await body();
        } catch (...) {
            ep = std::current_exception();
        }
        co_await f.srv->stop();
        if (ep) std::rethrow_exception(ep);
        co_return 0;
    }
};

// The error a client gets when it talks to the server, or none.
asio::awaitable<std::string> try_put(test::http_client& c) {
    auto req = test::make_request(http::verb::put, "/api/v1/clients/web-tls/inventory", test::agent_a, test::sample_inventory());
    try {
        const auto r = co_await c.request(req);
        co_return "status " + std::to_string(r.result_int());
    } catch (const boost::system::system_error& e) {
        co_return std::string("error: ") + e.code().message();
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_tls)

BOOST_AUTO_TEST_CASE(verified_https_round_trip) {
    tls_fixture f;
    f.run([&]() -> asio::awaitable<void> {
        test::http_client c(f.ioc.get_executor(), f.srv->endpoint(), test::client_tls(f.pki.ca_cert), "localhost");
        BOOST_TEST(co_await try_put(c) == "status 204");
        auto g = test::make_request(http::verb::get, "/api/v1/clients/web-tls", test::api_user);
        const auto r = co_await c.request(g);
        BOOST_TEST(r.result_int() == 200);
        BOOST_TEST(test::parse_json(r.body()).at("data").at("inventory") == test::parse_json(test::sample_inventory()));
        BOOST_TEST(c.connects() == 1u);  // keep-alive over TLS

        // The certificate names 127.0.0.1 too.
        test::http_client by_ip(f.ioc.get_executor(), f.srv->endpoint(), test::client_tls(f.pki.ca_cert), "127.0.0.1");
        BOOST_TEST(co_await try_put(by_ip) == "status 204");
    });
}

BOOST_AUTO_TEST_CASE(client_refuses_an_untrusted_or_misnamed_server) {
    tls_fixture f;
    f.run([&]() -> asio::awaitable<void> {
        test::http_client other(f.ioc.get_executor(), f.srv->endpoint(), test::client_tls(f.pki.other_ca_cert), "localhost");
        const auto e1 = co_await try_put(other);
        BOOST_TEST(e1.find("certificate verify failed") != std::string::npos, e1);
        test::http_client wrong_name(f.ioc.get_executor(), f.srv->endpoint(), test::client_tls(f.pki.ca_cert), "wrong.example");
        const auto e2 = co_await try_put(wrong_name);
        BOOST_TEST(e2.starts_with("error: "), e2);
        BOOST_TEST(!f.srv->db().lookup("web-tls"));
    });
}

BOOST_AUTO_TEST_CASE(plain_http_to_the_tls_port_gets_nothing_stored) {
    tls_fixture f;
    f.run([&]() -> asio::awaitable<void> {
        test::http_client plain(f.ioc.get_executor(), f.srv->endpoint());
        const auto e = co_await try_put(plain);
        BOOST_TEST(e.starts_with("error: "), e);
        BOOST_TEST(!f.srv->db().lookup("web-tls"));
    });
}

BOOST_AUTO_TEST_CASE(config_refuses_a_key_that_does_not_match) {
    test::temp_dir dir;
    const auto pki = test::make_pki(dir / "pki");
    const auto conf = test::write_server_config(dir.path(), "tls_cert = \"" + pki.server_cert.string() + "\"\ntls_key = \"" +
                                                                 pki.other_key.string() + "\"\n");
    server::server_config cfg;
    std::string err;
    BOOST_TEST(!server::load_server_config_file(conf.string(), cfg, err));
    BOOST_TEST(err.starts_with(conf.string() + ":6:11: server.tls_key: "), err);
    BOOST_TEST(err.find("does not match") != std::string::npos, err);

    const auto good = test::write_server_config(dir.path(), "tls_cert = \"" + pki.server_cert.string() + "\"\ntls_key = \"" +
                                                                 pki.server_key.string() + "\"\n");
    server::server_config ok;
    BOOST_TEST(server::load_server_config_file(good.string(), ok, err), err);
}

BOOST_AUTO_TEST_SUITE_END()
