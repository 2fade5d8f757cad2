// ehabus-sensor-heartbeat: corosync membership, quorum and links, and the SBD
// disks. When a heartbeat check fails it says whether shared storage is still
// healthy (from the storage sensor's states on the bus): the old rule, a
// heartbeat lost while storage is fine must not cause a switch.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"
#include "sensors/daemon.h"
#include "sensors/heartbeat.h"

namespace {

using namespace std::chrono_literals;
using ehabus::sensors::CheckDefinition;
using ehabus::sensors::Deadline;
using ehabus::sensors::ProbeResult;

// Adds the storage verdict to a heartbeat result.
ProbeResult WithStorage(ProbeResult result,
                        const ehabus::sensors::StorageView& storage) {
  bool healthy = false;
  std::string text = storage.Describe(healthy);
  result.data["storage_healthy"] = healthy;
  if (!result.ok) {
    result.reason +=
        "; " + text + (healthy ? ": no switch for a heartbeat loss alone" : "");
  }
  return result;
}

int Main(int argc, char** argv) {
  ehabus::InitLogging("sensor-heartbeat");
  bool probe = ehabus::sensors::TakeProbeFlag(argc, argv);
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-sensor-heartbeat [--config FILE] [--probe]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("sensor-heartbeat", *config);
  const char* section = "sensor.heartbeat";
  auto timing = ehabus::sensors::TimingFrom(*config, section);

  auto storage = std::make_shared<ehabus::sensors::StorageView>();
  std::vector<CheckDefinition> checks;
  // Shared by both corosync checks; lives as long as any check's thread.
  auto corosync = std::make_shared<ehabus::sensors::CorosyncClient>();
  std::string names;
  if (config->Bool(section, "corosync")) {
    CheckDefinition membership;
    membership.name = "corosync";
    membership.topic = ehabus::topics::kHeartbeatCorosync;
    membership.subject = "corosync";
    timing.ApplyTo(membership);
    membership.run = [storage, corosync](Deadline) {
      return WithStorage(ehabus::sensors::MembershipResult(corosync->Read()),
                         *storage);
    };
    checks.push_back(std::move(membership));
    CheckDefinition links;
    links.name = "links";
    links.topic = ehabus::topics::kHeartbeatLinks;
    links.subject = "links";
    timing.ApplyTo(links);
    links.run = [storage, corosync](Deadline) {
      return WithStorage(ehabus::sensors::LinksResult(corosync->Read()),
                         *storage);
    };
    checks.push_back(std::move(links));
    names = "corosync";
  }
  std::string sbd = config->String(section, "sbd_command");
  int index = 0;
  for (const auto& device : config->List(section, "sbd_devices")) {
    CheckDefinition check;
    check.name = "sbd" + std::to_string(index);
    check.topic = ehabus::topics::HeartbeatSbd(index++);
    check.subject = "sbd";
    timing.ApplyTo(check);
    // sbd itself watches its disk; ours is a view for people, and each
    // `sbd list` costs a process start.
    check.interval = config->Duration(section, "sbd_interval");
    check.run = [sbd, device, storage](Deadline deadline) {
      return WithStorage(ehabus::sensors::ProbeSbd(sbd, device, deadline),
                         *storage);
    };
    checks.push_back(std::move(check));
    names += (names.empty() ? "" : ", ") + ("sbd " + device);
  }
  if (names.empty()) names = "nothing";

  if (probe) return ehabus::sensors::ProbeOnce(checks);
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  auto endpoints = ehabus::EndpointsFrom(*config);
  ehabus::Publisher publisher(
      context,
      {endpoints.pub, ehabus::NodeName(*config), "sensor-heartbeat", 10000});
  ehabus::SubscriberOptions sub_options;
  sub_options.sub_endpoint = endpoints.sub;
  sub_options.snapshot_endpoint = endpoints.snapshot;
  sub_options.prefixes = {ehabus::topics::kStorage};
  ehabus::Subscriber storage_states(context, sub_options);

  ehabus::sensors::SensorRuntime runtime(publisher, timing.refresh);
  for (auto& check : checks) runtime.Add(std::move(check));
  ehabus::sensors::LoopHooks hooks;
  hooks.socket = &storage_states.socket();
  hooks.on_socket = [&] {
    while (auto d = storage_states.Receive(0ms)) {
      const auto& e = d->event;
      // storage.NAME states only (not storage.NAME.down events).
      if (e.kind != ehabus::Kind::kState ||
          std::count(e.topic.begin(), e.topic.end(), '.') != 1)
        continue;
      storage->Set(e.topic.substr(8), e.data.value("health", "unknown"));
    }
  };
  // Also every turn: the snapshot arrives on a socket of its own.
  hooks.tick = hooks.on_socket;
  hooks.on_socket();
  publisher.WaitAttached(2s);
  publisher.Publish(ehabus::topics::SensorWatch("heartbeat"),
                    ehabus::Severity::kNotice, "heartbeat",
                    "watching " + names);
  ehabus::NotifyReady("watching " + names);
  ehabus::sensors::RunSensorLoop(publisher, runtime, stop, hooks);
  ehabus::NotifyStopping();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ehabus::sensors::GuardedMain("sensor-heartbeat",
                                      [&] { return Main(argc, argv); });
}
