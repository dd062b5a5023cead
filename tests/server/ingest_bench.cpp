// stocktake-ingest-bench: PUTs an inventory JSON file from N concurrent
// keep-alive connections for T seconds against a stocktake-server and
// prints the rate, for changed bodies (every PUT is a write) and for
// unchanged ones (what the agent sends when only `refreshed` moved: PATCH
// {"refreshed", "content_sha256"}, a few hundred bytes instead of the
// inventory; the server updates `refreshed` in place).
//
//   stocktake-ingest-bench --url http://127.0.0.1:8443 --auth agent-a:pass-a
//       --file inventory.json [--connections 50] [--seconds 10]
//       [--mode changed|unchanged|both] [--gzip] [--ca ca.crt] [--id-prefix bench-]
//
// Output, one line per mode, then key=value lines for scripts:
//   changed: 5321 PUTs in 10.00 s = 532.1 PUT/s (50 connections, body 91234 B, p50 80.1 ms, p99 190.0 ms, 0 errors)
//   changed_puts_per_second=532.1
//   unchanged: ... PATCHes ...   unchanged_patches_per_second=...

// GCC 12 at -O3 reports -Wnull-dereference inside Asio's any_executor
// comparisons (system headers, inlined here); not a problem of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif

#include "http_client.hpp"

#include "stocktake/core/digest.hpp"
#include "stocktake/core/inventory_json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const char* const usage = R"(Usage: stocktake-ingest-bench --url URL --auth ID:PASSWORD --file INVENTORY.json
                              [--connections N] [--seconds T] [--mode changed|unchanged|both]
                              [--gzip] [--ca FILE] [--id-prefix PREFIX]

PUTs INVENTORY.json to URL/api/v1/clients/<PREFIX><n>/inventory from N
concurrent keep-alive connections (default 50) for T seconds (default 10)
and prints the rate. "changed" sends a different body each time (every
PUT is a database write); "unchanged" does what an agent does when its
inventory has not changed: PATCH {"refreshed", "content_sha256"}, expecting 204.
Exit status: 0 done, 1 usage error, 2 the server failed requests.
)";

struct options {
    std::string url;
    std::string auth;
    std::string file;
    int connections = 50;
    double seconds = 10;
    std::string mode = "both";
    bool gzip = false;
    std::string ca;
    std::string prefix = "bench-";
};

struct stats {
    std::size_t ok = 0;
    std::size_t errors = 0;
    std::vector<double> latency_ms;
};

struct target {
    asio::ip::tcp::endpoint ep;
    std::shared_ptr<asio::ssl::context> tls;
    std::string host;
    std::string base;  // path prefix from the URL, without trailing '/'
};

struct run_state {
    const options& opt;
    const target& tgt;
    std::vector<std::string> bodies;  // variants, compact JSON (gzip'ed if asked)
    std::string content_hash;         // stocktake::content_hash of the inventory (unchanged mode)
    clock_type::time_point deadline;
    stats st;
};

std::string path_for(const run_state& s, int conn) {
    return s.tgt.base + "/api/v1/clients/" + s.opt.prefix + std::to_string(conn) + "/inventory";
}

asio::awaitable<void> changed_worker(asio::io_context& ioc, run_state& s, int conn) {
    stocktake::test::http_client c(ioc.get_executor(), s.tgt.ep, s.tgt.tls, s.tgt.host);
    const std::string path = path_for(s, conn);
    for (std::size_t i = static_cast<std::size_t>(conn); clock_type::now() < s.deadline; ++i) {
        auto req = stocktake::test::make_request(http::verb::put, path, s.opt.auth, s.bodies[i % s.bodies.size()]);
        if (s.opt.gzip) req.set(http::field::content_encoding, "gzip");
        const auto t0 = clock_type::now();
        try {
            const auto r = co_await c.request(req, 30s);
            if (r.result_int() == 204) {
                ++s.st.ok;
                s.st.latency_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            } else {
                ++s.st.errors;
            }
        } catch (const std::exception&) {
            ++s.st.errors;  // the connection failed: this worker stops (no reconnect storm)
            break;
        }
    }
    c.close();
}

