#include "stocktake/core/inventory_json.hpp"

#include "stocktake/core/time.hpp"
#include "stocktake/core/utf8.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace stocktake {
namespace json = boost::json;
namespace {

json::string clean(std::string_view s) {
    if (utf8::is_valid(s)) return json::string(s);
    return json::string(utf8::sanitize(s));
}

void pretty_to(std::string& out, const json::value& v, int depth) {
    auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
    switch (v.kind()) {
        case json::kind::object: {
            const auto& o = v.get_object();
            if (o.empty()) {
                out += "{}";
                return;
            }
            out += "{\n";
            bool first = true;
            for (const auto& kv : o) {
                if (!first) out += ",\n";
                first = false;
                indent(depth + 1);
                out += json::serialize(json::string(kv.key()));
                out += ": ";
                pretty_to(out, kv.value(), depth + 1);
            }
            out += '\n';
            indent(depth);
            out += '}';
            return;
        }
        case json::kind::array: {
            const auto& a = v.get_array();
            if (a.empty()) {
                out += "[]";
                return;
            }
            out += "[\n";
            bool first = true;
            for (const auto& e : a) {
                if (!first) out += ",\n";
                first = false;
                indent(depth + 1);
                pretty_to(out, e, depth + 1);
            }
            out += '\n';
            indent(depth);
            out += ']';
            return;
        }
        default: out += json::serialize(v); return;
    }
}

// Reads obj[key] as a string; missing keys are an error only if `required`.
bool get_string(const json::object& o, std::string_view key, std::string& dst, bool required, std::string_view where,
                std::string& why) {
    const auto* p = o.if_contains(key);
    if (!p || p->is_null()) {
        if (!required) return true;
        why = std::string(where) + "." + std::string(key) + ": missing";
        return false;
    }
    if (!p->is_string()) {
        why = std::string(where) + "." + std::string(key) + ": expected a string";
        return false;
    }
    dst.assign(p->get_string().data(), p->get_string().size());
    return true;
}


// Compact JSON text of the rport object, byte for byte what
// json::serialize(to_json(inv)) gives (same key order, same escapes:
// \" \\ \b \f \n \r \t, other controls as \u00xx, nothing else), written
// straight into one buffer instead of building a DOM first: for a large
// inventory the DOM cost more than everything else together.
class compact_writer {
public:
    explicit compact_writer(std::size_t estimate) { buf_.reserve(estimate); }

    void raw(std::string_view s) { buf_.append(s); }
    void raw(char c) { buf_.push_back(c); }

    // A JSON string of `s` made valid UTF-8 (as clean() does).
    void str(std::string_view s) {
        const std::size_t start = buf_.size();
        buf_.push_back('"');
        const char* p = s.data();
        const char* const end = p + s.size();
        bool checked = false;
        for (;;) {
            const char* run = p;
            p = plain_run(p, end);
            buf_.append(run, static_cast<std::size_t>(p - run));
            if (p == end) break;
            const auto c = static_cast<unsigned char>(*p++);
            if (c < 0x80) {
                escape(c);
                continue;
            }
            // The first non-ASCII byte: is the whole string valid UTF-8?
            if (!checked) {
                if (!utf8::is_valid(s)) {
                    buf_.resize(start);
                    buf_.push_back('"');
                    str_valid(utf8::sanitize(s));
                    return;
                }
                checked = true;
            }
            buf_.push_back(static_cast<char>(c));
        }
        buf_.push_back('"');
    }
    // "key":"value"
    void member(std::string_view quoted_key_colon, std::string_view value) {
        buf_.append(quoted_key_colon);
        str(value);
    }

