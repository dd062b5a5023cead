// The registry collector against a real registry (Windows, or Wine): keys
// made under HKCU\Software\StocktakeTest-<pid> for what the shared .reg
// cases do not cover: odd value types, non-ASCII text, REG_EXPAND_SZ,
// missing keys, access denied on one hive, and the merge with the rules.
// (scripts/test-windows runs stocktake.exe on the shared cases.)

#include "stocktake/agent/refresh.hpp"
#include "stocktake/collect/registry_source.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <windows.h>

using namespace stocktake;
using namespace stocktake::test;

namespace {

// A scratch key under HKCU, removed with everything below it at the end.
class scratch_key {
public:
    scratch_key() {
        name_ = L"Software\\StocktakeTest-" + std::to_wstring(::GetCurrentProcessId()) + L"-" + std::to_wstring(counter_++);
        ::RegDeleteTreeW(HKEY_CURRENT_USER, name_.c_str());
    }
    ~scratch_key() {
        for (HKEY k : keys_) ::RegCloseKey(k);
        ::RegDeleteTreeW(HKEY_CURRENT_USER, name_.c_str());
    }
    scratch_key(const scratch_key&) = delete;
    scratch_key& operator=(const scratch_key&) = delete;

    registry_location location(const std::string& sub = "Uninstall") const {
        std::string path;
        for (wchar_t c : name_) path.push_back(static_cast<char>(c));  // ASCII
        return {registry_location::root::current_user, path + "\\" + sub, registry::hive_view::user, "HKCU test " + sub};
    }

