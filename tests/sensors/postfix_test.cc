// The SMTP and process probes against a real Postfix on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "sensors/probe.h"
#include "tests/testing/daemons.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;

TEST(PostfixProbeTest, RealPostfix) {
  if (access("/usr/sbin/postfix", X_OK) != 0)
    GTEST_SKIP() << "postfix is not installed";
  ehabus::testing::Postfix postfix;
  ASSERT_TRUE(postfix.Start()) << postfix.Log();
  ProbeOptions options;
  options.protocol = Protocol::kSmtp;
  options.port = postfix.smtp_port();
  auto smtp = Probe(options, std::chrono::steady_clock::now() + 5s);
  EXPECT_TRUE(smtp.ok) << smtp.reason << "\n" << postfix.Log();
  EXPECT_EQ(smtp.data["greeting"], "220 mail.ehabus.test ESMTP Postfix");

  auto process = ProbeProcess(postfix.pidfile(), "master");
  EXPECT_TRUE(process.ok) << process.reason;

  // kill -9 of the master: the process probe says so at once, whatever the
  // smtpd children still do.
  postfix.Kill(SIGKILL);
  EXPECT_TRUE(ehabus::testing::WaitUntil(
      [&] { return !ProbeProcess(postfix.pidfile(), "master").ok; }, 10s));
  auto dead = ProbeProcess(postfix.pidfile(), "master");
  EXPECT_TRUE(dead.reason.ends_with(" is not running") ||
              dead.reason.ends_with(" is a zombie"))
      << dead.reason;
  auto start = std::chrono::steady_clock::now();
  bool closed = ehabus::testing::WaitUntil(
      [&] { return !Probe(options, std::chrono::steady_clock::now() + 1s).ok; },
      10s);
  RecordProperty(
      "smtp_closed_after_master_kill_ms",
      closed ? static_cast<int>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count())
             : -1);
}

}  // namespace
}  // namespace ehabus::sensors