    std::string take() && {
        // Room for the caller's final newline without a reallocation.
        if (buf_.size() == buf_.capacity()) buf_.reserve(buf_.size() + 1);
        return std::move(buf_);
    }

private:
    // The end of the run from `p` of bytes written as they are: ASCII
    // other than controls, '"' and '\\'. Eight bytes at a time.
    static const char* plain_run(const char* p, const char* end) noexcept {
        constexpr std::uint64_t ones = 0x0101010101010101ull;
        constexpr std::uint64_t highs = 0x8080808080808080ull;
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            const std::uint64_t quote = w ^ (ones * '"');
            const std::uint64_t bslash = w ^ (ones * '\\');
            // Exact "any byte is special" test (bit tricks for a zero byte
            // and a byte < 0x20, which are exact while no high bit is set,
            // and a high bit set is special anyway).
            const std::uint64_t hit =
                (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | w) & highs;
            if (hit) break;
            p += 8;
        }
        while (p < end) {
            const auto c = static_cast<unsigned char>(*p);
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
            ++p;
        }
        return p;
    }

    // `s` is valid UTF-8: only escapes to do.
    void str_valid(std::string_view s) {
        const char* p = s.data();
        const char* const end = p + s.size();
        for (;;) {
            const char* run = p;
            p = plain_run(p, end);
            buf_.append(run, static_cast<std::size_t>(p - run));
            if (p == end) break;
            const auto c = static_cast<unsigned char>(*p++);
            if (c >= 0x80)
                buf_.push_back(static_cast<char>(c));
            else
                escape(c);
        }
        buf_.push_back('"');
    }

    void escape(unsigned char c) {
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        std::size_t n = 2;
        switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default: {
                static constexpr char hex[] = "0123456789abcdef";
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            }
        }
        buf_.append(esc, n);
    }

    std::string buf_;
};

std::string compact_rport(const inventory& inv) {
    std::size_t estimate = 128;
    for (const auto& s : inv.software)
        estimate += 90 + s.package.size() + s.version.size() + s.summary.size() + s.architecture.size() + s.state.size();
    for (const auto& c : inv.containers)
        estimate += 110 + c.container_id.size() + c.container_name.size() + c.status.size() + c.image_id.size() +
                    c.image_name.size() + c.state.size();
    for (const auto& e : inv.errors) estimate += 40 + e.source.size() + e.code.size() + e.message.size();
    compact_writer w(estimate);
    w.member("{\"refreshed\":", format_rfc3339_nanos(inv.refreshed));
    w.raw(",\"software_inventory\":[");
    bool first = true;
    for (const auto& s : inv.software) {
        w.raw(first ? "{" : ",{");
        first = false;
        w.member("\"package\":", s.package);
        w.member(",\"version\":", s.version);
        w.member(",\"summary\":", s.summary);
        if (!s.architecture.empty()) w.member(",\"architecture\":", s.architecture);
        if (!s.state.empty()) w.member(",\"state\":", s.state);
        w.raw('}');
    }
    w.raw("],\"container_inventory\":[");
    first = true;
    for (const auto& c : inv.containers) {
        w.raw(first ? "{" : ",{");
        first = false;
        w.member("\"container_id\":", c.container_id);
        w.member(",\"container_name\":", c.container_name);
        w.member(",\"status\":", c.status);
        w.member(",\"image_id\":", c.image_id);
        w.member(",\"image_name\":", c.image_name);
        w.member(",\"state\":", c.state);
        w.raw('}');
    }
    w.raw(']');
    if (!inv.errors.empty()) {
        w.raw(",\"errors\":[");
        first = true;
        for (const auto& e : inv.errors) {
            w.raw(first ? "{" : ",{");
            first = false;
            w.member("\"source\":", e.source);
            w.member(",\"code\":", e.code);
            w.member(",\"message\":", e.message);
            w.raw('}');
        }
        w.raw(']');
    }
    w.raw('}');
    return std::move(w).take();
}

}  // namespace

