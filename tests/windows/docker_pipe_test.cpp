// The Docker source over a Windows named pipe (npipe://), against a small
// fake engine serving a pipe from threads of this process.

#include "stocktake/collect/docker_source.hpp"
#include "support/fixtures.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>
#include <vector>

#include <windows.h>

using namespace stocktake;
using namespace stocktake::test;

namespace {

std::string answer(const std::string& request) {
    auto reply = [](const std::string& body, const std::string& extra = "") {
        return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra + "Content-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body;
    };
    if (request.starts_with("GET /_ping")) return reply("OK", "API-Version: 1.43\r\n");
    if (request.find("/containers/json") != std::string::npos)
        return reply(R"([{"Id":"aaa1","Names":["/web"],"Image":"nginx:1.25","ImageID":"sha256:11","State":"running","Status":"Up 2 minutes"},)"
                     R"({"Id":"bbb2","Names":["/db","/web/db"],"Image":"postgres:16","ImageID":"sha256:22","State":"exited","Status":"Exited (0) 1 hour ago"}])");
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

// Listens on `instances` pipe instances at once (each connection of the
// client finds a free one), one thread each.
class fake_pipe_engine {
public:
    explicit fake_pipe_engine(int instances) {
        name_ = L"\\\\.\\pipe\\stocktake-test-" + std::to_wstring(::GetCurrentProcessId());
        for (int i = 0; i < instances; ++i) {
            HANDLE h = ::CreateNamedPipeW(name_.c_str(), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, PIPE_UNLIMITED_INSTANCES, 65536,
                                          65536, 0, nullptr);
            BOOST_TEST_REQUIRE((h != INVALID_HANDLE_VALUE));
            threads_.emplace_back([h] {
                if (::ConnectNamedPipe(h, nullptr) || ::GetLastError() == ERROR_PIPE_CONNECTED) {
                    std::string req;
                    char buf[4096];
                    DWORD n = 0;
                    while (req.find("\r\n\r\n") == std::string::npos && ::ReadFile(h, buf, sizeof buf, &n, nullptr) && n > 0)
                        req.append(buf, n);
                    if (!req.empty()) {
                        const std::string out = answer(req);
                        DWORD written = 0;
                        ::WriteFile(h, out.data(), static_cast<DWORD>(out.size()), &written, nullptr);
                        ::FlushFileBuffers(h);
                    }
                    ::DisconnectNamedPipe(h);
                }
                ::CloseHandle(h);
            });
        }
    }
    ~fake_pipe_engine() {
        // Unblock instances nobody connected to.
        for (std::size_t i = 0; i < threads_.size(); ++i) {
            HANDLE c = ::CreateFileW(name_.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0, nullptr);
            if (c != INVALID_HANDLE_VALUE) ::CloseHandle(c);
        }
        for (auto& t : threads_) t.join();
    }
    std::string url() const {
        std::string n;
        for (wchar_t c : name_) n.push_back(c == L'\\' ? '/' : static_cast<char>(c));
        return "npipe://" + n;  // npipe:////./pipe/stocktake-test-<pid>
    }

private:
    std::wstring name_;
    std::vector<std::thread> threads_;
};

source_result collect(const std::string& host) {
    docker_options o;
    o.docker_host = host;
    o.step_timeout = std::chrono::seconds{5};
    auto src = make_docker_source(o);
    boost::asio::io_context ioc;
    return run_bounded(ioc, src->collect());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(docker_npipe)

BOOST_AUTO_TEST_CASE(lists_containers_over_a_named_pipe) {
    fake_pipe_engine engine(4);
    const auto r = collect(engine.url());
    BOOST_TEST_REQUIRE((r.outcome == source_outcome::ok), (r.error ? r.error->message : r.detail));
    BOOST_TEST_REQUIRE(r.containers.size() == 2u);
    BOOST_TEST(r.containers[0].container_name == "/web");
    BOOST_TEST(r.containers[0].state == "running");
    BOOST_TEST(r.containers[1].container_name == "/db");
    BOOST_TEST(r.containers[1].image_name == "postgres:16");
}

BOOST_AUTO_TEST_CASE(no_pipe_means_no_engine) {
    const auto r = collect("npipe:////./pipe/stocktake-no-such-engine");
    BOOST_TEST((r.outcome == source_outcome::absent), (r.error ? r.error->message : r.detail));
}

BOOST_AUTO_TEST_SUITE_END()
