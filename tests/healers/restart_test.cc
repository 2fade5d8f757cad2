// ehabus-healer-restart against a real stack on loopback: MariaDB,
// memcached, Postfix and Dovecot started by this test with their own
// directories and ports, controlled through a command set (a shell script
// the test writes: setsid DAEMON & / kill PID, as an init script would),
// watched by the real ehabus-sensor-service, all on a real ehabus-busd.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/daemons.h"
#include "tests/testing/stack.h"

namespace ehabus::healers {
namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;
using Clock = std::chrono::steady_clock;

// The bus, the service sensor and the healer, with short test intervals.
class Healing : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the stack runs as root";
    ASSERT_TRUE(stack_.StartAll()) << stack_.Log();
    std::string profile = bus_.dir() + "/profile.ini";
    std::ofstream(profile) << stack_.Profile();
    watch_ = bus_.dir() + "/watch.ini";
    std::ofstream(bus_.config_path(), std::ios::app)
        << "[sensor.service]\nprofile = " << profile
        << "\nwatch_file = " << watch_
        << "\ninterval = 500ms\nretry = 100ms\ntimeout = 1s\nfall = 2\n"
        << "[healer.restart]\ncoalesce = 500ms\nbackoff = 0s\n"
        << "stop_timeout = 10s\nstart_timeout = 20s\nconfirm_timeout = 20s\n"
        << "state_file = " << bus_.dir() << "/healer.json\n"
        << ExtraConfig();
    bus_.StartBroker();
    SubscriberOptions options;
    options.sub_endpoint = bus_.sub();
    options.prefixes = {"healing.", "service.", "maintenance."};
    sub_.emplace(bus_.context(), options);
    ASSERT_TRUE(et::WaitUntil(
        [&] { return bus_.Status()->value("subscriptions", 0) >= 1; }, 10s));
    sensor_ = Spawn(EHABUS_SENSOR_SERVICE, "sensor.log");
    StartHealer();
    // Everything up before the faults.
    std::set<std::string> up;
    auto until = Clock::now() + 30s;
    while (up.size() < 4 && Clock::now() < until) {
      auto d = sub_->Receive(100ms);
      if (d && d->event.topic.ends_with(".up")) up.insert(d->event.topic);
    }
    ASSERT_EQ(up.size(), 4u) << bus_.Log();
  }
  virtual std::string ExtraConfig() { return ""; }

  std::optional<Subprocess> Spawn(const char* binary, const std::string& log) {
    SpawnOptions o;
    o.argv = {binary, "--config", bus_.config_path()};
    o.output = SpawnOptions::Output::kFile;
    o.output_file = bus_.dir() + "/" + log;
    auto spawned = Subprocess::Spawn(o);
    EXPECT_TRUE(spawned);
    if (!spawned) return std::nullopt;
    return std::move(*spawned);
  }
  void StartHealer() { healer_ = Spawn(EHABUS_HEALER_RESTART, "healer.log"); }

  // Events on healing.* until TOPIC_SUFFIX (e.g. ".succeeded") arrives.
  std::vector<Event> HealingUntil(const std::string& suffix,
                                  std::chrono::milliseconds timeout) {
    std::vector<Event> events;
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      auto d = sub_->Receive(100ms);
      if (!d || !d->event.topic.starts_with("healing.")) continue;
      events.push_back(d->event);
      if (d->event.topic.ends_with(suffix)) return events;
    }
    ADD_FAILURE() << "no healing.*" << suffix << " within " << timeout.count()
                  << " ms; healer log:\n"
                  << et::Run({"cat", bus_.dir() + "/healer.log"}).output;
    return events;
  }
  static std::string Dump(const std::vector<Event>& events) {
    std::string out;
    for (const auto& e : events) out += e.topic + ": " + e.message + "\n";
    return out;
  }
  static std::vector<std::string> Steps(const std::vector<Event>& events) {
    std::vector<std::string> steps;
    for (const auto& e : events)
      if (e.topic.ends_with(".step"))
        steps.push_back(e.data.value("action", "") + " " +
                        e.data.value("service", "") +
                        (e.data.value("ok", false) ? "" : " FAILED"));
    return steps;
  }

  et::Stack stack_;
  et::BusFixture bus_;
  std::string watch_;
  std::optional<Subscriber> sub_;
  std::optional<Subprocess> sensor_, healer_;
};

