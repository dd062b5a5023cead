#include "stocktake/config/server_url.hpp"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/url/parse.hpp>

namespace stocktake {
namespace asio = boost::asio;

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    if (host.rfind("127.", 0) == 0) {
        boost::system::error_code ec;
        asio::ip::make_address_v4(std::string(host), ec);
        return !ec;
    }
    return false;
}

bool parse_server_url(std::string_view text, server_url& out, std::string& why) {
    auto r = boost::urls::parse_absolute_uri(text);
    if (!r) {
        why = "'" + std::string(text) + "' is not a URL";
        return false;
    }
    out = server_url{};
    out.text = std::string(text);
    const std::string scheme(r->scheme());
    if (scheme == "https") {
        out.tls = true;
    } else if (scheme == "http") {
        out.tls = false;
    } else {
        why = "'" + std::string(text) + "': the scheme must be https (or http to loopback)";
        return false;
    }
    out.host = std::string(r->host());
    if (out.host.size() > 2 && out.host.front() == '[') out.host = out.host.substr(1, out.host.size() - 2);
    if (out.host.empty()) {
        why = "'" + std::string(text) + "' has no host";
        return false;
    }
    if (!out.tls && !is_loopback_host(out.host)) {
        why = "'" + std::string(text) +
              "': plain http:// is allowed only to a loopback address; use https:// so the inventory and credentials are encrypted";
        return false;
    }
    out.port = r->has_port() ? std::string(r->port()) : (out.tls ? "443" : "80");
    out.base_path = std::string(r->encoded_path());
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
    return true;
}

}  // namespace stocktake
