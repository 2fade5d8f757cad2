// What every sensor process shares: its timing keys and its main loop.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "bus/publisher.h"
#include "common/config.h"
#include "sensors/runtime.h"

namespace ehabus::sensors {

struct SensorTiming {
  std::chrono::milliseconds interval{2000}, retry{500}, timeout{2000};
  std::chrono::milliseconds refresh{60000};
  int fall = 2, rise = 1;
  // Copies the timing into CHECK.
  void ApplyTo(CheckDefinition& check) const;
};

// interval, retry, timeout, fall, rise, refresh of SECTION.
SensorTiming TimingFrom(const Config& config, std::string_view section);

struct LoopHooks {
  // Called every turn of the loop (at least once a second).
  std::function<void()> tick;
  // Another socket to wake on (e.g. a subscriber), and what to do then.
  zmq::socket_t* socket = nullptr;
  std::function<void()> on_socket;
};

// Steps RUNTIME, serves PUBLISHER and the systemd watchdog until STOP.
void RunSensorLoop(Publisher& publisher, SensorRuntime& runtime,
                   const std::atomic<bool>& stop, const LoopHooks& hooks = {});

// `--probe`: runs every check once, now, each within its timeout, prints
// "NAME: ok: REASON" or "NAME: FAILED: REASON" per check; returns the exit
// code (0 when all passed, 1 otherwise). For operators and scripts.
int ProbeOnce(const std::vector<CheckDefinition>& checks);

// Removes "--probe" from ARGV (for DaemonConfigFlag); true when it was there.
bool TakeProbeFlag(int& argc, char** argv);

// main() of a sensor: BODY, with an unexpected exception logged and exit 1
// (systemd restarts the sensor with the reason in the journal, not a core).
int GuardedMain(const char* name, const std::function<int()>& body);

}  // namespace ehabus::sensors
