#include "stocktake/collect/registry_source.hpp"

#include "stocktake/collect/pool.hpp"
#include "stocktake/collect/registry_keys.hpp"
#include "stocktake/core/win32.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <span>
#include <tuple>

namespace stocktake {
namespace {

namespace asio = boost::asio;

constexpr const char* uninstall_path = "Microsoft\\Windows\\CurrentVersion\\Uninstall";

using win32::widen;

std::string narrow(const wchar_t* s, std::size_t n) { return win32::narrow(std::wstring_view(s, n)); }

std::string system_text(LSTATUS code) { return win32::error_text(static_cast<DWORD>(code)); }

class key_handle {
public:
    key_handle() = default;
    key_handle(const key_handle&) = delete;
    key_handle& operator=(const key_handle&) = delete;
    ~key_handle() {
        if (h_) ::RegCloseKey(h_);
    }
    HKEY* out() { return &h_; }
    HKEY get() const { return h_; }

private:
    HKEY h_ = nullptr;
};

failure open_failure(const registry_location& loc, LSTATUS st) {
    failure f;
    const std::string where = "the Uninstall key of " + loc.hive;
    if (st == ERROR_ACCESS_DENIED) {
        f.code = errc::permission_denied;
        f.message = "access denied reading " + where + "; run the agent as LocalSystem or as an administrator (the programs of the "
                    "other hives are still listed)";
    } else {
        f.code = errc::unreadable;
        f.message = "cannot read " + where + ": " + system_text(st);
    }
    return f;
}

// Reads every value of one subkey into a record (RegEnumValueW gives the
// name, type and bytes; the rules decide what counts).
LSTATUS read_values(HKEY key, registry::uninstall_record& r) {
    DWORD max_name = 0, max_data = 0;
    LSTATUS st = ::RegQueryInfoKeyW(key, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &max_name, &max_data,
                                    nullptr, nullptr);
    if (st != ERROR_SUCCESS) return st;
    std::wstring name(max_name + 1, L'\0');
    std::vector<std::byte> data(max_data + 2);
    for (DWORD i = 0;; ++i) {
        DWORD name_len = static_cast<DWORD>(name.size());
        DWORD data_len = static_cast<DWORD>(data.size());
        DWORD type = 0;
        st = ::RegEnumValueW(key, i, name.data(), &name_len, nullptr, &type, reinterpret_cast<BYTE*>(data.data()), &data_len);
        if (st == ERROR_NO_MORE_ITEMS) return ERROR_SUCCESS;
        if (st == ERROR_MORE_DATA) {  // a value grew since RegQueryInfoKeyW: grow and retry it
            name.resize(name.size() * 2 + 256);
            data.resize(std::max<std::size_t>(data.size() * 2, data_len + 2));
            --i;
            continue;
        }
        if (st != ERROR_SUCCESS) return st;
        registry::apply_value(r, narrow(name.data(), name_len), type, std::span<const std::byte>(data.data(), data_len));
    }
}

class registry_source final : public source {
public:
    registry_source(asio::any_io_executor pool, std::optional<std::vector<registry_location>> locations)
        : pool_(std::move(pool)), locations_(std::move(locations)) {}
    std::string_view name() const noexcept override { return "registry"; }

