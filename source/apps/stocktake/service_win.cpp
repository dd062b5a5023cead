#include "service_win.hpp"

#include "stocktake/core/win32.hpp"

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

namespace stocktake::service {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 1;
constexpr int exit_internal = 3;

struct state {
    SERVICE_STATUS_HANDLE handle = nullptr;
    std::mutex m;
    SERVICE_STATUS status{};
    std::function<void()> stopper;
    bool stop_requested = false;
    std::function<int(control&)> body;
    int exit_code = 0;
};
// Never destroyed: service_main may still be reporting SERVICE_STOPPED on
// its thread while main() returns and static destructors run.
state& g = *new state;

void report_locked(DWORD current, DWORD exit_code = NO_ERROR, DWORD wait_hint_ms = 0) {
    g.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g.status.dwCurrentState = current;
    g.status.dwControlsAccepted = current == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    if (exit_code == ERROR_SERVICE_SPECIFIC_ERROR) {
        g.status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
        g.status.dwServiceSpecificExitCode = static_cast<DWORD>(g.exit_code);
    } else {
        g.status.dwWin32ExitCode = exit_code;
    }
    g.status.dwWaitHint = wait_hint_ms;
    if (current == SERVICE_START_PENDING || current == SERVICE_STOP_PENDING)
        ++g.status.dwCheckPoint;
    else
        g.status.dwCheckPoint = 0;
    if (g.handle) ::SetServiceStatus(g.handle, &g.status);
}

void report(DWORD current, DWORD exit_code = NO_ERROR, DWORD wait_hint_ms = 0) {
    std::lock_guard lk(g.m);
    report_locked(current, exit_code, wait_hint_ms);
}

// A stop may wait for an upload in flight to end (WinHTTP's 30 s timeout).
constexpr DWORD stop_wait_hint_ms = 35'000;

DWORD WINAPI handler(DWORD ctl, DWORD, LPVOID, LPVOID) {
    switch (ctl) {
        case SERVICE_CONTROL_STOP:
        case SERVICE_CONTROL_SHUTDOWN: {
            // Under the lock: the body clears the stopper (under it too)
            // before its io_context goes away.
            std::lock_guard lk(g.m);
            if (g.status.dwCurrentState == SERVICE_STOPPED) return NO_ERROR;
            g.stop_requested = true;
            report_locked(SERVICE_STOP_PENDING, NO_ERROR, stop_wait_hint_ms);
            if (g.stopper) g.stopper();
            return NO_ERROR;
        }
        case SERVICE_CONTROL_INTERROGATE: return NO_ERROR;
        default: return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

void WINAPI service_main(DWORD, LPWSTR*) {
    g.handle = ::RegisterServiceCtrlHandlerExW(name, handler, nullptr);
    if (!g.handle) return;
    report(SERVICE_START_PENDING, NO_ERROR, 10'000);
    control c;
    c.running = [] {
        std::lock_guard lk(g.m);  // one lock: a stop request cannot slip in between
        if (!g.stop_requested) report_locked(SERVICE_RUNNING);
    };
    c.on_stop = [](std::function<void()> f) {
        std::lock_guard lk(g.m);
        g.stopper = std::move(f);
        if (g.stop_requested && g.stopper) g.stopper();  // asked to stop before the agent was up
    };
    int code = exit_internal;
    try {
        code = g.body(c);
    } catch (...) {
    }
    {
        std::lock_guard lk(g.m);
        g.stopper = nullptr;
    }
    std::lock_guard lk(g.m);
    g.exit_code = code;
    report_locked(SERVICE_STOPPED, code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR);
}

std::wstring absolute(const std::wstring& p) {
    const DWORD n = ::GetFullPathNameW(p.c_str(), 0, nullptr, nullptr);
    if (n == 0) return p;
    std::wstring out(n, L'\0');
    const DWORD m = ::GetFullPathNameW(p.c_str(), n, out.data(), nullptr);
    out.resize(m);
    return out;
}

struct sc_handle {
    SC_HANDLE h = nullptr;
    explicit sc_handle(SC_HANDLE x) : h(x) {}
    sc_handle(const sc_handle&) = delete;
    sc_handle& operator=(const sc_handle&) = delete;
    ~sc_handle() {
        if (h) ::CloseServiceHandle(h);
    }
};

int scm_failure(const std::string& what) {
    const DWORD err = ::GetLastError();
    std::cerr << "stocktake: " << what << ": " << win32::error_text(err);
    if (err == ERROR_ACCESS_DENIED) std::cerr << "; run it from an elevated (administrator) prompt";
    std::cerr << "\n";
    return exit_usage;
}

}  // namespace

int run_dispatcher(std::function<int(control&)> body) {
    g.body = std::move(body);
    SERVICE_TABLE_ENTRYW table[] = {{const_cast<LPWSTR>(name), service_main}, {nullptr, nullptr}};
    if (!::StartServiceCtrlDispatcherW(table)) {
        const DWORD err = ::GetLastError();
        if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
            std::cerr << "stocktake: --service is for the Service Control Manager; start the service with 'sc start stocktake' "
                         "(after 'stocktake install-service'), or run 'stocktake run' in a console\n";
            return exit_usage;
        }
        std::cerr << "stocktake: cannot connect to the Service Control Manager: " << win32::error_text(err) << "\n";
        return exit_internal;
    }
    return g.exit_code;
}

int install(const std::optional<std::string>& config) {
    const std::wstring exe = win32::exe_path();
    if (exe.empty()) return scm_failure("cannot find stocktake.exe's own path");
    std::wstring cmd = L"\"" + exe + L"\" run --service";
    if (config) cmd += L" --config \"" + absolute(win32::widen(*config)) + L"\"";
    sc_handle scm(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE));
    if (!scm.h) return scm_failure("cannot open the Service Control Manager");
    bool updated = false;
    sc_handle svc(::CreateServiceW(scm.h, name, L"Stocktake inventory agent", SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                                   SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd.c_str(), nullptr, nullptr, nullptr,
                                   nullptr /* LocalSystem */, nullptr));
    if (!svc.h) {
        if (::GetLastError() != ERROR_SERVICE_EXISTS) return scm_failure("cannot register the service");
        // SERVICE_START too: failure actions that restart need it.
        svc.h = ::OpenServiceW(scm.h, name, SERVICE_CHANGE_CONFIG | SERVICE_QUERY_STATUS | SERVICE_START);
        if (!svc.h) return scm_failure("cannot open the existing service");
        if (!::ChangeServiceConfigW(svc.h, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd.c_str(),
                                    nullptr, nullptr, nullptr, nullptr, nullptr, L"Stocktake inventory agent"))
            return scm_failure("cannot update the existing service");
        updated = true;
    }
    SERVICE_DESCRIPTIONW desc{const_cast<LPWSTR>(L"Collects this host's programs and containers and delivers them to the "
                                                 L"Stocktake server.")};
    ::ChangeServiceConfig2W(svc.h, SERVICE_CONFIG_DESCRIPTION, &desc);
    // Restart after a crash: 10 s, 60 s, then every 5 minutes.
    SC_ACTION actions[3] = {{SC_ACTION_RESTART, 10'000}, {SC_ACTION_RESTART, 60'000}, {SC_ACTION_RESTART, 300'000}};
    SERVICE_FAILURE_ACTIONSW fa{};
    fa.dwResetPeriod = 86'400;
    fa.cActions = 3;
    fa.lpsaActions = actions;
    if (!::ChangeServiceConfig2W(svc.h, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
        std::cerr << "stocktake: warning: cannot set the restart-after-failure actions: " << win32::error_text(::GetLastError())
                  << "\n";
    std::cout << "stocktake: service '" << win32::narrow(name) << "' " << (updated ? "updated" : "installed") << ": "
              << win32::narrow(cmd) << "\n"
              << "stocktake: start it with 'sc start stocktake' (it also starts at boot)"
              << (updated ? "; a running service picks up the change when restarted" : "") << "\n";
    return exit_ok;
}

int uninstall() {
    sc_handle scm(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!scm.h) return scm_failure("cannot open the Service Control Manager");
    sc_handle svc(::OpenServiceW(scm.h, name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE));
    if (!svc.h) {
        if (::GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST) {
            std::cout << "stocktake: the service is not installed; nothing to do\n";
            return exit_ok;
        }
        return scm_failure("cannot open the service");
    }
    SERVICE_STATUS st{};
    if (::QueryServiceStatus(svc.h, &st) && st.dwCurrentState != SERVICE_STOPPED) {
        ::ControlService(svc.h, SERVICE_CONTROL_STOP, &st);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{30};
        while (::QueryServiceStatus(svc.h, &st) && st.dwCurrentState != SERVICE_STOPPED && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds{200});
        if (st.dwCurrentState != SERVICE_STOPPED)
            std::cerr << "stocktake: warning: the service did not stop within 30 s; it is removed once it stops\n";
        else
            std::cout << "stocktake: service stopped\n";
    }
    if (!::DeleteService(svc.h)) {
        if (::GetLastError() == ERROR_SERVICE_MARKED_FOR_DELETE) {
            std::cout << "stocktake: the service is already marked for removal\n";
            return exit_ok;
        }
        return scm_failure("cannot remove the service");
    }
    std::cout << "stocktake: service '" << win32::narrow(name) << "' removed\n";
    return exit_ok;
}

}  // namespace stocktake::service
