// ehabus-sensor-service: watches the mail services of the profile that the
// watch list names, and publishes their health on the bus.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "bus/topics.h"
#include "common/daemon.h"
#include "common/files.h"
#include "common/log.h"
#include "common/systemd.h"
#include "sensors/daemon.h"
#include "sensors/runtime.h"
#include "sensors/service.h"

namespace {

using namespace std::chrono_literals;
using ehabus::sensors::Profile;

std::string JoinErrors(const std::vector<ehabus::ConfigError>& errors) {
  std::string text;
  for (const auto& e : errors)
    text += (text.empty() ? "" : "; ") + e.ToString();
  return text;
}

// The canary file: [canary] user, password (IMAP/POP3 account) and [mysql]
// user, password (MariaDB account). Readable only by ehabus.
struct Canary {
  std::optional<ehabus::sensors::Credentials> mail;
  std::optional<ehabus::sensors::Credentials> mysql;
};

Canary LoadCanary(const std::string& path) {
  Canary canary;
  if (access(path.c_str(), F_OK) != 0) return canary;
  static const ehabus::Schema schema = {
      {"canary",
       "",
       {{"user", ehabus::ValueType::kString, "", ""},
        {"password", ehabus::ValueType::kString, "", ""}}},
      {"mysql",
       "",
       {{"user", ehabus::ValueType::kString, "", ""},
        {"password", ehabus::ValueType::kString, "", ""}}}};
  auto config = ehabus::Config::LoadFile(path, schema);
  if (!config) {
    spdlog::error("canary credentials not used: {}",
                  JoinErrors(config.error()));
    return canary;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    spdlog::warn("{} is readable by others (mode {:o}); it holds passwords",
                 path, st.st_mode & 0777);
  }
  if (config->HasSection("canary")) {
    canary.mail = ehabus::sensors::Credentials{
        config->String("canary", "user"), config->String("canary", "password")};
  }
  if (config->HasSection("mysql")) {
    canary.mysql = ehabus::sensors::Credentials{
        config->String("mysql", "user"), config->String("mysql", "password")};
  }
  return canary;
}

// What identifies a version of the watch file: an edit changes one of these.
struct FileStamp {
  std::int64_t mtime_ns = -1, size = -1, inode = -1;
  bool operator==(const FileStamp&) const = default;
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
              st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_ino)};
}

}  // namespace

// --only NAME (repeatable) with --probe: check just these services.
std::vector<std::string> TakeOnly(int& argc, char** argv) {
  std::vector<std::string> only;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--only" && i + 1 < argc) {
      only.emplace_back(argv[++i]);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return only;
}

