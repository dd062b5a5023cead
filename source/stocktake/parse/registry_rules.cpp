#include "stocktake/parse/registry_rules.hpp"

#include "stocktake/core/utf8.hpp"

#include <algorithm>
#include <string_view>
#include <tuple>

namespace stocktake::registry {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string clean(const std::optional<std::string>& v) {
    if (!v) return {};
    return utf8::sanitize(trim(*v));
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

std::string utf16le_text(std::span<const std::byte> data) {
    std::u16string w;
    w.reserve(data.size() / 2);
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
        const auto c = static_cast<char16_t>(std::to_integer<unsigned>(data[i]) | (std::to_integer<unsigned>(data[i + 1]) << 8));
        if (c == 0) break;
        w.push_back(c);
    }
    return utf8::from_utf16(w);
}

void apply_value(uninstall_record& r, std::string_view name, std::uint32_t type, std::span<const std::byte> data) {
    const bool is_text = type == reg_sz || type == reg_expand_sz;
    auto text = [&](std::optional<std::string>& field) {
        if (is_text) field = utf16le_text(data);
    };
    auto dword = [&](std::optional<std::uint32_t>& field) {
        if (type != reg_dword || data.size() != 4) return;
        field = std::to_integer<std::uint32_t>(data[0]) | (std::to_integer<std::uint32_t>(data[1]) << 8) |
                (std::to_integer<std::uint32_t>(data[2]) << 16) | (std::to_integer<std::uint32_t>(data[3]) << 24);
    };
    if (iequals(name, "DisplayName")) text(r.display_name);
    else if (iequals(name, "DisplayVersion")) text(r.display_version);
    else if (iequals(name, "Publisher")) text(r.publisher);
    else if (iequals(name, "ReleaseType")) text(r.release_type);
    else if (iequals(name, "VersionMajor")) dword(r.version_major);
    else if (iequals(name, "VersionMinor")) dword(r.version_minor);
    else if (iequals(name, "SystemComponent")) dword(r.system_component);
    else if (iequals(name, "ParentKeyName")) r.parent_key_name = true;
}

verdict classify(const uninstall_record& r) {
    if (!r.display_name || trim(*r.display_name).empty()) return verdict::no_display_name;
    // Programs and Features hides these: components of another product
    // (SystemComponent, ParentKeyName) and installed updates (ReleaseType).
    if (r.system_component && *r.system_component == 1) return verdict::system_component;
    if (r.parent_key_name) return verdict::has_parent;
    if (r.release_type) {
        const auto t = trim(*r.release_type);
        if (iequals(t, "Update") || iequals(t, "Hotfix") || iequals(t, "Security Update")) return verdict::update;
    }
    return verdict::program;
}

software_item to_item(const uninstall_record& r) {
    software_item item;
    item.package = clean(r.display_name);
    item.version = clean(r.display_version);
    if (item.version.empty() && r.version_major)
        item.version = std::to_string(*r.version_major) + "." + std::to_string(r.version_minor.value_or(0));
    item.summary = clean(r.publisher);
    return item;
}

std::vector<software_item> programs(const std::vector<uninstall_record>& records) {
    std::vector<software_item> out;
    out.reserve(records.size());
    for (const auto& r : records)
        if (classify(r) == verdict::program) out.push_back(to_item(r));
    // The order sort_inventory gives (architecture is empty for all).
    auto key = [](const software_item& s) { return std::tie(s.package, s.architecture, s.version, s.summary); };
    std::sort(out.begin(), out.end(), [&](const software_item& a, const software_item& b) { return key(a) < key(b); });
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace stocktake::registry
