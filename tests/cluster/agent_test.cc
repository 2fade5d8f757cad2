// The stack agent (ocf:ehabus:mailstack) against the real test stack on
// loopback (MariaDB, memcached, Postfix, Dovecot), resource-agents'
// ocf-tester on it, and the Pacemaker alert agent publishing onto a real bus.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "healers/state_files.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/stack.h"

namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;
using Clock = std::chrono::steady_clock;

// Alive and not a zombie (PID 1 here may not reap what it inherits).
bool Alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ||
         text[paren + 2] != 'Z';
}

class MailstackAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the stack runs as root";
    std::string profile = dir_.Write("profile.ini", stack_.Profile());
    marker_ = dir_.path() + "/run/stack-active";
    config_ = dir_.Write("ehabus.ini",
                         "[sensor.service]\nprofile = " + profile +
                             "\nwatch_file = " + dir_.path() +
                             "/watch.ini\ntimeout = 2s\n"
                             "[healer.restart]\nstate_file = " +
                             dir_.path() +
                             "/healer.json\nactive_marker = " + marker_ + "\n");
  }
  void TearDown() override {
    if (geteuid() == 0) Ocf("stop", 60s);
  }
  et::Ran Ocf(const std::string& action, std::chrono::milliseconds timeout) {
    return et::Run(
        {"env", "OCF_RESKEY_config=" + config_,
         "OCF_RESKEY_sensor=" EHABUS_SENSOR_SERVICE,
         "OCF_RESKEY_CRM_meta_timeout=" + std::to_string(timeout.count()),
         EHABUS_OCF_MAILSTACK, action},
        timeout + 10s);
  }
  std::vector<std::string> LogLines(const std::string& action) {
    std::vector<std::string> out;
    std::istringstream in(stack_.Log());
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string when, service, what;
      if (words >> when >> service >> what && what == action)
        out.push_back(service);
    }
    return out;
  }

  et::TempDir dir_;
  et::Stack stack_;
  std::string config_, marker_;
};

TEST_F(MailstackAgent, OcfTesterPasses) {
  auto r =
      et::Run({"ocf-tester", "-n", "mailstack", "-o", "config=" + config_, "-o",
               "sensor=" EHABUS_SENSOR_SERVICE, EHABUS_OCF_MAILSTACK},
              300s);
  EXPECT_EQ(r.exit_code(), 0) << r.output << stack_.Log();
  EXPECT_NE(r.output.find("passed all tests"), std::string::npos) << r.output;
}

TEST_F(MailstackAgent, MetaDataIsValidAgainstResourceAgentsSchema) {
  auto md = et::Run({EHABUS_OCF_MAILSTACK, "meta-data"});
  ASSERT_EQ(md.exit_code(), 0);
  std::string file = dir_.Write("meta-data.xml", md.output);
  auto r = et::Run({"xmllint", "--noout", "--relaxng",
                    "/usr/share/resource-agents/metadata.rng", file});
  EXPECT_EQ(r.exit_code(), 0) << r.output;
  EXPECT_EQ(et::Run({EHABUS_OCF_MAILSTACK, "promote"}).exit_code(), 3);
}

