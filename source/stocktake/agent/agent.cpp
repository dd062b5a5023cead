#include "stocktake/agent/agent.hpp"

#include "stocktake/agent/control.hpp"
#include "stocktake/agent/refresh.hpp"
#include "stocktake/agent/schedule.hpp"
#include "stocktake/agent/sources.hpp"
#include "stocktake/agent/uploader.hpp"
#include "stocktake/agent/wait.hpp"
#include "stocktake/agent/watch.hpp"
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/time.hpp"
#include "stocktake/version.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <list>
#include <random>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace stocktake {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

std::string describe(const refresh_summary& s) {
    std::string out = "refresh " + std::to_string(s.number) + " at " + format_rfc3339_nanos(s.refreshed) + ": " +
                      std::to_string(s.software) + (s.software == 1 ? " package, " : " packages, ") +
                      std::to_string(s.containers) + (s.containers == 1 ? " container, " : " containers, ");
    if (s.errors.empty()) {
        out += "no errors";
    } else {
        out += std::to_string(s.errors.size()) + (s.errors.size() == 1 ? " error (" : " errors (");
        for (std::size_t i = 0; i < s.errors.size(); ++i) out += (i ? ", " : "") + s.errors[i].source + ": " + s.errors[i].code;
        out += ")";
    }
    out += " in " + std::to_string(s.duration.count()) + " ms";
    return out;
}

namespace {

// True when `e` is (or, through awaitable operators, wraps) operation_aborted.
bool is_cancellation(std::exception_ptr e) {
    if (!e) return false;
    try {
        std::rethrow_exception(e);
    } catch (const boost::system::system_error& se) {
        return se.code() == asio::error::operation_aborted;
    } catch (const asio::multiple_exceptions& me) {
        return is_cancellation(me.first_exception());
    } catch (...) {
    }
    return false;
}

// The first exception that is not a cancellation, else null.
std::exception_ptr real_failure(std::exception_ptr e) {
    if (!e) return nullptr;
    try {
        std::rethrow_exception(e);
    } catch (const asio::multiple_exceptions& me) {
        return real_failure(me.first_exception());
    } catch (...) {
    }
    return is_cancellation(e) ? nullptr : e;
}

json::value time_or_null(const std::optional<std::chrono::system_clock::time_point>& t) {
    if (!t) return nullptr;
    return json::string(format_rfc3339_nanos(*t));
}

}  // namespace

struct agent::impl : std::enable_shared_from_this<agent::impl> {
    asio::any_io_executor ex;
    asio::any_io_executor pool;
    config cfg;
    logger log;
    std::shared_ptr<source_set> sources;
    refresh_schedule schedule;
    asio::steady_timer wake;  // the run loop's "condition variable"
    bool start_requested = false;
    bool running = false;
    bool stopping = false;
    asio::cancellation_signal run_cancel;
    std::shared_ptr<uploader> up;
    asio::steady_timer upload_changed;  // wakes upload_loop when `up` comes or goes
    std::optional<refresh_result> last;
    std::optional<refresh_summary> last_summary;
    std::optional<std::chrono::system_clock::time_point> last_refresh_start;
    std::mt19937_64 rng{std::random_device{}()};

    struct waiter {
        unsigned long long target;
        asio::steady_timer* timer;
        bool aborted = false;
    };
    std::list<waiter*> waiters;

    impl(asio::any_io_executor e, asio::any_io_executor p, config c, logger l)
        : ex(e), pool(p), cfg(std::move(c)), log(std::move(l)), schedule(cfg.client.inventory_interval),
          wake(e, asio::steady_timer::time_point::max()), upload_changed(e, asio::steady_timer::time_point::max()) {
        sources = std::make_shared<source_set>(make_sources(cfg, pool));
        make_uploader();
    }

    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    upload_options upload_opts() const {
        upload_options o;
        o.server = cfg.client.server.value_or("");
        o.auth = cfg.client.auth.value_or("");
        o.client_id = cfg.client.id;
        o.client_name = cfg.client.name;
        o.ca_file = cfg.client.ca_file;
        o.data_dir = cfg.client.data_dir;
        o.retry_min = cfg.client.retry_min;
        o.retry_max = cfg.client.retry_max;
        return o;
    }

