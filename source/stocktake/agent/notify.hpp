#pragma once
#include <string_view>

namespace stocktake {

// Tells systemd about the service's state (Type=notify), as sd_notify(3)
// does, without linking libsystemd: a datagram to $NOTIFY_SOCKET. A no-op
// when not started by systemd.
void notify_systemd(std::string_view state);

}  // namespace stocktake
