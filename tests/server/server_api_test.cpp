// The server's API over real sockets on 127.0.0.1 (port 0), in process:
// round trip, authentication and ownership, hostile bodies, conditional
// requests, concurrency, timeouts and graceful shutdown.

#include "http_client.hpp"
#include "server_fixture.hpp"

#include "stocktake/core/digest.hpp"
#include "stocktake/core/inventory_json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>

using namespace stocktake;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using test::http_client;
using test::http_request;
using test::http_response;
using test::make_request;

namespace {

struct fixture {
    test::temp_dir dir;
    asio::io_context ioc;
    std::optional<test::live_server> srv;

    explicit fixture(const std::function<void(server::server_section&)>& tweak = {}) {
        srv.emplace(ioc, dir / "data", tweak);
    }

    http_client client() { return http_client(ioc.get_executor(), srv->endpoint()); }

    // Runs `body` (a coroutine lambda), then shuts the server down; all of
    // it within `limit`, leaving nothing on the io_context.
    template <class F>
    void run(F body, std::chrono::milliseconds limit = 60s) {
        test::run_bounded(ioc, scenario(*this, std::move(body)), limit);
    }

    template <class F>
    static asio::awaitable<int> scenario(fixture& f, F body) {
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

std::string inventory_target(std::string_view id) { return "/api/v1/clients/" + std::string(id) + "/inventory"; }

asio::awaitable<http_response> put(http_client& c, std::string_view id, std::string_view auth, std::string body) {
    auto req = make_request(http::verb::put, inventory_target(id), auth, std::move(body));
    co_return co_await c.request(req);
}

asio::awaitable<http_response> get(http_client& c, std::string_view target, std::string_view auth = test::api_user) {
    auto req = make_request(http::verb::get, target, auth);
    co_return co_await c.request(req);
}

std::string error_code_of(const http_response& r) {
    const auto v = test::parse_json(r.body());
    return std::string(v.at("errors").at(0).at("code").as_string());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_api)

BOOST_AUTO_TEST_CASE(put_then_get_round_trip_is_exact) {
    fixture f;
    const std::string inv = test::sample_inventory();
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        auto req = make_request(http::verb::put, inventory_target("web-01"), test::agent_a, inv);
        req.set("X-Stocktake-Client-Name", "Web Server 01");
        const auto r = co_await c.request(req);
        BOOST_TEST(r.result_int() == 204);
        BOOST_TEST(r.body().empty());
        const std::string etag(r[http::field::etag]);
        BOOST_TEST(etag == "\"" + server::to_hex(server::sha256(inv)) + "\"");
        BOOST_TEST(c.connected());  // keep-alive

        const auto one = co_await get(c, "/api/v1/clients/web-01");
        BOOST_TEST_REQUIRE(one.result_int() == 200);
        BOOST_TEST(one[http::field::content_type] == "application/json");
        const auto v = test::parse_json(one.body());
        BOOST_TEST(v.at("data").at("id") == "web-01");
        BOOST_TEST(v.at("data").at("name") == "Web Server 01");
        BOOST_TEST(v.at("data").at("inventory") == test::parse_json(inv));
        // Byte for byte: the inventory text is what the agent sent.
        BOOST_TEST(one.body() == "{\"data\":{\"id\":\"web-01\",\"name\":\"Web Server 01\",\"inventory\":" + inv + "}}");
        std::string why;
        BOOST_TEST(inventory_from_json(v.at("data").at("inventory"), why).has_value(), why);

        const std::string inv2 = test::sample_inventory(2);
        const auto r2 = co_await put(c, "web-02", test::agent_a, inv2);  // no name header: the id
        BOOST_TEST(r2.result_int() == 204);
        const auto all = co_await get(c, "/api/v1/clients");
        BOOST_TEST_REQUIRE(all.result_int() == 200);
        const auto parsed = test::parse_json(all.body());
        const auto& a = parsed.at("data").as_array();
        BOOST_TEST_REQUIRE(a.size() == 2u);
        BOOST_TEST(a[0].at("id") == "web-01");
        BOOST_TEST(a[1].at("id") == "web-02");
        BOOST_TEST(a[1].at("name") == "web-02");
        BOOST_TEST(a[1].at("inventory") == test::parse_json(inv2));

        // A later PUT without the header keeps the name.
        const auto r3 = co_await put(c, "web-01", test::agent_a, test::sample_inventory(3));
        BOOST_TEST(r3.result_int() == 204);
        const auto again = co_await get(c, "/api/v1/clients/web-01");
        BOOST_TEST(test::parse_json(again.body()).at("data").at("name") == "Web Server 01");
        BOOST_TEST(test::parse_json(again.body()).at("data").at("inventory") == test::parse_json(test::sample_inventory(3)));
        BOOST_TEST(c.connects() == 1u);
    });
}

BOOST_AUTO_TEST_CASE(wrong_password_is_401_with_challenge) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const auto r = co_await put(c, "web-01", "agent-a:wrong", test::sample_inventory());
        BOOST_TEST(r.result_int() == 401);
        BOOST_TEST(std::string(r[http::field::www_authenticate]).starts_with("Basic realm="));
        BOOST_TEST(error_code_of(r) == "unauthorized");
        auto none = make_request(http::verb::put, inventory_target("web-01"), {}, test::sample_inventory());
        const auto r2 = co_await c.request(none);
        BOOST_TEST(r2.result_int() == 401);
        // Agent credentials are not API credentials and vice versa.
        const auto r3 = co_await get(c, "/api/v1/clients", test::agent_a);
        BOOST_TEST(r3.result_int() == 401);
        const auto r4 = co_await put(c, "web-01", test::api_user, test::sample_inventory());
        BOOST_TEST(r4.result_int() == 401);
        const auto r5 = co_await get(c, "/api/v1/clients", "admin:nope");
        BOOST_TEST(r5.result_int() == 401);
        BOOST_TEST(f.srv->db().size() == 0u);
    });
    BOOST_TEST(f.srv->logged("401 auth=agent-a(rejected)"));
}

