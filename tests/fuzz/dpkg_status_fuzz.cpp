// libFuzzer target: the dpkg database reader on arbitrary bytes.
//
// The input is one file read both ways (status and status.d), then cut in
// two "files" (base and journal) to replay one on the other. Checked beyond
// "no crash, no ASan/UBSan report":
//   - counting: every stanza is either a record or a skip; problems are capped;
//   - a file cut right after a blank line parses as its two parts one after
//     the other (a blank line really ends a stanza, nothing leaks across);
//   - records are what the parser promises (a Package, one trimmed line per
//     field, a Version when installed);
//   - overlay and installed_items agree with a plain std::map model of
//     "the last stanza for a (package, architecture) wins";
//   - the inventory JSON text is valid, byte-identical to Boost.JSON's
//     serialisation of to_json(), and reads back as the sanitised inventory.

#include "stocktake/core/inventory.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/utf8.hpp"
#include "stocktake/parse/dpkg_status.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace stocktake;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "dpkg_status_fuzz: check failed: %s\n", what);
        std::abort();
    }
}

bool is_trimmed_line(std::string_view s) {
    for (char c : s)
        if (c == '\n') return false;
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
    return s.empty() || (!space(s.front()) && !space(s.back()));
}

void check_result(const dpkg::parse_result& r) {
    check(r.records.size() + r.skipped == r.stanzas, "records + skipped == stanzas");
    check(r.problems.size() == std::min<std::size_t>(r.skipped, 20), "one problem per skip, at most 20");
    for (const auto& rec : r.records) {
        check(!rec.package.empty(), "record has a package");
        check(is_trimmed_line(rec.package) && is_trimmed_line(rec.architecture) && is_trimmed_line(rec.version) &&
                  is_trimmed_line(rec.summary),
              "fields are single trimmed lines");
        if (dpkg::counts_as_installed(rec.state)) check(!rec.version.empty(), "installed record has a version");
    }
}

using key = std::pair<std::string, std::string>;

// The model: the last record for a key wins, at the place of the first.
std::vector<dpkg::record> model_dedupe(const std::vector<dpkg::record>& recs) {
    std::map<key, std::size_t> at;
    std::vector<dpkg::record> out;
    for (const auto& r : recs) {
        auto [it, fresh] = at.try_emplace(key{r.package, r.architecture}, out.size());
        if (fresh)
            out.push_back(r);
        else
            out[it->second] = r;
    }
    return out;
}

bool same_record(const dpkg::record& a, const dpkg::record& b) {
    return a.package == b.package && a.architecture == b.architecture && a.version == b.version &&
           a.summary == b.summary && a.state == b.state;
}

void check_items(const std::vector<dpkg::record>& input, const std::vector<software_item>& items) {
    std::vector<software_item> want;
    for (const auto& r : model_dedupe(input)) {
        if (!dpkg::counts_as_installed(r.state)) continue;
        want.push_back({r.package, r.version, r.summary, r.architecture, std::string(dpkg::state_word(r.state))});
    }
    check(items == want, "installed_items matches the model");
}

