#include "healers/control.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bus/event.h"
#include "common/subprocess.h"

namespace ehabus::healers {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                               start);
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

bool Alive(pid_t pid) {
  // A zombie is not alive: /proc/PID/stat state Z.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() &&
         text[close + 2] != 'Z';
}

bool WaitGone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Alive(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void AppendDetail(std::string& detail, const std::string& more) {
  if (!detail.empty()) detail.append("; ");
  detail.append(more);
}

// The pid a pid file names, alive or not.
std::optional<pid_t> RecordedPid(const ServiceSpec& service) {
  if (service.pidfile.empty()) return std::nullopt;
  std::ifstream in(service.pidfile);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// Kills what is left of the session or process group LEADER started (a
// daemon's workers, still holding its ports after the master died). Only
// while LEADER itself is gone, so a reused pid never names a stranger.
int KillLeftovers(pid_t leader) {
  if (leader <= 1 || Alive(leader)) return 0;
  int killed = 0;
  std::vector<pid_t> victims;
  pid_t self = getpid();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])))
      continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == self) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    std::getline(stat, text);
    auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    long ppid = 0, pgrp = 0, session = 0;
    if (!(fields >> state >> ppid >> pgrp >> session) || state == "Z") continue;
    if (pgrp == leader || session == leader) {
      if (::kill(pid, SIGKILL) == 0) {
        ++killed;
        victims.push_back(pid);
      }
    }
  }
  // Gone before anything starts again (they hold the ports).
  for (pid_t pid : victims) WaitGone(pid, std::chrono::milliseconds(5000));
  return killed;
}

}  // namespace

StepOutcome RunCommand(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  StepOutcome out;
  if (argv.empty()) {
    out.detail = "no command";
    return out;
  }
  auto run = Run({.argv = argv, .timeout = timeout});
  out.ok = run.ok();
  out.detail = Join(argv) + ": " + run.Describe();
  if (run.finished() && !run.first_line().empty())
    out.detail.append(" ").append(Quote(run.first_line()));
  out.took = Since(start);
  return out;
}

std::optional<pid_t> ServicePid(const ServiceSpec& service) {
  if (service.pidfile.empty()) return std::nullopt;
  std::ifstream in(service.pidfile);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return std::nullopt;
  auto p = static_cast<pid_t>(pid);
  if (!Alive(p)) return std::nullopt;
  if (!service.process.empty()) {
    std::ifstream comm("/proc/" + std::to_string(p) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name != service.process) return std::nullopt;
  }
  return p;
}

StepOutcome StopService(const Profile& profile, const ServiceSpec& service,
                        std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  auto pid = ServicePid(service);
  auto command = ControlCommand(profile, service, false);
  StepOutcome out;
  if (!command.empty()) {
    out = RunCommand(command, timeout);
  } else if (!pid) {
    out.ok = true;
    out.detail = "no stop command and no live process";
  }
  // The command is not the proof: the process must be gone.
  if (pid) {
    auto left = timeout - Since(start);
    if (left < std::chrono::milliseconds(1000))
      left = std::chrono::milliseconds(1000);
    if (out.ok && WaitGone(*pid, left)) {
      KillLeftovers(*pid);  // workers that outlive their master
      out.took = Since(start);
      return out;
    }
    // Escalate: the stop did not stop it.
    ::kill(*pid, SIGKILL);
    bool gone = WaitGone(*pid, std::chrono::milliseconds(5000));
    AppendDetail(out.detail,
                 "process " + std::to_string(*pid) +
                     (gone ? " killed (SIGKILL)" : " survived SIGKILL"));
    out.ok = gone;
    if (gone) KillLeftovers(*pid);
  } else if (auto recorded = RecordedPid(service)) {
    // Its main process died (that is why we heal): end what it left.
    if (int n = KillLeftovers(*recorded); n > 0) {
      AppendDetail(out.detail, "killed " + std::to_string(n) +
                                   " leftover process" + (n == 1 ? "" : "es") +
                                   " of dead pid " + std::to_string(*recorded));
    }
    // Nothing of it runs: stopped, whatever the command said. A pid file
    // naming a dead process (perhaps a zombie nobody reaped yet) would make
    // some daemons refuse to start ("already running"): remove it, as
    // start-stop-daemon --remove-pidfile does.
    if (!Alive(*recorded) && unlink(service.pidfile.c_str()) == 0)
      AppendDetail(out.detail, "removed stale pid file " + service.pidfile);
    out.ok = true;
  } else if (!out.ok && !service.unit.empty()) {
    auto killed = RunCommand(
        {"systemctl", "kill", "--signal=SIGKILL", service.unit}, timeout);
    out.detail += "; " + killed.detail;
    out.ok = killed.ok;
  }
  out.took = Since(start);
  return out;
}

StepOutcome StartService(const Profile& profile, const ServiceSpec& service,
                         std::chrono::milliseconds timeout) {
  auto command = ControlCommand(profile, service, true);
  if (command.empty()) {
    StepOutcome out;
    out.detail = "no way to start " + service.name +
                 " (no start command, unit or profile start)";
    return out;
  }
  return RunCommand(command, timeout);
}

}  // namespace ehabus::healers
