#include "stocktake/config/config.hpp"

#include "stocktake/collect/file_io.hpp"
#include "stocktake/config/server_url.hpp"

#include <toml++/toml.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#ifdef _WIN32
#include "stocktake/core/win32.hpp"

#include <windows.h>
#include <knownfolders.h>
#include <shlobj.h>
#else
#include <unistd.h>
#endif

namespace stocktake {
namespace {

// RPort sections and [client] keys we accept and ignore, so an existing
// rport.conf loads without error.
const std::set<std::string, std::less<>> rport_sections = {
    "connection", "logging", "remote-commands", "remote-scripts", "monitoring",
    "file-reception", "interpreter-aliases", "filesystem"};

struct ctx {
    std::string_view source;
    std::string error;

    bool fail(const toml::node& n, std::string_view key, std::string_view problem) {
        const auto& r = n.source();
        error = std::string(source) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + ": " +
                std::string(key) + ": " + std::string(problem);
        return false;
    }
};

bool get_string(ctx& c, const toml::node& n, std::string_view key, std::string& out) {
    if (const auto* s = n.as_string()) {
        out = s->get();
        return true;
    }
    return c.fail(n, key, "expected a string");
}

bool get_nonempty(ctx& c, const toml::node& n, std::string_view key, std::string& out) {
    if (!get_string(c, n, key, out)) return false;
    if (out.empty()) return c.fail(n, key, "must not be empty");
    return true;
}

bool get_duration(ctx& c, const toml::node& n, std::string_view key, std::chrono::milliseconds& out) {
    if (const auto* i = n.as_integer()) {  // bare integers are seconds
        if (i->get() < 0) return c.fail(n, key, "must not be negative");
        out = std::chrono::seconds{i->get()};
        return true;
    }
    std::string s;
    if (!n.is_string()) return c.fail(n, key, "expected a duration such as '4h', '30m' or '90s'");
    s = n.as_string()->get();
    auto d = parse_duration(s);
    if (!d) return c.fail(n, key, "'" + s + "' is not a duration; use units h, m, s (e.g. '4h', '1h30m', '0' to disable)");
    out = *d;
    return true;
}

bool check_url(ctx& c, const toml::node& n, std::string_view key, std::string& v) {
    // RPort's `server` is host:port (it tunnels over HTTPS): default to https.
    if (v.find("://") == std::string::npos) v = "https://" + v;
    server_url u;
    std::string why;
    if (!parse_server_url(v, u, why)) return c.fail(n, key, why);
    return true;
}

bool load_client(ctx& c, const toml::table& t, config& out) {
    for (const auto& [k, v] : t) {
        const std::string_view key = k.str();
        const std::string full = "client." + std::string(key);
        if (key == "server") {
            std::string s;
            if (!get_nonempty(c, v, full, s) || !check_url(c, v, full, s)) return false;
            out.client.server = s;
        } else if (key == "auth") {
            std::string s;
            if (!get_string(c, v, full, s)) return false;
            if (s.find(':') == std::string::npos || s.front() == ':')
                return c.fail(v, full, "expected '<auth-id>:<password>'");
            out.client.auth = s;
        } else if (key == "id") {
            if (!get_nonempty(c, v, full, out.client.id)) return false;
        } else if (key == "name") {
            if (!get_string(c, v, full, out.client.name)) return false;
        } else if (key == "inventory_interval") {
            std::chrono::milliseconds d{};
            if (!get_duration(c, v, full, d)) return false;
            if (d.count() != 0 && d < std::chrono::seconds{10}) return c.fail(v, full, "must be 0 (off) or at least 10s");
            out.client.inventory_interval = std::chrono::duration_cast<std::chrono::seconds>(d);
        } else if (key == "data_dir") {
            if (!get_nonempty(c, v, full, out.client.data_dir)) return false;
            if (!is_absolute_path(out.client.data_dir)) {
                const bool escaped = out.client.data_dir.find_first_of("\t\n\r\b\f") != std::string::npos;
                return c.fail(v, full, escaped ? "must be an absolute path (it holds a tab or newline: in double quotes \\t and \\n "
                                                 "are escapes; write Windows paths in single quotes)"
                                               : "must be an absolute path");
            }
        } else if (key == "upload_retry_min" || key == "upload_retry_max") {
            std::chrono::milliseconds d{};
            if (!get_duration(c, v, full, d)) return false;
            if (d.count() == 0) return c.fail(v, full, "must be more than 0");
            (key == "upload_retry_min" ? out.client.retry_min : out.client.retry_max) = d;
        } else if (key == "ca_file") {
            std::string s;
            if (!get_nonempty(c, v, full, s)) return false;
            out.client.ca_file = s;
        }
        // Every other [client] key is RPort's (tags, remotes, fingerprint...): ignored.
    }
    return true;
}

bool load_inventory(ctx& c, const toml::table& t, config& out) {
    for (const auto& [k, v] : t) {
        const std::string_view key = k.str();
        const std::string full = "inventory." + std::string(key);
        auto& inv = out.inventory;
        if (key == "containers") {
            std::string s;
            if (!get_string(c, v, full, s)) return false;
            if (s == "all")
                inv.all_containers = true;
            else if (s == "running")
                inv.all_containers = false;
            else
                return c.fail(v, full, "'" + s + "' is neither \"all\" nor \"running\"");
        } else if (key == "docker_host") {
            std::string s;
            if (!get_nonempty(c, v, full, s)) return false;
            if (!s.starts_with("unix://") && !s.starts_with("tcp://") && !s.starts_with("npipe://"))
                return c.fail(v, full, "'" + s + "' must start with unix://, tcp:// or npipe://");
            inv.docker_host = s;
        } else if (key == "dpkg_admindir") {
            if (!get_nonempty(c, v, full, inv.dpkg_admindir)) return false;
        } else if (key == "sources") {
            const auto* a = v.as_array();
            if (!a) return c.fail(v, full, "expected an array such as [\"dpkg\", \"docker\"]");
            inv.sources.clear();
            for (const auto& e : *a) {
                std::string s;
                if (!get_string(c, e, full, s)) return false;
                if (s != "dpkg" && s != "docker" && s != "registry")
                    return c.fail(e, full, "unknown source '" + s + "' (known: dpkg, docker, registry)");
                inv.sources.push_back(s);
            }
        } else if (key == "source_timeout") {
            if (!get_duration(c, v, full, inv.source_timeout)) return false;
            if (inv.source_timeout.count() == 0) return c.fail(v, full, "must be more than 0");
        } else if (key == "docker_timeout") {
            if (!get_duration(c, v, full, inv.docker_step_timeout)) return false;
            if (inv.docker_step_timeout.count() == 0) return c.fail(v, full, "must be more than 0");
        } else if (key == "watch_quiet") {
            if (!get_duration(c, v, full, inv.watch_quiet)) return false;
        } else if (key == "docker_page_size") {
            const auto* i = v.as_integer();
            if (!i || i->get() < 1 || i->get() > 10000) return c.fail(v, full, "expected an integer from 1 to 10000");
            inv.docker_page_size = static_cast<std::size_t>(i->get());
        } else {
            return c.fail(v, full, "unknown key");
        }
    }
    return true;
}

bool load_control(ctx& c, const toml::table& t, config& out) {
    for (const auto& [k, v] : t) {
        const std::string_view key = k.str();
        const std::string full = "control." + std::string(key);
        if (key == "socket") {
            if (!get_nonempty(c, v, full, out.control.socket)) return false;
#ifdef _WIN32
            if (out.control.socket.rfind("\\\\.\\pipe\\", 0) != 0 || out.control.socket.size() <= 9)
                return c.fail(v, full, "must be a local pipe name such as '\\\\.\\pipe\\stocktake' (a TOML literal string keeps the backslashes)");
#else
            if (out.control.socket.front() != '/') return c.fail(v, full, "must be an absolute path");
#endif
        } else {
            return c.fail(v, full, "unknown key");
        }
    }
    return true;
}

[[maybe_unused]] std::string read_first_line(const char* path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

#ifdef _WIN32
std::string narrow(const wchar_t* s, std::size_t n) {
    return win32::narrow(std::wstring_view(s, n));
}

// HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid (64-bit view), as
// /etc/machine-id is on Linux: stable for the installation.
std::string machine_id() {
    wchar_t buf[128] = {};
    DWORD size = sizeof buf;
    if (::RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography", L"MachineGuid", RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY,
                       nullptr, buf, &size) != ERROR_SUCCESS)
        return {};
    return narrow(buf, ::wcsnlen(buf, sizeof buf / sizeof buf[0]));
}

std::string host_name() {
    wchar_t buf[256] = {};
    DWORD n = sizeof buf / sizeof buf[0];
    if (!::GetComputerNameExW(ComputerNameDnsHostname, buf, &n)) return {};
    return narrow(buf, n);
}

// Windows: stocktake.conf next to stocktake.exe.
std::string default_config() {
    std::wstring path = win32::exe_path();
    if (path.empty()) return "stocktake.conf";
    const auto slash = path.find_last_of(L"\\/");
    path = slash == std::wstring::npos ? std::wstring() : path.substr(0, slash + 1);
    return win32::narrow(path) + "stocktake.conf";
}
#else
std::string machine_id() { return read_first_line("/etc/machine-id"); }

std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) return host;
    return {};
}

