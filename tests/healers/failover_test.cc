// ehabus-healer-failover end to end: the real storage sensor watching a
// FAKE network file system (freezefs, frozen on cue) and the real broker;
// the hand-off command is a FAKE attrd_updater (a script recording what it
// was asked: there is no Pacemaker cluster in this test; the lab has one).
// The heartbeat and escalation inputs are published with `ehabus publish`
// in the exact form their publishers use (both are tested on their own).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/nodes.h"

namespace ehabus::healers {
namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;
using Clock = std::chrono::steady_clock;

// The next event on TOPIC within TIMEOUT (every event received is added to
// SEEN when given); a failure with the healer's log otherwise.
std::optional<Event> WaitFor(Subscriber& sub, const std::string& topic,
                             std::chrono::milliseconds timeout,
                             const std::string& log,
                             std::vector<Event>* seen = nullptr) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (!d) continue;
    if (seen) seen->push_back(d->event);
    if (d->event.topic == topic) return d->event;
  }
  ADD_FAILURE() << "no " << topic << "; failover log:\n"
                << et::Run({"cat", log}).output;
  return std::nullopt;
}

TEST(FailoverHealerTest, StorageLostRedThenGreenHeartbeatAloneNothing) {
  if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "needs root and /dev/fuse";
  et::TempDir disks;
  et::FrozenMount net(disks);
  ASSERT_TRUE(net.ok());
  et::BusFixture bus;
  std::string record = bus.dir() + "/attrd.log";
  std::string fake = bus.dir() + "/fake-attrd.sh";
  std::ofstream(fake) << "#!/bin/sh\necho \"$2 $4\" >> " << record << "\n";
  std::string marker = bus.dir() + "/active";
  std::ofstream(marker) << "";
  std::ofstream(bus.config_path(), std::ios::app)
      << "[storage.archive]\ndevice = 198.18.0.10:/export\nmountpoint = "
      << net.mountpoint() << "\n[sensor.storage]\ninterval = 500ms\n"
      << "timeout = 1s\nretry = 200ms\n"
      << "[healer.restart]\nactive_marker = " << marker << "\n"
      << "[healer.failover]\nset_command = /bin/sh " << fake
      << " --name {attribute} --update {value}\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"failover.", "storage."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  auto spawn = [&](const char* binary, const char* log) {
    SpawnOptions o;
    o.argv = {binary, "--config", bus.config_path()};
    o.output = SpawnOptions::Output::kFile;
    o.output_file = bus.dir() + "/" + log;
    return Subprocess::Spawn(o);
  };
  auto storage = spawn(EHABUS_SENSOR_STORAGE, "storage.log");
  auto healer = spawn(EHABUS_HEALER_FAILOVER, "failover.log");
  ASSERT_TRUE(storage && healer);
  auto wait_for = [&](const std::string& topic,
                      std::chrono::milliseconds timeout) {
    return WaitFor(sub, topic, timeout, bus.dir() + "/failover.log");
  };
  auto recorded = [&] { return et::Run({"cat", record}).output; };
  // At start: green (a red left from before is cleared).
  ASSERT_TRUE(wait_for("failover.cleared", 15s));
  EXPECT_EQ(recorded(), "#health-ehabus green\n");

  // The network storage hangs: red, handed to Pacemaker's attribute.
  net.Set("freeze");
  auto requested = wait_for("failover.requested", 20s);
  ASSERT_TRUE(requested);
  EXPECT_EQ(requested->severity, Severity::kCritical);
  EXPECT_TRUE(requested->message.starts_with(
      "failover requested: storage archive (failover): "))
      << requested->message;
  EXPECT_NE(requested->message.find(
                "; #health-ehabus=red on this node, Pacemaker moves the stack"),
            std::string::npos);
  EXPECT_EQ(recorded(), "#health-ehabus green\n#health-ehabus red\n");
  // Cleared only when the cause is gone.
  net.Set("ok");
  ASSERT_TRUE(wait_for("failover.cleared", 20s));
  EXPECT_EQ(recorded(),
            "#health-ehabus green\n#health-ehabus red\n#health-ehabus green\n");

  // A heartbeat loss while storage is healthy: nothing.
  auto published =
      bus.RunCli({"publish", "--state", "--severity", "error", "--subject",
                  "links", "--component", "sensor-heartbeat", "--data",
                  R"({"health":"down","reason":"disconnected: link 1 to hb2"})",
                  "heartbeat.links", "links", "down"});
  ASSERT_EQ(published.exit_code(), 0) << published.output;
  auto declined = wait_for("failover.declined", 10s);
  ASSERT_TRUE(declined);
  EXPECT_EQ(declined->message,
            "heartbeat links lost: disconnected: link 1 to hb2; shared "
            "storage healthy: no switch (fencing decides)");

  // A spent restart budget: red; the service serving again: green.
  published =
      bus.RunCli({"publish", "--severity", "critical", "--subject", "postfix",
                  "--component", "healer-restart", "healing.postfix.escalated",
                  "postfix failed again after 3 healings"});
  ASSERT_EQ(published.exit_code(), 0) << published.output;
  ASSERT_TRUE(wait_for("failover.requested", 10s));
  published = bus.RunCli({"publish", "--state", "--subject", "postfix",
                          "--component", "sensor-service", "--data",
                          R"({"health":"up","reason":"answers"})",
                          "service.postfix", "postfix", "answers"});
  ASSERT_EQ(published.exit_code(), 0) << published.output;
  ASSERT_TRUE(wait_for("failover.cleared", 10s));

  // Not where the stack runs: no hand-off, only a word.
  unlink(marker.c_str());
  net.Set("freeze");
  auto standby = wait_for("failover.standby", 20s);
  ASSERT_TRUE(standby);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(recorded(),
            "#health-ehabus green\n#health-ehabus red\n#health-ehabus green\n"
            "#health-ehabus red\n#health-ehabus green\n");
  net.Set("ok");
  healer->Stop(5s);
  storage->Stop(5s);
}

