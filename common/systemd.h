// The systemd notify protocol (Type=notify, watchdog) through libsystemd.
// libsystemd is Debian's and is what systemd itself uses; it handles abstract
// sockets, credentials and the watchdog variables we would otherwise parse.
#pragma once

#include <chrono>
#include <string_view>

namespace ehabus {

void NotifyReady(std::string_view status);
void NotifyStopping();
void NotifyStatus(std::string_view status);

// Sends WATCHDOG=1 at half the interval systemd asked for; call it often.
class Watchdog {
 public:
  Watchdog();
  void Tick();
  bool enabled() const { return interval_.count() > 0; }

 private:
  std::chrono::microseconds interval_{0};
  std::chrono::steady_clock::time_point next_;
};

}  // namespace ehabus
