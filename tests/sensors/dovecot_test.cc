// IMAP, POP3 and LMTP probes against a real Dovecot on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "sensors/probe.h"
#include "tests/testing/daemons.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;

ProbeResult Ask(Protocol protocol, int port,
                std::optional<Credentials> canary = std::nullopt) {
  ProbeOptions options;
  options.protocol = protocol;
  options.port = port;
  options.canary = std::move(canary);
  return Probe(options, std::chrono::steady_clock::now() + 5s);
}

TEST(DovecotProbeTest, RealDovecot) {
  if (access("/usr/sbin/dovecot", X_OK) != 0)
    GTEST_SKIP() << "dovecot is not installed";
  ehabus::testing::Dovecot dovecot;
  ASSERT_TRUE(dovecot.Start()) << dovecot.Log();

  auto imap = Ask(Protocol::kImap, dovecot.imap_port());
  EXPECT_TRUE(imap.ok) << imap.reason;
  EXPECT_TRUE(imap.data["greeting"].get<std::string>().starts_with("* OK"))
      << imap.data;
  auto login = Ask(Protocol::kImap, dovecot.imap_port(),
                   Credentials{"canary@test", "s3cret"});
  EXPECT_TRUE(login.ok) << login.reason << "\n" << dovecot.Log();
  auto pop3 = Ask(Protocol::kPop3, dovecot.pop3_port(),
                  Credentials{"canary@test", "s3cret"});
  EXPECT_TRUE(pop3.ok) << pop3.reason << "\n" << dovecot.Log();
  auto lmtp = Ask(Protocol::kLmtp, dovecot.lmtp_port());
  EXPECT_TRUE(lmtp.ok) << lmtp.reason;

  auto denied = Ask(Protocol::kImap, dovecot.imap_port(),
                    Credentials{"canary@test", "wrong"});
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.reason,
            "imap 127.0.0.1:" + std::to_string(dovecot.imap_port()) +
                ": \"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\" "
                "after LOGIN");
  auto pop3_denied = Ask(Protocol::kPop3, dovecot.pop3_port(),
                         Credentials{"canary@test", "wrong"});
  EXPECT_FALSE(pop3_denied.ok);
  EXPECT_TRUE(pop3_denied.reason.ends_with("after PASS")) << pop3_denied.reason;

  EXPECT_TRUE(ProbeProcess(dovecot.pidfile(), "dovecot").ok);
  dovecot.Kill(SIGKILL);
  // The login processes notice their master is gone and close the listeners.
  EXPECT_TRUE(ehabus::testing::WaitUntil(
      [&] { return !Ask(Protocol::kImap, dovecot.imap_port()).ok; }, 20s));
  EXPECT_FALSE(ProbeProcess(dovecot.pidfile(), "dovecot").ok);
}

}  // namespace
}  // namespace ehabus::sensors
