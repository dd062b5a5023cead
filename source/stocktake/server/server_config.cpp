#include "stocktake/server/server_config.hpp"

#include "stocktake/collect/file_io.hpp"
#include "stocktake/config/config.hpp"
#include "stocktake/server/credentials.hpp"
#include "stocktake/server/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include <cerrno>
#include <charconv>
#include <filesystem>

#include <unistd.h>

namespace stocktake::server {
namespace {

struct ctx {
    std::string_view source;
    server_config& cfg;
    std::string error;

    bool fail(const toml::node& n, std::string_view key, std::string_view problem) {
        const auto& r = n.source();
        error = std::string(source) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + ": " +
                std::string(key) + ": " + std::string(problem);
        return false;
    }
    void note(const toml::node& n, const std::string& key) {
        cfg.locations[key] = key_location{std::string(source), n.source().begin.line, n.source().begin.column};
    }
};

bool get_string(ctx& c, const toml::node& n, std::string_view key, std::string& out) {
    if (const auto* s = n.as_string()) {
        out = s->get();
        if (out.empty()) return c.fail(n, key, "must not be empty");
        return true;
    }
    return c.fail(n, key, "expected a string");
}

bool get_duration(ctx& c, const toml::node& n, std::string_view key, std::chrono::milliseconds& out) {
    if (const auto* i = n.as_integer()) {  // bare integers are seconds, as in the agent's config
        if (i->get() <= 0) return c.fail(n, key, "must be more than 0");
        out = std::chrono::seconds{i->get()};
        return true;
    }
    if (!n.is_string()) return c.fail(n, key, "expected a duration such as '30s' or '2m'");
    const std::string s = n.as_string()->get();
    const auto d = parse_duration(s);
    if (!d) return c.fail(n, key, "'" + s + "' is not a duration; use units h, m, s, ms (e.g. '30s')");
    if (d->count() == 0) return c.fail(n, key, "must be more than 0");
    out = *d;
    return true;
}

bool load_server(ctx& c, const toml::table& t) {
    auto& s = c.cfg.server;
    for (const auto& [k, v] : t) {
        const std::string_view key = k.str();
        const std::string full = "server." + std::string(key);
        c.note(v, full);
        std::string str;
        if (key == "listen") {
            if (!get_string(c, v, full, str)) return false;
            const auto l = parse_listen(str);
            if (!l) return c.fail(v, full, "'" + str + "' is not \"host:port\" (IPv6: \"[::1]:8443\"; every interface: \":8443\")");
            s.listen = *l;
        } else if (key == "data_dir") {
            if (!get_string(c, v, full, s.data_dir)) return false;
        } else if (key == "tls_cert") {
            if (!get_string(c, v, full, str)) return false;
            s.tls_cert = str;
        } else if (key == "tls_key") {
            if (!get_string(c, v, full, str)) return false;
            s.tls_key = str;
        } else if (key == "client_auth_file") {
            if (!get_string(c, v, full, s.client_auth_file)) return false;
        } else if (key == "max_body") {
            std::optional<std::size_t> n;
            if (const auto* i = v.as_integer()) {
                if (i->get() > 0) n = static_cast<std::size_t>(i->get());
            } else if (const auto* st = v.as_string()) {
                n = parse_size(st->get());
            } else {
                return c.fail(v, full, "expected a size such as \"16MB\", \"512KB\" or a number of bytes");
            }
            if (!n) return c.fail(v, full, "not a size: use a positive number of bytes or \"512KB\", \"16MB\", \"1GB\"");
            if (*n > (std::size_t{4} << 30)) return c.fail(v, full, "must be at most 4GB");
            s.max_body = *n;
        } else if (key == "max_connections") {
            const auto* i = v.as_integer();
            if (!i || i->get() < 1 || i->get() > 1'000'000) return c.fail(v, full, "expected an integer from 1 to 1000000");
            s.max_connections = static_cast<std::size_t>(i->get());
        } else if (key == "idle_timeout") {
            if (!get_duration(c, v, full, s.idle_timeout)) return false;
        } else if (key == "request_timeout") {
            if (!get_duration(c, v, full, s.request_timeout)) return false;
        } else if (key == "shutdown_grace") {
            if (!get_duration(c, v, full, s.shutdown_grace)) return false;
        } else if (key == "log_level") {
            if (!get_string(c, v, full, str)) return false;
            if (str != "debug" && str != "info" && str != "warning" && str != "error")
                return c.fail(v, full, "'" + str + "' is not one of debug, info, warning, error");
            s.log_level = str;
        } else {
            return c.fail(v, full, "unknown key");
        }
    }
    return true;
}

bool load_api(ctx& c, const toml::table& t) {
    auto& a = c.cfg.api;
    for (const auto& [k, v] : t) {
        const std::string_view key = k.str();
        const std::string full = "api." + std::string(key);
        c.note(v, full);
        std::string str;
        if (key == "auth") {
            if (!get_string(c, v, full, str)) return false;
            const auto colon = str.find(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == str.size())
                return c.fail(v, full, "expected \"<user>:<password>\"");
            a.auth = str;
        } else if (key == "auth_file") {
            if (!get_string(c, v, full, str)) return false;
            a.auth_file = str;
        } else {
            return c.fail(v, full, "unknown key");
        }
    }
    if (a.auth && a.auth_file) return c.fail(*t.get("auth_file"), "api.auth_file", "set either api.auth or api.auth_file, not both");
    return true;
}

bool fail_at(const server_config& cfg, const std::string& key, const std::string& problem, std::string& error) {
    error = where(cfg, key) + key + ": " + problem;
    return false;
}

bool readable_file(const server_config& cfg, const std::string& key, const std::string& path, std::string& error) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return fail_at(cfg, key, "'" + path + "' " + (std::filesystem::exists(path, ec) ? "is not a regular file" : "does not exist"), error);
    if (::access(path.c_str(), R_OK) != 0) return fail_at(cfg, key, "cannot read '" + path + "': " + errno_text(errno), error);
    return true;
}

}  // namespace

