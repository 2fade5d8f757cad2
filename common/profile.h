// A mail stack's profile (its services, how each is checked and controlled,
// what each depends on) and the watch list (which of them are watched and
// healed now; the successor of the 2014 toolkit's HA_WATCH.ini). Shared by
// the service sensor, the healers and the CLI.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"

namespace ehabus {

struct ServiceSpec {
  std::string name;
  std::string check;  // smtp, lmtp, imap, pop3, memcached, http, tcp,
                      // process, command, none
  int port = 0;
  std::string pidfile, process, unit, installed_if, path, expect;
  std::string heartbeat_table;
  std::vector<std::string> command;      // argv for check = command
  std::vector<std::string> start, stop;  // control commands, if its own
  std::vector<std::string> depends;
  bool monitored = true;
  bool starttls = false;
};

struct Profile {
  std::string path, name, description;
  std::string enabled_list, enabled_variable;
  std::vector<ServiceSpec> services;  // in file order
  // Control command templates for every service ({service} replaced).
  std::vector<std::string> start, stop;
  const ServiceSpec* Find(const std::string& name) const;
  // Every service that needs SERVICE, directly or not, in start order.
  std::vector<std::string> Dependents(const std::string& service) const;
  // All services, each after everything it depends on (else file order).
  std::vector<std::string> StartOrder() const;
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

// Maintenance entries of the watch list: "node" or a service -> end of the
// maintenance, seconds since the epoch (0: until ended by hand).
tl::expected<std::map<std::string, std::int64_t>, std::vector<ConfigError>>
LoadMaintenance(const std::string& path);

// Puts TARGET ("node", or a service of PROFILE) in maintenance until UNTIL
// (0: no end), or ends it (ON false): a service is set to no (yes) in
// [watch], and its [maintenance] line written (removed). The file is edited
// line by line (comments kept), under a lock, and replaced atomically.
Result<void> SetMaintenance(const std::string& path, const Profile& profile,
                            const std::string& target, bool on,
                            std::int64_t until);

// Ends the maintenance entries that expired by NOW (seconds since the
// epoch); returns the targets ended.
Result<std::vector<std::string>> ExpireMaintenance(const std::string& path,
                                                   const Profile& profile,
                                                   std::int64_t now);

// How to start (or stop) SERVICE: its own start/stop command, else
// `systemctl start|stop UNIT`, else the profile's template. Empty: none.
std::vector<std::string> ControlCommand(const Profile& profile,
                                        const ServiceSpec& service, bool start);

// The profile file [stack] profile (else [sensor.service] profile) names:
// PROFILES_DIR/NAME.ini, or a path. Every component uses this one.
std::string ProfilePathFrom(const Config& config);

// The path that exists while the stack runs on this node, written by the
// cluster's stack agent (ocf:ehabus:mailstack) once every service serves and
// removed before it stops them: [healer.restart] active_marker, else
// /run/ehabus/stack-active when [cluster] nodes are set, else "" (no cluster:
// the stack always runs here).
std::string ActiveMarkerFrom(const Config& config);

// The services whose restart budget is spent (one name per line), kept by
// ehabus-healer-restart beside its state file for the stack agent's monitor.
std::string EscalatedFileFrom(const Config& config);

// Words of TEXT split at blanks.
std::vector<std::string> SplitWords(const std::string& text);

}  // namespace ehabus
