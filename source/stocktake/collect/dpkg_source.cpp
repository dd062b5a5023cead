#include "stocktake/collect/dpkg_source.hpp"

#include "stocktake/collect/file_io.hpp"
#include "stocktake/collect/pool.hpp"
#include "stocktake/parse/dpkg_status.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string_view>
#include <tuple>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stocktake {
namespace {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The bytes of a file to parse: big regular files (status is ~1 MB on a
// desktop, tens of MB on a build server) are mapped rather than copied,
// everything else is read with read_file. dpkg never rewrites a database
// file in place (it writes a new one and renames it), so a mapping stays
// valid while we parse it.
class file_bytes {
public:
    file_bytes() = default;
    file_bytes(const file_bytes&) = delete;
    file_bytes& operator=(const file_bytes&) = delete;
    ~file_bytes() { unmap(); }

    // Same results and errors as read_file(path, buf, err).
    bool load(const std::string& path, failure& err) {
        unmap();
        constexpr std::size_t map_threshold = 256 * 1024;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                static_cast<std::uintmax_t>(st.st_size) >= map_threshold &&
                static_cast<std::uintmax_t>(st.st_size) <= SIZE_MAX) {
                const auto size = static_cast<std::size_t>(st.st_size);
                void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
                if (p != MAP_FAILED) {
                    ::close(fd);
                    map_ = p;
                    map_size_ = size;
                    view_ = std::string_view(static_cast<const char*>(p), size);
                    return true;
                }
            }
            ::close(fd);
        }
        // Small, special or unmappable: read it (and let read_file name
        // any error exactly as it always has).
        if (!read_file(path, buf_, err)) return false;
        view_ = buf_;
        return true;
    }
    std::string_view view() const noexcept { return view_; }

private:
    void unmap() noexcept {
        if (map_) ::munmap(map_, map_size_);
        map_ = nullptr;
        map_size_ = 0;
        view_ = {};
    }
    void* map_ = nullptr;
    std::size_t map_size_ = 0;
    std::string buf_;
    std::string_view view_;
};

// Puts the items in the order sort_inventory gives them (package,
// architecture, version, summary), so that the merge's sort of a large
// inventory finds them in order. A status file is normally sorted already.
void presort(std::vector<software_item>& items) {
    // std::tie(...) < std::tie(...), one string comparison per field.
    auto less = [](const software_item& a, const software_item& b) {
        if (const int c = a.package.compare(b.package)) return c < 0;
        if (const int c = a.architecture.compare(b.architecture)) return c < 0;
        if (const int c = a.version.compare(b.version)) return c < 0;
        return a.summary.compare(b.summary) < 0;
    };
    if (std::is_sorted(items.begin(), items.end(), less)) return;
    std::vector<std::uint32_t> order(items.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return less(items[a], items[b]); });
    // Apply the permutation in place, one cycle at a time.
    for (std::size_t start = 0; start < order.size(); ++start) {
        if (order[start] == start) continue;
        software_item held = std::move(items[start]);
        std::size_t j = start;
        while (order[j] != start) {
            const std::size_t from = order[j];
            items[j] = std::move(items[from]);
            order[j] = static_cast<std::uint32_t>(j);
            j = from;
        }
        items[j] = std::move(held);
        order[j] = static_cast<std::uint32_t>(j);
    }
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
    file_bytes buf;
    failure err;

    // 1. status (absent in distroless images, which only have status.d/)
    const std::string status_path = opts.admindir + "/status";
    if (!buf.load(status_path, err)) {
        if (err.code != errc::unreadable || ::access(status_path.c_str(), F_OK) == 0) return fail(err);
    } else {
        auto pr = dpkg::parse(buf.view(), dpkg::file_kind::status);
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
        if (!buf.load(p, err)) {
            if (err.code == errc::unreadable && ::access(p.c_str(), F_OK) != 0) continue;  // raced away
            return fail(err);
        }
        auto pr = dpkg::parse(buf.view(), dpkg::file_kind::status_d);
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
        if (!buf.load(p, err)) {
            if (err.code == errc::unreadable && ::access(p.c_str(), F_OK) != 0) continue;  // dpkg folded it in
            return fail(err);
        }
        auto pr = dpkg::parse(buf.view(), dpkg::file_kind::status);
        note_skips(res, p, pr);
        dpkg::overlay(records, std::move(pr.records));
    }

    res.software = dpkg::installed_items(std::move(records));
    presort(res.software);
    return done();
}

std::unique_ptr<source> make_dpkg_source(dpkg_options opts, boost::asio::any_io_executor pool) {
    return std::make_unique<dpkg_source>(std::move(opts), std::move(pool));
}

}  // namespace stocktake
