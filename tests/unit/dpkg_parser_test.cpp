// The deb822 reader on bytes: every rule of how dpkg reads its database.

#include "stocktake/parse/dpkg_status.hpp"

#include <boost/test/unit_test.hpp>

#include <map>

using namespace stocktake;
using namespace stocktake::dpkg;


BOOST_AUTO_TEST_SUITE(dpkg_parser)

BOOST_AUTO_TEST_CASE(basic_stanza) {
    auto r = parse("Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: the a tool\n more text\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].package == "a");
    BOOST_TEST(r.records[0].version == "1.0");
    BOOST_TEST(r.records[0].architecture == "amd64");
    BOOST_TEST(r.records[0].summary == "the a tool");
    BOOST_TEST((r.records[0].state == pkg_state::installed));
    BOOST_TEST(r.skipped == 0u);
    BOOST_TEST(r.stanzas == 1u);
}

BOOST_AUTO_TEST_CASE(field_names_are_case_insensitive) {
    auto r = parse("PACKAGE: a\nstatus: install ok installed\nvErSiOn: 2\ndescription: x\nARCHITECTURE: all\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].version == "2");
    BOOST_TEST(r.records[0].architecture == "all");
    BOOST_TEST(r.records[0].summary == "x");
}

BOOST_AUTO_TEST_CASE(only_the_first_colon_separates) {
    auto r = parse("Package: a\nStatus: install ok installed\nVersion: 1:2.3-4\nDescription: key: value: more\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].version == "1:2.3-4");
    BOOST_TEST(r.records[0].summary == "key: value: more");
}

BOOST_AUTO_TEST_CASE(continuation_lines_do_not_leak_into_fields) {
    auto r = parse(
        "Package: a\nStatus: install ok installed\nDescription: first\n Version: 9\n\tPackage: b\n .\nVersion: 1\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].package == "a");
    BOOST_TEST(r.records[0].version == "1");
    BOOST_TEST(r.records[0].summary == "first");
}

BOOST_AUTO_TEST_CASE(crlf_line_endings) {
    auto r = parse("Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\nDescription: crlf text \r\n\r\nPackage: b\r\n"
                   "Status: install ok installed\r\nVersion: 2\r\n");
    BOOST_TEST_REQUIRE(r.records.size() == 2u);
    BOOST_TEST(r.records[0].summary == "crlf text");
    BOOST_TEST(r.records[0].version == "1");
    BOOST_TEST(r.records[1].package == "b");
    BOOST_TEST(r.records[1].version == "2");
}

BOOST_AUTO_TEST_CASE(missing_final_newline) {
    auto r = parse("Package: a\nStatus: install ok installed\nVersion: 1");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].version == "1");
}

BOOST_AUTO_TEST_CASE(runs_of_blank_lines_and_leading_blank_lines) {
    auto r = parse("\n\n\nPackage: a\nStatus: install ok installed\nVersion: 1\n\n\n\n\nPackage: b\nStatus: install ok "
                   "installed\nVersion: 2\n\n\n");
    BOOST_TEST(r.records.size() == 2u);
    BOOST_TEST(r.stanzas == 2u);
    BOOST_TEST(r.skipped == 0u);
}

BOOST_AUTO_TEST_CASE(fields_in_any_order) {
    auto r = parse("Version: 3\nDescription: d\nArchitecture: i386\nStatus: hold ok installed\nPackage: z\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].package == "z");
    BOOST_TEST(r.records[0].architecture == "i386");
}

BOOST_AUTO_TEST_CASE(values_are_trimmed) {
    auto r = parse("Package:    spaced   \nStatus:   install   ok   installed  \nVersion:\t1.0\t\nDescription:   hi there   \n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].package == "spaced");
    BOOST_TEST(r.records[0].version == "1.0");
    BOOST_TEST(r.records[0].summary == "hi there");
}

BOOST_AUTO_TEST_CASE(skips_and_counts_bad_stanzas) {
    auto r = parse(
        "Status: install ok installed\nVersion: 1\n\n"            // no Package
        "Package: nover\nStatus: install ok installed\n\n"        // no Version
        "Package: nostatus\nVersion: 1\n\n"                       // no Status
        "Package: badstatus\nStatus: install ok sideways\nVersion: 1\n\n"  // invalid state
        "Package: twowords\nStatus: install installed\nVersion: 1\n\n"     // wrong word count
        "Package: badwant\nStatus: maybe ok installed\nVersion: 1\n\n"     // invalid want
        "Package: good\nStatus: install ok installed\nVersion: 1\n");
    BOOST_TEST(r.records.size() == 1u);
    BOOST_TEST(r.records[0].package == "good");
    BOOST_TEST(r.stanzas == 7u);
    BOOST_TEST(r.skipped == 6u);
    BOOST_TEST(r.problems.size() == 6u);
    BOOST_TEST(r.problems[1].find("nover") != std::string::npos);
    BOOST_TEST(r.problems[1].find("Version") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(not_installed_without_version_is_a_record_not_a_skip) {
    auto r = parse("Package: gone\nStatus: purge ok not-installed\nArchitecture: amd64\n");
    BOOST_TEST(r.skipped == 0u);
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST((r.records[0].state == pkg_state::not_installed));
}

BOOST_AUTO_TEST_CASE(every_state_word) {
    std::string text;
    const char* states[] = {"installed", "triggers-awaited", "triggers-pending", "half-configured",
                            "unpacked",  "half-installed",   "config-files",     "not-installed"};
    for (const char* s : states) text += std::string("Package: p-") + s + "\nStatus: install ok " + s + "\nVersion: 1\n\n";
    auto r = parse(text);
    BOOST_TEST_REQUIRE(r.records.size() == 8u);
    auto items = installed_items(std::move(r.records));
    BOOST_TEST(items.size() == 6u);
    for (const auto& i : items) BOOST_TEST(i.state == i.package.substr(2));
}

BOOST_AUTO_TEST_CASE(selection_and_error_flag_do_not_matter) {
    auto r = parse("Package: a\nStatus: hold reinstreq installed\nVersion: 1\n\nPackage: b\nStatus: deinstall ok unpacked\n"
                   "Version: 1\n\nPackage: c\nStatus: purge hold-reinstreq half-configured\nVersion: 1\n\nPackage: d\n"
                   "Status: unknown ok installed\nVersion: 1\n");
    BOOST_TEST(installed_items(std::move(r.records)).size() == 4u);
}

BOOST_AUTO_TEST_CASE(status_d_files_need_no_status) {
    auto r = parse("Package: base-files\nVersion: 12.4\nArchitecture: amd64\nDescription: Debian base system\n",
                   file_kind::status_d);
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST((r.records[0].state == pkg_state::installed));
    auto strict = parse("Package: base-files\nVersion: 12.4\n", file_kind::status);
    BOOST_TEST(strict.records.empty());
    BOOST_TEST(strict.skipped == 1u);
}

BOOST_AUTO_TEST_CASE(later_stanza_wins_within_and_across_files) {
    auto base = parse("Package: a\nArchitecture: amd64\nStatus: install ok installed\nVersion: 1\n\n"
                      "Package: a\nArchitecture: i386\nStatus: install ok installed\nVersion: 1\n\n"
                      "Package: b\nArchitecture: all\nStatus: install ok installed\nVersion: 1\n");
    auto journal = parse("Package: a\nArchitecture: amd64\nStatus: install ok installed\nVersion: 2\n\n"
                         "Package: b\nArchitecture: all\nStatus: purge ok not-installed\n\n"
                         "Package: c\nArchitecture: all\nStatus: install ok unpacked\nVersion: 5\n");
    overlay(base.records, std::move(journal.records));
    auto items = installed_items(std::move(base.records));
    BOOST_TEST_REQUIRE(items.size() == 3u);
    std::map<std::string, std::string> by;
    for (auto& i : items) by[i.package + ":" + i.architecture] = i.version;
    BOOST_TEST(by["a:amd64"] == "2");
    BOOST_TEST(by["a:i386"] == "1");
    BOOST_TEST(by.count("b:all") == 0u);
    BOOST_TEST(by["c:all"] == "5");
}

BOOST_AUTO_TEST_CASE(line_without_colon_keeps_the_stanza) {
    auto r = parse("Package: a\ngarbage line here\nStatus: install ok installed\nVersion: 1\n");
    BOOST_TEST(r.records.size() == 1u);
}

BOOST_AUTO_TEST_CASE(empty_and_degenerate_inputs) {
    BOOST_TEST(parse("").records.empty());
    BOOST_TEST(parse("\n\n\r\n").stanzas == 0u);
    BOOST_TEST(parse(":\n:\n").skipped == 1u);
    BOOST_TEST(parse(std::string_view("\0\0\0", 3)).records.empty());
    auto r = parse("Package: a\nStatus: install ok installed\nVersion: 1\nDescription:\n only continuation\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].summary.empty());
}

BOOST_AUTO_TEST_CASE(whitespace_only_line_is_a_continuation_as_in_dpkg) {
    auto r = parse("Package: a\nStatus: install ok installed\nDescription: x\n   \nVersion: 1\n");
    BOOST_TEST_REQUIRE(r.records.size() == 1u);
    BOOST_TEST(r.records[0].version == "1");
}

BOOST_AUTO_TEST_SUITE_END()
