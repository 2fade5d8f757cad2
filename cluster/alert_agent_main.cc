// ehabus-pacemaker-alert: Pacemaker's alert agent (the <alert> of the
// rendered configuration). Pacemaker runs it once per cluster event with the
// event in CRM_alert_* variables; it publishes the event on the node's bus,
// so `ehabus tail` and the notifiers see cluster events beside ehabus's own
// (topics and sanitising: cluster/alert_agent.h). It never blocks
// Pacemaker: no broker within 2 s, and the event is dropped (said on
// stderr, which Pacemaker logs), exit 0 either way except for bad input.
#include <cstdio>
#include <string>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "cluster/alert_agent.h"
#include "common/daemon.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::string config_path;
  if (argc == 3 && std::string(argv[1]) == "--config") {
    config_path = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr,
                 "usage: ehabus-pacemaker-alert [--config FILE] (run by "
                 "Pacemaker, event in CRM_alert_*)\n");
    return 2;
  }
  auto alert = ehabus::cluster::AlertFromEnvironment();
  if (!alert) {
    std::fprintf(stderr, "ehabus-pacemaker-alert: %s\n",
                 alert.error().message.c_str());
    return 1;
  }
  auto config = ehabus::LoadConfigOrReport(config_path);
  if (!config) return ehabus::kExitConfig;
  try {
    zmq::context_t context(1);
    ehabus::Publisher publisher(
        context, {ehabus::cluster::AlertEndpoint(*config),
                  ehabus::NodeName(*config), "pacemaker-alert", 100});
    if (!publisher.WaitAttached(2s)) {
      std::fprintf(stderr,
                   "ehabus-pacemaker-alert: no broker; dropped %s: %s\n",
                   alert->topic.c_str(), alert->message.c_str());
      return 0;
    }
    publisher.Publish(alert->topic, alert->severity, alert->subject,
                      alert->message, alert->data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehabus-pacemaker-alert: %s\n", e.what());
    return 1;
  }
  return 0;
}
