// Where the node-local broker listens, and the snapshot protocol spoken on
// its snapshot socket. Shared by the broker and its clients.
#pragma once

#include <string>
#include <string_view>

#include "bus/topics.h"
#include "common/config.h"

namespace ehabus {

struct BusEndpoints {
  std::string pub;       // publishers connect here (broker: XSUB)
  std::string sub;       // subscribers connect here (broker: XPUB)
  std::string snapshot;  // DEALER -> ROUTER requests
  // Pacemaker's alert agent publishes here (broker: a second XSUB taking
  // cluster.* only): Pacemaker runs alerts as hacluster with the haclient
  // group and no supplementary groups, so it cannot use `pub`. Empty: none.
  std::string alert;
};

// Topics the alert endpoint accepts.
inline constexpr std::string_view kAlertTopicPrefix = topics::kCluster;

BusEndpoints EndpointsFrom(const Config& config);

// Snapshot socket requests (first frame) and replies.
//   ["SNAPSHOT", prefix...]  ->  ["STATE", topic, body]... then ["END", count]
//   ["STATUS"]               ->  ["STATUS", json]
inline constexpr std::string_view kSnapshotRequest = "SNAPSHOT";
inline constexpr std::string_view kStateReply = "STATE";
inline constexpr std::string_view kEndReply = "END";
inline constexpr std::string_view kStatusRequest = "STATUS";

// The node name of this machine: [node] name, or the host name.
std::string NodeName(const Config& config);

}  // namespace ehabus
