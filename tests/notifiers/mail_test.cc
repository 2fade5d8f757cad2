// The notifiers against a real relay: Postfix on loopback with STARTTLS and
// AUTH (SASL from a real Dovecot), delivering over LMTP to the Dovecot
// mailbox this test reads. FAKE only for what Postfix will not do on cue:
// a relay that answers 554.
#include "notifiers/mail.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "notifiers/render.h"
#include "tests/sensors/fake_server.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/daemons.h"
#include "tests/testing/stack.h"

namespace ehabus::notifiers {
namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Mails(const std::string& maildir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* sub : {"/new", "/cur"}) {
    for (const auto& f :
         std::filesystem::directory_iterator(maildir + sub, ec)) {
      std::ifstream in(f.path());
      out.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
    }
  }
  return out;
}

// The body of a mail we sent: base64 after the headers.
std::string Body(const std::string& mail) {
  auto at = mail.find("\n\n");
  if (at == std::string::npos) at = mail.find("\r\n\r\n");
  std::string b64;
  for (char c : mail.substr(at)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' ||
        c == '=')
      b64 += c;
  }
  std::string out;
  int val = 0, bits = -8;
  for (char c : b64) {
    if (c == '=') break;
    const char* table =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    val = (val << 6) + static_cast<int>(std::strchr(table, c) - table);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

class Relay {
 public:
  Relay() {
    chmod(certs_.path().c_str(), 0755);
    auto made = et::Run({"/usr/bin/openssl", "req", "-x509", "-newkey",
                         "rsa:2048", "-nodes", "-subj", "/CN=relay.ehabus.test",
                         "-days", "1", "-keyout", certs_.path() + "/key.pem",
                         "-out", certs_.path() + "/cert.pem"});
    EXPECT_EQ(made.exit_code(), 0) << made.output;
    chmod((certs_.path() + "/key.pem").c_str(), 0644);
    postfix_.emplace(
        "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = " +
        certs_.path() + "/cert.pem\nsmtpd_tls_key_file = " + certs_.path() +
        "/key.pem\nsmtpd_tls_auth_only = yes\nsmtpd_sasl_auth_enable = yes\n"
        "smtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:127.0.0.1:" +
        std::to_string(dovecot_.auth_port()) +
        "\nsmtpd_recipient_restrictions = permit_sasl_authenticated, reject\n"
        "virtual_mailbox_domains = test\nvirtual_transport = "
        "lmtp:inet:127.0.0.1:" +
        std::to_string(dovecot_.lmtp_port()) + "\n");
  }
  bool Start() { return dovecot_.Start() && postfix_->Start(); }
  MailSettings Settings() const {
    MailSettings s;
    s.relay = "127.0.0.1:" + std::to_string(postfix_->smtp_port());
    s.starttls = MailSettings::Tls::kRequired;
    s.user = "canary@test";
    s.password = "s3cret";
    s.from = "ehabus@node1.test";
    s.to = {"canary@test"};
    s.timeout = 30s;  // dovecot auth answers slowly under a loaded ASan run
    return s;
  }
  std::vector<std::string> Mail() const { return Mails(dovecot_.maildir()); }
  bool WaitMails(std::size_t n, std::chrono::milliseconds timeout) const {
    return et::WaitUntil([&] { return Mail().size() >= n; }, timeout);
  }
  et::Postfix& postfix() { return *postfix_; }
  std::string Log() const { return postfix_->Log() + dovecot_.Log(); }

 private:
  et::TempDir certs_;
  et::Dovecot dovecot_;
  std::optional<et::Postfix> postfix_;
};

TEST(MailTest, StartTlsAndAuthToARealRelayIntoAMailbox) {
  if (geteuid() != 0) GTEST_SKIP() << "postfix runs as root";
  Relay relay;
  ASSERT_TRUE(relay.Start()) << relay.Log();
  MailText text{"[ehabus] ACME node1: service.mariadb healed\r\nBcc: x@test",
                "mariadb down, healed.\n"};
  auto result = SendMail(
      relay.Settings(),
      BuildMessage("ehabus@node1.test", {"canary@test"}, text, "t1@node1"));
  EXPECT_TRUE(result.ok) << result.detail << "\n" << relay.Log();
  EXPECT_NE(result.detail.find(" 250 "), std::string::npos) << result.detail;
  ASSERT_TRUE(relay.WaitMails(1, 20s)) << relay.Log();
  auto mail = relay.Mail()[0];
  EXPECT_NE(mail.find("Subject: [ehabus] ACME node1: service.mariadb healed  "
                      "Bcc: x@test"),
            std::string::npos)
      << mail;
  EXPECT_EQ(Body(mail), "mariadb down, healed.\n");

  // A wrong password: 535, permanent, and said.
  auto bad = relay.Settings();
  bad.password = "wrong";
  result = SendMail(bad, BuildMessage("ehabus@node1.test", {"canary@test"},
                                      text, "t2@node1"));
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.detail.empty());
  // No TLS offered where it is required: not sent.
  ehabus::testing::FakeServer plain([](int fd) {
    ehabus::testing::FakeServer::Send(fd, "220 fake\r\n");
    ehabus::testing::FakeServer::ReadLine(fd);
    ehabus::testing::FakeServer::Send(fd, "250 fake\r\n");
    ehabus::testing::FakeServer::ReadLine(fd);
  });
  auto no_tls = relay.Settings();
  no_tls.relay = "127.0.0.1:" + std::to_string(plain.port());
  no_tls.timeout = 2s;
  result = SendMail(no_tls, "Subject: x\r\n\r\nx\r\n");
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.permanent);
}

