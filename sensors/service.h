// The service sensor's model: a profile (the stack's services, how each is
// checked, what each depends on) and the watch list (which of them are
// watched now; the successor of the 2014 toolkit's HA_WATCH.ini).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/profile.h"
#include "sensors/probe.h"
#include "sensors/runtime.h"

namespace ehabus::sensors {

using ehabus::LoadProfile;
using ehabus::LoadWatchList;
using ehabus::Profile;
using ehabus::ReadShellArray;
using ehabus::RenderWatchList;
using ehabus::ServiceSpec;

struct ServiceCheckSettings {
  std::string host = "127.0.0.1";
  std::string helo = "ehabus";
  std::chrono::milliseconds interval{2000}, retry{250}, timeout{2000};
  int fall = 2, rise = 1;
  std::optional<Credentials> canary;  // IMAP and POP3 canary account
  Credentials mysql{"root", ""};      // MariaDB account for check = mysql
  // Where the cluster runs the stack, this file exists (written by the
  // stack's resource agent). Elsewhere a service that does not serve is
  // on standby, not down: the stack runs on another node. Empty: always
  // active (no cluster, or a one-off probe that must see the truth).
  std::string active_marker;
};

// The runtime check for SERVICE: process first (when it has a pid file),
// then its protocol or command; a failure on a standby node (see
// active_marker) is reported healthy, data.standby true.
CheckDefinition MakeServiceCheck(const ServiceSpec& service,
                                 const ServiceCheckSettings& settings);

// Runs ARGV with a deadline (killed with its process group at it); exit 0
// is success, else the reason quotes the exit and the first output line.
ProbeResult ProbeCommand(const std::vector<std::string>& argv,
                         Deadline deadline);

}  // namespace ehabus::sensors
