// GCC 12 at -O3 reports -Wnull-dereference inside Asio's any_executor
// comparisons (system headers, inlined here); not a problem of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif

#include "stocktake/server/http_server.hpp"

#include "stocktake/server/api.hpp"
#include "stocktake/server/decoder.hpp"
#include "stocktake/version.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <vector>

namespace stocktake::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto handshake_timeout = 10s;
constexpr auto write_timeout = 30s;
constexpr auto linger_timeout = 2s;
constexpr std::size_t linger_bytes = 8u << 20;
constexpr std::size_t header_limit = 16u << 10;
constexpr std::size_t chunk_size = 64u << 10;

// One connection, as the registry sees it. Every field is touched on the
// connection's strand only.
struct connection {
    explicit connection(asio::any_io_executor e) : ex(std::move(e)) {}
    asio::any_io_executor ex;
    bool idle = true;       // waiting for a request (or in the TLS handshake)
    bool stopping = false;  // shutdown: no further request on this connection
    bool forced = false;    // grace period over: abandon the current request
    std::function<void()> cancel_io;  // set while the stream exists
};

struct cancel_io_guard {
    connection& c;
    ~cancel_io_guard() { c.cancel_io = nullptr; }
};

bool quiet_close(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
           ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == ssl::error::stream_truncated || ec == http::error::partial_message;
}

}  // namespace

std::string format_endpoint(const tcp::endpoint& ep) {
    const auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

struct http_server::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor e, server_section c, store& s, credentials cl, credentials api,
         std::shared_ptr<ssl::context> t, logger l)
        : ex(std::move(e)),
          strand(asio::make_strand(ex)),
          acceptor(strand),
          wake(strand),
          grace(strand),
          cfg(std::move(c)),
          db(s),
          clients(std::make_shared<const credentials>(std::move(cl))),
          api_users(std::make_shared<const credentials>(std::move(api))),
          tls(std::move(t)),
          log(std::move(l)) {}

    asio::any_io_executor ex;
    asio::strand<asio::any_io_executor> strand;  // acceptor, timers, `stopping`
    tcp::acceptor acceptor;
    asio::steady_timer wake;   // a condition variable: a connection ended
    asio::steady_timer grace;  // shutdown grace period
    server_section cfg;
    store& db;
    // Replaced as a whole on reload; each request uses one snapshot.
    mutable std::mutex creds_mutex;
    std::shared_ptr<const credentials> clients;
    std::shared_ptr<const credentials> api_users;

    std::pair<std::shared_ptr<const credentials>, std::shared_ptr<const credentials>> creds() const {
        std::lock_guard lk(creds_mutex);
        return {clients, api_users};
    }
    std::shared_ptr<ssl::context> tls;
    logger log;
    bool stopping = false;  // strand only

    mutable std::mutex reg_mutex;
    std::set<std::shared_ptr<connection>> registry;

    std::size_t active() const {
        std::lock_guard lk(reg_mutex);
        return registry.size();
    }

    // Raw (on the wire) body limit: compressed data may be a little larger
    // than its decoded form; the decoder enforces max_body on the output.
    std::uint64_t raw_limit() const { return cfg.max_body + cfg.max_body / 64 + 4096; }

    asio::awaitable<void> run();
    void start(tcp::socket sock);
    void finished(const std::shared_ptr<connection>& c);
    void do_shutdown();
    void force_all();
};

