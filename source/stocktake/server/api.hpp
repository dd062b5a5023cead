#pragma once
// The HTTP API's pure parts (SPEC.md, "Server API"): routes, error bodies,
// entity tags and RFC 9110 preconditions, inventory validation and the
// JSON the GETs return. No Asio, no I/O.
//
// Entity tags. The ETag of a client's inventory is the SHA-256 (lower-case
// hex, in double quotes) of the inventory text as stored: the request body
// after decoding, parsed, validated and serialised again compactly by
// Boost.JSON (keys in the order received). An agent that sends its object
// as compact Boost.JSON text can therefore compute the tag itself; any
// agent can remember the ETag of its last 204.
//
// Conditional requests (RFC 9110 section 13):
//   HEAD/GET /api/v1/clients/{id}/inventory  If-None-Match matching -> 304
//   PUT  If-Match: "<tag>" | *        -> 412 unless the stored tag matches
//   PUT  If-None-Match: "<tag>" | *   -> 412 if the stored tag matches
// If-Match uses the strong comparison, If-None-Match the weak one; a
// failed precondition never changes anything. HEAD with If-None-Match
// answers 304 when the server has exactly that inventory text.
//
// Unchanged inventories (what the agent does). Two collections of the same
// host differ in `refreshed` even when nothing else changed, so the agent
// keeps the *content hash* of the last acknowledged inventory:
// stocktake::content_hash (core/digest.hpp), SHA-256 of the canonical JSON
// without `refreshed`. When a new inventory has the same content hash it
// sends
//   PATCH /api/v1/clients/{id}/inventory
//   {"refreshed": "<RFC 3339>", "content_sha256": "<hex>"}
// and the server, if the stored inventory has that content hash, replaces
// only `refreshed` (204 with the new ETag); otherwise 412 (content differs)
// or 404 (nothing stored), and the agent PUTs the whole inventory.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake::server {

struct route {
    enum kind_t { not_found, bad_id, clients, client, client_inventory } kind = not_found;
    std::string id;  // percent-decoded client id
};

// Parses an origin-form request target ("/api/v1/clients/web-01/inventory?x").
route parse_route(std::string_view target);

// A client id: 1 to 256 bytes of valid UTF-8 without control characters or '/'.
bool valid_client_id(std::string_view id);

// {"errors":[{"code":...,"title":...}]}
std::string error_body(std::string_view code, std::string_view title);

struct entity_tag {
    std::string opaque;  // without quotes
    bool weak = false;
};

// An If-Match / If-None-Match header: absent, "*", or a list of tags.
struct etag_condition {
    bool present = false;
    bool any = false;
    std::vector<entity_tag> tags;
};

// Parses the header value; nullopt when malformed.
std::optional<etag_condition> parse_etag_condition(std::string_view value);

// "\"<hex>\"" for a stored inventory's hex digest.
std::string quote_etag(std::string_view hex);

enum class precondition { proceed, not_modified, failed };

// RFC 9110 section 13.2.2 for our resources (no Last-Modified). `current`
// is the stored inventory's hex digest, nullopt when there is none.
precondition evaluate_preconditions(bool get_or_head, const etag_condition& if_match,
                                    const etag_condition& if_none_match, const std::optional<std::string>& current);

// Parses and validates an inventory body. On success fills `stored` with
// the text to store, `etag_hex` with its SHA-256 and `content_hash` with
// stocktake::content_hash of it; else `why` names the offending key (or
// says the body is not JSON).
bool validate_inventory_body(std::string_view body, std::string& stored, std::string& etag_hex, std::string& content_hash,
                             std::string& why);

// The PATCH body {"refreshed": ..., "content_sha256": ...}.
struct refresh_patch {
    std::string refreshed;
    std::string content_sha256;
};
bool parse_refresh_patch(std::string_view body, refresh_patch& out, std::string& why);

// `stored` with its `refreshed` replaced (key order kept); `etag_hex` of the result.
bool with_refreshed(std::string_view stored, std::string_view refreshed, std::string& out, std::string& etag_hex,
                    std::string& why);

// {"id":...,"name":...,"inventory":<stored text>}
std::string client_object(std::string_view id, std::string_view name, std::string_view inventory);

// A client name from the X-Stocktake-Client-Name header: trimmed, made
// valid UTF-8, control characters dropped, at most 256 bytes. Empty -> nullopt.
std::optional<std::string> clean_client_name(std::string_view header);

}  // namespace stocktake::server
