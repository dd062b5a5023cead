# Build knobs shared by every target of ours. Third-party headers are
# included as SYSTEM so -Werror applies to our code only.

option(STOCKTAKE_WERROR "Treat warnings in our code as errors" OFF)
option(STOCKTAKE_SANITIZE "Build with AddressSanitizer and UBSan" OFF)

find_program(STOCKTAKE_CCACHE ccache)
if(STOCKTAKE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${STOCKTAKE_CCACHE}")
endif()

add_library(stocktake_warnings INTERFACE)
target_compile_options(stocktake_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
  # At -O2/-O3 GCC 12 reports -Wnull-dereference inside Asio's inlined
  # headers and -Wrestrict on std::string concatenation (GCC bug 105329):
  # false positives, so the first is kept to unoptimised builds and the
  # second is off for GCC < 13.
  $<$<CONFIG:Debug>:-Wnull-dereference>
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
  $<$<BOOL:${STOCKTAKE_WERROR}>:-Werror>)

add_library(stocktake_sanitizers INTERFACE)
if(STOCKTAKE_SANITIZE)
  target_compile_options(stocktake_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(stocktake_sanitizers INTERFACE -fsanitize=address,undefined)
endif()

# Apply our project-wide settings to a target we own.
function(stocktake_target target)
  target_link_libraries(${target} PRIVATE stocktake_warnings stocktake_sanitizers)
endfunction()