namespace {

// One request/response exchange: what the handler decided.
struct exchange {
    http::response<http::string_body> res;
    bool head = false;
    bool body_consumed = false;  // false: unread body bytes may follow
    bool abort = false;          // the connection broke: no response
    std::string who = "-";       // the authenticated auth id / API user
    std::string note;            // an error title for the log
};

void set_json(exchange& x, http::status st, std::string body) {
    x.res.result(st);
    x.res.set(http::field::content_type, "application/json");
    x.res.body() = std::move(body);
}

void set_error(exchange& x, http::status st, std::string_view code, std::string_view title) {
    set_json(x, st, error_body(code, title));
    x.note = std::string(title);
}

void unauthorized(exchange& x, std::string_view title) {
    set_error(x, http::status::unauthorized, "unauthorized", title);
    x.res.set(http::field::www_authenticate, "Basic realm=\"stocktake\", charset=\"UTF-8\"");
}

void method_not_allowed(exchange& x, std::string_view allow) {
    set_error(x, http::status::method_not_allowed, "method_not_allowed", "method not allowed; allowed: " + std::string(allow));
    x.res.set(http::field::allow, allow);
}

template <class Header>
bool authenticate(const credentials& creds, const Header& req, exchange& x) {
    const auto h = req[http::field::authorization];
    if (h.empty()) {
        unauthorized(x, "authentication required (HTTP Basic)");
        return false;
    }
    auto a = parse_basic_authorization(h);
    if (!a || !creds.check(a->user, a->password)) {
        if (a) x.who = a->user + "(rejected)";
        unauthorized(x, "wrong user or password");
        return false;
    }
    x.who = std::move(a->user);
    return true;
}

template <class Header>
bool conditions(const Header& req, etag_condition& if_match, etag_condition& if_none_match, exchange& x) {
    for (auto [field, out] : {std::pair{http::field::if_match, &if_match}, std::pair{http::field::if_none_match, &if_none_match}}) {
        const auto it = req.find(field);
        if (it == req.end()) continue;
        auto c = parse_etag_condition(it->value());
        if (!c) {
            set_error(x, http::status::bad_request, "bad_request",
                      std::string(http::to_string(field)) + ": not an entity-tag list such as \"<etag>\" or *");
            return false;
        }
        *out = std::move(*c);
    }
    return true;
}

// Reads and decodes the request body within `limit` decoded bytes (after
// Expect: 100-continue, if asked). False when `x` already holds the
// answer (415, 413, 400) or the exchange was abandoned.
template <class Stream>
asio::awaitable<bool> read_body(http_server::impl& self, connection& conn, Stream& stream, beast::flat_buffer& buf,
                                http::request_parser<http::buffer_body>& parser, std::size_t limit, exchange& x,
                                std::string& out) {
    auto& lowest = beast::get_lowest_layer(stream);
    const auto& req = parser.get();
    // Content-Type is not checked: whatever it says, the body must parse
    // (curl's default form type included).
    const auto coding = parse_content_encoding(req[http::field::content_encoding]);
    if (!coding) {
        set_error(x, http::status::unsupported_media_type, "unsupported_media_type",
                  "Content-Encoding must be gzip, deflate or identity");
        x.res.set(http::field::accept_encoding, "gzip, deflate");
        co_return false;
    }
    const auto too_large = [&] {
        set_error(x, http::status::payload_too_large, "payload_too_large",
                  "the body is larger than max_body (" + std::to_string(limit) + " bytes)");
    };
    const auto declared = parser.content_length();
    if (*coding == content_coding::identity && declared && *declared > limit) {
        too_large();
        co_return false;
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, 11};
        lowest.expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream, cont, nothrow);
        if (ec) {
            x.abort = true;
            co_return false;
        }
    }
    body_decoder dec(*coding, limit);
    std::vector<char> chunk(chunk_size);
    lowest.expires_after(self.cfg.request_timeout);
    while (!parser.is_done()) {
        auto& body = parser.get().body();
        body.data = chunk.data();
        body.size = chunk.size();
        auto [ec, n] = co_await http::async_read(stream, buf, parser, nothrow);
        if (ec == http::error::need_buffer) ec = {};
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (got > 0 && dec.feed(std::string_view(chunk.data(), got)) != body_decoder::status::ok) break;
        if (conn.forced) {
            x.abort = true;
            co_return false;
        }
        if (ec == http::error::body_limit) {
            too_large();
            co_return false;
        }
        if (ec) {
            x.abort = true;  // timeout or the peer went away: nobody to answer
            x.note = "body: " + ec.message();
            co_return false;
        }
    }
    x.body_consumed = parser.is_done();
    switch (dec.finish()) {
        case body_decoder::status::ok: break;
        case body_decoder::status::too_large:
            set_error(x, http::status::payload_too_large, "payload_too_large", dec.problem());
            co_return false;
        case body_decoder::status::corrupt: set_error(x, http::status::bad_request, "bad_request", dec.problem()); co_return false;
    }
    if (conn.forced) {
        x.abort = true;
        co_return false;
    }
    out = std::move(dec.output());
    co_return true;
}

