// The MariaDB probe against a real mariadbd on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "sensors/mysql_probe.h"
#include "sensors/service.h"
#include "tests/testing/daemons.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;

TEST(MysqlProbeTest, RealMariaDb) {
  if (access("/usr/sbin/mariadbd", X_OK) != 0)
    GTEST_SKIP() << "mariadb-server is not installed";
  ehabus::testing::MariaDb db;
  ASSERT_TRUE(db.Start()) << db.Log();
  std::string label = "mysql 127.0.0.1:" + std::to_string(db.port());
  MysqlOptions options;
  options.port = db.port();
  auto ok = ProbeMysql(options, std::chrono::steady_clock::now() + 5s);
  EXPECT_TRUE(ok.ok) << ok.reason;
  EXPECT_EQ(ok.reason, label + " answers");
  EXPECT_TRUE(ok.data["server"].get<std::string>().find("MariaDB") !=
              std::string::npos)
      << ok.data;

  // The heartbeat row: written, read back, table created on first use.
  options.heartbeat_table = "ehabus.heartbeat";
  options.node = "node1";
  for (int i = 0; i < 2; ++i) {
    auto beat = ProbeMysql(options, std::chrono::steady_clock::now() + 5s);
    EXPECT_TRUE(beat.ok) << beat.reason;
  }
  options.heartbeat_table = "ehabus.heartbeat; DROP TABLE x";
  EXPECT_EQ(ProbeMysql(options, std::chrono::steady_clock::now() + 5s).reason,
            label +
                ": heartbeat table \"ehabus.heartbeat; DROP TABLE x\" is not "
                "db.table");
  options.heartbeat_table.clear();

  options.password = "wrong";
  auto denied = ProbeMysql(options, std::chrono::steady_clock::now() + 5s);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.reason,
            label +
                ": connect: \"Access denied for user 'root'@'localhost' (using "
                "password: YES)\" (1045)");
  EXPECT_EQ(denied.reason.find("wrong"), std::string::npos)
      << "never the password";
  options.password.clear();

  // The process as the pid file names it.
  auto process = ProbeProcess(db.pidfile(), "mariadbd");
  EXPECT_TRUE(process.ok) << process.reason;

  db.Kill(SIGKILL);
  auto down = ProbeMysql(options, std::chrono::steady_clock::now() + 5s);
  EXPECT_FALSE(down.ok);
  // libmariadb's own words (its non-blocking connect reports errno 115).
  EXPECT_TRUE(down.reason.starts_with(
      label + ": connect: \"Can't connect to server on '127.0.0.1' ("))
      << down.reason;
  EXPECT_TRUE(down.reason.ends_with("\" (2002)")) << down.reason;
  EXPECT_FALSE(ProbeProcess(db.pidfile(), "mariadbd").ok);
}

// A profile's `check = mysql` runs this probe (logs in, queries, writes
// the heartbeat row), not a bare connect: a wrong password fails it.
TEST(MysqlProbeTest, ServiceCheckLogsIn) {
  if (access("/usr/sbin/mariadbd", X_OK) != 0)
    GTEST_SKIP() << "mariadb-server is not installed";
  ehabus::testing::MariaDb db;
  ASSERT_TRUE(db.Start()) << db.Log();
  ServiceSpec spec;
  spec.name = "mariadb";
  spec.check = "mysql";
  spec.port = db.port();
  spec.heartbeat_table = "ehabus.heartbeat";
  ServiceCheckSettings settings;
  settings.helo = "node1";
  auto check = MakeServiceCheck(spec, settings);
  std::string label = "mysql 127.0.0.1:" + std::to_string(db.port());
  auto ok = check.run(std::chrono::steady_clock::now() + 5s);
  EXPECT_TRUE(ok.ok) << ok.reason;
  EXPECT_EQ(ok.reason, label + " answers");

  settings.mysql.password = "wrong";
  auto denied = MakeServiceCheck(spec, settings)
                    .run(std::chrono::steady_clock::now() + 5s);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.reason,
            label +
                ": connect: \"Access denied for user 'root'@'localhost' (using "
                "password: YES)\" (1045)");
}

}  // namespace
}  // namespace ehabus::sensors
