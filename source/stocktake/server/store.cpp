#include "stocktake/server/store.hpp"

#include "stocktake/core/time.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace stocktake::server {

// A thin RAII layer over one sqlite3 connection. Every failure throws
// std::runtime_error with SQLite's message and the file name.
class database {
public:
    explicit database(const std::string& path) : path_(path) {
        // Inventories are for the API users only: owner-only file (SQLite
        // gives the -wal and -shm files the same mode).
        if (const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
        const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            sqlite3_close(db_);
            db_ = nullptr;
            throw std::runtime_error(path + ": cannot open the database: " + why);
        }
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, 5000);
        const std::string mode = query_text("PRAGMA journal_mode=WAL");
        if (mode != "wal") throw std::runtime_error(path + ": cannot switch the database to WAL mode (got '" + mode + "')");
        // FULL: the WAL is synced at every commit, so a 204 survives power loss too.
        exec("PRAGMA synchronous=FULL");
        exec("PRAGMA foreign_keys=ON");
        exec(R"(CREATE TABLE IF NOT EXISTS clients (
                  id         TEXT PRIMARY KEY NOT NULL,
                  auth_id    TEXT NOT NULL,
                  name       TEXT NOT NULL,
                  inventory  TEXT NOT NULL,   -- the inventory object, JSON text as stored
                  updated_at TEXT NOT NULL,   -- RFC 3339 UTC, when the server stored it
                  etag       TEXT NOT NULL,   -- hex SHA-256 of inventory
                  content_hash TEXT NOT NULL DEFAULT ''  -- SHA-256 of the inventory without `refreshed`
                ))");
        if (query_text("SELECT count(*) FROM pragma_table_info('clients') WHERE name = 'content_hash'") == "0")
            exec("ALTER TABLE clients ADD COLUMN content_hash TEXT NOT NULL DEFAULT ''");
        exec("PRAGMA user_version=1");
    }
    ~database() {
        for (auto* s : {upsert_, select_meta_}) sqlite3_finalize(s);
        if (db_) sqlite3_close_v2(db_);
    }
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    void exec(const char* sql) {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string why = msg ? msg : sqlite3_errmsg(db_);
            sqlite3_free(msg);
            throw std::runtime_error(path_ + ": " + why);
        }
    }

    std::string query_text(const char* sql) {
        sqlite3_stmt* st = prepare(sql);
        std::string out;
        if (sqlite3_step(st) == SQLITE_ROW) out = column(st, 0);
        sqlite3_finalize(st);
        return out;
    }

    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) fail("prepare");
        return st;
    }

    [[noreturn]] void fail(const char* what) const {
        throw std::runtime_error(path_ + ": " + what + ": " + sqlite3_errmsg(db_));
    }

    static std::string column(sqlite3_stmt* st, int i) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
    }

    void bind(sqlite3_stmt* st, int i, std::string_view v) {
        if (sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC) != SQLITE_OK) fail("bind");
    }

    std::optional<client_meta> meta(std::string_view id) {
        if (!select_meta_) select_meta_ = prepare("SELECT auth_id, name, etag, length(CAST(inventory AS BLOB)), content_hash FROM clients WHERE id = ?1");
        sqlite3_reset(select_meta_);
        bind(select_meta_, 1, id);
        std::optional<client_meta> out;
        const int rc = sqlite3_step(select_meta_);
        if (rc == SQLITE_ROW)
            out = client_meta{column(select_meta_, 0), column(select_meta_, 1), column(select_meta_, 2),
                              static_cast<std::size_t>(sqlite3_column_int64(select_meta_, 3)), column(select_meta_, 4)};
        else if (rc != SQLITE_DONE)
            fail("select");
        sqlite3_reset(select_meta_);
        sqlite3_clear_bindings(select_meta_);
        return out;
    }

    void upsert(const put_request& r, std::string_view name, std::string_view now) {
        if (!upsert_)
            upsert_ = prepare(R"(INSERT INTO clients (id, auth_id, name, inventory, updated_at, etag, content_hash)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, inventory = excluded.inventory,
                                   updated_at = excluded.updated_at, etag = excluded.etag,
                                   content_hash = excluded.content_hash)");
        sqlite3_reset(upsert_);
        bind(upsert_, 1, r.id);
        bind(upsert_, 2, r.auth_id);
        bind(upsert_, 3, name);
        bind(upsert_, 4, r.inventory);
        bind(upsert_, 5, now);
        bind(upsert_, 6, r.etag);
        bind(upsert_, 7, r.content_hash);
        if (sqlite3_step(upsert_) != SQLITE_DONE) {
            sqlite3_reset(upsert_);
            fail("write");
        }
        sqlite3_reset(upsert_);
        sqlite3_clear_bindings(upsert_);
    }

    template <class F>
    void each_record(const char* sql, std::string_view id, F f) {
        sqlite3_stmt* st = prepare(sql);
        try {
            if (!id.empty()) bind(st, 1, id);
            int rc;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                f(client_record{column(st, 0), column(st, 1), column(st, 2), column(st, 3), column(st, 5), column(st, 4)});
            }
            if (rc != SQLITE_DONE) fail("read");
        } catch (...) {
            sqlite3_finalize(st);
            throw;
        }
        sqlite3_finalize(st);
    }

    void rollback() noexcept { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }
    bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* upsert_ = nullptr;
    sqlite3_stmt* select_meta_ = nullptr;
};

namespace {
constexpr const char* record_columns = "SELECT id, auth_id, name, inventory, updated_at, etag FROM clients";
}

