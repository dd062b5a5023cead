#include "support/reg_file.hpp"

#include "stocktake/core/utf8.hpp"

#include <algorithm>
#include <stdexcept>

namespace stocktake::test {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The file's text as UTF-8 (regedit 5 writes UTF-16LE with a BOM).
std::string file_text(std::string_view bytes) {
    if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xFE) {
        std::u16string w;
        for (std::size_t i = 2; i + 1 < bytes.size(); i += 2)
            w.push_back(static_cast<char16_t>(static_cast<unsigned char>(bytes[i]) |
                                              (static_cast<unsigned char>(bytes[i + 1]) << 8)));
        return utf8::from_utf16(w);
    }
    if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
    return std::string(bytes);
}

std::vector<std::byte> utf16le(std::string_view utf8_text) {
    // Enough of a decoder for test input (valid UTF-8).
    std::vector<std::byte> out;
    auto put16 = [&](char16_t c) {
        out.push_back(static_cast<std::byte>(c & 0xFF));
        out.push_back(static_cast<std::byte>(c >> 8));
    };
    for (std::size_t i = 0; i < utf8_text.size();) {
        const auto b = static_cast<unsigned char>(utf8_text[i]);
        char32_t c = 0;
        int n = 0;
        if (b < 0x80) c = b, n = 1;
        else if ((b >> 5) == 6) c = b & 0x1F, n = 2;
        else if ((b >> 4) == 14) c = b & 0x0F, n = 3;
        else c = b & 0x07, n = 4;
        for (int k = 1; k < n && i + static_cast<std::size_t>(k) < utf8_text.size(); ++k)
            c = (c << 6) | (static_cast<unsigned char>(utf8_text[i + static_cast<std::size_t>(k)]) & 0x3F);
        i += static_cast<std::size_t>(n);
        if (c >= 0x10000) {
            c -= 0x10000;
            put16(static_cast<char16_t>(0xD800 + (c >> 10)));
            put16(static_cast<char16_t>(0xDC00 + (c & 0x3FF)));
        } else {
            put16(static_cast<char16_t>(c));
        }
    }
    put16(0);
    return out;
}

// Reads a quoted string starting at s[i] == '"'; returns the index after it.
std::size_t quoted(std::string_view s, std::size_t i, std::string& out, std::size_t line) {
    out.clear();
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            out.push_back(s[++i]);
        } else if (s[i] == '"') {
            return i + 1;
        } else {
            out.push_back(s[i]);
        }
    }
    throw std::runtime_error("unterminated string on line " + std::to_string(line));
}

std::vector<std::byte> hex_bytes(std::string_view s, std::size_t line) {
    std::vector<std::byte> out;
    std::string cur;
    auto flush = [&] {
        if (cur.empty()) return;
        if (cur.size() > 2) throw std::runtime_error("bad hex byte on line " + std::to_string(line));
        out.push_back(static_cast<std::byte>(std::stoul(cur, nullptr, 16)));
        cur.clear();
    };
    for (char c : s) {
        if (c == ',') flush();
        else if (c != ' ' && c != '\t') cur.push_back(c);
    }
    flush();
    return out;
}

}  // namespace

