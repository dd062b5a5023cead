// The Docker collector (the real client code) against the fake engine of
// tests/support/fake_engine: the shared docker cases, and the failures a
// real engine cannot be made to produce.

#include "stocktake/agent/refresh.hpp"
#include "stocktake/collect/docker_source.hpp"
#include "support/fake_engine.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace stocktake;
using namespace stocktake::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

docker_options options_for(const std::string& url) {
    docker_options o;
    o.docker_host = url;
    o.default_sockets.clear();
    o.step_timeout = 5s;
    return o;
}

// Runs the collector once on a fresh io_context; nothing may be left on it.
source_result collect_with(docker_options o, std::chrono::milliseconds bound = 30s) {
    asio::io_context ioc;
    auto src = make_docker_source(std::move(o));
    asio::awaitable<source_result> aw = src->collect();
    return run_bounded(ioc, std::move(aw), bound);
}

std::string describe(const source_result& r) {
    std::ostringstream s;
    s << "outcome " << static_cast<int>(r.outcome) << ", " << r.containers.size() << " containers, detail '" << r.detail
      << "'";
    if (r.error) s << ", error " << r.error->code << ": " << r.error->message;
    for (const auto& w : r.warnings) s << "\n  warning: " << w;
    return s.str();
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// The inventory object the agent would print for this one source.
json::object inventory_of(const source_result& r) {
    std::vector<source_result> v{r};
    refresh_result merged = merge_results(std::move(v));
    return inventory_json(merged.inv).as_object();
}

const json::value& array_or_empty(const json::object& o, std::string_view key) {
    static const json::value empty = json::array{};
    const auto* v = o.if_contains(key);
    return v ? *v : empty;
}

// The inventory's container_inventory against `expected` (as a set on the
// keys shown), and no errors.
void check_containers(const json::array& expected, const source_result& r) {
    const json::object inv = inventory_of(r);
    const std::string diff = compare_as_set(expected, array_or_empty(inv, "container_inventory"));
    BOOST_TEST(diff.empty(), "container_inventory differs:\n" << diff << describe(r));
    BOOST_TEST(array_or_empty(inv, "errors").as_array().empty(), describe(r));
}

// A case's expected.json against the inventory built from `r`.
void check_case(const fs::path& dir, const source_result& r) {
    const json::object expected = parse_json(read_text(dir / "expected.json")).as_object();
    const json::object inv = inventory_of(r);
    BOOST_TEST_REQUIRE(expected.contains("container_inventory"));
    const std::string diff = compare_as_set(expected.at("container_inventory"), array_or_empty(inv, "container_inventory"));
    BOOST_TEST(diff.empty(), dir.filename().string() << ": container_inventory differs:\n" << diff << describe(r));
    const std::string ediff = compare_as_set(array_or_empty(expected, "errors"), array_or_empty(inv, "errors"));
    BOOST_TEST(ediff.empty(), dir.filename().string() << ": errors differ:\n" << ediff << describe(r));
}

json::array read_array(const fs::path& p) { return parse_json(read_text(p)).as_array(); }

std::set<std::string> ids_of(const json::array& a, std::string_view key = "Id") {
    std::set<std::string> out;
    for (const auto& v : a) out.insert(std::string(v.as_object().at(key).as_string()));
    return out;
}

std::vector<std::string> ids_of(const source_result& r) {
    std::vector<std::string> out;
    for (const auto& c : r.containers) out.push_back(c.container_id);
    return out;
}

std::string id_at(const json::array& a, std::size_t i) { return std::string(a.at(i).as_object().at("Id").as_string()); }

// The `before` anchor of a list request, in either style.
std::string anchor_of(const fake_request& r) {
    if (r.has("before")) return r.param("before");
    if (!r.has("filters")) return {};
    const json::value f = parse_json(r.param("filters"));
    const auto* b = f.as_object().if_contains("before");
    if (!b) return {};
    return std::string(b->as_array().at(0).as_string());
}

void require_no_fake_errors(const fake_engine& fe) {
    const auto errs = fe.errors();
    BOOST_TEST(errs.empty(), "fake engine errors: " << (errs.empty() ? std::string() : errs.front()));
}

// ------------------------------------------------------------ the cases

void case_14_docker_link_names(const fs::path& dir) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array containers = read_array(dir / "containers.json");
    fe.set_containers(containers);
    // In one page, and paged through two at a time.
    for (std::size_t page : {std::size_t{100}, std::size_t{2}}) {
        BOOST_TEST_CONTEXT("page_size " << page) {
            const std::size_t before = fe.requests_to("/containers/json").size();
            auto o = options_for(fe.url());
            o.page_size = page;
            const source_result r = collect_with(o);
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
            check_case(dir, r);
            const std::size_t lists = fe.requests_to("/containers/json").size() - before;
            BOOST_TEST(lists == (containers.size() + page) / page, "list requests");  // ceil, or one more when exact
        }
    }
    require_no_fake_errors(fe);
}

