// ehabus-sensor-network: reachability of [sensor.network] targets (the
// gateway), link state of its interfaces, and where the VIPs are.
#include <spdlog/spdlog.h>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"
#include "sensors/daemon.h"
#include "sensors/network.h"

namespace {

using namespace std::chrono_literals;
using ehabus::sensors::CheckDefinition;
using ehabus::sensors::Deadline;

int Main(int argc, char** argv) {
  ehabus::InitLogging("sensor-network");
  bool probe = ehabus::sensors::TakeProbeFlag(argc, argv);
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-sensor-network [--config FILE] [--probe]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("sensor-network", *config);
  const char* section = "sensor.network";
  auto timing = ehabus::sensors::TimingFrom(*config, section);

  std::vector<ehabus::sensors::NetTarget> targets;
  bool bad = false;
  for (const auto& text : config->List(section, "targets")) {
    std::string error;
    if (auto target = ehabus::sensors::ParseTarget(text, error)) {
      targets.push_back(*target);
    } else {
      auto where = config->Where(section, "targets");
      ehabus::ConfigError e{where ? where->file : *config_path,
                            where ? where->line : 0, section, "targets", error};
      std::fprintf(stderr, "%s\n", e.ToString().c_str());
      bad = true;
    }
  }
  if (bad) return ehabus::kExitConfig;
  int min = static_cast<int>(config->Int(section, "min_targets"));
  if (!targets.empty() && min > static_cast<int>(targets.size())) {
    auto where = config->Where(section, "min_targets");
    ehabus::ConfigError e{where ? where->file : *config_path,
                          where ? where->line : 0, section, "min_targets",
                          "needs " + std::to_string(min) + " of only " +
                              std::to_string(targets.size()) + " targets"};
    std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return ehabus::kExitConfig;
  }

  std::vector<CheckDefinition> checks;
  std::vector<std::string> watching;
  if (!targets.empty()) {
    CheckDefinition check;
    check.name = "targets";
    check.topic = ehabus::topics::kNetworkTargets;
    check.subject = "network";
    timing.ApplyTo(check);
    check.run = [targets, min](Deadline deadline) {
      return ehabus::sensors::ProbeTargets(targets, min, deadline);
    };
    checks.push_back(std::move(check));
    watching.push_back(std::to_string(targets.size()) + " targets");
  }
  for (const auto& ifname : config->List(section, "interfaces")) {
    CheckDefinition check;
    check.name = "link." + ifname;
    check.topic = ehabus::topics::NetworkLink(ifname);
    check.subject = ifname;
    timing.ApplyTo(check);
    check.fall = 1;  // the kernel's word on a link is not a lost packet
    check.run = [ifname](Deadline) {
      return ehabus::sensors::ProbeLink(ifname);
    };
    checks.push_back(std::move(check));
    watching.push_back("link " + ifname);
  }
  auto vips = config->List(section, "vip");
  if (vips.empty()) {
    // The cluster's service addresses, unless told otherwise: the notices
    // say where the service address is.
    for (auto address : config->List("vip", "addresses")) {
      if (auto slash = address.find('/'); slash != std::string::npos)
        address.resize(slash);
      vips.push_back(address);
    }
  }
  if (!vips.empty()) {
    CheckDefinition check;
    check.name = "vip";
    check.topic = ehabus::topics::kNetworkVip;
    check.subject = "vip";
    timing.ApplyTo(check);
    check.run = [vips](Deadline) { return ehabus::sensors::ProbeVips(vips); };
    checks.push_back(std::move(check));
    watching.push_back("vip");
  }
  std::string names;
  for (const auto& w : watching) names += (names.empty() ? "" : ", ") + w;
  if (names.empty()) {
    spdlog::warn("[sensor.network] names no targets, interfaces or vip");
    names = "nothing";
  }
  if (probe) return ehabus::sensors::ProbeOnce(checks);
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  ehabus::Publisher publisher(
      context, {ehabus::EndpointsFrom(*config).pub, ehabus::NodeName(*config),
                "sensor-network", 10000});
  ehabus::sensors::SensorRuntime runtime(publisher, timing.refresh);
  for (auto& check : checks) runtime.Add(std::move(check));
  publisher.WaitAttached(2s);
  publisher.Publish(ehabus::topics::SensorWatch("network"),
                    ehabus::Severity::kNotice, "network", "watching " + names);
  ehabus::NotifyReady("watching " + names);
  ehabus::sensors::RunSensorLoop(publisher, runtime, stop);
  ehabus::NotifyStopping();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ehabus::sensors::GuardedMain("sensor-network",
                                      [&] { return Main(argc, argv); });
}
