#include "cluster/mailstack_agent.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/files.h"
#include "common/profile.h"
#include "common/subprocess.h"
#include "healers/control.h"
#include "healers/state_files.h"

namespace ehabus::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ehabus::Profile;

enum Ocf {
  kSuccess = 0,
  kErrGeneric = 1,
  kErrArgs = 2,
  kErrUnimplemented = 3,
  kErrInstalled = 5,
  kErrConfigured = 6,
  kNotRunning = 7,
};

constexpr const char* kMetaData = R"(<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="mailstack" version="1.0">
<version>1.1</version>
<longdesc lang="en">
The mail stack of an ehabus profile (for example postfix, dovecot, mariadb
and memcached) as one resource. Start brings the services up in dependency
order and returns once each passes ehabus's service check; stop brings them
down in reverse order, killing what does not stop in time; monitor reports
the stack's health as ehabus's healers see it: a failed service is healed in
place by ehabus-healer-restart, and the resource fails only when that
healer's restart budget is spent (or no healer runs).
</longdesc>
<shortdesc lang="en">Mail stack healed by ehabus</shortdesc>
<parameters>
<parameter name="config" unique="0" required="0">
<longdesc lang="en">ehabus configuration file (with its conf.d).</longdesc>
<shortdesc lang="en">ehabus.ini</shortdesc>
<content type="string" default="/etc/ehabus/ehabus.ini"/>
</parameter>
<parameter name="sensor" unique="0" required="0">
<longdesc lang="en">The service sensor used to check a service.</longdesc>
<shortdesc lang="en">Service sensor</shortdesc>
<content type="string" default="ehabus-sensor-service"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="120s"/>
<action name="stop" timeout="120s"/>
<action name="monitor" timeout="30s" interval="10s" depth="0"/>
<action name="validate-all" timeout="20s"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
)";

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void Log(const char* level, const std::string& text) {
  std::fprintf(stderr, "mailstack %s: %s\n", level, text.c_str());
}

std::chrono::milliseconds OpTimeout(std::chrono::milliseconds fallback) {
  std::string v = Env("OCF_RESKEY_CRM_meta_timeout", "");
  try {
    if (!v.empty()) return std::chrono::milliseconds(std::stoll(v));
  } catch (const std::exception&) {
  }
  return fallback;
}

struct Agent {
  std::string config_path;
  ehabus::Config config = ehabus::Config::Defaults();
  Profile profile;
  std::string sensor;
  std::string marker;
  std::string escalated_file;
  std::string healer_lock;
  std::string watch_file;

  // Loads the configuration and profile; an OCF code on failure.
  int Load() {
    config_path = Env("OCF_RESKEY_config", EHABUS_DEFAULT_CONFIG);
    auto loaded = ehabus::Config::Load(config_path);
    if (!loaded) {
      for (const auto& e : loaded.error()) Log("ERROR", e.ToString());
      return access(config_path.c_str(), F_OK) == 0 ? kErrConfigured
                                                    : kErrInstalled;
    }
    config = std::move(*loaded);
    std::string profile_path = ehabus::ProfilePathFrom(config);
    auto p = ehabus::LoadProfile(profile_path);
    if (!p) {
      for (const auto& e : p.error()) Log("ERROR", e.ToString());
      return kErrConfigured;
    }
    profile = std::move(*p);
    std::string default_sensor =
        std::string(EHABUS_BINDIR) + "/ehabus-sensor-service";
    sensor = Env("OCF_RESKEY_sensor", default_sensor);
    if (sensor == "ehabus-sensor-service") sensor = default_sensor;
    if (access(sensor.c_str(), X_OK) != 0) {
      Log("ERROR", sensor + " is not installed");
      return kErrInstalled;
    }
    marker = ehabus::ActiveMarkerFrom(config);
    if (marker.empty()) marker = "/run/ehabus/stack-active";
    escalated_file = ehabus::EscalatedFileFrom(config);
    healer_lock = ehabus::healers::HealerLock::PathFrom(config);
    watch_file = config.String("sensor.service", "watch_file");
    return kSuccess;
  }

  // One check of SERVICE by the service sensor.
  bool Serves(const std::string& service, std::string* reason) {
    auto run = ehabus::Run(
        {.argv = {sensor, "--config", config_path, "--only", service,
                  "--probe"},
         .timeout = config.Duration("sensor.service", "timeout") + 2s,
         .capture_limit = 64 * 1024});
    if (!run.started()) {
      *reason = run.spawn_error;
      return false;
    }
    if (run.timed_out) {
      *reason = "the check did not finish";
      return false;
    }
    *reason = run.output;
    while (!reason->empty() && reason->back() == '\n') reason->pop_back();
    return run.ok();
  }

  std::map<std::string, std::int64_t> Maintenance() {
    auto m = ehabus::LoadMaintenance(watch_file);
    return m ? *m : std::map<std::string, std::int64_t>{};
  }