    void make_uploader() {
        if (!cfg.client.server) {
            if (up) up->retire();
            up.reset();
        } else if (up) {
            up->reconfigure(upload_opts());
        } else {
            up = std::make_shared<uploader>(ex, upload_opts(), log, pool);
        }
        upload_changed.cancel();
    }

    // --- refreshing -------------------------------------------------------

    asio::awaitable<void> one_refresh() {
        const auto start = std::chrono::steady_clock::now();
        last_refresh_start = std::chrono::system_clock::now();
        const auto number = schedule.started();
        refresh_result res;
        auto srcs = sources;  // a reload may replace them meanwhile: keep these alive
        try {
            auto slots = srcs->slots();
            res = co_await refresh_sources(std::move(slots));
        } catch (...) {
            schedule.on_refresh_done(std::chrono::steady_clock::now(), uniform());
            fail_waiters();
            throw;
        }
        refresh_summary s;
        s.number = number;
        s.refreshed = res.inv.refreshed;
        s.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        s.software = res.inv.software.size();
        s.containers = res.inv.containers.size();
        s.errors = res.inv.errors;
        for (const auto& r : res.reports) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.elapsed).count();
            std::string line = "refresh " + std::to_string(number) + ": " + r.source + " " + r.outcome + ", " +
                               std::to_string(r.items) + " items in " + std::to_string(ms) + " ms";
            if (!r.detail.empty()) line += " (" + r.detail + ")";
            if (r.error) {
                log.error(line + ": " + r.error->code + ": " + r.error->message);
            } else {
                log.info(line);
            }
            for (const auto& w : r.warnings) log.warn("refresh " + std::to_string(number) + ": " + r.source + ": " + w);
        }
        log.info(describe(s));
        if (up) up->submit(res.inv);
        last = std::move(res);
        last_summary = s;
#ifdef __GLIBC__
        // A refresh allocates a lot briefly; give it back so the idle
        // service stays small.
        ::malloc_trim(0);
