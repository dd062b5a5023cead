#pragma once
// Pure mapping of Docker Engine API answers to inventory items. No I/O.

#include "stocktake/core/inventory.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stocktake::docker {

// An Engine API version "major.minor", comparable.
struct api_version {
    int major = 0;
    int minor = 0;
    friend auto operator<=>(const api_version&, const api_version&) = default;
    std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
};
std::optional<api_version> parse_api_version(std::string_view s) noexcept;

// The version this client is written against: it never asks for more.
inline constexpr api_version client_api_version{1, 43};

// The container's own name from Docker's `Names`: the entry without a
// second '/' (legacy link aliases look like "/web/db"), with exactly one
// leading '/'; empty when there is none.
std::string canonical_name(std::span<const std::string> names);

// `State` as the API gives it, or derived from the human `Status` text of
// engines older than API 1.23 that give no `State`.
std::string state_from_status(std::string_view status);

struct page {
    std::vector<container_item> containers;
    std::vector<std::string> problems;  // entries we could not read, with their index
};

// Parses a `GET /containers/json` body. Returns nullopt (with `why`, words
// that fit "the engine answered with <why>") when the body is not a JSON
// array; malformed entries are skipped and listed in `problems`.
std::optional<page> parse_containers(std::string_view body, std::string& why);

// The engine's error text from an error response body: JSON {"message":...}
// or plain text, trimmed and shortened to something a log line can hold.
std::string error_message(std::string_view body);

// From "client version 1.43 is too new. Maximum supported API version is 1.22"
// or "client is newer than server (client API version: 1.43, server API version: 1.22)".
std::optional<api_version> version_from_error(std::string_view message);

// From a `GET /version` body: its `ApiVersion`.
std::optional<api_version> version_from_version_body(std::string_view body);

}  // namespace stocktake::docker
