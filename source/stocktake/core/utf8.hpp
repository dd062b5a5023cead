#pragma once
// UTF-8 hygiene for text that comes from the outside world (dpkg files,
// registry values, engine answers): every string we emit is valid UTF-8.

#include <string>
#include <string_view>

namespace stocktake::utf8 {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid(std::string_view s) noexcept;

// Returns `s` with every ill-formed sequence replaced by U+FFFD, following
// the W3C/WHATWG "maximal subpart" practice (one U+FFFD per maximal subpart).
std::string sanitize(std::string_view s);

// In-place variant; a no-op (and no allocation) for valid input.
void sanitize_in_place(std::string& s);

// UTF-16 (as Windows' wide-character API gives it) to UTF-8. A lone
// surrogate becomes U+FFFD; NULs are kept (callers strip terminators).
std::string from_utf16(std::u16string_view s);

}  // namespace stocktake::utf8
