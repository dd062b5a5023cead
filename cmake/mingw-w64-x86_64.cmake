# Cross-build for 64-bit Windows with Debian's mingw-w64 (posix threads:
# std::thread, std::mutex and Asio's thread pool need them).
#   cmake --preset windows   (see CMakePresets.json)
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(STOCKTAKE_MINGW_PREFIX x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${STOCKTAKE_MINGW_PREFIX}-gcc-posix)
set(CMAKE_CXX_COMPILER ${STOCKTAKE_MINGW_PREFIX}-g++-posix)
set(CMAKE_RC_COMPILER ${STOCKTAKE_MINGW_PREFIX}-windres)

# Look for libraries and headers in the mingw sysroot only: never pick up
# Linux system headers or libraries. Header-only Boost and toml++ are
# added by path in StocktakeDependencies.cmake.
set(CMAKE_FIND_ROOT_PATH /usr/${STOCKTAKE_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs run under Wine where a build step or test needs to run them.
find_program(STOCKTAKE_WINE wine)
if(STOCKTAKE_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${STOCKTAKE_WINE})
endif()
