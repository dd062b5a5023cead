#include "stocktake/agent/uploader.hpp"

#include "stocktake/agent/http_client.hpp"
#include "stocktake/collect/file_io.hpp"
#include "stocktake/core/digest.hpp"
#ifndef STOCKTAKE_NO_ZLIB
#include "stocktake/core/gzip.hpp"
#endif
#include "stocktake/core/inventory_json.hpp"
#include "stocktake/core/time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

#include <cctype>
#include <random>

namespace stocktake {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string base64(std::string_view s) {
    std::string out;
    out.resize(boost::beast::detail::base64::encoded_size(s.size()));
    out.resize(boost::beast::detail::base64::encode(out.data(), s.data(), s.size()));
    return out;
}

std::string encode_segment(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string server_error_text(const http_result& r) {
    // The server answers {"errors":[{"code","title"}]}; show the title.
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object()) {
        if (const auto* e = v.get_object().if_contains("errors"); e && e->is_array() && !e->get_array().empty()) {
            const auto& first = e->get_array()[0];
            if (first.is_object()) {
                if (const auto* t = first.get_object().if_contains("title"); t && t->is_string())
                    return std::string(t->get_string());
            }
        }
    }
    return r.body.substr(0, 200);
}

struct snapshot {
    unsigned long long generation = 0;
    inventory inv;
    std::string body;  // compact JSON
    std::string hash;  // content hash
};

}  // namespace

struct uploader::impl {
    asio::any_io_executor ex;
    asio::any_io_executor pool;
    upload_options opts;
    logger log;
    std::shared_ptr<http_client> client;
    std::optional<snapshot> pending;
    unsigned long long generation = 0;
    std::optional<std::string> acked_hash;
    asio::steady_timer wake;
    backoff retry;
    upload_status st;
    std::mt19937_64 rng{std::random_device{}()};
    std::string last_persist_error;
    bool retired = false;

    impl(asio::any_io_executor e, upload_options o, logger l, asio::any_io_executor p)
        : ex(e), pool(std::move(p)), opts(std::move(o)), log(std::move(l)), wake(e, asio::steady_timer::time_point::max()),
          retry(opts.retry_min, opts.retry_max) {
        make_client();
    }

    void make_client() {
        server_url url;
        std::string why;
        if (!parse_server_url(opts.server, url, why)) throw std::runtime_error("client.server: " + why);
        client = std::make_shared<http_client>(ex, url, opts.ca_file, pool);
        st.configured = true;
        st.server = opts.server;
    }

    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    std::string acked_path() const { return path_join(opts.data_dir, "acked.json"); }

    void load_state() {
        std::string text;
        failure f;
        if (read_file(acked_path(), text, f)) {
            boost::system::error_code ec;
            auto v = json::parse(text, ec);
            if (!ec && v.is_object()) {
                const auto& o = v.get_object();
                const auto* srv = o.if_contains("server");
                const auto* id = o.if_contains("client_id");
                const auto* h = o.if_contains("content_sha256");
                // Only meaningful for the same server and identity.
                if (srv && id && h && srv->is_string() && id->is_string() && h->is_string() &&
                    srv->get_string() == opts.server && id->get_string() == opts.client_id)
                    acked_hash = std::string(h->get_string());
            }
        }
        if (read_file(path_join(opts.data_dir, "pending.json"), text, f)) {
            boost::system::error_code ec;
            auto v = json::parse(text, ec);
            std::string why;
            std::optional<inventory> inv;
            if (!ec) inv = inventory_from_json(v, why);
            if (inv) {
                log.info("upload: found an undelivered inventory from " + format_rfc3339_nanos(inv->refreshed) +
                         " in " + opts.data_dir + "; delivering it");
                set_pending(std::move(*inv), std::move(text), false);
            } else {
                log.warn("upload: ignoring unreadable " + path_join(opts.data_dir, "pending.json"));
            }
        }
    }

    void set_pending(inventory inv, std::string body, bool persist) {
        snapshot s;
        s.generation = ++generation;
        s.hash = content_hash(inv);
        s.body = std::move(body);
        s.inv = std::move(inv);
        if (persist) {
            std::string why;
            if (!write_file_atomically(opts.data_dir, "pending.json", s.body, why)) {
                if (why != last_persist_error) log.error("upload: cannot keep the inventory on disk: " + why);
                last_persist_error = why;
            } else {
                last_persist_error.clear();
            }
        }
        pending = std::move(s);
        st.pending = true;
        wake.cancel();
    }

    void acknowledged(const snapshot& s, std::string mode) {
        acked_hash = s.hash;
        st.last_success = std::chrono::system_clock::now();
        st.last_error.clear();
        st.last_mode = std::move(mode);
        st.failures = 0;
        st.next_retry.reset();
        retry.reset();
        json::object a{{"server", opts.server},
                       {"client_id", opts.client_id},
                       {"content_sha256", s.hash},
                       {"refreshed", format_rfc3339_nanos(s.inv.refreshed)}};
        std::string why;
        if (!write_file_atomically(opts.data_dir, "acked.json", json::serialize(a), why)) log.warn("upload: " + why);
        if (pending && pending->generation == s.generation) {
            pending.reset();
            st.pending = false;
            remove_file(path_join(opts.data_dir, "pending.json"));
        }
    }

