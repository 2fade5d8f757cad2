#include "healers/plan.h"

#include <gtest/gtest.h>

#include "tests/testing/bus_fixture.h"

namespace ehabus::healers {
namespace {

using namespace std::chrono_literals;

Profile Eyou() {
  auto profile =
      LoadProfile(std::string(EHABUS_SOURCE_DIR) + "/etc/profiles/eyou.ini");
  EXPECT_TRUE(profile);
  return *profile;
}

std::map<std::string, bool> AllWatched(const Profile& profile) {
  std::map<std::string, bool> watched;
  for (const auto& s : profile.services) watched[s.name] = true;
  return watched;
}

using Names = std::vector<std::string>;

// The 2014 toolkit's rule: mysql fails -> stop everything that needs it,
// restart mysql, start them again.
TEST(PlanTest, EyouMysqlTakesItsDependentsAlong) {
  auto eyou = Eyou();
  auto plan = Plan(eyou, {"mysql"}, AllWatched(eyou));
  EXPECT_EQ(plan.roots, Names{"mysql"});
  EXPECT_EQ(plan.start,
            (Names{"mproxy", "memcache_fix", "memcache_hot", "memcache_session",
                   "gearman", "phpd", "smtp", "pop", "imap", "local", "remote",
                   "bounce", "mlist"}));
  EXPECT_EQ(plan.stop, Names(plan.start.rbegin(), plan.start.rend()));
  EXPECT_TRUE(plan.left_alone.empty());
  // Not touched: what does not need mysql.
  for (const auto& other : {"mysql_index", "mproxy_index", "httpd", "nginx"})
    EXPECT_FALSE(plan.Touched().contains(other)) << other;
}

TEST(PlanTest, EyouIndexAndLogChains) {
  auto eyou = Eyou();
  auto plan = Plan(eyou, {"mysql_index"}, AllWatched(eyou));
  EXPECT_EQ(plan.start, Names{"mproxy_index"});
  plan = Plan(eyou, {"gearman"}, AllWatched(eyou));
  EXPECT_EQ(plan.start, Names{"phpd"});
  plan = Plan(eyou, {"mproxy"}, AllWatched(eyou));
  EXPECT_EQ(plan.start, (Names{"smtp", "pop", "imap", "local", "remote",
                               "bounce", "mlist"}));
}

TEST(PlanTest, FailuresTogetherAreOneHealingFromTheirRoots) {
  auto eyou = Eyou();
  // mysql and two of its dependents reported down at once: mysql is the
  // root; the others are healed as its dependents. An unrelated failure is
  // a second root of the same healing.
  auto plan =
      Plan(eyou, {"smtp", "mysql", "mproxy", "httpd"}, AllWatched(eyou));
  EXPECT_EQ(plan.roots, (Names{"mysql", "httpd"}));
  EXPECT_TRUE(plan.Touched().contains("smtp"));
}

TEST(PlanTest, UnwatchedServicesAreNeverTouched) {
  auto eyou = Eyou();
  auto watched = AllWatched(eyou);
  watched["smtp"] = false;  // maintenance
  watched.erase("mlist");   // not in the list at all
  auto plan = Plan(eyou, {"mproxy"}, watched);
  EXPECT_EQ(plan.start, (Names{"pop", "imap", "local", "remote", "bounce"}));
  EXPECT_EQ(plan.left_alone, (Names{"smtp", "mlist"}));
  watched["mproxy"] = false;
  plan = Plan(eyou, {"mproxy"}, watched);
  EXPECT_TRUE(plan.roots.empty()) << "a failed service in maintenance";
}

TEST(PlanTest, PostfixDovecotProfile) {
  auto profile = LoadProfile(std::string(EHABUS_SOURCE_DIR) +
                             "/etc/profiles/postfix-dovecot.ini");
  ASSERT_TRUE(profile);
  auto plan = Plan(*profile, {"mariadb"}, AllWatched(*profile));
  EXPECT_EQ(plan.start,
            (Names{"postfix", "dovecot", "dovecot_lmtp", "dovecot_pop3"}));
  EXPECT_EQ(plan.stop,
            (Names{"dovecot_pop3", "dovecot_lmtp", "dovecot", "postfix"}));
}

TEST(PlanTest, ControlCommandsFromServiceUnitOrProfile) {
  auto eyou = Eyou();
  EXPECT_EQ(
      ControlCommand(eyou, *eyou.Find("mproxy"), true),
      (Names{"/usr/local/eyou/mail/app/sbin/eyou_mail", "start", "mproxy"}));
  EXPECT_EQ(ControlCommand(eyou, *eyou.Find("smtp"), false),
            (Names{"/usr/local/eyou/mail/app/sbin/eyou_mail", "stop", "smtp"}));
  auto profile = LoadProfile(std::string(EHABUS_SOURCE_DIR) +
                             "/etc/profiles/postfix-dovecot.ini");
  EXPECT_EQ(ControlCommand(*profile, *profile->Find("postfix"), true),
            (Names{"systemctl", "start", "postfix.service"}));
}

TEST(BudgetTest, SpentWithinTheWindowAndBackoffDoubles) {
  RestartBudget budget(3, 10min, 5s, 12s);
  auto t0 = RestartBudget::Clock::time_point{} + 1h;
  EXPECT_TRUE(budget.Allows("mysql", t0));
  EXPECT_EQ(budget.Backoff("mysql", t0), 0ms);
  budget.Record("mysql", t0);
  EXPECT_EQ(budget.Backoff("mysql", t0 + 1s), 4s);
  budget.Record("mysql", t0 + 5s);
  EXPECT_EQ(budget.Backoff("mysql", t0 + 5s), 10s);
  budget.Record("mysql", t0 + 20s);
  EXPECT_EQ(budget.Backoff("mysql", t0 + 20s), 12s) << "capped";
  EXPECT_FALSE(budget.Allows("mysql", t0 + 30s));
  EXPECT_TRUE(budget.Allows("smtp", t0 + 30s)) << "per service";
  EXPECT_TRUE(budget.Allows("mysql", t0 + 11min)) << "the window moved on";
}

}  // namespace
}  // namespace ehabus::healers
