#include "stocktake/agent/sources.hpp"

#include "stocktake/collect/docker_source.hpp"
#ifdef _WIN32
#include "stocktake/collect/registry_source.hpp"
#else
#include "stocktake/collect/dpkg_source.hpp"
#endif

#include <algorithm>

namespace stocktake {

std::vector<source_slot> source_set::slots() const {
    std::vector<source_slot> out;
    for (const auto& s : owned) out.push_back({s.get(), timeout});
    return out;
}

source_set make_sources(const config& cfg, boost::asio::any_io_executor pool) {
    source_set set;
    set.timeout = cfg.inventory.source_timeout;
    const auto& want = cfg.inventory.sources;
    auto wanted = [&](std::string_view n) { return std::find(want.begin(), want.end(), n) != want.end(); };
#ifdef _WIN32
    if (wanted("registry")) set.owned.push_back(make_registry_source(pool));
#else
    if (wanted("dpkg")) set.owned.push_back(make_dpkg_source({cfg.inventory.dpkg_admindir}, pool));
#endif
    if (wanted("docker")) {
        docker_options o;
        o.docker_host = cfg.inventory.docker_host;
        o.all = cfg.inventory.all_containers;
        o.page_size = cfg.inventory.docker_page_size;
        o.step_timeout = cfg.inventory.docker_step_timeout;
        set.owned.push_back(make_docker_source(docker_options_from_environment(std::move(o))));
    }
    return set;
}

}  // namespace stocktake
