// ehabus-sensor-storage: checks every [storage.NAME] mount of ehabus.ini and
// publishes its health as storage.NAME.
#include <spdlog/spdlog.h>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"
#include "sensors/daemon.h"
#include "sensors/storage.h"

namespace {

using namespace std::chrono_literals;
using ehabus::sensors::CheckDefinition;

int Main(int argc, char** argv) {
  ehabus::InitLogging("sensor-storage");
  bool probe = ehabus::sensors::TakeProbeFlag(argc, argv);
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-sensor-storage [--config FILE] [--probe]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("sensor-storage", *config);
  auto timing = ehabus::sensors::TimingFrom(*config, "sensor.storage");
  std::string node = ehabus::NodeName(*config);

  std::vector<CheckDefinition> checks;
  std::string names;
  for (const auto& section : config->SectionsWithPrefix("storage.")) {
    ehabus::sensors::MountSpec spec;
    spec.name = section.substr(std::string_view("storage.").size());
    spec.device = config->String(section, "device");
    spec.mountpoint = config->String(section, "mountpoint");
    spec.fstype = config->String(section, "fstype");
    spec.write_probe = config->Bool(section, "write_probe");
    spec.probe_file = config->String(section, "probe_file");
    spec.max_used_percent =
        static_cast<int>(config->Int(section, "max_used_percent"));
    spec.cluster_managed = config->Bool(section, "cluster_managed");
    ehabus::sensors::CheckDefinition check;
    check.name = spec.name;
    check.topic = section;
    check.subject = spec.name;
    timing.ApplyTo(check);
    check.run = [spec, node](ehabus::sensors::Deadline deadline) {
      return ehabus::sensors::ProbeMount(spec, node, deadline);
    };
    checks.push_back(std::move(check));
    names +=
        (names.empty() ? "" : ", ") + spec.name + " (" + spec.mountpoint + ")";
  }
  if (names.empty()) {
    spdlog::warn("no [storage.NAME] section: nothing to watch");
    names = "nothing";
  }
  if (probe) return ehabus::sensors::ProbeOnce(checks);
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  ehabus::Publisher publisher(context, {ehabus::EndpointsFrom(*config).pub,
                                        node, "sensor-storage", 10000});
  ehabus::sensors::SensorRuntime runtime(publisher, timing.refresh);
  for (auto& check : checks) runtime.Add(std::move(check));
  publisher.WaitAttached(2s);
  publisher.Publish(ehabus::topics::SensorWatch("storage"),
                    ehabus::Severity::kNotice, "storage", "watching " + names);
  ehabus::NotifyReady("watching " + names);
  ehabus::sensors::RunSensorLoop(publisher, runtime, stop);
  ehabus::NotifyStopping();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ehabus::sensors::GuardedMain("sensor-storage",
                                      [&] { return Main(argc, argv); });
}
