# Dependencies of the Windows cross-build (mingw-w64, see
# mingw-w64-x86_64.cmake). Debian has no mingw builds of Boost, OpenSSL or
# zlib, so:
#  - Boost is used header-only from the host's /usr/include/boost: Asio and
#    Beast compiled once (asio_impl.cpp), Boost.JSON and Boost.URL from
#    their src.hpp in one TU (boost_header_only.cpp), Boost.Test in its
#    "included" variant (tests/support/test_main_windows.cpp);
#  - toml++ is header-only too;
#  - no OpenSSL and no zlib: the Windows build delivers with WinHTTP (TLS
#    from the system, winhttp.dll), hashes with CNG (bcrypt.dll) and sends
#    inventories uncompressed.
# Only the boost/ and toml++/ folders are exposed (through symlinks in the
# build tree), never the rest of /usr/include: Linux system headers must
# not shadow mingw's.

set(STOCKTAKE_HOST_INCLUDE_DIR "/usr/include" CACHE PATH "Where the host's header-only Boost and toml++ live")
set(_stocktake_hdr "${CMAKE_BINARY_DIR}/host-headers")
file(MAKE_DIRECTORY "${_stocktake_hdr}")
foreach(dir boost toml++)
  if(NOT EXISTS "${STOCKTAKE_HOST_INCLUDE_DIR}/${dir}")
    message(FATAL_ERROR "${STOCKTAKE_HOST_INCLUDE_DIR}/${dir} is missing (scripts/setup installs it)")
  endif()
  file(CREATE_LINK "${STOCKTAKE_HOST_INCLUDE_DIR}/${dir}" "${_stocktake_hdr}/${dir}" SYMBOLIC)
endforeach()

add_library(stocktake_tomlplusplus INTERFACE)
target_include_directories(stocktake_tomlplusplus SYSTEM INTERFACE "${_stocktake_hdr}")

add_library(stocktake_boost INTERFACE)
target_include_directories(stocktake_boost SYSTEM INTERFACE
  "${_stocktake_hdr}"
  # <Windows.h> and friends for headers written on case-insensitive disks.
  "${PROJECT_SOURCE_DIR}/cmake/compat/windows")
target_compile_definitions(stocktake_boost INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  BOOST_ALL_NO_LIB
  STOCKTAKE_NO_TLS
  _WIN32_WINNT=0x0A00
  WIN32_LEAN_AND_MEAN
  NOMINMAX
  UNICODE
  _UNICODE)
target_link_libraries(stocktake_boost INTERFACE Threads::Threads ws2_32 mswsock advapi32 bcrypt)
# Big Asio/Beast objects exceed the PE/COFF section limit without this.
target_compile_options(stocktake_boost INTERFACE -Wa,-mbig-obj)
# A self-contained .exe: no libstdc++/libgcc/winpthread DLLs to ship.
target_link_options(stocktake_boost INTERFACE -static $<$<CONFIG:Release,MinSizeRel>:-s>)  # stripped release: ~3.5 MB
