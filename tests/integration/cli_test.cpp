// `stocktake collect` as a user runs it: the real binary, real dpkg
// database, real engine; compared with dpkg-query and docker.

#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/real_peer.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

using namespace stocktake;
using namespace stocktake::test;
namespace json = boost::json;

namespace {

const std::string cli = STOCKTAKE_CLI;

process_result collect(const std::vector<std::string>& args, std::map<std::string, std::optional<std::string>> env = {}) {
    std::vector<std::string> a = {"collect"};
    a.insert(a.end(), args.begin(), args.end());
    if (!env.count("DOCKER_HOST")) env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock";
    if (!env.count("STOCKTAKE_CONFIG")) env["STOCKTAKE_CONFIG"] = std::nullopt;
    return run_process(cli, a, env);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    std::size_t b = 0;
    while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
    return s.substr(b);
}

std::string config_with(const temp_dir& dir, const std::string& body) {
    auto p = dir / "stocktake.conf";
    write_text(p, body);
    return p.string();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_collect)

BOOST_AUTO_TEST_CASE(help_and_version) {
    auto h = run_process(cli, {"--help"});
    BOOST_TEST(h.exit_code == 0);
    BOOST_TEST(h.out.find("collect") != std::string::npos);
    BOOST_TEST(h.out.find("Exit status") != std::string::npos);
    auto hc = run_process(cli, {"collect", "--help"});
    BOOST_TEST(hc.exit_code == 0);
    BOOST_TEST(hc.out.find("--pretty") != std::string::npos);
    auto v = run_process(cli, {"--version"});
    BOOST_TEST(v.exit_code == 0);
    BOOST_TEST(v.out.rfind("stocktake ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_1_and_name_the_option) {
    auto a = run_process(cli, {});
    BOOST_TEST(a.exit_code == 1);
    auto b = run_process(cli, {"frobnicate"});
    BOOST_TEST(b.exit_code == 1);
    BOOST_TEST(b.err.find("frobnicate") != std::string::npos);
    auto c = collect({"--bogus"});
    BOOST_TEST(c.exit_code == 1);
    BOOST_TEST(c.err.find("--bogus") != std::string::npos);
    auto d = collect({"--format", "xml"});
    BOOST_TEST(d.exit_code == 1);
    BOOST_TEST(d.err.find("xml") != std::string::npos);
    auto e = collect({"--config"});
    BOOST_TEST(e.exit_code == 1);
    BOOST_TEST(c.out.empty());
}

BOOST_AUTO_TEST_CASE(bad_config_exits_1_naming_file_key_and_line) {
    temp_dir dir;
    auto missing = collect({"--config", (dir / "nope.conf").string()});
    BOOST_TEST(missing.exit_code == 1);
    BOOST_TEST(missing.err.find("nope.conf") != std::string::npos);
    auto p = config_with(dir, "[inventory]\ncontainers = \"all\"\n\ndpkg_adminDir = \"/x\"\n");
    auto bad = collect({"--config", p});
    BOOST_TEST(bad.exit_code == 1);
    BOOST_TEST(bad.err.find("inventory.dpkg_adminDir") != std::string::npos, bad.err);
    BOOST_TEST(bad.err.find(":4:") != std::string::npos, bad.err);
    BOOST_TEST(bad.out.empty());
    auto envbad = collect({}, {{"STOCKTAKE_CONFIG", (dir / "absent.conf").string()}});
    BOOST_TEST(envbad.exit_code == 1);
    BOOST_TEST(envbad.err.find("absent.conf") != std::string::npos);
    // `run` says it the same way, on stderr, before starting anything.
    auto run = run_process(cli, {"run", "--config", p});
    BOOST_TEST(run.exit_code == 1);
    BOOST_TEST(run.err.rfind("stocktake: config error: ", 0) == 0u, run.err);
    BOOST_TEST(run.err.find("inventory.dpkg_adminDir") != std::string::npos, run.err);
}

BOOST_AUTO_TEST_CASE(lists_this_hosts_packages_exactly_as_dpkg_query) {
    STOCKTAKE_REQUIRE_PEER(fs::exists("/var/lib/dpkg/status"), "this host has no dpkg database");
    auto r = collect({"--sources", "dpkg"});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto inv = parse_json(r.out);
    auto dq = run_process("dpkg-query",
                          {"-W", "-f", "${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Status}\\t${binary:Summary}\\n"});
    BOOST_TEST_REQUIRE(dq.exit_code == 0, dq.err);
    std::set<std::string> expected, actual;
    std::istringstream in(dq.out);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::string cur;
        std::istringstream ls(line);
        while (std::getline(ls, cur, '\t')) f.push_back(cur);
        while (f.size() < 5) f.emplace_back();
        if (f[3] == "not-installed" || f[3] == "config-files") continue;
        expected.insert(f[0] + "|" + f[1] + "|" + f[2] + "|" + f[3] + "|" + trim(f[4]));
    }
    for (const auto& e : inv.at("software_inventory").as_array()) {
        const auto& o = e.as_object();
        actual.insert(std::string(o.at("package").as_string()) + "|" + std::string(o.at("architecture").as_string()) + "|" +
                      std::string(o.at("version").as_string()) + "|" + std::string(o.at("state").as_string()) + "|" +
                      trim(std::string(o.at("summary").as_string())));
    }
    BOOST_TEST(expected.size() > 50u);
    std::vector<std::string> only_dq, only_us;
    std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::back_inserter(only_dq));
    std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::back_inserter(only_us));
    BOOST_TEST(only_dq.empty(), "dpkg-query lists but we do not: " << (only_dq.empty() ? "" : only_dq.front()));
    BOOST_TEST(only_us.empty(), "we list but dpkg-query does not: " << (only_us.empty() ? "" : only_us.front()));
    BOOST_TEST(inv.at("container_inventory").as_array().empty());
    BOOST_TEST(!inv.as_object().contains("errors"));
}

