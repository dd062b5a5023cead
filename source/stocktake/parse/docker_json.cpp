#include "stocktake/parse/docker_json.hpp"

#include "stocktake/core/utf8.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace stocktake::docker {
namespace json = boost::json;
namespace {

bool starts_with_icase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// Engines normally send valid UTF-8, but one bad byte in one container's
// name must not lose the whole list: accept it here, sanitise every string.
json::value parse_lenient(std::string_view body, boost::system::error_code& ec) {
    json::parse_options opt;
    opt.allow_invalid_utf8 = true;
    return json::parse(body, ec, {}, opt);
}

std::string get_str(const json::object& o, std::string_view key) {
    if (const auto* p = o.if_contains(key); p && p->is_string()) return utf8::sanitize(p->get_string());
    return {};
}

}  // namespace

std::optional<api_version> parse_api_version(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == 'v')) s.remove_prefix(1);
    api_version v;
    const char* b = s.data();
    const char* e = b + s.size();
    auto r = std::from_chars(b, e, v.major);
    if (r.ec != std::errc{} || r.ptr == e || *r.ptr != '.') return std::nullopt;
    auto r2 = std::from_chars(r.ptr + 1, e, v.minor);
    if (r2.ec != std::errc{} || v.major < 1) return std::nullopt;
    return v;
}

std::string canonical_name(std::span<const std::string> names) {
    for (const auto& n : names) {
        std::string_view v = n;
        while (!v.empty() && v.front() == '/') v.remove_prefix(1);
        if (v.empty() || v.find('/') != std::string_view::npos) continue;
        std::string out;
        out.reserve(v.size() + 1);
        out.push_back('/');
        out.append(v);
        return out;
    }
    return {};
}

std::string state_from_status(std::string_view status) {
    // Docker's own wording (container/state.go): "Up ... (Paused)",
    // "Restarting (N) ...", "Removal In Progress", "Dead", "Created",
    // "Exited (N) ...", and "Up ..." for running. Only the first word
    // counts ("Upgraded" is not "Up").
    while (!status.empty() && status.front() == ' ') status.remove_prefix(1);
    const std::string_view word = status.substr(0, status.find_first_of(" ("));
    auto is = [&](std::string_view w) { return word.size() == w.size() && starts_with_icase(word, w); };
    if (is("up")) return status.find("(Paused)") != std::string_view::npos ? "paused" : "running";
    if (is("restarting")) return "restarting";
    if (is("removal")) return "removing";
    if (is("dead")) return "dead";
    if (is("created")) return "created";
    if (is("exited")) return "exited";
    if (is("paused")) return "paused";
    return {};
}

std::optional<page> parse_containers(std::string_view body, std::string& why) {
    boost::system::error_code ec;
    json::value v = parse_lenient(body, ec);
    if (ec) {
        why = "a body that is not valid JSON (" + ec.message() + ")";
        return std::nullopt;
    }
    const auto* arr = v.if_array();
    if (!arr) {
        why = "JSON that is not an array of containers";
        return std::nullopt;
    }
    page out;
    out.containers.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto* o = (*arr)[i].if_object();
        if (!o) {
            out.problems.push_back("entry " + std::to_string(i) + " is not an object");
            continue;
        }
        container_item c;
        c.container_id = get_str(*o, "Id");
        if (c.container_id.empty()) {
            out.problems.push_back("entry " + std::to_string(i) + " has no Id");
            continue;
        }
        std::vector<std::string> names;
        if (const auto* n = o->if_contains("Names"); n && n->is_array()) {
            for (const auto& e : n->get_array())
                if (e.is_string()) names.emplace_back(utf8::sanitize(e.get_string()));
        }
        c.container_name = canonical_name(names);
        c.status = get_str(*o, "Status");
        c.image_id = get_str(*o, "ImageID");
        c.image_name = get_str(*o, "Image");
        c.state = get_str(*o, "State");
        if (c.state.empty()) c.state = state_from_status(c.status);
        out.containers.push_back(std::move(c));
    }
    return out;
}

std::string error_message(std::string_view body) {
    std::string text;
    boost::system::error_code ec;
    json::value v = parse_lenient(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* m = v.get_object().if_contains("message"); m && m->is_string()) text = m->get_string();
    }
    if (text.empty()) text.assign(body);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    constexpr std::size_t max = 300;
    if (text.size() > max) {
        text.resize(max);
        text += "...";
    }
    for (auto& c : text)
        if (c == '\n' || c == '\r') c = ' ';
    return utf8::sanitize(text);
}

std::optional<api_version> version_from_error(std::string_view m) {
    for (std::string_view marker : {"Maximum supported API version is ", "server API version: "}) {
        if (auto p = m.find(marker); p != std::string_view::npos) {
            if (auto v = parse_api_version(m.substr(p + marker.size()))) return v;
        }
    }
    return std::nullopt;
}

std::optional<api_version> version_from_version_body(std::string_view body) {
    boost::system::error_code ec;
    json::value v = parse_lenient(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto* p = v.get_object().if_contains("ApiVersion");
    if (!p || !p->is_string()) return std::nullopt;
    return parse_api_version(p->get_string());
}

}  // namespace stocktake::docker
