#include "sensors/runtime.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <mutex>
#include <thread>

namespace ehabus::sensors {

// A probe gives up at its deadline and then still reports; it is abandoned
// only when it has not reported this long after.
constexpr std::chrono::milliseconds kGrace{100};

std::string_view ToString(Health health) {
  switch (health) {
    case Health::kUnknown:
      return "unknown";
    case Health::kUp:
      return "up";
    case Health::kDown:
      return "down";
  }
  return "?";
}

std::optional<Health> Debouncer::Feed(bool ok) {
  if (ok) {
    failures_ = 0;
    ++successes_;
    if (health_ != Health::kUp && successes_ >= rise_) {
      health_ = Health::kUp;
      return health_;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (health_ != Health::kDown && failures_ >= fall_) {
      health_ = Health::kDown;
      return health_;
    }
  }
  return std::nullopt;
}

// Threads wake the loop through it instead of the loop polling for them.
// Shared: an abandoned thread may finish after the runtime is gone, and
// must not write to a descriptor number that was reused meanwhile.
struct SensorRuntime::Notifier {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ~Notifier() {
    if (fd >= 0) close(fd);
  }
  void Notify() const {
    std::uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }
  void Clear() const {
    std::uint64_t count = 0;
    (void)!read(fd, &count, sizeof count);
  }
};

struct SensorRuntime::Slot {
  std::mutex mutex;
  bool done = false;
  ProbeResult result;
};

SensorRuntime::SensorRuntime(Publisher& publisher,
                             std::chrono::milliseconds refresh)
    : publisher_(publisher),
      refresh_(refresh),
      notifier_(std::make_shared<Notifier>()) {}

int SensorRuntime::notify_fd() const { return notifier_->fd; }

SensorRuntime::~SensorRuntime() = default;  // running threads hold their slots

void SensorRuntime::Add(CheckDefinition check) {
  std::string name = check.name;
  Check entry{std::move(check),
              Debouncer(0, 0),
              Clock::now(),
              nullptr,
              {},
              {},
              false,
              "",
              Severity::kInfo,
              {},
              0,
              "",
              ""};
  entry.debouncer = Debouncer(entry.definition.fall, entry.definition.rise);
  checks_.erase(name);
  checks_.emplace(name, std::move(entry));
}

void SensorRuntime::Remove(const std::string& name) {
  auto it = checks_.find(name);
  if (it == checks_.end()) return;
  publisher_.SetState(it->second.definition.topic, Severity::kNotice,
                      it->second.definition.subject, "not watched",
                      {{"health", "unknown"}, {"watched", false}});
  checks_.erase(it);
}

bool SensorRuntime::RunNow(const std::string& name,
                           const std::string& request) {
  auto it = checks_.find(name);
  if (it == checks_.end()) return false;
  it->second.pending_request = request;
  it->second.next_run = Clock::now();
  return true;
}

void SensorRuntime::Start(Check& check, Clock::time_point now) {
  check.running_request = std::move(check.pending_request);
  check.pending_request.clear();
  auto slot = std::make_shared<Slot>();
  check.running = slot;
  check.started = now;
  check.deadline = now + check.definition.timeout;
  check.abandoned = false;
  auto run = check.definition.run;
  auto deadline = check.deadline;
  auto notifier = notifier_;
  // Detached: a run stuck past its deadline is abandoned, not joined.
  std::thread([slot, run, deadline, notifier] {
    ProbeResult result = run(deadline);
    {
      std::lock_guard lock(slot->mutex);
      slot->result = std::move(result);
      slot->done = true;
    }
    notifier->Notify();
  }).detach();
}

std::chrono::milliseconds SensorRuntime::Step(Clock::time_point now) {
  notifier_->Clear();
  auto next = now + std::chrono::seconds(1);
  for (auto& [name, check] : checks_) {
    if (check.running) {
      bool done;
      ProbeResult result;
      {
        std::lock_guard lock(check.running->mutex);
        done = check.running->done;
        if (done) result = check.running->result;
      }
      if (done) {
        check.running.reset();
        if (!check.abandoned) Finish(check, result, now);
      } else if (!check.abandoned && now >= check.deadline + kGrace) {
        check.abandoned = true;
        ProbeResult overdue;
        overdue.reason = check.definition.name + ": no result within " +
                         std::to_string(check.definition.timeout.count()) +
                         " ms (hung; abandoned)";
        overdue.latency = std::chrono::duration_cast<std::chrono::microseconds>(
            now - check.started);
        Finish(check, overdue, now);
      } else if (check.abandoned && now >= check.next_run) {
        // Still stuck at its next turn: another failure, no second thread.
        ProbeResult stuck;
        stuck.reason =
            check.definition.name + ": still hung after " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    now - check.started)
                    .count()) +
            " ms";
        stuck.latency = std::chrono::duration_cast<std::chrono::microseconds>(
            now - check.started);
        Finish(check, stuck, now);
      }
    }
    if (!check.running && now >= check.next_run) Start(check, now);
    if (check.running && !check.abandoned)
      next = std::min(next, check.deadline + kGrace);
    next = std::min(next, check.next_run);
  }
  // Until the next run or deadline; a finished run wakes the caller sooner
  // through notify_fd().
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  return std::clamp(wait, std::chrono::milliseconds(0),
                    std::chrono::milliseconds(1000));
}

