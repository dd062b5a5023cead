// Server configuration, credentials files, the body decoder and the pure
// API helpers: bytes in, values out.

#include "http_client.hpp"
#include "server_fixture.hpp"

#include "stocktake/core/digest.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/server/api.hpp"
#include "stocktake/server/credentials.hpp"
#include "stocktake/server/decoder.hpp"
#include "stocktake/server/server_config.hpp"

#include <boost/test/unit_test.hpp>


using namespace stocktake;
using namespace stocktake::server;
using stocktake::test::temp_dir;
using stocktake::test::write_text;

namespace {

std::string parse_error(std::string_view text) {
    server_config cfg;
    std::string err;
    BOOST_TEST_REQUIRE(!parse_server_config(text, "s.conf", cfg, err), "expected an error for: " << text);
    return err;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_config_parsing)

BOOST_AUTO_TEST_CASE(full_config_is_read) {
    server_config cfg;
    std::string err;
    const bool ok = parse_server_config(R"(
[server]
listen = "[::1]:8443"
data_dir = "/var/lib/x"
tls_cert = "/etc/c.crt"
tls_key = "/etc/c.key"
client_auth_file = "/etc/clients.auth"
max_body = "512KB"
max_connections = 300
idle_timeout = "15s"
request_timeout = 90
shutdown_grace = "2s"
log_level = "warning"

[api]
auth = "admin:se:cret"
)", "s.conf", cfg, err);
    BOOST_TEST_REQUIRE(ok, err);
    BOOST_TEST(cfg.server.listen.host == "::1");
    BOOST_TEST(cfg.server.listen.port == 8443);
    BOOST_TEST(cfg.server.data_dir == "/var/lib/x");
    BOOST_TEST(*cfg.server.tls_cert == "/etc/c.crt");
    BOOST_TEST(*cfg.server.tls_key == "/etc/c.key");
    BOOST_TEST(cfg.server.client_auth_file == "/etc/clients.auth");
    BOOST_TEST(cfg.server.max_body == 512u * 1024u);
    BOOST_TEST(cfg.server.max_connections == 300u);
    BOOST_TEST(cfg.server.idle_timeout.count() == 15000);
    BOOST_TEST(cfg.server.request_timeout.count() == 90000);
    BOOST_TEST(cfg.server.shutdown_grace.count() == 2000);
    BOOST_TEST(cfg.server.log_level == "warning");
    BOOST_TEST(*cfg.api.auth == "admin:se:cret");
    BOOST_TEST(where(cfg, "server.max_body") == "s.conf:8:12: ");
}

BOOST_AUTO_TEST_CASE(defaults_apply) {
    server_config cfg;
    std::string err;
    BOOST_TEST_REQUIRE(parse_server_config("[server]\nclient_auth_file = \"/c\"\n", "s.conf", cfg, err), err);
    BOOST_TEST(cfg.server.listen.host == "0.0.0.0");
    BOOST_TEST(cfg.server.listen.port == 8443);
    BOOST_TEST(cfg.server.max_body == 16u << 20);
    BOOST_TEST(!cfg.server.tls_cert.has_value());
    BOOST_TEST(!cfg.api.auth.has_value());
}

BOOST_AUTO_TEST_CASE(errors_name_key_and_line) {
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\nlisten = \"nonsense\"\n").starts_with("s.conf:3:10: server.listen: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\n\nmax_body = \"16 parsecs\"\n").starts_with("s.conf:4:12: server.max_body: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\nmax_body = -3\n").starts_with("s.conf:3:12: server.max_body: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\nlistn = \"x:1\"\n") == "s.conf:3:9: server.listn: unknown key");
    BOOST_TEST(parse_error("[server]\nclient_auth_file = 5\n").starts_with("s.conf:2:20: server.client_auth_file: expected a string"));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\n[api]\nauth = \"nocolon\"\n").starts_with("s.conf:4:8: api.auth: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\n[api]\nuser = \"a\"\n") == "s.conf:4:8: api.user: unknown key");
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\n[apx]\n").find("apx: unknown section") != std::string::npos);
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\nidle_timeout = \"soon\"\n").starts_with("s.conf:3:16: server.idle_timeout: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\nlog_level = \"chatty\"\n").starts_with("s.conf:3:13: server.log_level: "));
    BOOST_TEST(parse_error("[server]\nclient_auth_file = \"/c\"\ntls_cert = \"/a\"\n").starts_with("s.conf:3:12: server.tls_key: must be set together"));
    BOOST_TEST(parse_error("[server]\nlisten = \":1\"\n").find("server.client_auth_file: required") != std::string::npos);
    BOOST_TEST(parse_error("[server\nlisten = 1\n").starts_with("s.conf:1:"));  // TOML syntax
}

