#include "sensors/probe.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/subprocess.h"
#include "tests/sensors/fake_server.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/daemons.h"

namespace ehabus::sensors {
namespace {

using testing::FakeServer;
using namespace std::chrono_literals;

ProbeResult ProbeNow(Protocol protocol, int port,
                     std::chrono::milliseconds budget = 2000ms,
                     ProbeOptions options = {}) {
  options.protocol = protocol;
  options.port = port;
  return Probe(options, std::chrono::steady_clock::now() + budget);
}

std::string Where(Protocol protocol, int port) {
  return std::string(ToString(protocol)) + " 127.0.0.1:" + std::to_string(port);
}

// A well-behaved SMTP or LMTP dialogue, multi-line replies included.
void GoodSmtp(int fd) {
  FakeServer::Send(fd, "220-mail.example ESMTP\r\n220 ready\r\n");
  auto hello = FakeServer::ReadLine(fd);
  if (hello.starts_with("EHLO ") || hello.starts_with("LHLO ")) {
    FakeServer::Send(fd,
                     "250-mail.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  } else {
    FakeServer::Send(fd, "500 what?\r\n");
  }
  if (FakeServer::ReadLine(fd) == "QUIT") FakeServer::Send(fd, "221 bye\r\n");
}

TEST(ProbeTest, SmtpAnswering) {
  FakeServer server(GoodSmtp);
  auto r = ProbeNow(Protocol::kSmtp, server.port());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.reason, Where(Protocol::kSmtp, server.port()) + " answers");
  EXPECT_EQ(r.data["greeting"], "220-mail.example ESMTP");
  EXPECT_GT(r.latency.count(), 0);
}

TEST(ProbeTest, LmtpSaysLhlo) {
  std::string seen;
  FakeServer server([&seen](int fd) {
    FakeServer::Send(fd, "220 lmtp ready\r\n");
    seen = FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "250 ok\r\n");
  });
  ProbeOptions options;
  options.helo = "node1";
  auto r = ProbeNow(Protocol::kLmtp, server.port(), 2000ms, options);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(seen, "LHLO node1");
}

TEST(ProbeTest, SmtpGreeting421IsAFailureQuotingTheServer) {
  FakeServer server(
      [](int fd) { FakeServer::Send(fd, "421 4.3.2 shutting down\r\n"); });
  auto r = ProbeNow(Protocol::kSmtp, server.port());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, Where(Protocol::kSmtp, server.port()) +
                          ": \"421 4.3.2 shutting down\" in greeting");
}

TEST(ProbeTest, Smtp554ToEhlo) {
  FakeServer server([](int fd) {
    FakeServer::Send(fd, "220 ready\r\n");
    FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "554 5.7.1 no service for you\r\n");
  });
  auto r = ProbeNow(Protocol::kSmtp, server.port());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, Where(Protocol::kSmtp, server.port()) +
                          ": \"554 5.7.1 no service for you\" after EHLO");
}

TEST(ProbeTest, SilentAfterAcceptEndsAtTheDeadline) {
  FakeServer server(FakeServer::Hold);
  auto start = std::chrono::steady_clock::now();
  auto r = ProbeNow(Protocol::kSmtp, server.port(), 300ms);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, Where(Protocol::kSmtp, server.port()) +
                          ": no reply within 300 ms (silent) after connect");
  EXPECT_LT(took, 5s) << "the probe outlived its deadline by far";
}

TEST(ProbeTest, TrickleIsCaughtByTheDeadline) {
  FakeServer server([](int fd) {
    for (char c : std::string("220 slow banner\r\n")) {
      FakeServer::Send(fd, std::string(1, c));
      std::this_thread::sleep_for(100ms);
    }
    FakeServer::Hold(fd);
  });
  auto r = ProbeNow(Protocol::kSmtp, server.port(), 350ms);
  EXPECT_FALSE(r.ok);
  std::string prefix = Where(Protocol::kSmtp, server.port()) + ": ";
  EXPECT_TRUE(r.reason.starts_with(prefix)) << r.reason;
  EXPECT_NE(r.reason.find(" bytes in 350 ms, no full line: \"2"),
            std::string::npos)
      << r.reason;
  EXPECT_TRUE(r.reason.ends_with("\" after connect")) << r.reason;
}

TEST(ProbeTest, ResetByPeer) {
  FakeServer server([](int fd) {
    linger hard{1, 0};  // close with RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  });
  auto r = ProbeNow(Protocol::kImap, server.port());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, Where(Protocol::kImap, server.port()) +
                          ": connection reset after connect");
}

TEST(ProbeTest, RefusedAndNonNumericHost) {
  int port = 0;
  {
    FakeServer closed([](int) {});
    port = closed.port();
  }
  auto refused = ProbeNow(Protocol::kTcp, port);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.reason,
            Where(Protocol::kTcp, port) + ": connect: Connection refused");

  ProbeOptions named;
  named.host = "mail.example.org";
  auto r = ProbeNow(Protocol::kSmtp, 25, 2000ms, named);
  EXPECT_EQ(
      r.reason,
      "smtp mail.example.org:25: not a numeric address: \"mail.example.org\"");
}