void case_15_docker_all_states(const fs::path& dir) {
    const json::array all = read_array(dir / "containers_all.json");
    const json::array running = read_array(dir / "containers_default.json");
    const json::array expected = parse_json(read_text(dir / "expected.json")).as_object().at("container_inventory").as_array();

    BOOST_TEST_CONTEXT("all containers") {
        temp_dir tmp;
        fake_engine fe(tmp / "docker.sock");
        fe.set_containers(all, running);
        const source_result r = collect_with(options_for(fe.url()));
        BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
        check_case(dir, r);
        for (const auto& q : fe.requests_to("/containers/json")) BOOST_TEST(q.param("all") == "1", q.target);
        require_no_fake_errors(fe);
    }

    // "running only": what the engine lists when all is not asked for.
    const std::set<std::string> running_ids = ids_of(running);
    json::array expected_running;
    for (const auto& e : expected)
        if (running_ids.count(std::string(e.as_object().at("container_id").as_string()))) expected_running.push_back(e);
    BOOST_TEST_REQUIRE(expected_running.size() == running.size());
    BOOST_TEST_REQUIRE(expected_running.size() < expected.size());

    struct variant {
        const char* what;
        container_list_options opts;
    };
    container_list_options dockerd;  // limit implies all, status filter honoured
    container_list_options plain;    // containers_default.json unless all=1, filters ignored
    plain.limit_implies_all = false;
    plain.honour_status = false;
    for (const variant& v : {variant{"dockerd", dockerd}, variant{"serves containers_default.json", plain}}) {
        BOOST_TEST_CONTEXT("running only, engine: " << v.what) {
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fe.set_containers(all, running, v.opts);
            auto o = options_for(fe.url());
            o.all = false;
            const source_result r = collect_with(o);
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
            check_containers(expected_running, r);
            require_no_fake_errors(fe);
        }
    }
}

// Follows exchange.md: the engine answers the case's .http files verbatim
// (a 400 text/plain to anything above API 1.22, its /version) and lists
// 03_GET_v1.22_containers_json_all.json.

void serve_case_17(fake_engine& fe, const fs::path& dir) {
    fe.on("GET", "/version", fake_reply::raw_file(dir / "02_GET_version.http"), fake_engine::match::path);
    container_list_options old;
    old.honour_filters_before = false;  // API 1.22 only knows the before= parameter
    fe.set_containers(read_array(dir / "03_GET_v1.22_containers_json_all.json"), std::nullopt, old);
}

engine_profile case_17_profile(const fs::path& dir) {
    engine_profile p = engine_profile::old_1_22();
    p.too_new_reply = fake_reply::raw_file(dir / "01_GET_v1.43_containers_json_all.http");
    return p;
}

void case_17_docker_old_engine(const fs::path& dir) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock", case_17_profile(dir));
    serve_case_17(fe, dir);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    check_case(dir, r);
    BOOST_TEST(contains(r.detail, "API 1.22"), r.detail);

    const auto above = fe.requests_above("1.22");
    BOOST_TEST(above.empty(), "asked above the engine's API 1.22: " << (above.empty() ? "" : above.front().target));
    const auto reqs = fe.requests();
    std::ptrdiff_t version_at = -1;
    std::ptrdiff_t list_at = -1;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        if (reqs[i].path == "/version" && version_at < 0) version_at = static_cast<std::ptrdiff_t>(i);
        if (reqs[i].path == "/v1.22/containers/json" && list_at < 0) list_at = static_cast<std::ptrdiff_t>(i);
    }
    BOOST_TEST(version_at >= 0, "no unversioned GET /version");
    BOOST_TEST(list_at > version_at, "GET /v1.22/containers/json must follow GET /version");
    for (const auto& q : fe.requests_to("/containers/json")) {
        BOOST_TEST(q.api_version == "1.22", q.target);
        BOOST_TEST(q.param("all") == "1", q.target);
    }
    require_no_fake_errors(fe);
}

// Result of the collector run in a child process without privileges.
struct child_result {
    std::string skipped;  // why it could not run
    source_result r;
};

std::string group_for_socket(gid_t& gid) {
    for (const char* name : {"docker", "users", "staff", "adm"}) {
        if (const struct group* g = ::getgrnam(name); g && g->gr_gid != 65534) {
            gid = g->gr_gid;
            return g->gr_name;
        }
    }
    gid = 0;
    return "root";
}

