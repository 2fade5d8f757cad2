// The files the restart healer keeps that other processes read: the
// services whose restart budget is spent on this node (the stack agent's
// monitor fails on them, `ehabus cleanup` forgets them), and the lock the
// healer holds while it runs (the stack agent's monitor tolerates a service
// being down only while a healer holds it).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"

namespace ehabus::healers {

// One service name a line; no file: nothing spent.
class EscalatedBudgets {
 public:
  explicit EscalatedBudgets(std::string path) : path_(std::move(path)) {}
  static EscalatedBudgets From(const Config& config);

  const std::string& path() const { return path_; }
  // What is spent (empty when the file does not exist).
  std::set<std::string> Read() const;
  // Replaces the file by SPENT (removes it when empty), atomically, synced.
  Result<void> Write(const std::set<std::string>& spent) const;
  // Forgets TARGET ("all": every service); returns what was forgotten.
  Result<std::vector<std::string>> Forget(const std::string& target) const;

 private:
  std::string path_;
};

// An exclusive lock (flock) that the restart healer holds from start to
// exit; the kernel drops it when the healer dies, however it dies.
class HealerLock {
 public:
  static std::string PathFrom(const Config& config);
  // Takes the lock at PATH (created 0600 if missing, never through a link);
  // fails when another healer holds it.
  static Result<HealerLock> Acquire(const std::string& path);
  // Whether a running healer holds the lock at PATH.
  static bool Held(const std::string& path);

  HealerLock(HealerLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  HealerLock& operator=(HealerLock&&) = delete;
  HealerLock(const HealerLock&) = delete;
  HealerLock& operator=(const HealerLock&) = delete;
  ~HealerLock();

 private:
  explicit HealerLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ehabus::healers
