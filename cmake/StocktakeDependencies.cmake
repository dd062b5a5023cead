# Every dependency comes from Debian 12 packages (see scripts/setup).
# No downloads at configure or build time.

find_package(Threads REQUIRED)

if(WIN32)
  include(StocktakeWindowsDependencies)
  return()
endif()

find_package(Boost 1.81 REQUIRED COMPONENTS json url unit_test_framework filesystem)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)

find_path(TOMLPLUSPLUS_INCLUDE_DIR toml++/toml.h REQUIRED)
add_library(stocktake_tomlplusplus INTERFACE)
target_include_directories(stocktake_tomlplusplus SYSTEM INTERFACE "${TOMLPLUSPLUS_INCLUDE_DIR}")

# Asio and Beast are compiled once, in source/stocktake/asio_impl.cpp, instead
# of in every translation unit that includes them.
add_library(stocktake_boost INTERFACE)
target_compile_definitions(stocktake_boost INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  BOOST_PROCESS_V2_SEPARATE_COMPILATION)
target_link_libraries(stocktake_boost INTERFACE Boost::headers Boost::json Boost::url Threads::Threads)