// A notifier daemon on a real bus, in a fixture.
class NotifyDaemon {
 public:
  NotifyDaemon(et::BusFixture& bus, const std::string& section_text,
               const char* binary)
      : bus_(bus), binary_(binary) {
    std::ofstream(bus.config_path(), std::ios::app) << section_text;
  }
  void Start() {
    SpawnOptions o;
    o.argv = {binary_, "--config", bus_.config_path()};
    o.output = SpawnOptions::Output::kFile;
    o.output_file = bus_.dir() + "/notify.log";
    auto spawned = Subprocess::Spawn(o);
    ASSERT_TRUE(spawned);
    process_.emplace(std::move(*spawned));
  }
  void Stop() {
    if (process_) process_->Stop(5s);
    process_.reset();
  }
  ~NotifyDaemon() { Stop(); }

 private:
  et::BusFixture& bus_;
  const char* binary_;
  std::optional<Subprocess> process_;
};

std::string MailSection(const Relay& relay, const std::string& spool,
                        const std::string& group_wait = "1s") {
  auto s = relay.Settings();
  return "[notify.mail]\nrelay = " + s.relay +
         "\nstarttls = required\nuser = canary@test\npassword_file = " + spool +
         ".password\nfrom = ehabus@node1.test\nto = canary@test\n"
         "customer = ACME\ntemplate_dir = " +
         std::string(EHABUS_SOURCE_DIR) + "/etc/notify\nspool_dir = " + spool +
         "\ngroup_wait = " + group_wait +
         "\nresolve_quiet = 2s\nretry = 500ms\nretry_max = 1s\ntimeout = 5s\n";
}

std::optional<Event> WaitTopic(Subscriber& sub, const std::string& topic,
                               std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  std::string seen;
  while (Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (d && d->event.topic == topic) return d->event;
    if (d) seen += d->event.topic + ": " + d->event.message + "\n";
  }
  ADD_FAILURE() << "no " << topic << "; seen instead:\n" << seen;
  return std::nullopt;
}

TEST(NotifyMailTest, RelayDownSpooledThenDeliveredExactlyOnceAcrossARestart) {
  if (geteuid() != 0) GTEST_SKIP() << "postfix runs as root";
  Relay relay;
  ASSERT_TRUE(relay.Start()) << relay.Log();
  et::BusFixture bus;
  std::string spool = bus.dir() + "/spool";
  std::ofstream(spool + ".password") << "s3cret\n";
  NotifyDaemon notifier(bus, MailSection(relay, spool), EHABUS_NOTIFY_MAIL);
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"notify."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  relay.postfix().Kill(SIGKILL);  // the relay is down
  ASSERT_TRUE(et::WaitUntil(
      [&] { return !et::Listening(relay.postfix().smtp_port()); }, 10s));
  notifier.Start();
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 2; }, 10s));
  // An incident that opens and resolves.
  for (auto [topic, severity, message] :
       {std::tuple{"service.memcached.down", "error", "memcached down"},
        std::tuple{"service.memcached.up", "notice", "memcached up"}}) {
    auto ran =
        bus.RunCli({"publish", "--severity", severity, "--subject", "memcached",
                    "--component", "sensor-service", topic, message});
    ASSERT_EQ(ran.exit_code(), 0) << ran.output;
  }
  auto retry = WaitTopic(sub, "notify.mail.retry", 20s);
  ASSERT_TRUE(retry) << et::Run({"cat", bus.dir() + "/notify.log"}).output;
  EXPECT_NE(retry->message.find("; spooled, next try in"), std::string::npos)
      << retry->message;
  // Restart the notifier while the notice waits in the spool.
  notifier.Stop();
  std::size_t spooled = 0;
  for (const auto& f : std::filesystem::directory_iterator(spool))
    spooled += f.path().extension() == ".json" &&
               !f.path().filename().string().starts_with("incident");
  EXPECT_GE(spooled, 1u);
  notifier.Start();
  ASSERT_TRUE(relay.postfix().Start()) << relay.Log();
  ASSERT_TRUE(relay.WaitMails(1, 30s)) << relay.Log();
  // Wait for the follow-up too, then make sure nothing comes twice.
  relay.WaitMails(2, 15s);
  std::this_thread::sleep_for(3s);
  auto mails = relay.Mail();
  std::set<std::string> ids;
  for (const auto& m : mails) {
    auto at = m.find("Message-ID: <");
    ids.insert(m.substr(at, m.find('>', at) - at));
  }
  EXPECT_EQ(ids.size(), mails.size()) << "no notice delivered twice";
  EXPECT_LE(mails.size(), 2u);
  EXPECT_NE(Body(mails[0]).find("memcached"), std::string::npos);
}

