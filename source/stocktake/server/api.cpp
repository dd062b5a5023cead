#include "stocktake/server/api.hpp"

#include "stocktake/core/digest.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/utf8.hpp"
#include "stocktake/server/credentials.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace stocktake::server {
namespace json = boost::json;

bool valid_client_id(std::string_view id) {
    if (id.empty() || id.size() > 256 || !utf8::is_valid(id)) return false;
    for (unsigned char c : id)
        if (c < 0x20 || c == 0x7f || c == '/') return false;
    return true;
}

route parse_route(std::string_view target) {
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed) return {};
    std::vector<std::string> segs;
    for (auto s : parsed->segments()) {
        if (segs.size() > 5) return {};
        segs.push_back(std::string(s));
    }
    if (segs.size() < 3 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "clients") return {};
    if (segs.size() == 3) return {route::clients, {}};
    if (segs.size() > 5 || (segs.size() == 5 && segs[4] != "inventory")) return {};
    if (!valid_client_id(segs[3])) return {route::bad_id, {}};
    return {segs.size() == 4 ? route::client : route::client_inventory, std::move(segs[3])};
}

std::string error_body(std::string_view code, std::string_view title) {
    const json::object err{{"code", code}, {"title", utf8::sanitize(title)}};
    return json::serialize(json::object{{"errors", json::array{err}}});
}

std::optional<etag_condition> parse_etag_condition(std::string_view v) {
    etag_condition c;
    c.present = true;
    auto skip_ws = [&] {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == ',')) v.remove_prefix(1);
    };
    skip_ws();
    if (v == "*" || (v.starts_with('*') && v.substr(1).find_first_not_of(" \t") == std::string_view::npos)) {
        c.any = true;
        return c;
    }
    while (!v.empty()) {
        entity_tag t;
        if (v.starts_with("W/")) {
            t.weak = true;
            v.remove_prefix(2);
        }
        if (v.empty() || v.front() != '"') return std::nullopt;
        const auto close = v.find('"', 1);
        if (close == std::string_view::npos) return std::nullopt;
        t.opaque = std::string(v.substr(1, close - 1));
        v.remove_prefix(close + 1);
        c.tags.push_back(std::move(t));
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        if (!v.empty() && v.front() != ',') return std::nullopt;
        skip_ws();
    }
    if (c.tags.empty()) return std::nullopt;
    return c;
}

std::string quote_etag(std::string_view hex) {
    std::string out;  // not "\"" + ... : GCC 12 -O3 warns (-Wrestrict) on that
    out.reserve(hex.size() + 2);
    out.push_back('"');
    out.append(hex);
    out.push_back('"');
    return out;
}

namespace {

bool matches(const etag_condition& c, const std::optional<std::string>& current, bool strong) {
    if (!current) return false;
    if (c.any) return true;
    for (const auto& t : c.tags) {
        if (strong && t.weak) continue;
        if (t.opaque == *current) return true;
    }
    return false;
}

}  // namespace

precondition evaluate_preconditions(bool get_or_head, const etag_condition& if_match, const etag_condition& if_none_match,
                                    const std::optional<std::string>& current) {
    if (if_match.present && !matches(if_match, current, true)) return precondition::failed;
    if (if_none_match.present && matches(if_none_match, current, false))
        return get_or_head ? precondition::not_modified : precondition::failed;
    return precondition::proceed;
}

bool validate_inventory_body(std::string_view body, std::string& stored, std::string& etag_hex, std::string& content,
                             std::string& why) {
    boost::system::error_code ec;
    json::parse_options opt;
    opt.max_depth = 64;
    // One arena for the whole document: no malloc/free per JSON node.
    json::monotonic_resource arena(body.size() * 2 + 4096);
    const json::value v = json::parse(body, ec, &arena, opt);
    if (ec) {
        why = "the body is not JSON: " + ec.message();
        return false;
    }
    const auto inv = inventory_from_json(v, why);
    if (!inv) return false;
    stored = json::serialize(v);
    etag_hex = to_hex(sha256(stored));
    content = content_hash(*inv);
    return true;
}

bool parse_refresh_patch(std::string_view body, refresh_patch& out, std::string& why) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    const auto* o = ec ? nullptr : v.if_object();
    if (!o) {
        why = "the body must be {\"refreshed\": ..., \"content_sha256\": ...}";
        return false;
    }
    for (const auto& kv : *o) {
        if (kv.key() != "refreshed" && kv.key() != "content_sha256") {
            why = std::string(kv.key()) + ": only refreshed and content_sha256 can be patched; PUT the whole inventory";
            return false;
        }
    }
    const auto* r = o->if_contains("refreshed");
    const auto* h = o->if_contains("content_sha256");
    if (!r || !r->is_string() || !parse_rfc3339(r->get_string())) {
        why = "refreshed: expected an RFC 3339 time";
        return false;
    }
    if (!h || !h->is_string() || h->get_string().size() != 64 ||
        h->get_string().find_first_not_of("0123456789abcdef") != json::string::npos) {
        why = "content_sha256: expected 64 lower-case hex digits";
        return false;
    }
    out.refreshed = std::string(r->get_string());
    out.content_sha256 = std::string(h->get_string());
    return true;
}

bool with_refreshed(std::string_view stored, std::string_view refreshed, std::string& out, std::string& etag_hex,
                    std::string& why) {
    boost::system::error_code ec;
    json::monotonic_resource arena(stored.size() * 2 + 4096);
    json::value v = json::parse(stored, ec, &arena);
    if (ec || !v.is_object()) {
        why = "the stored inventory is not a JSON object";
        return false;
    }
    v.get_object()["refreshed"] = refreshed;  // an existing key keeps its place
    out = json::serialize(v);
    etag_hex = to_hex(sha256(out));
    return true;
}

std::string client_object(std::string_view id, std::string_view name, std::string_view inventory) {
    std::string out;
    out.reserve(inventory.size() + id.size() + name.size() + 40);
    out += "{\"id\":";
    out += json::serialize(json::string(id));
    out += ",\"name\":";
    out += json::serialize(json::string(name));
    out += ",\"inventory\":";
    out += inventory;
    out += '}';
    return out;
}

std::optional<std::string> clean_client_name(std::string_view h) {
    std::string s = utf8::sanitize(h);
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s)
        if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
    while (!out.empty() && out.front() == ' ') out.erase(0, 1);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > 256) {
        std::size_t n = 256;  // cut at a character boundary
        while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
        out.resize(n);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

}  // namespace stocktake::server