TEST_F(MailstackAgent, StartsInDependencyOrderMonitorsAndStops) {
  EXPECT_EQ(Ocf("monitor", 30s).exit_code(), 7) << "probe of a stopped stack";
  auto start = Ocf("start", 120s);
  ASSERT_EQ(start.exit_code(), 0) << start.output << stack_.Log();
  auto started = LogLines("start");
  auto pos = [&](const std::string& s) {
    return std::find(started.begin(), started.end(), s) - started.begin();
  };
  ASSERT_EQ(started.size(), 4u) << stack_.Log();
  EXPECT_LT(pos("mariadb"), pos("postfix"));
  EXPECT_LT(pos("mariadb"), pos("dovecot"));
  for (const char* s : {"mariadb", "memcached", "postfix", "dovecot"}) {
    EXPECT_TRUE(Alive(stack_.Pid(s))) << s;
  }
  EXPECT_TRUE(std::filesystem::exists(marker_));
  EXPECT_EQ(Ocf("monitor", 30s).exit_code(), 0);
  // Started again: nothing restarted.
  pid_t postfix = stack_.Pid("postfix");
  EXPECT_EQ(Ocf("start", 60s).exit_code(), 0);
  EXPECT_EQ(stack_.Pid("postfix"), postfix);

  // The restart healer spent postfix's budget: the stack fails.
  std::ofstream(dir_.path() + "/healer.json.escalated") << "postfix\n";
  auto escalated = Ocf("monitor", 30s);
  EXPECT_EQ(escalated.exit_code(), 1);
  EXPECT_NE(escalated.output.find("restart budget spent for postfix"),
            std::string::npos)
      << escalated.output;
  std::filesystem::remove(dir_.path() + "/healer.json.escalated");

  // mariadb dead and no healer running to heal it: failed.
  pid_t mariadb = stack_.Pid("mariadb");
  stack_.Kill("mariadb");
  ASSERT_TRUE(et::WaitUntil([&] { return !Alive(mariadb); }, 10s));
  auto down = Ocf("monitor", 30s);
  EXPECT_EQ(down.exit_code(), 1) << down.output;
  EXPECT_NE(down.output.find("no healer running"), std::string::npos)
      << down.output;
  // While a healer holds its lock (as ehabus-healer-restart does from start
  // to exit), the same down service is being healed: not a failure. A
  // process merely named like the healer proves nothing.
  {
    auto lock =
        ehabus::healers::HealerLock::Acquire(dir_.path() + "/healer.json.lock");
    ASSERT_TRUE(lock) << lock.error().message;
    auto healing = Ocf("monitor", 30s);
    EXPECT_EQ(healing.exit_code(), 0) << healing.output;
    EXPECT_NE(healing.output.find("being healed"), std::string::npos)
        << healing.output;
  }
  EXPECT_EQ(Ocf("monitor", 30s).exit_code(), 1);

  std::vector<pid_t> pids;
  for (const char* s : {"memcached", "postfix", "dovecot"})
    pids.push_back(stack_.Pid(s));
  auto stop = Ocf("stop", 120s);
  EXPECT_EQ(stop.exit_code(), 0) << stop.output;
  for (pid_t p : pids) EXPECT_FALSE(Alive(p)) << p;
  EXPECT_FALSE(std::filesystem::exists(marker_));
  // Reverse order: dependents before mariadb.
  auto stopped = LogLines("stop");
  auto spos = [&](const std::string& s) {
    return std::find(stopped.begin(), stopped.end(), s) - stopped.begin();
  };
  EXPECT_LT(spos("postfix"), spos("mariadb")) << stack_.Log();
  EXPECT_LT(spos("dovecot"), spos("mariadb")) << stack_.Log();
  EXPECT_EQ(Ocf("monitor", 30s).exit_code(), 7);
  EXPECT_EQ(Ocf("stop", 60s).exit_code(), 0) << "stop of a stopped stack";
}

TEST_F(MailstackAgent, StopNeverHangs) {
  ASSERT_EQ(Ocf("start", 120s).exit_code(), 0) << stack_.Log();
  // dovecot's stop command hangs.
  std::string script = et::Run({"cat", stack_.script()}).output;
  auto at = script.find("dovecot:stop) ");
  ASSERT_NE(at, std::string::npos);
  script.insert(at + 14, "sleep 600; ");
  std::ofstream(stack_.script(), std::ios::trunc) << script;
  pid_t dovecot = stack_.Pid("dovecot");
  auto begin = Clock::now();
  auto stop = Ocf("stop", 30s);
  auto took = Clock::now() - begin;
  EXPECT_EQ(stop.exit_code(), 0) << stop.output;
  EXPECT_LT(took, 30s) << "stop outlived its timeout";
  EXPECT_FALSE(Alive(dovecot));
  EXPECT_NE(stop.output.find("stack test-stack stopped"), std::string::npos)
      << stop.output;
}

TEST_F(MailstackAgent, ServicesRunningOutsideTheClusterAreReported) {
  ASSERT_TRUE(stack_.StartAll()) << stack_.Log();
  auto r = Ocf("monitor", 30s);
  EXPECT_EQ(r.exit_code(), 1) << r.output;
  EXPECT_NE(r.output.find("runs here outside the cluster"), std::string::npos)
      << r.output;
}