BOOST_AUTO_TEST_CASE(listen_forms) {
    BOOST_TEST(parse_listen("127.0.0.1:8443")->host == "127.0.0.1");
    BOOST_TEST(parse_listen("[::1]:8443")->host == "::1");
    BOOST_TEST(parse_listen("[::]:0")->port == 0);
    BOOST_TEST(parse_listen(":9000")->host.empty());
    BOOST_TEST(parse_listen("localhost:1")->host == "127.0.0.1");
    BOOST_TEST(!parse_listen("example.com:80"));
    BOOST_TEST(!parse_listen("127.0.0.1"));
    BOOST_TEST(!parse_listen("127.0.0.1:65536"));
    BOOST_TEST(!parse_listen("[::1]8443"));
    BOOST_TEST(!parse_listen("[zz]:1"));
    BOOST_TEST(!parse_listen("1.2.3.4:"));
}

BOOST_AUTO_TEST_CASE(sizes) {
    BOOST_TEST(*parse_size("16MB") == 16u << 20);
    BOOST_TEST(*parse_size("512KB") == 512u << 10);
    BOOST_TEST(*parse_size("1GiB") == 1u << 30);
    BOOST_TEST(*parse_size("1048576") == 1048576u);
    BOOST_TEST(*parse_size("2 mb") == 2u << 20);
    BOOST_TEST(!parse_size("0"));
    BOOST_TEST(!parse_size("MB"));
    BOOST_TEST(!parse_size("12TB"));
    BOOST_TEST(!parse_size("-1"));
}

BOOST_AUTO_TEST_CASE(validation_checks_files_and_names_the_key) {
    temp_dir dir;
    const auto conf = test::write_server_config(dir.path());
    server_config cfg;
    std::string err;
    BOOST_TEST_REQUIRE(load_server_config_file(conf.string(), cfg, err), err);
    BOOST_TEST(std::filesystem::is_directory(dir / "data"));  // created

    const auto missing = dir / "missing.conf";
    write_text(missing, "[server]\nlisten = \"127.0.0.1:0\"\n\nclient_auth_file = \"" + (dir / "nope.auth").string() + "\"\n");
    server_config c2;
    BOOST_TEST(!load_server_config_file(missing.string(), c2, err));
    BOOST_TEST(err.starts_with(missing.string() + ":4:20: server.client_auth_file: "), err);
    BOOST_TEST(err.find("does not exist") != std::string::npos, err);

    write_text(dir / "bad.auth", "agent-a:pass\nno-colon-here\n");
    const auto badauth = dir / "badauth.conf";
    write_text(badauth, "[server]\nclient_auth_file = \"" + (dir / "bad.auth").string() + "\"\ndata_dir = \"" + (dir / "d").string() + "\"\n");
    server_config c3;
    BOOST_TEST(!load_server_config_file(badauth.string(), c3, err));
    BOOST_TEST(err.find("server.client_auth_file: ") != std::string::npos, err);
    BOOST_TEST(err.find("bad.auth:2: expected '<auth-id>:<password>'") != std::string::npos, err);

    const auto cert = dir / "cert.conf";
    write_text(dir / "junk.crt", "not a certificate\n");
    write_text(cert, "[server]\nclient_auth_file = \"" + (dir / "clients.auth").string() + "\"\ndata_dir = \"" +
                         (dir / "d").string() + "\"\ntls_cert = \"" + (dir / "junk.crt").string() + "\"\ntls_key = \"" +
                         (dir / "junk.crt").string() + "\"\n");
    server_config c4;
    BOOST_TEST(!load_server_config_file(cert.string(), c4, err));
    BOOST_TEST(err.starts_with(cert.string() + ":4:12: server.tls_cert: cannot load the certificate"), err);
}