void write_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

// Root bypasses socket permissions: collect as uid/gid 65534 with no
// supplementary groups, in a child, and bring the result back.
child_result collect_as_nobody(const docker_options& o) {
    int fds[2];
    BOOST_TEST_REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0, "fork: " << std::strerror(errno));
    if (pid == 0) {
        ::close(fds[0]);
        json::object out;
        try {
            if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0 || ::geteuid() != 65534) {
                out["skipped"] = std::string("cannot drop privileges: ") + std::strerror(errno);
            } else {
                const source_result r = collect_with(o, 10s);
                out["outcome"] = static_cast<int>(r.outcome);
                out["containers"] = r.containers.size();
                if (r.error) {
                    out["source"] = r.error->source;
                    out["code"] = r.error->code;
                    out["message"] = r.error->message;
                }
            }
        } catch (const std::exception& e) {
            out["exception"] = e.what();
        } catch (...) {
            out["exception"] = "unknown";
        }
        write_all(fds[1], json::serialize(out));
        ::close(fds[1]);
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST_REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "child failed, status " << status);
    const json::object res = parse_json(text).as_object();
    child_result out;
    BOOST_TEST_REQUIRE(!res.contains("exception"), "child: " << json::serialize(res));
    if (res.contains("skipped")) {
        out.skipped = std::string(res.at("skipped").as_string());
        return out;
    }
    out.r.source = "docker";
    out.r.outcome = static_cast<source_outcome>(res.at("outcome").as_int64());
    if (res.contains("code"))
        out.r.error = source_error{std::string(res.at("source").as_string()), std::string(res.at("code").as_string()),
                                   std::string(res.at("message").as_string())};
    BOOST_TEST(res.at("containers").as_int64() == 0);
    return out;
}

void check_permission_denied(const fs::path& dir, const source_result& r, const std::string& url,
                             const std::string& group) {
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
    BOOST_TEST_MESSAGE(describe(r));
    BOOST_TEST_REQUIRE(r.error.has_value());
    check_case(dir, r);
    BOOST_TEST(r.error->code == "permission_denied");
    BOOST_TEST(contains(r.error->message, url), r.error->message);
    BOOST_TEST(contains(r.error->message, "group"), r.error->message);
    if (!group.empty()) BOOST_TEST(contains(r.error->message, "usermod -aG " + group), r.error->message);
}

void case_19_docker_permission_denied(const fs::path& dir) {
    // scenario.json: the socket exists (root:<group>, 0660), the agent's
    // user is not in the group, DOCKER_HOST is unset.
    temp_dir tmp;
    const fs::path sock = tmp / "docker.sock";
    asio::io_context ioc;
    asio::local::stream_protocol::acceptor listener(ioc, asio::local::stream_protocol::endpoint(sock.string()));
    const std::string url = "unix://" + sock.string();
    docker_options unset;  // DOCKER_HOST unset: the default socket
    unset.default_sockets = {sock.string()};
    unset.step_timeout = 5s;

    if (::geteuid() != 0) {
        // Not root: a socket without any permission denies us too.
        BOOST_TEST_REQUIRE(::chmod(sock.c_str(), 0) == 0);
        const source_result r = collect_with(unset);
        check_permission_denied(dir, r, url, "");
        return;
    }
    gid_t gid = 0;
    const std::string group = group_for_socket(gid);
    BOOST_TEST_REQUIRE(::chown(sock.c_str(), 0, gid) == 0);
    BOOST_TEST_REQUIRE(::chmod(sock.c_str(), 0660) == 0);
    {
        // The socket itself works: root gets through.
        asio::local::stream_protocol::socket probe(ioc);
        boost::system::error_code ec;
        probe.connect(asio::local::stream_protocol::endpoint(sock.string()), ec);
        BOOST_TEST_REQUIRE(!ec, "root cannot connect to the test socket: " << ec.message());
    }
    child_result c = collect_as_nobody(unset);
    if (!c.skipped.empty()) {
        BOOST_TEST_MESSAGE("SKIPPED permission check (needs a user without access): " << c.skipped);
        return;
    }
    BOOST_TEST_CONTEXT("DOCKER_HOST unset") { check_permission_denied(dir, c.r, url, group); }

    BOOST_TEST_CONTEXT("docker_host set") {
        child_result d = collect_as_nobody(options_for(url));
        BOOST_TEST_REQUIRE(d.skipped.empty());
        check_permission_denied(dir, d.r, url, group);
    }

    BOOST_TEST_CONTEXT("socket directory not searchable") {
        // stat() fails with EACCES too: still a denied engine, not "no Docker".
        BOOST_TEST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
        child_result d = collect_as_nobody(unset);
        ::chmod(tmp.path().c_str(), 0755);
        BOOST_TEST_REQUIRE(d.skipped.empty());
        check_permission_denied(dir, d.r, url, "");
        BOOST_TEST(contains(d.r.error->message, "directory"), d.r.error->message);
    }
}

