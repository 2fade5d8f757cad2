#include <gtest/gtest.h>

#include "healers/failover.h"

namespace ehabus::healers {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Event State(const std::string& topic, const std::string& health,
            const std::string& reason = "r") {
  Event e;
  e.topic = topic;
  e.kind = Kind::kState;
  e.data = {{"health", health}, {"reason", reason}};
  return e;
}

TEST(FailoverPolicyTest, TheOldTable) {
  FailoverPolicy policy({});
  auto now = Clock::now();
  EXPECT_FALSE(policy.red());
  // Storage healthy: a heartbeat loss alone moves nothing.
  policy.OnEvent(State("storage.mail", "up"), now);
  auto changes = policy.OnEvent(
      State("heartbeat.links", "down", "link 1 disconnected"), now);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].cause.policy, Policy::kNothing);
  EXPECT_FALSE(policy.red());
  // The gateway lost: fail over; back: green.
  policy.OnEvent(State("network.targets", "down", "0 of 1 targets answer"),
                 now);
  EXPECT_TRUE(policy.red());
  EXPECT_EQ(policy.Summary(),
            "heartbeat links (nothing): link 1 disconnected; network gateway "
            "(failover): 0 of 1 targets answer");
  changes = policy.OnEvent(State("network.targets", "up"), now);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kRemoved);
  EXPECT_FALSE(policy.red());
  // Storage lost: fail over; its .down event is not a state, ignored.
  Event down_event = State("storage.mail.down", "down");
  down_event.kind = Kind::kEvent;
  EXPECT_TRUE(policy.OnEvent(down_event, now).empty());
  policy.OnEvent(State("storage.mail", "down", "hung"), now);
  EXPECT_TRUE(policy.red());
  EXPECT_FALSE(policy.storage_healthy());
  policy.OnEvent(State("storage.mail", "up"), now);
  EXPECT_FALSE(policy.red());
}

TEST(FailoverPolicyTest, SpentBudgetUntilServingOrHoldExpires) {
  FailoverSettings settings;
  settings.budget_hold = 10min;
  FailoverPolicy policy(settings);
  auto now = Clock::now();
  Event escalated;
  escalated.topic = "healing.postfix.escalated";
  escalated.subject = "postfix";
  escalated.message = "postfix failed again";
  policy.OnEvent(escalated, now);
  EXPECT_TRUE(policy.red());
  EXPECT_TRUE(policy.Expire(now + 9min).empty());
  EXPECT_EQ(policy.Expire(now + 10min).size(), 1u);
  EXPECT_FALSE(policy.red());
  policy.OnEvent(escalated, now);
  policy.OnEvent(State("service.postfix", "down"), now);
  EXPECT_TRUE(policy.red());
  policy.OnEvent(State("service.postfix", "up"), now);
  EXPECT_FALSE(policy.red()) << "serving here again";
}

TEST(FailoverPolicyTest, PoliciesFromTheConfig) {
  auto config = Config::LoadText(
      "[healer.failover]\non_network_lost = notify\n"
      "on_heartbeat_lost = failover\n",
      "ehabus.ini");
  ASSERT_TRUE(config);
  FailoverPolicy policy(FailoverSettingsFrom(*config));
  auto now = Clock::now();
  policy.OnEvent(State("network.targets", "down"), now);
  EXPECT_FALSE(policy.red()) << "notify only";
  // Heartbeat lost while storage is NOT healthy: the configured policy.
  policy.OnEvent(State("storage.mail", "down"), now);
  policy.OnEvent(State("storage.mail", "up"), now);
  policy.OnEvent(State("storage.queue", "down"), now);
  policy.OnEvent(State("heartbeat.corosync", "down"), now);
  EXPECT_EQ(policy.causes().at("heartbeat.corosync").policy, Policy::kFailover);
  auto bad = Config::LoadText("[healer.failover]\non_storage_lost = maybe\n",
                              "ehabus.ini");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error()[0].ToString(),
            "ehabus.ini:2: [healer.failover] on_storage_lost: expected one of "
            "failover, notify, nothing, got \"maybe\"");
}

}  // namespace
}  // namespace ehabus::healers
