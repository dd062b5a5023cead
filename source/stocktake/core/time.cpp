#include "stocktake/core/time.hpp"

#include <cstdio>

namespace stocktake {

std::string format_rfc3339_nanos(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    const auto ns = duration_cast<nanoseconds>(tp.time_since_epoch());
    const auto secs = floor<seconds>(ns);  // floor keeps the fraction positive before 1970
    const auto frac = (ns - secs).count();
    const auto day = floor<days>(secs);
    const year_month_day ymd{sys_days{day}};
    const hh_mm_ss hms{secs - day};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%09lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()), static_cast<long long>(frac));
    return buf;
}

}  // namespace stocktake
