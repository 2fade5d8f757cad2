// The alert agent's logic: one Pacemaker alert (its CRM_alert_* variables)
// turned into one bus event, every value sanitised. Pacemaker calls the
// agent once per event per recipient, concurrently; the agent must be fast
// and never trust what it is handed.
//
//   cluster.node.NODE.member|lost        a node joined or left
//   cluster.fencing.NODE.ok|failed       a fencing action and its result
//   cluster.resource.RSC.TASK.ok|failed  a resource operation (Pacemaker
//                                        does not alert successful monitors)
//   cluster.attribute.NAME               a node attribute changed
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bus/event.h"
#include "common/config.h"
#include "common/error.h"

namespace ehabus::cluster {

struct Alert {
  std::string topic;
  Severity severity = Severity::kInfo;
  std::string subject;
  std::string message;
  nlohmann::json data;
};

// Looks a variable up ("" when unset); the real one reads the environment.
using AlertEnv = std::function<std::string(const char* name)>;
std::string ProcessEnv(const char* name);

// The event of the alert in ENV, or why there is none (an unknown kind).
Result<Alert> AlertFromEnvironment(const AlertEnv& env = ProcessEnv);

// Where the agent publishes: the broker's alert socket (group haclient,
// cluster.* only), or the publish socket when there is none.
std::string AlertEndpoint(const Config& config);

}  // namespace ehabus::cluster
