// ehabus-healer-failover: decides, from the sensors' states and the restart
// healer's escalations, whether this node should give up the stack, and
// hands off to Pacemaker through a node health attribute.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"
#include "healers/control.h"
#include "healers/failover.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ehabus::healers::Change;
using ehabus::healers::Policy;

std::vector<std::string> Command(const ehabus::healers::FailoverSettings& s,
                                 const std::string& value) {
  auto argv = s.set_command;
  for (auto& word : argv) {
    for (std::size_t at; (at = word.find("{attribute}")) != std::string::npos;)
      word.replace(at, 11, s.attribute);
    for (std::size_t at; (at = word.find("{value}")) != std::string::npos;)
      word.replace(at, 7, value);
  }
  return argv;
}

int Main(int argc, char** argv) {
  ehabus::InitLogging("healer-failover");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-healer-failover [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("healer-failover", *config);
  auto settings = ehabus::healers::FailoverSettingsFrom(*config);
  ehabus::healers::FailoverPolicy policy(settings);

  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  auto endpoints = ehabus::EndpointsFrom(*config);
  ehabus::Publisher publisher(
      context,
      {endpoints.pub, ehabus::NodeName(*config), "healer-failover", 10000});
  ehabus::SubscriberOptions options;
  options.sub_endpoint = endpoints.sub;
  options.snapshot_endpoint = endpoints.snapshot;
  options.prefixes = {
      ehabus::topics::kNetworkTargets, ehabus::topics::kStorage,
      ehabus::topics::kHealing,        ehabus::topics::kService,
      ehabus::topics::kHeartbeat,      ehabus::topics::kCleanupBudget};
  ehabus::Subscriber subscriber(context, options);
  publisher.WaitAttached(2s);
  ehabus::NotifyReady("deciding failover");
  ehabus::Watchdog watchdog;

  auto active = [&] {
    return settings.active_marker.empty() ||
           access(settings.active_marker.c_str(), F_OK) == 0;
  };
  std::string applied;  // the attribute value last set successfully
  Clock::time_point next_try{};
  std::string last_state;

  auto publish_state = [&] {
    std::string health = policy.red() ? "red" : "green";
    std::string text = health + ": " + policy.Summary() +
                       (active() ? "" : " (standby: the stack is not here)");
    if (text == last_state) return;
    last_state = text;
    nlohmann::json causes = nlohmann::json::array();
    for (const auto& [key, c] : policy.causes())
      causes.push_back({{"kind", c.kind},
                        {"what", c.what},
                        {"policy", ehabus::healers::ToString(c.policy)},
                        {"reason", c.reason}});
    publisher.SetState(
        "failover",
        policy.red() ? ehabus::Severity::kCritical : ehabus::Severity::kInfo,
        "failover", text,
        {{"health", health},
         {"causes", causes},
         {"active", active()},
         {"attribute", settings.attribute},
         {"applied", applied}});
  };

  // Sets the attribute when it differs from what it should be: red only
  // where the stack runs; green everywhere as soon as no cause is left.
  auto apply = [&] {
    std::string want = policy.red() ? "red" : "green";
    if (want == applied || Clock::now() < next_try) return;
    if (want == "red" && !active()) return;
    auto outcome = ehabus::healers::RunCommand(Command(settings, want), 10s);
    if (outcome.ok) {
      applied = want;
      spdlog::info("{} = {}", settings.attribute, want);
      publisher.Publish(
          want == "red" ? ehabus::topics::kFailoverRequested
                        : ehabus::topics::kFailoverCleared,
          want == "red" ? ehabus::Severity::kCritical
                        : ehabus::Severity::kNotice,
          "failover",
          want == "red"
              ? "failover requested: " + policy.Summary() + "; " +
                    settings.attribute +
                    "=red on this node, Pacemaker moves the stack"
              : settings.attribute + "=green on this node: " + policy.Summary(),
          {{"attribute", settings.attribute},
           {"value", want},
           {"took_ms", outcome.took.count()},
           {"summary", policy.Summary()}});
    } else if (want == "green" && applied.empty()) {
      // The first green only clears a red a predecessor may have left. It
      // fails when Pacemaker does not run here (a node booting before its
      // cluster stack), and then there is no red to clear: no alarm.
      next_try = Clock::now() + settings.retry;
      spdlog::info("{}=green not set yet (retrying): {}", settings.attribute,
                   outcome.detail);
    } else {
      next_try = Clock::now() + settings.retry;
      publisher.Publish("failover.handoff-failed", ehabus::Severity::kCritical,
                        "failover",
                        "could not set " + settings.attribute + "=" + want +
                            ": " + outcome.detail + " (retrying)",
                        {{"attribute", settings.attribute},
                         {"value", want},
                         {"detail", outcome.detail}});
    }
  };

  auto announce = [&](const std::vector<Change>& changes) {
    for (const auto& change : changes) {
      const auto& c = change.cause;
      if (change.kind == Change::Kind::kRemoved) {
        publisher.Publish("failover.cause-gone", ehabus::Severity::kNotice,
                          c.what, c.kind + " " + c.what + ": the cause is gone",
                          {{"kind", c.kind}, {"what", c.what}});
        continue;
      }
      if (c.policy == Policy::kNothing) {
        publisher.Publish(
            ehabus::topics::kFailoverDeclined, ehabus::Severity::kNotice,
            c.what,
            c.kind + " " + c.what + " lost: " + c.reason +
                (c.kind == "heartbeat" && policy.storage_healthy()
                     ? "; shared storage healthy: no switch (fencing decides)"
                     : "; policy: nothing"),
            {{"kind", c.kind}, {"what", c.what}, {"reason", c.reason}});
      } else if (c.policy == Policy::kNotify) {
        publisher.Publish(
            ehabus::topics::kFailoverNotify, ehabus::Severity::kWarning, c.what,
            c.kind + " " + c.what + " lost: " + c.reason +
                "; policy notify: no failover",
            {{"kind", c.kind}, {"what", c.what}, {"reason", c.reason}});
      } else if (!active()) {
        publisher.Publish(
            ehabus::topics::kFailoverStandby, ehabus::Severity::kWarning,
            c.what,
            c.kind + " " + c.what + " lost: " + c.reason +
                "; the stack does not run here, nothing to hand over",
            {{"kind", c.kind}, {"what", c.what}, {"reason", c.reason}});
      }
    }
  };

  // The snapshot first, so that a restarted healer decides on what is.
  auto until = Clock::now() + 500ms;
  while (Clock::now() < until) {
    if (auto d = subscriber.Receive(50ms))
      announce(policy.OnEvent(d->event, Clock::now()));
  }
  while (!stop.load()) {
    publisher.Poll();
    watchdog.Tick();
    try {
      if (auto d = subscriber.Receive(100ms))
        announce(policy.OnEvent(d->event, Clock::now()));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;  // a signal: look at stop again
    }
    announce(policy.Expire(Clock::now()));
    apply();
    publish_state();
  }
  ehabus::NotifyStopping();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("healer-failover failed: {}", e.what());
    return 1;
  }
}
