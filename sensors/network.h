// Network checks: can this node reach its gateways, are its links up, and
// does it hold the service address (VIP)?
//
// Reachability sends one ICMP echo to every target at once (a ping socket,
// or a raw socket when ping sockets are not allowed) or connects over TCP,
// and waits for all of them against the check's one deadline; the network is
// up when at least MIN targets answer. Link state and addresses come from
// rtnetlink (libnl-route), never from parsing `ip` output.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sensors/probe.h"

namespace ehabus::sensors {

struct NetTarget {
  enum class Kind { kIcmp, kTcp } kind = Kind::kIcmp;
  std::string address;  // numeric IPv4 or IPv6
  int port = 0;         // kTcp
  std::string text;     // as configured
};

// "198.18.0.1", "2001:db8::1", "tcp:198.18.0.1:22", "tcp:[2001:db8::1]:22".
std::optional<NetTarget> ParseTarget(const std::string& text,
                                     std::string& error);

// Reaches every target; ok when at least MIN answer.
ProbeResult ProbeTargets(const std::vector<NetTarget>& targets, int min,
                         Deadline deadline);

// IFNAME exists, is administratively up and has carrier.
ProbeResult ProbeLink(const std::string& ifname);

// Where the VIPs are: always ok; data.present lists those on this node.
ProbeResult ProbeVips(const std::vector<std::string>& vips);

}  // namespace ehabus::sensors