    HKEY create(const std::wstring& sub, SECURITY_ATTRIBUTES* sa = nullptr) {
        HKEY k = nullptr;
        const std::wstring p = name_ + L"\\" + sub;
        const LSTATUS st = ::RegCreateKeyExW(HKEY_CURRENT_USER, p.c_str(), 0, nullptr, 0, KEY_ALL_ACCESS, sa, &k, nullptr);
        BOOST_TEST_REQUIRE(st == ERROR_SUCCESS, "RegCreateKeyExW failed: " << st);
        keys_.push_back(k);
        return k;
    }

private:
    std::wstring name_;
    std::vector<HKEY> keys_;
    static inline int counter_ = 0;
};

void set_sz(HKEY k, const wchar_t* name, const std::wstring& v, DWORD type = REG_SZ) {
    const auto bytes = static_cast<DWORD>((v.size() + 1) * sizeof(wchar_t));
    BOOST_TEST_REQUIRE(::RegSetValueExW(k, name, 0, type, reinterpret_cast<const BYTE*>(v.c_str()), bytes) == ERROR_SUCCESS);
}

void set_dword(HKEY k, const wchar_t* name, DWORD v) {
    BOOST_TEST_REQUIRE(::RegSetValueExW(k, name, 0, REG_DWORD, reinterpret_cast<const BYTE*>(&v), sizeof v) == ERROR_SUCCESS);
}

void set_bytes(HKEY k, const wchar_t* name, DWORD type, const void* data, DWORD n) {
    BOOST_TEST_REQUIRE(::RegSetValueExW(k, name, 0, type, static_cast<const BYTE*>(data), n) == ERROR_SUCCESS);
}

const registry::uninstall_record* find(const hive_result& h, const std::string& key) {
    auto it = std::find_if(h.records.begin(), h.records.end(), [&](const auto& r) { return r.key == key; });
    return it == h.records.end() ? nullptr : &*it;
}

source_result collect_from(std::vector<registry_location> locs) {
    boost::asio::io_context ioc;
    boost::asio::thread_pool pool(2);
    auto src = make_registry_source(pool.get_executor(), std::move(locs));
    auto r = run_bounded(ioc, src->collect());
    pool.join();
    return r;
}

bool has_item(const source_result& r, const software_item& want) {
    return std::find(r.software.begin(), r.software.end(), want) != r.software.end();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(registry_read)

BOOST_AUTO_TEST_CASE(values_are_read_with_the_wide_api) {
    scratch_key s;
    HKEY a = s.create(L"Uninstall\\Plain");
    set_sz(a, L"DisplayName", L"Plain Program");
    set_sz(a, L"DisplayVersion", L"1.2.3");
    set_sz(a, L"Publisher", L"Plain Inc.", REG_EXPAND_SZ);

    // Non-ASCII in the key name and the values: Cyrillic, CJK, an emoji.
    HKEY b = s.create(L"Uninstall\\\u041f\u0440\u043e\u0433\u0440\u0430\u043c\u043c\u0430");
    set_sz(b, L"DisplayName", L"\u041f\u0440\u043e\u0433\u0440\u0430\u043c\u043c\u0430 \u6f22\u5b57 \U0001F600");
    set_sz(b, L"Publisher", L"\u00c9diteur S\u00e0rl");

    HKEY c = s.create(L"Uninstall\\Fallback");
    set_sz(c, L"DisplayName", L"Fallback Version");
    set_dword(c, L"VersionMajor", 4);
    set_dword(c, L"VersionMinor", 2);

    HKEY d = s.create(L"Uninstall\\Odd");
    const char bin[] = {'x', 0, 'y', 0};
    set_bytes(d, L"DisplayName", REG_BINARY, bin, sizeof bin);  // not text: no name
    set_sz(d, L"VersionMajor", L"9");

    s.create(L"Uninstall\\Empty");  // no values at all

    const auto h = read_uninstall_key(s.location());
    BOOST_TEST(!h.absent);
    BOOST_TEST(!h.error.has_value());
    BOOST_TEST(h.records.size() == 5u);

    const auto* pa = find(h, "Plain");
    BOOST_TEST_REQUIRE(pa);
    BOOST_TEST(pa->display_name.value_or("") == "Plain Program");
    BOOST_TEST(pa->publisher.value_or("") == "Plain Inc.");

    const auto* pb = find(h, "\xD0\x9F\xD1\x80\xD0\xBE\xD0\xB3\xD1\x80\xD0\xB0\xD0\xBC\xD0\xBC\xD0\xB0");
    BOOST_TEST_REQUIRE(pb);
    BOOST_TEST(pb->display_name.value_or("") ==
               "\xD0\x9F\xD1\x80\xD0\xBE\xD0\xB3\xD1\x80\xD0\xB0\xD0\xBC\xD0\xBC\xD0\xB0 \xE6\xBC\xA2\xE5\xAD\x97 \xF0\x9F\x98\x80");
    BOOST_TEST(pb->publisher.value_or("") == "\xC3\x89" "diteur S\xC3\xA0rl");

    const auto* pc = find(h, "Fallback");
    BOOST_TEST_REQUIRE(pc);
    BOOST_TEST(pc->version_major.value_or(0) == 4u);
    BOOST_TEST(pc->version_minor.value_or(0) == 2u);

    const auto* pd = find(h, "Odd");
    BOOST_TEST_REQUIRE(pd);
    BOOST_TEST(!pd->display_name.has_value());
    BOOST_TEST(!pd->version_major.has_value());
}

BOOST_AUTO_TEST_CASE(a_missing_key_is_absent_not_an_error) {
    scratch_key s;
    const auto h = read_uninstall_key(s.location("NoSuchKey"));
    BOOST_TEST(h.absent);
    BOOST_TEST(!h.error.has_value());
}

BOOST_AUTO_TEST_CASE(the_source_applies_the_rules_and_merges_hives) {
    scratch_key s;
    HKEY a = s.create(L"One\\A");
    set_sz(a, L"DisplayName", L"Shared Tool");
    set_sz(a, L"DisplayVersion", L"2.0");
    set_sz(a, L"Publisher", L"Acme");
    HKEY hidden = s.create(L"One\\Hidden");
    set_sz(hidden, L"DisplayName", L"Hidden Component");
    set_dword(hidden, L"SystemComponent", 1);
    HKEY kb = s.create(L"One\\KB1");
    set_sz(kb, L"DisplayName", L"Security Update for Acme (KB1)");
    set_sz(kb, L"ReleaseType", L"Security Update");
    set_sz(kb, L"ParentKeyName", L"A");
    HKEY b = s.create(L"Two\\B");  // the same program in another hive: listed once
    set_sz(b, L"DisplayName", L"Shared Tool");
    set_sz(b, L"DisplayVersion", L"2.0");
    set_sz(b, L"Publisher", L"Acme");
    HKEY c = s.create(L"Two\\C");
    set_sz(c, L"DisplayName", L"Fallback Tool");
    set_dword(c, L"VersionMajor", 3);

    const auto r = collect_from({s.location("One"), s.location("Two"), s.location("Missing")});
    BOOST_TEST((r.outcome == source_outcome::ok));
    BOOST_TEST(r.source == "registry");
    const std::vector<software_item> want = {{"Fallback Tool", "3.0", "", "", ""}, {"Shared Tool", "2.0", "Acme", "", ""}};
    BOOST_TEST((r.software == want));
}

BOOST_AUTO_TEST_CASE(thousands_of_keys) {
    scratch_key s;
    for (int i = 0; i < 3000; ++i) {
        HKEY k = s.create(L"Many\\Program" + std::to_wstring(i));
        set_sz(k, L"DisplayName", L"Program " + std::to_wstring(i));
        set_sz(k, L"DisplayVersion", L"1." + std::to_wstring(i));
    }
    const auto r = collect_from({s.location("Many")});
    BOOST_TEST((r.outcome == source_outcome::ok));
    BOOST_TEST(r.software.size() == 3000u);
    BOOST_TEST(has_item(r, {"Program 2999", "1.2999", "", "", ""}));
}

BOOST_AUTO_TEST_CASE(access_denied_on_one_hive_is_that_hives_error) {
    scratch_key s;
    HKEY ok = s.create(L"Open\\Readable");
    set_sz(ok, L"DisplayName", L"Readable Program");
    // A key whose DACL grants nothing to anyone.
    SECURITY_DESCRIPTOR sd;
    BOOST_TEST_REQUIRE(::InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION));
    ACL acl;
    BOOST_TEST_REQUIRE(::InitializeAcl(&acl, sizeof acl, ACL_REVISION));
    BOOST_TEST_REQUIRE(::SetSecurityDescriptorDacl(&sd, TRUE, &acl, FALSE));
    SECURITY_ATTRIBUTES sa{sizeof sa, &sd, FALSE};
    s.create(L"Locked", &sa);
    HKEY probe = nullptr;
    const std::wstring locked = L"Software\\StocktakeTest-" + std::to_wstring(::GetCurrentProcessId());
    const auto loc = s.location("Locked");
    std::wstring wpath(loc.path.begin(), loc.path.end());
    const LSTATUS st = ::RegOpenKeyExW(HKEY_CURRENT_USER, wpath.c_str(), 0, KEY_READ, &probe);
    if (st == ERROR_SUCCESS) {
        ::RegCloseKey(probe);
        BOOST_TEST_MESSAGE("this registry does not enforce key DACLs (Wine): access denied not testable here");
        return;
    }
    BOOST_TEST_REQUIRE(st == ERROR_ACCESS_DENIED);
    const auto r = collect_from({s.location("Open"), loc});
    BOOST_TEST((r.outcome == source_outcome::partial));
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->code == "permission_denied");
    BOOST_TEST(r.error->message.find("HKCU test Locked") != std::string::npos, r.error->message);
    BOOST_TEST(has_item(r, {"Readable Program", "", "", "", ""}));
}