// Owner and precondition checks made before a body is read; the store
// makes them again inside the write's transaction.
template <class Header>
bool early_checks(http_server::impl& self, const Header& req, const std::string& id, exchange& x,
                  etag_condition& if_match, etag_condition& if_none_match, std::optional<client_meta>& meta) {
    if (!conditions(req, if_match, if_none_match, x)) return false;
    meta = self.db.lookup(id);
    if (meta && meta->auth_id != x.who) {
        set_error(x, http::status::forbidden, "forbidden", "client '" + id + "' belongs to another auth id");
        return false;
    }
    const std::optional<std::string> current = meta ? std::optional<std::string>(meta->etag) : std::nullopt;
    if (evaluate_preconditions(false, if_match, if_none_match, current) == precondition::failed) {
        set_error(x, http::status::precondition_failed, "precondition_failed",
                  "the stored inventory does not meet If-Match/If-None-Match");
        if (meta) x.res.set(http::field::etag, quote_etag(meta->etag));
        return false;
    }
    return true;
}

template <class Header>
asio::awaitable<void> store_inventory(http_server::impl& self, const Header& req, put_request& put, exchange& x) {
    if (const auto it = req.find("X-Stocktake-Client-Name"); it != req.end()) put.name = clean_client_name(it->value());
    const std::string etag = put.etag;
    const std::string id = put.id;
    const put_outcome out = co_await self.db.async_put(std::move(put), asio::use_awaitable);
    switch (out.status) {
        case put_status::stored:
            x.res.result(http::status::no_content);
            x.res.set(http::field::etag, quote_etag(etag));
            if (out.created) x.note = "created";
            break;
        case put_status::forbidden:
            set_error(x, http::status::forbidden, "forbidden", "client '" + id + "' belongs to another auth id");
            break;
        case put_status::precondition_failed:
            set_error(x, http::status::precondition_failed, "precondition_failed",
                      "the stored inventory does not meet the request's preconditions");
            break;
        case put_status::failed:
            set_error(x, http::status::internal_server_error, "internal_error", "the inventory could not be stored");
            x.note = "store: " + out.message;
            break;
    }
}

// The agent's PUT, after authentication: checks what it can before the
// body is read, reads and decodes the body within max_body, validates it
// and hands it to the store.
template <class Stream>
asio::awaitable<void> handle_put(http_server::impl& self, connection& conn, Stream& stream, beast::flat_buffer& buf,
                                 http::request_parser<http::buffer_body>& parser, const std::string& id, exchange& x) {
    const auto& req = parser.get();
    etag_condition if_match, if_none_match;
    std::optional<client_meta> meta;
    if (!early_checks(self, req, id, x, if_match, if_none_match, meta)) co_return;
    std::string body;
    if (!co_await read_body(self, conn, stream, buf, parser, self.cfg.max_body, x, body)) co_return;
    put_request put;
    put.id = id;
    put.auth_id = x.who;
    std::string why;
    if (!validate_inventory_body(body, put.inventory, put.etag, put.content_hash, why)) {
        set_error(x, http::status::bad_request, "invalid_inventory", why);
        co_return;
    }
    { std::string().swap(body); }  // the decoded body is no longer needed
    put.if_match = std::move(if_match);
    put.if_none_match = std::move(if_none_match);
    co_await store_inventory(self, req, put, x);
}

