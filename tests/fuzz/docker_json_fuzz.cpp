// libFuzzer target: what the Docker Engine answers, and the UTF-8 sanitizer,
// on arbitrary bytes.
//
// Checked beyond "no crash, no ASan/UBSan report":
//   - utf8: sanitize() is always valid UTF-8, leaves valid text alone, is
//     idempotent, and sanitize_in_place() agrees with it;
//   - parse_containers: every container has an Id, every string is valid
//     UTF-8, names are "" or "/name" without a second '/', states are words
//     of the documented set (or whatever the engine said in State);
//   - error_message: one line, valid UTF-8, bounded;
//   - the inventory JSON text of the containers equals Boost.JSON's.

#include "stocktake/core/inventory.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/utf8.hpp"
#include "stocktake/parse/docker_json.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace stocktake;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "docker_json_fuzz: check failed: %s\n", what);
        std::abort();
    }
}

void check_utf8(std::string_view in) {
    const std::string out = utf8::sanitize(in);
    check(utf8::is_valid(out), "sanitize gives valid UTF-8");
    if (utf8::is_valid(in)) check(out == in, "valid text is left alone");
    check(utf8::sanitize(out) == out, "sanitize is idempotent");
    std::string inplace(in);
    utf8::sanitize_in_place(inplace);
    check(inplace == out, "sanitize_in_place == sanitize");
    // At most one U+FFFD (3 bytes) per input byte.
    check(out.size() <= 3 * in.size(), "bounded growth");
}

bool known_state(std::string_view s) {
    for (std::string_view w : {"", "created", "running", "paused", "restarting", "removing", "exited", "dead"})
        if (s == w) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    check_utf8(text);

    std::string why;
    if (auto page = docker::parse_containers(text, why)) {
        inventory inv;
        for (const auto& c : page->containers) {
            check(!c.container_id.empty(), "container has an Id");
            for (const std::string* s : {&c.container_id, &c.container_name, &c.status, &c.image_id, &c.image_name, &c.state})
                check(utf8::is_valid(*s), "container strings are valid UTF-8");
            if (!c.container_name.empty())
                check(c.container_name.front() == '/' && c.container_name.find('/', 1) == std::string::npos &&
                          c.container_name.size() > 1,
                      "name is /name");
            check(known_state(docker::state_from_status(c.status)), "derived states are known words");
            inv.containers.push_back(c);
        }
        sort_inventory(inv);
        check(to_json_text(inv) == boost::json::serialize(to_json(inv)), "to_json_text == serialize(to_json)");
    } else {
        check(!why.empty(), "a refusal says why");
    }

    const std::string msg = docker::error_message(text);
    check(utf8::is_valid(msg), "error_message is valid UTF-8");
    check(msg.find('\n') == std::string::npos && msg.find('\r') == std::string::npos, "error_message is one line");
    check(msg.size() <= 3 * 303, "error_message is bounded");

    if (auto v = docker::version_from_error(text)) check(v->major >= 1, "versions start at 1");
    if (auto v = docker::version_from_version_body(text)) check(v->major >= 1, "versions start at 1");
    if (auto v = docker::parse_api_version(text)) check(v->major >= 1 && v->str().find('.') != std::string::npos, "x.y");

    // canonical_name on names cut from the input.
    std::vector<std::string> names;
    for (std::size_t i = 0; i < size;) {
        std::size_t j = text.find(',', i);
        if (j == std::string_view::npos) j = size;
        names.emplace_back(text.substr(i, j - i));
        i = j + 1;
    }
    const std::string name = docker::canonical_name(names);
    check(name.empty() || (name.front() == '/' && name.size() > 1 && name.find('/', 1) == std::string::npos),
          "canonical_name is /name or empty");
    return 0;
}