TEST(NotifyMailTest, RefusalIsReportedAndKept) {
  // FAKE relay: answers 554 to MAIL FROM (a real relay will not on cue).
  ehabus::testing::FakeServer refusing([](int fd) {
    using F = ehabus::testing::FakeServer;
    F::Send(fd, "220 fake\r\n");
    F::ReadLine(fd);
    F::Send(fd, "250 fake\r\n");
    F::ReadLine(fd);
    F::Send(fd, "554 5.7.1 no mail from you\r\n");
    F::ReadLine(fd);
    F::Send(fd, "221 bye\r\n");
  });
  et::BusFixture bus;
  std::string spool = bus.dir() + "/spool";
  NotifyDaemon notifier(
      bus,
      "[notify.mail]\nrelay = 127.0.0.1:" + std::to_string(refusing.port()) +
          "\nstarttls = no\nto = ops@test\ntemplate_dir = " +
          std::string(EHABUS_SOURCE_DIR) + "/etc/notify\nspool_dir = " + spool +
          "\ngroup_wait = 500ms\ntimeout = 2s\n",
      EHABUS_NOTIFY_MAIL);
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"notify."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  notifier.Start();
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 2; }, 10s));
  ASSERT_EQ(bus.RunCli({"publish", "--severity", "error", "--subject", "smtp",
                        "service.smtp.down", "smtp down"})
                .exit_code(),
            0);
  auto failed = WaitTopic(sub, "notify.mail.failed", 20s);
  ASSERT_TRUE(failed) << et::Run({"cat", bus.dir() + "/notify.log"}).output;
  EXPECT_EQ(failed->severity, Severity::kError);
  EXPECT_NE(failed->message.find("554 5.7.1 no mail from you"),
            std::string::npos)
      << failed->message;
  EXPECT_FALSE(std::filesystem::is_empty(spool + "/failed"));
}

TEST(NotifyMailTest, BurstOfTenThousandEventsIsOneMailAndOneFollowUp) {
  if (geteuid() != 0) GTEST_SKIP() << "postfix runs as root";
  Relay relay;
  ASSERT_TRUE(relay.Start()) << relay.Log();
  et::BusFixture bus;
  std::string spool = bus.dir() + "/spool";
  std::ofstream(spool + ".password") << "s3cret\n";
  NotifyDaemon notifier(bus, MailSection(relay, spool, "2s"),
                        EHABUS_NOTIFY_MAIL);
  bus.StartBroker();
  notifier.Start();
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  std::this_thread::sleep_for(500ms);  // its snapshot is done
  Publisher publisher(bus.context(), {bus.pub(), "testnode", "storm", 20000});
  ASSERT_TRUE(publisher.WaitAttached(5s));
  publisher.Publish("service.postfix.down", Severity::kError, "postfix",
                    "postfix down");
  for (int i = 0; i < 9998; ++i) {
    publisher.Publish("healing.postfix.step", Severity::kError, "postfix",
                      "start postfix: FAILED (" + std::to_string(i) + ")");
  }
  // The first mail tells the ongoing incident; its end is the follow-up.
  ASSERT_TRUE(relay.WaitMails(1, 60s));
  publisher.Publish("service.postfix.up", Severity::kNotice, "postfix",
                    "postfix up");
  ASSERT_TRUE(relay.WaitMails(2, 60s)) << relay.Mail().size();
  std::this_thread::sleep_for(4s);
  auto mails = relay.Mail();
  ASSERT_EQ(mails.size(), 2u) << "one mail and one follow-up";
  std::string all = Body(mails[0]) + Body(mails[1]);
  EXPECT_NE(all.find("more events not listed."), std::string::npos);
  // One thread: the follow-up answers the first notice, which answers none.
  auto header = [](const std::string& mail, const std::string& name) {
    auto at = mail.find("\n" + name + ": ");
    if (at == std::string::npos) return std::string();
    at += name.size() + 3;
    return mail.substr(at, mail.find_first_of("\r\n", at) - at);
  };
  int first = header(mails[0], "In-Reply-To").empty() ? 0 : 1;
  EXPECT_EQ(header(mails[first], "In-Reply-To"), "");
  EXPECT_EQ(header(mails[1 - first], "In-Reply-To"),
            header(mails[first], "Message-ID"));
  EXPECT_NE(header(mails[first], "Message-ID"), "");
}

