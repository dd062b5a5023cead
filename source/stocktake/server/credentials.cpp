#include "stocktake/server/credentials.hpp"

#include "stocktake/collect/file_io.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace stocktake::server {

sha256_digest sha256(std::string_view data) {
    sha256_digest d{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 || len != d.size())
        throw std::runtime_error("SHA-256 failed");
    return d;
}

std::string to_hex(const sha256_digest& d) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(d.size() * 2);
    for (unsigned char c : d) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

bool credentials::add(std::string id, std::string_view password) {
    return entries_.emplace(std::move(id), sha256(password)).second;
}

bool credentials::check(std::string_view id, std::string_view password) const {
    static const sha256_digest dummy = sha256("stocktake: no such auth id");
    const auto given = sha256(password);
    const auto it = entries_.find(id);
    const sha256_digest& want = it == entries_.end() ? dummy : it->second;
    const bool same = CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
    return same && it != entries_.end();
}

namespace {

bool parse_json_form(std::string_view text, std::string_view source, credentials& out, std::string& error) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
        error = std::string(source) + ": not a JSON object of \"<auth-id>\": \"<password>\" (" +
                (ec ? ec.message() : std::string("wrong type")) + ")";
        return false;
    }
    for (const auto& kv : v.get_object()) {
        if (!kv.value().is_string() || kv.key().empty() || kv.value().get_string().empty()) {
            error = std::string(source) + ": " + std::string(kv.key()) + ": expected a non-empty password string";
            return false;
        }
        if (!out.add(std::string(kv.key()), kv.value().get_string())) {
            error = std::string(source) + ": " + std::string(kv.key()) + ": duplicate auth id";
            return false;
        }
    }
    return true;
}

}  // namespace

bool parse_credentials(std::string_view text, std::string_view source, credentials& out, std::string& error) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '{') return parse_json_form(text, source, out, error);
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto content = line.find_first_not_of(" \t");
        if (content == std::string_view::npos || line[content] == '#') continue;
        const auto where = std::string(source) + ":" + std::to_string(line_no) + ": ";
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == line.size()) {
            error = where + "expected '<auth-id>:<password>'";
            return false;
        }
        const std::string_view id = line.substr(0, colon);
        if (id.find_first_of(" \t") != std::string_view::npos) {
            error = where + "the auth id '" + std::string(id) + "' contains blanks";
            return false;
        }
        if (!out.add(std::string(id), line.substr(colon + 1))) {
            error = where + "duplicate auth id '" + std::string(id) + "'";
            return false;
        }
    }
    return true;
}

bool load_credentials_file(const std::string& path, credentials& out, std::string& error) {
    std::string text;
    failure f;
    if (!read_file(path, text, f)) {
        error = f.message;
        return false;
    }
    return parse_credentials(text, path, out, error);
}

std::optional<basic_auth> parse_basic_authorization(std::string_view value) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (value.size() < 6) return std::nullopt;
    for (std::size_t i = 0; i < 5; ++i) {
        const char c = value[i];
        if ((c | 0x20) != "basic"[i]) return std::nullopt;
    }
    if (value[5] != ' ') return std::nullopt;
    value.remove_prefix(6);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty() || value.size() > 4096 || value.size() % 4 != 0) return std::nullopt;
    std::string decoded(value.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                  reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as zero bytes: drop them.
    std::size_t len = static_cast<std::size_t>(n);
    if (value.ends_with("==")) len -= 2;
    else if (value.ends_with("=")) len -= 1;
    decoded.resize(len);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return std::nullopt;
    return basic_auth{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

}  // namespace stocktake::server
