#pragma once
// Finding the real peers the integration tests need. Under CI=true a
// missing peer fails the test instead of skipping it.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <optional>
#include <string>

namespace stocktake::test {

inline bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

// The private engine scripts/test starts (STOCKTAKE_TEST_DOCKER_HOST).
inline std::optional<std::string> test_docker_host() {
    const char* h = std::getenv("STOCKTAKE_TEST_DOCKER_HOST");
    if (h && *h) return std::string(h);
    return std::nullopt;
}

}  // namespace stocktake::test

// Skips the current test (or fails it under CI=true) with a reason.
#define STOCKTAKE_REQUIRE_PEER(cond, why)                                          \
    do {                                                                            \
        if (!(cond)) {                                                              \
            if (::stocktake::test::in_ci()) BOOST_FAIL("required peer missing: " << why); \
            BOOST_TEST_MESSAGE("SKIPPED: " << why);                                 \
            return;                                                                 \
        }                                                                           \
    } while (0)