BOOST_AUTO_TEST_CASE(output_shape_and_order) {
    temp_dir dir;
    fs::create_directories(dir / "admin");
    fs::copy(cases_dir() / "04-dpkg-multiarch" / "status", dir / "admin" / "status");
    auto p = config_with(dir, "[inventory]\ndpkg_admindir = \"" + (dir / "admin").string() + "\"\n");
    auto r = collect({"--config", p});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto v = parse_json(r.out);
    const auto& o = v.as_object();
    BOOST_TEST(o.at("refreshed").is_string());
    const std::string refreshed(o.at("refreshed").as_string());
    // 2024-09-18T13:29:40.834378519Z
    BOOST_TEST(refreshed.size() == 30u, refreshed);
    BOOST_TEST(refreshed.back() == 'Z');
    BOOST_TEST(refreshed[19] == '.');
    const auto& sw = o.at("software_inventory").as_array();
    BOOST_TEST_REQUIRE(sw.size() == 4u);
    std::vector<std::string> order;
    for (const auto& e : sw) {
        const auto& so = e.as_object();
        for (const char* k : {"package", "version", "summary", "architecture", "state"})
            BOOST_TEST(so.at(k).is_string(), k);
        order.push_back(std::string(so.at("package").as_string()) + ":" + std::string(so.at("architecture").as_string()));
    }
    const std::vector<std::string> want = {"frob-data:all", "frobtool:amd64", "libfrob3:amd64", "libfrob3:i386"};
    BOOST_TEST(order == want, boost::test_tools::per_element());
    BOOST_TEST(o.at("container_inventory").is_array());
    // Deterministic: the same input gives the same bytes (but for the time).
    auto r2 = collect({"--config", p});
    auto strip = [](std::string s) { return s.substr(s.find(",\"software_inventory\"")); };
    BOOST_TEST(strip(r.out) == strip(r2.out));
    // --pretty is the same document, indented.
    auto pr = collect({"--config", p, "--pretty"});
    BOOST_TEST(pr.out.find("\n  \"software_inventory\": [") != std::string::npos);
    auto pv = parse_json(pr.out);
    BOOST_TEST(pv.at("software_inventory") == o.at("software_inventory"));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_input_gives_valid_json) {
    temp_dir dir;
    fs::create_directories(dir / "admin");
    fs::copy(cases_dir() / "08-dpkg-invalid-utf8" / "status", dir / "admin" / "status");
    auto p = config_with(dir, "[inventory]\ndpkg_admindir = \"" + (dir / "admin").string() + "\"\n");
    auto r = collect({"--config", p});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto v = parse_json(r.out);  // Boost.JSON rejects invalid UTF-8
    BOOST_TEST(v.at("software_inventory").as_array().size() == 3u);
    BOOST_TEST(r.out.find("caf\xEF\xBF\xBD menu") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cyclonedx_format) {
    temp_dir dir;
    fs::create_directories(dir / "admin");
    fs::copy(cases_dir() / "05-dpkg-epochs" / "status", dir / "admin" / "status");
    auto p = config_with(dir, "[inventory]\ndpkg_admindir = \"" + (dir / "admin").string() + "\"\n");
    auto r = collect({"--config", p, "--format", "cyclonedx"});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto v = parse_json(r.out);
    BOOST_TEST(v.at("bomFormat").as_string() == "CycloneDX");
    BOOST_TEST(v.at("specVersion").as_string() == "1.5");
    const auto& comps = v.at("components").as_array();
    BOOST_TEST_REQUIRE(comps.size() == 5u);
    bool found = false;
    for (const auto& c : comps)
        if (c.at("name").as_string() == "shadowkit") {
            found = true;
            BOOST_TEST(c.at("version").as_string() == "1:4.13+dfsg1-1+b1");
            BOOST_TEST(c.at("purl").as_string() == "pkg:deb/shadowkit@1:4.13+dfsg1-1+b1?arch=amd64");
        }
    BOOST_TEST(found);
}

BOOST_AUTO_TEST_CASE(absent_sources_are_not_errors) {
    temp_dir dir;
    auto p = config_with(dir, "[inventory]\ndpkg_admindir = \"" + (dir / "no-such-dir").string() + "\"\n");
    auto r = collect({"--config", p});
    BOOST_TEST(r.exit_code == 0, r.err);
    auto v = parse_json(r.out);
    BOOST_TEST(v.at("software_inventory").as_array().empty());
    BOOST_TEST(v.at("container_inventory").as_array().empty());
    BOOST_TEST(!v.as_object().contains("errors"));
}

BOOST_AUTO_TEST_CASE(an_unreadable_admindir_is_an_error_of_that_source_only) {
    temp_dir dir;
    fs::create_directories(dir / "admin");
    fs::copy(cases_dir() / "01-dpkg-status-states" / "status", dir / "admin" / "status");
    fs::permissions(dir / "admin" / "status", fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(dir.path(), fs::perms::all);
    auto p = config_with(dir, "[inventory]\ndpkg_admindir = \"" + (dir / "admin").string() + "\"\n");
    fs::permissions(p, fs::perms::all);
    process_result r;
    if (::geteuid() == 0) {
        // Root reads anything: run the agent as nobody to make EACCES real.
        auto setpriv = find_program("setpriv");
        STOCKTAKE_REQUIRE_PEER(!setpriv.empty(), "setpriv (util-linux) is needed to drop privileges");
        r = run_process(setpriv, {"--reuid=65534", "--regid=65534", "--clear-groups", cli, "collect", "--config", p},
                        {{"DOCKER_HOST", "unix:///nonexistent/docker.sock"}});
    } else {
        r = collect({"--config", p});
    }
    BOOST_TEST(r.exit_code == 2, r.err);
    auto v = parse_json(r.out);
    const auto& errs = v.at("errors").as_array();
    BOOST_TEST_REQUIRE(errs.size() == 1u);
    BOOST_TEST(errs[0].at("source").as_string() == "dpkg");
    BOOST_TEST(errs[0].at("code").as_string() == "permission_denied");
    const std::string msg(errs[0].at("message").as_string());
    BOOST_TEST(msg.find((dir / "admin" / "status").string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("Permission denied") != std::string::npos, msg);
    BOOST_TEST(r.err.find("Permission denied") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(collects_the_real_engines_containers) {
    auto host = test_docker_host();
    STOCKTAKE_REQUIRE_PEER(host, "no test Docker engine (STOCKTAKE_TEST_DOCKER_HOST); run scripts/test");
    auto r = collect({"--sources", "docker"}, {{"DOCKER_HOST", *host}});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto v = parse_json(r.out);
    std::string docker = fs::exists("/usr/bin/docker") ? "/usr/bin/docker" : find_program("docker");
    auto ps = run_process(docker, {"ps", "-aq", "--no-trunc"}, {{"DOCKER_HOST", *host}});
    std::set<std::string> ids, got;
    std::istringstream in(ps.out);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) ids.insert(line);
    for (const auto& c : v.at("container_inventory").as_array()) got.insert(std::string(c.at("container_id").as_string()));
    BOOST_TEST(ids.size() >= 13u);
    BOOST_TEST((got == ids));
    // Containers come sorted by name.
    std::vector<std::string> names;
    for (const auto& c : v.at("container_inventory").as_array()) names.push_back(std::string(c.at("container_name").as_string()));
    BOOST_TEST(std::is_sorted(names.begin(), names.end()));
}

BOOST_AUTO_TEST_SUITE_END()
