// ehabus: the operator's command line (the commands: cli/commands.cc).
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "cluster/commands.h"
#include "common/daemon.h"

namespace {

using ehabus::cli::Args;

void PrintUsage(std::FILE* out, const ehabus::cli::Command* only) {
  std::fputs(only ? "usage: ehabus [--config FILE] "
                  : "usage: ehabus [--config FILE] COMMAND ...\n\n",
             out);
  if (only) std::fprintf(out, "%s ...\n\n", only->name);
  for (const auto& command : ehabus::cli::Commands()) {
    if (!only || only == &command) std::fputs(command.usage, out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args{{argv + 1, argv + argc}};
  ehabus::cli::Invocation invocation;
  while (!args.done() && args.peek().starts_with("--")) {
    if (args.peek() == "--config") {
      auto v = args.value();
      if (!v) return ehabus::cli::Usage("--config needs a FILE");
      invocation.config_path = *v;
    } else if (args.peek() == "--help") {
      PrintUsage(stdout, nullptr);
      return 0;
    } else {
      return ehabus::cli::Usage("unknown option \"" + args.peek() + "\"");
    }
  }
  if (args.done()) {
    PrintUsage(stderr, nullptr);
    return 2;
  }
  std::string name = args.take();
  const ehabus::cli::Command* command = nullptr;
  for (const auto& c : ehabus::cli::Commands()) {
    if (name == c.name) command = &c;
  }
  if (!command) return ehabus::cli::Usage("unknown command \"" + name + "\"");
  if (!args.done() && (args.peek() == "--help" || args.peek() == "-h")) {
    PrintUsage(stdout, command);
    return 0;
  }
  invocation.resolved_path =
      ehabus::cluster::ResolveConfigPath(invocation.config_path);
  if (command->loads_config) {
    invocation.config = ehabus::LoadConfigOrReport(invocation.config_path);
    if (!invocation.config) return ehabus::kExitConfig;
  }
  try {
    return command->run(invocation, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehabus: %s\n", e.what());
    return 1;
  }
}
