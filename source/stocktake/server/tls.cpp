#include "stocktake/server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/error.hpp>

namespace stocktake::server {
namespace {

std::string openssl_reason(const boost::system::error_code& ec) {
    std::string why = ec.message();
    // Asio reports the first queued OpenSSL error; add whatever remains.
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        why += "; ";
        why += buf;
    }
    return why;
}

}  // namespace

std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_file,
                                                                   const std::string& key_file, tls_error& err) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    ERR_clear_error();
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) {
        err = {true, "cannot load the certificate chain from '" + cert_file + "' (PEM expected): " + openssl_reason(ec)};
        return nullptr;
    }
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        err = {false, "the private key in '" + key_file + "' does not match the certificate in '" + cert_file + "'"};
        return nullptr;
    }
    if (ec) {
        err = {false, "cannot load the private key from '" + key_file + "' (unencrypted PEM expected): " + openssl_reason(ec)};
        return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        ERR_clear_error();
        err = {false, "the private key in '" + key_file + "' does not match the certificate in '" + cert_file + "'"};
        return nullptr;
    }
    return ctx;
}

}  // namespace stocktake::server
