#include "notifiers/notifier.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "bus/topics.h"
#include "common/files.h"
#include "common/subprocess.h"
#include "common/systemd.h"
#include "notifiers/spool.h"

namespace ehabus::notifiers {

MailChannel::MailChannel(MailSettings settings, Template tmpl,
                         std::string customer, std::string language)
    : settings_(std::move(settings)),
      template_(std::move(tmpl)),
      customer_(std::move(customer)),
      language_(std::move(language)) {}

SendResult MailChannel::Deliver(const std::string& id,
                                const nlohmann::json& incident) {
  MailText text = Render(template_, incident, customer_, language_);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  // One incident, one thread: the follow-up answers the first notice, and
  // X-Ehabus-Incident lets mail filters (and the lab) group them.
  std::string incident_id = incident.value("id", "");
  std::vector<std::pair<std::string, std::string>> extra = {
      {"X-Ehabus-Incident", incident_id}};
  if (id != incident_id + "-opened") {  // an update or the follow-up
    std::string first = "<ehabus-" + incident_id + "-opened@" + host + ">";
    extra.push_back({"In-Reply-To", first});
    extra.push_back({"References", first});
  }
  std::string message = BuildMessage(settings_.from, settings_.to, text,
                                     "ehabus-" + id + "@" + host, extra);
  return SendMail(settings_, message);
}

ExecChannel::ExecChannel(std::vector<std::string> command,
                         std::chrono::milliseconds timeout,
                         std::string scratch_dir)
    : command_(std::move(command)),
      timeout_(timeout),
      scratch_dir_(std::move(scratch_dir)) {}

SendResult ExecChannel::Deliver(const std::string& id,
                                const nlohmann::json& incident) {
  SendResult result;
  std::string input = scratch_dir_ + "/.exec-" + id + ".json";
  if (auto written =
          WriteFileAtomic(input, incident.dump() + "\n", {.mode = 0600});
      !written) {
    result.detail = written.error().message;
    return result;
  }
  RunOptions options;
  options.argv = command_;
  options.timeout = timeout_;
  options.input_file = input;
  // What the command may want without parsing JSON; values are data, never
  // code (no shell is involved).
  options.env = {"EHABUS_INCIDENT_ID=" + id,
                 "EHABUS_PHASE=" + incident.value("phase", ""),
                 "EHABUS_STATUS=" + incident.value("status", "")};
  auto run = Run(options);
  unlink(input.c_str());
  result.detail = command_[0] + ": " + run.Describe();
  if (!run.started()) {
    result.permanent = true;
    return result;
  }
  if (run.timed_out) return result;
  if (!run.first_line().empty())
    result.detail.append(" ").append(Quote(run.first_line()));
  result.ok = run.ok();
  result.permanent = !result.ok && run.exit_code() != 75;
  return result;
}

int RunNotifier(const std::string& name, const Config& config,
                std::unique_ptr<Channel> channel,
                const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  using namespace std::chrono_literals;
  std::string section = "notify." + name;
  IncidentSettings settings;
  settings.group_wait = config.Duration(section, "group_wait");
  settings.stack_resource = config.String("stack", "resource");
  settings.resolve_quiet = config.Duration(section, "resolve_quiet");
  settings.repeat_window = config.Duration(section, "repeat_window");
  settings.min_severity = ParseSeverity(config.String(section, "min_severity"))
                              .value_or(Severity::kWarning);
  settings.topics = config.List(section, "topics");
  if (settings.topics.empty()) settings.topics = {""};
  auto retry = config.Duration(section, "retry");
  auto retry_max = config.Duration(section, "retry_max");
  Spool spool(config.String(section, "spool_dir"));
  if (auto ok = spool.Init(); !ok) {
    spdlog::critical("spool: {}", ok.error().message);
    return 1;
  }
  std::string node = NodeName(config);
  IncidentTracker tracker(settings, node);
  // Hidden: the spool's listing skips dot files.
  std::string state_path = spool.dir() + "/.incident-state.json";
  {
    std::ifstream in(state_path);
    if (in)
      tracker.Load(nlohmann::json::parse(in, nullptr, false), Clock::now());
  }

  zmq::context_t context(1);
  auto endpoints = EndpointsFrom(config);
  Publisher publisher(context, {endpoints.pub, node, "notify-" + name, 10000});
  SubscriberOptions options;
  options.sub_endpoint = endpoints.sub;
  options.snapshot_endpoint = endpoints.snapshot;
  options.prefixes = {""};
  Subscriber subscriber(context, options);
  publisher.WaitAttached(2s);
  NotifyReady("notifier " + name);
  Watchdog watchdog;
  std::string topic = topics::Notify(name);
  bool dirty = false;
  auto save = [&] {
    if (auto written = WriteFileAtomic(state_path, tracker.Save().dump() + "\n",
                                       {.mode = 0600, .sync = true});
        !written)
      spdlog::warn("cannot keep the incidents: {}", written.error().message);
    dirty = false;
  };
  auto next_save = Clock::now();
  auto next_spool = Clock::now();
  while (!stop.load()) {
    publisher.Poll();
    watchdog.Tick();
    try {
      // Take what is there, up to a batch, before sending anything.
      for (int i = 0; i < 10000; ++i) {
        auto d = subscriber.Receive(i == 0 ? 100ms : 0ms);
        if (!d) break;
        if (d->event.topic.starts_with(topics::kNotify)) continue;  // ours
        tracker.OnEvent(d->event, Clock::now());
        dirty = true;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    for (auto& notice : tracker.Due(Clock::now())) {
      SpoolEntry entry{notice.id, notice.incident, 0, 0, "", WallMicros()};
      if (auto ok = spool.Put(entry); !ok) {
        publisher.Publish(
            topic + ".spool-error", Severity::kCritical, name,
            "cannot spool notice " + notice.id + ": " + ok.error().message);
      }
      next_spool = Clock::now();
      dirty = true;
    }
    if (dirty && Clock::now() >= next_save) {
      save();
      next_save = Clock::now() + 1s;
    }
    if (Clock::now() < next_spool) continue;
    next_spool = Clock::now() + 1s;
    std::vector<std::string> errors;
    for (auto& entry : spool.List(&errors)) {
      if (stop.load()) break;
      if (entry.next_attempt_us > WallMicros()) continue;
      auto result = channel->Deliver(entry.id, entry.notice);
      ++entry.attempts;
      nlohmann::json data = {
          {"notice", entry.id},
          {"attempts", entry.attempts},
          {"detail", result.detail},
          {"phase", entry.notice.value("phase", "")},
          {"queued_ms",
           static_cast<double>(WallMicros() - entry.spooled_us) / 1000.0}};
      if (result.ok) {
        spool.Remove(entry.id);
        publisher.Publish(
            topic + ".sent", Severity::kInfo, name,
            name + " notice " + entry.id + " delivered: " + result.detail,
            data);
      } else if (result.permanent) {
        spool.Fail(entry.id);
        publisher.Publish(topic + ".failed", Severity::kError, name,
                          name + " notice " + entry.id +
                              " refused: " + result.detail + " (kept in " +
                              spool.dir() + "/failed)",
                          data);
      } else {
        auto wait = retry;
        for (int i = 1; i < entry.attempts && wait < retry_max; ++i) wait *= 2;
        wait = std::min(wait, retry_max);
        entry.next_attempt_us =
            WallMicros() +
            std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
        entry.last_error = result.detail;
        spool.Put(entry);
        data["retry_in_ms"] = wait.count();
        publisher.Publish(topic + ".retry", Severity::kWarning, name,
                          name + " notice " + entry.id + " not delivered: " +
                              result.detail + "; spooled, next try in " +
                              std::to_string(wait.count() / 1000) + " s",
                          data);
      }
    }
    for (const auto& e : errors)
      publisher.Publish(topic + ".spool-error", Severity::kError, name, e);
  }
  save();
  NotifyStopping();
  return 0;
}

}  // namespace ehabus::notifiers
