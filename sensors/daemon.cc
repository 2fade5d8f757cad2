#include "sensors/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/systemd.h"

namespace ehabus::sensors {

void SensorTiming::ApplyTo(CheckDefinition& check) const {
  check.interval = interval;
  check.retry = retry;
  check.timeout = timeout;
  check.fall = fall;
  check.rise = rise;
}

SensorTiming TimingFrom(const Config& config, std::string_view section) {
  SensorTiming timing;
  timing.interval = config.Duration(section, "interval");
  timing.retry = config.Duration(section, "retry");
  timing.timeout = config.Duration(section, "timeout");
  timing.refresh = config.Duration(section, "refresh");
  timing.fall = static_cast<int>(config.Int(section, "fall"));
  timing.rise = static_cast<int>(config.Int(section, "rise"));
  return timing;
}

void RunSensorLoop(Publisher& publisher, SensorRuntime& runtime,
                   const std::atomic<bool>& stop, const LoopHooks& hooks) {
  using namespace std::chrono_literals;
  Watchdog watchdog;
  while (!stop.load()) {
    auto wait = runtime.Step();
    publisher.Poll();
    watchdog.Tick();
    if (hooks.tick) hooks.tick();
    // Sleep until a check is due, a check finished, or a socket spoke.
    zmq::pollitem_t items[] = {
        {publisher.socket().handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, runtime.notify_fd(), ZMQ_POLLIN, 0},
        {hooks.socket ? hooks.socket->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    int count = hooks.socket ? 3 : 2;
    try {
      zmq::poll(items, static_cast<std::size_t>(count),
                std::clamp(wait, 1ms, 500ms));
    } catch (const zmq::error_t&) {
      continue;  // EINTR: look at `stop` again
    }
    if (hooks.socket && (items[2].revents & ZMQ_POLLIN) && hooks.on_socket)
      hooks.on_socket();
  }
}

int ProbeOnce(const std::vector<CheckDefinition>& checks) {
  struct Slot {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<ProbeResult> result;
  };
  int failed = 0;
  for (const auto& check : checks) {
    auto slot = std::make_shared<Slot>();
    auto deadline = std::chrono::steady_clock::now() + check.timeout;
    // Detached, as in the runtime: a check stuck on a hung mount is left.
    std::thread([slot, run = check.run, deadline] {
      ProbeResult result = run(deadline);
      std::lock_guard lock(slot->mutex);
      slot->result = std::move(result);
      slot->done.notify_all();
    }).detach();
    std::unique_lock lock(slot->mutex);
    slot->done.wait_until(lock, deadline,
                          [&] { return slot->result.has_value(); });
    if (!slot->result) {
      ++failed;
      std::printf("%s: FAILED: no result within %lld ms (hung)\n",
                  check.name.c_str(),
                  static_cast<long long>(check.timeout.count()));
    } else {
      failed += slot->result->ok ? 0 : 1;
      std::printf("%s: %s: %s\n", check.name.c_str(),
                  slot->result->ok ? "ok" : "FAILED",
                  slot->result->reason.c_str());
    }
  }
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}

bool TakeProbeFlag(int& argc, char** argv) {
  bool found = false;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--probe")
      found = true;
    else
      argv[out++] = argv[i];
  }
  argc = out;
  argv[argc] = nullptr;
  return found;
}

int GuardedMain(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    spdlog::critical("{} failed: {}", name, e.what());
    return 1;
  }
}

}  // namespace ehabus::sensors
