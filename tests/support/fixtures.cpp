#include "support/fixtures.hpp"

#include "stocktake/core/inventory_json.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

namespace stocktake::test {

std::string read_text(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_text(const fs::path& p, std::string_view data) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) throw std::runtime_error("cannot write " + p.string());
}

fs::path cases_dir() { return fs::path(STOCKTAKE_CASES_DIR); }

std::vector<fs::path> cases_matching(std::string_view kind) {
    std::vector<fs::path> out;
    if (!fs::exists(cases_dir())) throw std::runtime_error("cases directory missing: " + cases_dir().string());
    for (const auto& e : fs::directory_iterator(cases_dir())) {
        if (!e.is_directory()) continue;
        const std::string n = e.path().filename().string();
        // "NN-<kind>-<what>"
        auto dash = n.find('-');
        if (dash != std::string::npos && n.compare(dash + 1, kind.size(), kind) == 0) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

temp_dir::temp_dir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("stocktake-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
}

temp_dir::~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

boost::json::value parse_json(std::string_view text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) throw std::runtime_error("invalid JSON (" + ec.message() + "): " + std::string(text.substr(0, 200)));
    return v;
}

boost::json::value inventory_json(const inventory& inv) { return to_json(inv); }

std::string compare_as_set(const boost::json::value& expected_array, const boost::json::value& actual_array) {
    const auto& exp = expected_array.as_array();
    const auto& act = actual_array.as_array();
    std::vector<bool> used(act.size(), false);
    std::string diff;
    for (const auto& e : exp) {
        const auto& eo = e.as_object();
        bool found = false;
        for (std::size_t i = 0; i < act.size() && !found; ++i) {
            if (used[i]) continue;
            const auto* ao = act[i].if_object();
            if (!ao) continue;
            bool match = true;
            for (const auto& kv : eo) {
                const auto* av = ao->if_contains(kv.key());
                if (!av || *av != kv.value()) {
                    match = false;
                    break;
                }
            }
            if (match) {
                used[i] = true;
                found = true;
            }
        }
        if (!found) diff += "missing: " + boost::json::serialize(e) + "\n";
    }
    for (std::size_t i = 0; i < act.size(); ++i)
        if (!used[i]) diff += "unexpected: " + boost::json::serialize(act[i]) + "\n";
    return diff;
}

}  // namespace stocktake::test