TEST(NotifyMailTest, KilledMariadbIsOneReadableMailWithTheWholeStory) {
  if (geteuid() != 0) GTEST_SKIP() << "the stack runs as root";
  Relay relay;
  ASSERT_TRUE(relay.Start()) << relay.Log();
  et::Stack stack;
  ASSERT_TRUE(stack.StartAll()) << stack.Log();
  et::BusFixture bus;
  std::string spool = bus.dir() + "/spool";
  std::ofstream(spool + ".password") << "s3cret\n";
  std::string profile = bus.dir() + "/profile.ini";
  std::ofstream(profile) << stack.Profile();
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.service]\nprofile = " << profile
      << "\nwatch_file = " << bus.dir() << "/watch.ini\n"
      << "[healer.restart]\nstate_file = " << bus.dir() << "/healer.json\n";
  // The whole healing (about 5 s) fits in the group wait: one mail.
  NotifyDaemon notifier(bus, MailSection(relay, spool, "30s"),
                        EHABUS_NOTIFY_MAIL);
  bus.StartBroker();
  auto spawn = [&](const char* binary, const char* log) {
    SpawnOptions o;
    o.argv = {binary, "--config", bus.config_path()};
    o.output = SpawnOptions::Output::kFile;
    o.output_file = bus.dir() + "/" + log;
    return Subprocess::Spawn(o);
  };
  auto sensor = spawn(EHABUS_SENSOR_SERVICE, "sensor.log");
  auto healer = spawn(EHABUS_HEALER_RESTART, "healer.log");
  notifier.Start();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"service.", "notify."};
  Subscriber sub(bus.context(), options);
  int up = 0;
  auto until = Clock::now() + 30s;
  while (up < 4 && Clock::now() < until) {
    auto d = sub.Receive(100ms);
    if (d && d->event.topic.ends_with(".up")) ++up;
  }
  ASSERT_EQ(up, 4);
  stack.Kill("mariadb");
  ASSERT_TRUE(WaitTopic(sub, "notify.mail.sent", 90s))
      << et::Run({"cat", bus.dir() + "/notify.log"}).output;
  ASSERT_TRUE(relay.WaitMails(1, 20s));
  std::this_thread::sleep_for(5s);
  auto mails = relay.Mail();
  ASSERT_EQ(mails.size(), 1u) << "one mail for the whole incident";
  std::string body = Body(mails[0]);
  std::printf("---- the mail ----\n%s------------------\n", body.c_str());
  for (const char* part :
       {"ACME mail service, node", "What happened: service.mariadb",
        "Now: healed", "No failover: the mail service stayed on this node.",
        "stop dovecot: ok", "stop postfix: ok", "start mariadb: ok",
        "confirm mariadb: ok", "start dovecot: ok",
        "healed mariadb with postfix, dovecot in", "service.mariadb.down",
        "healing.mariadb.started", "service.mariadb.up"}) {
    EXPECT_NE(body.find(part), std::string::npos) << part;
  }
  EXPECT_NE(mails[0].find("Subject: [ehabus] ACME "), std::string::npos);
  if (healer) healer->Stop(5s);
  if (sensor) sensor->Stop(5s);
}

