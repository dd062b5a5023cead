#pragma once
// Pure rules for Windows' "Programs and Features" list (SPEC.md, Windows
// software_inventory): Uninstall subkeys as plain records in, programs
// out. No registry access, no Asio, so the rules are unit-tested on Linux
// too; collect/registry_source reads the records on Windows.

#include "stocktake/core/inventory.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake::registry {

// Where an Uninstall key was read. Only used for messages and tests: the
// same program in several places is listed once.
enum class hive_view { machine64, machine32, user };

// One Uninstall subkey, as the collector read it. Text is UTF-8 (the
// collector converts from UTF-16 and drops the terminating NULs). A
// value that is absent, or present with a type the rules do not use
// (a DisplayName stored as REG_BINARY, a VersionMajor stored as REG_SZ),
// is nullopt: odd types are ignored, never fatal.
struct uninstall_record {
    hive_view view = hive_view::machine64;
    std::string hive;  // e.g. "HKLM (64-bit)", "HKU\S-1-5-21-...-1001"
    std::string key;   // the subkey's name, e.g. "{3C9A5E10-...}"

    std::optional<std::string> display_name;     // REG_SZ / REG_EXPAND_SZ
    std::optional<std::string> display_version;  // REG_SZ / REG_EXPAND_SZ
    std::optional<std::string> publisher;        // REG_SZ / REG_EXPAND_SZ
    std::optional<std::string> release_type;     // REG_SZ / REG_EXPAND_SZ
    std::optional<std::uint32_t> version_major;  // REG_DWORD
    std::optional<std::uint32_t> version_minor;  // REG_DWORD
    std::optional<std::uint32_t> system_component;  // REG_DWORD
    bool parent_key_name = false;  // a ParentKeyName value exists (any type)

    friend bool operator==(const uninstall_record&, const uninstall_record&) = default;
};

// Registry value types (winnt.h's REG_* numbers), so that the rules need
// no Windows header.
enum : std::uint32_t {
    reg_none = 0,
    reg_sz = 1,
    reg_expand_sz = 2,
    reg_binary = 3,
    reg_dword = 4,
    reg_dword_big_endian = 5,
    reg_multi_sz = 7,
    reg_qword = 11,
};

// Stores one value as RegEnumValueW/RegQueryValueExW gave it: `name` in
// UTF-8 (matched case-insensitively, as the registry does), `type` and the
// raw bytes. Strings (REG_SZ, REG_EXPAND_SZ, left unexpanded) are UTF-16LE,
// cut at the first NUL, converted to UTF-8; a DWORD must be 4 bytes; any
// other type or size leaves the field unset. Values the rules do not use
// are ignored. ParentKeyName counts whatever its type.
void apply_value(uninstall_record& r, std::string_view name, std::uint32_t type, std::span<const std::byte> data);

// UTF-16LE bytes up to the first NUL (an odd last byte is dropped) as UTF-8.
std::string utf16le_text(std::span<const std::byte> data);

// Why a record is not a program (for tests and debug logs).
enum class verdict { program, no_display_name, system_component, has_parent, update };
verdict classify(const uninstall_record& r);

// The item a program record gives: package = DisplayName, version =
// DisplayVersion (else "VersionMajor.VersionMinor" when VersionMajor
// exists, VersionMinor defaulting to 0, else empty), summary = Publisher
// (else empty). Surrounding white space is trimmed and text is made valid
// UTF-8. Only meaningful when classify(r) == verdict::program.
software_item to_item(const uninstall_record& r);

// The programs among `records`: non-programs dropped, identical
// (package, version, summary) listed once, sorted as sort_inventory sorts.
std::vector<software_item> programs(const std::vector<uninstall_record>& records);

}  // namespace stocktake::registry