// --- the alert agent ---------------------------------------------------------

class PacemakerAlert : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_.StartBroker();
    ehabus::SubscriberOptions o;
    o.sub_endpoint = bus_.sub();
    o.prefixes = {"cluster."};
    sub_.emplace(bus_.context(), o);
    ASSERT_TRUE(et::WaitUntil(
        [&] { return bus_.Status()->value("subscriptions", 0) >= 1; }, 10s));
  }
  et::Ran Alert(const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(),
                {EHABUS_PACEMAKER_ALERT, "--config", bus_.config_path()});
    return et::Run(argv, 20s);
  }
  std::optional<ehabus::Event> Next() {
    auto d = sub_->Receive(5s);
    if (!d) return std::nullopt;
    return d->event;
  }

  et::BusFixture bus_;
  std::optional<ehabus::Subscriber> sub_;
};

TEST_F(PacemakerAlert, ClusterEventsArriveOnTheBus) {
  ASSERT_EQ(Alert({"CRM_alert_kind=node", "CRM_alert_node=mail2",
                   "CRM_alert_desc=lost", "CRM_alert_nodeid=2"})
                .exit_code(),
            0);
  auto e = Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "cluster.node.mail2.lost");
  EXPECT_EQ(e->severity, ehabus::Severity::kError);
  EXPECT_EQ(e->message, "node mail2 left the cluster (lost)");

  ASSERT_EQ(Alert({"CRM_alert_kind=fencing", "CRM_alert_node=mail2",
                   "CRM_alert_task=reboot", "CRM_alert_rc=0",
                   "CRM_alert_desc=Operation reboot of mail2 by mail1: OK"})
                .exit_code(),
            0);
  e = Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "cluster.fencing.mail2.ok");
  EXPECT_EQ(e->severity, ehabus::Severity::kWarning);

  ASSERT_EQ(
      Alert({"CRM_alert_kind=resource", "CRM_alert_node=mail1",
             "CRM_alert_rsc=mailstack", "CRM_alert_task=monitor",
             "CRM_alert_rc=1", "CRM_alert_target_rc=0", "CRM_alert_status=0",
             "CRM_alert_interval=10000", "CRM_alert_desc=error"})
          .exit_code(),
      0);
  e = Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "cluster.resource.mailstack.monitor.failed");
  EXPECT_EQ(e->severity, ehabus::Severity::kError);
  EXPECT_EQ(e->data.value("interval_ms", 0), 10000);

  ASSERT_EQ(Alert({"CRM_alert_kind=attribute", "CRM_alert_node=mail1",
                   "CRM_alert_attribute_name=#health-ehabus",
                   "CRM_alert_attribute_value=red"})
                .exit_code(),
            0);
  e = Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "cluster.attribute._health-ehabus");
  EXPECT_EQ(e->message, "node mail1: #health-ehabus = red");
}

TEST_F(PacemakerAlert, ValuesAreSanitisedAndBadInputRefused) {
  ASSERT_EQ(
      Alert({"CRM_alert_kind=resource", "CRM_alert_node=Mail.One",
             "CRM_alert_rsc=Stack.$(reboot)\n", "CRM_alert_task=start",
             "CRM_alert_rc=0", "CRM_alert_target_rc=0", "CRM_alert_status=0"})
          .exit_code(),
      0);
  auto e = Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "cluster.resource.stack___reboot__.start.ok");
  EXPECT_EQ(e->subject, "Stack.$(reboot) ");
  auto bad = Alert({"CRM_alert_kind=bogus"});
  EXPECT_EQ(bad.exit_code(), 1);
  EXPECT_NE(bad.output.find("CRM_alert_kind \"bogus\" is not node, fencing, "
                            "resource or attribute"),
            std::string::npos)
      << bad.output;
}

