// ehabus-healer-restart: restarts failed services with their dependents.
#include <spdlog/spdlog.h>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"
#include "healers/restart.h"
#include "healers/state_files.h"

namespace {

using namespace std::chrono_literals;

int Main(int argc, char** argv) {
  ehabus::InitLogging("healer-restart");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-healer-restart [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("healer-restart", *config);
  auto profile = ehabus::LoadProfile(ehabus::ProfilePathFrom(*config));
  if (!profile) {
    for (const auto& e : profile.error())
      std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return ehabus::kExitConfig;
  }
  // Held until exit: the stack agent's monitor knows a healer runs by it.
  auto lock_path = ehabus::healers::HealerLock::PathFrom(*config);
  auto lock = ehabus::healers::HealerLock::Acquire(lock_path);
  if (!lock) {
    if (ehabus::healers::HealerLock::Held(lock_path)) {
      spdlog::error("{}", lock.error().message);
      return 1;
    }
    spdlog::warn("{}: the stack agent will not see this healer",
                 lock.error().message);
  }
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  auto endpoints = ehabus::EndpointsFrom(*config);
  ehabus::Publisher publisher(
      context,
      {endpoints.pub, ehabus::NodeName(*config), "healer-restart", 10000});
  ehabus::SubscriberOptions options;
  options.sub_endpoint = endpoints.sub;
  options.snapshot_endpoint = endpoints.snapshot;
  options.prefixes = {ehabus::topics::kService, ehabus::topics::kCleanupBudget};
  ehabus::Subscriber subscriber(context, options);
  publisher.WaitAttached(2s);
  ehabus::healers::RestartHealer healer(
      *profile, ehabus::healers::RestartSettingsFrom(*config), publisher,
      subscriber, stop);
  ehabus::NotifyReady("healing profile " + profile->name);
  healer.Run();
  ehabus::NotifyStopping();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("healer-restart failed: {}", e.what());
    return 1;
  }
}