#endif
    }

    // Runs refreshes while the schedule asks for them (coalesced reruns).
    // With `until`, returns once that refresh is done and leaves any rerun
    // to a coroutine of its own, so the caller is answered without waiting
    // for refreshes that others asked for.
    asio::awaitable<void> drive(unsigned long long until = 0) {
        for (;;) {
            co_await one_refresh();
            const auto act = schedule.on_refresh_done(std::chrono::steady_clock::now(), uniform());
            notify_waiters();
            if (act != refresh_schedule::action::refresh_now) break;
            if (until != 0 && schedule.finished() >= until) {
                auto self = shared_from_this();
                asio::co_spawn(ex, [self]() -> asio::awaitable<void> { co_await self->drive(); }, asio::detached);
                break;
            }
        }
    }

    void notify_waiters() {
        for (auto* w : waiters)
            if (schedule.finished() >= w->target) w->timer->cancel();
    }

    void fail_waiters() {
        for (auto* w : waiters) {
            w->aborted = true;
            w->timer->cancel();
        }
    }

    // Wakes the run loop if a refresh must start; returns the refresh
    // number that will answer this trigger.
    unsigned long long trigger(bool& must_drive_here) {
        must_drive_here = false;
        const auto act = schedule.on_trigger(std::chrono::steady_clock::now());
        const auto target = schedule.target_after_trigger();
        if (act == refresh_schedule::action::refresh_now) {
            if (running) {
                start_requested = true;
                wake.cancel();
            } else {
                must_drive_here = true;
            }
        }
        return target;
    }

    asio::awaitable<refresh_summary> request_refresh() {
        auto self = shared_from_this();
        bool drive_here = false;
        const auto target = trigger(drive_here);
        if (drive_here) co_await drive(target);
        if (schedule.finished() < target) {
            asio::steady_timer t(ex, asio::steady_timer::time_point::max());
            waiter w{target, &t};
            auto it = waiters.insert(waiters.end(), &w);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled when it is done
            waiters.erase(it);
            auto cs = co_await asio::this_coro::cancellation_state;
            if (w.aborted || cs.cancelled() != asio::cancellation_type::none || schedule.finished() < target)
                throw boost::system::system_error(asio::error::operation_aborted);
        }
        co_return last_summary.value_or(refresh_summary{});
    }

    asio::awaitable<void> refresh_loop() {
        auto act = schedule.on_start(std::chrono::steady_clock::now());
        if (act == refresh_schedule::action::refresh_now) co_await drive();
        for (;;) {
            const auto deadline = schedule.next_deadline();
            wake.expires_at(deadline.value_or(asio::steady_timer::time_point::max()));
            co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));  // triggers cancel it
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none || stopping)
                throw boost::system::system_error(asio::error::operation_aborted);
            if (start_requested) {
                start_requested = false;  // the trigger already started it in the schedule
                co_await drive();
                continue;
            }
            if (schedule.on_timer(std::chrono::steady_clock::now()) == refresh_schedule::action::refresh_now) {
                log.info("refresh: scheduled");
                co_await drive();
            }
        }
    }

    asio::awaitable<void> upload_loop() {
        for (;;) {
            if (auto u = up) {
                co_await u->run();  // returns when a reload retires it
                continue;
            }
            // Nothing to deliver to: wait (without waking up) for a reload.
            upload_changed.expires_at(asio::steady_timer::time_point::max());
            co_await upload_changed.async_wait(asio::as_tuple(asio::use_awaitable));
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) throw boost::system::system_error(asio::error::operation_aborted);
        }
    }

    asio::awaitable<void> control_loop() {
        if (cfg.control.socket.empty()) {
            co_await wait_until_cancelled();
            co_return;
        }
        auto self = shared_from_this();
        control_handlers h;
        h.refresh = [self]() -> asio::awaitable<std::string> {
            auto s = co_await self->request_refresh();
            co_return self->summary_text(s);
        };
        h.status = [self] { return self->status_text(); };
        h.inventory = [self] { return self->inventory_text(); };
        std::string path = cfg.control.socket;
        logger l = log;
#ifdef _WIN32
        // Any local user may create a pipe name: one who squats ours must
        // not stop collection and delivery, only the control pipe.
        std::string failed;
        try {
            co_await serve_control_socket(std::move(path), std::move(h), std::move(l));
        } catch (const boost::system::system_error&) {
            throw;  // cancellation (and I/O errors) end the loop as elsewhere
        } catch (const control_in_use&) {
            throw;  // a second agent: it must not run
        } catch (const std::runtime_error& e) {
            failed = e.what();  // cannot create the pipe
        }
        log.error(failed + "; running without the control pipe (refresh/status unavailable until a restart)");
        co_await wait_until_cancelled();
#else
        co_await serve_control_socket(std::move(path), std::move(h), std::move(l));
#endif
    }

    asio::awaitable<void> watch_loop() {
        auto self = shared_from_this();
#ifdef _WIN32
        const char* const watched = "registry";
#else
        const char* const watched = "dpkg";
#endif
        const bool watch = std::find(cfg.inventory.sources.begin(), cfg.inventory.sources.end(), watched) !=
                           cfg.inventory.sources.end();
        if (!watch || cfg.inventory.watch_quiet.count() == 0) {
            co_await wait_until_cancelled();
            co_return;
        }
        // Named locals, not temporaries inside the co_await expression: GCC 12
        // destroys such temporaries twice (a shared_ptr capture then frees early).
        std::function<void()> on_change = [self] {
            bool drive_here = false;
            self->trigger(drive_here);
        };
        logger l = log;
#ifdef _WIN32
        std::optional<std::vector<registry_location>> where;  // default: what the registry source reads
        co_await watch_registry(cfg.inventory.watch_quiet, std::move(on_change), std::move(l), std::move(where));
#else
        std::string dir = cfg.inventory.dpkg_admindir;
        co_await watch_dpkg(std::move(dir), cfg.inventory.watch_quiet, std::move(on_change), std::move(l));
#endif
    }

    asio::awaitable<void> run_all() {
        auto self = shared_from_this();
        if (up) up->load_pending();
        log.info(std::string("stocktake ") + version_string + " running as client '" + cfg.client.id + "' (" +
                 cfg.client.name + ")" + (cfg.client.server ? ", delivering to " + *cfg.client.server : ", collect only") +
                 (cfg.client.inventory_interval.count() ? ", refresh every " + std::to_string(cfg.client.inventory_interval.count()) + " s"
                                                         : ", no periodic refresh"));
        // All four until one fails (the others are then cancelled) or the
        // run is cancelled. Not `&&`: it would report the first operand's
        // exception, often a mere cancellation, instead of the real failure.
        auto group = asio::experimental::make_parallel_group(
            asio::co_spawn(ex, refresh_loop(), asio::deferred), asio::co_spawn(ex, upload_loop(), asio::deferred),
            asio::co_spawn(ex, control_loop(), asio::deferred), asio::co_spawn(ex, watch_loop(), asio::deferred));
        auto wait = group.async_wait(asio::experimental::wait_for_one_error(), asio::deferred);
        auto [order, e1, e2, e3, e4] = co_await std::move(wait)(asio::use_awaitable);
        for (auto i : order) {
            const std::exception_ptr e = i == 0 ? e1 : i == 1 ? e2 : i == 2 ? e3 : e4;
            if (auto f = real_failure(e)) std::rethrow_exception(f);
        }
        throw boost::system::system_error(asio::error::operation_aborted);
    }

    // --- JSON -------------------------------------------------------------

    std::string summary_text(const refresh_summary& s) const {
        json::object o;
        o["refresh"] = s.number;
        o["refreshed"] = format_rfc3339_nanos(s.refreshed);
        o["duration_ms"] = s.duration.count();
        o["software"] = s.software;
        o["containers"] = s.containers;
        json::array errs;
        for (const auto& e : s.errors) errs.push_back(json::object{{"source", e.source}, {"code", e.code}, {"message", e.message}});
        o["errors"] = std::move(errs);
        o["summary"] = describe(s);
        return json::serialize(o);
    }

    std::string status_text() const {
        json::object o;
        o["version"] = version_string;
        o["client_id"] = cfg.client.id;
        o["client_name"] = cfg.client.name;
        o["config"] = cfg.path;
        o["data_dir"] = cfg.client.data_dir;
        o["running"] = running;
        o["refreshing"] = schedule.refreshing();
        o["refreshes"] = schedule.finished();
        o["interval_s"] = cfg.client.inventory_interval.count();
        if (auto d = schedule.next_deadline()) {
            const auto in = *d - std::chrono::steady_clock::now();
            o["next_refresh"] = format_rfc3339_nanos(std::chrono::system_clock::now() +
                                                     std::chrono::duration_cast<std::chrono::system_clock::duration>(in));
        } else {
            o["next_refresh"] = nullptr;
        }
        if (last) {
            json::object lr;
            lr["refreshed"] = format_rfc3339_nanos(last->inv.refreshed);
            lr["started"] = time_or_null(last_refresh_start);
            if (last_summary) lr["duration_ms"] = last_summary->duration.count();
            lr["software"] = last->inv.software.size();
            lr["containers"] = last->inv.containers.size();
            json::array srcs;
            for (const auto& r : last->reports) {
                json::object so{{"source", r.source},
                                {"outcome", r.outcome},
                                {"items", r.items},
                                {"elapsed_ms", std::chrono::duration_cast<std::chrono::milliseconds>(r.elapsed).count()},
                                {"detail", r.detail},
                                {"warnings", r.warnings.size()}};
                if (r.error) so["error"] = json::object{{"code", r.error->code}, {"message", r.error->message}};
                srcs.push_back(std::move(so));
            }
            lr["sources"] = std::move(srcs);
            o["last_refresh"] = std::move(lr);
        } else {
            o["last_refresh"] = nullptr;
        }
        if (up) {
            auto u = up->status();
            o["upload"] = json::object{{"server", u.server},
                                       {"pending", u.pending},
                                       {"last_success", time_or_null(u.last_success)},
                                       {"last_attempt", time_or_null(u.last_attempt)},
                                       {"last_mode", u.last_mode},
                                       {"last_error", u.last_error},
                                       {"failures", u.failures},
                                       {"next_retry", time_or_null(u.next_retry)}};
        } else {
            o["upload"] = nullptr;
        }
        return json::serialize(o);
    }

    std::string inventory_text() const { return last ? to_json_text(last->inv) : std::string("{}"); }
};

