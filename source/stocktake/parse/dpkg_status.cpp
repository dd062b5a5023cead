#include "stocktake/parse/dpkg_status.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

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

// Yields the positions of '\n' in [begin, end), in order, 64 bytes at a
// time: status files have ~25 short lines per stanza (mostly Description
// continuation lines), so a memchr call per line costs more than the scan.
class newline_scanner {
public:
    newline_scanner(const char* begin, const char* end) noexcept : block_(begin), end_(end) { load(); }

    // The next '\n', or `end` when there is none.
    const char* next() noexcept {
        while (mask_ == 0) {
            if (static_cast<std::size_t>(end_ - block_) <= 64) return end_;
            block_ += 64;
            load();
        }
        const int bit = __builtin_ctzll(mask_);
        mask_ &= mask_ - 1;
        return block_ + bit;
    }

private:
    void load() noexcept {
        const std::size_t left = static_cast<std::size_t>(end_ - block_);
        mask_ = 0;
#if defined(__SSE2__)
        if (left >= 64) {
            // The file is usually fresh from the page cache, not in any CPU
            // cache, and hardware prefetchers stop at page boundaries:
            // asking ahead is worth a factor two on big files.
            if (left > prefetch_distance + 64) _mm_prefetch(block_ + prefetch_distance, _MM_HINT_T0);
            const __m128i nl = _mm_set1_epi8('\n');
            auto part = [&](int k) {
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block_ + 16 * k));
                return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl))));
            };
            mask_ = part(0) | (part(1) << 16) | (part(2) << 32) | (part(3) << 48);
            return;
        }
#endif
        const std::size_t n = left < 64 ? left : 64;
        for (std::size_t i = 0; i < n; ++i)
            if (block_[i] == '\n') mask_ |= std::uint64_t{1} << i;
    }

    static constexpr std::size_t prefetch_distance = 1024;
    const char* block_;
    const char* end_;
    std::uint64_t mask_ = 0;
};

// The field a line names, when it is one we read, without a search for the
// colon in the many lines we skip. Equivalent to classify(trim(name)) on
// the text before the first colon; `value` is then the trimmed rest.
constexpr bool is_trim_char(char c) noexcept {
    return is_blank(c) || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

field wanted_field(std::string_view line, std::string_view& value) noexcept {
    std::string_view name;
    field f;
    switch (line.front() | 0x20) {
        case 'p': name = "package", f = field::package; break;
        case 's': name = "status", f = field::status; break;
        case 'a': name = "architecture", f = field::architecture; break;
        case 'v': name = "version", f = field::version; break;
        case 'd': name = "description", f = field::description; break;
        default: name = {}, f = field::other; break;
    }
    if (f == field::other || !(line.size() > name.size() && iequals(line.substr(0, name.size()), name))) {
        // trim() would strip a leading \r, \f or \v: take the general way.
        if (!is_trim_char(line.front())) return field::other;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return field::other;
        value = trim(line.substr(colon + 1));
        return classify(trim(line.substr(0, colon)));
    }
    std::size_t i = name.size();
    while (i < line.size() && is_trim_char(line[i])) ++i;
    if (i == line.size() || line[i] != ':') return field::other;  // a longer name, or no colon
    value = trim(line.substr(i + 1));
    return f;
}

std::uint64_t hash_bytes(std::string_view s, std::uint64_t h) noexcept {
    constexpr std::uint64_t m = 0x9E3779B97F4A7C15ull;
    const char* p = s.data();
    std::size_t n = s.size();
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w ^ (static_cast<std::uint64_t>(s.size()) << 56)) * m;
    return h ^ (h >> 32);
}

std::uint64_t key_hash(const record& r) noexcept {
    return hash_bytes(r.architecture, hash_bytes(r.package, 0x243F6A8885A308D3ull));
}

bool same_key(const record& a, const record& b) noexcept {
    return a.package == b.package && a.architecture == b.architecture;
}