BOOST_AUTO_TEST_CASE(foreign_auth_id_is_403_and_changes_nothing) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const std::string mine = test::sample_inventory(1);
        BOOST_TEST((co_await put(c, "web-01", test::agent_a, mine)).result_int() == 204);
        const auto r = co_await put(c, "web-01", test::agent_b, test::sample_inventory(2));
        BOOST_TEST(r.result_int() == 403);
        BOOST_TEST(error_code_of(r) == "forbidden");
        auto head = make_request(http::verb::head, inventory_target("web-01"), test::agent_b);
        BOOST_TEST((co_await c.request(head)).result_int() == 403);
        const auto g = co_await get(c, "/api/v1/clients/web-01");
        BOOST_TEST(test::parse_json(g.body()).at("data").at("inventory") == test::parse_json(mine));
        // The owner still may.
        BOOST_TEST((co_await put(c, "web-01", test::agent_a, test::sample_inventory(3))).result_int() == 204);
    });
}

BOOST_AUTO_TEST_CASE(racing_first_writes_have_one_owner) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        // Both pass the early check (nobody owns web-race yet); the store
        // decides inside its transaction.
        auto ca = f.client();
        auto cb = f.client();
        auto ra = make_request(http::verb::put, inventory_target("web-race"), test::agent_a, test::sample_inventory(1));
        auto rb = make_request(http::verb::put, inventory_target("web-race"), test::agent_b, test::sample_inventory(2));
        int codes[2] = {0, 0};
        auto one = [](http_client& c, http_request& r, int& out) -> asio::awaitable<void> {
            out = (co_await c.request(r)).result_int();
        };
        asio::steady_timer both(f.ioc);
        int finished = 0;
        auto done = [&](std::exception_ptr) {
            if (++finished == 2) both.cancel();
        };
        asio::co_spawn(f.ioc, one(ca, ra, codes[0]), done);
        asio::co_spawn(f.ioc, one(cb, rb, codes[1]), done);
        both.expires_after(30s);
        co_await both.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(finished == 2);
        BOOST_TEST(((codes[0] == 204 && codes[1] == 403) || (codes[0] == 403 && codes[1] == 204)),
                   codes[0] << " " << codes[1]);
    });
}