json::object to_json(const inventory& inv) {
    json::object root;
    root["refreshed"] = format_rfc3339_nanos(inv.refreshed);
    json::array sw;
    sw.reserve(inv.software.size());
    for (const auto& s : inv.software) {
        json::object e;
        e.reserve(5);
        e.emplace("package", clean(s.package));
        e.emplace("version", clean(s.version));
        e.emplace("summary", clean(s.summary));
        if (!s.architecture.empty()) e.emplace("architecture", clean(s.architecture));
        if (!s.state.empty()) e.emplace("state", clean(s.state));
        sw.emplace_back(std::move(e));
    }
    root["software_inventory"] = std::move(sw);
    json::array ct;
    ct.reserve(inv.containers.size());
    for (const auto& c : inv.containers) {
        json::object e;
        e.reserve(6);
        e.emplace("container_id", clean(c.container_id));
        e.emplace("container_name", clean(c.container_name));
        e.emplace("status", clean(c.status));
        e.emplace("image_id", clean(c.image_id));
        e.emplace("image_name", clean(c.image_name));
        e.emplace("state", clean(c.state));
        ct.emplace_back(std::move(e));
    }
    root["container_inventory"] = std::move(ct);
    if (!inv.errors.empty()) {
        json::array errs;
        for (const auto& e : inv.errors) {
            errs.emplace_back(json::object{{"source", clean(e.source)}, {"code", clean(e.code)}, {"message", clean(e.message)}});
        }
        root["errors"] = std::move(errs);
    }
    return root;
}

json::object to_cyclonedx(const inventory& inv) {
    json::array components;
    for (const auto& s : inv.software) {
        json::object c;
        c["type"] = "application";
        c["name"] = clean(s.package);
        c["version"] = clean(s.version);
        if (!s.summary.empty()) c["description"] = clean(s.summary);
        if (!s.architecture.empty()) {
            // Package URL as the purl spec writes Debian packages.
            std::string purl = "pkg:deb/" + s.package + "@" + s.version + "?arch=" + s.architecture;
            c["purl"] = clean(purl);
            c["bom-ref"] = clean(purl);
        } else {
            c["bom-ref"] = clean("program:" + s.package + "@" + s.version);
            if (!s.summary.empty()) c["publisher"] = clean(s.summary);
        }
        components.emplace_back(std::move(c));
    }
    for (const auto& k : inv.containers) {
        json::object c;
        c["type"] = "container";
        c["name"] = clean(k.container_name.empty() ? k.container_id : k.container_name);
        c["version"] = clean(k.image_id);
        c["bom-ref"] = clean("container:" + k.container_id);
        c["description"] = clean(k.image_name);
        c["properties"] = json::array{
            json::object{{"name", "stocktake:container_id"}, {"value", clean(k.container_id)}},
            json::object{{"name", "stocktake:image_name"}, {"value", clean(k.image_name)}},
            json::object{{"name", "stocktake:status"}, {"value", clean(k.status)}},
            json::object{{"name", "stocktake:state"}, {"value", clean(k.state)}},
        };
        components.emplace_back(std::move(c));
    }
    json::object bom;
    bom["bomFormat"] = "CycloneDX";
    bom["specVersion"] = "1.5";
    bom["version"] = 1;
    bom["metadata"] = json::object{
        {"timestamp", format_rfc3339_nanos(inv.refreshed)},
        {"tools", json::array{json::object{{"vendor", "Stocktake"}, {"name", "stocktake"}}}},
    };
    bom["components"] = std::move(components);
    return bom;
}

std::string pretty_print(const json::value& v) {
    std::string out;
    pretty_to(out, v, 0);
    return out;
}

std::string to_json_text(const inventory& inv, output_format fmt, bool pretty) {
    if (fmt == output_format::rport && !pretty) return compact_rport(inv);
    json::value v = fmt == output_format::cyclonedx ? json::value(to_cyclonedx(inv)) : json::value(to_json(inv));
    return pretty ? pretty_print(v) : json::serialize(v);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
    auto num = [&](std::size_t pos, std::size_t len, int& out) {
        if (pos + len > s.size()) return false;
        auto r = std::from_chars(s.data() + pos, s.data() + pos + len, out);
        return r.ec == std::errc{} && r.ptr == s.data() + pos + len;
    };
    int y, mo, d, h, mi, se;
    if (s.size() < 20 || !num(0, 4, y) || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' || !num(8, 2, d) ||
        (s[10] != 'T' && s[10] != 't') || !num(11, 2, h) || s[13] != ':' || !num(14, 2, mi) || s[16] != ':' ||
        !num(17, 2, se))
        return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || se > 60) return std::nullopt;
    std::size_t i = 19;
    long long frac_ns = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        int digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (digits < 9) {
                frac_ns = frac_ns * 10 + (s[i] - '0');
                ++digits;
            }
            ++i;
        }
        if (digits == 0) return std::nullopt;
        while (digits++ < 9) frac_ns *= 10;
    }
    int offset_min = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (!num(i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !num(i + 4, 2, om)) return std::nullopt;
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} - minutes{offset_min};
    return time_point_cast<system_clock::duration>(tp + nanoseconds{frac_ns});
}