  int Start() {
    auto deadline = Clock::now() + OpTimeout(120s) - 2s;
    auto maintenance = Maintenance();
    for (const auto& name : profile.StartOrder()) {
      const auto* spec = profile.Find(name);
      std::string reason;
      if (Serves(name, &reason)) continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left <= 0ms) {
        Log("ERROR", "start: no time left for " + name);
        return kErrGeneric;
      }
      auto outcome = ehabus::healers::StartService(profile, *spec, left);
      if (!outcome.ok) {
        Log("ERROR", "start " + name + ": " + outcome.detail);
        return kErrGeneric;
      }
      if (maintenance.contains(name) || spec->check == "none") continue;
      // Serving, per the sensor, before the next one starts.
      while (!Serves(name, &reason)) {
        if (Clock::now() + 250ms >= deadline) {
          Log("ERROR",
              "start: " + name + " started but does not serve: " + reason);
          return kErrGeneric;
        }
        std::this_thread::sleep_for(250ms);
      }
      Log("INFO", name + " serves");
    }
    // A new start: a budget spent before is history.
    (void)ehabus::healers::EscalatedBudgets(escalated_file).Write({});
    std::error_code ec;
    std::filesystem::create_directories(
        std::filesystem::path(marker).parent_path(), ec);
    if (auto written =
            ehabus::WriteFileAtomic(marker, std::to_string(getpid()) + "\n");
        !written) {
      Log("ERROR",
          "cannot write the active marker: " + written.error().message);
      return kErrGeneric;
    }
    Log("INFO", "stack " + profile.name + " started");
    return kSuccess;
  }

  int Stop() {
    // First: the healers must not restart what is being stopped.
    unlink(marker.c_str());
    auto deadline = Clock::now() + OpTimeout(120s) - 2s;
    auto order = profile.StartOrder();
    std::string survivors;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const auto* spec = profile.Find(*it);
      auto remaining = std::distance(it, order.rend());
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      auto share = std::max(left / std::max<long>(remaining, 1), 1000ms);
      auto outcome = ehabus::healers::StopService(profile, *spec, share);
      if (ehabus::healers::ServicePid(*spec)) {
        Log("ERROR", "stop " + *it + ": still running: " + outcome.detail);
        survivors += " " + *it;
      }
    }
    if (!survivors.empty()) {
      // Pacemaker fences the node for a failed stop: the storage is safe.
      Log("ERROR", "stop: still running:" + survivors);
      return kErrGeneric;
    }
    Log("INFO", "stack " + profile.name + " stopped");
    return kSuccess;
  }

  // Whether ehabus-healer-restart runs for this configuration: it holds
  // its lock (healers/state_files.h) from start to exit.
  bool HealerRuns() const {
    return ehabus::healers::HealerLock::Held(healer_lock);
  }

  int Monitor() {
    if (access(marker.c_str(), F_OK) != 0) {
      for (const auto& s : profile.services) {
        if (ehabus::healers::ServicePid(s)) {
          Log("ERROR",
              s.name + " runs here outside the cluster (no " + marker + ")");
          return kErrGeneric;
        }
      }
      return kNotRunning;
    }
    std::string spent;
    for (const auto& line :
         ehabus::healers::EscalatedBudgets(escalated_file).Read())
      spent += (spent.empty() ? "" : ", ") + line;
    if (!spent.empty()) {
      Log("ERROR", "restart budget spent for " + spent +
                       ": the healer hands the stack over");
      return kErrGeneric;
    }
    auto maintenance = Maintenance();
    if (maintenance.contains("node")) return kSuccess;
    std::string down;
    for (const auto& s : profile.services) {
      if (maintenance.contains(s.name) || s.check == "none") continue;
      std::string reason;
      if (!Serves(s.name, &reason)) down += " " + reason + ";";
    }
    if (down.empty()) return kSuccess;
    if (HealerRuns()) {
      Log("WARN", "being healed:" + down);
      return kSuccess;
    }
    Log("ERROR", "down and no healer running:" + down);
    return kErrGeneric;
  }
};

}  // namespace

int RunMailstackAgent(const std::string& action) {
  if (action == "meta-data") {
    std::fputs(kMetaData, stdout);
    return kSuccess;
  }
  if (action != "start" && action != "stop" && action != "monitor" &&
      action != "status" && action != "validate-all") {
    Log("ERROR", "action \"" + action + "\" is not implemented");
    return action.empty() ? kErrArgs : kErrUnimplemented;
  }
  Agent agent;
  int loaded = agent.Load();
  if (action == "validate-all") return loaded;
  if (loaded != kSuccess) {
    // A probe where the stack cannot run says so; a stop cannot know what
    // runs, and fails (Pacemaker then fences: the storage stays safe).
    if ((action == "monitor" || action == "status") &&
        access(agent.marker.empty() ? "/run/ehabus/stack-active"
                                    : agent.marker.c_str(),
               F_OK) != 0) {
      return kNotRunning;
    }
    return loaded;
  }
  try {
    if (action == "start") return agent.Start();
    if (action == "stop") return agent.Stop();
    return agent.Monitor();
  } catch (const std::exception& e) {
    Log("ERROR", action + ": " + e.what());
    return kErrGeneric;
  }
}

}  // namespace ehabus::cluster
