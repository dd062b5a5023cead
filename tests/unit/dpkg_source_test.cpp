// The dpkg admin directory as dpkg reads it: status, status.d/, updates/.

#include "stocktake/collect/dpkg_source.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <map>

#include <sys/wait.h>
#include <unistd.h>

using namespace stocktake;
using namespace stocktake::test;

namespace {

std::string stanza(std::string pkg, std::string ver, std::string status = "install ok installed", std::string arch = "amd64") {
    return "Package: " + pkg + "\nStatus: " + status + "\nArchitecture: " + arch + "\nVersion: " + ver +
           "\nDescription: " + pkg + " summary\n long text\n\n";
}

std::map<std::string, std::string> versions(const source_result& r) {
    std::map<std::string, std::string> m;
    for (const auto& s : r.software) m[s.package + ":" + s.architecture] = s.version;
    return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dpkg_admindir)

BOOST_AUTO_TEST_CASE(status_then_journal_in_numeric_order) {
    temp_dir d;
    write_text(d / "status", stanza("a", "1") + stanza("b", "1") + stanza("c", "1"));
    write_text(d / "updates" / "0002", stanza("a", "3"));
    write_text(d / "updates" / "0010", stanza("a", "4") + stanza("b", "", "purge ok not-installed"));  // numeric, not lexical
    write_text(d / "updates" / "0001", stanza("a", "2") + stanza("d", "1", "install ok unpacked"));
    write_text(d / "updates" / "tmp.i", stanza("a", "999"));  // dpkg's temporary file: not part of the journal
    auto r = read_dpkg_admindir({d.path().string()});
    BOOST_TEST((r.outcome == source_outcome::ok));
    auto v = versions(r);
    BOOST_TEST(v["a:amd64"] == "4");
    BOOST_TEST(v.count("b:amd64") == 0u);
    BOOST_TEST(v["c:amd64"] == "1");
    BOOST_TEST(v["d:amd64"] == "1");
    BOOST_TEST(r.software.size() == 3u);
}

BOOST_AUTO_TEST_CASE(distroless_status_d) {
    temp_dir d;
    write_text(d / "status.d" / "base", "Package: base-files\nVersion: 12.4\nArchitecture: amd64\nDescription: base system\n");
    write_text(d / "status.d" / "libc6", "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nDescription: GNU C Library\n");
    write_text(d / "status.d" / "libc6.md5sums", "d41d8cd98f00b204e9800998ecf8427e  lib/x86_64-linux-gnu/libc.so.6\n");
    auto r = read_dpkg_admindir({d.path().string()});
    BOOST_TEST((r.outcome == source_outcome::ok));
    BOOST_TEST_REQUIRE(r.software.size() == 2u);
    auto v = versions(r);
    BOOST_TEST(v["base-files:amd64"] == "12.4");
    BOOST_TEST(v["libc6:amd64"] == "2.36-9");
    for (const auto& s : r.software) BOOST_TEST(s.state == "installed");
    BOOST_TEST(r.warnings.empty());
}

BOOST_AUTO_TEST_CASE(missing_directory_is_absent_not_an_error) {
    temp_dir d;
    auto r = read_dpkg_admindir({(d / "nope").string()});
    BOOST_TEST((r.outcome == source_outcome::absent));
    BOOST_TEST(!r.error.has_value());
    // An admin directory without a status file is an empty database.
    auto e = read_dpkg_admindir({d.path().string()});
    BOOST_TEST((e.outcome == source_outcome::ok));
    BOOST_TEST(e.software.empty());
}

BOOST_AUTO_TEST_CASE(not_a_directory_is_an_error_naming_the_path) {
    temp_dir d;
    write_text(d / "file", "x");
    auto r = read_dpkg_admindir({(d / "file").string()});
    BOOST_TEST((r.outcome == source_outcome::failed));
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->source == "dpkg");
    BOOST_TEST(r.error->message.find((d / "file").string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(skipped_stanzas_are_warnings_with_the_file) {
    temp_dir d;
    write_text(d / "status", stanza("a", "1") + "Package: broken\nVersion: 1\n\n" + stanza("b", "1"));
    auto r = read_dpkg_admindir({d.path().string()});
    BOOST_TEST((r.outcome == source_outcome::ok));
    BOOST_TEST(r.software.size() == 2u);
    BOOST_TEST_REQUIRE(!r.warnings.empty());
    BOOST_TEST(r.warnings[0].find((d / "status").string() + ": skipped 1 of 3") == 0u, r.warnings[0]);
}

BOOST_AUTO_TEST_CASE(an_unreadable_status_is_permission_denied) {
    temp_dir d;
    write_text(d / "status", stanza("a", "1"));
    fs::permissions(d / "status", fs::perms::owner_read | fs::perms::owner_write);
    // Root reads anything: check in a child that runs as nobody.
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
        auto r = read_dpkg_admindir({d.path().string()});
        if (r.outcome != source_outcome::failed || !r.error) ::_exit(11);
        if (r.error->code != "permission_denied") ::_exit(12);
        if (r.error->message.find((d / "status").string()) == std::string::npos) ::_exit(13);
        if (r.error->message.find("Permission denied") == std::string::npos) ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0, "child check failed with code " << WEXITSTATUS(status));
}

BOOST_AUTO_TEST_CASE(the_source_runs_on_the_pool) {
    temp_dir d;
    write_text(d / "status", stanza("a", "1") + stanza("b", "2"));
    boost::asio::io_context ioc;
    boost::asio::thread_pool pool(1);
    auto src = make_dpkg_source({d.path().string()}, pool.get_executor());
    BOOST_TEST(src->name() == "dpkg");
    auto r = run_bounded(ioc, src->collect());
    BOOST_TEST(r.software.size() == 2u);
    BOOST_TEST(r.detail == d.path().string());
    pool.join();
}

BOOST_AUTO_TEST_SUITE_END()
