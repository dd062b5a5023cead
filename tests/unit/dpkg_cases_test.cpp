// Every dpkg case of ../shared/cases through the real code path: the admin
// directory reader on a directory holding the case's status file.

#include "stocktake/collect/dpkg_source.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "support/fixtures.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace stocktake;
using namespace stocktake::test;

BOOST_AUTO_TEST_SUITE(dpkg_cases)

BOOST_AUTO_TEST_CASE(all_dpkg_cases) {
    const auto cases = cases_matching("dpkg");
    BOOST_TEST_REQUIRE(cases.size() >= 6u, "expected the dpkg cases of shared/cases");
    for (const auto& dir : cases) {
        BOOST_TEST_CONTEXT("case " << dir.filename().string()) {
            temp_dir admin;
            // The case folder is the admin directory (it holds `status`);
            // copy it so the test also works where shared/ is read-only.
            for (const auto& e : fs::directory_iterator(dir))
                if (e.path().filename() == "status" || e.path().filename() == "updates" || e.path().filename() == "status.d")
                    fs::copy(e.path(), admin / e.path().filename().string(), fs::copy_options::recursive);
            auto res = read_dpkg_admindir({admin.path().string()});
            BOOST_TEST((res.outcome == source_outcome::ok));
            inventory inv;
            inv.software = res.software;
            sort_inventory(inv);
            auto actual = to_json(inv);
            // The JSON we emit must be valid UTF-8 whatever the bytes were.
            auto text = boost::json::serialize(actual);
            auto reparsed = parse_json(text);
            auto expected = parse_json(read_text(dir / "expected.json"));
            const auto diff = compare_as_set(expected.at("software_inventory"), reparsed.at("software_inventory"));
            BOOST_TEST(diff.empty(), diff);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