TEST(NotifyExecTest, CommandGetsTheIncidentOnStdinAndNoShell) {
  et::BusFixture bus;
  std::string out = bus.dir() + "/received.json";
  std::string pwned = bus.dir() + "/pwned";
  std::string script = bus.dir() + "/receiver.sh";
  std::ofstream(script) << "#!/bin/sh\ncat > " << out << "\n";
  chmod(script.c_str(), 0755);
  NotifyDaemon notifier(bus,
                        "[notify.exec]\ncommand = " + script +
                            " --from ehabus\nspool_dir = " + bus.dir() +
                            "/spool\ngroup_wait = 500ms\ntimeout = 5s\n",
                        EHABUS_NOTIFY_EXEC);
  bus.StartBroker();
  notifier.Start();
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  std::string hostile = "$(touch " + pwned + "); `touch " + pwned + "`";
  ASSERT_EQ(bus.RunCli({"publish", "--severity", "error", "--subject", "smtp",
                        "service.smtp.down", hostile})
                .exit_code(),
            0);
  ASSERT_TRUE(
      et::WaitUntil([&] { return access(out.c_str(), F_OK) == 0; }, 15s))
      << et::Run({"cat", bus.dir() + "/notify.log"}).output;
  std::this_thread::sleep_for(200ms);
  std::ifstream in(out);
  auto incident = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(incident.is_discarded());
  EXPECT_EQ(incident["phase"], "opened");
  EXPECT_EQ(incident["timeline"][0]["message"], hostile);
  EXPECT_NE(access(pwned.c_str(), F_OK), 0) << "no shell ran the text";
}

}  // namespace
}  // namespace ehabus::notifiers

namespace ehabus::notifiers {
namespace {

// A real HTTP receiver: Python's http.server, storing each POST body in a
// directory and answering with the status in a control file.
class Receiver {
 public:
  Receiver() : port_(et::FreePort()) {
    std::string script = dir_.Write(
        "receiver.py",
        "import http.server, os, sys\n"
        "d = sys.argv[2]\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        "        status = int(open(d + '/status').read().strip())\n"
        "        if status == 200:\n"
        "            n = len(os.listdir(d + '/got'))\n"
        "            open(d + '/got/%03d.json' % n, 'wb').write(body)\n"
        "        self.send_response(status)\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b'status %d\\n' % status)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
        "H).serve_forever()\n");
    dir_.Write("got/.keep", "");
    Status(200);
    SpawnOptions o;
    o.argv = {"/usr/bin/python3", script, std::to_string(port_), dir_.path()};
    o.output = SpawnOptions::Output::kFile;
    o.output_file = dir_.path() + "/receiver.log";
    auto spawned = Subprocess::Spawn(o);
    if (spawned) process_.emplace(std::move(*spawned));
    et::WaitUntil([&] { return et::Listening(port_); }, 10s);
  }
  void Status(int status) { dir_.Write("status", std::to_string(status)); }
  std::vector<std::string> Got() const {
    std::vector<std::string> out;
    for (const auto& f :
         std::filesystem::directory_iterator(dir_.path() + "/got")) {
      if (f.path().extension() != ".json") continue;
      std::ifstream in(f.path());
      out.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
    }
    return out;
  }
  int port() const { return port_; }

 private:
  et::TempDir dir_;
  int port_;
  std::optional<Subprocess> process_;
};

TEST(NotifyWebhookTest, PostsTheIncidentRetriesOn503) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  Receiver receiver;
  receiver.Status(503);
  et::BusFixture bus;
  NotifyDaemon notifier(bus,
                        "[notify.webhook]\nurl = http://127.0.0.1:" +
                            std::to_string(receiver.port()) +
                            "/hook\nspool_dir = " + bus.dir() +
                            "/spool\ngroup_wait = 500ms\nretry = 500ms\n"
                            "retry_max = 1s\ntimeout = 5s\n",
                        EHABUS_NOTIFY_WEBHOOK);
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"notify."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  notifier.Start();
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 2; }, 10s));
  ASSERT_EQ(bus.RunCli({"publish", "--severity", "error", "--subject",
                        "dovecot", "service.dovecot.down", "dovecot down"})
                .exit_code(),
            0);
  auto retry = WaitTopic(sub, "notify.webhook.retry", 20s);
  ASSERT_TRUE(retry);
  EXPECT_NE(retry->message.find("HTTP 503"), std::string::npos)
      << retry->message;
  receiver.Status(200);
  ASSERT_TRUE(WaitTopic(sub, "notify.webhook.sent", 20s));
  auto got = receiver.Got();
  ASSERT_EQ(got.size(), 1u);
  auto incident = nlohmann::json::parse(got[0]);
  EXPECT_EQ(incident["phase"], "opened");
  EXPECT_EQ(incident["what"], nlohmann::json({"service.dovecot"}));
}

}  // namespace
}  // namespace ehabus::notifiers
