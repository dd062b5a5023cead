#include "stocktake/server/decoder.hpp"

#include <zlib.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace stocktake::server {

std::optional<content_coding> parse_content_encoding(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    std::string lower(v);
    for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (lower.empty() || lower == "identity") return content_coding::identity;
    if (lower == "gzip" || lower == "x-gzip") return content_coding::gzip;
    if (lower == "deflate") return content_coding::deflate;
    return std::nullopt;
}

struct body_decoder::zstate {
    z_stream s{};
    bool ended = false;  // Z_STREAM_END seen for the current member
    bool any_input = false;
};

body_decoder::body_decoder(content_coding coding, std::size_t limit) : coding_(coding), limit_(limit) {
    if (coding_ == content_coding::identity) return;
    z_ = std::make_unique<zstate>();
    // 16 + MAX_WBITS: gzip wrapper only; MAX_WBITS: zlib wrapper (HTTP "deflate").
    const int bits = coding_ == content_coding::gzip ? 16 + MAX_WBITS : MAX_WBITS;
    if (inflateInit2(&z_->s, bits) != Z_OK) throw std::runtime_error("zlib inflateInit2 failed");
}

body_decoder::~body_decoder() {
    if (z_) inflateEnd(&z_->s);
}

body_decoder::status body_decoder::fail(status s, std::string why) {
    failed_ = s;
    problem_ = std::move(why);
    return s;
}

body_decoder::status body_decoder::feed(std::string_view data) {
    if (failed_ != status::ok) return failed_;
    if (data.empty()) return status::ok;
    if (!z_) {
        if (data.size() > limit_ - out_.size())
            return fail(status::too_large, "the body is larger than max_body (" + std::to_string(limit_) + " bytes)");
        out_.append(data);
        return status::ok;
    }
    auto& s = z_->s;
    z_->any_input = true;
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    s.avail_in = static_cast<uInt>(data.size());
    std::array<char, 65536> block;
    while (s.avail_in > 0) {
        if (z_->ended) {
            // Another gzip member follows (RFC 1952 allows concatenation).
            if (inflateReset(&s) != Z_OK) return fail(status::corrupt, "the compressed body is corrupt");
            z_->ended = false;
        }
        s.next_out = reinterpret_cast<Bytef*>(block.data());
        s.avail_out = static_cast<uInt>(block.size());
        const int rc = inflate(&s, Z_NO_FLUSH);
        const std::size_t produced = block.size() - s.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && produced > 0))
            return fail(status::corrupt, std::string("the compressed body is corrupt (zlib: ") + (s.msg ? s.msg : "error") + ")");
        if (produced > limit_ - out_.size())
            return fail(status::too_large,
                        "the decompressed body is larger than max_body (" + std::to_string(limit_) + " bytes)");
        out_.append(block.data(), produced);
        if (rc == Z_STREAM_END) z_->ended = true;
        if (rc == Z_BUF_ERROR && produced == 0) break;
    }
    return status::ok;
}

body_decoder::status body_decoder::finish() {
    if (failed_ != status::ok) return failed_;
    if (!z_) return status::ok;
    if (!z_->any_input) return fail(status::corrupt, "the body is empty but says it is compressed");
    // Flush what inflate may still hold back.
    auto& s = z_->s;
    std::array<char, 65536> block;
    while (!z_->ended) {
        s.next_in = nullptr;
        s.avail_in = 0;
        s.next_out = reinterpret_cast<Bytef*>(block.data());
        s.avail_out = static_cast<uInt>(block.size());
        const int rc = inflate(&s, Z_FINISH);
        const std::size_t produced = block.size() - s.avail_out;
        if (produced > limit_ - out_.size())
            return fail(status::too_large,
                        "the decompressed body is larger than max_body (" + std::to_string(limit_) + " bytes)");
        out_.append(block.data(), produced);
        if (rc == Z_STREAM_END) {
            z_->ended = true;
        } else if (produced == 0) {
            return fail(status::corrupt, "the compressed body ends before its compressed stream does");
        }
    }
    return status::ok;
}

}  // namespace stocktake::server
