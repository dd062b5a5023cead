#include "stocktake/agent/watch.hpp"

#include "stocktake/agent/wait.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <cerrno>
#include <cstring>

#include <sys/inotify.h>
#include <unistd.h>

namespace stocktake {
namespace asio = boost::asio;

asio::awaitable<void> watch_dpkg(std::string admindir, std::chrono::milliseconds quiet, std::function<void()> on_change,
                                 logger log) {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        log.warn("watch: inotify unavailable (" + std::string(std::strerror(errno)) + "); changes are seen on the timer only");
        co_await wait_until_cancelled();
        co_return;
    }
    asio::posix::stream_descriptor in(ex, fd);
    const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE;
    int watches = 0;
    const int top = ::inotify_add_watch(fd, admindir.c_str(), mask);
    if (top >= 0) ++watches;
    for (const std::string& dir : {admindir + "/updates", admindir + "/status.d"})
        if (::inotify_add_watch(fd, dir.c_str(), mask) >= 0) ++watches;
    if (watches == 0) {
        log.info("watch: no dpkg database at " + admindir + "; not watching it");
        co_await wait_until_cancelled();
        co_return;
    }
    log.debug("watch: watching " + admindir);
    alignas(inotify_event) std::array<char, 8192> buf{};
    // In the admin directory only `status` matters (dpkg also touches its
    // lock files, `available`, triggers...); in updates/ and status.d/ all.
    auto relevant = [&](std::size_t n) {
        bool any = false;
        for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
            const std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
            if (ev->wd != top || name == "status") any = true;
            off += sizeof(inotify_event) + ev->len;
        }
        return any;
    };
    asio::steady_timer quiet_timer(ex);
    for (;;) {
        // Wait for the first relevant event of a burst...
        for (;;) {
            const std::size_t n = co_await in.async_read_some(asio::buffer(buf), asio::use_awaitable);
            if (relevant(n)) break;
        }
        // ...then until nothing happened for `quiet`.
        for (;;) {
            quiet_timer.expires_after(quiet);
            auto race = in.async_read_some(asio::buffer(buf), asio::use_awaitable) || quiet_timer.async_wait(asio::use_awaitable);
            auto r = co_await std::move(race);
            if (r.index() == 1) break;
        }
        log.info("watch: the dpkg database at " + admindir + " changed");
        on_change();
    }
}

}  // namespace stocktake