std::vector<reg_key> parse_reg(std::string_view file_bytes) {
    const std::string text = file_text(file_bytes);
    std::vector<std::string> lines;
    {
        std::size_t start = 0;
        while (start <= text.size()) {
            auto end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::string l = text.substr(start, end - start);
            if (!l.empty() && l.back() == '\r') l.pop_back();
            lines.push_back(std::move(l));
            start = end + 1;
        }
    }
    std::vector<reg_key> keys;
    bool skipping = false;  // inside a [-deleted] key
    for (std::size_t n = 0; n < lines.size(); ++n) {
        std::string l = lines[n];
        const std::size_t line = n + 1;
        if (n == 0) {
            if (l != "Windows Registry Editor Version 5.00" && l != "REGEDIT4")
                throw std::runtime_error("not a .reg file (line 1: " + l + ")");
            continue;
        }
        if (l.empty() || l[0] == ';') continue;
        if (l[0] == '[') {
            auto close = l.rfind(']');
            if (close == std::string::npos) throw std::runtime_error("bad key on line " + std::to_string(line));
            std::string path = l.substr(1, close - 1);
            skipping = !path.empty() && path[0] == '-';
            if (!skipping) keys.push_back({path, {}});
            continue;
        }
        if (skipping) continue;
        if (keys.empty()) throw std::runtime_error("value outside a key on line " + std::to_string(line));
        reg_value v;
        std::size_t i = 0;
        if (l[0] == '@') {
            i = 1;
        } else if (l[0] == '"') {
            i = quoted(l, 0, v.name, line);
        } else {
            throw std::runtime_error("bad value on line " + std::to_string(line));
        }
        if (i >= l.size() || l[i] != '=') throw std::runtime_error("missing '=' on line " + std::to_string(line));
        std::string_view rest = std::string_view(l).substr(i + 1);
        auto& vals = keys.back().values;
        auto erase_same = [&] {
            vals.erase(std::remove_if(vals.begin(), vals.end(), [&](const reg_value& o) { return lower(o.name) == lower(v.name); }),
                       vals.end());
        };
        if (rest == "-") {
            erase_same();
            continue;
        }
        if (rest.starts_with("\"")) {
            std::string s;
            quoted(rest, 0, s, line);
            v.type = registry::reg_sz;
            v.data = utf16le(s);
        } else if (rest.starts_with("dword:")) {
            const auto d = static_cast<std::uint32_t>(std::stoul(std::string(rest.substr(6)), nullptr, 16));
            v.type = registry::reg_dword;
            for (int k = 0; k < 4; ++k) v.data.push_back(static_cast<std::byte>((d >> (8 * k)) & 0xFF));
        } else if (rest.starts_with("hex")) {
            std::size_t colon = rest.find(':');
            if (colon == std::string_view::npos) throw std::runtime_error("bad hex value on line " + std::to_string(line));
            v.type = registry::reg_binary;
            if (rest.size() > 3 && rest[3] == '(')
                v.type = static_cast<std::uint32_t>(std::stoul(std::string(rest.substr(4, colon - 5)), nullptr, 16));
            std::string all(rest.substr(colon + 1));
            while (!all.empty() && all.back() == '\\' && n + 1 < lines.size()) {
                all.pop_back();
                all += lines[++n];
            }
            v.data = hex_bytes(all, line);
        } else {
            throw std::runtime_error("unknown value type on line " + std::to_string(line));
        }
        erase_same();
        vals.push_back(std::move(v));
    }
    return keys;
}

std::vector<registry::uninstall_record> uninstall_records(const std::vector<reg_key>& keys) {
    const std::string tail = "\\microsoft\\windows\\currentversion\\uninstall\\";
    std::vector<registry::uninstall_record> out;
    for (const auto& k : keys) {
        const std::string p = lower(k.path);
        registry::uninstall_record r;
        std::string rest;
        if (p.starts_with("hkey_local_machine\\software\\wow6432node" + tail)) {
            r.view = registry::hive_view::machine32;
            r.hive = "HKLM (32-bit)";
            rest = k.path.substr(("hkey_local_machine\\software\\wow6432node" + tail).size());
        } else if (p.starts_with("hkey_local_machine\\software" + tail)) {
            r.view = registry::hive_view::machine64;
            r.hive = "HKLM (64-bit)";
            rest = k.path.substr(("hkey_local_machine\\software" + tail).size());
        } else if (p.starts_with("hkey_users\\")) {
            const auto sid_end = p.find('\\', 11);
            if (sid_end == std::string::npos || !p.substr(sid_end).starts_with("\\software" + tail)) continue;
            r.view = registry::hive_view::user;
            r.hive = "HKU\\" + k.path.substr(11, sid_end - 11);
            rest = k.path.substr(sid_end + ("\\software" + tail).size());
        } else {
            continue;
        }
        if (rest.empty() || rest.find('\\') != std::string::npos) continue;  // only direct subkeys
        r.key = rest;
        for (const auto& v : k.values) registry::apply_value(r, v.name, v.type, v.data);
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace stocktake::test