BOOST_AUTO_TEST_CASE(unknown_client_and_resource_are_404) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const auto r = co_await get(c, "/api/v1/clients/nobody");
        BOOST_TEST(r.result_int() == 404);
        BOOST_TEST(error_code_of(r) == "not_found");
        auto head = make_request(http::verb::head, inventory_target("nobody"), test::agent_a);
        BOOST_TEST((co_await c.request(head)).result_int() == 404);
        BOOST_TEST((co_await get(c, "/api/v1/elsewhere")).result_int() == 404);
        BOOST_TEST((co_await get(c, "/api/v1/clients/a%2Fb")).result_int() == 400);
        const auto empty = co_await get(c, "/api/v1/clients");
        BOOST_TEST(empty.body() == "{\"data\":[]}");
        auto del = make_request(http::verb::delete_, "/api/v1/clients/x", test::api_user);
        const auto d = co_await c.request(del);
        BOOST_TEST(d.result_int() == 405);
        BOOST_TEST(d[http::field::allow] == "GET, HEAD");
    });
}

BOOST_AUTO_TEST_CASE(garbage_bodies_are_400_naming_the_key) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const auto r = co_await put(c, "web-01", test::agent_a, "this is not json");
        BOOST_TEST(r.result_int() == 400);
        BOOST_TEST(error_code_of(r) == "invalid_inventory");
        const auto r2 = co_await put(c, "web-01", test::agent_a,
                                     R"({"refreshed":"2024-09-18T13:29:40Z","software_inventory":[{"package":"a","version":"1","summary":"s"},{"package":"b","version":2,"summary":"s"}]})");
        BOOST_TEST(r2.result_int() == 400);
        const auto title = std::string(test::parse_json(r2.body()).at("errors").at(0).at("title").as_string());
        BOOST_TEST(title.find("software_inventory[1].version") != std::string::npos, title);
        const auto r3 = co_await put(c, "web-01", test::agent_a, R"({"refreshed":"yesterday"})");
        BOOST_TEST(r3.result_int() == 400);
        const auto r4 = co_await put(c, "web-01", test::agent_a, "[1,2,3]");
        BOOST_TEST(r4.result_int() == 400);
        auto gz = make_request(http::verb::put, inventory_target("web-01"), test::agent_a, "\x1f\x8b not really gzip");
        gz.set(http::field::content_encoding, "gzip");
        const auto r5 = co_await c.request(gz);
        BOOST_TEST(r5.result_int() == 400);
        auto br = make_request(http::verb::put, inventory_target("web-01"), test::agent_a, test::sample_inventory());
        br.set(http::field::content_encoding, "br");
        const auto r6 = co_await c.request(br);
        BOOST_TEST(r6.result_int() == 415);
        BOOST_TEST(f.srv->db().size() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(oversize_body_is_413) {
    fixture f([](server::server_section& s) { s.max_body = 64 * 1024; });
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const std::string big = test::big_inventory(2000);
        BOOST_TEST_REQUIRE(big.size() > 64u * 1024u);
        const auto r = co_await put(c, "web-01", test::agent_a, big);
        BOOST_TEST(r.result_int() == 413);
        BOOST_TEST(error_code_of(r) == "payload_too_large");
        // Compressed small, decompressed too large: still 413.
        auto gz = make_request(http::verb::put, inventory_target("web-01"), test::agent_a, test::gzip(big));
        gz.set(http::field::content_encoding, "gzip");
        BOOST_TEST_REQUIRE(gz.body().size() < 64u * 1024u);
        const auto r2 = co_await c.request(gz);
        BOOST_TEST(r2.result_int() == 413);
        // A body just within the limit is fine.
        const std::string ok = test::big_inventory(200);
        BOOST_TEST_REQUIRE(ok.size() < 64u * 1024u);
        BOOST_TEST((co_await put(c, "web-01", test::agent_a, ok)).result_int() == 204);
    });
}