using Names = std::vector<std::string>;

TEST_F(Healing, KilledMariadbRestartedWithItsDependentsInOrder) {
  pid_t memcached = stack_.Pid("memcached");
  pid_t postfix = stack_.Pid("postfix");
  auto killed = Clock::now();
  stack_.Kill("mariadb");
  auto events = HealingUntil(".succeeded", 90s);
  ASSERT_FALSE(events.empty());
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - killed);
  std::printf("kill -9 mariadb to healed (with postfix, dovecot): %lld ms\n",
              static_cast<long long>(took.count()));
  EXPECT_EQ(events.front().topic, "healing.mariadb.started");
  EXPECT_EQ(events.front().data["dependents"], (Names{"postfix", "dovecot"}));
  EXPECT_EQ(Steps(events),
            (Names{"stop dovecot", "stop postfix", "stop mariadb",
                   "start mariadb", "confirm mariadb", "start postfix",
                   "confirm postfix", "start dovecot", "confirm dovecot"}));
  EXPECT_EQ(events.back().topic, "healing.mariadb.succeeded");
  EXPECT_TRUE(events.back().message.starts_with(
      "healed mariadb with postfix, dovecot in "))
      << events.back().message;
  EXPECT_EQ(stack_.Pid("memcached"), memcached) << "memcached not touched";
  EXPECT_NE(stack_.Pid("postfix"), postfix) << "postfix was restarted";
  // The control script saw exactly this, in this order.
  auto log = stack_.Log();
  EXPECT_EQ(log.find("memcached stop"), std::string::npos) << log;
}

TEST_F(Healing, SimultaneousFailuresCoalescedIntoOneHealing) {
  stack_.Kill("memcached");
  stack_.Kill("dovecot");
  auto events = HealingUntil(".succeeded", 90s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().topic, "healing.memcached.started");
  EXPECT_EQ(events.front().data["services"], (Names{"memcached", "dovecot"}));
  int started = 0;
  for (const auto& e : events) started += e.topic.ends_with(".started");
  EXPECT_EQ(started, 1);
  EXPECT_EQ(Steps(events),
            (Names{"stop memcached", "stop dovecot", "start memcached",
                   "confirm memcached", "start dovecot", "confirm dovecot"}))
      << Dump(events) << stack_.Log();
}

TEST_F(Healing, MaintenanceIsHonouredAndEndsByItself) {
  auto set = bus_.RunCli({"maintenance", "memcached", "on", "--for", "4s"});
  ASSERT_EQ(set.exit_code(), 0) << set.output;
  std::string text = et::Run({"cat", watch_}).output;
  EXPECT_NE(text.find("memcached = no"), std::string::npos) << text;
  // The sensor stops watching it within a second; then it dies: untouched.
  std::this_thread::sleep_for(1500ms);
  stack_.Kill("memcached");
  auto until = Clock::now() + 2s;
  while (Clock::now() < until) {
    auto d = sub_->Receive(100ms);
    ASSERT_FALSE(d && d->event.topic.starts_with("healing."))
        << d->event.topic << ": " << d->event.message;
  }
  // The maintenance ends by itself; the dead service is healed then.
  bool ended = false, healed = false;
  until = Clock::now() + 40s;
  while (!(ended && healed) && Clock::now() < until) {
    auto d = sub_->Receive(100ms);
    ended = ended || (d && d->event.topic == "maintenance.ended" &&
                      d->event.subject == "memcached");
    healed = healed || (d && d->event.topic == "healing.memcached.succeeded");
  }
  EXPECT_TRUE(ended);
  EXPECT_TRUE(healed);
  text = et::Run({"cat", watch_}).output;
  EXPECT_NE(text.find("memcached = yes"), std::string::npos) << text;
}

class TightBudget : public Healing {
  std::string ExtraConfig() override {
    return "budget = 2\nbudget_window = 10m\n";
  }
};

