// The notifier's spool: every notice is written to disk before the first
// attempt to deliver it and removed only after the channel accepted it, so
// a relay that is down, or a notifier restart, loses nothing. One file per
// notice (ID.json), written to a temporary name, synced, and renamed.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace ehabus::notifiers {

struct SpoolEntry {
  std::string id;
  nlohmann::json notice;  // what the channel renders
  int attempts = 0;
  std::int64_t next_attempt_us = 0;  // wall clock
  std::string last_error;
  std::int64_t spooled_us = 0;  // when it was first spooled (wall clock)
};

class Spool {
 public:
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}
  Result<void> Init() const;  // creates the directory (0700)
  // Writes ENTRY (new or updated).
  Result<void> Put(const SpoolEntry& entry) const;
  // Every entry, oldest id first; unreadable files are reported in ERRORS
  // and moved aside (NAME.bad), never deleted.
  std::vector<SpoolEntry> List(
      std::vector<std::string>* errors = nullptr) const;
  void Remove(const std::string& id) const;
  // Moves ID to failed/ (a permanent refusal): kept for the operator.
  void Fail(const std::string& id) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace ehabus::notifiers