asio::awaitable<void> unchanged_worker(asio::io_context& ioc, run_state& s, int conn) {
    stocktake::test::http_client c(ioc.get_executor(), s.tgt.ep, s.tgt.tls, s.tgt.host);
    const std::string path = path_for(s, conn);
    try {
        // Make sure the server has exactly this inventory first.
        auto req = stocktake::test::make_request(http::verb::put, path, s.opt.auth, s.bodies[0]);
        if (s.opt.gzip) req.set(http::field::content_encoding, "gzip");
        const auto r = co_await c.request(req, 30s);
        if (r.result_int() != 204) {
            ++s.st.errors;
            co_return;
        }
    } catch (const std::exception&) {
        ++s.st.errors;
        co_return;
    }
    for (std::size_t i = 0; clock_type::now() < s.deadline; ++i) {
        char refreshed[40];
        std::snprintf(refreshed, sizeof refreshed, "2030-01-01T00:00:00.%09zuZ", i % 1000000000);
        const std::string patch =
            std::string("{\"refreshed\":\"") + refreshed + "\",\"content_sha256\":\"" + s.content_hash + "\"}";
        auto req = stocktake::test::make_request(http::verb::patch, path, s.opt.auth, patch);
        req.set(http::field::content_type, "application/merge-patch+json");
        const auto t0 = clock_type::now();
        try {
            const auto r = co_await c.request(req, 30s);
            if (r.result_int() == 204) {
                ++s.st.ok;
                s.st.latency_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            } else {
                ++s.st.errors;
            }
        } catch (const std::exception&) {
            ++s.st.errors;  // the connection failed: this worker stops (no reconnect storm)
            break;
        }
    }
    c.close();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

bool run_mode(const options& opt, const target& tgt, const std::string& text, bool changed) {
    asio::io_context ioc;
    run_state s{opt, tgt, {}, {}, {}, {}};
    // Variants differ in their "refreshed" nanoseconds, as successive refreshes would.
    boost::json::value v = boost::json::parse(text);
    const std::string refreshed = v.as_object().contains("refreshed") && v.at("refreshed").is_string()
                                      ? std::string(v.at("refreshed").as_string())
                                      : std::string("2024-01-01T00:00:00.000000000Z");
    const int variants = changed ? 16 : 1;
    for (int i = 0; i < variants; ++i) {
        std::string r = refreshed;
        if (r.size() >= 11 && changed) {
            const std::string digits = std::to_string(100000000 + i);
            r.replace(r.size() - 10, 9, digits.substr(digits.size() - 9));
        }
        v.as_object()["refreshed"] = r;
        const std::string body = boost::json::serialize(v);
        if (i == 0) {
            std::string why;
            const auto inv = stocktake::inventory_from_json(v, why);
            if (!inv) throw std::runtime_error(opt.file + ": not an inventory: " + why);
            s.content_hash = stocktake::content_hash(*inv);
        }
        s.bodies.push_back(opt.gzip ? stocktake::test::gzip(body) : body);
    }
    const std::size_t plain_size = boost::json::serialize(v).size();
    const auto start = clock_type::now();
    s.deadline = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt.seconds));
    int finished = 0;
    for (int c = 0; c < opt.connections; ++c) {
        auto work = changed ? changed_worker(ioc, s, c) : unchanged_worker(ioc, s, c);
        asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr) { ++finished; });
    }
    ioc.run();
    const double took = std::chrono::duration<double>(clock_type::now() - start).count();
    const double rate = static_cast<double>(s.st.ok) / took;
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s: %zu %s in %.2f s = %.1f %s/s (%d connections, body %zu B%s, p50 %.1f ms, p99 %.1f ms, %zu errors)\n",
                  changed ? "changed" : "unchanged", s.st.ok, changed ? "PUTs" : "PATCHes", took, rate,
                  changed ? "PUT" : "PATCH", opt.connections, plain_size,
                  opt.gzip ? (", gzip " + std::to_string(s.bodies[0].size()) + " B").c_str() : "",
                  percentile(s.st.latency_ms, 0.5), percentile(s.st.latency_ms, 0.99), s.st.errors);
    std::cout << line;
    std::snprintf(line, sizeof line, "%s=%.1f\n", changed ? "changed_puts_per_second" : "unchanged_patches_per_second", rate);
    std::cout << line << std::flush;
    return s.st.errors == 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
            return args[++i];
        };
        try {
            if (a == "-h" || a == "--help") {
                std::cout << usage;
                return 0;
            } else if (a == "--url") opt.url = value();
            else if (a == "--auth") opt.auth = value();
            else if (a == "--file") opt.file = value();
            else if (a == "--connections") opt.connections = std::stoi(value());
            else if (a == "--seconds") opt.seconds = std::stod(value());
            else if (a == "--mode") opt.mode = value();
            else if (a == "--gzip") opt.gzip = true;
            else if (a == "--ca") opt.ca = value();
            else if (a == "--id-prefix") opt.prefix = value();
            else throw std::invalid_argument("unknown option " + a);
        } catch (const std::exception& e) {
            std::cerr << "stocktake-ingest-bench: " << e.what() << "\n" << usage;
            return 1;
        }
    }
    if (opt.url.empty() || opt.auth.empty() || opt.file.empty() || opt.connections < 1 || opt.seconds <= 0 ||
        (opt.mode != "changed" && opt.mode != "unchanged" && opt.mode != "both")) {
        std::cerr << usage;
        return 1;
    }
    std::ifstream f(opt.file, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!f) {
        std::cerr << "stocktake-ingest-bench: cannot read " << opt.file << "\n";
        return 1;
    }
    const std::string text = ss.str();
    try {
        (void)boost::json::parse(text);
    } catch (const std::exception& e) {
        std::cerr << "stocktake-ingest-bench: " << opt.file << ": not JSON: " << e.what() << "\n";
        return 1;
    }
    auto url = boost::urls::parse_uri(opt.url);
    if (!url || (url->scheme() != "http" && url->scheme() != "https")) {
        std::cerr << "stocktake-ingest-bench: --url must be http://host:port or https://host:port\n";
        return 1;
    }
    target tgt;
    tgt.host = std::string(url->host());
    tgt.base = std::string(url->encoded_path());
    while (!tgt.base.empty() && tgt.base.back() == '/') tgt.base.pop_back();
    const bool https = url->scheme() == "https";
    const std::string port = url->has_port() ? std::string(url->port()) : (https ? "443" : "80");
    try {
        asio::io_context ioc;
        asio::ip::tcp::resolver res(ioc);
        std::string host = tgt.host;
        if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
        tgt.ep = *res.resolve(host, port).begin();
        if (https) {
            tgt.tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
            if (opt.ca.empty())
                tgt.tls->set_default_verify_paths();
            else
                tgt.tls->load_verify_file(opt.ca);
        }
    } catch (const std::exception& e) {
        std::cerr << "stocktake-ingest-bench: " << opt.url << ": " << e.what() << "\n";
        return 1;
    }
    bool ok = true;
    try {
        if (opt.mode != "unchanged") ok = run_mode(opt, tgt, text, true) && ok;
        if (opt.mode != "changed") ok = run_mode(opt, tgt, text, false) && ok;
    } catch (const std::exception& e) {
        std::cerr << "stocktake-ingest-bench: " << e.what() << "\n";
        return 1;
    }
    return ok ? 0 : 2;
}