TEST_F(TightBudget, ServiceThatKeepsDyingExhaustsItsBudget) {
  for (int round = 1; round <= 2; ++round) {
    stack_.Kill("memcached");
    auto events = HealingUntil(".succeeded", 60s);
    ASSERT_FALSE(events.empty());
    EXPECT_NE(events.front().message.find("(healing " + std::to_string(round) +
                                          " of 2 within 10 min)"),
              std::string::npos)
        << events.front().message;
  }
  stack_.Kill("memcached");
  auto events = HealingUntil(".escalated", 30s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().topic, "healing.memcached.escalated");
  EXPECT_EQ(events.back().severity, Severity::kCritical);
  EXPECT_TRUE(events.back().message.starts_with(
      "memcached failed again after 2 healings within 10 min; restart budget "
      "spent, handing over to failover"))
      << events.back().message;
  for (const auto& e : events)
    EXPECT_FALSE(e.topic.ends_with(".started")) << "no third healing";
  // Kept for the stack agent's monitor, which then fails the stack.
  EXPECT_EQ(et::Run({"cat", bus_.dir() + "/healer.json.escalated"}).output,
            "memcached\n");

  // The operator fixed it: `ehabus cleanup` forgets the budget; memcached,
  // still down, is healed at once, counting from one again.
  auto cleaned = bus_.RunCli({"cleanup", "memcached"});
  ASSERT_EQ(cleaned.exit_code(), 0) << cleaned.output;
  EXPECT_EQ(cleaned.output,
            "restart budget of memcached forgotten by hand (spent: "
            "memcached)\n");
  EXPECT_NE(access((bus_.dir() + "/healer.json.escalated").c_str(), F_OK), 0);
  events = HealingUntil(".succeeded", 60s);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.front().message.find("(healing 1 of 2 within 10 min)"),
            std::string::npos)
      << Dump(events);
  auto unknown = bus_.RunCli({"cleanup", "memcache"});
  EXPECT_EQ(unknown.exit_code(), 2);
  EXPECT_TRUE(unknown.output.starts_with(
      "ehabus: cleanup: no service \"memcache\" in "))
      << unknown.output;
}

TEST_F(Healing, HealerKilledMidHealingResumesOnRestart) {
  // Slow the postfix start down so that the healer dies during it.
  std::string script = et::Run({"cat", stack_.script()}).output;
  auto at = script.find("postfix:start) ");
  ASSERT_NE(at, std::string::npos);
  script.insert(at + 15, "sleep 4; ");
  std::ofstream(stack_.script(), std::ios::trunc) << script;
  stack_.Kill("mariadb");
  // Wait until it starts postfix, then kill the healer.
  auto until = Clock::now() + 60s;
  bool at_postfix = false;
  while (!at_postfix && Clock::now() < until) {
    auto d = sub_->Receive(100ms);
    at_postfix = d && d->event.topic == "healing.mariadb.step" &&
                 d->event.message.starts_with("confirm mariadb: ok");
  }
  ASSERT_TRUE(at_postfix);
  std::this_thread::sleep_for(500ms);
  healer_->Signal(SIGKILL);
  healer_->Wait(5s);
  healer_.reset();
  // The start it was waiting for still runs (its own process); a new healer
  // finds the healing in its state file and finishes it.
  StartHealer();
  auto events = HealingUntil(".succeeded", 90s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().topic, "healing.mariadb.resumed");
  EXPECT_EQ(events.back().topic, "healing.mariadb.succeeded");
  EXPECT_EQ(events.back().data["resumed"], true);
  EXPECT_TRUE(et::WaitUntil(
      [&] { return stack_.Pid("postfix") > 0 && stack_.Pid("dovecot") > 0; },
      20s));
}

}  // namespace
}  // namespace ehabus::healers

