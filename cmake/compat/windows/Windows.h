// Some Boost headers write <Windows.h>; mingw-w64 ships <windows.h> and
// Linux disks are case-sensitive.
#pragma once
#include <windows.h>
