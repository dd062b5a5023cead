// Windows build only: Boost.JSON and Boost.URL compiled from their
// headers in this one translation unit (Debian has no mingw Boost
// libraries to link; on Linux the Boost packages' libraries are used).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
