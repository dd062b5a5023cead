// The one translation unit that compiles Asio, Beast and Process v2
// (BOOST_*_SEPARATE_COMPILATION is set for every target).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