std::string default_config() { return std::string(default_config_path); }
#endif

}  // namespace

bool is_absolute_path(std::string_view p) {
#ifdef _WIN32
    // C:\dir, C:/dir, \\server\share
    if (p.size() >= 3 && std::isalpha(static_cast<unsigned char>(p[0])) && p[1] == ':' && (p[2] == '\\' || p[2] == '/'))
        return true;
    return p.size() >= 2 && (p[0] == '\\' || p[0] == '/') && (p[1] == '\\' || p[1] == '/');
#else
    return !p.empty() && p.front() == '/';
#endif
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    if (s == "0") return std::chrono::milliseconds{0};
    if (s.empty()) return std::nullopt;
    long long total_ms = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = i;
        long long n = 0;
        while (j < s.size() && s[j] >= '0' && s[j] <= '9') {
            n = n * 10 + (s[j] - '0');
            if (n > 1'000'000'000LL) return std::nullopt;
            ++j;
        }
        if (j == i) return std::nullopt;
        std::size_t k = j;
        while (k < s.size() && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z'))) ++k;
        const std::string_view unit = s.substr(j, k - j);
        long long mul = 0;
        if (unit == "h") mul = 3'600'000;
        else if (unit == "m") mul = 60'000;
        else if (unit == "s") mul = 1'000;
        else if (unit == "ms") mul = 1;
        else return std::nullopt;
        total_ms += n * mul;
        i = k;
    }
    return std::chrono::milliseconds{total_ms};
}

bool parse_config(std::string_view text, std::string_view source_name, config& out, std::string& error) {
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& r = e.source();
        error = std::string(source_name) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) +
                ": " + std::string(e.description());
        if (e.description().find("escape") != std::string_view::npos)
            error += " (a Windows path? write it in single quotes, 'C:\\Stocktake', or double each backslash)";
        return false;
    }
    ctx c{source_name, {}};
    for (const auto& [k, v] : root) {
        const std::string_view key = k.str();
        const auto* t = v.as_table();
        bool ok = true;
        if (key == "client" || key == "inventory" || key == "control") {
            if (!t) {
                c.fail(v, key, "expected a [" + std::string(key) + "] section");
                ok = false;
            } else if (key == "client") {
                ok = load_client(c, *t, out);
            } else if (key == "inventory") {
                ok = load_inventory(c, *t, out);
            } else {
                ok = load_control(c, *t, out);
            }
        } else if (rport_sections.count(key) == 0) {
            c.fail(v, key, t ? "unknown section" : "unknown key (keys belong in a section such as [client])");
            ok = false;
        }
        if (!ok) {
            error = std::move(c.error);
            return false;
        }
    }
    return true;
}

