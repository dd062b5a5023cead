// The pure Docker mapping (parse/docker_json) and DOCKER_HOST parsing.

#include "stocktake/collect/docker_source.hpp"
#include "stocktake/parse/docker_json.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace stocktake;
using namespace stocktake::docker;

namespace {

std::string name_of(std::vector<std::string> names) { return canonical_name(names); }

page parse_ok(std::string_view body) {
    std::string why;
    auto p = parse_containers(body, why);
    BOOST_TEST_REQUIRE(p.has_value(), "parse_containers refused: " << why);
    BOOST_TEST(why.empty());
    return *p;
}

std::string parse_fails(std::string_view body) {
    std::string why;
    auto p = parse_containers(body, why);
    BOOST_TEST(!p.has_value(), "parse_containers accepted: " << body);
    BOOST_TEST(!why.empty());
    return why;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(docker_names)

BOOST_AUTO_TEST_CASE(link_aliases_are_not_names) {
    // Case 14: the first entry is a legacy link alias.
    BOOST_TEST(name_of({"/webfront/cache", "/cache", "/reporter/cache"}) == "/cache");
    BOOST_TEST(name_of({"/a/b", "/c/d/e", "/own"}) == "/own");
    BOOST_TEST(name_of({"/own", "/web/own"}) == "/own");
}

BOOST_AUTO_TEST_CASE(only_aliases_or_nothing_gives_empty) {
    BOOST_TEST(name_of({}) == "");
    BOOST_TEST(name_of({"/web/db"}) == "");
    BOOST_TEST(name_of({"", "/"}) == "");
}

BOOST_AUTO_TEST_CASE(exactly_one_leading_slash) {
    BOOST_TEST(name_of({"ledger"}) == "/ledger");
    BOOST_TEST(name_of({"/ledger"}) == "/ledger");
    BOOST_TEST(name_of({"//ledger"}) == "/ledger");
    BOOST_TEST(name_of({"", "ledger"}) == "/ledger");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docker_states)

BOOST_AUTO_TEST_CASE(every_state_from_status) {
    // Docker's own wording (container/state.go), as engines before API 1.23 give it.
    BOOST_TEST(state_from_status("Up 2 hours") == "running");
    BOOST_TEST(state_from_status("Up Less than a second") == "running");
    BOOST_TEST(state_from_status("Up 6 days (healthy)") == "running");
    BOOST_TEST(state_from_status("Up 3 minutes (unhealthy)") == "running");
    BOOST_TEST(state_from_status("Up 3 hours (Paused)") == "paused");
    BOOST_TEST(state_from_status("Restarting (1) 8 seconds ago") == "restarting");
    BOOST_TEST(state_from_status("Removal In Progress") == "removing");
    BOOST_TEST(state_from_status("Exited (0) 3 days ago") == "exited");
    BOOST_TEST(state_from_status("Exited (137) 2 days ago") == "exited");
    BOOST_TEST(state_from_status("Created") == "created");
    BOOST_TEST(state_from_status("Dead") == "dead");
}

BOOST_AUTO_TEST_CASE(unknown_status_gives_no_state) {
    BOOST_TEST(state_from_status("") == "");
    BOOST_TEST(state_from_status("Something else") == "");
    BOOST_TEST(state_from_status("Upgraded") == "");  // the first word counts, not a prefix
    BOOST_TEST(state_from_status("Deadline") == "");
    BOOST_TEST(state_from_status("  Up 1 second") == "running");
    BOOST_TEST(state_from_status("up 1 second") == "running");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docker_versions)

BOOST_AUTO_TEST_CASE(parse_api_version_accepts_major_minor) {
    auto v = parse_api_version("1.43");
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->major == 1);
    BOOST_TEST(v->minor == 43);
    BOOST_TEST(v->str() == "1.43");
    auto w = parse_api_version("v1.22");
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST(w->str() == "1.22");
}

BOOST_AUTO_TEST_CASE(parse_api_version_rejects_garbage) {
    BOOST_TEST(!parse_api_version("").has_value());
    BOOST_TEST(!parse_api_version("abc").has_value());
    BOOST_TEST(!parse_api_version("1").has_value());
    BOOST_TEST(!parse_api_version("1.").has_value());
    BOOST_TEST(!parse_api_version(".43").has_value());
    BOOST_TEST(!parse_api_version("0.9").has_value());
}

BOOST_AUTO_TEST_CASE(versions_compare_numerically) {
    auto v19 = parse_api_version("1.9");
    auto v110 = parse_api_version("1.10");
    BOOST_TEST_REQUIRE((v19 && v110));
    BOOST_TEST((*v19 < *v110));
    BOOST_TEST((*parse_api_version("1.43") > *parse_api_version("1.22")));
    BOOST_TEST((client_api_version == api_version{1, 43}));
}

BOOST_AUTO_TEST_CASE(version_from_error_new_style) {
    auto v = version_from_error("client version 1.43 is too new. Maximum supported API version is 1.22");
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->str() == "1.22");
}

