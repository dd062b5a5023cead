#pragma once
// Pure parser for dpkg's database files (deb822 stanzas), as dpkg reads them.
// No I/O, no Asio: bytes in, records out. See tests/unit/dpkg_parser_test.cpp.

#include "stocktake/core/inventory.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake::dpkg {

// dpkg's package states (the third word of Status), in dpkg's order.
enum class pkg_state {
    not_installed,
    config_files,
    half_installed,
    unpacked,
    half_configured,
    triggers_awaited,
    triggers_pending,
    installed,
};

// True when dpkg considers the package's files on disk (SPEC: "installed").
constexpr bool counts_as_installed(pkg_state s) noexcept {
    return s != pkg_state::not_installed && s != pkg_state::config_files;
}
std::string_view state_word(pkg_state s) noexcept;

struct record {
    std::string package;
    std::string architecture;
    std::string version;
    std::string summary;  // first line of Description, trimmed
    pkg_state state = pkg_state::not_installed;
};

enum class file_kind {
    status,    // /var/lib/dpkg/status and updates/NNNN: Status is required
    status_d,  // distroless status.d/<pkg>: no Status field means installed
};

struct parse_result {
    std::vector<record> records;  // every usable stanza, any state, in file order
    std::size_t stanzas = 0;      // stanzas seen (usable or not)
    std::size_t skipped = 0;      // stanzas without Package, Version or a valid Status
    std::vector<std::string> problems;  // the first few reasons for skips, with stanza numbers
};

// Parses one deb822 file the way dpkg does: field names are
// case-insensitive, only the first colon separates name and value, lines
// starting with a space or tab continue the previous field, CRLF and a
// missing final newline are accepted, runs of blank lines separate stanzas
// and fields may come in any order. Malformed stanzas are skipped and
// counted, never fatal.
parse_result parse(std::string_view data, file_kind kind = file_kind::status);

// Applies `later` on top of `base` the way dpkg replays its journal: the
// last stanza for a (package, architecture) wins, whatever its state.
void overlay(std::vector<record>& base, std::vector<record>&& later);

// The installed records as inventory items (state kept as its word).
std::vector<software_item> installed_items(std::vector<record>&& records);

}  // namespace stocktake::dpkg