store::store(const std::string& data_dir, logger log)
    : path_((std::filesystem::path(data_dir) / "stocktake.db").string()), log_(std::move(log)) {
    // One server per data_dir: a second one would only meet SQLITE_BUSY.
    const std::string lock_path = (std::filesystem::path(data_dir) / "stocktake.lock").string();
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) throw std::runtime_error(lock_path + ": cannot open: " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        ::close(lock_fd_);
        lock_fd_ = -1;
        if (e == EWOULDBLOCK)
            throw std::runtime_error(data_dir + ": in use by another stocktake-server (" + lock_path + " is locked)");
        throw std::runtime_error(lock_path + ": cannot lock: " + std::strerror(e));
    }
    db_ = std::make_unique<database>(path_);
    sqlite3_stmt* st =
        db_->prepare("SELECT id, auth_id, name, etag, length(CAST(inventory AS BLOB)), content_hash FROM clients");
    while (sqlite3_step(st) == SQLITE_ROW)
        meta_.emplace(database::column(st, 0),
                      client_meta{database::column(st, 1), database::column(st, 2), database::column(st, 3),
                                  static_cast<std::size_t>(sqlite3_column_int64(st, 4)), database::column(st, 5)});
    sqlite3_finalize(st);
    thread_ = std::thread([this] { worker(); });
}

store::~store() {
    stop();
    db_.reset();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

void store::stop() {
    {
        std::lock_guard lk(queue_mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::optional<client_meta> store::lookup(std::string_view id) const {
    std::shared_lock lk(meta_mutex_);
    const auto it = meta_.find(id);
    if (it == meta_.end()) return std::nullopt;
    return it->second;
}

std::size_t store::size() const {
    std::shared_lock lk(meta_mutex_);
    return meta_.size();
}

std::size_t store::commits() const {
    std::lock_guard lk(queue_mutex_);
    return commits_;
}

void store::enqueue_put(put_request r, std::function<void(put_outcome)> done) {
    {
        std::lock_guard lk(queue_mutex_);
        if (!stopping_) {
            puts_.push_back(pending_put{std::move(r), std::move(done)});
            queue_cv_.notify_one();
            return;
        }
    }
    done(put_outcome{put_status::failed, false, {}, "the server is shutting down"});
}

void store::enqueue_read(std::function<void(database&)> job) {
    std::lock_guard lk(queue_mutex_);
    reads_.push_back(std::move(job));
    queue_cv_.notify_one();
}

void store::worker() {
    for (;;) {
        std::vector<pending_put> batch;
        std::vector<std::function<void(database&)>> reads;
        {
            std::unique_lock lk(queue_mutex_);
            queue_cv_.wait(lk, [&] { return stopping_ || !puts_.empty() || !reads_.empty(); });
            if (puts_.empty() && reads_.empty()) return;  // stopping, nothing left
            batch.swap(puts_);
            reads.swap(reads_);
        }
        if (!batch.empty()) apply_batch(batch);
        for (auto& r : reads) r(*db_);
    }
}

void store::apply_batch(std::vector<pending_put>& batch) {
    std::vector<put_outcome> out(batch.size());
    std::vector<std::pair<std::string, client_meta>> updates;
    const std::string now = format_rfc3339_nanos(std::chrono::system_clock::now());
    try {
        db_->exec("BEGIN IMMEDIATE");
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const auto& r = batch[i].req;
            const auto m = db_->meta(r.id);  // sees this batch's earlier writes
            if (m && m->auth_id != r.auth_id) {
                out[i] = {put_status::forbidden, false, m->auth_id, {}};
                continue;
            }
            const std::optional<std::string> current = m ? std::optional<std::string>(m->etag) : std::nullopt;
            if (evaluate_preconditions(false, r.if_match, r.if_none_match, current) != precondition::proceed) {
                out[i] = {put_status::precondition_failed, false, {}, {}};
                continue;
            }
            const std::string name = r.name ? *r.name : (m ? m->name : r.id);
            db_->upsert(r, name, now);
            out[i] = {put_status::stored, !m, {}, {}};
            updates.emplace_back(r.id, client_meta{r.auth_id, name, r.etag, r.inventory.size(), r.content_hash});
        }
        db_->exec("COMMIT");
    } catch (const std::exception& e) {
        if (db_->in_transaction()) db_->rollback();
        log_.error(std::string("database: a write of ") + std::to_string(batch.size()) + " inventories failed: " + e.what());
        for (auto& o : out)
            if (o.status == put_status::stored) o = {put_status::failed, false, {}, e.what()};
        updates.clear();
    }
    {
        std::unique_lock lk(meta_mutex_);
        for (auto& [id, m] : updates) meta_[id] = std::move(m);
    }
    {
        std::lock_guard lk(queue_mutex_);
        ++commits_;
    }
    if (batch.size() > 1) log_.debug("database: committed " + std::to_string(batch.size()) + " writes in one transaction");
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(out[i]));
}

std::optional<client_record> store::get(database& db, const std::string& id) {
    std::optional<client_record> out;
    db.each_record((std::string(record_columns) + " WHERE id = ?1").c_str(), id, [&](client_record r) { out = std::move(r); });
    return out;
}

std::vector<client_record> store::list(database& db) {
    std::vector<client_record> out;
    db.each_record((std::string(record_columns) + " ORDER BY id").c_str(), {}, [&](client_record r) { out.push_back(std::move(r)); });
    return out;
}

}  // namespace stocktake::server
