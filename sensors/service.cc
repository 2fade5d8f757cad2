#include "sensors/service.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "bus/event.h"
#include "bus/topics.h"
#include "common/subprocess.h"
#include "sensors/mysql_probe.h"

namespace ehabus::sensors {

ProbeResult ProbeCommand(const std::vector<std::string>& argv,
                         Deadline deadline) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult r;
  std::string shown;
  for (const auto& word : argv) shown += (shown.empty() ? "" : " ") + word;
  auto left = std::chrono::round<std::chrono::milliseconds>(deadline - start);
  auto run = Run({.argv = argv,
                  .timeout = std::max(left, std::chrono::milliseconds(0)),
                  .grace = std::chrono::milliseconds(0)});
  if (!run.started()) return Finish(r, start, false, run.spawn_error);
  if (run.timed_out) {
    return Finish(r, start, false,
                  "`" + shown + "` did not finish within " +
                      std::to_string(left.count()) + " ms (killed)");
  }
  if (run.ok()) return Finish(r, start, true, "`" + shown + "` exit 0");
  std::string reason = "`" + shown + "` " + run.Describe();
  if (!run.first_line().empty()) reason += ": " + Quote(run.first_line());
  return Finish(r, start, false, reason);
}

CheckDefinition MakeServiceCheck(const ServiceSpec& service,
                                 const ServiceCheckSettings& settings) {
  CheckDefinition check;
  check.name = service.name;
  check.topic = topics::Service(service.name);
  check.subject = service.name;
  check.interval = settings.interval;
  check.retry = settings.retry;
  check.timeout = settings.timeout;
  check.fall = settings.fall;
  check.rise = settings.rise;
  ProbeOptions probe;
  probe.host = settings.host;
  probe.port = service.port;
  probe.helo = settings.helo;
  probe.http_path = service.path;
  probe.http_expect = service.expect;
  probe.starttls = service.starttls;
  if (auto protocol = ParseProtocol(service.check)) {
    probe.protocol = *protocol;
    if (*protocol == Protocol::kImap || *protocol == Protocol::kPop3)
      probe.canary = settings.canary;
  }
  MysqlOptions mysql;
  mysql.host = settings.host;
  mysql.port = service.port;
  mysql.user = settings.mysql.user;
  mysql.password = settings.mysql.password;
  mysql.heartbeat_table = service.heartbeat_table;
  mysql.node = settings.helo;
  auto checked = [service, probe, mysql](Deadline deadline) {
    // A dead process says more than a refused connection: ask it first.
    if (!service.pidfile.empty()) {
      auto process = ProbeProcess(service.pidfile, service.process);
      if (!process.ok || service.check == "process") return process;
    }
    if (service.check == "command")
      return ProbeCommand(service.command, deadline);
    if (service.check == "mysql") return ProbeMysql(mysql, deadline);
    return Probe(probe, deadline);
  };
  check.run = [checked, marker = settings.active_marker](Deadline deadline) {
    auto result = checked(deadline);
    // Asked after the check: a stack that started meanwhile is active.
    if (result.ok || marker.empty() || access(marker.c_str(), F_OK) == 0)
      return result;
    result.ok = true;
    result.data["standby"] = true;
    result.reason =
        "standby (the stack runs on another node): " + result.reason;
    return result;
  };
  return check;
}

}  // namespace ehabus::sensors