TEST_F(PacemakerAlert, ShownByEhabusTail) {
  auto tail = bus_.StartCli(
      {"tail", "--topic", "cluster.", "--count", "1", "--timeout", "15s"});
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus_.Status()->value("subscriptions", 0) >= 2; }, 10s));
  ASSERT_EQ(Alert({"CRM_alert_kind=node", "CRM_alert_node=mail1",
                   "CRM_alert_desc=member"})
                .exit_code(),
            0);
  auto status = tail.Wait(20s);
  ASSERT_TRUE(status);
  EXPECT_NE(tail.output().find("cluster.node.mail1.member"), std::string::npos)
      << tail.output();
  EXPECT_NE(tail.output().find("node mail1 joined the cluster"),
            std::string::npos);
}

TEST_F(PacemakerAlert, NoBrokerNeverBlocksPacemaker) {
  et::TempDir other;
  std::string config = other.Write(
      "ehabus.ini", "[bus]\npub_endpoint = ipc://" + other.path() +
                        "/none.sock\nsub_endpoint = ipc://" + other.path() +
                        "/none-sub.sock\nsnapshot_endpoint = ipc://" +
                        other.path() + "/none-snap.sock\n");
  auto begin = Clock::now();
  auto r = et::Run(
      {"env", "CRM_alert_kind=node", "CRM_alert_node=mail1",
       "CRM_alert_desc=member", EHABUS_PACEMAKER_ALERT, "--config", config},
      20s);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_LT(Clock::now() - begin, 5s);
  EXPECT_NE(r.output.find("no broker; dropped cluster.node.mail1.member"),
            std::string::npos)
      << r.output;
}

// Pacemaker runs alert agents as hacluster with the haclient group and no
// supplementary groups (services_linux.c: setgid, setgroups(0, NULL),
// setuid). Here the same with setpriv as nobody:nogroup: the publish socket
// (owner and group only) refuses it, the alert socket of its group takes it.
TEST(PacemakerAlertAsPacemakerRunsIt, ThroughTheAlertSocketOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "changes user";
  et::BusFixture bus("alert_group = nogroup\n");
  std::filesystem::permissions(
      bus.dir(),
      std::filesystem::perms::group_exec | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  bus.StartBroker();
  ehabus::SubscriberOptions o;
  o.sub_endpoint = bus.sub();
  o.prefixes = {"cluster."};
  ehabus::Subscriber sub(bus.context(), o);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  auto as_pacemaker = [&](const std::string& config) {
    return et::Run(
        {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
         "env", "CRM_alert_kind=node", "CRM_alert_node=mail2",
         "CRM_alert_desc=lost", EHABUS_PACEMAKER_ALERT, "--config", config},
        20s);
  };
  auto r = as_pacemaker(bus.config_path());
  EXPECT_EQ(r.exit_code(), 0) << r.output;
  EXPECT_EQ(r.output, "");
  auto d = sub.Receive(5s);
  ASSERT_TRUE(d) << r.output << bus.Log();
  EXPECT_EQ(d->event.topic, "cluster.node.mail2.lost");

  // Pointed at the publish socket, as before the alert socket: refused.
  std::string old = bus.dir() + "/pub-only.ini";
  {
    std::ifstream in(bus.config_path());
    std::stringstream text;
    text << in.rdbuf() << "alert_endpoint = " << bus.pub() << "\n";
    std::ofstream(old) << text.str();
  }
  auto refused = as_pacemaker(old);
  EXPECT_EQ(refused.exit_code(), 0) << "never fails Pacemaker";
  EXPECT_NE(refused.output.find("no broker; dropped cluster.node.mail2.lost"),
            std::string::npos)
      << refused.output;

  // The alert socket carries cluster events and nothing else.
  ehabus::Publisher intruder(
      bus.context(), {"ipc://" + bus.dir() + "/alert.sock", "x", "intruder"});
  ASSERT_TRUE(intruder.WaitAttached(5s));
  intruder.Publish("service.postfix.down", ehabus::Severity::kError, "postfix",
                   "forged");
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("rejected", 0) >= 1; }, 10s));
  EXPECT_EQ(bus.Status()->value("last_reject", ""),
            "topic \"service.postfix.down\" on the alert socket: only "
            "cluster.* is accepted there");
  EXPECT_FALSE(sub.Receive(500ms)) << "nothing else came through";
}

}  // namespace
