#pragma once
// Digests shared by agent and server.

#include "stocktake/core/inventory.hpp"

#include <string>
#include <string_view>

namespace stocktake {

// Lower-case hex SHA-256 of bytes.
std::string sha256_hex(std::string_view data);

// The inventory's content hash: SHA-256 of its canonical compact JSON
// without `refreshed`, so two collections that found the same software,
// containers and errors hash equal. Agent and server compute it with this
// one function (after inventory_from_json on the server side).
std::string content_hash(const inventory& inv);

}  // namespace stocktake