bool load_config_file(const std::string& path, config& out, std::string& error) {
    std::string text;
    failure f;
    if (!read_file(path, text, f)) {
        error = f.message;
        return false;
    }
    out.path = path;
    return parse_config(text, path, out, error);
}

config_location locate_config(const std::optional<std::string>& cli) {
    if (cli) return {*cli, true};
    if (const char* e = std::getenv("STOCKTAKE_CONFIG"); e && *e) return {e, true};
    return {default_config(), false};
}

bool apply_defaults(config& c, std::string& error) {
    if (const char* a = std::getenv("STOCKTAKE_AUTH"); a && *a) {
        std::string s = a;
        if (s.find(':') == std::string::npos || s.front() == ':') {
            error = "STOCKTAKE_AUTH: expected '<auth-id>:<password>'";
            return false;
        }
        c.client.auth = s;
    }
#ifdef _WIN32
    if (c.client.data_dir == client_config{}.data_dir) {
        // The known folder, not %ProgramData%: a service's environment may
        // say otherwise (Wine gives services C:\users\Public).
        PWSTR pd = nullptr;
        if (::SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &pd) == S_OK && pd && *pd)
            c.client.data_dir = narrow(pd, ::wcslen(pd)) + "\\Stocktake";
        else if (const char* env = std::getenv("PROGRAMDATA"); env && *env)
            c.client.data_dir = std::string(env) + "\\Stocktake";
        if (pd) ::CoTaskMemFree(pd);
    }
#endif
    if (c.client.id.empty()) c.client.id = machine_id();
    if (c.client.name.empty()) c.client.name = host_name();
    if (c.client.server && !c.client.auth) {
        error = "client.auth: required when client.server is set ('<auth-id>:<password>', or STOCKTAKE_AUTH)";
        return false;
    }
    if (c.client.id.empty() && c.client.server) {
#ifdef _WIN32
        error = "client.id: not set and HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid is missing or empty; set id in [client]";
#else
        error = "client.id: not set and /etc/machine-id is missing or empty; set id in [client]";
#endif
        return false;
    }
    return true;
}

}  // namespace stocktake
