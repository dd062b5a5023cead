#pragma once
// Windows-only: how a registry_location maps to the Win32 registry API,
// shared by the registry source and the agent's registry watch. Include
// from Windows .cpp files only (it pulls in <windows.h>).

#include "stocktake/collect/registry_source.hpp"

#include <windows.h>

namespace stocktake {

// HKEY_LOCAL_MACHINE, HKEY_USERS or HKEY_CURRENT_USER.
HKEY root_key(registry_location::root r);

// KEY_WOW64_64KEY / KEY_WOW64_32KEY for the machine views, 0 for user hives.
REGSAM view_flag(registry::hive_view v);

}  // namespace stocktake
