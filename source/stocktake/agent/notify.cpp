#include "stocktake/agent/notify.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace stocktake {

#ifdef _WIN32
void notify_systemd(std::string_view) {}  // the SCM is told by the service glue instead
#else

void notify_systemd(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t len = std::strlen(path);
    if (len >= sizeof(addr.sun_path)) return;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), alen);
    ::close(fd);
}
#endif

}  // namespace stocktake