// PATCH /api/v1/clients/{id}/inventory: the agent's "same content, new
// refresh time" (see api.hpp). Applied only when the stored inventory has
// the content hash the agent names; 412 tells it to PUT the whole thing.
template <class Stream>
asio::awaitable<void> handle_patch(http_server::impl& self, connection& conn, Stream& stream, beast::flat_buffer& buf,
                                   http::request_parser<http::buffer_body>& parser, const std::string& id, exchange& x) {
    const auto& req = parser.get();
    etag_condition if_match, if_none_match;
    std::optional<client_meta> meta;
    if (!early_checks(self, req, id, x, if_match, if_none_match, meta)) co_return;
    std::string body;
    if (!co_await read_body(self, conn, stream, buf, parser, std::min<std::size_t>(self.cfg.max_body, 64 * 1024), x, body))
        co_return;
    refresh_patch patch;
    std::string why;
    if (!parse_refresh_patch(body, patch, why)) {
        set_error(x, http::status::bad_request, "bad_request", why);
        co_return;
    }
    if (!meta) {
        set_error(x, http::status::not_found, "not_found", "no inventory for client '" + id + "': PUT it whole");
        co_return;
    }
    if (meta->content_hash != patch.content_sha256) {
        set_error(x, http::status::precondition_failed, "precondition_failed",
                  "the stored inventory has other content: PUT it whole");
        x.res.set(http::field::etag, quote_etag(meta->etag));
        co_return;
    }
    auto rec = co_await self.db.async_get(id, asio::use_awaitable);
    if (!rec || rec->etag != meta->etag) {
        set_error(x, http::status::precondition_failed, "precondition_failed", "the stored inventory changed meanwhile: PUT it whole");
        co_return;
    }
    put_request put;
    put.id = id;
    put.auth_id = x.who;
    put.content_hash = meta->content_hash;
    if (!with_refreshed(rec->inventory, patch.refreshed, put.inventory, put.etag, why)) {
        set_error(x, http::status::internal_server_error, "internal_error", "the stored inventory cannot be read");
        x.note = why;
        co_return;
    }
    // Compare-and-swap: only if nobody replaced it since we read it.
    put.if_match.present = true;
    put.if_match.tags.push_back(entity_tag{rec->etag, false});
    co_await store_inventory(self, req, put, x);
}

// HEAD/GET /api/v1/clients/{id}/inventory for the agent that owns it.
template <class Header>
asio::awaitable<void> handle_agent_get(http_server::impl& self, const Header& req, const std::string& id, exchange& x) {
    etag_condition if_match, if_none_match;
    if (!conditions(req, if_match, if_none_match, x)) co_return;
    const auto meta = self.db.lookup(id);
    if (!meta) {
        set_error(x, http::status::not_found, "not_found", "no inventory for client '" + id + "'");
        co_return;
    }
    if (meta->auth_id != x.who) {
        set_error(x, http::status::forbidden, "forbidden", "client '" + id + "' belongs to another auth id");
        co_return;
    }
    x.res.set(http::field::etag, quote_etag(meta->etag));
    switch (evaluate_preconditions(true, if_match, if_none_match, meta->etag)) {
        case precondition::proceed: break;
        case precondition::not_modified: x.res.result(http::status::not_modified); co_return;
        case precondition::failed:
            set_error(x, http::status::precondition_failed, "precondition_failed", "If-Match does not match");
            x.res.set(http::field::etag, quote_etag(meta->etag));
            co_return;
    }
    if (x.head) {
        x.res.result(http::status::ok);
        x.res.set(http::field::content_type, "application/json");
        x.res.content_length(meta->size);
        co_return;
    }
    auto rec = co_await self.db.async_get(id, asio::use_awaitable);
    if (!rec) {
        set_error(x, http::status::not_found, "not_found", "no inventory for client '" + id + "'");
        co_return;
    }
    x.res.set(http::field::etag, quote_etag(rec->etag));
    set_json(x, http::status::ok, std::move(rec->inventory));
}

// GET /api/v1/clients[/{id}] for API users.
asio::awaitable<void> handle_api_get(http_server::impl& self, const route& r, exchange& x) {
    if (r.kind == route::clients) {
        auto all = co_await self.db.async_list(asio::use_awaitable);
        std::size_t total = 16;
        for (const auto& c : all) total += c.inventory.size() + c.id.size() + c.name.size() + 40;
        std::string body;
        body.reserve(total);
        body += "{\"data\":[";
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (i) body += ',';
            body += client_object(all[i].id, all[i].name, all[i].inventory);
        }
        body += "]}";
        set_json(x, http::status::ok, std::move(body));
        co_return;
    }
    auto rec = co_await self.db.async_get(r.id, asio::use_awaitable);
    if (!rec) {
        set_error(x, http::status::not_found, "not_found", "no client '" + r.id + "'");
        co_return;
    }
    set_json(x, http::status::ok, "{\"data\":" + client_object(rec->id, rec->name, rec->inventory) + "}");
}

