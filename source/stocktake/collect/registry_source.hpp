#pragma once
// The registry source (Windows only): the programs "Programs and Features"
// shows, from the Uninstall keys of HKLM (64-bit and 32-bit views, each
// read once) and of every user hive loaded under HKEY_USERS. Each hive or
// view is read as its own task on the worker pool; the results are merged
// on the caller's executor and the rules of parse/registry_rules applied.

#include "stocktake/collect/source.hpp"
#include "stocktake/core/error.hpp"
#include "stocktake/parse/registry_rules.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stocktake {

// One Uninstall key to read.
struct registry_location {
    enum class root { local_machine, users, current_user };
    root base = root::local_machine;
    std::string path;  // under `base`, UTF-8, e.g. SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall
    registry::hive_view view = registry::hive_view::machine64;  // machine64/32 open with KEY_WOW64_64KEY/32KEY
    std::string hive;  // for messages: "HKLM (64-bit)", "HKU\<SID>"
};

struct hive_result {
    std::string hive;
    bool absent = false;             // the key does not exist: normal (no WOW6432Node, no per-user programs)
    std::optional<failure> error;    // the key could not be read (access denied: permission_denied)
    std::vector<registry::uninstall_record> records;
    std::vector<std::string> warnings;  // subkeys that could not be read
};

// Blocking: enumerates the subkeys of one Uninstall key with the
// wide-character API and reads their values into records.
hive_result read_uninstall_key(const registry_location& loc);

// Blocking: HKLM in both views, then HKEY_USERS\<SID> for every loaded
// user hive (the <SID>_Classes hives hold no Software key and are skipped).
std::vector<registry_location> machine_locations();

// The source's result from its hives: programs of every hive read (rules
// applied), one "registry" error naming each hive that failed (code
// permission_denied when all of them were denied); outcome partial when
// some hives were read, failed when none could be.
source_result merge_hives(std::vector<hive_result> hives);

// `locations` replaces machine_locations() (tests point it at HKCU).
std::unique_ptr<source> make_registry_source(boost::asio::any_io_executor pool,
                                             std::optional<std::vector<registry_location>> locations = std::nullopt);

}  // namespace stocktake