using scenario = void (*)(const fs::path&);
const std::map<std::string, scenario>& scenarios() {
    static const std::map<std::string, scenario> m = {
        {"14-docker-link-names", case_14_docker_link_names},
        {"15-docker-all-states", case_15_docker_all_states},
        {"17-docker-old-engine", case_17_docker_old_engine},
        {"19-docker-permission-denied", case_19_docker_permission_denied},
    };
    return m;
}

void run_case(const std::string& name) {
    const fs::path dir = cases_dir() / name;
    BOOST_TEST_REQUIRE(fs::is_directory(dir), "case folder missing: " << dir);
    scenarios().at(name)(dir);
}

}  // namespace

// ================================================================ cases

BOOST_AUTO_TEST_SUITE(docker_cases)

BOOST_AUTO_TEST_CASE(every_docker_case_has_a_scenario) {
    const auto dirs = cases_matching("docker");
    BOOST_TEST_REQUIRE(!dirs.empty());
    std::set<std::string> on_disk;
    for (const auto& d : dirs) {
        const std::string name = d.filename().string();
        on_disk.insert(name);
        BOOST_TEST(scenarios().count(name) == 1u, "docker case without a scenario here: " << name);
    }
    for (const auto& [name, fn] : scenarios()) BOOST_TEST(on_disk.count(name) == 1u, "scenario for a missing case: " << name);
}

BOOST_AUTO_TEST_CASE(case_14_link_names) { run_case("14-docker-link-names"); }
BOOST_AUTO_TEST_CASE(case_15_all_states) { run_case("15-docker-all-states"); }
BOOST_AUTO_TEST_CASE(case_17_old_engine) { run_case("17-docker-old-engine"); }
BOOST_AUTO_TEST_CASE(case_19_permission_denied) { run_case("19-docker-permission-denied"); }

BOOST_AUTO_TEST_CASE(case_17_behind_a_ping_that_claims_a_newer_api) {
    // A proxy in front of the old engine answers /_ping with API 1.43: the
    // collector must fall back on the engine's "client is newer" text.
    const fs::path dir = cases_dir() / "17-docker-old-engine";
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock", case_17_profile(dir));
    serve_case_17(fe, dir);
    fake_reply ping = fake_reply::text("OK");
    ping.headers = {{"API-Version", "1.43"}};
    fe.on("GET", "/_ping", ping, fake_engine::match::path);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    check_case(dir, r);
    const auto above = fe.requests_above("1.22");
    BOOST_TEST_REQUIRE(above.size() == 1u, "exactly one request above 1.22, the one that failed");
    BOOST_TEST(above.front().answered == 400u);
    BOOST_TEST(above.front().api_version == "1.43");
    BOOST_TEST(contains(r.detail, "API 1.22"), r.detail);
    require_no_fake_errors(fe);
}

