// The restart healer: listens to the service sensor's states, heals failed
// services with their dependents (plan.h), asks the sensor to confirm each
// service it started, keeps restart budgets and escalates when one is spent.
// Every step is an event on healing.<service>.*; the healing in progress is
// kept in a state file so that a restarted healer resumes it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "common/config.h"
#include "common/profile.h"
#include "common/systemd.h"
#include "healers/control.h"
#include "healers/plan.h"

namespace ehabus::healers {

struct RestartSettings {
  std::string watch_file;
  std::string state_file;
  std::string active_marker;   // empty: always active
  std::string escalated_file;  // "": not kept
  int budget = 3;
  std::chrono::milliseconds budget_window{15 * 60 * 1000};
  std::chrono::milliseconds backoff{5000}, backoff_max{120000};
  std::chrono::milliseconds coalesce{1000};
  std::chrono::milliseconds stop_timeout{30000}, start_timeout{60000};
  std::chrono::milliseconds confirm_timeout{30000};
};

RestartSettings RestartSettingsFrom(const Config& config);

class RestartHealer {
 public:
  using Clock = std::chrono::steady_clock;
  RestartHealer(Profile profile, RestartSettings settings, Publisher& publisher,
                Subscriber& subscriber, const std::atomic<bool>& stop);
  // Until STOP: resumes an interrupted healing, then heals what fails.
  void Run();

 private:
  // Serves the bus for up to MAX (or until STOP).
  void Pump(std::chrono::milliseconds max);
  void OnEvent(const Event& event);
  void Housekeeping();
  std::map<std::string, bool> Watched();
  bool NodeInMaintenance();
  bool Active() const;
  // Asks the sensor for a fresh check of SERVICE until it passes or the
  // deadline; false with REASON otherwise.
  bool Confirm(const std::string& service, std::string& reason);
  void HealDue();
  bool Heal(const HealingPlan& plan, const std::string& id);
  void Resume();
  void Step(const std::string& topic, const std::string& service,
            const std::string& action, const StepOutcome& outcome);
  void SaveState(const std::string& id, const HealingPlan& plan);
  void ClearState();
  void PublishStatus(const std::string& text);

  Profile profile_;
  RestartSettings settings_;
  Publisher& publisher_;
  Subscriber& subscriber_;
  const std::atomic<bool>& stop_;
  Watchdog watchdog_;
  RestartBudget budget_;
  std::map<std::string, std::string> health_;  // service -> sensor's health
  std::map<std::string, nlohmann::json> last_state_;
  std::set<std::string> escalated_;  // budget spent; until seen up again
  void SaveEscalated();
  std::optional<Clock::time_point> first_failure_;
  std::set<std::string> healing_;  // touched by the healing under way
  Clock::time_point next_housekeeping_{};
  std::uint64_t healings_ = 0;
  std::string status_;
};

}  // namespace ehabus::healers
