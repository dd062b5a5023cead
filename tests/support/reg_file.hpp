#pragma once
// A reader for regedit export files (.reg), enough to turn the shared
// registry cases into the records the registry collector would read, so
// the rules run on the cases on Linux too. Handles "Windows Registry
// Editor Version 5.00" (UTF-16LE with BOM, or UTF-8) and REGEDIT4 files:
// [key] sections, "name"= / @= values as "string", dword:, hex:, hex(N):
// (with backslash continuation lines), and "-" deletions.

#include "stocktake/parse/registry_rules.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake::test {

struct reg_value {
    std::string name;  // "" for the default value (@)
    std::uint32_t type = 0;
    std::vector<std::byte> data;  // as the registry stores it (strings UTF-16LE, NUL-terminated)
};

struct reg_key {
    std::string path;  // e.g. HKEY_LOCAL_MACHINE\SOFTWARE\...
    std::vector<reg_value> values;
};

// Throws std::runtime_error naming the line on malformed input.
std::vector<reg_key> parse_reg(std::string_view file_bytes);

// The Uninstall subkeys among `keys`, mapped as the collector maps them:
// HKLM\SOFTWARE\...\Uninstall\X is the 64-bit view, HKLM\SOFTWARE\WOW6432Node\...
// the 32-bit view, HKEY_USERS\<SID>\Software\...\Uninstall\X a user hive.
std::vector<registry::uninstall_record> uninstall_records(const std::vector<reg_key>& keys);

}  // namespace stocktake::test
