#include "stocktake/agent/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace stocktake {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

struct http_client::tls_state {
    ssl::context ctx{ssl::context::tls_client};
};

http_client::http_client(asio::any_io_executor ex, server_url url, const std::optional<std::string>& ca_file,
                         asio::any_io_executor /*pool: WinHTTP only*/)
    : ex_(std::move(ex)), url_(std::move(url)) {
    if (!url_.tls) return;
    tls_ = std::make_unique<tls_state>();
    tls_->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_->ctx.set_default_verify_paths();
    if (ca_file) {
        boost::system::error_code ec;
        tls_->ctx.load_verify_file(*ca_file, ec);
        if (ec) throw std::runtime_error("client.ca_file: cannot load " + *ca_file + ": " + ec.message());
    }
    tls_->ctx.set_verify_mode(ssl::verify_peer);
}

http_client::~http_client() = default;

namespace {

std::string tls_failure_text(const boost::system::error_code& ec) {
    std::string m = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
        const auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
            m += "; the server's certificate is not trusted: set [client] ca_file to the CA that signed it";
    }
    return m;
}

template <class Stream>
asio::awaitable<http_result> exchange(Stream& stream, http::request<http::string_body>& req, const server_url& url,
                                      std::chrono::milliseconds timeout) {
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    if (wec == asio::error::operation_aborted) throw boost::system::system_error(wec);
    if (wec) throw transport_error("sending to " + url.text + " failed: " + wec.message());
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 20);
    lowest.expires_after(timeout);
    auto [rec, rn] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
    if (rec == asio::error::operation_aborted) throw boost::system::system_error(rec);
    if (rec == beast::error::timeout)
        throw transport_error(url.text + " did not answer within " + std::to_string(timeout.count()) + " ms");
    if (rec) throw transport_error("reading the answer of " + url.text + " failed: " + rec.message());
    auto res = parser.release();
    http_result out;
    out.status = res.result_int();
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::etag); it != res.end()) out.etag = std::string(it->value());
    co_return out;
}

}  // namespace

asio::awaitable<http_result> http_client::request(std::string method, std::string target,
                                                  std::vector<std::pair<std::string, std::string>> headers,
                                                  std::string body, std::chrono::milliseconds timeout) {
    using namespace asio::experimental::awaitable_operators;
    http::request<http::string_body> req{http::string_to_verb(method), url_.base_path + target, 11};
    req.set(http::field::host, url_.host + ":" + url_.port);
    req.set(http::field::user_agent, "stocktake/0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.keep_alive(false);
    req.prepare_payload();

    asio::ip::tcp::resolver resolver(ex_);
    asio::steady_timer timer(ex_, timeout);
    auto race = resolver.async_resolve(url_.host, url_.port, asio::as_tuple(asio::use_awaitable)) ||
                timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto r = co_await std::move(race);
    if (r.index() == 1) {
        auto [tec] = std::get<1>(r);
        if (tec == asio::error::operation_aborted) throw boost::system::system_error(tec);
        throw transport_error("resolving " + url_.host + " for " + url_.text + " timed out");
    }
    auto [rec, results] = std::get<0>(r);
    if (rec == asio::error::operation_aborted) throw boost::system::system_error(rec);
    if (rec) throw transport_error("cannot resolve " + url_.host + " (" + url_.text + "): " + rec.message());

    beast::tcp_stream tcp(ex_);
    tcp.expires_after(timeout);
    auto [cec, ep] = co_await tcp.async_connect(results, asio::as_tuple(asio::use_awaitable));
    if (cec == asio::error::operation_aborted) throw boost::system::system_error(cec);
    if (cec) throw transport_error("cannot connect to " + url_.text + ": " + cec.message());
    if (!tls_) co_return co_await exchange(tcp, req, url_, timeout);

    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), tls_->ctx);
    // SNI; OpenSSL's macro hides a C cast, hence the direct call.
    if (!SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(url_.host.c_str())))
        throw transport_error("TLS: cannot set the server name " + url_.host);
    stream.set_verify_callback(ssl::host_name_verification(url_.host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (hec == asio::error::operation_aborted) throw boost::system::system_error(hec);
    if (hec) throw transport_error("TLS handshake with " + url_.text + " failed: " + tls_failure_text(hec));
    auto res = co_await exchange(stream, req, url_, timeout);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{2});
    auto [sec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    (void)sec;  // many servers just close: not an error for us
    co_return res;
}

}  // namespace stocktake
