// ehabus-bench-notify: how soon a notice reaches the relay, and how many
// messages an event storm makes. A real Postfix on loopback is the relay
// (it accepts and discards); ehabus-notify-mail runs on a real broker.
//  - latency: from the notice being due (its incident's group wait over) to
//    the relay's 250 after DATA, as the notifier reports it (queued_ms of
//    notify.mail.sent), for 20 incidents;
//  - storm: 10,000 events of one incident -> messages sent.
// Numbers, not assertions.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "tests/testing/daemons.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace et = ehabus::testing;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(
      v.size() - 1,
      static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

int main() {
  et::Postfix relay(
      "virtual_mailbox_domains = test\nvirtual_transport = "
      "discard:\n");
  if (!relay.Start()) {
    std::fprintf(stderr, "bench: postfix did not start\n%s\n",
                 relay.Log().c_str());
    return 1;
  }
  et::BusFixture bus;
  std::ofstream(bus.config_path(), std::ios::app)
      << "[log]\nlevel = warn\n[notify.mail]\nrelay = 127.0.0.1:"
      << relay.smtp_port()
      << "\nstarttls = no\nto = ops@test\ntemplate_dir = " EHABUS_SOURCE_DIR
         "/etc/notify\nspool_dir = "
      << bus.dir()
      << "/spool\ngroup_wait = 1s\nresolve_quiet = 1s\nrepeat_window = 0s\n";
  bus.StartBroker();
  ehabus::SpawnOptions o;
  o.argv = {EHABUS_NOTIFY_MAIL, "--config", bus.config_path()};
  auto notifier = ehabus::Subprocess::Spawn(o);
  if (!notifier) return 1;
  ehabus::SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"notify."};
  ehabus::Subscriber sub(bus.context(), options);
  et::WaitUntil([&] { return bus.Status()->value("subscriptions", 0) >= 2; },
                10s);
  ehabus::Publisher publisher(bus.context(),
                              {bus.pub(), "benchnode", "bench", 20000});
  publisher.WaitAttached(5s);
  auto sent_within = [&](int n, std::chrono::milliseconds timeout) {
    std::vector<double> queued;
    auto until = Clock::now() + timeout;
    while (static_cast<int>(queued.size()) < n && Clock::now() < until) {
      auto d = sub.Receive(50ms);
      if (d && d->event.topic == "notify.mail.sent")
        queued.push_back(d->event.data.value("queued_ms", -1.0));
    }
    return queued;
  };
  std::vector<double> latency;
  for (int i = 0; i < 20; ++i) {
    std::string service = "svc" + std::to_string(i);
    publisher.Publish("service." + service + ".down", ehabus::Severity::kError,
                      service, service + " down");
    publisher.Publish("service." + service + ".up", ehabus::Severity::kNotice,
                      service, service + " up");
    auto q = sent_within(1, 20s);
    latency.insert(latency.end(), q.begin(), q.end());
  }
  std::printf(
      "ehabus-bench-notify: notice due -> relay accepted (250 after DATA), "
      "group wait excluded, %zu incidents:\n  median %.1f ms, p90 %.1f ms, "
      "max %.1f ms\n",
      latency.size(), Percentile(latency, 0.5), Percentile(latency, 0.9),
      latency.empty() ? 0.0
                      : *std::max_element(latency.begin(), latency.end()));
  // The storm: 10,000 events of one incident.
  publisher.Publish("service.storm.down", ehabus::Severity::kError, "storm",
                    "storm down");
  for (int i = 0; i < 9998; ++i)
    publisher.Publish("healing.storm.step", ehabus::Severity::kError, "storm",
                      "start storm: FAILED");
  auto first = sent_within(1, 30s);
  publisher.Publish("service.storm.up", ehabus::Severity::kNotice, "storm",
                    "storm up");
  auto rest = sent_within(5, 15s);
  std::printf(
      "event storm of 10,000 events in one incident: %zu messages "
      "(target: 2, one and its follow-up)\n",
      first.size() + rest.size());
  notifier->Stop(5s);
  return 0;
}
