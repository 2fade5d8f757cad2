// The `ehabus` command line: a table of commands, each with its usage text
// and the function that runs it (one file per command group), in the style
// of ninja's tool table. `ehabus --help` prints every usage; `ehabus
// COMMAND --help` prints that command's and exits 0.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"

namespace ehabus::cli {

// The words after the command, consumed from the front.
struct Args {
  std::vector<std::string> list;
  std::size_t at = 0;
  bool done() const { return at >= list.size(); }
  const std::string& peek() const { return list[at]; }
  const std::string& take() { return list[at++]; }
  // The value after a flag (consumes both), or nullopt when it is missing.
  std::optional<std::string> value() {
    if (at + 1 >= list.size()) return std::nullopt;
    at += 2;
    return list[at - 1];
  }
  std::vector<std::string> rest() const {
    return {list.begin() + static_cast<long>(at), list.end()};
  }
};

// What a command is given: the configuration (loaded before it runs unless
// the command reads its own) and the file it came from.
struct Invocation {
  std::optional<Config> config;
  std::string config_path;    // as given with --config ("": the default)
  std::string resolved_path;  // --config, $EHABUS_CONFIG or the default
};

struct Command {
  const char* name;
  const char* usage;  // "  NAME ARGS\n      what it does\n"
  bool loads_config;  // false: the command reads the file itself
  int (*run)(const Invocation& invocation, Args& args);
};

// Every command, in the order of the usage text.
const std::vector<Command>& Commands();

// "ehabus: PROBLEM (see ehabus --help)" on stderr; returns 2.
int Usage(const std::string& problem);
// "%Y-%m-%d %H:%M:%S.mmm" in local time.
std::string FormatTime(std::int64_t wall_us);

// The command groups (one file each).
int Tail(const Invocation& invocation, Args& args);
int Publish(const Invocation& invocation, Args& args);
int Status(const Invocation& invocation, Args& args);
int CheckConfig(const Invocation& invocation, Args& args);
int Keygen(const Invocation& invocation, Args& args);
int Maintenance(const Invocation& invocation, Args& args);
int Cleanup(const Invocation& invocation, Args& args);
int Cluster(const Invocation& invocation, Args& args);

// For `status`: what is in maintenance, one line each; "" when nothing.
std::string MaintenanceText(const Config& config);

}  // namespace ehabus::cli
