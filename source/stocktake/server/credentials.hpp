#pragma once
// HTTP Basic credentials: the client auth file (RPort's format) and the
// API users. Passwords are kept as SHA-256 digests and compared in
// constant time.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace stocktake::server {

using sha256_digest = std::array<unsigned char, 32>;

sha256_digest sha256(std::string_view data);
std::string to_hex(const sha256_digest& d);

class credentials {
public:
    // False when `id` is already present.
    bool add(std::string id, std::string_view password);

    // True when `id` exists and `password` is its password. The password
    // comparison takes the same time whatever the input, and an unknown id
    // costs the same digest and comparison as a known one.
    bool check(std::string_view id, std::string_view password) const;

    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }

private:
    std::map<std::string, sha256_digest, std::less<>> entries_;
};

// One "<auth-id>:<password>" per line; '#' comments and blank lines are
// skipped, a trailing CR is dropped, the password is everything after the
// first ':'. A file whose first non-blank character is '{' is read as
// RPort's JSON form instead: {"<auth-id>": "<password>", ...}.
// Errors read "<source>:<line>: <problem>".
bool parse_credentials(std::string_view text, std::string_view source, credentials& out, std::string& error);
bool load_credentials_file(const std::string& path, credentials& out, std::string& error);

struct basic_auth {
    std::string user;
    std::string password;
};

// Decodes an Authorization header value "Basic base64(user:pass)".
std::optional<basic_auth> parse_basic_authorization(std::string_view value);

}  // namespace stocktake::server
