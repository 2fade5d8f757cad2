// The Pacemaker cluster of ehabus.ini: its configuration rendered as CIB XML
// or crm shell commands, corosync.conf and sbd's settings, and the merge of
// a rendered configuration into a live CIB (`ehabus cluster apply`).
//
// Everything here is deterministic: the same ehabus.ini gives the same
// bytes, so a rendered configuration can be diffed, reviewed and stored.
// Pacemaker itself decides membership, fencing and placement; this only
// writes its configuration.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"

namespace ehabus::cluster {

struct Node {
  std::string name;
  int id = 0;  // corosync node id, 1-based in [cluster] nodes order
  std::string ring0;
  std::string ring1;  // empty: one ring
};

struct Mount {
  std::string name;    // [storage.NAME]
  std::string device;  // as in ehabus.ini
  std::string mountpoint;
  std::string fstype;
  std::string options;
  // no: mounted on every node outside the cluster (an NFS share in fstab);
  // watched by the storage sensor, not a cluster resource.
  bool cluster_managed = true;
};

struct Vip {
  std::string address;
  int prefix = 0;
  bool ipv6 = false;
};

struct Spec {
  std::string name;
  std::vector<Node> nodes;
  std::string transport;
  std::chrono::milliseconds token{};
  std::int64_t stickiness = 0;
  std::int64_t migration_threshold = 0;
  std::chrono::milliseconds failure_timeout{};
  std::string alert_agent;
  bool config_sync = true;

  std::vector<Vip> vips;
  std::string nic;

  std::string fencing_mode;  // sbd | agent
  std::vector<std::string> sbd_devices;
  std::chrono::milliseconds sbd_watchdog_timeout{};
  std::chrono::milliseconds sbd_msgwait{};
  std::string watchdog_device;
  std::string fence_agent;
  std::vector<std::pair<std::string, std::string>> fence_options;
  std::chrono::milliseconds fencing_delay{};

  std::vector<std::string> ping_targets;
  std::int64_t ping_multiplier = 0;
  std::chrono::milliseconds ping_dampen{};
  std::chrono::milliseconds ping_interval{};

  std::string group;
  std::string stack_resource;
  std::string profile;
  std::string config_path;  // passed to the stack agent
  std::chrono::milliseconds start_timeout{};
  std::chrono::milliseconds stop_timeout{};
  std::chrono::milliseconds monitor_interval{};
  std::chrono::milliseconds monitor_timeout{};
  std::int64_t priority = 0;
  std::string health_attribute;  // [healer.failover] attribute

  std::vector<Mount> storage;
};

// The cluster described by CONFIG (loaded from CONFIG_PATH). Every problem is
// reported with its place ("FILE:LINE: [section] key: ...").
tl::expected<Spec, std::vector<ConfigError>> SpecFrom(
    const Config& config, const std::string& config_path);

// The shared configuration stored in the CIB: ehabus.ini and conf.d/*.ini as
// one document, and its digest.
struct SharedConfig {
  std::map<std::string, std::string> files;  // "ehabus.ini", "conf.d/x.ini"
  std::string Encode() const;                // base64 of a JSON document
  std::string Digest() const;                // sha256 hex of Encode()
  static tl::expected<SharedConfig, std::string> Decode(
      const std::string& encoded);
  // ehabus.ini at PATH and the conf.d beside it.
  static tl::expected<SharedConfig, std::string> Read(const std::string& path);
  // Writes the files beside PATH (each atomically); returns the names
  // changed.
  tl::expected<std::vector<std::string>, std::string> Write(
      const std::string& path) const;
};

struct RenderOptions {
  // The shared configuration to store in the CIB; empty: none.
  std::string shared_config;
  std::string shared_digest;
  // A whole CIB with every node online and quorum, ready for crm_simulate
  // (otherwise just the configuration an operator applies).
  bool simulate = false;
};

std::string RenderXml(const Spec& spec, const RenderOptions& options);
std::string RenderCrm(const Spec& spec, const RenderOptions& options);
std::string RenderCorosync(const Spec& spec);
// /etc/default/sbd for every node (mode = sbd).
std::string RenderSbd(const Spec& spec);

// Merges the rendered configuration (RenderXml) into LIVE_CIB: sections
// ehabus owns are replaced (its property sets, resources, constraints except
// the ones `crm_resource --move/--ban` make, rsc and op defaults, alerts);
// everything else (nodes, other property sets, cli-* constraints) is kept.
// Returns the new <configuration> element as text.
tl::expected<std::string, std::string> MergeConfiguration(
    const std::string& live_cib, const std::string& rendered);
// Pretty-printed <configuration> of a CIB (for diffs).
tl::expected<std::string, std::string> ConfigurationOf(const std::string& cib);

}  // namespace ehabus::cluster
