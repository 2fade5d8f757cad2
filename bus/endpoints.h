// Where the node-local broker listens, and the snapshot protocol spoken on
// its snapshot socket. Shared by the broker and its clients.
#pragma once

#include <string>
#include <string_view>

#include "bus/config.h"

namespace ehabus {

struct BusEndpoints {
  std::string pub;       // publishers connect here (broker: XSUB)
  std::string sub;       // subscribers connect here (broker: XPUB)
  std::string snapshot;  // DEALER -> ROUTER requests
};

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
