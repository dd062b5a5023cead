#pragma once

#include <string>
#include <string_view>

namespace stocktake {

// gzip (RFC 1952) of `data` at the given zlib level. Throws on failure.
std::string gzip_compress(std::string_view data, int level = 6);

}  // namespace stocktake
