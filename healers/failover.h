// The failover decision: which losses hand the stack to the other node.
// Fed with the sensors' states and the restart healer's escalations, it
// keeps the set of present causes; the node is red while any cause whose
// policy is `failover` is present, green otherwise. The hand-off is
// Pacemaker's own mechanism: a node health attribute (#health-ehabus) that
// node-health-strategy acts on. We never move resources ourselves.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bus/event.h"
#include "common/config.h"

namespace ehabus::healers {

enum class Policy { kFailover, kNotify, kNothing };

struct FailoverSettings {
  Policy network = Policy::kFailover;
  Policy storage = Policy::kFailover;
  // Full is not lost: the other node mounts the same full disk.
  Policy storage_full = Policy::kNotify;
  Policy budget = Policy::kFailover;
  Policy heartbeat = Policy::kNothing;  // while storage is healthy
  std::chrono::milliseconds budget_hold{30 * 60 * 1000};
  std::string attribute = "#health-ehabus";
  std::vector<std::string> set_command;  // {attribute}, {value} replaced
  std::string active_marker;
  std::chrono::milliseconds retry{5000};
};

FailoverSettings FailoverSettingsFrom(const Config& config);

struct Cause {
  std::string kind;  // network, storage, budget, heartbeat
  std::string what;  // e.g. storage "mail", service "postfix"
  std::string reason;
  Policy policy = Policy::kNothing;
  std::chrono::steady_clock::time_point since;
};

// What a new event changed, for the daemon to announce.
struct Change {
  enum class Kind { kAdded, kRemoved } kind;
  Cause cause;
};

class FailoverPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FailoverPolicy(FailoverSettings settings)
      : settings_(std::move(settings)) {}
  std::vector<Change> OnEvent(const Event& event, Clock::time_point now);
  // Budget causes older than budget_hold end (as Pacemaker's
  // failure-timeout would).
  std::vector<Change> Expire(Clock::time_point now);
  // red while a failover cause is present.
  bool red() const;
  std::string Summary() const;
  const std::map<std::string, Cause>& causes() const { return causes_; }
  bool storage_healthy() const;

 private:
  std::optional<Change> Set(const std::string& key, Cause cause);
  std::optional<Change> Clear(const std::string& key);
  FailoverSettings settings_;
  std::map<std::string, Cause> causes_;
  std::map<std::string, std::string> storage_health_;
};

std::string_view ToString(Policy policy);

}  // namespace ehabus::healers
