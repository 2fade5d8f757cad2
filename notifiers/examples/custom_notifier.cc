// An example custom notifier on the bus library: prints one line per
// service going down or up, and every failover decision. Build it beside
// ehabus (it is built with the project) and run it as any user: reading the
// bus needs no privilege (sub.sock is 0666).
//
//   ehabus-example-notifier [--config /etc/ehabus/ehabus.ini]
//
// Replace the printf with your channel (a chat API, an SMS gateway...).
#include <csignal>
#include <cstdio>

#include "bus/endpoints.h"
#include "bus/subscriber.h"
#include "common/daemon.h"

int main(int argc, char** argv) {
  auto path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-example-notifier [--config FILE]");
  if (!path) return 2;
  auto config = ehabus::LoadConfigOrReport(*path);
  if (!config) return ehabus::kExitConfig;
  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  auto endpoints = ehabus::EndpointsFrom(*config);
  ehabus::SubscriberOptions options;
  options.sub_endpoint = endpoints.sub;
  // The current state first (who is down right now), then the live stream.
  options.snapshot_endpoint = endpoints.snapshot;
  options.prefixes = {"service.", "failover."};
  ehabus::Subscriber subscriber(context, options);
  while (!stop.load()) {
    std::optional<ehabus::Delivery> d;
    try {
      d = subscriber.Receive(std::chrono::milliseconds(500));
    } catch (const zmq::error_t&) {
      continue;  // a signal
    }
    if (!d) continue;
    const ehabus::Event& e = d->event;
    if (d->missed_before > 0)
      std::printf("(missed %llu events before this one)\n",
                  static_cast<unsigned long long>(d->missed_before));
    bool transition = e.topic.ends_with(".down") || e.topic.ends_with(".up") ||
                      e.topic.starts_with("failover.");
    if (e.kind == ehabus::Kind::kEvent && transition) {
      std::printf("%s %s [%s] %s\n", e.node.c_str(), e.topic.c_str(),
                  std::string(ehabus::ToString(e.severity)).c_str(),
                  e.message.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
