// Topic names: the contract between ehabus's processes. Every topic a
// component publishes or acts on is named here once; docs/events.md says
// who publishes each and what its body holds.
#pragma once

#include <string>

namespace ehabus::topics {

// Families (prefixes, for subscriptions and starts_with).
inline constexpr char kService[] = "service.";  // service.NAME: sensor-service
inline constexpr char kStorage[] = "storage.";  // storage.NAME: sensor-storage
inline constexpr char kNetwork[] = "network.";
inline constexpr char kHeartbeat[] = "heartbeat.";
inline constexpr char kHealing[] = "healing.";    // healing.SERVICE[.STEP]
inline constexpr char kFailover[] = "failover.";  // the failover healer
inline constexpr char kCluster[] = "cluster.";    // Pacemaker's alert agent
inline constexpr char kClusterNode[] = "cluster.node.";
inline constexpr char kClusterFencing[] = "cluster.fencing.";
inline constexpr char kClusterResource[] = "cluster.resource.";
inline constexpr char kNotify[] = "notify.";  // notify.CHANNEL: notifiers
inline constexpr char kSensor[] = "sensor.";  // the sensors about themselves
inline constexpr char kMaintenance[] = "maintenance.";
inline constexpr char kBus[] = "bus.";  // the broker about itself

// Single topics.
inline constexpr char kNetworkTargets[] = "network.targets";
inline constexpr char kNetworkVip[] = "network.vip";
inline constexpr char kHeartbeatCorosync[] = "heartbeat.corosync";
inline constexpr char kHeartbeatLinks[] = "heartbeat.links";
inline constexpr char kCleanupBudget[] = "cleanup.budget";
inline constexpr char kSensorRecheck[] = "sensor.recheck";
inline constexpr char kMaintenanceStarted[] = "maintenance.started";
inline constexpr char kMaintenanceEnded[] = "maintenance.ended";
inline constexpr char kFailoverRequested[] = "failover.requested";
inline constexpr char kFailoverCleared[] = "failover.cleared";
inline constexpr char kFailoverDeclined[] = "failover.declined";
inline constexpr char kFailoverNotify[] = "failover.notify";
inline constexpr char kFailoverStandby[] = "failover.standby";

// Builders.
inline std::string Service(const std::string& name) { return kService + name; }
inline std::string Storage(const std::string& name) { return kStorage + name; }
inline std::string NetworkLink(const std::string& ifname) {
  return "network.link." + ifname;
}
inline std::string HeartbeatSbd(int index) {
  return "heartbeat.sbd" + std::to_string(index);
}
// healing.SERVICE, or healing.SERVICE.STEP (started, escalated, ...).
inline std::string Healing(const std::string& service,
                           const std::string& step = "") {
  return kHealing + service + (step.empty() ? "" : "." + step);
}
// sensor.SENSOR.watch: what a sensor watches, said at start.
inline std::string SensorWatch(const std::string& sensor) {
  return kSensor + sensor + ".watch";
}
inline std::string Notify(const std::string& channel) {
  return kNotify + channel;
}

}  // namespace ehabus::topics