// The causes that do not move the stack, and the operator's cleanup. The
// storage and escalation inputs are published in the exact form of their
// publishers; the attribute command is a FAKE attrd_updater that fails
// (as the real one does while Pacemaker is not running) until told.
TEST(FailoverHealerTest, FullDiskNotifiesCleanupClearsBudgetQuietFirstGreen) {
  et::BusFixture bus;
  std::string record = bus.dir() + "/attrd.log";
  std::string up = bus.dir() + "/attrd-up";
  std::string fake = bus.dir() + "/fake-attrd.sh";
  std::ofstream(fake) << "#!/bin/sh\n[ -e " << up
                      << " ] || { echo 'Could not update: Connection refused';"
                         " exit 102; }\necho \"$2 $4\" >> "
                      << record << "\n";
  std::string marker = bus.dir() + "/active";
  std::ofstream(marker) << "";
  std::ofstream(bus.dir() + "/healer.json.escalated") << "postfix\ndovecot\n";
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.service]\nprofile = " << EHABUS_SOURCE_DIR
      << "/etc/profiles/postfix-dovecot.ini\n"
      << "[healer.restart]\nactive_marker = " << marker
      << "\nstate_file = " << bus.dir() << "/healer.json\n"
      << "[healer.failover]\nretry = 200ms\nset_command = /bin/sh " << fake
      << " --name {attribute} --update {value}\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"failover."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  SpawnOptions o;
  o.argv = {EHABUS_HEALER_FAILOVER, "--config", bus.config_path()};
  o.output = SpawnOptions::Output::kFile;
  o.output_file = bus.dir() + "/failover.log";
  auto healer = Subprocess::Spawn(o);
  ASSERT_TRUE(healer);
  std::vector<Event> seen;
  auto wait_for = [&](const std::string& topic,
                      std::chrono::milliseconds timeout) {
    return WaitFor(sub, topic, timeout, bus.dir() + "/failover.log", &seen);
  };
  auto recorded = [&] { return et::Run({"cat", record}).output; };
  auto publish = [&](std::vector<std::string> args) {
    auto r = bus.RunCli(std::move(args));
    ASSERT_EQ(r.exit_code(), 0) << r.output;
  };

  // No cluster yet: the first green fails, quietly; it is set once the
  // cluster answers.
  std::this_thread::sleep_for(1500ms);
  std::ofstream(up) << "";
  ASSERT_TRUE(wait_for("failover.cleared", 10s));
  for (const auto& e : seen)
    EXPECT_NE(e.topic, "failover.handoff-failed") << e.message;
  EXPECT_EQ(recorded(), "#health-ehabus green\n");

  // A full shared disk: a notice, no failover (the other node would mount
  // the same full disk).
  publish({"publish", "--state", "--severity", "error", "--subject", "mail",
           "--component", "sensor-storage", "--data",
           R"({"health":"down","reason":"/srv/mail: full: 99.0% of space",)"
           R"("detail":{"full":true,"mounted":true}})",
           "storage.mail", "mail", "down"});
  auto notify = wait_for("failover.notify", 10s);
  ASSERT_TRUE(notify);
  EXPECT_EQ(notify->message,
            "storage mail lost: /srv/mail: full: 99.0% of space; policy "
            "notify: no failover");
  // The same mount hung instead: that is lost, and moves.
  publish({"publish", "--state", "--severity", "error", "--subject", "mail",
           "--component", "sensor-storage", "--data",
           R"({"health":"down","reason":"/srv/mail: no result within 3 s",)"
           R"("detail":{"mounted":true}})",
           "storage.mail", "mail", "down"});
  ASSERT_TRUE(wait_for("failover.requested", 10s));
  publish({"publish", "--state", "--subject", "mail", "--component",
           "sensor-storage", "--data", R"({"health":"up","reason":"ok"})",
           "storage.mail", "mail", "up"});
  ASSERT_TRUE(wait_for("failover.cleared", 10s));

  // A spent budget holds the node red until the operator's cleanup.
  publish({"publish", "--severity", "critical", "--subject", "postfix",
           "--component", "healer-restart", "healing.postfix.escalated",
           "postfix failed again after 3 healings"});
  ASSERT_TRUE(wait_for("failover.requested", 10s));
  // Pacemaker stops the stack here: postfix is "up" on standby. That is the
  // spent budget doing its work, not postfix serving again: still red.
  publish({"publish", "--state", "--subject", "postfix", "--component",
           "sensor-service", "--data",
           R"({"health":"up","reason":"standby (the stack runs on another )"
           R"(node): smtp 127.0.0.1:25: connect: Connection refused",)"
           R"("detail":{"standby":true}})",
           "service.postfix", "postfix", "standby"});
  auto until = Clock::now() + 2s;
  while (Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (d) {
      EXPECT_NE(d->event.topic, "failover.cleared") << d->event.message;
    }
  }
  auto cleaned = bus.RunCli({"cleanup", "postfix"});
  ASSERT_EQ(cleaned.exit_code(), 0) << cleaned.output;
  EXPECT_EQ(cleaned.output,
            "restart budget of postfix forgotten by hand (spent: postfix)\n");
  // The stack agent reads this file: only dovecot's spent budget is left.
  EXPECT_EQ(et::Run({"cat", bus.dir() + "/healer.json.escalated"}).output,
            "dovecot\n");
  auto cleared = wait_for("failover.cleared", 10s);
  ASSERT_TRUE(cleared);
  EXPECT_EQ(recorded(),
            "#health-ehabus green\n#health-ehabus red\n#health-ehabus "
            "green\n#health-ehabus red\n#health-ehabus green\n");
  healer->Stop(5s);
}

}  // namespace
}  // namespace ehabus::healers
