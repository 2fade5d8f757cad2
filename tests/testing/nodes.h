// Test support for what a node's sensors look at: a real ext4 disk on a loop
// device, a FAKE network file system that hangs on cue, network namespaces
// joined by veth pairs, and a real two-node corosync cluster whose nodes each
// live in their own network, mount and PID namespaces. Everything made here
// is removed by the destructors; addresses are in 198.18.0.0/15 only.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::testing {

// A real ext4 file system (UUID and label given) on a loop device over a
// file, mounted by UUID at DIR/mnt. Meant for a process in a private mount
// namespace: the loop device is set to detach when its last mount goes.
class LoopDisk {
 public:
  LoopDisk(const TempDir& dir, const std::string& uuid, const char* size);
  ~LoopDisk();
  LoopDisk(const LoopDisk&) = delete;
  LoopDisk& operator=(const LoopDisk&) = delete;
  bool ok() const { return mounted_; }
  const std::string& device() const { return device_; }
  const std::string& mountpoint() const { return mountpoint_; }

 private:
  std::string image_, mountpoint_, device_;
  bool mounted_ = false;
};

// freezefs (FAKE: a network file system that hangs on cue) mounted at
// DIR/net with the source a network mount shows, 198.18.0.10:/export.
class FrozenMount {
 public:
  explicit FrozenMount(const TempDir& dir);
  ~FrozenMount();
  FrozenMount(const FrozenMount&) = delete;
  FrozenMount& operator=(const FrozenMount&) = delete;
  // "ok", "freeze" (every call waits) or "eio" (every call fails).
  void Set(const std::string& mode);
  bool ok() const { return mounted_; }
  const std::string& mountpoint() const { return mountpoint_; }

 private:
  std::string mountpoint_, control_;
  std::optional<Subprocess> process_;
  bool mounted_ = false;
};

// Runs `ip ARGS...`; on failure appends its output to ERROR.
bool Ip(std::vector<std::string> args, std::string* error = nullptr);

// Two corosync nodes, hb1 and hb2 (knet, two links: 198.18.252.0/30 and
// 198.18.252.4/30 on veth pairs hb0/peer0 and hb1/peer1). Each node is a
// network namespace and, inside it, corosync as PID 1 of its own PID and
// mount namespace with private /run, /dev/shm and /var/lib/corosync: cluster
// daemons never run in the host's PID namespace.
class CorosyncPair {
 public:
  explicit CorosyncPair(const TempDir& dir);
  ~CorosyncPair();
  CorosyncPair(const CorosyncPair&) = delete;
  CorosyncPair& operator=(const CorosyncPair&) = delete;
  // The host pid of node N's corosync, 0 until it runs.
  pid_t CorosyncPid(int n) const;
  // nsenter arguments that run a command inside node N (net, mount, PID).
  std::vector<std::string> Enter(int n) const;
  void Kill(int n);
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& ns(int n) const { return ns_[static_cast<unsigned>(n)]; }

 private:
  std::vector<std::string> ns_;
  std::string conf_, node_script_, error_;
  std::optional<Subprocess> nodes_[2];
  bool ok_ = false;
};

}  // namespace ehabus::testing
