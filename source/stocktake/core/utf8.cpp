#include "stocktake/core/utf8.hpp"

#include <cstdint>

namespace stocktake::utf8 {
namespace {

// Length of the well-formed sequence starting at s[i], or 0 if ill-formed.
// On failure `bad` is set to the length of the maximal subpart to replace.
std::size_t sequence_length(std::string_view s, std::size_t i, std::size_t& bad) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    const std::size_t left = s.size() - i;
    auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        if (k >= left) return false;
        const auto c = static_cast<unsigned char>(s[i + k]);
        return c >= lo && c <= hi;
    };
    bad = 1;
    if (b0 < 0x80) return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
        if (!cont(1, lo, hi)) return 0;
        bad = 2;
        return cont(2) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (!cont(1, lo, hi)) return 0;
        bad = 2;
        if (!cont(2)) return 0;
        bad = 3;
        return cont(3) ? 4 : 0;
    }
    return 0;
}

std::size_t first_invalid(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        // Fast path: runs of ASCII.
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        std::size_t bad = 0;
        const std::size_t n = sequence_length(s, i, bad);
        if (n == 0) return i;
        i += n;
    }
    return s.size();
}

}  // namespace

bool is_valid(std::string_view s) noexcept { return first_invalid(s) == s.size(); }

std::string sanitize(std::string_view s) {
    std::size_t i = first_invalid(s);
    if (i == s.size()) return std::string(s);
    std::string out;
    out.reserve(s.size() + 8);
    out.append(s.substr(0, i));
    while (i < s.size()) {
        std::size_t bad = 0;
        const std::size_t n = sequence_length(s, i, bad);
        if (n == 0) {
            out.append("\xEF\xBF\xBD");
            i += bad;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

void sanitize_in_place(std::string& s) {
    if (first_invalid(s) == s.size()) return;
    s = sanitize(s);
}

std::string from_utf16(std::u16string_view s) {
    std::string out;
    out.reserve(s.size());
    auto put = [&](char32_t c) {
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (c >> 12)));
            out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (c >> 18)));
            out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char32_t c = s[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
            put(0x10000 + ((c - 0xD800) << 10) + (static_cast<char32_t>(s[i + 1]) - 0xDC00));
            ++i;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            put(0xFFFD);
        } else {
            put(c);
        }
    }
    return out;
}

}  // namespace stocktake::utf8
