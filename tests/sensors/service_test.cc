#include "sensors/service.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

#include "bus/subscriber.h"
#include "tests/sensors/fake_server.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/daemons.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;
using ehabus::testing::BusFixture;
using ehabus::testing::TempDir;
using ehabus::testing::WaitUntil;

std::string Errors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.ToString() + "\n";
  return out;
}

TEST(ProfileTest, ShippedProfilesLoad) {
  for (std::string name : {"postfix-dovecot", "eyou", "eyou-gateway"}) {
    auto profile = LoadProfile(std::string(EHABUS_SOURCE_DIR) +
                               "/etc/profiles/" + name + ".ini");
    ASSERT_TRUE(profile) << Errors(profile.error());
    EXPECT_EQ(profile->name, name);
  }
  auto eyou =
      LoadProfile(std::string(EHABUS_SOURCE_DIR) + "/etc/profiles/eyou.ini");
  // The dependencies the 2014 toolkit encoded.
  EXPECT_EQ(eyou->Find("phpd")->depends,
            (std::vector<std::string>{"mysql_log", "gearman"}));
  EXPECT_EQ(eyou->Find("mproxy_index")->depends,
            (std::vector<std::string>{"mysql_index"}));
  EXPECT_EQ(eyou->Find("smtp")->check, "smtp");
  EXPECT_EQ(eyou->Find("mysql")->command,
            (std::vector<std::string>{"/usr/local/eyou/mail/app/sbin/eyou_mail",
                                      "watch", "mysql"}));
  EXPECT_EQ(eyou->services.front().name, "mysql")
      << "file order is start order";
  auto gateway = LoadProfile(std::string(EHABUS_SOURCE_DIR) +
                             "/etc/profiles/eyou-gateway.ini");
  EXPECT_FALSE(gateway->Find("gateway")->monitored);
  auto postfix = LoadProfile(std::string(EHABUS_SOURCE_DIR) +
                             "/etc/profiles/postfix-dovecot.ini");
  EXPECT_EQ(postfix->Find("postfix")->depends,
            (std::vector<std::string>{"mariadb"}));
}

TEST(ProfileTest, BadProfileGivesFileAndLine) {
  TempDir dir;
  auto path = dir.Write("bad.ini",
                        "[profile]\nname = bad\n"
                        "[service.smtp]\ncheck = smtp\ndepends = mysql\n"
                        "[service.web]\ncheck = gopher\n"
                        "[service.eyou]\ncheck = command\n");
  auto profile = LoadProfile(path);
  ASSERT_FALSE(profile);
  EXPECT_EQ(Errors(profile.error()),
            path +
                ":7: [service.web] check: expected one of smtp, lmtp, imap, "
                "pop3, memcached, http, tcp, mysql, "
                "process, command, none, got \"gopher\"\n");
  dir.Write(
      "bad.ini",
      "[profile]\nname = bad\n[service.smtp]\ncheck = smtp\ndepends = mysql\n"
      "[service.eyou]\ncheck = command\n");
  profile = LoadProfile(path);
  ASSERT_FALSE(profile);
  EXPECT_EQ(
      Errors(profile.error()),
      path + ":4: [service.smtp] port: check = smtp needs a port\n" + path +
          ":7: [service.eyou] command: check = command needs a command\n" +
          path + ":5: [service.smtp] depends: unknown service \"mysql\"\n");
}

TEST(ProfileTest, ShellArrayIsReadNotRun) {
  TempDir dir;
  auto file = dir.Write("em_init_config",
                        "#!/bin/sh\n# ARRAY_START=(commented "
                        "out)\nPIDF_MYSQL=/var/run/mysql.pid\n"
                        "ARRAY_START=(mysql \"mproxy\"\n  smtp 'pop'\n)\nrm "
                        "-rf /  # never run\n");
  EXPECT_EQ(ReadShellArray(file, "ARRAY_START"),
            (std::vector<std::string>{"mysql", "mproxy", "smtp", "pop"}));
  EXPECT_EQ(ReadShellArray(file, "ARRAY_STOP"), std::nullopt);
  EXPECT_EQ(ReadShellArray(dir.path() + "/none", "ARRAY_START"), std::nullopt);
}

