#include "common/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>

namespace ehabus {

void NotifyReady(std::string_view status) {
  std::string text = "READY=1\nSTATUS=" + std::string(status);
  sd_notify(0, text.c_str());
}

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

void NotifyStatus(std::string_view status) {
  std::string text = "STATUS=" + std::string(status);
  sd_notify(0, text.c_str());
}

Watchdog::Watchdog() : next_(std::chrono::steady_clock::now()) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) {
    interval_ = std::chrono::microseconds(static_cast<std::int64_t>(usec / 2));
  }
}

void Watchdog::Tick() {
  if (!enabled()) return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  next_ = now + interval_;
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace ehabus
