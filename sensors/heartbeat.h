// Heartbeat checks: corosync's membership, quorum and links, and the SBD
// disk, each read through the owner's own interface (corosync's cmap, quorum
// and cfg libraries; the sbd program). We read; deciding is Pacemaker's.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sensors/probe.h"

namespace ehabus::sensors {

struct CorosyncMember {
  unsigned nodeid = 0;
  std::string name;
  bool joined = false;
};

struct CorosyncLink {
  int link = 0;
  unsigned peer = 0;  // nodeid
  std::string peer_name, src, dst;
  bool connected = false;
};

struct CorosyncView {
  std::string error;  // set when corosync could not be asked
  unsigned local = 0;
  bool quorate = false;
  std::vector<CorosyncMember> members;  // the configured node list
  std::vector<CorosyncLink> links;      // enabled links to every peer
};

// Asks the local corosync through one kept set of connections (cmap,
// quorum, cfg), reconnecting after an error. Calls are serialised; a call
// stuck in a hung corosync is bounded by the runtime's deadline.
class CorosyncClient {
 public:
  CorosyncClient();
  ~CorosyncClient();
  CorosyncClient(const CorosyncClient&) = delete;
  CorosyncClient& operator=(const CorosyncClient&) = delete;
  CorosyncView Read();

 private:
  struct Handles;
  CorosyncView ReadLocked();
  void Close();
  std::mutex mutex_;
  std::unique_ptr<Handles> handles_;
  std::optional<CorosyncView> cached_;
  std::chrono::steady_clock::time_point cached_at_;
};

// Membership and quorum: corosync answers, the partition is quorate, every
// configured node is a member.
ProbeResult MembershipResult(const CorosyncView& view);
// Links: every enabled link to every peer is connected.
ProbeResult LinksResult(const CorosyncView& view);

// `SBD -d DEVICE list` within the deadline: the disk answers; slots and
// pending messages in data.
ProbeResult ProbeSbd(const std::string& sbd, const std::string& device,
                     Deadline deadline);

// What the storage sensor last said, from the bus (storage.NAME states).
class StorageView {
 public:
  void Set(const std::string& name, const std::string& health);
  // "shared storage healthy (mail, archive)", "... NOT healthy: mail down",
  // or "shared storage state unknown (...)"; HEALTHY says the first.
  std::string Describe(bool& healthy) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> health_;
};

}  // namespace ehabus::sensors
