// The pure Windows "Programs and Features" rules (parse/registry_rules),
// on hand-made records and on every registry case of ../shared/cases read
// from its .reg file into the records the collector would read.

#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/utf8.hpp"
#include "stocktake/parse/registry_rules.hpp"
#include "support/fixtures.hpp"
#include "support/reg_file.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace stocktake;
using namespace stocktake::registry;
using namespace stocktake::test;

namespace {

uninstall_record prog(std::string name, std::optional<std::string> version = {}, std::optional<std::string> publisher = {},
                      hive_view view = hive_view::machine64) {
    uninstall_record r;
    r.view = view;
    r.hive = view == hive_view::machine64 ? "HKLM (64-bit)" : view == hive_view::machine32 ? "HKLM (32-bit)" : "HKU\\S-1-5-21-1";
    r.key = name;
    r.display_name = std::move(name);
    r.display_version = std::move(version);
    r.publisher = std::move(publisher);
    return r;
}

std::vector<std::byte> wide(std::u16string_view s, bool terminate = true) {
    std::vector<std::byte> out;
    for (char16_t c : s) {
        out.push_back(static_cast<std::byte>(c & 0xFF));
        out.push_back(static_cast<std::byte>(c >> 8));
    }
    if (terminate) out.insert(out.end(), 2, std::byte{0});
    return out;
}

std::vector<std::byte> dword(std::uint32_t v) {
    return {static_cast<std::byte>(v & 0xFF), static_cast<std::byte>((v >> 8) & 0xFF), static_cast<std::byte>((v >> 16) & 0xFF),
            static_cast<std::byte>(v >> 24)};
}

software_item item(std::string p, std::string v, std::string s) { return {std::move(p), std::move(v), std::move(s), {}, {}}; }

boost::json::value as_json(const std::vector<software_item>& items) {
    inventory inv;
    inv.software = items;
    return parse_json(boost::json::serialize(to_json(inv))).at("software_inventory");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(registry_filter)

BOOST_AUTO_TEST_CASE(a_display_name_makes_a_program) {
    BOOST_TEST((classify(prog("Pebble Notes", "1.9.0", "Pebble Collective")) == verdict::program));
    auto none = prog("x");
    none.display_name.reset();
    BOOST_TEST((classify(none) == verdict::no_display_name));
    BOOST_TEST((classify(prog("")) == verdict::no_display_name));
    BOOST_TEST((classify(prog(" \t ")) == verdict::no_display_name));
}

BOOST_AUTO_TEST_CASE(system_components_are_hidden) {
    auto r = prog("Runtime Minimum", "14.29");
    r.system_component = 1;
    BOOST_TEST((classify(r) == verdict::system_component));
    r.system_component = 0;  // case 10: an explicit 0 is a program
    BOOST_TEST((classify(r) == verdict::program));
}

BOOST_AUTO_TEST_CASE(components_of_a_parent_are_hidden) {
    auto r = prog("Office Proofing (German)");
    r.parent_key_name = true;
    BOOST_TEST((classify(r) == verdict::has_parent));
}

BOOST_AUTO_TEST_CASE(updates_hotfixes_and_security_updates_are_hidden) {
    for (const char* t : {"Update", "Hotfix", "Security Update", "security update", " Hotfix "}) {
        auto r = prog("KB5031234");
        r.release_type = t;
        BOOST_TEST((classify(r) == verdict::update), t);
    }
    auto r = prog("Suite");
    r.release_type = "Service Pack";  // not in the list: still a program
    BOOST_TEST((classify(r) == verdict::program));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_items)

BOOST_AUTO_TEST_CASE(package_version_summary) {
    BOOST_TEST((to_item(prog("Pebble Notes", "1.9.0", "Pebble Collective")) == item("Pebble Notes", "1.9.0", "Pebble Collective")));
    BOOST_TEST((to_item(prog("No Publisher", "2")) == item("No Publisher", "2", "")));
    BOOST_TEST((to_item(prog("  Padded Name \t", " 1.0 ", " Acme ")) == item("Padded Name", "1.0", "Acme")));
}

BOOST_AUTO_TEST_CASE(version_falls_back_to_major_minor) {
    auto r = prog("Tool");
    r.version_major = 7;
    r.version_minor = 12;
    BOOST_TEST(to_item(r).version == "7.12");
    r.display_version = "";  // an empty DisplayVersion is no version either
    BOOST_TEST(to_item(r).version == "7.12");
    r.display_version = "7.12.3";  // DisplayVersion wins
    BOOST_TEST(to_item(r).version == "7.12.3");
    r.display_version.reset();
    r.version_minor.reset();
    BOOST_TEST(to_item(r).version == "7.0");
    r.version_major.reset();
    r.version_minor = 3;  // a minor alone says nothing
    BOOST_TEST(to_item(r).version == "");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_replacement) {
    BOOST_TEST(to_item(prog("Bad \xFF Name")).package == "Bad \xEF\xBF\xBD Name");
}

BOOST_AUTO_TEST_CASE(identical_programs_are_listed_once) {
    const std::vector<uninstall_record> rs = {
        prog("Shared Runtime", "1.0", "Acme", hive_view::machine64),
        prog("Shared Runtime", "1.0", "Acme", hive_view::machine32),
        prog("Shared Runtime", "1.0", "Acme", hive_view::user),
        prog("Shared Runtime", "1.1", "Acme", hive_view::machine32),  // another version: listed
        prog("Shared Runtime", "1.0", "Other", hive_view::user),      // another publisher: listed
    };
    const auto out = programs(rs);
    const std::vector<software_item> want = {item("Shared Runtime", "1.0", "Acme"), item("Shared Runtime", "1.0", "Other"),
                                             item("Shared Runtime", "1.1", "Acme")};
    BOOST_TEST((out == want));
}

BOOST_AUTO_TEST_CASE(sorted_like_sort_inventory) {
    const auto out = programs({prog("b"), prog("a", "2"), prog("a", "1"), prog("C")});
    inventory inv;
    inv.software = out;
    sort_inventory(inv);
    BOOST_TEST((inv.software == out));
    BOOST_TEST(out.front().package == "C");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_values)

BOOST_AUTO_TEST_CASE(strings_are_utf16_up_to_the_first_nul) {
    uninstall_record r;
    apply_value(r, "DisplayName", reg_sz, wide(u"Caf\u00e9 \u6f22\u5b57 \U0001F600"));
    BOOST_TEST(*r.display_name == "Caf\xC3\xA9 \xE6\xBC\xA2\xE5\xAD\x97 \xF0\x9F\x98\x80");
    apply_value(r, "DisplayVersion", reg_sz, wide(u"1.0\0garbage"));
    BOOST_TEST(*r.display_version == "1.0");
    apply_value(r, "Publisher", reg_expand_sz, wide(u"%Vendor%", false));  // unterminated and not expanded
    BOOST_TEST(*r.publisher == "%Vendor%");
    auto odd = wide(u"Ab");
    odd.pop_back();  // odd byte count
    apply_value(r, "Publisher", reg_sz, odd);
    BOOST_TEST(*r.publisher == "Ab");
}

BOOST_AUTO_TEST_CASE(lone_surrogates_become_replacement) {
    BOOST_TEST(utf8::from_utf16(u"a\xD800z") == "a\xEF\xBF\xBDz");
    BOOST_TEST(utf8::from_utf16(u"\xDC00") == "\xEF\xBF\xBD");
    BOOST_TEST(utf8::is_valid(utf8::from_utf16(u"\xDBFF\xDFFF")));
}

BOOST_AUTO_TEST_CASE(names_match_case_insensitively) {
    uninstall_record r;
    apply_value(r, "displayname", reg_sz, wide(u"x"));
    apply_value(r, "SYSTEMCOMPONENT", reg_dword, dword(1));
    BOOST_TEST(r.display_name.has_value());
    BOOST_TEST(r.system_component.value_or(0) == 1u);
}

BOOST_AUTO_TEST_CASE(odd_types_are_ignored) {
    uninstall_record r;
    apply_value(r, "DisplayName", reg_binary, wide(u"Binary Name"));
    apply_value(r, "DisplayVersion", reg_multi_sz, wide(u"1.0"));
    apply_value(r, "VersionMajor", reg_sz, wide(u"3"));
    apply_value(r, "VersionMinor", reg_qword, std::vector<std::byte>(8, std::byte{1}));
    apply_value(r, "SystemComponent", reg_sz, wide(u"1"));
    apply_value(r, "SystemComponent", reg_dword, std::vector<std::byte>{std::byte{1}, std::byte{0}});  // short DWORD
    apply_value(r, "InstallLocation", reg_dword, dword(9));                   // not a value we use
    BOOST_TEST(!r.display_name.has_value());
    BOOST_TEST(!r.display_version.has_value());
    BOOST_TEST(!r.version_major.has_value());
    BOOST_TEST(!r.version_minor.has_value());
    BOOST_TEST(!r.system_component.has_value());
    BOOST_TEST((classify(r) == verdict::no_display_name));
    // A ParentKeyName counts whatever its type.
    apply_value(r, "ParentKeyName", reg_binary, std::vector<std::byte>{});
    BOOST_TEST(r.parent_key_name);
}

BOOST_AUTO_TEST_CASE(dwords_are_little_endian) {
    uninstall_record r;
    apply_value(r, "VersionMajor", reg_dword, dword(0x01020304));
    BOOST_TEST(*r.version_major == 0x01020304u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_cases)

// Case 10 by hand, as the collector would read it: a SystemComponent=0
// runtime stays, the SystemComponent=1 halves go, the 32-bit view counts.
BOOST_AUTO_TEST_CASE(case_10_as_records) {
    auto a = prog("Contoso Visual Runtime 2019 (x64) - 14.29.30139", "14.29.30139.0", "Contoso Corporation");
    a.system_component = 0;
    auto b = prog("Contoso Visual Runtime 2019 x64 Minimum Runtime - 14.29.30139", "14.29.30139", "Contoso Corporation");
    b.system_component = 1;
    auto c = prog("Contoso Visual Runtime 2019 x64 Additional Runtime - 14.29.30139", "14.29.30139", "Contoso Corporation");
    c.system_component = 1;
    auto d = prog("Keystone PDF Reader", "11.4.2", "Keystone Document Systems", hive_view::machine32);
    const std::vector<software_item> want = {item("Contoso Visual Runtime 2019 (x64) - 14.29.30139", "14.29.30139.0", "Contoso Corporation"),
                                             item("Keystone PDF Reader", "11.4.2", "Keystone Document Systems")};
    BOOST_TEST((programs({a, b, c, d}) == want));
}

BOOST_AUTO_TEST_CASE(all_registry_cases_from_their_reg_files) {
    const auto cases = cases_matching("registry");
    BOOST_TEST_REQUIRE(cases.size() >= 3u, "expected the registry cases of shared/cases");
    for (const auto& dir : cases) {
        BOOST_TEST_CONTEXT("case " << dir.filename().string()) {
            const auto records = uninstall_records(parse_reg(read_text(dir / "uninstall.reg")));
            BOOST_TEST(!records.empty());
            const auto expected = parse_json(read_text(dir / "expected.json"));
            const auto diff = compare_as_set(expected.at("software_inventory"), as_json(programs(records)));
            BOOST_TEST(diff.empty(), diff);
        }
    }
}

BOOST_AUTO_TEST_CASE(reg_reader_maps_hives_and_views) {
    const std::string reg =
        "Windows Registry Editor Version 5.00\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\A]\r\n"
        "\"DisplayName\"=\"A \\\"quoted\\\" \\\\ name\"\r\n"
        "\"VersionMajor\"=dword:00000002\r\n"
        "\"Publisher\"=hex(2):41,00,63,00,\\\r\n  6d,00,65,00,00,00\r\n"
        "[HKEY_USERS\\S-1-5-21-9\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\B]\r\n"
        "\"DisplayName\"=\"B\"\r\n"
        "\"DisplayName\"=-\r\n"
        "[HKEY_USERS\\S-1-5-21-9\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\B\\Nested]\r\n"
        "\"DisplayName\"=\"not a direct subkey\"\r\n";
    const auto rs = uninstall_records(parse_reg(reg));
    BOOST_TEST_REQUIRE(rs.size() == 2u);
    BOOST_TEST((rs[0].view == hive_view::machine32));
    BOOST_TEST(*rs[0].display_name == "A \"quoted\" \\ name");
    BOOST_TEST(*rs[0].publisher == "Acme");
    BOOST_TEST((to_item(rs[0]) == item("A \"quoted\" \\ name", "2.0", "Acme")));
    BOOST_TEST((rs[1].view == hive_view::user));
    BOOST_TEST(rs[1].hive == "HKU\\S-1-5-21-9");
    BOOST_TEST(!rs[1].display_name.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
