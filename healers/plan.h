// What a healing does, decided before anything is touched: which failed
// services are restarted (the roots: failed, and nothing they depend on
// failed too), which of their dependents are stopped first and started
// again after them, and which are left alone because an operator took them
// out of the watch list. Pure logic over the profile, for tests and reuse.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/profile.h"

namespace ehabus::healers {

struct HealingPlan {
  std::vector<std::string> roots;       // restarted, in start order
  std::vector<std::string> stop;        // dependents, in reverse start order
  std::vector<std::string> start;       // dependents, in start order
  std::vector<std::string> left_alone;  // dependents not watched
  // Every service this healing touches (roots and dependents).
  std::set<std::string> Touched() const;
};

// FAILED: services reported down. WATCHED: the watch list (a service not in
// it, or set to no, is never touched).
HealingPlan Plan(const Profile& profile, const std::set<std::string>& failed,
                 const std::map<std::string, bool>& watched);

// Restart budget: at most MAX healings of a service within WINDOW; the
// next is an escalation. Between attempts, a backoff that doubles from BASE
// up to LIMIT.
class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;
  RestartBudget(int max, std::chrono::milliseconds window,
                std::chrono::milliseconds base,
                std::chrono::milliseconds limit);
  // Healings of SERVICE within the window before NOW.
  int Used(const std::string& service, Clock::time_point now);
  // Whether another healing of SERVICE is within budget.
  bool Allows(const std::string& service, Clock::time_point now);
  void Record(const std::string& service, Clock::time_point now);
  // Forgets the healings of SERVICE ("all": of every service).
  void Forget(const std::string& service);
  // How long to wait before the next healing of SERVICE.
  std::chrono::milliseconds Backoff(const std::string& service,
                                    Clock::time_point now);
  int max() const { return max_; }
  std::chrono::milliseconds window() const { return window_; }

 private:
  int max_;
  std::chrono::milliseconds window_, base_, limit_;
  std::map<std::string, std::vector<Clock::time_point>> attempts_;
};

}  // namespace ehabus::healers
