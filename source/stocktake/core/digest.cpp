#include "stocktake/core/digest.hpp"

#include "stocktake/core/inventory_json.hpp"

#include <boost/json.hpp>

#ifdef _WIN32
#include <windows.h>
#include <bcrypt.h>
#else
#include <openssl/evp.h>
#endif

#include <algorithm>
#include <stdexcept>

namespace stocktake {

namespace {
std::string to_hex(const unsigned char* md, std::size_t len) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (std::size_t i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}
}  // namespace

#ifdef _WIN32
// CNG (bcrypt.dll): no OpenSSL in the Windows build.
std::string sha256_hex(std::string_view data) {
    unsigned char md[32];
    BCRYPT_ALG_HANDLE alg = nullptr;
    if (::BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, nullptr, 0) != 0)
        throw std::runtime_error("SHA-256 failed: BCryptOpenAlgorithmProvider");
    BCRYPT_HASH_HANDLE h = nullptr;
    bool ok = ::BCryptCreateHash(alg, &h, nullptr, 0, nullptr, 0, 0) == 0;
    std::size_t off = 0;
    while (ok && off < data.size()) {
        const ULONG n = static_cast<ULONG>(std::min<std::size_t>(data.size() - off, 1u << 30));
        ok = ::BCryptHashData(h, reinterpret_cast<PUCHAR>(const_cast<char*>(data.data() + off)), n, 0) == 0;
        off += n;
    }
    if (ok) ok = ::BCryptFinishHash(h, md, sizeof md, 0) == 0;
    if (h) ::BCryptDestroyHash(h);
    ::BCryptCloseAlgorithmProvider(alg, 0);
    if (!ok) throw std::runtime_error("SHA-256 failed");
    return to_hex(md, sizeof md);
}
#else
std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    return to_hex(md, len);
}
#endif

std::string content_hash(const inventory& inv) {
    auto o = to_json(inv);
    o.erase("refreshed");
    return sha256_hex(boost::json::serialize(o));
}

}  // namespace stocktake
