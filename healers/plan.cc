#include "healers/plan.h"

#include <algorithm>

namespace ehabus::healers {

std::set<std::string> HealingPlan::Touched() const {
  std::set<std::string> all(roots.begin(), roots.end());
  all.insert(start.begin(), start.end());
  return all;
}

HealingPlan Plan(const Profile& profile, const std::set<std::string>& failed,
                 const std::map<std::string, bool>& watched) {
  auto is_watched = [&](const std::string& name) {
    auto it = watched.find(name);
    return it != watched.end() && it->second;
  };
  // A failed service below another failed one is healed as its dependent.
  std::set<std::string> below;
  for (const auto& f : failed)
    for (const auto& d : profile.Dependents(f)) below.insert(d);
  HealingPlan plan;
  std::set<std::string> dependents;
  for (const auto& name : profile.StartOrder()) {
    if (!failed.contains(name) || below.contains(name) || !is_watched(name))
      continue;
    plan.roots.push_back(name);
    for (const auto& d : profile.Dependents(name)) dependents.insert(d);
  }
  for (const auto& name : profile.StartOrder()) {
    if (!dependents.contains(name)) continue;
    if (is_watched(name))
      plan.start.push_back(name);
    else
      plan.left_alone.push_back(name);
  }
  plan.stop.assign(plan.start.rbegin(), plan.start.rend());
  return plan;
}

RestartBudget::RestartBudget(int max, std::chrono::milliseconds window,
                             std::chrono::milliseconds base,
                             std::chrono::milliseconds limit)
    : max_(max), window_(window), base_(base), limit_(limit) {}

int RestartBudget::Used(const std::string& service, Clock::time_point now) {
  auto& times = attempts_[service];
  std::erase_if(times, [&](Clock::time_point t) { return now - t > window_; });
  return static_cast<int>(times.size());
}

bool RestartBudget::Allows(const std::string& service, Clock::time_point now) {
  return Used(service, now) < max_;
}

void RestartBudget::Record(const std::string& service, Clock::time_point now) {
  Used(service, now);
  attempts_[service].push_back(now);
}

void RestartBudget::Forget(const std::string& service) {
  if (service == "all")
    attempts_.clear();
  else
    attempts_.erase(service);
}

std::chrono::milliseconds RestartBudget::Backoff(const std::string& service,
                                                 Clock::time_point now) {
  int used = Used(service, now);
  if (used == 0) return std::chrono::milliseconds(0);
  auto wait = base_;
  for (int i = 1; i < used && wait < limit_; ++i) wait *= 2;
  wait = std::min(wait, limit_);
  auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
      now - attempts_[service].back());
  return since >= wait ? std::chrono::milliseconds(0) : wait - since;
}

}  // namespace ehabus::healers
