#pragma once
// The server's TLS context: certificate chain plus private key, TLS 1.2 or
// newer. Loading happens at config validation, so a bad file stops startup
// with a message naming the key.

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace stocktake::server {

struct tls_error {
    bool key_is_cert = true;  // which config key the problem belongs to
    std::string message;
};

// Returns nullptr and fills `err` when the certificate or key cannot be
// loaded or do not belong together.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_file,
                                                                   const std::string& key_file, tls_error& err);

}  // namespace stocktake::server