void SensorRuntime::Finish(Check& check, const ProbeResult& result,
                           Clock::time_point now) {
  check.next_run =
      now + (result.ok ? check.definition.interval : check.definition.retry);
  auto changed = check.debouncer.Feed(result.ok);
  if (changed) check.since_us = WallMicros();
  Publish(check, result, changed.has_value(), now);
}

void SensorRuntime::Publish(Check& check, const ProbeResult& result,
                            bool changed, Clock::time_point now) {
  const auto& d = check.definition;
  Health health = check.debouncer.health();
  Severity severity = health == Health::kDown ? Severity::kError
                      : health == Health::kUp
                          ? (result.ok ? Severity::kInfo : Severity::kWarning)
                          : Severity::kNotice;
  // Up but failing (not yet `fall` failures): say so, as a warning.
  std::string message = result.reason;
  if (health == Health::kUp && !result.ok) {
    message = "failing (" + std::to_string(check.debouncer.failures()) +
              " of " + std::to_string(d.fall) + "): " + result.reason;
  }
  nlohmann::json data = {
      {"health", ToString(health)},
      {"ok", result.ok},
      {"latency_ms", static_cast<double>(result.latency.count()) / 1000.0},
      {"reason", result.reason},
      {"since_us", check.since_us},
      {"check", d.name},
      {"detail", result.data},
  };
  bool answer = !check.running_request.empty();
  if (answer) {
    data["request"] = check.running_request;
    check.running_request.clear();
  }
  if (changed) {
    publisher_.Publish(
        d.topic + (health == Health::kDown ? ".down" : ".up"),
        health == Health::kDown ? Severity::kError : Severity::kNotice,
        d.subject,
        d.subject + " " + std::string(ToString(health)) + ": " + result.reason,
        data);
  }
  if (answer || changed || message != check.last_message ||
      severity != check.last_severity ||
      now - check.last_published >= refresh_) {
    publisher_.SetState(d.topic, severity, d.subject, message, std::move(data));
    check.last_message = message;
    check.last_severity = severity;
    check.last_published = now;
  }
}

Health SensorRuntime::health(const std::string& name) const {
  auto it = checks_.find(name);
  return it == checks_.end() ? Health::kUnknown : it->second.debouncer.health();
}

std::size_t SensorRuntime::stuck() const {
  std::size_t n = 0;
  for (const auto& [name, check] : checks_)
    n += check.abandoned && check.running ? 1 : 0;
  return n;
}

}  // namespace ehabus::sensors
