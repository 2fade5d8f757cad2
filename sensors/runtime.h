// The sensor runtime shared by every sensor: scheduled checks, each with its
// own interval and deadline, debounced, published on the bus.
//
// Lifecycle of a check: added with Add(); each Step() starts the checks that
// are due, each on its own thread, and collects the ones that finished. A
// check still running 100 ms past its deadline (a probe that honours the
// deadline reports by then) is reported as a failure ("no result
// within ...") and abandoned: its thread is left to end by itself (a probe
// stuck in the kernel on a hung mount cannot be killed, only left), and the
// check is not started again while that run is still stuck, so a hang never
// stalls the sensor and never piles up threads.
//
// Health changes only after `fall` failures in a row (up -> down) or `rise`
// successes in a row (down -> up), starting from unknown. Each check owns a
// state topic (e.g. "service.smtp"), re-published when its health or reason
// changes and every `refresh`, with latency and reason in `data`; a change of
// health is also an event on TOPIC.down or TOPIC.up.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "bus/publisher.h"
#include "sensors/probe.h"

namespace ehabus::sensors {

enum class Health { kUnknown, kUp, kDown };
std::string_view ToString(Health health);

// The debouncing rule alone, for tests and reuse.
class Debouncer {
 public:
  Debouncer(int fall, int rise) : fall_(fall), rise_(rise) {}
  // Feeds one result; returns the new health when it changed.
  std::optional<Health> Feed(bool ok);
  Health health() const { return health_; }
  int failures() const { return failures_; }

 private:
  int fall_, rise_;
  int failures_ = 0, successes_ = 0;
  Health health_ = Health::kUnknown;
};

struct CheckDefinition {
  std::string name;     // unique within the sensor, e.g. "smtp"
  std::string topic;    // its state topic, e.g. "service.smtp"
  std::string subject;  // what it is about, e.g. "smtp"
  std::chrono::milliseconds interval{2000};
  // After a failure, the next check comes this soon: a dead service is
  // confirmed (fall) in a fraction of the interval.
  std::chrono::milliseconds retry{250};
  std::chrono::milliseconds timeout{2000};
  int fall = 2;
  int rise = 1;
  // Runs on its own thread; must honour the deadline where it can.
  std::function<ProbeResult(Deadline)> run;
};

class SensorRuntime {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SensorRuntime(
      Publisher& publisher,
      std::chrono::milliseconds refresh = std::chrono::seconds(60));
  ~SensorRuntime();

  void Add(CheckDefinition check);
  // Stops scheduling NAME and clears its state topic's health to unknown.
  void Remove(const std::string& name);
  bool Has(const std::string& name) const { return checks_.contains(name); }
  // Checks NAME as soon as it is not running, and publishes that result's
  // state whatever it is, with data.request = REQUEST: how a healer learns
  // that a service it started serves (the sensor's own check, fresh).
  // False when NAME is not a check here.
  bool RunNow(const std::string& name, const std::string& request);

  // Starts due checks, collects finished or overdue ones, publishes.
  // Returns how long the caller may sleep before the next Step, unless
  // notify_fd() becomes readable first (a check finished).
  std::chrono::milliseconds Step(Clock::time_point now = Clock::now());
  // Readable when a check finished; Step() clears it. For poll().
  int notify_fd() const;

  Health health(const std::string& name) const;
  std::size_t stuck() const;  // runs abandoned and still not finished

 private:
  struct Slot;      // shared with the check's thread
  struct Notifier;  // an eventfd, shared with every check's thread
  struct Check {
    CheckDefinition definition;
    Debouncer debouncer;
    Clock::time_point next_run;
    std::shared_ptr<Slot> running;  // null when idle
    Clock::time_point started, deadline;
    bool abandoned = false;
    std::string last_message;
    Severity last_severity = Severity::kInfo;
    Clock::time_point last_published;
    std::int64_t since_us = 0;    // wall time of the last change of health
    std::string pending_request;  // RunNow() asked; for the next run
    std::string running_request;  // the run under way answers this
  };

  void Start(Check& check, Clock::time_point now);
  void Finish(Check& check, const ProbeResult& result, Clock::time_point now);
  void Publish(Check& check, const ProbeResult& result, bool changed,
               Clock::time_point now);

  Publisher& publisher_;
  std::chrono::milliseconds refresh_;
  std::shared_ptr<Notifier> notifier_;
  std::map<std::string, Check> checks_;
};

}  // namespace ehabus::sensors