BOOST_AUTO_TEST_CASE(machine_locations_cover_both_views_and_user_hives) {
    const auto locs = machine_locations();
    BOOST_TEST_REQUIRE(locs.size() >= 3u);
    BOOST_TEST(locs[0].hive == "HKLM (64-bit)");
    BOOST_TEST(locs[1].hive == "HKLM (32-bit)");
    bool user = false;
    for (const auto& l : locs) {
        BOOST_TEST(l.hive.find("_Classes") == std::string::npos);
        user = user || l.view == registry::hive_view::user;
    }
    BOOST_TEST(user, "no user hive under HKEY_USERS");
}

BOOST_AUTO_TEST_SUITE_END()

// Wine does not enforce key DACLs, so the merge of a denied hive with
// readable ones is also checked on made-up hive results.
BOOST_AUTO_TEST_SUITE(registry_merge)

namespace {
hive_result hive(std::string name, std::vector<std::string> programs) {
    hive_result h;
    h.hive = std::move(name);
    for (auto& p : programs) {
        registry::uninstall_record r;
        r.hive = h.hive;
        r.key = p;
        r.display_name = p;
        h.records.push_back(std::move(r));
    }
    return h;
}
hive_result denied(std::string name) {
    hive_result h;
    h.hive = name;
    h.error = failure{errc::permission_denied, "access denied reading the Uninstall key of " + name};
    return h;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_denied_hive_is_an_error_and_the_others_count) {
    hive_result absent;
    absent.hive = "HKLM (32-bit)";
    absent.absent = true;
    auto r = merge_hives({hive("HKLM (64-bit)", {"A", "B"}), absent, denied("HKU\\S-1-5-21-9-1001"), hive("HKU\\S-1-5-21-9-1002", {"A"})});
    BOOST_TEST((r.outcome == source_outcome::partial));
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->source == "registry");
    BOOST_TEST(r.error->code == "permission_denied");
    BOOST_TEST(r.error->message.find("HKU\\S-1-5-21-9-1001") != std::string::npos);
    BOOST_TEST(r.software.size() == 2u);  // A listed once

    // Through the refresh merge: the programs and the error both appear.
    std::vector<source_result> all;
    all.push_back(std::move(r));
    const auto merged = merge_results(std::move(all));
    BOOST_TEST(merged.inv.software.size() == 2u);
    BOOST_TEST_REQUIRE(merged.inv.errors.size() == 1u);
    BOOST_TEST(merged.reports.at(0).outcome == "partial");
}

BOOST_AUTO_TEST_CASE(nothing_readable_is_a_failed_source) {
    hive_result absent;
    absent.hive = "HKLM (32-bit)";
    absent.absent = true;
    const auto r = merge_hives({denied("HKLM (64-bit)"), absent});
    BOOST_TEST((r.outcome == source_outcome::failed));
    BOOST_TEST(r.error.value().code == "permission_denied");
}

BOOST_AUTO_TEST_SUITE_END()