BOOST_AUTO_TEST_CASE(version_from_error_old_style) {
    // Case 17's text/plain body.
    auto v = version_from_error("client is newer than server (client API version: 1.43, server API version: 1.22)");
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->str() == "1.22");
}

BOOST_AUTO_TEST_CASE(version_from_error_ignores_other_errors) {
    BOOST_TEST(!version_from_error("").has_value());
    BOOST_TEST(!version_from_error("No such container: abc").has_value());
    // Too old is not a reason to "negotiate" upwards.
    BOOST_TEST(!version_from_error("client version 1.10 is too old. Minimum supported API version is 1.12, please "
                                   "upgrade your client to a newer version")
                    .has_value());
}

BOOST_AUTO_TEST_CASE(version_from_json_error_body) {
    const std::string body = R"({"message":"client version 1.43 is too new. Maximum supported API version is 1.41"})";
    auto v = version_from_error(error_message(body));
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->str() == "1.41");
}

BOOST_AUTO_TEST_CASE(version_body) {
    auto v = version_from_version_body(R"({"Version":"1.10.3","ApiVersion":"1.22","Os":"linux"})");
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->str() == "1.22");
    BOOST_TEST(!version_from_version_body("not json").has_value());
    BOOST_TEST(!version_from_version_body(R"({"Version":"1.10.3"})").has_value());
    BOOST_TEST(!version_from_version_body(R"({"ApiVersion":122})").has_value());
    BOOST_TEST(!version_from_version_body(R"(["1.22"])").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docker_containers)

BOOST_AUTO_TEST_CASE(maps_every_field) {
    auto p = parse_ok(R"([{"Id":"abc123","Names":["/web/db","/db"],"Image":"postgres:16","ImageID":"sha256:ff",
                           "State":"running","Status":"Up 2 hours","Ports":[]}])");
    BOOST_TEST_REQUIRE(p.containers.size() == 1u);
    BOOST_TEST(p.problems.empty());
    const auto& c = p.containers[0];
    BOOST_TEST(c.container_id == "abc123");
    BOOST_TEST(c.container_name == "/db");
    BOOST_TEST(c.image_name == "postgres:16");
    BOOST_TEST(c.image_id == "sha256:ff");
    BOOST_TEST(c.state == "running");
    BOOST_TEST(c.status == "Up 2 hours");
}

BOOST_AUTO_TEST_CASE(state_derived_only_when_absent) {
    auto p = parse_ok(R"js([{"Id":"a","Status":"Up 3 hours (Paused)"},
                          {"Id":"b","Status":"Up 3 hours","State":"restarting"},
                          {"Id":"c","Status":"Exited (1) 1 second ago","State":null}])js");
    BOOST_TEST_REQUIRE(p.containers.size() == 3u);
    BOOST_TEST(p.containers[0].state == "paused");
    BOOST_TEST(p.containers[1].state == "restarting");
    BOOST_TEST(p.containers[2].state == "exited");
}

BOOST_AUTO_TEST_CASE(names_missing_null_or_empty) {
    auto p = parse_ok(R"([{"Id":"a","Names":[]},{"Id":"b"},{"Id":"c","Names":null},{"Id":"d","Names":["nameless",7]}])");
    BOOST_TEST_REQUIRE(p.containers.size() == 4u);
    BOOST_TEST(p.containers[0].container_name == "");
    BOOST_TEST(p.containers[1].container_name == "");
    BOOST_TEST(p.containers[2].container_name == "");
    BOOST_TEST(p.containers[3].container_name == "/nameless");
}