BOOST_AUTO_TEST_CASE(data_dir_that_is_a_file_is_refused) {
    // A regular file where the directory should be (this fails for root too).
    temp_dir dir;
    write_text(dir / "file", "x");
    const auto conf = test::write_server_config(dir.path());
    std::string text = test::read_text(conf);
    text.replace(text.find(dir.path().string() + "/data"), (dir.path().string() + "/data").size(), (dir / "file").string());
    write_text(conf, text);
    server_config cfg;
    std::string err;
    BOOST_TEST(!load_server_config_file(conf.string(), cfg, err));
    BOOST_TEST(err.find(":3:12: server.data_dir: ") != std::string::npos, err);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(server_credentials)

BOOST_AUTO_TEST_CASE(rport_line_format) {
    credentials c;
    std::string err;
    BOOST_TEST_REQUIRE(parse_credentials("# comment\n\nweb-01:secret\r\nweb-02:pa:ss\n  # indented comment\n", "f", c, err), err);
    BOOST_TEST(c.size() == 2u);
    BOOST_TEST(c.check("web-01", "secret"));
    BOOST_TEST(c.check("web-02", "pa:ss"));
    BOOST_TEST(!c.check("web-01", "secret "));
    BOOST_TEST(!c.check("web-01", ""));
    BOOST_TEST(!c.check("web-03", "secret"));
    BOOST_TEST(!c.check("web-0", "secret"));
}

BOOST_AUTO_TEST_CASE(rport_json_format) {
    credentials c;
    std::string err;
    BOOST_TEST_REQUIRE(parse_credentials(R"({"a": "1", "b": "2"})", "f", c, err), err);
    BOOST_TEST(c.check("b", "2"));
    BOOST_TEST(!parse_credentials(R"({"a": 1})", "f", c, err));
}

BOOST_AUTO_TEST_CASE(bad_lines_name_the_line) {
    credentials c;
    std::string err;
    BOOST_TEST(!parse_credentials("a:1\n\nb\n", "f.auth", c, err));
    BOOST_TEST(err == "f.auth:3: expected '<auth-id>:<password>'");
    credentials d;
    BOOST_TEST(!parse_credentials("a:1\na:2\n", "f.auth", d, err));
    BOOST_TEST(err == "f.auth:2: duplicate auth id 'a'");
    credentials e;
    BOOST_TEST(!parse_credentials("a:\n", "f.auth", e, err));
}

BOOST_AUTO_TEST_CASE(basic_authorization_header) {
    const auto a = parse_basic_authorization(test::basic_auth("web-01:pa:ss"));
    BOOST_TEST_REQUIRE(a.has_value());
    BOOST_TEST(a->user == "web-01");
    BOOST_TEST(a->password == "pa:ss");
    BOOST_TEST(parse_basic_authorization("basic " + test::basic_auth("u:p").substr(6))->user == "u");
    BOOST_TEST(!parse_basic_authorization("Bearer abc"));
    BOOST_TEST(!parse_basic_authorization("Basic !!!!"));
    BOOST_TEST(!parse_basic_authorization("Basic " + test::basic_auth("nocolon").substr(6)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(server_decoder)

BOOST_AUTO_TEST_CASE(identity_enforces_limit) {
    body_decoder d(content_coding::identity, 10);
    BOOST_TEST((d.feed("12345") == body_decoder::status::ok));
    BOOST_TEST((d.feed("67890") == body_decoder::status::ok));
    BOOST_TEST((d.feed("x") == body_decoder::status::too_large));
    BOOST_TEST(d.output().size() == 10u);
}

BOOST_AUTO_TEST_CASE(gzip_round_trip_in_small_pieces) {
    const std::string text = test::sample_inventory();
    const std::string gz = test::gzip(text);
    body_decoder d(content_coding::gzip, 1 << 20);
    for (std::size_t i = 0; i < gz.size(); i += 7)
        BOOST_TEST_REQUIRE((d.feed(std::string_view(gz).substr(i, 7)) == body_decoder::status::ok));
    BOOST_TEST_REQUIRE((d.finish() == body_decoder::status::ok), d.problem());
    BOOST_TEST(d.output() == text);
}

BOOST_AUTO_TEST_CASE(gzip_bomb_stops_at_the_limit) {
    const std::string bomb = test::gzip_zeros(std::size_t{1} << 30);  // 1 GiB of zeros
    BOOST_TEST(bomb.size() < 2u << 20);
    body_decoder d(content_coding::gzip, 1 << 20);
    body_decoder::status st = body_decoder::status::ok;
    std::size_t fed = 0;
    for (; fed < bomb.size() && st == body_decoder::status::ok; fed += 65536)
        st = d.feed(std::string_view(bomb).substr(fed, 65536));
    BOOST_TEST((st == body_decoder::status::too_large));
    BOOST_TEST(fed <= 65536u);  // the first block already passes 1 MiB
    BOOST_TEST(d.output().size() <= 1u << 20);
    BOOST_TEST(d.output().capacity() < 4u << 20);
}

BOOST_AUTO_TEST_CASE(corrupt_and_truncated_gzip) {
    const std::string gz = test::gzip(test::sample_inventory());
    body_decoder trunc(content_coding::gzip, 1 << 20);
    BOOST_TEST((trunc.feed(std::string_view(gz).substr(0, gz.size() / 2)) == body_decoder::status::ok));
    BOOST_TEST((trunc.finish() == body_decoder::status::corrupt));
    body_decoder junk(content_coding::gzip, 1 << 20);
    BOOST_TEST((junk.feed("this is not gzip at all") == body_decoder::status::corrupt));
    body_decoder empty(content_coding::gzip, 1 << 20);
    BOOST_TEST((empty.finish() == body_decoder::status::corrupt));
}

BOOST_AUTO_TEST_CASE(content_encodings) {
    BOOST_TEST((*parse_content_encoding("") == content_coding::identity));
    BOOST_TEST((*parse_content_encoding("GZip") == content_coding::gzip));
    BOOST_TEST((*parse_content_encoding("x-gzip") == content_coding::gzip));
    BOOST_TEST((*parse_content_encoding("deflate") == content_coding::deflate));
    BOOST_TEST(!parse_content_encoding("br"));
    BOOST_TEST(!parse_content_encoding("gzip, gzip"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(server_api_helpers)

BOOST_AUTO_TEST_CASE(routes) {
    BOOST_TEST((parse_route("/api/v1/clients").kind == route::clients));
    BOOST_TEST((parse_route("/api/v1/clients?page=2").kind == route::clients));
    const auto r = parse_route("/api/v1/clients/web%2D01/inventory");
    BOOST_TEST((r.kind == route::client_inventory));
    BOOST_TEST(r.id == "web-01");
    BOOST_TEST((parse_route("/api/v1/clients/web-01").kind == route::client));
    BOOST_TEST((parse_route("/api/v1/clients/a%2Fb").kind == route::bad_id));
    BOOST_TEST((parse_route("/api/v1/clients/a%00b/inventory").kind == route::bad_id));
    BOOST_TEST((parse_route("/api/v1/clients/a/other").kind == route::not_found));
    BOOST_TEST((parse_route("/api/v2/clients").kind == route::not_found));
    BOOST_TEST((parse_route("/").kind == route::not_found));
    BOOST_TEST((parse_route("http://x/api/v1/clients").kind == route::not_found));
}

BOOST_AUTO_TEST_CASE(entity_tags_and_preconditions) {
    const auto list = parse_etag_condition("\"a\", W/\"b\"");
    BOOST_TEST_REQUIRE(list.has_value());
    BOOST_TEST(list->tags.size() == 2u);
    BOOST_TEST(list->tags[1].weak);
    BOOST_TEST(parse_etag_condition("*")->any);
    BOOST_TEST(!parse_etag_condition("abc"));
    BOOST_TEST(!parse_etag_condition("\"unterminated"));

    const etag_condition none;
    const auto a = *parse_etag_condition("\"a\"");
    const auto weak_a = *parse_etag_condition("W/\"a\"");
    const auto star = *parse_etag_condition("*");
    const std::optional<std::string> cur = "a", nothing;
    using p = precondition;
    BOOST_TEST((evaluate_preconditions(false, none, none, cur) == p::proceed));
    BOOST_TEST((evaluate_preconditions(false, a, none, cur) == p::proceed));
    BOOST_TEST((evaluate_preconditions(false, weak_a, none, cur) == p::failed));  // If-Match is strong
    BOOST_TEST((evaluate_preconditions(false, a, none, nothing) == p::failed));
    BOOST_TEST((evaluate_preconditions(false, star, none, nothing) == p::failed));
    BOOST_TEST((evaluate_preconditions(false, none, a, cur) == p::failed));
    BOOST_TEST((evaluate_preconditions(true, none, weak_a, cur) == p::not_modified));  // If-None-Match is weak
    BOOST_TEST((evaluate_preconditions(false, none, star, nothing) == p::proceed));
    BOOST_TEST((evaluate_preconditions(false, none, star, cur) == p::failed));
}

BOOST_AUTO_TEST_CASE(inventory_validation_names_the_key) {
    std::string stored, etag, content, why;
    BOOST_TEST(validate_inventory_body(test::sample_inventory(), stored, etag, content, why), why);
    BOOST_TEST(stored == test::sample_inventory());
    BOOST_TEST(etag == to_hex(sha256(stored)));
    BOOST_TEST(etag.size() == 64u);
    // The content hash ignores `refreshed`, and is the agent's (core) one.
    std::string stored2, etag2, content2;
    BOOST_TEST(validate_inventory_body(test::sample_inventory_refreshed("2030-01-01T00:00:00.000000001Z"), stored2, etag2,
                                       content2, why), why);
    BOOST_TEST(content2 == content);
    BOOST_TEST(etag2 != etag);
    BOOST_TEST(content == stocktake::content_hash(*inventory_from_json(test::parse_json(stored), why)));
    BOOST_TEST(!validate_inventory_body("{\"refreshed\":\"2024-01-01T00:00:00Z\",\"software_inventory\":[{\"package\":1}]}",
                                        stored, etag, content, why));
    BOOST_TEST(why.find("software_inventory[0].package") != std::string::npos, why);
    BOOST_TEST(!validate_inventory_body("{not json", stored, etag, content, why));
    BOOST_TEST(why.find("not JSON") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(refresh_patches) {
    refresh_patch p;
    std::string why;
    const std::string hash(64, 'a');
    BOOST_TEST(parse_refresh_patch(R"({"refreshed":"2024-09-18T13:29:40.834378519Z","content_sha256":")" + hash + "\"}", p, why), why);
    BOOST_TEST(p.refreshed == "2024-09-18T13:29:40.834378519Z");
    BOOST_TEST(p.content_sha256 == hash);
    BOOST_TEST(!parse_refresh_patch(R"({"refreshed":"soon","content_sha256":")" + hash + "\"}", p, why));
    BOOST_TEST(why.starts_with("refreshed:"));
    BOOST_TEST(!parse_refresh_patch(R"({"refreshed":"2024-09-18T13:29:40Z","content_sha256":"ABC"})", p, why));
    BOOST_TEST(why.starts_with("content_sha256:"));
    BOOST_TEST(!parse_refresh_patch(R"({"refreshed":"2024-09-18T13:29:40Z","content_sha256":")" + hash +
                                        R"(","software_inventory":[]})", p, why));
    BOOST_TEST(why.starts_with("software_inventory:"));
    BOOST_TEST(!parse_refresh_patch("[]", p, why));

    std::string out, etag;
    BOOST_TEST(with_refreshed(R"({"refreshed":"a","x":1})", "b", out, etag, why));
    BOOST_TEST(out == R"({"refreshed":"b","x":1})");
    BOOST_TEST(etag == to_hex(sha256(out)));
}

BOOST_AUTO_TEST_CASE(client_names) {
    BOOST_TEST(*clean_client_name("  web 01 ") == "web 01");
    BOOST_TEST(!clean_client_name("   "));
    BOOST_TEST(*clean_client_name("a\x01" "b") == "ab");
    BOOST_TEST(clean_client_name(std::string(300, 'x'))->size() == 256u);
    BOOST_TEST(*clean_client_name("caf\xff") == "caf\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_SUITE_END()