    std::vector<std::pair<std::string, std::string>> headers() const {
        return {{"Authorization", "Basic " + base64(opts.auth)},
                {"X-Stocktake-Client-Name", opts.client_name},
                {"Accept", "application/json"}};
    }

    std::string target() const { return "/api/v1/clients/" + encode_segment(opts.client_id) + "/inventory"; }

    // Returns "" on success, else the reason.
    asio::awaitable<std::string> deliver(const snapshot& s) {
        auto c = client;  // a reconfigure may replace it meanwhile
        if (acked_hash && *acked_hash == s.hash) {
            auto h = headers();
            h.emplace_back("Content-Type", "application/merge-patch+json");
            json::object patch{{"refreshed", format_rfc3339_nanos(s.inv.refreshed)}, {"content_sha256", s.hash}};
            std::string method = "PATCH", path = target(), body = json::serialize(patch);
            auto r = co_await c->request(std::move(method), std::move(path), std::move(h), std::move(body), opts.timeout);
            if (r.status == 204 || r.status == 200) {
                acknowledged(s, "unchanged");
                log.info("upload: " + opts.server + " already has this inventory; refreshed time updated");
                co_return "";
            }
            // 412: the server's copy differs (or it lost it); 404/405/501: a
            // server without PATCH support. Either way: send it whole.
            if (r.status != 412 && r.status != 404 && r.status != 405 && r.status != 501)
                co_return "PATCH " + target() + " answered " + std::to_string(r.status) + ": " + server_error_text(r);
        }
        auto h = headers();
        h.emplace_back("Content-Type", "application/json");
        const auto size = s.body.size();
#ifdef STOCKTAKE_NO_ZLIB
        // The Windows build has no zlib (Debian has no mingw build of it):
        // the body goes as it is.
        std::string gz = s.body;
        const std::string size_note = " bytes";
#else
        h.emplace_back("Content-Encoding", "gzip");
        auto gz = gzip_compress(s.body);
        const std::string size_note = " bytes, " + std::to_string(gz.size()) + " gzipped";
#endif
        std::string method = "PUT", path = target();
        auto r = co_await c->request(std::move(method), std::move(path), std::move(h), std::move(gz), opts.timeout);
        if (r.status == 204 || r.status == 200 || r.status == 201) {
            acknowledged(s, "full");
            log.info("upload: delivered the inventory to " + opts.server + " (" + std::to_string(s.inv.software.size()) +
                     (s.inv.software.size() == 1 ? " package, " : " packages, ") + std::to_string(s.inv.containers.size()) +
                     (s.inv.containers.size() == 1 ? " container; " : " containers; ") + std::to_string(size) +
                     size_note + ")");
            co_return "";
        }
        std::string why = "PUT " + target() + " answered " + std::to_string(r.status) + ": " + server_error_text(r);
        if (r.status == 401) why += " (check [client] auth or STOCKTAKE_AUTH)";
        if (r.status == 403) why += " (this client id belongs to another auth id on the server)";
        co_return why;
    }
};

uploader::uploader(asio::any_io_executor ex, upload_options opts, logger log, asio::any_io_executor pool)
    : impl_(std::make_shared<impl>(ex, std::move(opts), std::move(log), std::move(pool))) {}

uploader::~uploader() = default;

void uploader::load_pending() { impl_->load_state(); }

void uploader::submit(const inventory& inv) { impl_->set_pending(inv, to_json_text(inv), true); }

upload_status uploader::status() const { return impl_->st; }

void uploader::reconfigure(upload_options opts) {
    auto& m = *impl_;
    const bool same_target = opts.server == m.opts.server && opts.client_id == m.opts.client_id;
    m.opts = std::move(opts);
    m.retry = backoff(m.opts.retry_min, m.opts.retry_max);
    m.make_client();
    if (!same_target) m.acked_hash.reset();  // the new server has not seen anything yet
    m.wake.cancel();
}

void uploader::retire() {
    impl_->retired = true;
    impl_->wake.cancel();
}

asio::awaitable<void> uploader::run() {
    auto self = impl_;  // keeps the state alive while this runs
    auto& m = *self;
    for (;;) {
        if (m.retired) co_return;
        if (!m.pending) {
            m.wake.expires_at(asio::steady_timer::time_point::max());
            co_await m.wake.async_wait(asio::as_tuple(asio::use_awaitable));  // a submit cancels it
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) throw boost::system::system_error(asio::error::operation_aborted);
            continue;
        }
        const snapshot s = *m.pending;
        m.st.last_attempt = std::chrono::system_clock::now();
        std::string why;
        try {
            why = co_await m.deliver(s);
        } catch (const transport_error& e) {
            why = e.what();
        }
        if (why.empty()) continue;
        ++m.st.failures;
        m.st.last_error = why;
        const auto delay = m.retry.next(m.uniform());
        m.st.next_retry = std::chrono::system_clock::now() + delay;
        m.log.warn("upload: " + why + "; retry " + std::to_string(m.st.failures) + " in " +
                   std::to_string(delay.count()) + " ms");
        asio::steady_timer t(m.ex, delay);
        co_await t.async_wait(asio::use_awaitable);  // throws when cancelled
    }
}

}  // namespace stocktake
