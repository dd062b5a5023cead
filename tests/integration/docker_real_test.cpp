// The Docker collector against a real engine (the private dockerd that
// scripts/test starts), compared with what the docker CLI lists.

#include "stocktake/collect/docker_source.hpp"
#include "stocktake/parse/docker_json.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/real_peer.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <sstream>

using namespace stocktake;
using namespace stocktake::test;

namespace {

std::string docker_cli() {
    // Debian's client matches Debian's engine; any docker on PATH works too.
    if (fs::exists("/usr/bin/docker")) return "/usr/bin/docker";
    return find_program("docker");
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) out.push_back(cur);
    return out;
}

// What `docker ps [-a] --no-trunc` lists, with image ids from `docker inspect`.
std::map<std::string, container_item> reference_list(const std::string& host, bool all) {
    std::vector<std::string> args = {"ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.Image}}\t{{.Status}}\t{{.State}}"};
    if (all) args.insert(args.begin() + 1, "-a");
    auto ps = run_process(docker_cli(), args, {{"DOCKER_HOST", host}});
    BOOST_TEST_REQUIRE(ps.exit_code == 0, "docker ps failed: " << ps.err);
    std::map<std::string, container_item> out;
    std::vector<std::string> ids;
    for (const auto& line : split(ps.out, '\n')) {
        if (line.empty()) continue;
        auto f = split(line, '\t');
        BOOST_TEST_REQUIRE(f.size() == 5u, "unexpected docker ps line: " << line);
        container_item c;
        c.container_id = f[0];
        c.container_name = "/" + f[1];
        c.image_name = f[2];
        c.status = f[3];
        c.state = f[4];
        ids.push_back(c.container_id);
        out[c.container_id] = c;
    }
    if (!ids.empty()) {
        std::vector<std::string> iargs = {"inspect", "--format", "{{.Id}}\t{{.Image}}"};
        iargs.insert(iargs.end(), ids.begin(), ids.end());
        auto in = run_process(docker_cli(), iargs, {{"DOCKER_HOST", host}});
        BOOST_TEST_REQUIRE(in.exit_code == 0, "docker inspect failed: " << in.err);
        for (const auto& line : split(in.out, '\n')) {
            auto f = split(line, '\t');
            if (f.size() == 2 && out.count(f[0])) out[f[0]].image_id = f[1];
        }
    }
    return out;
}

std::string describe(const container_item& c) {
    return c.container_id.substr(0, 12) + " " + c.container_name + " [" + c.status + "] " + c.state + " " + c.image_name +
           " " + c.image_id;
}

// Collects with a small page size so the listing needs several pages, and
// compares with the CLI's list. Status texts ("Up 2 seconds") may tick
// between the two reads, so a mismatch is retried a few times before it
// counts.
void check_against_cli(const std::string& host, bool all) {
    std::string last_diff;
    for (int attempt = 0; attempt < 5; ++attempt) {
        boost::asio::io_context ioc;
        docker_options o;
        o.env_host = host;
        o.all = all;
        o.page_size = 4;
        auto src = make_docker_source(o);
        auto res = run_bounded(ioc, src->collect());
        BOOST_TEST_REQUIRE((res.outcome == source_outcome::ok),
                           "collect failed: " << (res.error ? res.error->message : std::string("?")));
        auto ref = reference_list(host, all);
        BOOST_TEST_REQUIRE(ref.size() >= (all ? 13u : 5u), "the test engine should hold the containers scripts/test made");
        std::string diff;
        std::map<std::string, container_item> got;
        for (const auto& c : res.containers) {
            if (got.count(c.container_id)) diff += "listed twice: " + describe(c) + "\n";
            got[c.container_id] = c;
        }
        for (const auto& [id, c] : ref) {
            auto it = got.find(id);
            if (it == got.end())
                diff += "missing: " + describe(c) + "\n";
            else if (!(it->second == c))
                diff += "differs: ours " + describe(it->second) + " vs docker " + describe(c) + "\n";
        }
        for (const auto& [id, c] : got)
            if (!ref.count(id)) diff += "unexpected: " + describe(c) + "\n";
        if (diff.empty()) {
            BOOST_TEST(res.containers.size() == ref.size());
            BOOST_TEST(res.detail.find("API 1.") != std::string::npos, res.detail);
            return;
        }
        last_diff = diff;
    }
    BOOST_ERROR("collected containers differ from docker ps:\n" << last_diff);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(docker_real_engine)

BOOST_AUTO_TEST_CASE(all_containers_equal_docker_ps_a) {
    auto host = test_docker_host();
    STOCKTAKE_REQUIRE_PEER(host, "no test Docker engine (STOCKTAKE_TEST_DOCKER_HOST); run scripts/test");
    STOCKTAKE_REQUIRE_PEER(!docker_cli().empty(), "no docker CLI");
    check_against_cli(*host, true);
}

BOOST_AUTO_TEST_CASE(running_only_equals_docker_ps) {
    auto host = test_docker_host();
    STOCKTAKE_REQUIRE_PEER(host, "no test Docker engine (STOCKTAKE_TEST_DOCKER_HOST); run scripts/test");
    STOCKTAKE_REQUIRE_PEER(!docker_cli().empty(), "no docker CLI");
    check_against_cli(*host, false);
}

BOOST_AUTO_TEST_CASE(every_state_is_reported) {
    auto host = test_docker_host();
    STOCKTAKE_REQUIRE_PEER(host, "no test Docker engine (STOCKTAKE_TEST_DOCKER_HOST); run scripts/test");
    boost::asio::io_context ioc;
    docker_options o;
    o.env_host = *host;
    auto res = run_bounded(ioc, make_docker_source(o)->collect());
    std::map<std::string, int> states;
    for (const auto& c : res.containers) states[c.state]++;
    BOOST_TEST(states["running"] >= 4);
    BOOST_TEST(states["exited"] >= 4);
    BOOST_TEST(states["created"] >= 4);
    for (const auto& c : res.containers) {
        BOOST_TEST(c.container_id.size() == 64u);
        BOOST_TEST(c.image_id.rfind("sha256:", 0) == 0u, c.image_id);
        BOOST_TEST(c.container_name.rfind("/", 0) == 0u, c.container_name);
        BOOST_TEST(c.container_name.find('/', 1) == std::string::npos, c.container_name);
    }
}

BOOST_AUTO_TEST_CASE(negotiates_down_to_the_engine_version) {
    auto host = test_docker_host();
    STOCKTAKE_REQUIRE_PEER(host, "no test Docker engine (STOCKTAKE_TEST_DOCKER_HOST); run scripts/test");
    auto ver = run_process(docker_cli(), {"version", "--format", "{{.Server.APIVersion}}"}, {{"DOCKER_HOST", *host}});
    BOOST_TEST_REQUIRE(ver.exit_code == 0);
    std::string engine = ver.out.substr(0, ver.out.find('\n'));
    boost::asio::io_context ioc;
    docker_options o;
    o.env_host = *host;
    auto res = run_bounded(ioc, make_docker_source(o)->collect());
    auto v = docker::parse_api_version(engine);
    BOOST_TEST_REQUIRE(v.has_value());
    const auto expect = std::min(*v, docker::client_api_version);
    BOOST_TEST(res.detail.find("(API " + expect.str() + ")") != std::string::npos, res.detail << " vs engine " << engine);
}

BOOST_AUTO_TEST_SUITE_END()