void check_json(std::vector<software_item> items) {
    inventory inv;
    inv.software = std::move(items);
    inv.refreshed = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1726666180834378519LL));
    if (!inv.software.empty()) {
        // Also exercise the other arrays with the same hostile text.
        const auto& s = inv.software.front();
        inv.containers.push_back({s.package, s.summary, s.version, s.architecture, s.state, s.summary});
        inv.errors.push_back({"dpkg", s.version, s.summary});
    }
    sort_inventory(inv);
    const std::string text = to_json_text(inv);
    check(text == boost::json::serialize(to_json(inv)), "to_json_text == serialize(to_json)");
    check(utf8::is_valid(text), "JSON text is valid UTF-8");
    boost::system::error_code ec;
    const auto v = boost::json::parse(text, ec);
    check(!ec, "JSON text parses");
    std::string why;
    const auto back = inventory_from_json(v, why);
    check(back.has_value(), "JSON text reads back as an inventory");
    check(back->refreshed == inv.refreshed, "refreshed survives");
    check(back->software.size() == inv.software.size(), "every item survives");
    for (std::size_t i = 0; i < inv.software.size(); ++i) {
        const auto& a = inv.software[i];
        const auto& b = back->software[i];
        check(b.package == utf8::sanitize(a.package) && b.version == utf8::sanitize(a.version) &&
                  b.summary == utf8::sanitize(a.summary) && b.architecture == utf8::sanitize(a.architecture) &&
                  b.state == a.state,
              "items read back sanitised");
    }
    // The pretty form is another view of the same value.
    boost::system::error_code ec2;
    check(boost::json::parse(to_json_text(inv, output_format::rport, true), ec2) == v && !ec2, "pretty == compact");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto strict = dpkg::parse(text, dpkg::file_kind::status);
    check_result(strict);
    auto loose = dpkg::parse(text, dpkg::file_kind::status_d);
    check_result(loose);
    check(loose.stanzas == strict.stanzas, "both kinds see the same stanzas");
    check(loose.records.size() >= strict.records.size(), "status.d accepts all that status accepts");

    // Cut after a blank line: the parts, one after the other, are the whole.
    if (const auto blank = text.find("\n\n", size / 3); blank != std::string_view::npos) {
        const auto head = dpkg::parse(text.substr(0, blank + 2), dpkg::file_kind::status);
        const auto tail = dpkg::parse(text.substr(blank + 2), dpkg::file_kind::status);
        check(head.stanzas + tail.stanzas == strict.stanzas && head.skipped + tail.skipped == strict.skipped,
              "parts count as the whole");
        check(head.records.size() + tail.records.size() == strict.records.size(), "parts give the whole's records");
        for (std::size_t i = 0; i < strict.records.size(); ++i) {
            const auto& want = strict.records[i];
            const auto& got = i < head.records.size() ? head.records[i] : tail.records[i - head.records.size()];
            check(same_record(want, got), "parts give the whole's records in order");
        }
        std::vector<std::string> problems = head.problems;
        for (const auto& p : tail.problems) {
            // "stanza N..." in the tail is "stanza head.stanzas+N..." in the whole.
            check(p.rfind("stanza ", 0) == 0, "problems start with the stanza number");
            std::size_t end = 7, n = 0;
            while (end < p.size() && p[end] >= '0' && p[end] <= '9') n = n * 10 + static_cast<std::size_t>(p[end++] - '0');
            problems.push_back("stanza " + std::to_string(n + head.stanzas) + p.substr(end));
        }
        if (problems.size() > 20) problems.resize(20);
        check(problems == strict.problems, "parts give the whole's problems, renumbered");
    }

    // installed_items on one file.
    {
        const auto input = strict.records;
        check_items(input, dpkg::installed_items(std::move(strict.records)));
    }

    // overlay: the journal (second part) replayed on the base (first part).
    const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    auto base = dpkg::parse(text.substr(0, cut), dpkg::file_kind::status).records;
    auto journal = dpkg::parse(text.substr(cut), dpkg::file_kind::status_d).records;
    {
        // Model: every journal record replaces the last base record with its
        // key (or the journal's earlier one), else is appended.
        std::vector<dpkg::record> want = base;
        for (const auto& r : journal) {
            std::size_t found = want.size();
            for (std::size_t i = want.size(); i-- > 0;)
                if (want[i].package == r.package && want[i].architecture == r.architecture) {
                    found = i;
                    break;
                }
            if (found == want.size())
                want.push_back(r);
            else
                want[found] = r;
        }
        std::vector<dpkg::record> got = base;
        auto j = journal;
        dpkg::overlay(got, std::move(j));
        check(got.size() == want.size(), "overlay size matches the model");
        for (std::size_t i = 0; i < got.size(); ++i) check(same_record(got[i], want[i]), "overlay matches the model");
        const auto merged = got;
        auto items = dpkg::installed_items(std::move(got));
        check_items(merged, items);
        check_json(std::move(items));
    }
    return 0;
}
