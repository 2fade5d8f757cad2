// The service sensor's model: a profile (the stack's services, how each is
// checked, what each depends on) and the watch list (which of them are
// watched now; the successor of the 2014 toolkit's HA_WATCH.ini).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bus/config.h"
#include "sensors/probe.h"
#include "sensors/runtime.h"

namespace ehabus::sensors {

struct ServiceSpec {
  std::string name;
  std::string check;  // smtp, lmtp, imap, pop3, memcached, http, tcp,
                      // process, command, none
  int port = 0;
  std::string pidfile, process, unit, installed_if, path, expect;
  std::string heartbeat_table;
  std::vector<std::string> command;  // argv for check = command
  std::vector<std::string> depends;
  bool monitored = true;
  bool starttls = false;
};

struct Profile {
  std::string path, name, description;
  std::string enabled_list, enabled_variable;
  std::vector<ServiceSpec> services;  // in file order
  const ServiceSpec* Find(const std::string& name) const;
};

// Loads and validates a profile: FILE:LINE errors, unknown dependencies.
tl::expected<Profile, std::vector<ConfigError>> LoadProfile(
    const std::string& path);

// The names in a shell array `NAME=(a b c)` (possibly over several lines) of
// FILE, read as text. Nullopt when the file or the array is missing.
std::optional<std::vector<std::string>> ReadShellArray(const std::string& file,
                                                       const std::string& name);

// The first watch list: every monitored service that is installed (its
// installed_if exists, and it is in the profile's enabled list if any).
std::string RenderWatchList(const Profile& profile);

// The watch list: service -> watched. Errors (syntax, values, services the
// profile does not know) as FILE:LINE lines.
tl::expected<std::map<std::string, bool>, std::vector<ConfigError>>
LoadWatchList(const std::string& path, const Profile& profile);

struct ServiceCheckSettings {
  std::string host = "127.0.0.1";
  std::string helo = "ehabus";
  std::chrono::milliseconds interval{2000}, retry{250}, timeout{2000};
  int fall = 2, rise = 1;
  std::optional<Credentials> canary;  // IMAP and POP3 canary account
  Credentials mysql{"root", ""};      // MariaDB account for check = mysql
};

// The runtime check for SERVICE: process first (when it has a pid file),
// then its protocol or command.
CheckDefinition MakeServiceCheck(const ServiceSpec& service,
                                 const ServiceCheckSettings& settings);

// Runs ARGV with a deadline (killed with its process group at it); exit 0
// is success, else the reason quotes the exit and the first output line.
ProbeResult ProbeCommand(const std::vector<std::string>& argv,
                         Deadline deadline);

}  // namespace ehabus::sensors