BOOST_AUTO_TEST_CASE(gzip_body_is_accepted) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const std::string inv = test::big_inventory(500, 7);
        auto req = make_request(http::verb::put, inventory_target("web-gz"), test::agent_a, test::gzip(inv));
        req.set(http::field::content_encoding, "gzip");
        BOOST_TEST(req.body().size() < inv.size() / 4);
        const auto r = co_await c.request(req);
        BOOST_TEST_REQUIRE(r.result_int() == 204);
        BOOST_TEST(r[http::field::etag] == "\"" + server::to_hex(server::sha256(inv)) + "\"");
        const auto g = co_await get(c, "/api/v1/clients/web-gz");
        BOOST_TEST(test::parse_json(g.body()).at("data").at("inventory") == test::parse_json(inv));
        // Chunked transfer coding works too.
        auto chunked = make_request(http::verb::put, inventory_target("web-gz"), test::agent_a, test::gzip(inv));
        chunked.set(http::field::content_encoding, "gzip");
        chunked.chunked(true);
        BOOST_TEST((co_await c.request(chunked)).result_int() == 204);
    });
}

BOOST_AUTO_TEST_CASE(gzip_bomb_is_413_quickly_with_bounded_memory) {
    fixture f;  // max_body 1 MiB
    const std::string bomb = test::gzip_zeros(std::size_t{1} << 30);  // 1 GiB of zeros, ~1 MiB compressed
    BOOST_TEST_REQUIRE(bomb.size() < (std::size_t{1} << 20) + (std::size_t{1} << 19));
    const long rss_before = test::self_peak_rss_kib();
    const auto started = std::chrono::steady_clock::now();
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        auto req = make_request(http::verb::put, inventory_target("web-bomb"), test::agent_a, bomb);
        req.set(http::field::content_encoding, "gzip");
        const auto r = co_await c.request(req);
        BOOST_TEST(r.result_int() == 413);
        BOOST_TEST(error_code_of(r) == "payload_too_large");
        BOOST_TEST(!c.connected());  // the rest of the body was not read: connection closed
        BOOST_TEST((co_await put(c, "web-bomb", test::agent_a, test::sample_inventory())).result_int() == 204);
    });
    const auto took = std::chrono::steady_clock::now() - started;
    const long rss_after = test::self_peak_rss_kib();
    BOOST_TEST((took < 10s));
    // Inflating the bomb would have taken a gigabyte.
    BOOST_TEST(rss_after - rss_before < 256 * 1024, "peak RSS grew by " << (rss_after - rss_before) << " KiB");
}

