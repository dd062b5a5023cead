#include "support/fake_engine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace stocktake::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;
using local_stream = asio::local::stream_protocol;
using boost::system::error_code;

// ---------------------------------------------------------------- replies

fake_reply fake_reply::json(std::string body, unsigned status) {
    fake_reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

fake_reply fake_reply::text(std::string body, unsigned status) {
    fake_reply r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

fake_reply fake_reply::raw_bytes(std::string bytes) {
    fake_reply r;
    r.raw = std::move(bytes);
    return r;
}

fake_reply fake_reply::raw_file(const fs::path& http_file) {
    std::ifstream f(http_file, std::ios::binary);
    if (!f) throw std::runtime_error("fake_engine: cannot read " + http_file.string());
    std::ostringstream ss;
    ss << f.rdbuf();
    return raw_bytes(ss.str());
}

fake_reply fake_reply::stalled() {
    fake_reply r;
    r.stall = true;
    return r;
}

std::string fake_request::param(std::string_view key) const {
    auto it = query.find(std::string(key));
    return it == query.end() ? std::string() : it->second;
}

engine_profile engine_profile::old_1_22() {
    engine_profile p;
    p.api_version = "1.22";
    p.api_version_header = false;
    p.json_errors = false;
    p.engine_version = "1.10.3";
    return p;
}

namespace {

std::optional<std::pair<int, int>> version_pair(std::string_view s) {
    int major = 0;
    int minor = 0;
    const char* b = s.data();
    const char* e = b + s.size();
    auto r = std::from_chars(b, e, major);
    if (r.ec != std::errc{} || r.ptr == e || *r.ptr != '.') return std::nullopt;
    auto r2 = std::from_chars(r.ptr + 1, e, minor);
    if (r2.ec != std::errc{} || r2.ptr != e) return std::nullopt;
    return std::pair{major, minor};
}

// dockerd's httputils.BoolValue.
bool bool_value(std::string v) {
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (!v.empty() && v.back() == ' ') v.pop_back();
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    return !(v.empty() || v == "0" || v == "no" || v == "false" || v == "none");
}

std::string string_of(const json::object& o, std::string_view key) {
    if (const auto* p = o.if_contains(key); p && p->is_string()) return std::string(p->get_string());
    return {};
}

// The container's state as dockerd's status filter sees it.
std::string state_of(const json::object& o) {
    std::string s = string_of(o, "State");
    if (!s.empty()) return s;
    const std::string st = string_of(o, "Status");
    if (st.rfind("Up", 0) == 0) return st.find("(Paused)") != std::string::npos ? "paused" : "running";
    if (st.rfind("Restarting", 0) == 0) return "restarting";
    if (st.rfind("Exited", 0) == 0) return "exited";
    if (st.rfind("Created", 0) == 0) return "created";
    if (st.rfind("Dead", 0) == 0) return "dead";
    if (st.rfind("Removal", 0) == 0) return "removing";
    return {};
}

// What dockerd lists without all=1: containers whose process runs.
bool is_up(std::string_view state) { return state == "running" || state == "paused" || state == "restarting"; }

// Values of one key of dockerd's filters JSON, in either of its formats:
// {"before":["id"]} or the older {"before":{"id":true}}.
std::vector<std::string> filter_values(const json::object& f, std::string_view key) {
    std::vector<std::string> out;
    const auto* v = f.if_contains(key);
    if (!v) return out;
    if (const auto* a = v->if_array()) {
        for (const auto& e : *a)
            if (e.is_string()) out.emplace_back(e.get_string());
    } else if (const auto* o = v->if_object()) {
        for (const auto& kv : *o) out.emplace_back(kv.key());
    }
    return out;
}

unsigned status_of_raw(std::string_view raw) {
    // "HTTP/1.1 400 Bad Request"
    auto sp = raw.find(' ');
    if (sp == std::string_view::npos) return 0;
    unsigned v = 0;
    std::from_chars(raw.data() + sp + 1, raw.data() + raw.size(), v);
    return v;
}

std::string hex(std::size_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx", v);
    return buf;
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::string hex64(std::uint64_t seed) {
    std::string out;
    for (int i = 0; i < 4; ++i) {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(splitmix64(seed * 4 + static_cast<std::uint64_t>(i))));
        out += buf;
    }
    return out;
}

struct scripted {
    std::string method;
    std::string what;
    fake_reply reply;
    fake_engine::match how = fake_engine::match::target;
    std::size_t times = 0;
    std::size_t used = 0;
};

struct connection {
    explicit connection(asio::io_context& ioc) : sock(ioc), timer(ioc) {}
    local_stream::socket sock;
    asio::steady_timer timer;
};

}  // namespace

bool api_version_above(std::string_view a, std::string_view b) {
    auto va = version_pair(a);
    auto vb = version_pair(b);
    return va && vb && *va > *vb;
}

boost::json::array make_containers(std::size_t n, std::string_view prefix) {
    json::array out;
    out.reserve(n);
    const int width = static_cast<int>(std::to_string(n).size());
    for (std::size_t i = 0; i < n; ++i) {
        char num[32];
        std::snprintf(num, sizeof num, "%0*zu", width, i);
        const bool exited = i % 3 == 2;
        json::object c;
        c["Id"] = hex64(i);
        c["Names"] = json::array{json::string("/" + std::string(prefix) + "-" + num)};
        c["Image"] = "registry.example.invalid/app/" + std::string(prefix) + ":" + std::to_string(i % 7);
        c["ImageID"] = "sha256:" + hex64(1'000'000 + i % 7);
        c["Command"] = "/app/run";
        c["Created"] = 1709600000 - static_cast<std::int64_t>(i);
        c["State"] = exited ? "exited" : "running";
        c["Status"] = exited ? "Exited (0) 2 hours ago" : "Up 2 hours";
        c["Labels"] = json::object{};
        out.push_back(std::move(c));
    }
    return out;
}

// ---------------------------------------------------------------- engine

struct fake_engine::impl {
    explicit impl(engine_profile p) : profile(std::move(p)), acceptor(ioc), work(asio::make_work_guard(ioc)) {}

    const engine_profile profile;
    asio::io_context ioc;
    local_stream::acceptor acceptor;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    std::thread thread;

    // The engine's thread only.
    std::list<std::weak_ptr<connection>> conns;
    bool stopping = false;

    // Shared with the test's thread.
    mutable std::mutex mu;
    std::vector<scripted> scripts;
    std::vector<std::function<std::optional<fake_reply>(const fake_request&)>> handlers;
    json::array all;
    std::optional<json::array> running;
    container_list_options list_opts;
    std::function<void(std::size_t, const fake_request&, json::array&)> list_hook;
    std::size_t list_count = 0;
    std::function<void(const fake_request&)> observer;
    std::vector<fake_request> log;
    std::vector<std::string> errs;

    void error(std::string what) {
        std::lock_guard lk(mu);
        errs.push_back(std::move(what));
    }

    fake_reply engine_error(unsigned status, const std::string& message) const {
        if (profile.json_errors) {
            json::object o;
            o["message"] = message;
            return fake_reply::json(json::serialize(o) + "\n", status);
        }
        return fake_reply::text(message + "\n", status);
    }

    fake_request describe(const http::request<http::string_body>& req) const {
        fake_request fr;
        fr.method = std::string(req.method_string());
        fr.target = std::string(req.target());
        if (auto u = boost::urls::parse_origin_form(fr.target)) {
            fr.path = u->path();
            for (auto p : u->params()) fr.query[std::string(p.key)] = std::string(p.value);
        } else {
            fr.path = fr.target.substr(0, fr.target.find('?'));
        }
        fr.route = fr.path;
        const std::string_view p = fr.path;
        if (p.size() > 2 && p[0] == '/' && p[1] == 'v') {
            const auto slash = p.find('/', 2);
            const std::string_view v = p.substr(2, slash == std::string_view::npos ? std::string_view::npos : slash - 2);
            if (version_pair(v)) {
                fr.api_version = std::string(v);
                fr.route = slash == std::string_view::npos ? std::string("/") : std::string(p.substr(slash));
            }
        }
        for (const auto& f : req) {
            std::string name(f.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            fr.headers[name] = std::string(f.value());
        }
        return fr;
    }

    static bool matches(const scripted& s, const fake_request& fr) {
        if (!s.method.empty() && s.method != fr.method) return false;
        switch (s.how) {
            case match::route: return s.what == fr.route;
            case match::path: return s.what == fr.path;
            case match::target: {
                if (s.what == fr.target) return true;
                if (auto u = boost::urls::parse_origin_form(fr.target)) {
                    std::string decoded = u->path();
                    if (u->has_query()) decoded += "?" + std::string(u->query());
                    return s.what == decoded;
                }
                return false;
            }
        }
        return false;
    }

    fake_reply answer(const fake_request& fr) {
        std::vector<std::function<std::optional<fake_reply>(const fake_request&)>> hs;
        {
            std::lock_guard lk(mu);
            for (auto& s : scripts) {
                if ((s.times == 0 || s.used < s.times) && matches(s, fr)) {
                    ++s.used;
                    return s.reply;
                }
            }
            hs = handlers;
        }
        for (auto& h : hs)
            if (auto r = h(fr)) return std::move(*r);
        return builtin(fr);
    }

    fake_reply builtin(const fake_request& fr) {
        if (!fr.api_version.empty()) {
            if (api_version_above(fr.api_version, profile.api_version)) {
                if (profile.too_new_reply) return *profile.too_new_reply;
                if (profile.json_errors)
                    return engine_error(400, "client version " + fr.api_version +
                                                 " is too new. Maximum supported API version is " + profile.api_version);
                return engine_error(400, "client is newer than server (client API version: " + fr.api_version +
                                             ", server API version: " + profile.api_version + ")");
            }
            if (api_version_above(profile.min_api_version, fr.api_version))
                return engine_error(400, "client version " + fr.api_version +
                                             " is too old. Minimum supported API version is " + profile.min_api_version +
                                             ", please upgrade your client to a newer version");
        }
        if (fr.route == "/_ping" && (fr.method == "GET" || fr.method == "HEAD")) {
            fake_reply r = fake_reply::text("OK");
            r.headers = {{"Cache-Control", "no-cache, no-store, must-revalidate"}, {"Pragma", "no-cache"}};
            return r;
        }
        if (fr.route == "/version" && fr.method == "GET") {
            json::object o;
            o["Version"] = profile.engine_version;
            o["ApiVersion"] = profile.api_version;
            o["MinAPIVersion"] = profile.min_api_version;
            o["Os"] = "linux";
            o["Arch"] = "amd64";
            return fake_reply::json(json::serialize(o) + "\n");
        }
        if (fr.route == "/containers/json" && fr.method == "GET") return list(fr);
        return engine_error(404, "page not found");
    }

    fake_reply list(const fake_request& fr) {
        std::lock_guard lk(mu);
        const std::size_t nth = list_count++;
        if (list_hook) list_hook(nth, fr, all);
        const container_list_options& o = list_opts;

        long limit = -1;
        if (o.honour_limit && !fr.param("limit").empty()) {
            const std::string v = fr.param("limit");
            auto r = std::from_chars(v.data(), v.data() + v.size(), limit);
            if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
                return engine_error(400, "strconv.Atoi: parsing \"" + v + "\": invalid syntax");
        }
        std::vector<std::string> before_ids;
        std::vector<std::string> statuses;
        if (!fr.param("filters").empty()) {
            error_code ec;
            json::value f = json::parse(fr.param("filters"), ec);
            if (ec || !f.is_object()) return engine_error(400, "invalid filter: " + fr.param("filters"));
            before_ids = filter_values(f.get_object(), "before");
            statuses = filter_values(f.get_object(), "status");
        }
        std::string before;
        if (o.honour_filters_before && !before_ids.empty()) before = before_ids.front();
        if (before.empty() && o.honour_legacy_before) before = fr.param("before");
        if (!o.honour_status) statuses.clear();

        const bool include_stopped = bool_value(fr.param("all")) || (o.limit_implies_all && (limit > 0 || !before.empty()));
        const bool use_running = !include_stopped && running.has_value();
        const json::array& src = use_running ? *running : all;

        if (!before.empty()) {
            bool found = false;
            for (const auto& v : src)
                if (const auto* obj = v.if_object(); obj && string_of(*obj, "Id") == before) found = true;
            if (!found) return engine_error(404, "No such container: " + before);
        }
        json::array out;
        bool passed = before.empty();
        for (const auto& v : src) {
            const json::object* obj = v.if_object();
            const std::string id = obj ? string_of(*obj, "Id") : std::string();
            if (!passed) {
                if (id == before) passed = true;
                continue;
            }
            if (obj) {
                const std::string state = state_of(*obj);
                if (!include_stopped && !use_running && !is_up(state)) continue;
                if (!statuses.empty() && std::find(statuses.begin(), statuses.end(), state) == statuses.end()) continue;
            }
            out.push_back(v);
            if (limit > 0 && out.size() >= static_cast<std::size_t>(limit)) break;
        }
        return fake_reply::json(json::serialize(out) + "\n");
    }

    std::string head(const fake_reply& r, bool chunked, std::size_t length, bool close) const {
        std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " +
                        std::string(http::obsolete_reason(http::int_to_status(r.status))) + "\r\n";
        if (!r.content_type.empty()) h += "Content-Type: " + r.content_type + "\r\n";
        if (profile.api_version_header) h += "Api-Version: " + profile.api_version + "\r\n";
        h += "Docker-Experimental: false\r\nOstype: linux\r\n";
        h += "Server: Docker/" + profile.engine_version + " (linux)\r\n";
        h += "Date: Tue, 05 Mar 2024 09:12:44 GMT\r\n";
        for (const auto& [k, v] : r.headers) h += k + ": " + v + "\r\n";
        if (chunked)
            h += "Transfer-Encoding: chunked\r\n";
        else
            h += "Content-Length: " + std::to_string(length) + "\r\n";
        if (close) h += "Connection: close\r\n";
        h += "\r\n";
        return h;
    }

    static bool is_chunked(const fake_reply& r) {
        if (r.raw) return false;
        switch (r.frame) {
            case fake_reply::framing::chunked: return true;
            case fake_reply::framing::content_length: return false;
            case fake_reply::framing::automatic: return r.body.size() > r.chunk_threshold;
        }
        return false;
    }

    void record(const fake_request& fr) {
        std::function<void(const fake_request&)> obs;
        {
            std::lock_guard lk(mu);
            log.push_back(fr);
            obs = observer;
        }
        if (obs) obs(fr);
    }

    void close(connection& c) {
        error_code ec;
        c.sock.shutdown(local_stream::socket::shutdown_both, ec);
        c.sock.close(ec);
    }
};

static asio::awaitable<void> serve(fake_engine::impl* self, std::shared_ptr<connection> c) {
    try {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(1u << 20);
            auto [ec, n] = co_await http::async_read(c->sock, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec || self->stopping) co_return;
            http::request<http::string_body> req = parser.release();
            fake_request fr = self->describe(req);
            fake_reply rep = self->answer(fr);
            const bool chunked = fake_engine::impl::is_chunked(rep);
            fr.answered = rep.stall ? 0 : rep.raw ? status_of_raw(*rep.raw) : rep.status;
            fr.chunked = chunked;
            self->record(fr);

            if (rep.delay.count() > 0) {
                c->timer.expires_after(rep.delay);
                auto [tec] = co_await c->timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (tec || self->stopping) co_return;
            }
            if (rep.stall) {
                // Never answer; notice when the client goes away.
                char sink[512];
                for (;;) {
                    auto [rec, m] = co_await c->sock.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
                    if (rec || self->stopping) co_return;
                }
            }
            if (rep.raw) {
                const std::string bytes = rep.cut_after ? rep.raw->substr(0, *rep.cut_after) : *rep.raw;
                co_await asio::async_write(c->sock, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
                self->close(*c);
                co_return;
            }

            const bool close = !req.keep_alive() || rep.cut_after.has_value();
            std::vector<std::string> pieces;
            if (chunked) {
                const std::size_t step = std::max<std::size_t>(rep.chunk_size, 1);
                for (std::size_t at = 0; at < rep.body.size(); at += step) {
                    const std::string part = rep.body.substr(at, step);
                    pieces.push_back(hex(part.size()) + "\r\n" + part + "\r\n");
                }
                pieces.emplace_back("0\r\n\r\n");
            } else {
                pieces.push_back(rep.body);
            }
            if (rep.cut_after) {
                std::string all;
                for (const auto& p : pieces) all += p;
                all.resize(std::min(all.size(), *rep.cut_after));
                pieces.assign(1, all);
            }
            const std::string h = self->head(rep, chunked, rep.body.size(), close);
            auto [hec, hn] = co_await asio::async_write(c->sock, asio::buffer(h), asio::as_tuple(asio::use_awaitable));
            if (hec || self->stopping) co_return;
            for (const auto& p : pieces) {
                if (p.empty()) continue;
                auto [bec, bn] = co_await asio::async_write(c->sock, asio::buffer(p), asio::as_tuple(asio::use_awaitable));
                if (bec || self->stopping) co_return;
            }
            if (close) {
                self->close(*c);
                co_return;
            }
        }
    } catch (const std::exception& e) {
        self->error(std::string("connection: ") + e.what());
    }
}

static asio::awaitable<void> accept_loop(fake_engine::impl* self) {
    for (;;) {
        auto c = std::make_shared<connection>(self->ioc);
        auto [ec] = co_await self->acceptor.async_accept(c->sock, asio::as_tuple(asio::use_awaitable));
        if (ec || self->stopping) co_return;
        self->conns.remove_if([](const std::weak_ptr<connection>& w) { return w.expired(); });
        self->conns.push_back(c);
        asio::co_spawn(self->ioc, serve(self, c), asio::detached);
    }
}

fake_engine::fake_engine(fs::path socket_path, engine_profile profile)
    : path_(std::move(socket_path)), impl_(std::make_unique<impl>(std::move(profile))) {
    std::error_code fec;
    fs::remove(path_, fec);
    const local_stream::endpoint ep(path_.string());
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(impl_->ioc, accept_loop(impl_.get()), asio::detached);
    impl_->thread = std::thread([i = impl_.get()] {
        try {
            i->ioc.run();
        } catch (const std::exception& e) {
            i->error(std::string("io_context: ") + e.what());
        }
    });
}

fake_engine::~fake_engine() { stop(); }

void fake_engine::stop() {
    if (!impl_ || !impl_->thread.joinable()) return;
    asio::post(impl_->ioc, [i = impl_.get()] {
        i->stopping = true;
        error_code ec;
        i->acceptor.close(ec);
        for (auto& w : i->conns) {
            if (auto c = w.lock()) {
                i->close(*c);
                c->timer.cancel();
            }
        }
    });
    impl_->work.reset();
    impl_->thread.join();
    std::error_code fec;
    fs::remove(path_, fec);
}

void fake_engine::on(std::string method, std::string what, fake_reply reply, match how, std::size_t times) {
    std::lock_guard lk(impl_->mu);
    impl_->scripts.push_back(scripted{std::move(method), std::move(what), std::move(reply), how, times, 0});
}

void fake_engine::on(std::function<std::optional<fake_reply>(const fake_request&)> handler) {
    std::lock_guard lk(impl_->mu);
    impl_->handlers.push_back(std::move(handler));
}

void fake_engine::set_containers(boost::json::array all, std::optional<boost::json::array> running,
                                 container_list_options opts) {
    std::lock_guard lk(impl_->mu);
    impl_->all = std::move(all);
    impl_->running = std::move(running);
    impl_->list_opts = opts;
}

void fake_engine::set_list_options(container_list_options opts) {
    std::lock_guard lk(impl_->mu);
    impl_->list_opts = opts;
}

void fake_engine::set_list_hook(std::function<void(std::size_t, const fake_request&, boost::json::array&)> hook) {
    std::lock_guard lk(impl_->mu);
    impl_->list_hook = std::move(hook);
}

bool fake_engine::remove_container(std::string_view id) {
    std::lock_guard lk(impl_->mu);
    auto drop = [&](json::array& a) {
        const auto before = a.size();
        for (auto it = a.begin(); it != a.end();) {
            const auto* o = it->if_object();
            if (o && string_of(*o, "Id") == id)
                it = a.erase(it);
            else
                ++it;
        }
        return a.size() != before;
    };
    bool removed = drop(impl_->all);
    if (impl_->running) removed = drop(*impl_->running) || removed;
    return removed;
}

void fake_engine::on_received(std::function<void(const fake_request&)> observer) {
    std::lock_guard lk(impl_->mu);
    impl_->observer = std::move(observer);
}

std::vector<fake_request> fake_engine::requests() const {
    std::lock_guard lk(impl_->mu);
    return impl_->log;
}

std::vector<fake_request> fake_engine::requests_to(std::string_view route) const {
    std::vector<fake_request> out;
    for (auto& r : requests())
        if (r.route == route) out.push_back(r);
    return out;
}

std::vector<fake_request> fake_engine::requests_above(std::string_view version) const {
    std::vector<fake_request> out;
    for (auto& r : requests())
        if (!r.api_version.empty() && api_version_above(r.api_version, version)) out.push_back(r);
    return out;
}

std::vector<std::string> fake_engine::errors() const {
    std::lock_guard lk(impl_->mu);
    return impl_->errs;
}

}  // namespace stocktake::test
