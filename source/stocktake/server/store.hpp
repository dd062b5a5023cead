#pragma once
// The embedded database: SQLite in WAL mode with synchronous=FULL in
// data_dir/stocktake.db, so an acknowledged PUT survives kill -9 and power
// loss. One worker thread owns the connection; the event loop never
// touches SQLite.
//
// Writes are group-committed: the worker takes every PUT queued while it
// was busy and applies them in one transaction (one fsync), then completes
// each one. The ownership check (a client id belongs to the auth id that
// first wrote it) and the preconditions are evaluated inside that
// transaction, so two racing agents cannot both win.
//
// Expected outcomes (forbidden, precondition failed) are values; a broken
// database is reported as put_status::failed (writes) or as an exception
// (reads).

#include "stocktake/server/api.hpp"
#include "stocktake/server/log.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace stocktake::server {

// What the event loop may know without asking the database.
struct client_meta {
    std::string auth_id;
    std::string name;
    std::string etag;          // hex digest of the stored inventory text
    std::size_t size = 0;      // bytes of the stored inventory text
    std::string content_hash;  // stocktake::content_hash (without `refreshed`)
};

struct client_record {
    std::string id;
    std::string auth_id;
    std::string name;
    std::string inventory;  // JSON text as stored
    std::string etag;
    std::string updated_at;  // RFC 3339 UTC
};

struct put_request {
    std::string id;
    std::string auth_id;
    std::optional<std::string> name;  // from X-Stocktake-Client-Name
    std::string inventory;            // validated, re-serialised JSON
    std::string etag;                 // hex SHA-256 of `inventory`
    std::string content_hash;         // stocktake::content_hash of it
    etag_condition if_match;
    etag_condition if_none_match;
};

enum class put_status { stored, forbidden, precondition_failed, failed };

struct put_outcome {
    put_status status = put_status::failed;
    bool created = false;
    std::string owner;    // forbidden: the auth id that owns the client
    std::string message;  // failed: what went wrong
};

class database;  // the SQLite connection (store.cpp)

class store {
public:
    // Opens (creating if needed) data_dir/stocktake.db and starts the worker.
    // Throws std::runtime_error naming the file on failure, or when another
    // server holds data_dir (an flock on data_dir/stocktake.lock).
    store(const std::string& data_dir, logger log);
    ~store();  // stop()
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::string& path() const noexcept { return path_; }

    // Thread-safe and in memory only.
    std::optional<client_meta> lookup(std::string_view id) const;
    std::size_t size() const;

    // async_put(request, token): completion void(put_outcome), on the
    // handler's associated executor, after the transaction holding this
    // write has committed (or failed). Not cancellable: once queued a write
    // runs to its end, so a 204 always means "on disk".
    //
    // Arguments are taken by reference so that no temporary lives inside
    // the caller's co_await expression (GCC 12 mishandles those).
    template <class Token>
    auto async_put(put_request&& req, Token&& token) {
        return boost::asio::async_initiate<Token, void(put_outcome)>(
            [this](auto handler, put_request r) {
                auto done = bind_completion<put_outcome>(std::move(handler));
                enqueue_put(std::move(r), [done](put_outcome o) mutable { done(std::move(o)); });
            },
            token, std::move(req));
    }

    // async_get(id, token): void(std::exception_ptr, std::optional<client_record>).
    template <class Token>
    auto async_get(const std::string& id, Token&& token) {
        using R = std::optional<client_record>;
        return boost::asio::async_initiate<Token, void(std::exception_ptr, R)>(
            [this](auto handler, std::string i) {
                auto done = bind_completion<std::exception_ptr, R>(std::move(handler));
                enqueue_read([done, i = std::move(i)](database& db) mutable {
                    std::exception_ptr ep;
                    R r;
                    try {
                        r = get(db, i);
                    } catch (...) {
                        ep = std::current_exception();
                    }
                    done(ep, std::move(r));
                });
            },
            token, std::string(id));
    }

    // async_list(token): void(std::exception_ptr, std::vector<client_record>), ordered by id.
    template <class Token>
    auto async_list(Token&& token) {
        using R = std::vector<client_record>;
        return boost::asio::async_initiate<Token, void(std::exception_ptr, R)>(
            [this](auto handler) {
                auto done = bind_completion<std::exception_ptr, R>(std::move(handler));
                enqueue_read([done](database& db) mutable {
                    std::exception_ptr ep;
                    R r;
                    try {
                        r = list(db);
                    } catch (...) {
                        ep = std::current_exception();
                    }
                    done(ep, std::move(r));
                });
            },
            token);
    }

    // Runs what is queued, then ends the worker. Idempotent.
    void stop();

    // Batches committed so far and writes in them (for logs and tests).
    std::size_t commits() const;

private:
    // Wraps a handler into a copyable callable that may be invoked from the
    // worker thread: it posts the completion to the handler's executor and
    // keeps that executor's work alive until then.
    template <class... Args, class Handler>
    static auto bind_completion(Handler handler) {
        auto ex = boost::asio::get_associated_executor(handler);
        struct state {
            Handler h;
            boost::asio::executor_work_guard<decltype(ex)> work;
        };
        auto st = std::make_shared<state>(state{std::move(handler), boost::asio::make_work_guard(ex)});
        return [st, ex](Args... args) {
            boost::asio::post(ex, [st, ... a = std::move(args)]() mutable {
                auto work = std::move(st->work);
                std::move(st->h)(std::move(a)...);
            });
        };
    }

    struct pending_put {
        put_request req;
        std::function<void(put_outcome)> done;
    };

    void enqueue_put(put_request r, std::function<void(put_outcome)> done);
    void enqueue_read(std::function<void(database&)> job);
    void worker();
    void apply_batch(std::vector<pending_put>& batch);
    static std::optional<client_record> get(database& db, const std::string& id);
    static std::vector<client_record> list(database& db);

    std::string path_;
    int lock_fd_ = -1;  // flock on data_dir/stocktake.lock
    logger log_;
    std::unique_ptr<database> db_;

    mutable std::shared_mutex meta_mutex_;
    std::map<std::string, client_meta, std::less<>> meta_;

    mutable std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::vector<pending_put> puts_;
    std::vector<std::function<void(database&)>> reads_;
    bool stopping_ = false;
    std::size_t commits_ = 0;
    std::thread thread_;
};

}  // namespace stocktake::server
