#pragma once
// A fake Docker Engine on a real unix socket, for what a real engine cannot
// be made to do on demand: stall, cut an answer short, speak an old API
// version, answer 500 or garbage, ignore paging. It runs on its own thread
// and io_context from construction until stop() or destruction.
//
// Without scripted replies it behaves like dockerd for what the collector
// uses: GET /_ping, GET /version, GET /containers/json (newest first, with
// `all`, `limit`, `filters={"before":[id],"status":[...]}` and the legacy
// `before=` query parameter), the /vX.Y/ prefix and its version check, and
// an API-Version header on every answer.

#include <boost/json/array.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stocktake::test {

// One answer, or one way of not answering.
struct fake_reply {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra ones

    // How the body is framed: `automatic` chunks bodies larger than
    // `chunk_threshold` (as Go's net/http does for dockerd), else
    // Content-Length.
    enum class framing { automatic, content_length, chunked };
    framing frame = framing::automatic;
    std::size_t chunk_size = 1024;
    std::size_t chunk_threshold = 4096;

    std::optional<std::string> raw;                 // the whole answer, byte for byte; the connection closes after it
    bool stall = false;                             // read the request, never answer (until the client goes away)
    std::optional<std::size_t> cut_after;           // send the head and this many bytes of the (encoded) body, then
                                                    // close; with `raw`, this many bytes of it
    std::chrono::milliseconds delay{0};             // wait this long before answering

    static fake_reply json(std::string body, unsigned status = 200);
    static fake_reply text(std::string body, unsigned status = 200);
    static fake_reply raw_bytes(std::string bytes);
    static fake_reply raw_file(const std::filesystem::path& http_file);  // a whole response, e.g. a case's .http file
    static fake_reply stalled();
};

// A request as the engine received it.
struct fake_request {
    std::string method;
    std::string target;       // as sent (path and query, still percent-encoded)
    std::string path;         // decoded, e.g. "/v1.43/containers/json"
    std::string route;        // path without the /vX.Y prefix, e.g. "/containers/json"
    std::string api_version;  // "1.43" from the prefix; empty when unversioned
    std::map<std::string, std::string> query;    // decoded
    std::map<std::string, std::string> headers;  // names in lower case
    unsigned answered = 0;    // status of the answer (0: none, e.g. stalled)
    bool chunked = false;     // the answer's body was sent chunked

    bool has(std::string_view key) const { return query.count(std::string(key)) != 0; }
    std::string param(std::string_view key) const;
};

// "1.43" > "1.9" (numerically); false when either is not a version.
bool api_version_above(std::string_view a, std::string_view b);

struct engine_profile {
    std::string api_version = "1.43";      // the highest it speaks; requests above get 400
    std::string min_api_version = "1.12";  // requests below get 400
    bool api_version_header = true;        // API-Version on every answer (old engines send none)
    bool json_errors = true;               // {"message": ...}; old engines answer text/plain
    std::string engine_version = "24.0.7";
    // Overrides the built-in "client is newer than server" answer.
    std::optional<fake_reply> too_new_reply;

    // Engine 1.10.3, API 1.22: no API-Version header, text/plain errors.
    static engine_profile old_1_22();
};

// How GET /containers/json treats its parameters (dockerd by default).
struct container_list_options {
    bool honour_limit = true;
    bool honour_filters_before = true;  // filters={"before":[id]} (API 1.24+)
    bool honour_legacy_before = true;   // before=<id> (API < 1.24)
    bool honour_status = true;          // filters={"status":[...]}
    // dockerd lists stopped containers too when `limit` or a `before`
    // anchor is given, even without all=1.
    bool limit_implies_all = true;
};

class fake_engine {
public:
    // Listens on `socket_path` (replacing a stale file) and starts serving.
    explicit fake_engine(std::filesystem::path socket_path, engine_profile profile = {});
    ~fake_engine();
    fake_engine(const fake_engine&) = delete;
    fake_engine& operator=(const fake_engine&) = delete;

    const std::filesystem::path& socket_path() const { return path_; }
    std::string url() const { return "unix://" + path_.string(); }

    // Scripted replies, tried in the order given before the built-in
    // behaviour. `what` is matched against the request's whole target
    // (path and query, decoded), its path, or its route (path without the
    // version prefix). A reply with `times` > 0 is used that often, then
    // skipped.
    enum class match { target, path, route };
    void on(std::string method, std::string what, fake_reply reply, match how = match::target, std::size_t times = 0);
    // A handler consulted after the scripted replies; nullopt passes on.
    void on(std::function<std::optional<fake_reply>(const fake_request&)> handler);

    // What GET /containers/json lists, newest first. `running`, when given,
    // is what the engine answers when stopped containers are not asked for
    // (else it filters `all` by state).
    void set_containers(boost::json::array all, std::optional<boost::json::array> running = std::nullopt,
                        container_list_options opts = {});
    void set_list_options(container_list_options opts);
    // Called on the engine's thread before each GET /containers/json is
    // answered (`nth` counts from 0), with the list to change, under the
    // engine's lock: it must not call the engine.
    void set_list_hook(std::function<void(std::size_t nth, const fake_request&, boost::json::array& all)> hook);
    bool remove_container(std::string_view id);

    // Called on the engine's thread for every request, once recorded and
    // before it is answered.
    void on_received(std::function<void(const fake_request&)> observer);

    std::vector<fake_request> requests() const;
    std::vector<fake_request> requests_to(std::string_view route) const;
    // Requests whose /vX.Y prefix is above `version`.
    std::vector<fake_request> requests_above(std::string_view version) const;
    // Internal errors of the fake itself (a test should expect none).
    std::vector<std::string> errors() const;

    // Closes every connection and joins the thread. Idempotent.
    void stop();

    struct impl;  // implementation detail (fake_engine.cpp)

private:
    std::filesystem::path path_;
    std::unique_ptr<impl> impl_;
};

// `n` made-up containers, newest first: ids are 64 hex digits, names
// "/<prefix>-NNNN", every third one exited.
boost::json::array make_containers(std::size_t n, std::string_view prefix = "c");

}  // namespace stocktake::test
