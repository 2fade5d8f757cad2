#include "healers/restart.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>

#include "bus/topics.h"
#include "common/files.h"
#include "healers/state_files.h"

namespace ehabus::healers {
namespace {

using namespace std::chrono_literals;

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string Seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s",
                static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::string WindowText(std::chrono::milliseconds window) {
  auto minutes = window.count() / 60000;
  return minutes > 0 ? std::to_string(minutes) + " min" : Seconds(window);
}

}  // namespace

RestartSettings RestartSettingsFrom(const Config& config) {
  RestartSettings s;
  const char* h = "healer.restart";
  s.watch_file = config.String("sensor.service", "watch_file");
  s.state_file = config.String(h, "state_file");
  s.active_marker = ActiveMarkerFrom(config);
  s.escalated_file = EscalatedFileFrom(config);
  s.budget = static_cast<int>(config.Int(h, "budget"));
  s.budget_window = config.Duration(h, "budget_window");
  s.backoff = config.Duration(h, "backoff");
  s.backoff_max = config.Duration(h, "backoff_max");
  s.coalesce = config.Duration(h, "coalesce");
  s.stop_timeout = config.Duration(h, "stop_timeout");
  s.start_timeout = config.Duration(h, "start_timeout");
  s.confirm_timeout = config.Duration(h, "confirm_timeout");
  return s;
}

RestartHealer::RestartHealer(Profile profile, RestartSettings settings,
                             Publisher& publisher, Subscriber& subscriber,
                             const std::atomic<bool>& stop)
    : profile_(std::move(profile)),
      settings_(std::move(settings)),
      publisher_(publisher),
      subscriber_(subscriber),
      stop_(stop),
      budget_(settings_.budget, settings_.budget_window, settings_.backoff,
              settings_.backoff_max) {}

void RestartHealer::PublishStatus(const std::string& text) {
  if (text == status_) return;
  status_ = text;
  publisher_.SetState("healer.restart", Severity::kInfo, "healer", text,
                      {{"healings", healings_},
                       {"escalated", std::vector<std::string>(
                                         escalated_.begin(), escalated_.end())},
                       {"budget", settings_.budget},
                       {"budget_window_ms", settings_.budget_window.count()}});
}

bool RestartHealer::Active() const {
  return settings_.active_marker.empty() ||
         access(settings_.active_marker.c_str(), F_OK) == 0;
}

std::map<std::string, bool> RestartHealer::Watched() {
  auto list = LoadWatchList(settings_.watch_file, profile_);
  if (!list) {
    std::string text;
    for (const auto& e : list.error()) text += e.ToString() + "; ";
    // Unreadable watch list: touch nothing (an operator may be editing it).
    spdlog::error("watch list unreadable, healing nothing: {}", text);
    return {};
  }
  return *list;
}

bool RestartHealer::NodeInMaintenance() {
  auto entries = LoadMaintenance(settings_.watch_file);
  return entries && entries->contains("node");
}

void RestartHealer::Housekeeping() {
  auto now = Clock::now();
  if (now < next_housekeeping_) return;
  next_housekeeping_ = now + 1s;
  // Time-boxed maintenance ends by itself.
  auto ended = ExpireMaintenance(settings_.watch_file, profile_,
                                 WallMicros() / 1'000'000);
  if (!ended) {
    spdlog::warn("maintenance: {}", ended.error().message);
  } else {
    for (const auto& target : *ended) {
      publisher_.Publish(topics::kMaintenanceEnded, Severity::kNotice, target,
                         "maintenance of " + target +
                             " ended (its time was up); watched and healed "
                             "again",
                         {{"target", target}, {"expired", true}});
    }
  }
}

void RestartHealer::OnEvent(const Event& event) {
  if (event.topic == topics::kCleanupBudget) {
    // `ehabus cleanup`: the operator fixed the cause; budgets start afresh.
    const std::string& target = event.subject;
    budget_.Forget(target);
    bool changed = target == "all" ? !escalated_.empty() : false;
    if (target == "all")
      escalated_.clear();
    else
      changed = escalated_.erase(target) > 0;
    if (changed) SaveEscalated();
    spdlog::info("restart budget of {} forgotten ({})", target, event.message);
    PublishStatus("restart budget of " + target + " forgotten by cleanup");
    // What is still down is healed again, now.
    for (const auto& [service, health] : health_)
      if (health == "down" && !first_failure_) first_failure_ = Clock::now();
    return;
  }
  if (event.kind != Kind::kState ||
      !event.topic.starts_with(topics::kService) ||
      event.topic.find('.', 8) != std::string::npos)
    return;
  std::string service = event.topic.substr(8);
  if (!profile_.Find(service)) return;
  std::string health = event.data.value("health", "unknown");
  health_[service] = health;
  last_state_[service] = event.data;
  // Serving here again ends an escalation; "up" on standby (the stack left
  // this node, as the escalation asked) does not.
  bool standby = event.data.contains("detail") &&
                 event.data["detail"].is_object() &&
                 event.data["detail"].value("standby", false) == true;
  if (health == "up" && !standby && escalated_.erase(service) > 0)
    SaveEscalated();
  if (health == "down" && !healing_.contains(service) && !first_failure_)
    first_failure_ = Clock::now();
}

void RestartHealer::Pump(std::chrono::milliseconds max) {
  auto until = Clock::now() + max;
  do {
    publisher_.Poll();
    watchdog_.Tick();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - Clock::now());
    std::optional<Delivery> d;
    try {
      d = subscriber_.Receive(std::clamp(left, 0ms, 100ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;  // a signal: look at stop_ again
    }
    if (d) OnEvent(d->event);
    if (d && d->missed_before > 0) {
      spdlog::warn("missed {} events on {} (bus overflow or restart)",
                   d->missed_before, d->event.topic);
    }
  } while (!stop_.load() && Clock::now() < until);
}

void RestartHealer::Step(const std::string& topic, const std::string& service,
                         const std::string& action,
                         const StepOutcome& outcome) {
  std::string message =
      action + " " + service + ": " + (outcome.ok ? "ok" : "FAILED") + " (" +
      Seconds(outcome.took) + ")" + (outcome.ok ? "" : ": " + outcome.detail);
  spdlog::info("{}", message);
  publisher_.Publish(topic + ".step",
                     outcome.ok ? Severity::kInfo : Severity::kError, service,
                     message,
                     {{"service", service},
                      {"action", action},
                      {"ok", outcome.ok},
                      {"took_ms", outcome.took.count()},
                      {"detail", outcome.detail}});
}

bool RestartHealer::Confirm(const std::string& service, std::string& reason) {
  auto start = Clock::now();
  auto deadline = start + settings_.confirm_timeout;
  int n = 0;
  std::string last = "no fresh check from ehabus-sensor-service";
  while (!stop_.load() && Clock::now() < deadline) {
    std::string request = std::to_string(getpid()) + "-" +
                          std::to_string(healings_) + "-" + service + "-" +
                          std::to_string(++n);
    publisher_.Publish(topics::kSensorRecheck, Severity::kDebug, service,
                       "healer asks for a fresh check of " + service,
                       {{"request", request}});
    // The answer: the service's state carrying our request.
    auto answer_by = std::min(deadline, Clock::now() + 5s);
    while (!stop_.load() && Clock::now() < answer_by) {
      Pump(50ms);
      auto it = last_state_.find(service);
      if (it != last_state_.end() && it->second.value("request", "") == request)
        break;
    }
    auto it = last_state_.find(service);
    if (it != last_state_.end() && it->second.value("request", "") == request) {
      if (it->second.value("ok", false)) return true;
      last = it->second.value("reason", "failing");
      Pump(300ms);  // not yet: ask again shortly
    }
  }
  reason =
      "not serving within " + Seconds(settings_.confirm_timeout) + ": " + last;
  return false;
}

void RestartHealer::SaveState(const std::string& id, const HealingPlan& plan) {
  nlohmann::json state = {{"id", id},
                          {"roots", plan.roots},
                          {"start", plan.start},
                          {"started_us", WallMicros()}};
  if (auto written = WriteFileAtomic(settings_.state_file, state.dump() + "\n",
                                     {.mode = 0600, .sync = true});
      !written)
    spdlog::warn("cannot write the healing state: {}", written.error().message);
}

// The stack agent's monitor reads this: a spent budget fails the stack
// resource, so Pacemaker moves it even if the health attribute cannot be set.
void RestartHealer::SaveEscalated() {
  if (settings_.escalated_file.empty()) return;
  if (auto written =
          EscalatedBudgets(settings_.escalated_file).Write(escalated_);
      !written)
    spdlog::warn("cannot write the spent budgets: {}", written.error().message);
}

void RestartHealer::ClearState() { unlink(settings_.state_file.c_str()); }

bool RestartHealer::Heal(const HealingPlan& plan, const std::string& id) {
  const std::string& primary = plan.roots.front();
  std::string topic = topics::Healing(primary);
  auto start = Clock::now();
  healing_ = plan.Touched();
  SaveState(id, plan);
  nlohmann::json data = {{"healing", id},
                         {"services", plan.roots},
                         {"dependents", plan.start},
                         {"left_alone", plan.left_alone}};
  std::string fail_step, fail_detail;
  auto run = [&](const std::string& service, bool starting) {
    const auto* spec = profile_.Find(service);
    StepOutcome outcome =
        starting ? StartService(profile_, *spec, settings_.start_timeout)
                 : StopService(profile_, *spec, settings_.stop_timeout);
    Step(topic, service, starting ? "start" : "stop", outcome);
    if (!outcome.ok && fail_step.empty()) {
      fail_step = (starting ? "start " : "stop ") + service;
      fail_detail = outcome.detail;
    }
    return outcome.ok;
  };
  auto confirm = [&](const std::string& service) {
    auto t0 = Clock::now();
    std::string reason;
    bool ok = Confirm(service, reason);
    StepOutcome outcome{ok, ok ? "serving (the sensor's check passed)" : reason,
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            Clock::now() - t0)};
    Step(topic, service, "confirm", outcome);
    if (!ok && fail_step.empty()) {
      fail_step = "confirm " + service;
      fail_detail = reason;
    }
    return ok;
  };
  bool ok = true;
  // Dependents down first, in reverse start order; then the failed ones.
  for (const auto& s : plan.stop) ok = run(s, false) && ok;
  for (const auto& s : plan.roots) ok = run(s, false) && ok;
  // Back up in start order, each confirmed before what needs it starts.
  for (const auto& s : plan.roots) {
    if (!ok) break;
    ok = run(s, true) && confirm(s);
  }
  for (const auto& s : plan.start) {
    if (!ok) break;
    ok = run(s, true) && confirm(s);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - start);
  data["took_ms"] = took.count();
  if (ok) {
    publisher_.Publish(
        topic + ".succeeded", Severity::kNotice, primary,
        "healed " + Join(plan.roots) +
            (plan.start.empty() ? "" : " with " + Join(plan.start)) + " in " +
            Seconds(took),
        data);
  } else {
    data["failed_step"] = fail_step;
    data["detail"] = fail_detail;
    publisher_.Publish(topic + ".failed", Severity::kError, primary,
                       "healing " + Join(plan.roots) + " failed at " +
                           fail_step + ": " + fail_detail,
                       data);
  }
  ClearState();
  healing_.clear();
  return ok;
}

void RestartHealer::Resume() {
  std::ifstream in(settings_.state_file);
  if (!in) return;
  nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
  ClearState();
  if (state.is_discarded() || !state.contains("roots") ||
      !state["roots"].is_array() || state["roots"].empty()) {
    spdlog::warn("{}: unreadable healing state, ignored", settings_.state_file);
    return;
  }
  HealingPlan plan;
  for (const auto& s : state["roots"])
    if (s.is_string() && profile_.Find(s.get<std::string>()))
      plan.roots.push_back(s.get<std::string>());
  if (state.contains("start") && state["start"].is_array())
    for (const auto& s : state["start"])
      if (s.is_string() && profile_.Find(s.get<std::string>()))
        plan.start.push_back(s.get<std::string>());
  if (plan.roots.empty()) return;
  std::string topic = topics::Healing(plan.roots.front());
  publisher_.Publish(topic + ".resumed", Severity::kWarning, plan.roots.front(),
                     "the healer restarted during the healing of " +
                         Join(plan.roots) +
                         "; bringing up what is not serving, in order",
                     {{"services", plan.roots}, {"dependents", plan.start}});
  ++healings_;
  std::vector<std::string> order = plan.roots;
  order.insert(order.end(), plan.start.begin(), plan.start.end());
  healing_ = plan.Touched();
  SaveState(state.value("id", "resumed"), plan);
  bool ok = true;
  std::string failed;
  for (const auto& service : order) {
    std::string reason;
    auto saved = settings_.confirm_timeout;
    settings_.confirm_timeout =
        std::min(saved, std::chrono::milliseconds(3000));
    bool serving = Confirm(service, reason);
    settings_.confirm_timeout = saved;
    if (serving) continue;
    auto outcome = StartService(profile_, *profile_.Find(service),
                                settings_.start_timeout);
    Step(topic, service, "start", outcome);
    if (outcome.ok) {
      auto t0 = Clock::now();
      serving = Confirm(service, reason);
      Step(topic, service, "confirm",
           {serving, serving ? "serving" : reason,
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                  t0)});
    }
    if (!serving) {
      ok = false;
      failed = service + ": " + (outcome.ok ? reason : outcome.detail);
      break;
    }
  }
  ClearState();
  healing_.clear();
  if (ok) {
    publisher_.Publish(topic + ".succeeded", Severity::kNotice,
                       plan.roots.front(),
                       "resumed healing done: " + Join(order) + " serving",
                       {{"services", plan.roots}, {"resumed", true}});
  } else {
    publisher_.Publish(topic + ".failed", Severity::kError, plan.roots.front(),
                       "resumed healing failed at " + failed,
                       {{"services", plan.roots}, {"resumed", true}});
  }
}

