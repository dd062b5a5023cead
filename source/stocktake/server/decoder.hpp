#pragma once
// Request body decoding with a limit on the *decoded* size: a gzip bomb
// fails as soon as its output passes the limit, having used at most the
// limit plus one 64 KiB block of memory. No Asio here: bytes in, bytes out.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stocktake::server {

enum class content_coding { identity, gzip, deflate };

// Content-Encoding header value (absent = identity). Only one coding is
// accepted; nullopt for anything else (the caller answers 415).
std::optional<content_coding> parse_content_encoding(std::string_view value);

class body_decoder {
public:
    enum class status { ok, too_large, corrupt };

    body_decoder(content_coding coding, std::size_t limit);
    ~body_decoder();
    body_decoder(const body_decoder&) = delete;
    body_decoder& operator=(const body_decoder&) = delete;

    // Decodes `data` and appends to output(). After a failure, every later
    // call returns the same failure.
    status feed(std::string_view data);
    // The body is complete: a compressed stream must have reached its end.
    status finish();

    std::string& output() noexcept { return out_; }
    const std::string& problem() const noexcept { return problem_; }
    std::size_t limit() const noexcept { return limit_; }

private:
    struct zstate;
    status fail(status s, std::string why);

    content_coding coding_;
    std::size_t limit_;
    std::string out_;
    std::string problem_;
    status failed_ = status::ok;
    std::unique_ptr<zstate> z_;
};

}  // namespace stocktake::server