    asio::awaitable<source_result> collect() override {
        const auto start = std::chrono::steady_clock::now();
        // Named, not temporaries inside co_await: GCC 12 mishandles those.
        auto list = [given = locations_] { return given ? *given : machine_locations(); };
        auto listed = co_await async_run_on(pool_, std::move(list), asio::as_tuple(asio::use_awaitable));
        if (auto ep = std::get<0>(listed)) std::rethrow_exception(ep);
        const std::vector<registry_location> locations = std::move(std::get<1>(listed));

        struct task {
            registry_location loc;
            hive_result operator()() const { return read_uninstall_key(loc); }
        };
        using op_t = decltype(async_run_on(pool_, task{}, asio::deferred));
        std::vector<op_t> ops;
        ops.reserve(locations.size());
        for (const auto& loc : locations) ops.push_back(async_run_on(pool_, task{loc}, asio::deferred));
        std::vector<hive_result> hives;
        if (!ops.empty()) {
            auto group = asio::experimental::make_parallel_group(std::move(ops));
            auto wait = group.async_wait(asio::experimental::wait_for_all(), asio::deferred);
            auto [order, exceptions, values] = co_await std::move(wait)(asio::use_awaitable);
            for (const auto& ep : exceptions)
                if (ep) std::rethrow_exception(ep);  // cancellation, or broken infrastructure
            hives = std::move(values);
        }
        source_result res = merge_hives(std::move(hives));
        res.elapsed = std::chrono::steady_clock::now() - start;
        co_return res;
    }

private:
    asio::any_io_executor pool_;
    std::optional<std::vector<registry_location>> locations_;
};

}  // namespace

source_result merge_hives(std::vector<hive_result> hives) {
    source_result res;
    res.source = "registry";
    std::vector<registry::uninstall_record> records;
    std::vector<const hive_result*> failed;
    std::size_t read = 0;
    for (auto& h : hives) {
        for (auto& w : h.warnings) res.warnings.push_back(std::move(w));
        if (h.error) {
            failed.push_back(&h);
            continue;
        }
        if (h.absent) continue;
        ++read;
        if (!res.detail.empty()) res.detail += ", ";
        res.detail += h.hive + " (" + std::to_string(h.records.size()) + " keys)";
        std::move(h.records.begin(), h.records.end(), std::back_inserter(records));
    }
    res.software = registry::programs(records);
    if (failed.empty()) return res;
    // One entry for the source, naming every hive that failed.
    bool all_denied = true;
    std::string message;
    for (const auto* h : failed) {
        all_denied = all_denied && h->error->code == errc::permission_denied;
        if (!message.empty()) message += "; ";
        message += h->error->message;
    }
    const errc code = all_denied ? errc::permission_denied : failed.front()->error->code;
    res.error = source_error{"registry", std::string(code_word(code)), message};
    res.outcome = read == 0 ? source_outcome::failed : source_outcome::partial;  // nothing read: the source failed
    if (res.outcome == source_outcome::failed) res.software.clear();
    return res;
}

hive_result read_uninstall_key(const registry_location& loc) {
    hive_result out;
    out.hive = loc.hive;
    const REGSAM view = view_flag(loc.view);
    key_handle key;
    LSTATUS st = ::RegOpenKeyExW(root_key(loc.base), widen(loc.path).c_str(), 0, KEY_READ | view, key.out());
    if (st == ERROR_FILE_NOT_FOUND || st == ERROR_PATH_NOT_FOUND) {
        out.absent = true;
        return out;
    }
    if (st != ERROR_SUCCESS) {
        out.error = open_failure(loc, st);
        return out;
    }
    DWORD max_subkey = 0;
    st = ::RegQueryInfoKeyW(key.get(), nullptr, nullptr, nullptr, nullptr, &max_subkey, nullptr, nullptr, nullptr, nullptr, nullptr,
                            nullptr);
    if (st != ERROR_SUCCESS) {
        out.error = open_failure(loc, st);
        return out;
    }
    std::wstring name(max_subkey + 1, L'\0');
    for (DWORD i = 0;; ++i) {
        DWORD len = static_cast<DWORD>(name.size());
        st = ::RegEnumKeyExW(key.get(), i, name.data(), &len, nullptr, nullptr, nullptr, nullptr);
        if (st == ERROR_NO_MORE_ITEMS) break;
        if (st == ERROR_MORE_DATA) {  // a longer key appeared meanwhile
            name.resize(name.size() * 2 + 256);
            --i;
            continue;
        }
        if (st != ERROR_SUCCESS) {
            out.error = open_failure(loc, st);
            out.records.clear();
            return out;
        }
        registry::uninstall_record r;
        r.view = loc.view;
        r.hive = loc.hive;
        r.key = narrow(name.data(), len);
        key_handle sub;
        LSTATUS sst = ::RegOpenKeyExW(key.get(), name.c_str(), 0, KEY_QUERY_VALUE | view, sub.out());
        if (sst == ERROR_SUCCESS) sst = read_values(sub.get(), r);
        if (sst == ERROR_FILE_NOT_FOUND) continue;  // removed while we listed: an uninstall in progress
        if (sst != ERROR_SUCCESS) {
            out.warnings.push_back(loc.hive + ": skipped Uninstall subkey '" + r.key + "': " + system_text(sst));
            continue;
        }
        out.records.push_back(std::move(r));
    }
    return out;
}

std::vector<registry_location> machine_locations() {
    using registry::hive_view;
    std::vector<registry_location> out;
    const std::string machine = std::string("SOFTWARE\\") + uninstall_path;
    out.push_back({registry_location::root::local_machine, machine, hive_view::machine64, "HKLM (64-bit)"});
    out.push_back({registry_location::root::local_machine, machine, hive_view::machine32, "HKLM (32-bit)"});
    // Every loaded user hive. Listing HKEY_USERS may fail only in odd
    // setups; then HKLM alone is read.
    std::wstring name(256, L'\0');
    for (DWORD i = 0;; ++i) {
        DWORD len = static_cast<DWORD>(name.size());
        const LSTATUS st = ::RegEnumKeyExW(HKEY_USERS, i, name.data(), &len, nullptr, nullptr, nullptr, nullptr);
        if (st == ERROR_MORE_DATA) {
            name.resize(name.size() * 2);
            --i;
            continue;
        }
        if (st != ERROR_SUCCESS) break;
        const std::string sid = narrow(name.data(), len);
        if (sid.ends_with("_Classes")) continue;
        out.push_back({registry_location::root::users, sid + "\\Software\\" + uninstall_path, hive_view::user, "HKU\\" + sid});
    }
    return out;
}

std::unique_ptr<source> make_registry_source(asio::any_io_executor pool, std::optional<std::vector<registry_location>> locations) {
    return std::make_unique<registry_source>(std::move(pool), std::move(locations));
}

HKEY root_key(registry_location::root r) {
    switch (r) {
        case registry_location::root::local_machine: return HKEY_LOCAL_MACHINE;
        case registry_location::root::users: return HKEY_USERS;
        case registry_location::root::current_user: return HKEY_CURRENT_USER;
    }
    return HKEY_LOCAL_MACHINE;
}

REGSAM view_flag(registry::hive_view v) {
    switch (v) {
        case registry::hive_view::machine64: return KEY_WOW64_64KEY;
        case registry::hive_view::machine32: return KEY_WOW64_32KEY;
        case registry::hive_view::user: return 0;
    }
    return 0;
}

}  // namespace stocktake
