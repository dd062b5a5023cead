#include "stocktake/collect/dpkg_source.hpp"

#include "stocktake/collect/file_io.hpp"
#include "stocktake/collect/pool.hpp"
#include "stocktake/parse/dpkg_status.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include <sys/stat.h>
#include <unistd.h>

namespace stocktake {
namespace {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void note_skips(source_result& res, const std::string& path, const dpkg::parse_result& pr) {
    if (pr.skipped == 0) return;
    res.warnings.push_back(path + ": skipped " + std::to_string(pr.skipped) + " of " + std::to_string(pr.stanzas) +
                           " stanzas");
    for (const auto& p : pr.problems) res.warnings.push_back(path + ": " + p);
}

class dpkg_source final : public source {
public:
    dpkg_source(dpkg_options o, boost::asio::any_io_executor pool) : opts_(std::move(o)), pool_(std::move(pool)) {}
    std::string_view name() const noexcept override { return "dpkg"; }

    boost::asio::awaitable<source_result> collect() override {
        // Named, not a temporary inside the co_await expression: GCC 12
        // mishandles non-trivial temporaries there.
        auto work = [o = opts_] { return read_dpkg_admindir(o); };
        auto result = co_await async_run_on(pool_, std::move(work), boost::asio::as_tuple(boost::asio::use_awaitable));
        if (auto ep = std::get<0>(result)) std::rethrow_exception(ep);
        co_return std::move(std::get<1>(result));
    }

private:
    dpkg_options opts_;
    boost::asio::any_io_executor pool_;
};

}  // namespace

source_result read_dpkg_admindir(const dpkg_options& opts) {
    source_result res;
    res.source = "dpkg";
    res.detail = opts.admindir;
    const auto start = std::chrono::steady_clock::now();
    auto done = [&]() -> source_result {
        res.elapsed = std::chrono::steady_clock::now() - start;
        return std::move(res);
    };
    auto fail = [&](const failure& f) {
        res.outcome = source_outcome::failed;
        res.error = source_error{"dpkg", std::string(code_word(f.code)), f.message};
        res.software.clear();
        return done();
    };

    struct stat st {};
    if (::stat(opts.admindir.c_str(), &st) != 0) {
        const int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            res.outcome = source_outcome::absent;
            return done();
        }
        return fail(file_failure("access the dpkg admin directory", opts.admindir, e));
    }
    if (!S_ISDIR(st.st_mode))
        return fail({errc::unreadable, "the dpkg admin directory " + opts.admindir + " is not a directory"});

    std::vector<dpkg::record> records;
    std::string buf;
    failure err;

    // 1. status (absent in distroless images, which only have status.d/)
    const std::string status_path = opts.admindir + "/status";
    if (!read_file(status_path, buf, err)) {
        if (err.code != errc::unreadable || ::access(status_path.c_str(), F_OK) == 0) return fail(err);
    } else {
        auto pr = dpkg::parse(buf, dpkg::file_kind::status);
        note_skips(res, status_path, pr);
        records = std::move(pr.records);
    }

    // 2. status.d/<package> (one stanza per file, *.md5sums are not stanzas)
    std::vector<std::string> names;
    bool exists = false;
    const std::string statusd = opts.admindir + "/status.d";
    if (!list_dir(statusd, names, exists, err)) return fail(err);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        if (n.ends_with(".md5sums") || n.starts_with(".")) continue;
        const std::string p = statusd + "/" + n;
        if (!read_file(p, buf, err)) {
            if (err.code == errc::unreadable && ::access(p.c_str(), F_OK) != 0) continue;  // raced away
            return fail(err);
        }
        auto pr = dpkg::parse(buf, dpkg::file_kind::status_d);
        note_skips(res, p, pr);
        dpkg::overlay(records, std::move(pr.records));
    }

    // 3. updates/NNNN: the journal dpkg has not yet folded into status,
    // replayed in numeric order; later stanzas win.
    const std::string updates = opts.admindir + "/updates";
    if (!list_dir(updates, names, exists, err)) return fail(err);
    std::vector<std::pair<unsigned long long, std::string>> journal;
    for (const auto& n : names)
        if (all_digits(n) && n.size() < 20) journal.emplace_back(std::stoull(n), n);
    std::sort(journal.begin(), journal.end());
    for (const auto& [num, n] : journal) {
        const std::string p = updates + "/" + n;
        if (!read_file(p, buf, err)) {
            if (err.code == errc::unreadable && ::access(p.c_str(), F_OK) != 0) continue;  // dpkg folded it in
            return fail(err);
        }
        auto pr = dpkg::parse(buf, dpkg::file_kind::status);
        note_skips(res, p, pr);
        dpkg::overlay(records, std::move(pr.records));
    }

    res.software = dpkg::installed_items(std::move(records));
    return done();
}

std::unique_ptr<source> make_dpkg_source(dpkg_options opts, boost::asio::any_io_executor pool) {
    return std::make_unique<dpkg_source>(std::move(opts), std::move(pool));
}

}  // namespace stocktake
