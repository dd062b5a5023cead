#include "stocktake/core/inventory.hpp"

#include <algorithm>
#include <tuple>

namespace stocktake {

void sort_inventory(inventory& inv) {
    auto by_package = [](const software_item& a, const software_item& b) {
        return std::tie(a.package, a.architecture, a.version, a.summary) <
               std::tie(b.package, b.architecture, b.version, b.summary);
    };
    // dpkg keeps its database sorted, so the common case is one linear check.
    if (!std::is_sorted(inv.software.begin(), inv.software.end(), by_package))
        std::sort(inv.software.begin(), inv.software.end(), by_package);
    std::sort(inv.containers.begin(), inv.containers.end(), [](const container_item& a, const container_item& b) {
        return std::tie(a.container_name, a.container_id) < std::tie(b.container_name, b.container_id);
    });
    std::stable_sort(inv.errors.begin(), inv.errors.end(),
                     [](const source_error& a, const source_error& b) { return a.source < b.source; });
}

}  // namespace stocktake