template <class Stream>
asio::awaitable<void> handle(http_server::impl& self, connection& conn, Stream& stream, beast::flat_buffer& buf,
                             http::request_parser<http::buffer_body>& parser, exchange& x) {
    const auto& req = parser.get();
    const auto method = req.method();
    x.head = method == http::verb::head;
    const route r = parse_route(req.target());
    const auto [clients, api_users] = self.creds();
    try {
        switch (r.kind) {
            case route::not_found: set_error(x, http::status::not_found, "not_found", "no such resource"); break;
            case route::bad_id:
                set_error(x, http::status::bad_request, "bad_request",
                          "invalid client id (1 to 256 bytes of UTF-8, no control characters or '/')");
                break;
            case route::client_inventory:
                if (method != http::verb::put && method != http::verb::patch && method != http::verb::get &&
                    method != http::verb::head) {
                    method_not_allowed(x, "PUT, PATCH, GET, HEAD");
                } else if (authenticate(*clients, req, x)) {
                    if (method == http::verb::put)
                        co_await handle_put(self, conn, stream, buf, parser, r.id, x);
                    else if (method == http::verb::patch)
                        co_await handle_patch(self, conn, stream, buf, parser, r.id, x);
                    else
                        co_await handle_agent_get(self, req, r.id, x);
                }
                break;
            case route::clients:
            case route::client:
                if (method != http::verb::get && method != http::verb::head) {
                    method_not_allowed(x, "GET, HEAD");
                } else if (api_users->empty()) {
                    unauthorized(x, "no API users are configured ([api] auth or auth_file)");
                } else if (authenticate(*api_users, req, x)) {
                    co_await handle_api_get(self, r, x);
                }
                break;
        }
    } catch (const std::exception& e) {
        self.log.error(std::string("request failed: ") + e.what());
        set_error(x, http::status::internal_server_error, "internal_error", "internal error");
        x.note = e.what();
    }
}

// Half-closes and reads what the client still sends for a short while, so
// that closing does not reset the connection before the client has read
// our response (a 401 or 413 sent while it was still uploading).
template <class Stream>
asio::awaitable<void> linger(Stream& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    boost::system::error_code ec;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    lowest.expires_after(linger_timeout);
    std::vector<char> sink(chunk_size);
    std::size_t total = 0;
    while (total < linger_bytes) {
        auto [rec, n] = co_await lowest.async_read_some(asio::buffer(sink), nothrow);
        if (rec) break;
        total += n;
    }
}

// The request loop of one connection. Returns true when the connection
// may be closed politely (TLS close_notify), false after a lingering close.
template <class Stream>
asio::awaitable<bool> serve(http_server::impl& self, connection& conn, Stream& stream, const std::string& peer) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buf;
    for (;;) {
        if (conn.stopping) co_return true;
        conn.idle = true;
        lowest.expires_after(self.cfg.idle_timeout);
        http::request_parser<http::buffer_body> parser;
        parser.header_limit(header_limit);
        parser.body_limit(self.raw_limit());
        auto [ec, n] = co_await http::async_read_header(stream, buf, parser, nothrow);
        conn.idle = false;
        const auto started = std::chrono::steady_clock::now();
        exchange x;
        x.res.version(11);
        if (ec) {
            if (quiet_close(ec) || conn.stopping) {
                if (ec == beast::error::timeout && buf.size() > 0) self.log.info(peer + ": request header too slow, closed");
                co_return true;
            }
            if (ec == http::error::body_limit)
                set_error(x, http::status::payload_too_large, "payload_too_large",
                          "the body is larger than max_body (" + std::to_string(self.cfg.max_body) + " bytes)");
            else if (ec == http::error::header_limit)
                set_error(x, http::status::request_header_fields_too_large, "bad_request", "request header too large");
            else
                set_error(x, http::status::bad_request, "bad_request", "malformed request: " + ec.message());
        } else {
            x.body_consumed = parser.is_done();
            co_await handle(self, conn, stream, buf, parser, x);
        }
        if (x.abort || conn.forced) {
            self.log.info(peer + ": " + std::string(parser.get().method_string()) + " " +
                          std::string(parser.get().target()) + " abandoned" + (x.note.empty() ? "" : ": " + x.note));
            co_return false;
        }
        const bool keep = !ec && x.body_consumed && parser.get().keep_alive() && !conn.stopping;
        x.res.keep_alive(keep);
        x.res.set(http::field::server, std::string("stocktake-server/") + version_string);
        if (x.head) {
            // HEAD: the headers a GET would send, no body.
            if (!x.res.has_content_length() && x.res.result() != http::status::not_modified)
                x.res.content_length(x.res.body().size());
            x.res.body().clear();
        } else if (x.res.result() == http::status::no_content || x.res.result() == http::status::not_modified) {
            x.res.body().clear();
        } else {
            x.res.prepare_payload();
        }
        lowest.expires_after(write_timeout);
        auto [wec, wn] = co_await http::async_write(stream, x.res, nothrow);
        const unsigned status = x.res.result_int();
        const auto level = status >= 500                    ? log_level::error
                           : (status == 401 || status == 403) ? log_level::warning
                                                              : log_level::info;
        if (self.log.enabled(level)) {
            const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
            char took[32];
            std::snprintf(took, sizeof took, "%.1fms", ms);
            std::string line = peer + " " + (ec ? std::string("-") : std::string(parser.get().method_string())) + " " +
                               (ec ? std::string("-") : std::string(parser.get().target())) + " " +
                               std::to_string(status) + " auth=" + x.who + " " + took;
            if (!x.note.empty()) line += " (" + x.note + ")";
            self.log.log(level, line);
        }
        if (wec) co_return false;
        if (!keep) {
            if (!x.body_consumed || ec) {
                co_await linger(stream);
                co_return false;
            }
            co_return true;
        }
    }
}