BOOST_AUTO_TEST_CASE(conditional_requests) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const std::string inv = test::sample_inventory(1);
        const std::string tag = "\"" + server::to_hex(server::sha256(inv)) + "\"";
        // If-Match on a client that has nothing: 412, nothing stored.
        auto m0 = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        m0.set(http::field::if_match, tag);
        BOOST_TEST((co_await c.request(m0)).result_int() == 412);
        BOOST_TEST(!f.srv->db().lookup("web-c"));
        // If-None-Match: * creates only.
        auto n0 = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        n0.set(http::field::if_none_match, "*");
        BOOST_TEST((co_await c.request(n0)).result_int() == 204);
        auto n1 = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        n1.set(http::field::if_none_match, "*");
        BOOST_TEST((co_await c.request(n1)).result_int() == 412);

        // HEAD: the ETag, and 304 when the agent already has it.
        auto h = make_request(http::verb::head, inventory_target("web-c"), test::agent_a);
        const auto hr = co_await c.request(h);
        BOOST_TEST(hr.result_int() == 200);
        BOOST_TEST(hr[http::field::etag] == tag);
        BOOST_TEST(hr[http::field::content_length] == std::to_string(inv.size()));
        auto h2 = make_request(http::verb::head, inventory_target("web-c"), test::agent_a);
        h2.set(http::field::if_none_match, tag);
        BOOST_TEST((co_await c.request(h2)).result_int() == 304);
        auto h3 = make_request(http::verb::head, inventory_target("web-c"), test::agent_a);
        h3.set(http::field::if_none_match, "\"something-else\"");
        BOOST_TEST((co_await c.request(h3)).result_int() == 200);
        auto g = make_request(http::verb::get, inventory_target("web-c"), test::agent_a);
        const auto gr = co_await c.request(g);
        BOOST_TEST(gr.result_int() == 200);
        BOOST_TEST(gr.body() == inv);
        BOOST_TEST(gr[http::field::etag] == tag);

        // Unchanged PUT with If-None-Match: 412 and nothing written.
        const auto commits = f.srv->db().commits();
        auto same = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        same.set(http::field::if_none_match, tag);
        const auto sr = co_await c.request(same);
        BOOST_TEST(sr.result_int() == 412);
        BOOST_TEST(sr[http::field::etag] == tag);
        BOOST_TEST(f.srv->db().commits() == commits);
        // Changed PUT with If-None-Match of the old tag, and If-Match (compare-and-swap).
        const std::string inv2 = test::sample_inventory(2);
        auto changed = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv2);
        changed.set(http::field::if_match, tag);
        BOOST_TEST((co_await c.request(changed)).result_int() == 204);
        auto stale = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        stale.set(http::field::if_match, tag);
        BOOST_TEST((co_await c.request(stale)).result_int() == 412);
        auto bad = make_request(http::verb::put, inventory_target("web-c"), test::agent_a, inv);
        bad.set(http::field::if_match, "no-quotes");
        BOOST_TEST((co_await c.request(bad)).result_int() == 400);
        BOOST_TEST(f.srv->db().lookup("web-c")->etag == server::to_hex(server::sha256(inv2)));
    });
}

BOOST_AUTO_TEST_CASE(patch_refreshes_an_unchanged_inventory) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        auto c = f.client();
        const std::string inv = test::sample_inventory(0);
        std::string why;
        const std::string hash = stocktake::content_hash(*inventory_from_json(test::parse_json(inv), why));
        const std::string later = "2031-02-03T04:05:06.123456789Z";
        const std::string patch = R"({"refreshed":")" + later + R"(","content_sha256":")" + hash + "\"}";
        auto patch_req = [&](std::string_view id, std::string_view auth, std::string body) {
            auto r = make_request(http::verb::patch, inventory_target(id), auth, std::move(body));
            r.set(http::field::content_type, "application/merge-patch+json");
            return r;
        };
        // Nothing stored yet: 404, the agent then PUTs.
        auto p0 = patch_req("web-p", test::agent_a, patch);
        BOOST_TEST((co_await c.request(p0)).result_int() == 404);
        BOOST_TEST((co_await put(c, "web-p", test::agent_a, inv)).result_int() == 204);

        auto p1 = patch_req("web-p", test::agent_a, patch);
        const auto r1 = co_await c.request(p1);
        BOOST_TEST_REQUIRE(r1.result_int() == 204, r1.body());
        const std::string expected = test::sample_inventory_refreshed(later);
        BOOST_TEST(r1[http::field::etag] == "\"" + server::to_hex(server::sha256(expected)) + "\"");
        const auto g = co_await get(c, "/api/v1/clients/web-p");
        BOOST_TEST(test::parse_json(g.body()).at("data").at("inventory") == test::parse_json(expected));
        BOOST_TEST(c.connected());

        // Another content hash: 412, nothing changes.
        auto p2 = patch_req("web-p", test::agent_a, R"({"refreshed":"2032-01-01T00:00:00Z","content_sha256":")" +
                                                        std::string(64, '0') + "\"}");
        const auto r2 = co_await c.request(p2);
        BOOST_TEST(r2.result_int() == 412);
        BOOST_TEST(error_code_of(r2) == "precondition_failed");
        // Someone else's client: 403; a malformed patch: 400; gzip works.
        auto p3 = patch_req("web-p", test::agent_b, patch);
        BOOST_TEST((co_await c.request(p3)).result_int() == 403);
        auto p4 = patch_req("web-p", test::agent_a, R"({"refreshed":"2032-01-01T00:00:00Z"})");
        BOOST_TEST((co_await c.request(p4)).result_int() == 400);
        auto p5 = patch_req("web-p", test::agent_a, test::gzip(patch));
        p5.set(http::field::content_encoding, "gzip");
        BOOST_TEST((co_await c.request(p5)).result_int() == 204);
        const auto g2 = co_await get(c, "/api/v1/clients/web-p");
        BOOST_TEST(test::parse_json(g2.body()).at("data").at("inventory") == test::parse_json(expected));
        // After a real change the old hash no longer applies.
        BOOST_TEST((co_await put(c, "web-p", test::agent_a, test::big_inventory(3))).result_int() == 204);
        auto p6 = patch_req("web-p", test::agent_a, patch);
        BOOST_TEST((co_await c.request(p6)).result_int() == 412);
    });
}