// Open-addressing map from (package, architecture) to a position; the keys
// live in the records, the table holds positions + 1 (0 = empty).
class key_index {
public:
    explicit key_index(std::size_t n) {
        std::size_t cap = 16;
        while (cap < 2 * n) cap *= 2;
        slots_.assign(cap, 0);
        mask_ = cap - 1;
    }
    // The slot for r's key: *slot is 0 when the key is not there yet.
    template <class KeyAt>
    std::uint32_t* find(const record& r, KeyAt&& key_at) noexcept {
        std::size_t i = static_cast<std::size_t>(key_hash(r)) & mask_;
        for (;;) {
            std::uint32_t& s = slots_[i];
            if (s == 0 || same_key(key_at(s - 1), r)) return &s;
            i = (i + 1) & mask_;
        }
    }

private:
    std::vector<std::uint32_t> slots_;
    std::size_t mask_;
};

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
    // A generous guess (real stanzas are ~1 KiB, the smallest usable ones
    // ~50 bytes) saves regrowth; pages never touched cost nothing.
    out.records.reserve(data.size() / 256 + 16);
    stanza st;
    const char* p = data.data();
    const char* const end = p + data.size();
    newline_scanner lines(p, end);
    while (p < end) {
        const char* le = lines.next();
        const char* const line_begin = p;
        p = le == end ? end : le + 1;
        if (le > line_begin && le[-1] == '\r') --le;
        if (le == line_begin) {  // stanza separator; runs of them are one separator
            finish(st, kind, out);
            continue;
        }
        const char c = *line_begin;
        if (is_blank(c)) continue;  // continuation: only first lines matter here
        // Every other line (even one without a colon, which dpkg refuses)
        // keeps the stanza's other fields.
        st.any = true;
        std::string_view value;
        switch (wanted_field(std::string_view(line_begin, static_cast<std::size_t>(le - line_begin)), value)) {
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
    key_index index(base.size() + later.size());
    auto at = [&](std::uint32_t i) -> const record& { return base[i]; };
    // A key repeated within `base` maps to its last occurrence.
    for (std::size_t i = 0; i < base.size(); ++i) *index.find(base[i], at) = static_cast<std::uint32_t>(i + 1);
    for (auto& r : later) {
        std::uint32_t* slot = index.find(r, at);
        if (*slot != 0) {
            base[*slot - 1] = std::move(r);
        } else {
            base.push_back(std::move(r));
            *slot = static_cast<std::uint32_t>(base.size());
        }
    }
}

std::vector<software_item> installed_items(std::vector<record>&& records) {
    // Within one file a later stanza for the same (package, arch) also wins,
    // at the place of the first one.
    std::vector<std::uint32_t> winner;  // position -> index of the winning record
    winner.reserve(records.size());
    // dpkg writes its status file sorted by (package, architecture): keys in
    // strictly increasing order cannot repeat, and checking that is cheaper
    // than hashing them.
    auto before = [](const record& a, const record& b) {
        const int c = a.package.compare(b.package);
        return c < 0 || (c == 0 && a.architecture < b.architecture);
    };
    std::size_t ordered = 1;
    while (ordered < records.size() && before(records[ordered - 1], records[ordered])) ++ordered;
    if (ordered >= records.size()) {
        for (std::size_t i = 0; i < records.size(); ++i) winner.push_back(static_cast<std::uint32_t>(i));
    } else {
        key_index index(records.size());
        auto at = [&](std::uint32_t pos) -> const record& { return records[winner[pos]]; };
        for (std::size_t i = 0; i < records.size(); ++i) {
            std::uint32_t* slot = index.find(records[i], at);
            if (*slot != 0) {
                winner[*slot - 1] = static_cast<std::uint32_t>(i);
            } else {
                winner.push_back(static_cast<std::uint32_t>(i));
                *slot = static_cast<std::uint32_t>(winner.size());
            }
        }
    }
    std::vector<software_item> items;
    items.reserve(winner.size());
    for (const std::uint32_t i : winner) {
        record& r = records[i];
        if (!counts_as_installed(r.state)) continue;
        software_item& s = items.emplace_back();
        s.package = std::move(r.package);
        s.version = std::move(r.version);
        s.summary = std::move(r.summary);
        s.architecture = std::move(r.architecture);
        s.state = state_word(r.state);
    }
    return items;
}

}  // namespace stocktake::dpkg
