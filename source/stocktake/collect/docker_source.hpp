#pragma once
// The Docker source: lists containers through the Docker Engine API
// (also served by Podman) over a unix socket or TCP.

#include "stocktake/collect/source.hpp"
#include "stocktake/core/error.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stocktake {

struct docker_endpoint {
    enum class kind { unix_socket, tcp, npipe };
    kind type = kind::unix_socket;
    std::string path;  // unix socket path or pipe name
    std::string host;  // tcp
    std::string port;  // tcp
    std::string url;   // as the user would write it, for messages
};

// Parses a DOCKER_HOST-style URL: unix:///path, tcp://host:port (also
// http://), npipe:////./pipe/name. Fails with `unsupported` for other
// schemes (ssh://) and names the offending value.
bool parse_docker_host(std::string_view url, docker_endpoint& out, failure& err);

struct docker_options {
    std::optional<std::string> docker_host;  // [inventory] docker_host
    std::optional<std::string> env_host;     // DOCKER_HOST; wins over docker_host
    // Tried in order when neither is set; the first that exists is used.
    std::vector<std::string> default_sockets = {"/var/run/docker.sock", "/run/podman/podman.sock"};
    bool all = true;             // false: running containers only
    std::size_t page_size = 100;  // containers per /containers/json request
    std::chrono::milliseconds step_timeout{10'000};  // connect, write, read: each
    std::size_t max_body = 32u << 20;  // per response, after de-chunking
};

// Adds $XDG_RUNTIME_DIR/podman/podman.sock (when set) to the defaults and
// fills env_host from DOCKER_HOST.
docker_options docker_options_from_environment(docker_options base);

std::unique_ptr<source> make_docker_source(docker_options opts);

}  // namespace stocktake
