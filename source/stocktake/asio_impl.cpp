// The one translation unit that compiles Asio (with its SSL support) and
// Beast; BOOST_*_SEPARATE_COMPILATION is set for every target.
#include <boost/asio/impl/src.hpp>
#ifndef STOCKTAKE_NO_TLS  // the Windows build has no OpenSSL
#include <boost/asio/ssl/impl/src.hpp>
#endif
#include <boost/beast/src.hpp>
