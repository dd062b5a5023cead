// The Boost.Test entry point of the Windows test executable: the
// "included" variant (Debian has no mingw Boost.Test library to link).
#define BOOST_TEST_MODULE stocktake_windows
#include <boost/test/included/unit_test.hpp>
