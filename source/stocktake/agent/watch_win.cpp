// Change detection on Windows: installers write their Uninstall key, so
// RegNotifyChangeKeyValue on every key the registry source reads tells us
// (one event shared by all registrations); after a quiet period (one
// installer run, one refresh) we call `on_change`.

#include "stocktake/agent/watch.hpp"

#include "stocktake/agent/wait.hpp"

#include "stocktake/collect/registry_keys.hpp"
#include "stocktake/core/win32.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/windows/object_handle.hpp>

#include <vector>

namespace stocktake {
namespace asio = boost::asio;

namespace {

constexpr DWORD notify_filter = REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET;

// The open keys with a pending notification each; closing a key drops its
// registration.
struct registrations {
    std::vector<HKEY> keys;
    registrations() = default;
    registrations(const registrations&) = delete;
    registrations& operator=(const registrations&) = delete;
    ~registrations() { clear(); }
    void clear() {
        for (HKEY k : keys) ::RegCloseKey(k);
        keys.clear();
    }
};

bool watch_key(HKEY root, const std::wstring& path, REGSAM view, bool subtree, DWORD filter, HANDLE event, registrations& regs) {
    HKEY k = nullptr;
    if (::RegOpenKeyExW(root, path.c_str(), 0, KEY_NOTIFY | view, &k) != ERROR_SUCCESS) return false;
    // Thread-agnostic where supported (the registration then survives the
    // calling thread); plain elsewhere (our io thread lives as long).
    LSTATUS st = ::RegNotifyChangeKeyValue(k, subtree, filter | REG_NOTIFY_THREAD_AGNOSTIC, event, TRUE);
    if (st != ERROR_SUCCESS) st = ::RegNotifyChangeKeyValue(k, subtree, filter, event, TRUE);
    if (st != ERROR_SUCCESS) {
        ::RegCloseKey(k);
        return false;
    }
    regs.keys.push_back(k);
    return true;
}

// (Re)opens every location and registers `event` on it: the whole subtree
// of an Uninstall key; for a missing one, its parent's list of subkeys (so
// that the first installer to create it is seen, and the next arm()
// watches the key itself).
std::size_t arm(const std::vector<registry_location>& locs, HANDLE event, registrations& regs) {
    // Closing a key with a pending registration signals the event: clear
    // that. A change in between is not lost: the caller refreshes after
    // the quiet period anyway, reading the registry as it is then.
    regs.clear();
    ::ResetEvent(event);
    for (const auto& loc : locs) {
        const std::wstring path = win32::widen(loc.path);
        if (watch_key(root_key(loc.base), path, view_flag(loc.view), true, notify_filter, event, regs)) continue;
        const auto slash = path.find_last_of(L'\\');
        if (slash != std::wstring::npos)
            watch_key(root_key(loc.base), path.substr(0, slash), view_flag(loc.view), false, REG_NOTIFY_CHANGE_NAME, event, regs);
    }
    return regs.keys.size();
}

// object_handle::async_wait with per-operation cancellation (Asio's
// object_handle service has none of its own: a cancelled coroutine would
// wait on forever). Cancellation cancels every wait on the handle.
template <class Token>
auto async_wait_event(asio::windows::object_handle& h, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code)>(
        [&h](auto handler) {
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.assign([&h](asio::cancellation_type) {
                    boost::system::error_code ignored;
                    h.cancel(ignored);
                });
            auto ex = asio::get_associated_executor(handler, h.get_executor());
            h.async_wait(asio::bind_executor(ex, [handler = std::move(handler)](boost::system::error_code ec) mutable {
                auto s = asio::get_associated_cancellation_slot(handler);
                if (s.is_connected()) s.clear();
                std::move(handler)(ec);
            }));
        },
        token);
}


}  // namespace

asio::awaitable<void> watch_registry(std::chrono::milliseconds quiet, std::function<void()> on_change, logger log,
                                     std::optional<std::vector<registry_location>> locations) {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    const auto locs = locations ? *locations : machine_locations();
    HANDLE ev = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);  // auto-reset
    if (!ev) {
        log.warn("watch: cannot create an event (" + win32::error_text(::GetLastError()) + "); changes are seen on the timer only");
        co_await wait_until_cancelled();
        co_return;
    }
    asio::windows::object_handle event(ex, ev);  // owns and closes it
    registrations regs;
    if (arm(locs, ev, regs) == 0) {
        log.info("watch: no Uninstall key could be watched; changes are seen on the timer only");
        co_await wait_until_cancelled();
        co_return;
    }
    log.debug("watch: watching " + std::to_string(regs.keys.size()) + " Uninstall key(s)");
    asio::steady_timer quiet_timer(ex);
    for (;;) {
        co_await async_wait_event(event, asio::use_awaitable);  // the first change of a burst
        for (;;) {  // ...then until nothing changed for `quiet`
            arm(locs, ev, regs);
            quiet_timer.expires_after(quiet);
            auto race = async_wait_event(event, asio::use_awaitable) || quiet_timer.async_wait(asio::use_awaitable);
            auto r = co_await std::move(race);
            if (r.index() == 1) break;
        }
        log.info("watch: the registry's Uninstall keys changed");
        on_change();
    }
}

}  // namespace stocktake