BOOST_AUTO_TEST_CASE(entries_without_id_are_problems) {
    auto p = parse_ok(R"([{"Names":["/x"]},{"Id":""},{"Id":42},"str",{"Id":"ok","Names":["/ok"]}])");
    BOOST_TEST_REQUIRE(p.containers.size() == 1u);
    BOOST_TEST(p.containers[0].container_id == "ok");
    BOOST_TEST_REQUIRE(p.problems.size() == 4u);
    BOOST_TEST(p.problems[0].find("entry 0") != std::string::npos);
    BOOST_TEST(p.problems[0].find("Id") != std::string::npos);
    BOOST_TEST(p.problems[3].find("entry 3") != std::string::npos);
    BOOST_TEST(p.problems[3].find("not an object") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_array_is_an_empty_page) {
    auto p = parse_ok("[]");
    BOOST_TEST(p.containers.empty());
    BOOST_TEST(p.problems.empty());
}

BOOST_AUTO_TEST_CASE(garbage_and_non_arrays_are_refused) {
    BOOST_TEST(parse_fails("").find("JSON") != std::string::npos);
    BOOST_TEST(parse_fails("<html>502 Bad Gateway</html>").find("not valid JSON") != std::string::npos);
    BOOST_TEST(parse_fails(R"([{"Id":"abc")").find("not valid JSON") != std::string::npos);
    BOOST_TEST(parse_fails(R"({"message":"page not found"})").find("not an array") != std::string::npos);
    BOOST_TEST(parse_fails("42").find("not an array") != std::string::npos);
    BOOST_TEST(parse_fails("null").find("not an array") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_replacement_character) {
    const std::string body = "[{\"Id\":\"a\",\"Names\":[\"/caf\xe9\"],\"Image\":\"img\xff:1\",\"Status\":\"Up 1 hour\"}]";
    // One bad byte must not lose the list; it becomes U+FFFD.
    auto p = parse_ok(body);
    BOOST_TEST_REQUIRE(p.containers.size() == 1u);
    BOOST_TEST(p.containers[0].container_name == "/caf\xef\xbf\xbd");
    BOOST_TEST(p.containers[0].image_name == "img\xef\xbf\xbd:1");
    BOOST_TEST(p.containers[0].state == "running");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docker_error_messages)

BOOST_AUTO_TEST_CASE(json_message_is_extracted_and_trimmed) {
    BOOST_TEST(error_message(R"({"message":"No such container: abc"})"
                             "\n") == "No such container: abc");
    BOOST_TEST(error_message(R"({"message":"boom\n"})") == "boom");
}

BOOST_AUTO_TEST_CASE(plain_text_is_used_as_is) {
    BOOST_TEST(error_message("client is newer than server (client API version: 1.43, server API version: 1.22)\n") ==
               "client is newer than server (client API version: 1.43, server API version: 1.22)");
    BOOST_TEST(error_message("line one\r\nline two\n") == "line one  line two");
    BOOST_TEST(error_message("") == "");
    // JSON without a string message: the text itself.
    BOOST_TEST(error_message(R"({"error":"x"})") == R"({"error":"x"})");
}

BOOST_AUTO_TEST_CASE(long_bodies_are_shortened) {
    const std::string body(5000, 'x');
    const std::string m = error_message(body);
    BOOST_TEST(m.size() < 400u);
    BOOST_TEST(m.substr(m.size() - 3) == "...");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_sanitised) {
    const std::string m = error_message("bad \xff byte");
    BOOST_TEST(m == "bad \xef\xbf\xbd byte");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docker_host)

BOOST_AUTO_TEST_CASE(unix_tcp_and_npipe) {
    docker_endpoint ep;
    failure err;
    BOOST_TEST_REQUIRE(parse_docker_host("unix:///var/run/docker.sock", ep, err));
    BOOST_TEST((ep.type == docker_endpoint::kind::unix_socket));
    BOOST_TEST(ep.path == "/var/run/docker.sock");
    BOOST_TEST(ep.url == "unix:///var/run/docker.sock");

    BOOST_TEST_REQUIRE(parse_docker_host("tcp://docker.example.invalid:2376", ep, err));
    BOOST_TEST((ep.type == docker_endpoint::kind::tcp));
    BOOST_TEST(ep.host == "docker.example.invalid");
    BOOST_TEST(ep.port == "2376");

    BOOST_TEST_REQUIRE(parse_docker_host("tcp://[::1]:2375", ep, err));
    BOOST_TEST(ep.host == "::1");
    BOOST_TEST(ep.port == "2375");

    BOOST_TEST_REQUIRE(parse_docker_host("tcp://10.0.0.5", ep, err));
    BOOST_TEST(ep.port == "2375");

    BOOST_TEST_REQUIRE(parse_docker_host("npipe:////./pipe/docker_engine", ep, err));
    BOOST_TEST((ep.type == docker_endpoint::kind::npipe));
    BOOST_TEST(ep.path == "\\\\.\\pipe\\docker_engine");
}

BOOST_AUTO_TEST_CASE(unsupported_hosts_name_the_value) {
    docker_endpoint ep;
    for (const std::string bad : {"ssh://admin@host", "https://host:2376", "/var/run/docker.sock", "unix://relative.sock",
                                  "gopher://x"}) {
        failure err;
        BOOST_TEST(!parse_docker_host(bad, ep, err), bad);
        BOOST_TEST((err.code == errc::unsupported), bad);
        BOOST_TEST(err.message.find(bad) != std::string::npos, err.message);
    }
}

BOOST_AUTO_TEST_SUITE_END()