void Imap(int fd, bool login_ok) {
  FakeServer::Send(fd, "* OK [CAPABILITY IMAP4rev1] ready\r\n");
  while (true) {
    auto line = FakeServer::ReadLine(fd);
    if (line.empty()) return;
    auto tag = line.substr(0, line.find(' '));
    if (line.find("CAPABILITY") != std::string::npos) {
      FakeServer::Send(fd, "* CAPABILITY IMAP4rev1\r\n" + tag + " OK done\r\n");
    } else if (line.find("LOGIN") != std::string::npos) {
      FakeServer::Send(
          fd, tag + (login_ok ? " OK logged in\r\n"
                              : " NO [AUTHENTICATIONFAILED] failed\r\n"));
    } else if (line.find("SELECT") != std::string::npos) {
      FakeServer::Send(
          fd, "* 3 EXISTS\r\n" + tag + " OK [READ-WRITE] selected\r\n");
    } else {
      FakeServer::Send(fd, "* BYE\r\n" + tag + " OK bye\r\n");
      return;
    }
  }
}

TEST(ProbeTest, ImapWithCanaryLogin) {
  FakeServer good([](int fd) { Imap(fd, true); });
  ProbeOptions options;
  options.canary = Credentials{"canary@example.org", "s3cret"};
  auto ok = ProbeNow(Protocol::kImap, good.port(), 2000ms, options);
  EXPECT_TRUE(ok.ok) << ok.reason;

  FakeServer bad([](int fd) { Imap(fd, false); });
  auto failed = ProbeNow(Protocol::kImap, bad.port(), 2000ms, options);
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.reason,
            Where(Protocol::kImap, bad.port()) +
                ": \"a2 NO [AUTHENTICATIONFAILED] failed\" after LOGIN");
  EXPECT_EQ(failed.reason.find("s3cret"), std::string::npos)
      << "a reason must never hold the password";
}

TEST(ProbeTest, ImapByeGreeting) {
  FakeServer server(
      [](int fd) { FakeServer::Send(fd, "* BYE too many connections\r\n"); });
  auto r = ProbeNow(Protocol::kImap, server.port());
  EXPECT_EQ(r.reason, Where(Protocol::kImap, server.port()) +
                          ": \"* BYE too many connections\" in greeting");
}

TEST(ProbeTest, Pop3GoodAndRefusingCapa) {
  FakeServer good([](int fd) {
    FakeServer::Send(fd, "+OK POP3 ready\r\n");
    FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "+OK\r\nUSER\r\nUIDL\r\n.\r\n");
    FakeServer::ReadLine(fd);
  });
  auto ok = ProbeNow(Protocol::kPop3, good.port());
  EXPECT_TRUE(ok.ok) << ok.reason;
  FakeServer bad([](int fd) {
    FakeServer::Send(fd, "+OK POP3 ready\r\n");
    FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "-ERR [SYS/TEMP] storage unavailable\r\n");
  });
  auto failed = ProbeNow(Protocol::kPop3, bad.port());
  EXPECT_EQ(failed.reason,
            Where(Protocol::kPop3, bad.port()) +
                ": \"-ERR [SYS/TEMP] storage unavailable\" after CAPA");
}

