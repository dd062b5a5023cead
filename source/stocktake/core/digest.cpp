#include "stocktake/core/digest.hpp"

#include "stocktake/core/inventory_json.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <stdexcept>

namespace stocktake {

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}

std::string content_hash(const inventory& inv) {
    auto o = to_json(inv);
    o.erase("refreshed");
    return sha256_hex(boost::json::serialize(o));
}

}  // namespace stocktake