BOOST_AUTO_TEST_CASE(expect_100_continue_spares_the_body) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        // Raw socket: headers with Expect, then wait for the interim answer.
        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string inv = test::sample_inventory();
        const std::string head = "PUT /api/v1/clients/web-e/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                                 test::basic_auth(test::agent_a) + "\r\nContent-Length: " + std::to_string(inv.size()) +
                                 "\r\nExpect: 100-continue\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(head), asio::use_awaitable);
        std::string got(25, '\0');
        co_await asio::async_read(s, asio::buffer(got), asio::use_awaitable);
        BOOST_TEST(got == "HTTP/1.1 100 Continue\r\n\r\n");
        co_await asio::async_write(s, asio::buffer(inv), asio::use_awaitable);
        std::string rest(12, '\0');
        co_await asio::async_read(s, asio::buffer(rest), asio::use_awaitable);
        BOOST_TEST(rest == "HTTP/1.1 204");
    });
}

BOOST_AUTO_TEST_CASE(two_hundred_concurrent_clients_all_succeed) {
    fixture f;
    constexpr int n = 200;
    f.run([&]() -> asio::awaitable<void> {
        std::vector<http_client> clients;
        std::vector<http_request> reqs;
        for (int i = 0; i < n; ++i) {
            clients.push_back(f.client());
            reqs.push_back(make_request(http::verb::put, inventory_target("host-" + std::to_string(i)),
                                        i % 2 ? test::agent_a : test::agent_b, test::big_inventory(50, i)));
            if (i % 3 == 0) {
                reqs.back().body() = test::gzip(reqs.back().body());
                reqs.back().set(http::field::content_encoding, "gzip");
            }
        }
        std::vector<int> codes(n, 0);
        int finished = 0;
        asio::steady_timer all(f.ioc);
        auto one = [](http_client& c, http_request& r, int& out) -> asio::awaitable<void> {
            out = (co_await c.request(r)).result_int();
        };
        for (int i = 0; i < n; ++i)
            asio::co_spawn(f.ioc, one(clients[i], reqs[i], codes[i]), [&](std::exception_ptr) {
                if (++finished == n) all.cancel();
            });
        all.expires_after(50s);
        co_await all.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(finished == n);
        BOOST_TEST(std::count(codes.begin(), codes.end(), 204) == n);
        BOOST_TEST(f.srv->db().size() == static_cast<std::size_t>(n));
        // Group commit batches writes that queue up during a commit; how many
        // do depends on timing, so only the bound is asserted (never more
        // transactions than writes), and the batching is reported.
        BOOST_TEST(f.srv->db().commits() <= static_cast<std::size_t>(n));
        BOOST_TEST_MESSAGE(n << " writes in " << f.srv->db().commits() << " transactions");
        auto c = f.client();
        const auto list = co_await get(c, "/api/v1/clients");
        const auto parsed = test::parse_json(list.body());
        const auto& data = parsed.at("data").as_array();
        BOOST_TEST(data.size() == static_cast<std::size_t>(n));
        for (const auto& e : data) {
            const int i = std::stoi(std::string(e.at("id").as_string()).substr(5));
            BOOST_TEST(e.at("inventory") == test::parse_json(test::big_inventory(50, i)));
        }
    });
}

