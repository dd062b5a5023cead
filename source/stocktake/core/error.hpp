#pragma once
// Stocktake's error codes. Expected failures of a source (missing file,
// permission denied, engine error) travel as a code plus a diagnostic
// string naming the file, key or peer; broken infrastructure throws.

#include <string>
#include <string_view>
#include <system_error>

namespace stocktake {

enum class errc {
    ok = 0,
    absent,             // the source is not installed here: not an error
    permission_denied,  // EACCES on a file or socket
    unreadable,         // I/O error reading a file
    connect_failed,     // engine socket refused/unreachable
    timeout,            // a step took longer than its deadline
    engine_error,       // the engine answered with an error status
    invalid_response,   // the engine's answer is not what the API promises
    connection_lost,    // the peer closed the connection mid-answer
    unsupported,        // e.g. a DOCKER_HOST scheme we do not speak
    cancelled,
};

const std::error_category& stocktake_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// The stable word used as `code` in an inventory's `errors` entry.
std::string_view code_word(errc e) noexcept;

// A failure with its diagnostic: what failed, where, and how to fix it.
struct failure {
    errc code = errc::ok;
    std::string message;
};

}  // namespace stocktake

template <>
struct std::is_error_code_enum<stocktake::errc> : std::true_type {};
