#pragma once
// `stocktake run --service` under the Windows Service Control Manager, and
// `stocktake install-service` / `uninstall-service`.

#include <functional>
#include <optional>
#include <string>

namespace stocktake::service {

inline constexpr const wchar_t* name = L"stocktake";

// What the service body gets from the SCM glue.
struct control {
    std::function<void()> running;                         // report SERVICE_RUNNING
    std::function<void(std::function<void()>)> on_stop;    // called (on an SCM thread) when asked to stop
};

// Connects to the SCM and runs `body` as the service; returns the process
// exit code. When the process was not started by the SCM, prints an error
// naming the way to start it and returns 1.
int run_dispatcher(std::function<int(control&)> body);

// Registers (or updates) the service to run "<this exe>" run --service
// [--config <absolute config>] as LocalSystem, started automatically and
// restarted after a failure. Prints what it did; returns an exit code.
int install(const std::optional<std::string>& config);

// Stops (waiting up to 30 s) and removes the service.
int uninstall();

}  // namespace stocktake::service