static int Main(int argc, char** argv) {
  ehabus::InitLogging("sensor-service");
  bool probe = ehabus::sensors::TakeProbeFlag(argc, argv);
  auto only = TakeOnly(argc, argv);
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv,
      "usage: ehabus-sensor-service [--config FILE] [--probe [--only "
      "SERVICE]...]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("sensor-service", *config);

  std::string profile_path = ehabus::ProfilePathFrom(*config);
  auto profile = ehabus::sensors::LoadProfile(profile_path);
  if (!profile) {
    for (const auto& e : profile.error())
      std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return ehabus::kExitConfig;
  }
  ehabus::sensors::ServiceCheckSettings settings;
  settings.host = config->String("sensor.service", "host");
  settings.helo = ehabus::NodeName(*config);
  settings.interval = config->Duration("sensor.service", "interval");
  settings.retry = config->Duration("sensor.service", "retry");
  settings.timeout = config->Duration("sensor.service", "timeout");
  settings.fall = static_cast<int>(config->Int("sensor.service", "fall"));
  settings.rise = static_cast<int>(config->Int("sensor.service", "rise"));
  auto canary =
      LoadCanary(config->String("sensor.service", "canary_credentials"));
  settings.canary = canary.mail;
  if (canary.mysql) settings.mysql = *canary.mysql;

  if (probe) {
    // A probe tells whether the service serves, here and now (the stack
    // agent waits on it while it starts the stack): no standby rule.
    // Each named service (else each watched one) checked once, now.
    std::vector<ehabus::sensors::CheckDefinition> checks;
    std::map<std::string, bool> list;
    if (only.empty()) {
      auto loaded = ehabus::sensors::LoadWatchList(
          config->String("sensor.service", "watch_file"), *profile);
      if (loaded) list = *loaded;
    }
    for (const auto& name : only) {
      if (!profile->Find(name)) {
        std::fprintf(stderr, "ehabus-sensor-service: no service \"%s\" in %s\n",
                     name.c_str(), profile_path.c_str());
        return 2;
      }
    }
    for (const auto& service : profile->services) {
      bool want =
          only.empty()
              ? (list.empty() ||
                 (list.contains(service.name) && list[service.name]))
              : std::find(only.begin(), only.end(), service.name) != only.end();
      if (want) {
        checks.push_back(ehabus::sensors::MakeServiceCheck(service, settings));
      }
    }
    return ehabus::sensors::ProbeOnce(checks);
  }

  settings.active_marker = ehabus::ActiveMarkerFrom(*config);
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  ehabus::Publisher publisher(
      context, {ehabus::EndpointsFrom(*config).pub, ehabus::NodeName(*config),
                "sensor-service", 10000});
  ehabus::sensors::SensorRuntime runtime(
      publisher, config->Duration("sensor.service", "refresh"));

  std::string watch_path = config->String("sensor.service", "watch_file");
  bool wrote_watch = false;
  if (access(watch_path.c_str(), F_OK) != 0) {
    if (auto written = ehabus::WriteFileAtomic(
            watch_path, ehabus::sensors::RenderWatchList(*profile),
            {.mode = 0644, .sync = true});
        !written) {
      spdlog::error("cannot write the first watch list: {}",
                    written.error().message);
    } else {
      wrote_watch = true;
      spdlog::info("wrote the first watch list {} from profile {}", watch_path,
                   profile->name);
    }
  }

  std::map<std::string, bool> watched;
  FileStamp stamp;
  auto apply_watch = [&](bool first) {
    auto list = ehabus::sensors::LoadWatchList(watch_path, *profile);
    if (!list) {
      // Keep watching what we watched: a typo must not stop the watching.
      std::string text = JoinErrors(list.error());
      spdlog::error("watch list not applied: {}", text);
      publisher.Publish(
          ehabus::topics::SensorWatch("service"), ehabus::Severity::kError,
          "watch", "watch list not applied, still watching as before: " + text);
      return;
    }
    std::vector<std::string> started, stopped;
    for (const auto& service : profile->services) {
      auto it = list->find(service.name);
      bool want = it != list->end() && it->second;
      bool have = runtime.Has(service.name);
      if (want && !have) {
        runtime.Add(ehabus::sensors::MakeServiceCheck(service, settings));
        started.push_back(service.name);
      } else if (!want && have) {
        runtime.Remove(service.name);
        stopped.push_back(service.name);
      }
    }
    watched = *list;
    auto join = [](const std::vector<std::string>& names) {
      std::string out;
      for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
      return out.empty() ? std::string("none") : out;
    };
    if (first || !started.empty() || !stopped.empty()) {
      std::string message =
          first
              ? "watching " + join(started) + " (profile " + profile->name + ")"
              : "watch list changed: now watching " + join(started) +
                    "; no longer watching " + join(stopped);
      spdlog::info("{}", message);
      publisher.Publish(ehabus::topics::SensorWatch("service"),
                        ehabus::Severity::kNotice, "watch", message,
                        {{"file", watch_path},
                         {"started", started},
                         {"stopped", stopped},
                         {"written", first && wrote_watch}});
    }
  };

  publisher.WaitAttached(2s);  // the first events should reach the bus
  stamp = Stamp(watch_path);
  apply_watch(true);
  ehabus::NotifyReady("watching " + std::to_string(watched.size()) +
                      " services");
  auto next_watch_look = std::chrono::steady_clock::now();
  ehabus::sensors::LoopHooks hooks;
  hooks.tick = [&] {
    auto now = std::chrono::steady_clock::now();
    if (now < next_watch_look) return;
    // An edit takes effect within a second: look twice a second.
    next_watch_look = now + 500ms;
    if (auto current = Stamp(watch_path); !(current == stamp)) {
      stamp = current;
      apply_watch(false);
    }
  };
  // Healers ask for a fresh check of a service they started.
  ehabus::SubscriberOptions recheck_options;
  recheck_options.sub_endpoint = ehabus::EndpointsFrom(*config).sub;
  recheck_options.prefixes = {ehabus::topics::kSensorRecheck};
  ehabus::Subscriber rechecks(context, recheck_options);
  hooks.socket = &rechecks.socket();
  hooks.on_socket = [&] {
    while (auto d = rechecks.Receive(std::chrono::milliseconds(0))) {
      const auto& e = d->event;
      if (e.topic != ehabus::topics::kSensorRecheck ||
          !e.data.contains("request") || !e.data["request"].is_string())
        continue;
      if (!runtime.RunNow(e.subject, e.data["request"].get<std::string>()))
        spdlog::debug("recheck of {}: not watched here", e.subject);
    }
  };
  ehabus::sensors::RunSensorLoop(publisher, runtime, stop, hooks);
  ehabus::NotifyStopping();
  return 0;
}

int main(int argc, char** argv) {
  return ehabus::sensors::GuardedMain("sensor-service",
                                      [&] { return Main(argc, argv); });
}