agent::agent(asio::any_io_executor ex, asio::any_io_executor pool, config cfg, logger log)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(pool), std::move(cfg), std::move(log))) {}

agent::~agent() {
    impl_->stopping = true;
    impl_->run_cancel.emit(asio::cancellation_type::terminal);
}

asio::any_io_executor agent::get_executor() const noexcept { return impl_->ex; }

const config& agent::current_config() const noexcept { return impl_->cfg; }

void agent::do_run(asio::any_completion_handler<void(std::exception_ptr)> h) {
    auto m = impl_;
    if (m->running) {
        asio::post(m->ex, [h = std::move(h)]() mutable {
            std::move(h)(std::make_exception_ptr(std::logic_error("agent::async_run is already running")));
        });
        return;
    }
    m->running = true;
    m->stopping = false;
    // Cancellation reaches run_all from the caller's slot and from stop().
    auto outer = asio::get_associated_cancellation_slot(h);
    if (outer.is_connected()) {
        outer.assign([m](asio::cancellation_type t) { m->run_cancel.emit(t); });
    }
    asio::co_spawn(m->ex, m->run_all(),
                   asio::bind_cancellation_slot(m->run_cancel.slot(), [m, h = std::move(h)](std::exception_ptr e) mutable {
                       m->running = false;
                       m->fail_waiters();
                       auto slot = asio::get_associated_cancellation_slot(h);
                       if (slot.is_connected()) slot.clear();
                       // A clean stop is not an error.
                       e = real_failure(e);
                       m->log.info(e ? "stopped with an error" : "stopped");
                       std::move(h)(e);
                   }));
}

