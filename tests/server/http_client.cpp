// GCC 12 at -O3 reports -Wnull-dereference inside Asio's any_executor
// comparisons (system headers, inlined here); not a problem of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif

#include "http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include <stdexcept>

namespace stocktake::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct http_client::impl {
    asio::any_io_executor ex;
    tcp::endpoint ep;
    std::shared_ptr<ssl::context> tls;
    std::string host;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buf;
    std::size_t connects = 0;

    bool open() const { return plain.has_value() || secure.has_value(); }

    asio::awaitable<void> connect(std::chrono::milliseconds timeout) {
        buf.clear();
        beast::tcp_stream tcp_s(ex);
        tcp_s.expires_after(timeout);
        co_await tcp_s.async_connect(ep, asio::use_awaitable);
        tcp_s.socket().set_option(tcp::no_delay(true));
        ++connects;
        if (!tls) {
            plain.emplace(std::move(tcp_s));
            co_return;
        }
        secure.emplace(std::move(tcp_s), *tls);
        auto& s = *secure;
        s.set_verify_mode(ssl::verify_peer);
        s.set_verify_callback(ssl::host_name_verification(host));
        // SSL_set_tlsext_host_name without its C cast.
        if (!SSL_ctrl(s.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, host.data()))
            throw std::runtime_error("cannot set SNI");
        try {
            co_await s.async_handshake(ssl::stream_base::client, asio::use_awaitable);
        } catch (...) {
            secure.reset();
            throw;
        }
    }

    template <class Stream>
    asio::awaitable<http_response> exchange(Stream& s, http_request& req, std::chrono::milliseconds timeout) {
        beast::get_lowest_layer(s).expires_after(timeout);
        co_await http::async_write(s, req, asio::use_awaitable);
        http::response_parser<http::string_body> p;
        p.body_limit(std::uint64_t{1} << 30);
        if (req.method() == http::verb::head) p.skip(true);
        co_await http::async_read(s, buf, p, asio::use_awaitable);
        co_return p.release();
    }

    void close() {
        boost::system::error_code ec;
        if (plain) plain->socket().close(ec);
        if (secure) beast::get_lowest_layer(*secure).socket().close(ec);
        plain.reset();
        secure.reset();
    }
};

http_client::http_client(asio::any_io_executor ex, tcp::endpoint ep, std::shared_ptr<ssl::context> tls, std::string host)
    : impl_(std::make_unique<impl>()) {
    impl_->ex = std::move(ex);
    impl_->ep = ep;
    impl_->tls = std::move(tls);
    impl_->host = std::move(host);
}
http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

bool http_client::connected() const { return impl_->open(); }
void http_client::close() { impl_->close(); }
std::size_t http_client::connects() const { return impl_->connects; }

asio::awaitable<http_response> http_client::request(http_request& req, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    req.set(http::field::host, d.host);
    req.prepare_payload();
    if (!d.open()) co_await d.connect(timeout);
    http_response res;
    try {
        if (d.plain)
            res = co_await d.exchange(*d.plain, req, timeout);
        else
            res = co_await d.exchange(*d.secure, req, timeout);
    } catch (...) {
        d.close();
        throw;
    }
    if (!res.keep_alive()) d.close();
    co_return res;
}

std::string basic_auth(std::string_view up) {
    std::string out(4 * ((up.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(up.data()), static_cast<int>(up.size()));
    out.resize(static_cast<std::size_t>(n));
    return "Basic " + out;
}

http_request make_request(http::verb method, std::string_view target, std::string_view auth, std::string body) {
    http_request req{method, target, 11};
    if (!auth.empty()) req.set(http::field::authorization, basic_auth(auth));
    if (!body.empty() || method == http::verb::put) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    return req;
}

namespace {

struct deflater {
    z_stream s{};
    explicit deflater(int level) {
        if (deflateInit2(&s, level, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
            throw std::runtime_error("deflateInit2 failed");
    }
    ~deflater() { deflateEnd(&s); }
    void run(const char* data, std::size_t n, int flush, std::string& out) {
        s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        s.avail_in = static_cast<uInt>(n);
        char block[65536];
        do {
            s.next_out = reinterpret_cast<Bytef*>(block);
            s.avail_out = sizeof block;
            const int rc = deflate(&s, flush);
            if (rc == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
            out.append(block, sizeof block - s.avail_out);
        } while (s.avail_out == 0 || (flush == Z_FINISH && s.avail_in > 0));
    }
};

}  // namespace

std::string gzip(std::string_view data, int level) {
    deflater d(level);
    std::string out;
    d.run(data.data(), data.size(), Z_FINISH, out);
    return out;
}

std::string gzip_zeros(std::size_t n) {
    deflater d(9);
    std::string out;
    const std::string zeros(1 << 20, '\0');
    while (n > 0) {
        const std::size_t k = std::min(n, zeros.size());
        n -= k;
        d.run(zeros.data(), k, n == 0 ? Z_FINISH : Z_NO_FLUSH, out);
    }
    return out;
}

}  // namespace stocktake::test
