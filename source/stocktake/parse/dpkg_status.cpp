#include "stocktake/parse/dpkg_status.hpp"

#include <cstring>
#include <string>
#include <unordered_map>

namespace stocktake::dpkg {
namespace {

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
    std::size_t b = 0, e = s.size();
    while (b < e && (is_blank(s[b]) || s[b] == '\r' || s[b] == '\n' || s[b] == '\f' || s[b] == '\v')) ++b;
    while (e > b && (is_blank(s[e - 1]) || s[e - 1] == '\r' || s[e - 1] == '\n' || s[e - 1] == '\f' || s[e - 1] == '\v')) --e;
    return s.substr(b, e - b);
}

bool iequals(std::string_view a, std::string_view lower) noexcept {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

enum class field { other, package, status, architecture, version, description };

field classify(std::string_view name) noexcept {
    switch (name.size()) {
        case 6: return iequals(name, "status") ? field::status : field::other;
        case 7: return iequals(name, "package") ? field::package : iequals(name, "version") ? field::version : field::other;
        case 11: return iequals(name, "description") ? field::description : field::other;
        case 12: return iequals(name, "architecture") ? field::architecture : field::other;
        default: return field::other;
    }
}

bool parse_state(std::string_view w, pkg_state& out) noexcept {
    static constexpr std::pair<std::string_view, pkg_state> table[] = {
        {"installed", pkg_state::installed},
        {"not-installed", pkg_state::not_installed},
        {"config-files", pkg_state::config_files},
        {"half-installed", pkg_state::half_installed},
        {"unpacked", pkg_state::unpacked},
        {"half-configured", pkg_state::half_configured},
        {"triggers-awaited", pkg_state::triggers_awaited},
        {"triggers-pending", pkg_state::triggers_pending},
    };
    for (const auto& [word, st] : table)
        if (w == word) {
            out = st;
            return true;
        }
    return false;
}

// Status is "<want> <eflag> <status>"; dpkg rejects anything else.
bool parse_status(std::string_view v, pkg_state& out, std::string& why) {
    std::string_view words[4];
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < v.size() && n < 4) {
        while (i < v.size() && is_blank(v[i])) ++i;
        if (i >= v.size()) break;
        std::size_t j = i;
        while (j < v.size() && !is_blank(v[j])) ++j;
        words[n++] = v.substr(i, j - i);
        i = j;
    }
    if (n != 3) {
        why = "Status must have three words, got '" + std::string(v) + "'";
        return false;
    }
    static constexpr std::string_view wants[] = {"unknown", "install", "hold", "deinstall", "purge"};
    static constexpr std::string_view flags[] = {"ok", "reinstreq", "hold", "hold-reinstreq"};
    bool want_ok = false, flag_ok = false;
    for (auto w : wants) want_ok = want_ok || words[0] == w;
    for (auto f : flags) flag_ok = flag_ok || words[1] == f;
    if (!want_ok || !flag_ok || !parse_state(words[2], out)) {
        why = "invalid Status '" + std::string(v) + "'";
        return false;
    }
    return true;
}

struct stanza {
    std::string_view package, architecture, version, summary, status;
    bool has_status = false;
    bool any = false;
    void reset() { *this = stanza{}; }
};

constexpr std::size_t max_problems = 20;

void finish(stanza& st, file_kind kind, parse_result& out) {
    if (!st.any) return;
    ++out.stanzas;
    auto skip = [&](std::string why) {
        ++out.skipped;
        if (out.problems.size() < max_problems)
            out.problems.push_back("stanza " + std::to_string(out.stanzas) +
                                   (st.package.empty() ? std::string() : " (" + std::string(st.package) + ")") + ": " +
                                   std::move(why));
        st.reset();
    };
    if (st.package.empty()) return skip("no Package field");
    record r;
    if (st.has_status) {
        std::string why;
        if (!parse_status(st.status, r.state, why)) return skip(std::move(why));
    } else if (kind == file_kind::status_d) {
        r.state = pkg_state::installed;
    } else {
        return skip("no Status field");
    }
    // dpkg writes not-installed stanzas without a version; everything with
    // files on disk must say which version it is.
    if (st.version.empty() && counts_as_installed(r.state)) return skip("no Version field");
    r.package.assign(st.package);
    r.architecture.assign(st.architecture);
    r.version.assign(st.version);
    r.summary.assign(st.summary);
    out.records.push_back(std::move(r));
    st.reset();
}

}  // namespace

std::string_view state_word(pkg_state s) noexcept {
    switch (s) {
        case pkg_state::not_installed: return "not-installed";
        case pkg_state::config_files: return "config-files";
        case pkg_state::half_installed: return "half-installed";
        case pkg_state::unpacked: return "unpacked";
        case pkg_state::half_configured: return "half-configured";
        case pkg_state::triggers_awaited: return "triggers-awaited";
        case pkg_state::triggers_pending: return "triggers-pending";
        case pkg_state::installed: return "installed";
    }
    return "unknown";
}

parse_result parse(std::string_view data, file_kind kind) {
    parse_result out;
    // A rough guess (status files average ~1 KiB per stanza) saves regrowth.
    out.records.reserve(data.size() / 1024 + 16);
    stanza st;
    const char* p = data.data();
    const char* const end = p + data.size();
    while (p < end) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        const char* le = nl ? nl : end;
        std::string_view line(p, static_cast<std::size_t>(le - p));
        p = nl ? nl + 1 : end;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {  // stanza separator; runs of them are one separator
            finish(st, kind, out);
            continue;
        }
        if (is_blank(line.front())) continue;  // continuation: only first lines matter here
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            // dpkg refuses such a line; we keep the stanza's other fields.
            st.any = true;
            continue;
        }
        st.any = true;
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        switch (classify(name)) {
            case field::package: st.package = value; break;
            case field::status:
                st.status = value;
                st.has_status = true;
                break;
            case field::architecture: st.architecture = value; break;
            case field::version: st.version = value; break;
            case field::description: st.summary = value; break;
            case field::other: break;
        }
    }
    finish(st, kind, out);
    return out;
}

void overlay(std::vector<record>& base, std::vector<record>&& later) {
    if (later.empty()) return;
    std::unordered_map<std::string, std::size_t> index;
    index.reserve(base.size() + later.size());
    auto key = [](const record& r) {
        std::string k;
        k.reserve(r.package.size() + r.architecture.size() + 1);
        k.append(r.package).push_back('\0');
        k.append(r.architecture);
        return k;
    };
    for (std::size_t i = 0; i < base.size(); ++i) index[key(base[i])] = i;
    for (auto& r : later) {
        auto [it, inserted] = index.try_emplace(key(r), base.size());
        if (inserted)
            base.push_back(std::move(r));
        else
            base[it->second] = std::move(r);
    }
}

std::vector<software_item> installed_items(std::vector<record>&& records) {
    // Within one file a later stanza for the same (package, arch) also wins.
    std::vector<record> unique;
    overlay(unique, std::move(records));
    std::vector<software_item> items;
    items.reserve(unique.size());
    for (auto& r : unique) {
        if (!counts_as_installed(r.state)) continue;
        software_item s;
        s.package = std::move(r.package);
        s.version = std::move(r.version);
        s.summary = std::move(r.summary);
        s.architecture = std::move(r.architecture);
        s.state = std::string(state_word(r.state));
        items.push_back(std::move(s));
    }
    return items;
}

}  // namespace stocktake::dpkg