void agent::do_refresh(asio::any_completion_handler<void(std::exception_ptr, refresh_summary)> h) {
    asio::co_spawn(impl_->ex, impl_->request_refresh(), std::move(h));
}

void agent::stop() {
    impl_->stopping = true;
    impl_->run_cancel.emit(asio::cancellation_type::terminal);
}

void agent::reload(config cfg) {
    auto& m = *impl_;
    const bool socket_changed = cfg.control.socket != m.cfg.control.socket;
    m.cfg = std::move(cfg);
    m.sources = std::make_shared<source_set>(make_sources(m.cfg, m.pool));  // a refresh in flight keeps its own
    m.make_uploader();
    if (m.schedule.set_interval(m.cfg.client.inventory_interval, std::chrono::steady_clock::now(), m.uniform()) ==
        refresh_schedule::action::refresh_now) {
        m.start_requested = true;
    }
    m.wake.cancel();  // recompute the deadline
    if (socket_changed) m.log.warn("reload: [control] socket changes take effect after a restart");
    m.log.info("reload: configuration applied");
}

std::string agent::status_json() const { return impl_->status_text(); }
std::string agent::inventory_json() const { return impl_->inventory_text(); }
std::string agent::summary_json(const refresh_summary& s) const { return impl_->summary_text(s); }

}  // namespace stocktake