asio::awaitable<void> plain_session(std::shared_ptr<http_server::impl> self, std::shared_ptr<connection> conn,
                                    tcp::socket sock, std::string peer) {
    beast::tcp_stream stream(std::move(sock));
    conn->cancel_io = [&stream] { stream.cancel(); };
    cancel_io_guard guard{*conn};
    if (conn->stopping) co_return;
    const bool polite = co_await serve(*self, *conn, stream, peer);
    boost::system::error_code ec;
    if (polite) stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.socket().close(ec);
}

asio::awaitable<void> tls_session(std::shared_ptr<http_server::impl> self, std::shared_ptr<connection> conn,
                                  tcp::socket sock, std::string peer) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *self->tls);
    auto& lowest = beast::get_lowest_layer(stream);
    conn->cancel_io = [&lowest] { lowest.cancel(); };
    cancel_io_guard guard{*conn};
    if (conn->stopping) co_return;
    lowest.expires_after(handshake_timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, nothrow);
    if (hec) {
        if (!conn->stopping) self->log.info(peer + ": TLS handshake failed: " + hec.message());
        co_return;
    }
    const bool polite = co_await serve(*self, *conn, stream, peer);
    if (polite && !conn->forced) {
        lowest.expires_after(linger_timeout);
        auto [sec] = co_await stream.async_shutdown(nothrow);
        (void)sec;  // many clients close without their close_notify
    }
    boost::system::error_code ec;
    lowest.socket().close(ec);
}

}  // namespace

void http_server::impl::start(tcp::socket sock) {
    boost::system::error_code ec;
    const auto remote = sock.remote_endpoint(ec);
    std::string peer = ec ? std::string("?") : format_endpoint(remote);
    sock.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<connection>(sock.get_executor());
    {
        std::lock_guard lk(reg_mutex);
        registry.insert(conn);
    }
    auto self = shared_from_this();
    auto done = [self, conn](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& err) {
                self->log.error(std::string("connection failed: ") + err.what());
            }
        }
        self->finished(conn);
    };
    auto conn_ex = conn->ex;
    if (tls)
        asio::co_spawn(conn_ex, tls_session(self, conn, std::move(sock), std::move(peer)), std::move(done));
    else
        asio::co_spawn(conn_ex, plain_session(self, conn, std::move(sock), std::move(peer)), std::move(done));
}

void http_server::impl::finished(const std::shared_ptr<connection>& c) {
    {
        std::lock_guard lk(reg_mutex);
        registry.erase(c);
    }
    asio::post(strand, [self = shared_from_this()] { self->wake.cancel(); });
}

