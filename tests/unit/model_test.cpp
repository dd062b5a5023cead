// The inventory model's JSON: key names, types, order, UTF-8, time format.

#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/time.hpp"
#include "stocktake/core/utf8.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace stocktake;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(utf8_hygiene)

BOOST_AUTO_TEST_CASE(valid_text_passes_unchanged) {
    for (std::string_view s : {"", "plain", "\xC3\xBC" "bersetzung", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xEF\xBF\xBD"}) {
        BOOST_TEST(utf8::is_valid(s));
        BOOST_TEST(utf8::sanitize(s) == s);
    }
}

BOOST_AUTO_TEST_CASE(invalid_bytes_become_replacement_characters) {
    const std::string r = "\xEF\xBF\xBD";
    BOOST_TEST(utf8::sanitize("caf\xE9 menu") == "caf" + r + " menu");  // Latin-1 byte
    BOOST_TEST(utf8::sanitize("\xC0\xAF") == r + r);                     // overlong
    BOOST_TEST(utf8::sanitize("\xED\xA0\x80") == r + r + r);             // surrogate
    BOOST_TEST(utf8::sanitize("\xF4\x90\x80\x80") == r + r + r + r);     // > U+10FFFF
    BOOST_TEST(utf8::sanitize("\xE2\x82") == r);                         // truncated at end: one maximal subpart
    BOOST_TEST(utf8::sanitize("a\xF0\x9F\x98") == "a" + r);
    BOOST_TEST(utf8::sanitize("\x80\x80x") == r + r + "x");
    for (std::string_view s : {"\xFF", "\xC3", "a\xE2\x28\xA1", "\xF8\x88\x80\x80\x80"}) BOOST_TEST(utf8::is_valid(utf8::sanitize(s)));
    BOOST_TEST(!utf8::is_valid("\xC3"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rfc3339)

BOOST_AUTO_TEST_CASE(nanoseconds_and_z) {
    using namespace std::chrono;
    const auto tp = sys_days{year{2024} / 9 / 18} + hours{13} + minutes{29} + seconds{40} + nanoseconds{834378519};
    BOOST_TEST(format_rfc3339_nanos(time_point_cast<system_clock::duration>(tp)) == "2024-09-18T13:29:40.834378519Z");
    BOOST_TEST(format_rfc3339_nanos(system_clock::time_point{}) == "1970-01-01T00:00:00.000000000Z");
    const auto early = sys_days{year{1969} / 12 / 31} + hours{23} + minutes{59} + seconds{59} + nanoseconds{5};
    BOOST_TEST(format_rfc3339_nanos(time_point_cast<system_clock::duration>(early)) == "1969-12-31T23:59:59.000000005Z");
}

BOOST_AUTO_TEST_CASE(round_trip_and_other_forms) {
    auto now = std::chrono::system_clock::now();
    auto back = parse_rfc3339(format_rfc3339_nanos(now));
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == now));
    BOOST_TEST(parse_rfc3339("2024-09-18T13:29:40Z").has_value());
    BOOST_TEST((parse_rfc3339("2024-09-18T15:29:40.5+02:00") == parse_rfc3339("2024-09-18T13:29:40.500Z")));
    for (std::string_view bad : {"", "2024-09-18", "2024-13-18T13:29:40Z", "2024-09-18T13:29:40", "2024-09-18T13:29:40.Z",
                                 "2024-02-30T00:00:00Z", "2024-09-18T13:29:40Zjunk"})
        BOOST_TEST(!parse_rfc3339(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(inventory_object)

inventory sample() {
    inventory inv;
    inv.refreshed = std::chrono::system_clock::time_point{} + std::chrono::seconds{1700000000};
    inv.software = {{"zlib1g", "1:1.2.13", "compression library", "amd64", "installed"},
                    {"curl", "8.5.0", "command line tool", "amd64", "installed"},
                    {"curl", "8.5.0", "command line tool", "arm64", "unpacked"}};
    inv.containers = {{"b", "/web", "Up 2 hours", "sha256:1", "nginx", "running"},
                      {"a", "", "Dead", "sha256:2", "x", "dead"},
                      {"c", "/db", "Exited (0)", "sha256:3", "pg", "exited"}};
    return inv;
}

BOOST_AUTO_TEST_CASE(keys_types_and_order) {
    auto inv = sample();
    sort_inventory(inv);
    auto o = to_json(inv);
    BOOST_TEST(o.at("refreshed").as_string() == "2023-11-14T22:13:20.000000000Z");
    const auto& sw = o.at("software_inventory").as_array();
    BOOST_TEST_REQUIRE(sw.size() == 3u);
    BOOST_TEST(sw[0].at("package").as_string() == "curl");
    BOOST_TEST(sw[0].at("architecture").as_string() == "amd64");
    BOOST_TEST(sw[1].at("architecture").as_string() == "arm64");
    BOOST_TEST(sw[2].at("package").as_string() == "zlib1g");
    for (const auto& e : sw)
        for (const char* k : {"package", "version", "summary", "architecture", "state"}) BOOST_TEST(e.at(k).is_string());
    const auto& ct = o.at("container_inventory").as_array();
    BOOST_TEST_REQUIRE(ct.size() == 3u);
    BOOST_TEST(ct[0].at("container_name").as_string() == "");  // "" sorts first
    BOOST_TEST(ct[1].at("container_name").as_string() == "/db");
    BOOST_TEST(ct[2].at("container_name").as_string() == "/web");
    for (const auto& e : ct)
        for (const char* k : {"container_id", "container_name", "status", "image_id", "image_name", "state"})
            BOOST_TEST(e.at(k).is_string());
    BOOST_TEST(!o.contains("errors"));  // only when a source failed
}

BOOST_AUTO_TEST_CASE(errors_array_when_a_source_failed) {
    auto inv = sample();
    inv.errors = {{"docker", "permission_denied", "add the user to the docker group"}};
    auto o = to_json(inv);
    const auto& e = o.at("errors").as_array();
    BOOST_TEST_REQUIRE(e.size() == 1u);
    BOOST_TEST(e[0].at("source").as_string() == "docker");
    BOOST_TEST(e[0].at("code").as_string() == "permission_denied");
    BOOST_TEST(e[0].at("message").is_string());
}

BOOST_AUTO_TEST_CASE(strings_are_sanitised_in_output) {
    inventory inv;
    inv.software = {{"bad\xFFname", "1", "caf\xE9", "amd64", "installed"}};
    inv.containers = {{"id", "/n\xC3", "Up", "i", "img\x80", "running"}};
    const auto text = to_json_text(inv);
    BOOST_TEST(utf8::is_valid(text));
    boost::system::error_code ec;
    json::parse(text, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(text.find("bad\xEF\xBF\xBDname") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(read_back_checks_keys_and_types) {
    auto inv = sample();
    sort_inventory(inv);
    std::string why;
    auto back = inventory_from_json(json::value(to_json(inv)), why);
    BOOST_TEST_REQUIRE(back.has_value(), why);
    BOOST_TEST(back->software.size() == 3u);
    BOOST_TEST((back->software[0] == inv.software[0]));
    BOOST_TEST((back->containers[2] == inv.containers[2]));
    BOOST_TEST((back->refreshed == inv.refreshed));

    auto broken = json::parse(R"({"refreshed":"2024-09-18T13:29:40Z","software_inventory":[{"package":"a","version":1,"summary":""}]})");
    BOOST_TEST(!inventory_from_json(broken, why).has_value());
    BOOST_TEST(why == "software_inventory[0].version: expected a string");
    auto no_time = json::parse(R"({"software_inventory":[]})");
    BOOST_TEST(!inventory_from_json(no_time, why).has_value());
    BOOST_TEST(why.find("refreshed") != std::string::npos);
    auto bad_ct = json::parse(R"({"refreshed":"2024-09-18T13:29:40Z","container_inventory":[{"container_id":"x"}]})");
    BOOST_TEST(!inventory_from_json(bad_ct, why).has_value());
    BOOST_TEST(why.find("container_inventory[0].container_name") != std::string::npos, why);
    BOOST_TEST(!inventory_from_json(json::value(42), why).has_value());
    auto not_array = json::parse(R"({"refreshed":"2024-09-18T13:29:40Z","software_inventory":{}})");
    BOOST_TEST(!inventory_from_json(not_array, why).has_value());
    BOOST_TEST(why.find("expected an array") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pretty_printing_is_the_same_document) {
    auto inv = sample();
    sort_inventory(inv);
    const auto compact = to_json_text(inv);
    const auto pretty = to_json_text(inv, output_format::rport, true);
    BOOST_TEST(pretty.find("\n  \"software_inventory\": [\n    {\n      \"package\": \"curl\"") != std::string::npos, pretty);
    BOOST_TEST((json::parse(compact) == json::parse(pretty)));
}

BOOST_AUTO_TEST_CASE(cyclonedx_bom) {
    auto inv = sample();
    sort_inventory(inv);
    auto bom = to_cyclonedx(inv);
    BOOST_TEST(bom.at("bomFormat").as_string() == "CycloneDX");
    const auto& comps = bom.at("components").as_array();
    BOOST_TEST(comps.size() == 6u);
    BOOST_TEST(comps[0].at("purl").as_string() == "pkg:deb/curl@8.5.0?arch=amd64");
    BOOST_TEST(comps[5].at("type").as_string() == "container");
}

BOOST_AUTO_TEST_SUITE_END()