std::optional<inventory> inventory_from_json(const json::value& v, std::string& why) {
    const auto* root = v.if_object();
    if (!root) {
        why = "inventory: expected a JSON object";
        return std::nullopt;
    }
    inventory inv;
    std::string refreshed;
    if (!get_string(*root, "refreshed", refreshed, true, "inventory", why)) return std::nullopt;
    auto tp = parse_rfc3339(refreshed);
    if (!tp) {
        why = "inventory.refreshed: not an RFC 3339 time: " + refreshed;
        return std::nullopt;
    }
    inv.refreshed = *tp;
    auto array_of = [&](std::string_view key, const json::array*& out) {
        const auto* p = root->if_contains(key);
        if (!p || p->is_null()) {
            out = nullptr;
            return true;
        }
        out = p->if_array();
        if (!out) why = "inventory." + std::string(key) + ": expected an array";
        return out != nullptr;
    };
    const json::array* sw = nullptr;
    const json::array* ct = nullptr;
    const json::array* er = nullptr;
    if (!array_of("software_inventory", sw) || !array_of("container_inventory", ct) || !array_of("errors", er))
        return std::nullopt;
    if (sw) {
        inv.software.reserve(sw->size());
        for (std::size_t i = 0; i < sw->size(); ++i) {
            const std::string where = "software_inventory[" + std::to_string(i) + "]";
            const auto* o = (*sw)[i].if_object();
            if (!o) {
                why = where + ": expected an object";
                return std::nullopt;
            }
            software_item s;
            if (!get_string(*o, "package", s.package, true, where, why) ||
                !get_string(*o, "version", s.version, true, where, why) ||
                !get_string(*o, "summary", s.summary, true, where, why) ||
                !get_string(*o, "architecture", s.architecture, false, where, why) ||
                !get_string(*o, "state", s.state, false, where, why))
                return std::nullopt;
            inv.software.push_back(std::move(s));
        }
    }
    if (ct) {
        inv.containers.reserve(ct->size());
        for (std::size_t i = 0; i < ct->size(); ++i) {
            const std::string where = "container_inventory[" + std::to_string(i) + "]";
            const auto* o = (*ct)[i].if_object();
            if (!o) {
                why = where + ": expected an object";
                return std::nullopt;
            }
            container_item c;
            if (!get_string(*o, "container_id", c.container_id, true, where, why) ||
                !get_string(*o, "container_name", c.container_name, true, where, why) ||
                !get_string(*o, "status", c.status, true, where, why) ||
                !get_string(*o, "image_id", c.image_id, true, where, why) ||
                !get_string(*o, "image_name", c.image_name, true, where, why) ||
                !get_string(*o, "state", c.state, false, where, why))
                return std::nullopt;
            inv.containers.push_back(std::move(c));
        }
    }
    if (er) {
        for (std::size_t i = 0; i < er->size(); ++i) {
            const std::string where = "errors[" + std::to_string(i) + "]";
            const auto* o = (*er)[i].if_object();
            if (!o) {
                why = where + ": expected an object";
                return std::nullopt;
            }
            source_error e;
            if (!get_string(*o, "source", e.source, true, where, why) || !get_string(*o, "code", e.code, true, where, why) ||
                !get_string(*o, "message", e.message, false, where, why))
                return std::nullopt;
            inv.errors.push_back(std::move(e));
        }
    }
    return inv;
}

}  // namespace stocktake