BOOST_AUTO_TEST_CASE(case_17_paged_with_the_legacy_before_parameter) {
    // API < 1.24 knows `before=` only; filters.before would be ignored.
    const fs::path dir = cases_dir() / "17-docker-old-engine";
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock", case_17_profile(dir));
    serve_case_17(fe, dir);
    auto o = options_for(fe.url());
    o.page_size = 2;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    check_case(dir, r);
    BOOST_TEST(r.warnings.empty(), describe(r));
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST(lists.size() == 4u);  // 2 + 2 + 2 + an empty page
    for (std::size_t i = 0; i < lists.size(); ++i) {
        BOOST_TEST(lists[i].param("limit") == "2", lists[i].target);
        BOOST_TEST(!lists[i].has("filters"), lists[i].target);
        BOOST_TEST(lists[i].has("before") == (i > 0), lists[i].target);
    }
    BOOST_TEST(fe.requests_above("1.22").empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ versions

BOOST_AUTO_TEST_SUITE(docker_versions)

BOOST_AUTO_TEST_CASE(speaks_the_engines_older_version) {
    temp_dir tmp;
    engine_profile p;
    p.api_version = "1.41";
    fake_engine fe(tmp / "docker.sock", p);
    fe.set_containers(make_containers(3));
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 3u);
    BOOST_TEST(fe.requests_above("1.41").empty());
    for (const auto& q : fe.requests_to("/containers/json")) BOOST_TEST(q.api_version == "1.41", q.target);
    BOOST_TEST(fe.requests_to("/version").empty(), "the ping header was enough");
    BOOST_TEST(contains(r.detail, "API 1.41"), r.detail);
}

BOOST_AUTO_TEST_CASE(never_asks_above_its_own_version) {
    temp_dir tmp;
    engine_profile p;
    p.api_version = "1.47";
    fake_engine fe(tmp / "docker.sock", p);
    fe.set_containers(make_containers(3));
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(fe.requests_above("1.43").empty());
    for (const auto& q : fe.requests_to("/containers/json")) BOOST_TEST(q.api_version == "1.43", q.target);
}

BOOST_AUTO_TEST_CASE(unversioned_when_the_engine_says_nothing) {
    temp_dir tmp;
    engine_profile p;
    p.api_version_header = false;
    fake_engine fe(tmp / "docker.sock", p);
    fe.on("GET", "/version", fake_reply::json(R"({"message":"page not found"})", 404), fake_engine::match::route);
    fe.set_containers(make_containers(3));
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 3u);
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(!lists.empty());
    for (const auto& q : lists) BOOST_TEST(q.api_version.empty(), q.target);
    BOOST_TEST(contains(r.detail, "unversioned"), r.detail);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ failures

BOOST_AUTO_TEST_SUITE(docker_failures)

BOOST_AUTO_TEST_CASE(engine_answers_500) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    fe.on("GET", "/containers/json", fake_reply::json(R"({"message":"Internal server error: database is locked"})", 500),
          fake_engine::match::route);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
    BOOST_TEST_MESSAGE(describe(r));
    BOOST_TEST(r.error->code == "engine_error");
    BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
    BOOST_TEST(contains(r.error->message, "500"), r.error->message);
    BOOST_TEST(contains(r.error->message, "database is locked"), r.error->message);
    BOOST_TEST(r.containers.empty());
    const json::object inv = inventory_of(r);
    BOOST_TEST(array_or_empty(inv, "errors").as_array().size() == 1u);
    BOOST_TEST(array_or_empty(inv, "container_inventory").as_array().empty());
}