asio::awaitable<void> http_server::impl::run() {
    auto self = shared_from_this();
    log.debug(std::string("accepting connections on ") + format_endpoint(acceptor.local_endpoint()) +
             (tls ? " (https)" : " (http)"));
    while (!stopping) {
        if (active() >= cfg.max_connections) {
            log.warning("max_connections (" + std::to_string(cfg.max_connections) + ") reached: accepting paused");
            while (!stopping && active() >= cfg.max_connections) {
                wake.expires_at(asio::steady_timer::time_point::max());
                co_await wake.async_wait(nothrow);
            }
            continue;
        }
        asio::any_io_executor conn_ex = asio::make_strand(ex);
        auto [ec, sock] = co_await acceptor.async_accept(conn_ex, nothrow);
        if (stopping) break;
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            // EMFILE and friends: back off instead of spinning.
            log.warning("accept failed: " + ec.message());
            wake.expires_after(100ms);
            co_await wake.async_wait(nothrow);
            continue;
        }
        start(std::move(sock));
    }
    boost::system::error_code ignored;
    acceptor.close(ignored);
    while (active() > 0) {
        wake.expires_at(asio::steady_timer::time_point::max());
        co_await wake.async_wait(nothrow);
    }
    grace.cancel();
    log.info("all connections closed");
}

void http_server::impl::do_shutdown() {
    if (stopping) return;
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    wake.cancel();
    std::vector<std::shared_ptr<connection>> conns;
    {
        std::lock_guard lk(reg_mutex);
        conns.assign(registry.begin(), registry.end());
    }
    log.info("shutting down: " + std::to_string(conns.size()) + " connection(s) open, grace period " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(cfg.shutdown_grace).count()) + " ms");
    for (auto& c : conns) {
        asio::post(c->ex, [c] {
            c->stopping = true;
            if (c->idle && c->cancel_io) c->cancel_io();
        });
    }
    grace.expires_after(cfg.shutdown_grace);
    grace.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        if (self->active() > 0) self->log.warning("grace period over: closing " + std::to_string(self->active()) + " connection(s)");
        self->force_all();
    });
}

void http_server::impl::force_all() {
    std::vector<std::shared_ptr<connection>> conns;
    {
        std::lock_guard lk(reg_mutex);
        conns.assign(registry.begin(), registry.end());
    }
    for (auto& c : conns) {
        asio::post(c->ex, [c] {
            c->stopping = c->forced = true;
            if (c->cancel_io) c->cancel_io();
        });
    }
}

http_server::http_server(asio::any_io_executor ex, server_section cfg, store& db, credentials clients,
                         credentials api_users, std::shared_ptr<ssl::context> tls, logger log)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg), db, std::move(clients), std::move(api_users),
                                   std::move(tls), std::move(log))) {}

http_server::~http_server() = default;

void http_server::listen() {
    auto& a = impl_->acceptor;
    const auto& l = impl_->cfg.listen;
    tcp::endpoint ep;
    bool dual = false;
    if (l.host.empty()) {
        ep = tcp::endpoint(tcp::v6(), l.port);
        dual = true;
    } else {
        ep = tcp::endpoint(asio::ip::make_address(l.host), l.port);
    }
    boost::system::error_code ec;
    a.open(ep.protocol(), ec);
    if (ec && dual) {  // no IPv6 here: every IPv4 interface then
        ep = tcp::endpoint(tcp::v4(), l.port);
        dual = false;
        a.open(ep.protocol(), ec);
    }
    if (ec) throw boost::system::system_error(ec, "open");
    a.set_option(tcp::acceptor::reuse_address(true));
    if (dual) a.set_option(asio::ip::v6_only(false), ec);
    a.bind(ep, ec);
    if (ec) throw boost::system::system_error(ec, "cannot listen on " + format_endpoint(ep));
    a.listen(asio::socket_base::max_listen_connections);
}

asio::ip::tcp::endpoint http_server::local_endpoint() const { return impl_->acceptor.local_endpoint(); }

asio::any_io_executor http_server::executor() const { return impl_->strand; }

asio::awaitable<void> http_server::run() {
    auto self = impl_;
    co_await self->run();
}

void http_server::shutdown() {
    asio::post(impl_->strand, [self = impl_] { self->do_shutdown(); });
}

void http_server::terminate() {
    asio::post(impl_->strand, [self = impl_] {
        self->do_shutdown();
        self->force_all();
    });
}

std::size_t http_server::connections() const { return impl_->active(); }

void http_server::set_credentials(credentials clients, credentials api_users) {
    auto c = std::make_shared<const credentials>(std::move(clients));
    auto a = std::make_shared<const credentials>(std::move(api_users));
    std::lock_guard lk(impl_->creds_mutex);
    impl_->clients = std::move(c);
    impl_->api_users = std::move(a);
}

}  // namespace stocktake::server
