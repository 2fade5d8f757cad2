// ehabus maintenance and ehabus cleanup: taking services out of healing and
// forgetting spent restart budgets on this node.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "bus/topics.h"
#include "cli/command.h"
#include "common/profile.h"
#include "healers/state_files.h"

namespace ehabus::cli {
namespace {

using namespace std::chrono_literals;

std::string Until(std::int64_t until) {
  return until == 0 ? "until ended by hand"
                    : "until " + FormatTime(until * 1'000'000);
}

}  // namespace

std::string MaintenanceText(const ehabus::Config& config) {
  auto entries =
      ehabus::LoadMaintenance(config.String("sensor.service", "watch_file"));
  if (!entries) return "maintenance: watch list unreadable\n";
  std::string out;
  for (const auto& [target, until] : *entries)
    out += "maintenance: " + target + " " + Until(until) + "\n";
  return out;
}

int Maintenance(const Invocation& invocation, Args& args) {
  const Config& config = *invocation.config;
  std::string watch = config.String("sensor.service", "watch_file");
  if (args.done()) {
    std::string text = MaintenanceText(config);
    std::fputs(text.empty() ? "nothing in maintenance\n" : text.c_str(),
               stdout);
    return 0;
  }
  std::string target = args.take();
  if (args.done()) return Usage("maintenance: on or off?");
  std::string mode = args.take();
  if (mode != "on" && mode != "off")
    return Usage("maintenance: \"" + mode + "\": expected on or off");
  std::int64_t until = 0;
  while (!args.done()) {
    if (args.peek() != "--for" || mode != "on")
      return Usage("maintenance: unknown argument \"" + args.peek() + "\"");
    auto v = args.value();
    auto duration = v ? ehabus::ParseDuration(*v) : std::nullopt;
    if (!duration || duration->count() < 1000)
      return Usage("maintenance: --for needs a duration of at least 1s");
    until = (ehabus::WallMicros() / 1000 + duration->count() + 999) / 1000;
  }
  auto profile = ehabus::LoadProfile(ehabus::ProfilePathFrom(config));
  if (!profile) {
    for (const auto& e : profile.error())
      std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return 1;
  }
  auto done =
      ehabus::SetMaintenance(watch, *profile, target, mode == "on", until);
  if (!done) {
    std::fprintf(stderr, "ehabus: %s\n", done.error().message.c_str());
    return 1;
  }
  std::string message = mode == "on"
                            ? target + " in maintenance " + Until(until) +
                                  ": not healed, no failover for it"
                            : "maintenance of " + target + " ended by hand";
  std::printf("%s\n", message.c_str());
  // Tell the bus, best effort (the edit is what counts).
  try {
    zmq::context_t context(1);
    ehabus::Publisher publisher(
        context, {ehabus::EndpointsFrom(config).pub, ehabus::NodeName(config),
                  "cli", 100});
    if (publisher.WaitAttached(1s)) {
      publisher.Publish(mode == "on" ? topics::kMaintenanceStarted
                                     : topics::kMaintenanceEnded,
                        ehabus::Severity::kNotice, target, message,
                        {{"target", target}, {"until", until}});
    }
  } catch (const std::exception&) {
  }
  return 0;
}

// Forgets spent restart budgets on this node: the escalated file the stack
// agent reads (edited here, so it holds even with no healer running), and
// both healers told over the bus.
int Cleanup(const Invocation& invocation, Args& args) {
  const Config& config = *invocation.config;
  std::string target = "all";
  if (!args.done()) target = args.take();
  if (!args.done())
    return Usage("cleanup: unknown argument \"" + args.peek() + "\"");
  if (target != "all") {
    auto profile = ehabus::LoadProfile(ehabus::ProfilePathFrom(config));
    if (!profile) {
      for (const auto& e : profile.error())
        std::fprintf(stderr, "%s\n", e.ToString().c_str());
      return 1;
    }
    if (!profile->Find(target)) {
      std::fprintf(stderr, "ehabus: cleanup: no service \"%s\" in %s\n",
                   target.c_str(), profile->path.c_str());
      return 2;
    }
  }
  auto budgets = healers::EscalatedBudgets::From(config);
  auto forgotten = budgets.Forget(target);
  if (!forgotten) {
    std::fprintf(stderr, "ehabus: cleanup: %s\n",
                 forgotten.error().message.c_str());
    return 1;
  }
  std::string spent;
  for (const auto& s : *forgotten) spent += (spent.empty() ? "" : ", ") + s;
  std::string message = "restart budget of " + target + " forgotten by hand" +
                        (spent.empty() ? "" : " (spent: " + spent + ")");
  zmq::context_t context(1);
  ehabus::Publisher publisher(context, {ehabus::EndpointsFrom(config).pub,
                                        ehabus::NodeName(config), "cli", 100});
  if (!publisher.WaitAttached(2s)) {
    std::fprintf(stderr,
                 "ehabus: cleanup: no broker at %s: the healers were not "
                 "told (the escalated file %s)\n",
                 ehabus::EndpointsFrom(config).pub.c_str(),
                 forgotten->empty() ? "held nothing" : "is updated");
    return 1;
  }
  if (!publisher.Publish(topics::kCleanupBudget, ehabus::Severity::kNotice,
                         target, message,
                         {{"target", target}, {"spent", *forgotten}})) {
    std::fprintf(stderr, "ehabus: cleanup: the broker went away\n");
    return 1;
  }
  std::printf("%s\n", message.c_str());
  return 0;  // closing the socket flushes (linger 1 s)
}

}  // namespace ehabus::cli