BOOST_AUTO_TEST_CASE(engine_answers_invalid_json) {
    struct bad {
        const char* body;
        const char* says;
    };
    for (const bad& b : {bad{R"([{"Id":"abc","Names":["/x")", "not valid JSON"},
                         bad{"<html><body>502 Bad Gateway</body></html>", "not valid JSON"},
                         bad{R"({"Id":"abc"})", "not an array"}}) {
        BOOST_TEST_CONTEXT(b.body) {
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fe.on("GET", "/containers/json", fake_reply::json(b.body), fake_engine::match::route);
            const source_result r = collect_with(options_for(fe.url()));
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
            BOOST_TEST_MESSAGE(describe(r));
            BOOST_TEST(r.error->code == "invalid_response");
            BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
            BOOST_TEST(contains(r.error->message, b.says), r.error->message);
            BOOST_TEST(r.containers.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(engine_answers_something_that_is_not_http) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    fe.on("GET", "/_ping", fake_reply::raw_bytes("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), fake_engine::match::route);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
    BOOST_TEST_MESSAGE(describe(r));
    BOOST_TEST(r.error->code == "invalid_response");
    BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
}

BOOST_AUTO_TEST_CASE(stall_past_the_step_timeout) {
    for (const char* route : {"/_ping", "/containers/json"}) {
        BOOST_TEST_CONTEXT("stalls on " << route) {
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fe.set_containers(make_containers(3));
            fe.on("GET", route, fake_reply::stalled(), fake_engine::match::route);
            auto o = options_for(fe.url());
            o.step_timeout = 300ms;
            const auto start = clock_type::now();
            const source_result r = collect_with(o, 5s);
            const auto took = clock_type::now() - start;
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
            BOOST_TEST_MESSAGE(describe(r));
            BOOST_TEST(r.error->code == "timeout");
            BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
            BOOST_TEST(contains(r.error->message, "300 ms"), r.error->message);
            BOOST_TEST(contains(r.error->message, route), r.error->message);
            BOOST_TEST((took >= 280ms), "gave up before the step timeout");
            BOOST_TEST((took < 2s), "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
            BOOST_TEST(fe.requests_to(route).size() == 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(chunked_body_is_read) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array list = make_containers(40);
    fake_reply chunked = fake_reply::json(json::serialize(list));
    chunked.frame = fake_reply::framing::chunked;
    chunked.chunk_size = 7;
    fe.on("GET", "/containers/json", chunked, fake_engine::match::route);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 40u);
    const auto got = ids_of(r);
    BOOST_TEST((std::set<std::string>(got.begin(), got.end()) == ids_of(list)));
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(lists.size() == 1u);
    BOOST_TEST(lists[0].chunked, "the fake did not send it chunked");
}

BOOST_AUTO_TEST_CASE(large_pages_are_chunked_as_dockerd_does) {
    // Without scripting, pages over 4 KiB go out chunked (Go's net/http).
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    fe.set_containers(make_containers(300));
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 300u);
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(!lists.empty());
    BOOST_TEST(lists[0].chunked);
}

BOOST_AUTO_TEST_CASE(connection_closed_mid_body) {
    const std::string body = json::serialize(make_containers(20));
    for (auto frame : {fake_reply::framing::content_length, fake_reply::framing::chunked}) {
        BOOST_TEST_CONTEXT((frame == fake_reply::framing::chunked ? "chunked" : "Content-Length")) {
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fake_reply cut = fake_reply::json(body);
            cut.frame = frame;
            cut.chunk_size = 100;
            cut.cut_after = body.size() / 2;
            fe.on("GET", "/containers/json", cut, fake_engine::match::route);
            const source_result r = collect_with(options_for(fe.url()));
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
            BOOST_TEST_MESSAGE(describe(r));
            BOOST_TEST(r.error->code == "connection_lost");
            BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
            BOOST_TEST(contains(r.error->message, "/containers/json"), r.error->message);
            BOOST_TEST(r.containers.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(answer_larger_than_max_body) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    fe.set_containers(make_containers(50));  // about 15 KiB, sent chunked
    auto o = options_for(fe.url());
    o.max_body = 2000;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
    BOOST_TEST_MESSAGE(describe(r));
    BOOST_TEST(r.error->code == "invalid_response");
    BOOST_TEST(contains(r.error->message, fe.url()), r.error->message);
    BOOST_TEST(contains(r.error->message, "limit"), r.error->message);
}

BOOST_AUTO_TEST_CASE(missing_socket_is_absent) {
    temp_dir tmp;
    BOOST_TEST_CONTEXT("docker_host names a missing socket") {
        const source_result r = collect_with(options_for("unix://" + (tmp / "nothing.sock").string()));
        BOOST_TEST((r.outcome == source_outcome::absent), describe(r));
        BOOST_TEST(!r.error.has_value());
        BOOST_TEST(r.containers.empty());
        BOOST_TEST(!inventory_of(r).contains("errors"));
    }
    BOOST_TEST_CONTEXT("no default socket exists") {
        docker_options o;
        o.default_sockets = {(tmp / "docker.sock").string(), (tmp / "podman" / "podman.sock").string()};
        const source_result r = collect_with(o);
        BOOST_TEST((r.outcome == source_outcome::absent), describe(r));
        BOOST_TEST(!r.error.has_value());
    }
}

BOOST_AUTO_TEST_CASE(connection_refused) {
    // The socket file exists but nobody listens (the engine died).
    temp_dir tmp;
    const fs::path sock = tmp / "docker.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
    BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
    BOOST_TEST_REQUIRE(fs::exists(sock));
    const std::string url = "unix://" + sock.string();
    for (bool via_default : {false, true}) {
        BOOST_TEST_CONTEXT((via_default ? "default socket" : "docker_host")) {
            docker_options o = options_for(url);
            if (via_default) {
                o.docker_host.reset();
                o.default_sockets = {sock.string()};
            }
            const source_result r = collect_with(o);
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::failed), describe(r));
            BOOST_TEST_MESSAGE(describe(r));
            BOOST_TEST(r.error->code == "connect_failed");
            BOOST_TEST(contains(r.error->message, url), r.error->message);
            BOOST_TEST(contains(r.error->message, "refuses"), r.error->message);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ paging

BOOST_AUTO_TEST_SUITE(docker_paging)

BOOST_AUTO_TEST_CASE(many_pages_each_container_once) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(2500);
    fe.set_containers(all);
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o, 60s);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 2500u);
    const auto got = ids_of(r);
    const std::set<std::string> unique(got.begin(), got.end());
    BOOST_TEST(unique.size() == got.size(), "some container was listed twice");
    BOOST_TEST((unique == ids_of(all)));
    BOOST_TEST(r.warnings.empty(), describe(r));

    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(lists.size() == 26u);  // 25 full pages and the empty one that ends it
    for (std::size_t i = 0; i < lists.size(); ++i) {
        BOOST_TEST_CONTEXT("page " << i << ": " << lists[i].target) {
            BOOST_TEST(lists[i].param("limit") == "100");
            BOOST_TEST(lists[i].param("all") == "1");
            BOOST_TEST(anchor_of(lists[i]) == (i == 0 ? std::string() : id_at(all, i * 100 - 1)));
        }
    }
    BOOST_TEST(fe.requests().size() == 27u);  // and one /_ping
    require_no_fake_errors(fe);
}

BOOST_AUTO_TEST_CASE(exact_multiple_and_single_short_page) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{99}, std::size_t{100}, std::size_t{101}}) {
        BOOST_TEST_CONTEXT(n << " containers") {
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fe.set_containers(make_containers(n));
            auto o = options_for(fe.url());
            o.page_size = 100;
            const source_result r = collect_with(o);
            BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
            BOOST_TEST(r.containers.size() == n);
            BOOST_TEST(fe.requests_to("/containers/json").size() == n / 100 + 1);
        }
    }
}

BOOST_AUTO_TEST_CASE(engine_ignoring_limit) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(250);
    container_list_options lo;
    lo.honour_limit = false;
    fe.set_containers(all, std::nullopt, lo);
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    const auto got = ids_of(r);
    BOOST_TEST(got.size() == 250u);
    BOOST_TEST((std::set<std::string>(got.begin(), got.end()) == ids_of(all)));
    BOOST_TEST(fe.requests_to("/containers/json").size() == 1u, "more than asked for is the whole list");
}

BOOST_AUTO_TEST_CASE(engine_ignoring_before) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(250);
    container_list_options lo;
    lo.honour_filters_before = false;
    lo.honour_legacy_before = false;
    fe.set_containers(all, std::nullopt, lo);
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    const auto got = ids_of(r);
    BOOST_TEST(got.size() == 250u, "only the first page was listed");
    BOOST_TEST((std::set<std::string>(got.begin(), got.end()) == ids_of(all)));
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(lists.size() == 3u);  // page 1, page 1 again, then everything at once
    BOOST_TEST(!lists[2].has("limit"), lists[2].target);
    BOOST_TEST_REQUIRE(r.warnings.size() == 1u, describe(r));
    BOOST_TEST(contains(r.warnings[0], "before"), r.warnings[0]);
    BOOST_TEST(contains(r.warnings[0], fe.url()), r.warnings[0]);
}

BOOST_AUTO_TEST_CASE(engine_ignoring_limit_and_before) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(250);
    container_list_options lo;
    lo.honour_limit = false;
    lo.honour_filters_before = false;
    lo.honour_legacy_before = false;
    fe.set_containers(all, std::nullopt, lo);
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 250u);
    BOOST_TEST(fe.requests_to("/containers/json").size() == 1u);
}

BOOST_AUTO_TEST_CASE(engine_ignoring_before_with_exactly_one_page) {
    // A full first page from an engine that ignores `before`: the repeat
    // must not be mistaken for new containers, nor loop.
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    container_list_options lo;
    lo.honour_filters_before = false;
    lo.honour_legacy_before = false;
    fe.set_containers(make_containers(100), std::nullopt, lo);
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 100u);
    BOOST_TEST(fe.requests_to("/containers/json").size() <= 3u);
}