BOOST_AUTO_TEST_CASE(slow_header_is_cut_off_by_the_idle_timeout) {
    fixture f([](server::server_section& s) { s.idle_timeout = 300ms; });
    f.run([&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string part = "PUT /api/v1/clients/x/inventory HTTP/1.1\r\nHost: x\r\n";  // never finished
        co_await asio::async_write(s, asio::buffer(part), asio::use_awaitable);
        const auto t0 = std::chrono::steady_clock::now();
        char byte;
        auto [ec, n] = co_await s.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
        const auto waited = std::chrono::steady_clock::now() - t0;
        BOOST_TEST(bool(ec));  // closed by the server, no answer
        BOOST_TEST(n == 0u);
        BOOST_TEST((waited < 5s));
        BOOST_TEST(f.srv->http().connections() <= 1u);
    });
    BOOST_TEST(f.srv->logged("request header too slow"));
}

BOOST_AUTO_TEST_CASE(slow_body_is_cut_off_by_the_request_timeout) {
    fixture f([](server::server_section& s) { s.request_timeout = 300ms; });
    f.run([&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string head = "PUT /api/v1/clients/web-slow/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                                 test::basic_auth(test::agent_a) + "\r\nContent-Length: 5000\r\n\r\n{\"refreshed\":";
        co_await asio::async_write(s, asio::buffer(head), asio::use_awaitable);  // the rest never comes
        const auto t0 = std::chrono::steady_clock::now();
        char byte;
        auto [ec, n] = co_await s.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(bool(ec));
        BOOST_TEST(n == 0u);
        BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
        BOOST_TEST(!f.srv->db().lookup("web-slow"));
    });
    BOOST_TEST(f.srv->logged("abandoned"));
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string inv = test::sample_inventory();
        const std::string auth = test::basic_auth(test::agent_a);
        const std::string both = "PUT /api/v1/clients/web-pipe/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                                 "\r\nContent-Length: " + std::to_string(inv.size()) + "\r\n\r\n" + inv +
                                 "HEAD /api/v1/clients/web-pipe/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                                 "\r\nConnection: close\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(both), asio::use_awaitable);
        std::string answer;
        std::array<char, 4096> buf{};
        for (;;) {
            auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            answer.append(buf.data(), n);
            if (ec) break;
        }
        const auto second = answer.find("HTTP/1.1 200 OK");
        BOOST_TEST(answer.starts_with("HTTP/1.1 204"), answer);
        BOOST_TEST(second != std::string::npos, answer);
        BOOST_TEST(answer.find("\"" + server::to_hex(server::sha256(inv)) + "\"", second) != std::string::npos, answer);
    });
}

