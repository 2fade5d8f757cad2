// Starting and stopping one service, each step with a deadline: the
// service's own command, systemctl for its unit, or the profile's command
// set (eYou's `eyou_mail start|stop NAME`). A stop that does not stop the
// service's process escalates to killing it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/profile.h"

namespace ehabus::healers {

struct StepOutcome {
  bool ok = false;
  std::string detail;  // what happened, for people
  std::chrono::milliseconds took{0};
};

// Runs ARGV within TIMEOUT (killed with its process group at it); exit 0 is
// success, else the exit and the first line of its output.
StepOutcome RunCommand(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout);

// The live pid named by SERVICE's pid file (and its process name, if set).
std::optional<pid_t> ServicePid(const ServiceSpec& service);

// Stops SERVICE: its stop command within TIMEOUT, then waits for its process
// to go; a command that fails or times out, or a process still there, is
// killed (SIGKILL to the pid, or `systemctl kill` for a unit).
StepOutcome StopService(const Profile& profile, const ServiceSpec& service,
                        std::chrono::milliseconds timeout);

// Starts SERVICE: its start command within TIMEOUT. Whether it serves is for
// the sensor to say.
StepOutcome StartService(const Profile& profile, const ServiceSpec& service,
                         std::chrono::milliseconds timeout);

}  // namespace ehabus::healers