namespace ehabus::healers {
namespace {

// The eyou profile's dependency rules, exercised for real: no eYou software
// exists here, so a stand-in `eyou_mail start|stop|watch NAME` control
// script runs small stand-in daemons (sleep processes with pid files). The
// profile is the shipped etc/profiles/eyou.ini with the script's path
// replaced and the protocol checks (smtp, pop, imap, httpd: ports this test
// does not own) turned into `eyou_mail watch NAME`.
TEST(EyouStandInTest, MysqlFailureTakesExactlyItsDependentsAlong) {
  et::BusFixture bus;
  std::string dir = bus.dir() + "/eyou";
  mkdir(dir.c_str(), 0755);
  std::string script = dir + "/eyou_mail";
  std::ofstream(script)
      << "#!/bin/sh\n# STAND-IN for eYou's control script.\n"
      << "d=" << dir << "\necho \"$1 $2\" >> $d/control.log\n"
      << "case $1 in\n"
      << "start) setsid sleep 100000 </dev/null >/dev/null 2>&1 &\n"
      << "       echo $! > $d/$2.pid ;;\n"
      << "stop) kill -9 $(cat $d/$2.pid) 2>/dev/null; exit 0 ;;\n"
      << "watch) kill -0 $(cat $d/$2.pid 2>/dev/null) 2>/dev/null ;;\n"
      << "*) exit 2 ;;\nesac\n";
  chmod(script.c_str(), 0755);
  // The shipped profile, pointed at the stand-in.
  std::ifstream shipped(std::string(EHABUS_SOURCE_DIR) +
                        "/etc/profiles/eyou.ini");
  std::string profile_text, line, section;
  std::vector<std::string> services;
  while (std::getline(shipped, line)) {
    if (line.starts_with("[service.")) {
      section = line.substr(9, line.size() - 10);
      services.push_back(section);
    }
    if (line.starts_with("installed_if") || line.starts_with("enabled_") ||
        line.starts_with("port ="))
      continue;
    if (line.starts_with("check = ") && line != "check = command") {
      profile_text +=
          "check = command\ncommand = " + script + " watch " + section + "\n";
      continue;
    }
    for (std::size_t at;
         (at = line.find("/usr/local/eyou/mail/app/sbin/eyou_mail")) !=
         std::string::npos;)
      line.replace(at, 39, script);
    profile_text += line + "\n";
  }
  std::string profile = dir + "/eyou.ini";
  std::ofstream(profile) << profile_text;
  std::string watch = "[watch]\n";
  for (const auto& s : services) {
    if (s == "gateway") continue;
    watch += s + " = yes\n";
    ASSERT_EQ(et::Run({script, "start", s}).exit_code(), 0);
  }
  std::ofstream(bus.dir() + "/watch.ini") << watch;
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.service]\nprofile = " << profile
      << "\nwatch_file = " << bus.dir()
      << "/watch.ini\ninterval = 1s\nretry = 200ms\n"
      << "[healer.restart]\ncoalesce = 1s\nstate_file = " << bus.dir()
      << "/healer.json\n";
  unlink((dir + "/control.log").c_str());
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"healing.", "service."};
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
  auto sensor = spawn(EHABUS_SENSOR_SERVICE, "sensor.log");
  auto healer = spawn(EHABUS_HEALER_RESTART, "healer.log");
  ASSERT_TRUE(sensor && healer);
  std::size_t up = 0;
  auto until = Clock::now() + 30s;
  while (up < services.size() && Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (d && d->event.topic.ends_with(".up")) ++up;
  }
  ASSERT_EQ(up, services.size());
  // mysql dies.
  kill(et::ReadPid(dir + "/mysql.pid"), SIGKILL);
  std::optional<Event> done;
  until = Clock::now() + 120s;
  while (!done && Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (d && (d->event.topic == "healing.mysql.succeeded" ||
              d->event.topic == "healing.mysql.failed"))
      done = d->event;
  }
  ASSERT_TRUE(done) << et::Run({"cat", bus.dir() + "/healer.log"}).output;
  EXPECT_EQ(done->topic, "healing.mysql.succeeded") << done->message;
  std::ifstream log_in(dir + "/control.log");
  std::vector<std::string> log;
  while (std::getline(log_in, line))
    if (!line.starts_with("watch ")) log.push_back(line);
  const std::vector<std::string> dependents = {
      "mproxy",  "memcache_fix", "memcache_hot", "memcache_session",
      "gearman", "phpd",         "smtp",         "pop",
      "imap",    "local",        "remote",       "bounce",
      "mlist"};
  std::vector<std::string> expected;
  for (auto it = dependents.rbegin(); it != dependents.rend(); ++it)
    expected.push_back("stop " + *it);
  expected.push_back("stop mysql");
  expected.push_back("start mysql");
  for (const auto& d : dependents) expected.push_back("start " + d);
  EXPECT_EQ(log, expected);
  healer->Stop(5s);
  sensor->Stop(5s);
  for (const auto& s : services)
    if (pid_t pid = et::ReadPid(dir + "/" + s + ".pid"); pid > 1)
      kill(pid, SIGKILL);
}

}  // namespace
}  // namespace ehabus::healers
