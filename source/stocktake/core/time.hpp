#pragma once

#include <chrono>
#include <string>

namespace stocktake {

// RFC 3339 in UTC with nine fractional digits and a `Z`, as RPort writes
// `refreshed`: "2024-09-18T13:29:40.834378519Z".
std::string format_rfc3339_nanos(std::chrono::system_clock::time_point tp);

}  // namespace stocktake