std::string where(const server_config& cfg, const std::string& key) {
    const auto it = cfg.locations.find(key);
    if (it == cfg.locations.end()) return cfg.path.empty() ? std::string() : cfg.path + ": ";
    return it->second.file + ":" + std::to_string(it->second.line) + ":" + std::to_string(it->second.column) + ": ";
}

std::optional<std::size_t> parse_size(std::string_view s) {
    std::size_t n = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    if (r.ec != std::errc{} || r.ptr == s.data()) return std::nullopt;
    std::string unit(r.ptr, s.data() + s.size());
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    for (auto& ch : unit) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    std::size_t mul = 0;
    if (unit.empty() || unit == "B") mul = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB") mul = std::size_t{1} << 10;
    else if (unit == "M" || unit == "MB" || unit == "MIB") mul = std::size_t{1} << 20;
    else if (unit == "G" || unit == "GB" || unit == "GIB") mul = std::size_t{1} << 30;
    else return std::nullopt;
    if (n == 0 || n > (std::size_t{1} << 40) / mul) return std::nullopt;
    return n * mul;
}

std::optional<listen_address> parse_listen(std::string_view s) {
    std::string_view host, port;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
        boost::system::error_code ec;
        (void)boost::asio::ip::make_address_v6(std::string(host), ec);
        if (ec || host.empty()) return std::nullopt;
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (host == "localhost") host = "127.0.0.1";
        if (!host.empty()) {
            boost::system::error_code ec;
            (void)boost::asio::ip::make_address_v4(std::string(host), ec);
            if (ec) return std::nullopt;  // host names are not resolved: a listener needs an address
        }
    }
    unsigned p = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || r.ec != std::errc{} || r.ptr != port.data() + port.size() || p > 65535) return std::nullopt;
    return listen_address{std::string(host), static_cast<std::uint16_t>(p)};
}

bool parse_server_config(std::string_view text, std::string_view source_name, server_config& out, std::string& error) {
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& r = e.source();
        error = std::string(source_name) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) +
                ": " + std::string(e.description());
        return false;
    }
    ctx c{source_name, out, {}};
    for (const auto& [k, v] : root) {
        const std::string_view key = k.str();
        const auto* t = v.as_table();
        bool ok = true;
        if (key == "server" || key == "api") {
            if (!t)
                ok = c.fail(v, key, "expected a [" + std::string(key) + "] section");
            else
                ok = key == "server" ? load_server(c, *t) : load_api(c, *t);
        } else {
            ok = c.fail(v, key, t ? "unknown section (known: [server], [api])" : "unknown key (keys belong in [server] or [api])");
        }
        if (!ok) {
            error = std::move(c.error);
            return false;
        }
    }
    const auto& s = out.server;
    if (s.tls_cert.has_value() != s.tls_key.has_value()) {
        const std::string set = s.tls_cert ? "server.tls_cert" : "server.tls_key";
        const std::string missing = s.tls_cert ? "server.tls_key" : "server.tls_cert";
        error = where(out, set) + missing + ": must be set together with " + set + " (both unset: plain HTTP)";
        return false;
    }
    if (s.client_auth_file.empty()) {
        error = std::string(source_name) + ": server.client_auth_file: required (one \"<auth-id>:<password>\" per line)";
        return false;
    }
    return true;
}

bool validate_server_config(const server_config& cfg, std::string& error) {
    const auto& s = cfg.server;
    {
        std::error_code ec;
        std::filesystem::create_directories(s.data_dir, ec);
        if (ec) return fail_at(cfg, "server.data_dir", "cannot create '" + s.data_dir + "': " + ec.message(), error);
        if (!std::filesystem::is_directory(s.data_dir, ec))
            return fail_at(cfg, "server.data_dir", "'" + s.data_dir + "' is not a directory", error);
        if (::access(s.data_dir.c_str(), R_OK | W_OK | X_OK) != 0)
            return fail_at(cfg, "server.data_dir", "cannot write to '" + s.data_dir + "': " + errno_text(errno), error);
    }
    {
        if (!readable_file(cfg, "server.client_auth_file", s.client_auth_file, error)) return false;
        credentials creds;
        std::string why;
        if (!load_credentials_file(s.client_auth_file, creds, why))
            return fail_at(cfg, "server.client_auth_file", why, error);
    }
    if (cfg.api.auth_file) {
        if (!readable_file(cfg, "api.auth_file", *cfg.api.auth_file, error)) return false;
        credentials creds;
        std::string why;
        if (!load_credentials_file(*cfg.api.auth_file, creds, why)) return fail_at(cfg, "api.auth_file", why, error);
    }
    if (s.tls_cert) {
        if (!readable_file(cfg, "server.tls_cert", *s.tls_cert, error)) return false;
        if (!readable_file(cfg, "server.tls_key", *s.tls_key, error)) return false;
        tls_error te;
        if (!make_server_tls_context(*s.tls_cert, *s.tls_key, te)) {
            return fail_at(cfg, te.key_is_cert ? "server.tls_cert" : "server.tls_key", te.message, error);
        }
    }
    return true;
}

bool load_server_config_file(const std::string& path, server_config& out, std::string& error) {
    std::string text;
    failure f;
    if (!read_file(path, text, f)) {
        error = f.message;
        return false;
    }
    out.path = path;
    return parse_server_config(text, path, out, error) && validate_server_config(out, error);
}

}  // namespace stocktake::server
