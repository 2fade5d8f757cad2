// ehabus-notify-exec: runs a command per notice, the incident on stdin.
#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/profile.h"
#include "notifiers/notifier.h"

namespace {

int Main(int argc, char** argv) {
  ehabus::InitLogging("notify-exec");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-notify-exec [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("notify-exec", *config);
  auto command = ehabus::SplitWords(config->String("notify.exec", "command"));
  if (command.empty()) {
    auto at = config->Where("notify.exec", "command");
    std::fprintf(stderr, "%s:%d: [notify.exec] command: none given\n",
                 at ? at->file.c_str() : config_path->c_str(),
                 at ? at->line : 0);
    return ehabus::kExitConfig;
  }
  const auto& stop = ehabus::InstallStopSignals();
  return ehabus::notifiers::RunNotifier(
      "exec", *config,
      std::make_unique<ehabus::notifiers::ExecChannel>(
          command, config->Duration("notify.exec", "timeout"),
          config->String("notify.exec", "spool_dir")),
      stop);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("notify-exec failed: {}", e.what());
    return 1;
  }
}