BOOST_AUTO_TEST_CASE(max_connections_pauses_accepting_without_failing_anyone) {
    fixture f([](server::server_section& s) { s.max_connections = 4; });
    constexpr int n = 24;
    f.run([&]() -> asio::awaitable<void> {
        std::vector<http_client> clients;
        std::vector<http_request> reqs;
        for (int i = 0; i < n; ++i) {
            clients.push_back(f.client());
            reqs.push_back(make_request(http::verb::put, inventory_target("m-" + std::to_string(i)), test::agent_a,
                                        test::sample_inventory(i)));
            reqs.back().keep_alive(false);  // each frees its slot when done
        }
        std::vector<int> codes(n, 0);
        int finished = 0;
        asio::steady_timer all(f.ioc);
        auto one = [](http_client& c, http_request& r, int& out) -> asio::awaitable<void> {
            out = (co_await c.request(r)).result_int();
        };
        for (int i = 0; i < n; ++i)
            asio::co_spawn(f.ioc, one(clients[i], reqs[i], codes[i]), [&](std::exception_ptr) {
                if (++finished == n) all.cancel();
            });
        all.expires_after(30s);
        co_await all.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(std::count(codes.begin(), codes.end(), 204) == n);
    });
    BOOST_TEST(f.srv->logged("max_connections (4) reached"));
}

BOOST_AUTO_TEST_CASE(shutdown_finishes_the_request_in_flight) {
    fixture f;
    f.run([&]() -> asio::awaitable<void> {
        // An idle keep-alive connection, and one in the middle of a body.
        auto idle = f.client();
        BOOST_TEST((co_await put(idle, "web-idle", test::agent_a, test::sample_inventory())).result_int() == 204);
        BOOST_TEST(idle.connected());

        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string inv = test::sample_inventory(5);
        // Expect: 100-continue tells us when the server is reading the body.
        const std::string head = "PUT /api/v1/clients/web-busy/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                                 test::basic_auth(test::agent_a) + "\r\nContent-Length: " + std::to_string(inv.size()) +
                                 "\r\nExpect: 100-continue\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(head), asio::use_awaitable);
        std::string cont(25, '\0');
        co_await asio::async_read(s, asio::buffer(cont), asio::use_awaitable);
        BOOST_TEST_REQUIRE(cont == "HTTP/1.1 100 Continue\r\n\r\n");
        const std::string first = inv.substr(0, 100);
        co_await asio::async_write(s, asio::buffer(first), asio::use_awaitable);

        f.srv->http().shutdown();
        const std::string rest = inv.substr(100);
        co_await asio::async_write(s, asio::buffer(rest), asio::use_awaitable);
        std::string answer;
        std::array<char, 1024> buf{};
        for (;;) {
            auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            answer.append(buf.data(), n);
            if (ec) break;
        }
        BOOST_TEST(answer.starts_with("HTTP/1.1 204"), answer);
        BOOST_TEST(answer.find("Connection: close") != std::string::npos, answer);
        BOOST_TEST(f.srv->db().lookup("web-busy").has_value());
        // The idle connection was closed, and new connections are refused.
        BOOST_TEST(f.srv->http().connections() == 0u);
        asio::ip::tcp::socket late(f.ioc);
        auto [cec] = co_await late.async_connect(f.srv->endpoint(), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(bool(cec));
    });
    BOOST_TEST(f.srv->stopped());
    BOOST_TEST(f.srv->logged("all connections closed"));
}

BOOST_AUTO_TEST_CASE(grace_period_ends_stuck_requests) {
    fixture f([](server::server_section& s) { s.shutdown_grace = 200ms; });
    f.run([&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket s(f.ioc);
        co_await s.async_connect(f.srv->endpoint(), asio::use_awaitable);
        const std::string head = "PUT /api/v1/clients/web-stuck/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                                 test::basic_auth(test::agent_a) + "\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(head), asio::use_awaitable);
        std::string cont(25, '\0');
        co_await asio::async_read(s, asio::buffer(cont), asio::use_awaitable);  // the server waits for the body now
        const auto t0 = std::chrono::steady_clock::now();
        co_await f.srv->stop();  // the body never comes
        BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
        char byte;
        auto [ec, n] = co_await s.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(bool(ec));
        BOOST_TEST(n == 0u);
    });
    BOOST_TEST(f.srv->logged("grace period over"));
}

BOOST_AUTO_TEST_SUITE_END()