void RestartHealer::HealDue() {
  if (!first_failure_) return;
  auto now = Clock::now();
  // Coalesce: failures arriving together are healed together.
  if (now - *first_failure_ < settings_.coalesce) return;
  std::set<std::string> failed;
  for (const auto& [service, health] : health_)
    if (health == "down") failed.insert(service);
  first_failure_.reset();
  if (failed.empty()) return;
  if (!Active()) {
    PublishStatus("standby: the stack does not run here (no " +
                  settings_.active_marker + "); not healing");
    return;
  }
  if (NodeInMaintenance()) {
    PublishStatus("node in maintenance: not healing " +
                  Join(std::vector<std::string>(failed.begin(), failed.end())));
    return;
  }
  auto watched = Watched();
  HealingPlan plan = Plan(profile_, failed, watched);
  // Budgets: a spent one escalates; a backoff postpones.
  std::vector<std::string> roots;
  for (const auto& root : plan.roots) {
    if (escalated_.contains(root)) continue;
    if (!budget_.Allows(root, now)) {
      escalated_.insert(root);
      SaveEscalated();
      int used = budget_.Used(root, now);
      publisher_.Publish(
          topics::Healing(root, "escalated"), Severity::kCritical, root,
          root + " failed again after " + std::to_string(used) +
              " healings within " + WindowText(settings_.budget_window) +
              "; restart budget spent, handing over to failover",
          {{"service", root},
           {"healings", used},
           {"budget", settings_.budget},
           {"window_ms", settings_.budget_window.count()},
           {"reason", last_state_[root].value("reason", "")}});
      continue;
    }
    if (auto wait = budget_.Backoff(root, now); wait.count() > 0) {
      if (!first_failure_ || *first_failure_ > now + wait - settings_.coalesce)
        first_failure_ = now + wait - settings_.coalesce;
      PublishStatus("backing off " + Seconds(wait) + " before healing " + root);
      continue;
    }
    roots.push_back(root);
  }
  if (roots.empty()) return;
  plan = Plan(profile_, std::set<std::string>(roots.begin(), roots.end()),
              watched);
  ++healings_;
  std::string id =
      std::to_string(WallMicros()) + "-" + std::to_string(healings_);
  for (const auto& root : plan.roots) budget_.Record(root, now);
  const std::string& primary = plan.roots.front();
  int used = budget_.Used(primary, now);
  std::string what = "restart " + Join(plan.roots);
  if (!plan.start.empty()) what += "; stop and start again " + Join(plan.start);
  if (!plan.left_alone.empty())
    what += "; leave alone " + Join(plan.left_alone) + " (not watched)";
  std::vector<std::string> failed_list(failed.begin(), failed.end());
  publisher_.Publish(
      topics::Healing(primary, "started"), Severity::kWarning, primary,
      "healing " + Join(plan.roots) + " (down: " + Join(failed_list) +
          "): " + what + " (healing " + std::to_string(used) + " of " +
          std::to_string(settings_.budget) + " within " +
          WindowText(settings_.budget_window) + ")",
      {{"healing", id},
       {"services", plan.roots},
       {"dependents", plan.start},
       {"left_alone", plan.left_alone},
       {"down", failed_list},
       {"attempt", used},
       {"budget", settings_.budget},
       {"reason", last_state_[primary].value("reason", "")}});
  PublishStatus("healing " + Join(plan.roots));
  Heal(plan, id);
  PublishStatus("watching");
  // Whatever is still down is looked at again (a failure during the
  // healing is not lost).
  for (const auto& [service, health] : health_)
    if (health == "down") first_failure_ = Clock::now();
}

void RestartHealer::Run() {
  Pump(500ms);  // the snapshot: what is down already
  Resume();
  PublishStatus("watching");
  while (!stop_.load()) {
    Pump(100ms);
    Housekeeping();
    HealDue();
  }
}

}  // namespace ehabus::healers
