// Small helpers shared by ehabus's executables: loading the configuration
// the way every process does, and signal-driven shutdown.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "common/config.h"

namespace ehabus {

// --config FILE, else $EHABUS_CONFIG, else /etc/ehabus/ehabus.ini. When the
// file was not named and does not exist, the defaults apply. Errors are
// printed one per line as FILE:LINE: ...; nullopt then.
std::optional<Config> LoadConfigOrReport(const std::string& explicit_path);

// A daemon's command line: nothing, or --config FILE. Returns the file ("":
// the default), or nullopt after printing USAGE to stderr.
std::optional<std::string> DaemonConfigFlag(int argc, char** argv,
                                            const char* usage);

// SIGTERM and SIGINT set the flag (without SA_RESTART, so a blocking poll
// returns); SIGPIPE is ignored.
const std::atomic<bool>& InstallStopSignals();

// Exit code for a configuration error (EX_CONFIG): systemd units list it in
// RestartPreventExitStatus so a bad file does not cause a restart loop.
inline constexpr int kExitConfig = 78;

}  // namespace ehabus