TEST(ProbeTest, HttpStatusAndBody) {
  auto serve = [](std::string response) {
    return [response](int fd) {
      while (!FakeServer::ReadLine(fd).empty()) {
      }
      FakeServer::Send(fd, response);
    };
  };
  FakeServer unavailable(serve("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
  auto r503 = ProbeNow(Protocol::kHttp, unavailable.port());
  EXPECT_EQ(r503.reason,
            Where(Protocol::kHttp, unavailable.port()) +
                ": \"HTTP/1.1 503 Service Unavailable\" after GET /");

  FakeServer page(
      serve("HTTP/1.1 200 OK\r\nContent-Type: "
            "text/html\r\n\r\n<title>webmail</title>"));
  ProbeOptions options;
  options.http_expect = "webmail";
  EXPECT_TRUE(ProbeNow(Protocol::kHttp, page.port(), 2000ms, options).ok);
  options.http_expect = "roundcube";
  EXPECT_EQ(ProbeNow(Protocol::kHttp, page.port(), 2000ms, options).reason,
            Where(Protocol::kHttp, page.port()) +
                ": body lacks \"roundcube\" after GET /");
}

// A real memcached, started by the test on a loopback port of its own.
TEST(ProbeTest, RealMemcached) {
  if (access("/usr/bin/memcached", X_OK) != 0)
    GTEST_SKIP() << "memcached is not installed";
  ehabus::testing::Memcached memcached;
  ASSERT_TRUE(memcached.Start());
  int port = memcached.port();
  ProbeOptions options;
  options.memcached_write = true;
  auto r = ProbeNow(Protocol::kMemcached, port, 2000ms, options);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.data["version"].get<std::string>().starts_with("1.")) << r.data;

  memcached.Kill(SIGKILL);
  auto down = ProbeNow(Protocol::kMemcached, port);
  EXPECT_EQ(down.reason, Where(Protocol::kMemcached, port) +
                             ": connect: Connection refused");
}

TEST(ProbeTest, ProcessFromPidFile) {
  ehabus::testing::TempDir dir;
  SpawnOptions spawn;
  spawn.argv = {"/bin/sleep", "60"};
  auto sleeper = Subprocess::Spawn(spawn);
  ASSERT_TRUE(sleeper);
  auto pidfile = dir.Write("sleep.pid", std::to_string(sleeper->pid()) + "\n");
  auto r = ProbeProcess(pidfile, "sleep");
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.reason,
            "process sleep[" + std::to_string(sleeper->pid()) + "] running");
  auto stale = ProbeProcess(pidfile, "master");
  EXPECT_EQ(stale.reason, "pid " + std::to_string(sleeper->pid()) + " from " +
                              pidfile +
                              " is \"sleep\", not \"master\" (stale pid file)");
  sleeper->Stop(1s);
  auto gone = ProbeProcess(pidfile, "sleep");
  EXPECT_FALSE(gone.ok);
  EXPECT_EQ(ProbeProcess(dir.path() + "/none.pid", "").reason,
            "process: pid file " + dir.path() +
                "/none.pid: No such file or directory");
  auto empty = dir.Write("empty.pid", "");
  EXPECT_EQ(ProbeProcess(empty, "").reason,
            "process: pid file " + empty + " holds no pid");
}

}  // namespace
}  // namespace ehabus::sensors

namespace ehabus::sensors {
namespace {

TEST(ProbeTest, StartTlsNotOffered) {
  FakeServer server(GoodSmtp);
  ProbeOptions options;
  options.starttls = true;
  auto r = ProbeNow(Protocol::kSmtp, server.port(), 2000ms, options);
  EXPECT_EQ(r.reason, Where(Protocol::kSmtp, server.port()) +
                          ": no STARTTLS offered after EHLO");
}

TEST(ProbeTest, TlsHandshakeFailure) {
  // FAKE: offers STARTTLS, says 220, then speaks plain text instead of TLS.
  FakeServer server([](int fd) {
    FakeServer::Send(fd, "220 ready\r\n");
    FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "250-mail\r\n250 STARTTLS\r\n");
    FakeServer::ReadLine(fd);
    FakeServer::Send(fd, "220 go ahead\r\n");
    FakeServer::Send(fd, "this is not a TLS server hello at all\r\n");
    FakeServer::Hold(fd);
  });
  ProbeOptions options;
  options.starttls = true;
  auto r = ProbeNow(Protocol::kSmtp, server.port(), 2000ms, options);
  EXPECT_FALSE(r.ok);
  std::string prefix =
      Where(Protocol::kSmtp, server.port()) + ": TLS handshake failed: error:";
  EXPECT_TRUE(r.reason.starts_with(prefix)) << r.reason;
  EXPECT_TRUE(r.reason.ends_with(" after STARTTLS")) << r.reason;
}

TEST(ProbeTest, StartTlsAgainstRealPostfix) {
  if (access("/usr/sbin/postfix", X_OK) != 0)
    GTEST_SKIP() << "postfix is not installed";
  ehabus::testing::TempDir certs;
  chmod(certs.path().c_str(), 0755);
  auto made = ehabus::testing::Run(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
       "-subj", "/CN=mail.ehabus.test", "-days", "1", "-keyout",
       certs.path() + "/key.pem", "-out", certs.path() + "/cert.pem"});
  ASSERT_EQ(made.exit_code(), 0) << made.output;
  chmod((certs.path() + "/key.pem").c_str(), 0644);
  ehabus::testing::Postfix postfix(
      "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = " + certs.path() +
      "/cert.pem\nsmtpd_tls_key_file = " + certs.path() + "/key.pem\n");
  ASSERT_TRUE(postfix.Start()) << postfix.Log();
  ProbeOptions options;
  options.starttls = true;
  auto r = ProbeNow(Protocol::kSmtp, postfix.smtp_port(), 5000ms, options);
  EXPECT_TRUE(r.ok) << r.reason << "\n" << postfix.Log();
  EXPECT_TRUE(r.data["tls"].get<std::string>().starts_with("TLSv1.")) << r.data;
}

}  // namespace
}  // namespace ehabus::sensors
