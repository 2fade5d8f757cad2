#include "healers/failover.h"

#include "bus/topics.h"
#include "common/profile.h"

namespace ehabus::healers {
namespace {

// A service state that only says the stack does not run here.
bool Standby(const Event& event) {
  if (!event.data.is_object() || !event.data.contains("detail")) return false;
  const auto& detail = event.data["detail"];
  return detail.is_object() && detail.value("standby", false) == true;
}

Policy ParsePolicy(const std::string& text) {
  if (text == "failover") return Policy::kFailover;
  if (text == "notify") return Policy::kNotify;
  return Policy::kNothing;
}

}  // namespace

std::string_view ToString(Policy policy) {
  switch (policy) {
    case Policy::kFailover:
      return "failover";
    case Policy::kNotify:
      return "notify";
    case Policy::kNothing:
      return "nothing";
  }
  return "?";
}

FailoverSettings FailoverSettingsFrom(const Config& config) {
  const char* f = "healer.failover";
  FailoverSettings s;
  s.network = ParsePolicy(config.String(f, "on_network_lost"));
  s.storage = ParsePolicy(config.String(f, "on_storage_lost"));
  s.storage_full = ParsePolicy(config.String(f, "on_storage_full"));
  s.budget = ParsePolicy(config.String(f, "on_budget_spent"));
  s.heartbeat = ParsePolicy(config.String(f, "on_heartbeat_lost"));
  s.budget_hold = config.Duration(f, "budget_hold");
  s.attribute = config.String(f, "attribute");
  s.set_command = SplitWords(config.String(f, "set_command"));
  s.active_marker = ActiveMarkerFrom(config);
  s.retry = config.Duration(f, "retry");
  return s;
}

std::optional<Change> FailoverPolicy::Set(const std::string& key, Cause cause) {
  auto it = causes_.find(key);
  if (it != causes_.end() && it->second.policy == cause.policy) {
    it->second.reason = cause.reason;  // same cause, fresher words
    return std::nullopt;
  }
  if (it != causes_.end()) cause.since = it->second.since;  // a new policy
  causes_[key] = cause;
  return Change{Change::Kind::kAdded, std::move(cause)};
}

std::optional<Change> FailoverPolicy::Clear(const std::string& key) {
  auto it = causes_.find(key);
  if (it == causes_.end()) return std::nullopt;
  Change change{Change::Kind::kRemoved, it->second};
  causes_.erase(it);
  return change;
}

bool FailoverPolicy::storage_healthy() const {
  if (storage_health_.empty()) return false;
  for (const auto& [name, health] : storage_health_)
    if (health != "up") return false;
  return true;
}

std::vector<Change> FailoverPolicy::OnEvent(const Event& event,
                                            Clock::time_point now) {
  std::vector<Change> changes;
  auto add = [&](std::optional<Change> c) {
    if (c) changes.push_back(std::move(*c));
  };
  const std::string& t = event.topic;
  std::string health = event.data.is_object()
                           ? event.data.value("health", std::string())
                           : std::string();
  std::string reason = event.data.is_object()
                           ? event.data.value("reason", event.message)
                           : event.message;
  if (event.kind == Kind::kState && t == topics::kNetworkTargets) {
    if (health == "down")
      add(Set("network",
              {"network", "gateway", reason, settings_.network, now}));
    else if (health == "up")
      add(Clear("network"));
  } else if (event.kind == Kind::kState && t.starts_with(topics::kStorage) &&
             t.find('.', 8) == std::string::npos) {
    std::string name = t.substr(8);
    storage_health_[name] = health.empty() ? "unknown" : health;
    const auto& detail = event.data.is_object() && event.data.contains("detail")
                             ? event.data["detail"]
                             : nlohmann::json();
    bool full = detail.is_object() && detail.value("full", false) == true;
    if (health == "down")
      add(Set(topics::Storage(name),
              {"storage", name, reason,
               full ? settings_.storage_full : settings_.storage, now}));
    else if (health == "up")
      add(Clear(topics::Storage(name)));
  } else if (event.kind == Kind::kEvent && t.starts_with(topics::kHealing) &&
             t.ends_with(".escalated")) {
    std::string service = event.subject;
    add(Set("budget." + service,
            {"budget", service, event.message, settings_.budget, now}));
  } else if (t == topics::kCleanupBudget) {
    // `ehabus cleanup`: a spent budget here is no cause any more.
    std::vector<std::string> keys;
    for (const auto& [key, cause] : causes_)
      if (cause.kind == "budget" &&
          (event.subject == "all" || cause.what == event.subject))
        keys.push_back(key);
    for (const auto& key : keys) add(Clear(key));
  } else if (event.kind == Kind::kState && t.starts_with(topics::kService) &&
             t.find('.', 8) == std::string::npos && health == "up" &&
             !Standby(event)) {
    // The service serves again here: its spent budget is no cause any more.
    // (Not "up" on standby: that is the stack gone from here, which the
    // spent budget asked for.)
    add(Clear("budget." + t.substr(8)));
  } else if (event.kind == Kind::kState && (t == topics::kHeartbeatCorosync ||
                                            t == topics::kHeartbeatLinks)) {
    std::string key = topics::kHeartbeat + t.substr(10);
    if (health == "down") {
      // The old rule: a heartbeat loss alone moves nothing while the
      // shared storage is healthy; fencing (Pacemaker's) decides.
      Policy policy =
          storage_healthy() ? Policy::kNothing : settings_.heartbeat;
      add(Set(key, {"heartbeat", t.substr(10), reason, policy, now}));
    } else if (health == "up") {
      add(Clear(key));
    }
  }
  return changes;
}

std::vector<Change> FailoverPolicy::Expire(Clock::time_point now) {
  std::vector<Change> changes;
  std::vector<std::string> old;
  for (const auto& [key, cause] : causes_)
    if (cause.kind == "budget" && now - cause.since >= settings_.budget_hold)
      old.push_back(key);
  for (const auto& key : old)
    if (auto c = Clear(key)) changes.push_back(std::move(*c));
  return changes;
}

bool FailoverPolicy::red() const {
  for (const auto& [key, cause] : causes_)
    if (cause.policy == Policy::kFailover) return true;
  return false;
}

std::string FailoverPolicy::Summary() const {
  std::string out;
  for (const auto& [key, cause] : causes_) {
    if (!out.empty()) out += "; ";
    out += cause.kind + " " + cause.what + " (" +
           std::string(ToString(cause.policy)) + "): " + cause.reason;
  }
  return out.empty() ? "no cause" : out;
}

}  // namespace ehabus::healers