TEST(ProfileTest, FirstWatchListWatchesWhatIsInstalledAndEnabled) {
  TempDir dir;
  dir.Write("em_init_config", "ARRAY_START=(mysql smtp)\n");
  dir.Write("installed", "");
  auto path = dir.Write(
      "p.ini",
      "[profile]\nname = p\nenabled_list = " + dir.path() +
          "/em_init_config\n"
          "[service.mysql]\ncheck = tcp\nport = 3306\ninstalled_if = " +
          dir.path() + "/installed\n" +
          "[service.smtp]\ncheck = smtp\nport = 25\ninstalled_if = " +
          dir.path() +
          "/missing\n"
          "[service.pop]\ncheck = pop3\nport = 110\n"
          "[service.gateway]\ncheck = none\nmonitored = no\n");
  auto profile = LoadProfile(path);
  ASSERT_TRUE(profile) << Errors(profile.error());
  std::string text = RenderWatchList(*profile);
  EXPECT_NE(text.find("\n[watch]\nmysql = yes\nsmtp = no  ; not installed\npop "
                      "= no  ; not in ARRAY_START\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("gateway"), std::string::npos);
  auto watch_path = dir.Write("watch.ini", text);
  auto watch = LoadWatchList(watch_path, *profile);
  ASSERT_TRUE(watch) << Errors(watch.error());
  EXPECT_EQ(*watch, (std::map<std::string, bool>{
                        {"mysql", true}, {"pop", false}, {"smtp", false}}));

  dir.Write("watch.ini",
            "[watch]\nmysql = yes\nsmpt = yes\ngateway = yes\npop = perhaps\n");
  auto bad = LoadWatchList(watch_path, *profile);
  ASSERT_FALSE(bad);
  EXPECT_EQ(Errors(bad.error()),
            watch_path +
                ":5: [watch] pop: expected yes/no, true/false, on/off or 1/0, "
                "got \"perhaps\"\n");
  dir.Write("watch.ini", "[watch]\nmysql = yes\nsmpt = yes\ngateway = yes\n");
  bad = LoadWatchList(watch_path, *profile);
  EXPECT_EQ(
      Errors(bad.error()),
      watch_path +
          ":4: [watch] gateway: the profile never monitors this service\n" +
          watch_path + ":3: [watch] smpt: not a service of profile \"p\"\n");
}

TEST(ProfileTest, CommandCheckHasADeadline) {
  auto ok = ProbeCommand({"/bin/true"}, std::chrono::steady_clock::now() + 5s);
  EXPECT_TRUE(ok.ok) << ok.reason;
  auto failed = ProbeCommand({"/bin/sh", "-c", "echo mysql is stopped; exit 3"},
                             std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(failed.reason,
            "`/bin/sh -c echo mysql is stopped; exit 3` exit 3: \"mysql is "
            "stopped\"");
  auto start = std::chrono::steady_clock::now();
  auto hung = ProbeCommand({"/bin/sleep", "30"}, start + 300ms);
  EXPECT_EQ(hung.reason,
            "`/bin/sleep 30` did not finish within 300 ms (killed)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// Where the stack does not run (no active marker) a service that does not
// serve is on standby, not down; with the marker the same check fails.
TEST(ProfileTest, StandbyWithoutTheActiveMarker) {
  TempDir dir;
  ServiceSpec spec;
  spec.name = "postfix";
  spec.check = "smtp";
  spec.port = ehabus::testing::FreePort();  // nothing listens there
  ServiceCheckSettings settings;
  settings.active_marker = dir.path() + "/stack-active";
  auto check = MakeServiceCheck(spec, settings);
  auto standby = check.run(std::chrono::steady_clock::now() + 2s);
  EXPECT_TRUE(standby.ok) << standby.reason;
  EXPECT_EQ(standby.data.value("standby", false), true);
  std::string refused = "smtp 127.0.0.1:" + std::to_string(spec.port) +
                        ": connect: Connection refused";
  EXPECT_EQ(standby.reason,
            "standby (the stack runs on another node): " + refused);
  dir.Write("stack-active", "");
  auto down = check.run(std::chrono::steady_clock::now() + 2s);
  EXPECT_FALSE(down.ok);
  EXPECT_EQ(down.reason, refused);
  EXPECT_FALSE(down.data.contains("standby"));
}

// The daemon as operators run it: its own process, a real broker, a real
// memcached, a watch list edited while it runs.
TEST(SensorServiceTest, WatchesKillsAndWatchListEdits) {
  if (access("/usr/bin/memcached", X_OK) != 0)
    GTEST_SKIP() << "memcached is not installed";
  ehabus::testing::Memcached memcached;
  ASSERT_TRUE(memcached.Start());
  int port = memcached.port();
  ehabus::testing::FakeServer smtp([](int fd) {
    ehabus::testing::FakeServer::Send(fd, "220 fake ready\r\n");
    ehabus::testing::FakeServer::ReadLine(fd);
    ehabus::testing::FakeServer::Send(fd, "250 ok\r\n");
    ehabus::testing::FakeServer::ReadLine(fd);
  });

  BusFixture bus;
  auto profile = bus.dir() + "/profile.ini";
  std::ofstream(profile)
      << "[profile]\nname = test\n[service.memcached]\ncheck = memcached\nport "
         "= "
      << port << "\n[service.smtp]\ncheck = smtp\nport = " << smtp.port()
      << "\ndepends = memcached\n";
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.service]\nprofile = " << profile
      << "\nwatch_file = " << bus.dir()
      << "/watch.ini\ninterval = 200ms\ntimeout = 500ms\nfall = 2\nrise = 1\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"service.", "sensor."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  auto tail = bus.StartCli({"tail", "--topic", "service.memcached.down",
                            "--count", "1", "--timeout", "60s"});

  SpawnOptions sensor_options;
  sensor_options.argv = {EHABUS_SENSOR_SERVICE, "--config", bus.config_path()};
  sensor_options.output = SpawnOptions::Output::kFile;
  sensor_options.output_file = bus.dir() + "/sensor.log";
  auto sensor = Subprocess::Spawn(sensor_options);
  ASSERT_TRUE(sensor);

  auto expect = [&](const std::string& topic,
                    const std::string& prefix) -> std::optional<Delivery> {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto d = sub.Receive(100ms); d && d->event.topic == topic &&
                                       d->event.message.starts_with(prefix)) {
        return d;
      }
    }
    ADD_FAILURE() << "no " << topic << " \"" << prefix << "...\"";
    return std::nullopt;
  };
  auto watching =
      expect("sensor.service.watch", "watching memcached, smtp (profile test)");
  ASSERT_TRUE(watching);
  EXPECT_EQ(watching->event.data["written"], true);
  std::ifstream written(bus.dir() + "/watch.ini");
  std::string watch_text((std::istreambuf_iterator<char>(written)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(watch_text.find("[watch]\nmemcached = yes\nsmtp = yes\n"),
            std::string::npos)
      << watch_text;

  // Both services come up, in either order (independent checks).
  std::set<std::string> ups;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (ups.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto d = sub.Receive(100ms);
    if (d && d->event.topic == "service.memcached.up") {
      EXPECT_EQ(d->event.message, "memcached up: memcached 127.0.0.1:" +
                                      std::to_string(port) + " answers");
      ups.insert("memcached");
    }
    if (d && d->event.topic == "service.smtp.up") ups.insert("smtp");
  }
  ASSERT_EQ(ups, (std::set<std::string>{"memcached", "smtp"}));

  memcached.Kill(SIGKILL);
  auto down =
      expect("service.memcached.down",
             "memcached down: memcached 127.0.0.1:" + std::to_string(port) +
                 ": connect: Connection refused");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->event.severity, Severity::kError);
  EXPECT_EQ(down->event.node, "testnode");
  EXPECT_EQ(down->event.source.component, "sensor-service");
  // `ehabus tail` in another process saw it too.
  ASSERT_TRUE(tail.Wait(20s));
  EXPECT_NE(
      tail.output().find("service.memcached.down memcached: memcached down"),
      std::string::npos)
      << tail.output();

  // Maintenance: take memcached out of the watch list; effect within a second.
  std::ofstream(bus.dir() + "/watch.ini")
      << "[watch]\nmemcached = no\nsmtp = yes\n";
  auto edited = std::chrono::steady_clock::now();
  // First the service's state says so, then the watch event.
  ASSERT_TRUE(expect("service.memcached", "not watched"));
  ASSERT_TRUE(expect(
      "sensor.service.watch",
      "watch list changed: now watching none; no longer watching memcached"));
  auto reacted = std::chrono::steady_clock::now() - edited;
  RecordProperty(
      "watch_edit_ms",
      static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(reacted)
              .count()));

  // A typo keeps the old list and says where it is.
  std::ofstream(bus.dir() + "/watch.ini")
      << "[watch]\nmemcahced = yes\nsmtp = yes\n";
  ASSERT_TRUE(
      expect("sensor.service.watch",
             "watch list not applied, still watching as before: " + bus.dir() +
                 "/watch.ini:2: [watch] memcahced: not a service of profile "
                 "\"test\""));

  sensor->Signal(SIGTERM);
  auto status = sensor->Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(DescribeWaitStatus(*status), "exit 0");
}

}  // namespace
}  // namespace ehabus::sensors
