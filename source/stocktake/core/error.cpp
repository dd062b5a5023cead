#include "stocktake/core/error.hpp"

namespace stocktake {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "stocktake"; }
    std::string message(int v) const override { return std::string(code_word(static_cast<errc>(v))); }
};

}  // namespace

const std::error_category& stocktake_category() noexcept {
    static const category c;
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), stocktake_category()}; }

std::string_view code_word(errc e) noexcept {
    switch (e) {
        case errc::ok: return "ok";
        case errc::absent: return "absent";
        case errc::permission_denied: return "permission_denied";
        case errc::unreadable: return "unreadable";
        case errc::connect_failed: return "connect_failed";
        case errc::timeout: return "timeout";
        case errc::engine_error: return "engine_error";
        case errc::invalid_response: return "invalid_response";
        case errc::connection_lost: return "connection_lost";
        case errc::unsupported: return "unsupported";
        case errc::cancelled: return "cancelled";
    }
    return "unknown";
}

}  // namespace stocktake