BOOST_AUTO_TEST_CASE(anchor_vanishes_between_pages) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(250);
    const std::string anchor = id_at(all, 99);  // the last of page 1
    fe.set_containers(all);
    fe.set_list_hook([&](std::size_t nth, const fake_request&, json::array& list) {
        if (nth != 1) return;
        for (auto it = list.begin(); it != list.end(); ++it)
            if (it->as_object().at("Id").as_string() == anchor) {
                list.erase(it);
                break;
            }
    });
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    const auto got = ids_of(r);
    std::set<std::string> expected = ids_of(all);
    expected.erase(anchor);
    BOOST_TEST(got.size() == 249u);
    BOOST_TEST((std::set<std::string>(got.begin(), got.end()) == expected));
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST_REQUIRE(lists.size() == 5u);  // page 1, page 2 (404), then pages 1-3 again
    BOOST_TEST(lists[1].answered == 404u);
    BOOST_TEST(anchor_of(lists[1]) == anchor);
}

BOOST_AUTO_TEST_CASE(anchors_keep_vanishing) {
    // Every anchor is gone by the time it is used: a bounded number of
    // tries, then the whole list in one request.
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(250);
    fe.set_containers(all);
    std::mutex mu;
    std::set<std::string> removed;
    fe.set_list_hook([&](std::size_t, const fake_request& req, json::array& list) {
        const std::string a = anchor_of(req);
        if (a.empty()) return;
        for (auto it = list.begin(); it != list.end(); ++it)
            if (it->as_object().at("Id").as_string() == a) {
                list.erase(it);
                std::lock_guard lk(mu);
                removed.insert(a);
                break;
            }
    });
    auto o = options_for(fe.url());
    o.page_size = 100;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    std::set<std::string> expected = ids_of(all);
    {
        std::lock_guard lk(mu);
        BOOST_TEST(!removed.empty());
        for (const auto& id : removed) expected.erase(id);
    }
    const auto got = ids_of(r);
    BOOST_TEST((std::set<std::string>(got.begin(), got.end()) == expected));
    BOOST_TEST(got.size() == expected.size());
    const auto lists = fe.requests_to("/containers/json");
    BOOST_TEST(lists.size() <= 10u);
    BOOST_TEST_REQUIRE(!lists.empty());
    BOOST_TEST(!lists.back().has("limit"), "ends with one unpaged request");
    BOOST_TEST_REQUIRE(!r.warnings.empty());
    BOOST_TEST(contains(r.warnings.back(), "disappearing"), r.warnings.back());
}

