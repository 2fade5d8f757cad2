#include "cluster/commands.h"

#include <cstdio>
#include <ctime>

#include "cli/command.h"

namespace ehabus::cli {

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"tail",
       "  tail [--topic PREFIX]... [--severity LEVEL] [--json] [--state]\n"
       "       [--count N] [--timeout DURATION]\n"
       "       [--connect TCP-ENDPOINT --snapshot TCP-ENDPOINT]\n"
       "      Live events. --state prints the current state first; --json one\n"
       "      JSON object per line; --count/--timeout end the stream (exit 1 "
       "when\n"
       "      the timeout passes before COUNT events); --connect reads a "
       "remote\n"
       "      broker with the CURVE keys of [bus.remote].\n",
       true, Tail},
      {"publish",
       "  publish [--state] [--severity LEVEL] [--subject TEXT] [--data JSON]\n"
       "          [--component NAME] [--wait DURATION] TOPIC MESSAGE...\n"
       "      Publish one event (or state) and wait for the broker to take "
       "it.\n",
       true, Publish},
      {"status",
       "  status [--json]\n"
       "      Broker up?, sources seen, last event per source, gaps, "
       "rejects.\n",
       true, Status},
      {"check-config",
       "  check-config [FILE]\n"
       "      Validate the configuration; every error as FILE:LINE; exit 0 or "
       "1.\n",
       false, CheckConfig},
      {"maintenance",
       "  maintenance [SERVICE|node on|off [--for DURATION]]\n"
       "      Take a service of the watch list (or the whole node) out of\n"
       "      healing and failover, for DURATION or until `off`; without\n"
       "      arguments, list what is in maintenance. The watch list is "
       "edited\n"
       "      in place (under a lock, atomically); ehabus-healer-restart ends\n"
       "      expired entries.\n",
       true, Maintenance},
      {"cleanup",
       "  cleanup [SERVICE]\n"
       "      After you fixed what made SERVICE (default: every service) "
       "spend\n"
       "      its restart budget on this node: forget the budget, so the node\n"
       "      may run the stack again (as `crm resource cleanup` forgets\n"
       "      Pacemaker's failures). Tells both healers over the bus.\n",
       true, Cleanup},
      {"cluster", cluster::kUsage, true, Cluster},
      {"keygen",
       "  keygen PREFIX\n"
       "      Write a CURVE key pair: PREFIX.public and PREFIX.secret "
       "(0600).\n",
       false, Keygen},
  };
  return commands;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "ehabus: %s (see ehabus --help)\n", problem.c_str());
  return 2;
}

std::string FormatTime(std::int64_t wall_us) {
  std::time_t seconds = static_cast<std::time_t>(wall_us / 1'000'000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d",
                static_cast<int>((wall_us / 1000) % 1000));
  return std::string(text) + millis;
}

int Cluster(const Invocation& invocation, Args& args) {
  return cluster::Command(*invocation.config, invocation.resolved_path,
                          args.rest());
}

}  // namespace ehabus::cli
