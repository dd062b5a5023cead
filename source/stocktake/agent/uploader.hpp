#pragma once
// Delivery of inventories to the Stocktake server.
//
// - The newest inventory wins: submit() replaces whatever was waiting.
// - Before any attempt it is written atomically to data_dir/pending.json,
//   so a restart or crash delivers it; it is removed only once the
//   server acknowledged it (204).
// - An inventory whose content (everything but `refreshed`) equals the last
//   acknowledged one is not re-sent whole: the agent sends
//   PATCH /api/v1/clients/{id}/inventory {"refreshed", "content_sha256"},
//   which the server applies only if its stored content has that hash
//   (else 412, and the agent PUTs the whole inventory).
// - Failures retry with exponential backoff and jitter, capped.

#include "stocktake/agent/logger.hpp"
#include "stocktake/agent/schedule.hpp"
#include "stocktake/core/inventory.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace stocktake {

struct upload_options {
    std::string server;  // https://host:port (validated)
    std::string auth;    // <auth-id>:<password>
    std::string client_id;
    std::string client_name;
    std::optional<std::string> ca_file;
    std::string data_dir;
    std::chrono::milliseconds retry_min{1'000};
    std::chrono::milliseconds retry_max{60'000};
    std::chrono::milliseconds timeout{30'000};
};

struct upload_status {
    bool configured = false;
    std::string server;
    bool pending = false;
    std::optional<std::chrono::system_clock::time_point> last_success;
    std::optional<std::chrono::system_clock::time_point> last_attempt;
    std::string last_error;
    std::string last_mode;  // "full" | "unchanged"
    unsigned failures = 0;  // consecutive
    std::optional<std::chrono::system_clock::time_point> next_retry;
};

class uploader {
public:
    // Throws std::runtime_error on a bad ca_file or server URL. `pool` may
    // run blocking transport work (WinHTTP on Windows).
    uploader(boost::asio::any_io_executor ex, upload_options opts, logger log, boost::asio::any_io_executor pool = {});
    ~uploader();

    // Loads data_dir/pending.json (if a previous run left one) as the
    // inventory to deliver. Call once before run().
    void load_pending();

    // Makes `inv` the inventory to deliver (persisted first).
    void submit(const inventory& inv);

    // Delivers until cancelled.
    boost::asio::awaitable<void> run();

    upload_status status() const;

    // Switches to new options (server, credentials...) from a reload.
    void reconfigure(upload_options opts);

    // Makes run() return (the server was removed from the config).
    void retire();

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace stocktake
