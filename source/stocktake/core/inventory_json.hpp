#pragma once
// JSON mapping of the inventory (SPEC.md, "The inventory object").
// Kept apart from inventory.hpp so that Boost.JSON stays out of headers
// that do not need it.

#include "stocktake/core/inventory.hpp"

#include <boost/json/fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace stocktake {

enum class output_format { rport, cyclonedx };

// The RPort-shaped object. Every string is sanitised to valid UTF-8; the
// order of entries is the inventory's (call sort_inventory first).
boost::json::object to_json(const inventory& inv);

// Serialise in the given format; `pretty` indents with two spaces.
std::string to_json_text(const inventory& inv, output_format fmt = output_format::rport, bool pretty = false);

// CycloneDX 1.5 bill of materials describing the same inventory.
boost::json::object to_cyclonedx(const inventory& inv);

// Human-friendly JSON text of any value (two-space indent, stable).
std::string pretty_print(const boost::json::value& v);

// Reads an inventory object back (server side, tests). Checks every
// required key and type; on failure returns nullopt and sets `why` to a
// message naming the offending key, e.g. "software_inventory[3].version: expected a string".
std::optional<inventory> inventory_from_json(const boost::json::value& v, std::string& why);

// Parses RFC 3339 as written by format_rfc3339_nanos (and with fewer digits
// or an offset). Returns nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s);

}  // namespace stocktake