BOOST_AUTO_TEST_CASE(running_only_from_an_engine_that_ignores_the_status_filter) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    const json::array all = make_containers(30);  // every third one exited
    container_list_options lo;
    lo.honour_status = false;
    fe.set_containers(all, std::nullopt, lo);
    auto o = options_for(fe.url());
    o.all = false;
    o.page_size = 7;
    const source_result r = collect_with(o);
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 20u);
    for (const auto& c : r.containers) BOOST_TEST(c.state == "running", c.container_name);
}

BOOST_AUTO_TEST_CASE(malformed_entries_are_warnings_not_failures) {
    temp_dir tmp;
    fake_engine fe(tmp / "docker.sock");
    json::array list = make_containers(3);
    list.insert(list.begin() + 1, json::object{{"Names", json::array{"/no-id"}}, {"Status", "Up 1 hour"}});
    fe.set_containers(list);
    const source_result r = collect_with(options_for(fe.url()));
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), describe(r));
    BOOST_TEST(r.containers.size() == 3u);
    BOOST_TEST_REQUIRE(r.warnings.size() == 1u);
    BOOST_TEST(contains(r.warnings[0], "no Id"), r.warnings[0]);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ cancellation

BOOST_AUTO_TEST_SUITE(docker_cancellation)

BOOST_AUTO_TEST_CASE(terminal_cancellation_mid_request) {
    for (const char* route : {"/_ping", "/containers/json"}) {
        BOOST_TEST_CONTEXT("cancelled while waiting for " << route) {
            // Declared before the engine, so the engine (whose observer
            // posts to it) is gone first.
            asio::io_context ioc;
            asio::cancellation_signal signal;
            temp_dir tmp;
            fake_engine fe(tmp / "docker.sock");
            fe.set_containers(make_containers(5));
            fe.on("GET", route, fake_reply::stalled(), fake_engine::match::route);
            const std::string wanted = route;
            fe.on_received([&ioc, &signal, wanted](const fake_request& r) {
                if (r.route == wanted)
                    asio::post(ioc, [&signal] { signal.emit(asio::cancellation_type::terminal); });
            });

            auto o = options_for(fe.url());
            o.step_timeout = 20s;  // only the cancellation can end it in time
            auto src = make_docker_source(o);
            bool done = false;
            std::exception_ptr error;
            std::optional<source_result> result;
            clock_type::time_point finished{};
            const auto start = clock_type::now();
            asio::awaitable<source_result> aw = src->collect();
            asio::co_spawn(ioc, std::move(aw),
                           asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, source_result r) {
                               done = true;
                               finished = clock_type::now();
                               error = e;
                               if (!e) result = std::move(r);
                           }));
            ioc.run_for(5s);
            BOOST_TEST_REQUIRE(done, "collect() did not finish after its cancellation");
            BOOST_TEST((finished - start < 2s));
            BOOST_TEST(ioc.stopped(), "work was left on the io_context");
            BOOST_TEST(!result.has_value(), "a cancelled collect() must not return a result");
            BOOST_TEST_REQUIRE(static_cast<bool>(error));
            try {
                std::rethrow_exception(error);
            } catch (const boost::system::system_error& e) {
                BOOST_TEST((e.code() == asio::error::operation_aborted), e.code().message());
            } catch (const std::exception& e) {
                BOOST_ERROR("unexpected exception: " << e.what());
            }
            BOOST_TEST(fe.requests_to(route).size() == 1u);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
