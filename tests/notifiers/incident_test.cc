#include "notifiers/incident.h"

#include <gtest/gtest.h>

#include "notifiers/render.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::notifiers {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Event Ev(const std::string& topic, Severity severity,
         const std::string& subject, const std::string& message) {
  Event e;
  e.topic = topic;
  e.severity = severity;
  e.subject = subject;
  e.message = message;
  e.wall_us = WallMicros();
  return e;
}

IncidentSettings Fast() {
  IncidentSettings s;
  s.group_wait = 10s;
  s.resolve_quiet = 30s;
  s.repeat_window = 1h;
  return s;
}

// The killed-mariadb story, as the sensor and healer tell it.
void MariadbStory(IncidentTracker& t, Clock::time_point at) {
  t.OnEvent(Ev("service.mariadb.down", Severity::kError, "mariadb",
               "mariadb down: connect: Connection refused"),
            at);
  t.OnEvent(Ev("healing.mariadb.started", Severity::kWarning, "mariadb",
               "healing mariadb"),
            at + 1s);
  t.OnEvent(Ev("healing.mariadb.step", Severity::kInfo, "dovecot",
               "stop dovecot: ok (0.2 s)"),
            at + 2s);
  t.OnEvent(Ev("healing.mariadb.succeeded", Severity::kNotice, "mariadb",
               "healed mariadb with postfix, dovecot in 4.1 s"),
            at + 5s);
  t.OnEvent(Ev("service.mariadb.up", Severity::kNotice, "mariadb",
               "mariadb up: answers"),
            at + 5s);
}

TEST(IncidentTest, OneNoticeAfterGroupWaitThenOneWhenResolved) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  t.OnEvent(Ev("service.mariadb.down", Severity::kError, "mariadb", "down"),
            t0);
  EXPECT_TRUE(t.Due(t0 + 9s).empty()) << "group wait";
  // Still down when the group wait ends: the healing comes later.
  auto first = t.Due(t0 + 10s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].phase, "opened");
  EXPECT_EQ(first[0].incident["what"], nlohmann::json({"service.mariadb"}));
  EXPECT_EQ(first[0].incident["status"], "ongoing");
  EXPECT_EQ(first[0].incident["timeline"].size(), 1u);
  MariadbStory(t, t0 + 11s);
  EXPECT_TRUE(t.Due(t0 + 20s).empty()) << "not yet quiet for 30 s";
  auto second = t.Due(t0 + 47s);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].phase, "resolved");
  EXPECT_EQ(second[0].incident["status"], "healed");
  EXPECT_EQ(second[0].incident["timeline"].size(), 6u);
  EXPECT_FALSE(t.open());
}

// Healed within the group wait, with the default timings (group wait 10 s,
// resolve quiet 30 s): the first notice tells it all; no second mail.
TEST(IncidentTest, HealedWithinTheGroupWaitIsOneNoticeWithDefaults) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  MariadbStory(t, t0);
  auto first = t.Due(t0 + 10s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].incident["status"], "healed");
  EXPECT_TRUE(t.Due(t0 + 60s).empty()) << "nothing new to tell";
  EXPECT_FALSE(t.open());
  // News after the first notice is told in a follow-up.
  auto t1 = t0 + 120s;
  MariadbStory(t, t1);
  ASSERT_EQ(t.Due(t1 + 10s).size(), 0u) << "a repeat: counted, not sent";
  ASSERT_EQ(t.Due(t1 + 45s).size(), 0u);
  EXPECT_FALSE(t.open());
  auto t2 = t0 + 2h;
  MariadbStory(t, t2);
  ASSERT_EQ(t.Due(t2 + 10s).size(), 1u);
  t.OnEvent(Ev("service.postfix.down", Severity::kError, "postfix", "down"),
            t2 + 12s);
  t.OnEvent(Ev("service.postfix.up", Severity::kNotice, "postfix", "up"),
            t2 + 14s);
  auto follow = t.Due(t2 + 45s);
  ASSERT_EQ(follow.size(), 1u);
  EXPECT_EQ(follow[0].phase, "resolved");
}

TEST(IncidentTest, ResolvedWithinTheGroupWaitIsOneNotice) {
  auto settings = Fast();
  settings.group_wait = 60s;
  IncidentTracker t(settings, "node1");
  auto t0 = Clock::now();
  MariadbStory(t, t0);
  EXPECT_TRUE(t.Due(t0 + 30s).empty());
  auto notices = t.Due(t0 + 36s);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].phase, "resolved");
  EXPECT_EQ(notices[0].incident["actions"].size(), 2u);
}

TEST(IncidentTest, BurstOfTenThousandEventsIsTwoNotices) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  int notices = 0;
  t.OnEvent(Ev("service.postfix.down", Severity::kError, "postfix", "down"),
            t0);
  for (int i = 0; i < 10000; ++i) {
    t.OnEvent(Ev("healing.postfix.step", Severity::kError, "postfix",
                 "start postfix: FAILED"),
              t0 + std::chrono::milliseconds(i));
    notices +=
        static_cast<int>(t.Due(t0 + std::chrono::milliseconds(i)).size());
  }
  auto opened = t.Due(t0 + 10s);
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].incident["timeline"].size(), 200u);
  EXPECT_EQ(opened[0].incident["timeline_dropped"], 9801);
  t.OnEvent(Ev("service.postfix.up", Severity::kNotice, "postfix", "up"),
            t0 + 11s);
  notices += 1 + static_cast<int>(t.Due(t0 + 60s).size());
  EXPECT_EQ(notices, 2) << "one notice while it lasts, one when it ended";
}

TEST(IncidentTest, RepeatsAreCountedNotSentAndMaintenanceIsSilent) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  int sent = 0;
  for (int round = 0; round < 3; ++round) {
    auto at = t0 + std::chrono::minutes(round * 2);
    t.OnEvent(Ev("service.smtp.down", Severity::kError, "smtp", "down"), at);
    t.OnEvent(Ev("service.smtp.up", Severity::kNotice, "smtp", "up"), at + 1s);
    sent += static_cast<int>(t.Due(at + 11s).size());
    sent += static_cast<int>(t.Due(at + 45s).size());
  }
  EXPECT_EQ(sent, 1) << "the first incident's notice (it was over within "
                        "the group wait); the same incident twice more "
                        "within the hour: none";
  // A repeat that escalates and fails over is told after all.
  auto worse = t0 + 8min;
  t.OnEvent(Ev("service.smtp.down", Severity::kError, "smtp", "down"), worse);
  EXPECT_TRUE(t.Due(worse + 11s).empty()) << "a repeat, so far";
  t.OnEvent(Ev("healing.smtp.escalated", Severity::kCritical, "smtp",
               "smtp failed again after 3 healings"),
            worse + 20s);
  t.OnEvent(Ev("failover.requested", Severity::kCritical, "failover",
               "failover requested: budget smtp"),
            worse + 20s);
  auto told = t.Due(worse + 21s);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].phase, "opened");
  EXPECT_EQ(told[0].incident["status"], "escalated");
  EXPECT_EQ(told[0].incident["similar_suppressed"], 2);
  t.OnEvent(Ev("service.smtp.up", Severity::kNotice, "smtp", "up"),
            worse + 30s);
  EXPECT_TRUE(t.Due(worse + 61s).empty()) << "still red: not over";
  t.OnEvent(Ev("failover.cleared", Severity::kNotice, "failover",
               "#health-ehabus=green"),
            worse + 70s);
  auto follow = t.Due(worse + 101s);
  ASSERT_EQ(follow.size(), 1u) << "and its end";
  EXPECT_EQ(follow[0].phase, "resolved");
  // After the window, the next one says how many were not mailed.
  auto later = t0 + 3h;
  t.OnEvent(Ev("service.smtp.down", Severity::kError, "smtp", "down"), later);
  auto notices = t.Due(later + 10s);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].incident["similar_suppressed"], 0)
      << "the escalated one was told, with the two before it";

  IncidentTracker m(Fast(), "node1");
  m.OnEvent(Ev("maintenance.started", Severity::kNotice, "smtp", "m"), t0);
  m.OnEvent(Ev("service.smtp.down", Severity::kError, "smtp", "down"), t0);
  EXPECT_FALSE(m.open()) << "smtp is in maintenance";
  m.OnEvent(Ev("maintenance.ended", Severity::kNotice, "smtp", "m"), t0);
  m.OnEvent(Ev("service.smtp.down", Severity::kError, "smtp", "down"), t0);
  EXPECT_TRUE(m.open());
}

// The survivor's story when the active node crashes, as seen in the lab:
// the heartbeat sensors' events (the same subjects as a blip at boot an
// hour earlier, which was mailed), then Pacemaker's alerts: the peer lost,
// fenced, the stack started here. Never kept quiet as a repeat.
TEST(IncidentTest, PeerLostFencedAndTheStackHereIsToldEvenAfterABlip) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  auto heartbeat = [&](Clock::time_point at, bool up) {
    for (const char* what : {"corosync", "links"})
      t.OnEvent(Ev(std::string("heartbeat.") + what + (up ? ".up" : ".down"),
                   up ? Severity::kNotice : Severity::kWarning, what,
                   up ? "up" : "lost"),
                at);
  };
  heartbeat(t0, false);  // at boot, before corosync answers
  heartbeat(t0 + 3s, true);
  ASSERT_EQ(t.Due(t0 + 10s).size(), 1u) << "the boot blip, told once";
  EXPECT_TRUE(t.Due(t0 + 40s).empty());
  EXPECT_FALSE(t.open());

  auto crash = t0 + 100s;
  heartbeat(crash, false);
  // As the alert agent puts them: the subject, and where it happened.
  auto alert = [&](const std::string& topic, Severity severity,
                   const std::string& subject, const std::string& where,
                   const std::string& message) {
    Event e = Ev(topic, severity, subject, message);
    e.node = "node1";
    e.data = {{"node", where}};
    if (topic.starts_with("cluster.resource.")) e.data["resource"] = subject;
    return e;
  };
  t.OnEvent(alert("cluster.node.node2.lost", Severity::kError, "node2", "node2",
                  "node node2 left the cluster (lost)"),
            crash + 6s);
  auto first = t.Due(crash + 10s);
  ASSERT_EQ(first.size(), 1u) << "not a repeat of the blip: a peer is lost";
  EXPECT_EQ(first[0].incident["status"], "ongoing");
  EXPECT_EQ(first[0].incident["still_wrong"],
            nlohmann::json({"cluster.node.node2", "heartbeat.corosync",
                            "heartbeat.links"}));
  t.OnEvent(alert("cluster.fencing.node2.ok", Severity::kWarning, "node2",
                  "node2", "node node2 fenced (reboot): OK"),
            crash + 20s);
  t.OnEvent(alert("cluster.resource.fs-mail.start.ok", Severity::kNotice,
                  "fs-mail", "node1", "fs-mail start on node1: ok"),
            crash + 21s);
  t.OnEvent(alert("cluster.resource.mailstack.start.ok", Severity::kNotice,
                  "mailstack", "node1", "mailstack start on node1: ok"),
            crash + 24s);
  EXPECT_TRUE(t.Due(crash + 30s).empty()) << "settling";
  // Still open (node2 is not back, and may never be): the takeover is told
  // once it settled, in an update of the same thread.
  auto update = t.Due(crash + 34s);
  ASSERT_EQ(update.size(), 1u);
  EXPECT_EQ(update[0].phase, "update");
  EXPECT_EQ(update[0].id,
            first[0].id.substr(0, first[0].id.size() - 7) + "-update-1");
  EXPECT_EQ(update[0].incident["status"], "failed over");
  EXPECT_EQ(update[0].incident["still_wrong"],
            nlohmann::json({"cluster.node.node2", "heartbeat.corosync",
                            "heartbeat.links"}));
  EXPECT_TRUE(update[0].incident["moved_here"].get<bool>());
  EXPECT_TRUE(t.Due(crash + 60s).empty()) << "nothing new since";
  t.OnEvent(alert("cluster.node.node2.member", Severity::kNotice, "node2",
                  "node2", "node node2 joined the cluster"),
            crash + 70s);
  heartbeat(crash + 71s, true);
  auto end = t.Due(crash + 101s);
  ASSERT_EQ(end.size(), 1u);
  const auto& i = end[0].incident;
  EXPECT_EQ(end[0].phase, "resolved");
  EXPECT_EQ(i["status"], "failed over");
  EXPECT_TRUE(i["fenced"].get<bool>());
  EXPECT_TRUE(i["moved_here"].get<bool>());
  EXPECT_FALSE(i["failed_over"].get<bool>()) << "ehabus asked for nothing";
  EXPECT_EQ(i["what"],
            nlohmann::json({"cluster.fencing.node2", "cluster.node.node2",
                            "heartbeat.corosync", "heartbeat.links"}));
  auto tmpl =
      LoadTemplate(std::string(EHABUS_SOURCE_DIR) + "/etc/notify/en.txt");
  ASSERT_TRUE(tmpl) << tmpl.error().message;
  auto text = Render(*tmpl, i, "ACME", "en");
  EXPECT_NE(text.body.find("Pacemaker moved the mail service to this node"),
            std::string::npos)
      << text.body;
  EXPECT_NE(text.body.find("node node2 fenced (reboot): OK"),
            std::string::npos);

  // Started at boot, with no peer lost: not a takeover.
  IncidentTracker b(Fast(), "node1");
  b.OnEvent(Ev("heartbeat.corosync.down", Severity::kWarning, "corosync", "l"),
            t0);
  b.OnEvent(alert("cluster.resource.mailstack.start.ok", Severity::kNotice,
                  "mailstack", "node1", "mailstack start on node1: ok"),
            t0 + 2s);
  b.OnEvent(Ev("heartbeat.corosync.up", Severity::kNotice, "corosync", "u"),
            t0 + 3s);
  auto boot = b.Due(t0 + 10s);
  ASSERT_EQ(boot.size(), 1u);
  EXPECT_EQ(boot[0].incident["status"], "recovered");

  // A resource started on the other node is not a move to this one.
  IncidentTracker u(Fast(), "node1");
  u.OnEvent(
      alert("cluster.node.node2.lost", Severity::kError, "node2", "node2", "l"),
      t0);
  u.OnEvent(alert("cluster.resource.mailstack.start.ok", Severity::kNotice,
                  "mailstack", "node2", "mailstack start on node2: ok"),
            t0 + 1s);
  // Nor is the fencing device or an address moving here the mail service.
  u.OnEvent(alert("cluster.resource.fence-sbd.start.ok", Severity::kNotice,
                  "fence-sbd", "node1", "fence-sbd start on node1: ok"),
            t0 + 2s);
  auto other = u.Due(t0 + 10s);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_FALSE(other[0].incident["moved_here"].get<bool>());
  EXPECT_EQ(other[0].incident["status"], "ongoing");
  // And a failed fencing stays wrong until one succeeds.
  u.OnEvent(alert("cluster.fencing.node2.failed", Severity::kCritical, "node2",
                  "node2", "fencing of node2 (reboot) FAILED"),
            t0 + 12s);
  u.OnEvent(alert("cluster.node.node2.member", Severity::kNotice, "node2",
                  "node2", "joined"),
            t0 + 13s);
  auto failed = u.Due(t0 + 60s);
  ASSERT_EQ(failed.size(), 1u) << "a fencing that failed is news";
  EXPECT_EQ(failed[0].phase, "update");
  EXPECT_EQ(failed[0].incident["still_wrong"],
            nlohmann::json({"cluster.fencing.node2"}));
  EXPECT_TRUE(u.open());
  u.OnEvent(alert("cluster.fencing.node2.ok", Severity::kWarning, "node2",
                  "node2", "fenced"),
            t0 + 61s);
  ASSERT_EQ(u.Due(t0 + 92s).size(), 1u);
  EXPECT_FALSE(u.open());
}

TEST(IncidentTest, SurvivesARestart) {
  IncidentTracker t(Fast(), "node1");
  auto t0 = Clock::now();
  MariadbStory(t, t0);
  auto saved = t.Save();
  IncidentTracker u(Fast(), "node1");
  u.Load(nlohmann::json::parse(saved.dump()), t0 + 6s);
  ASSERT_TRUE(u.open());
  auto notices = u.Due(t0 + 40s);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].incident["timeline"].size(), 5u);
  IncidentTracker v(Fast(), "node1");
  v.Load(nlohmann::json::parse("{\"incident\": {\"id\": 3}}"), t0);
  EXPECT_FALSE(v.open()) << "a damaged state is dropped, not a crash";
}

TEST(RenderTest, HostileEventTextNeverBecomesAHeader) {
  Template tmpl{"[ehabus] {{customer}} {{node}}: {{what}} {{status}}",
                "{{timeline}}"};
  nlohmann::json incident = {
      {"node", "node1\r\nBcc: victim@example.test"},
      {"what", {"service.x\r\nX-Injected: 1"}},
      {"status", "healed"},
      {"timeline",
       {{{"wall_us", 0},
         {"topic", "service.x.down"},
         {"message", "line\r\n.\r\nMAIL FROM:<evil>"}}}}};
  MailText text = Render(tmpl, incident, "ACME\nCorp", "en");
  EXPECT_EQ(text.subject.find('\n'), std::string::npos);
  auto message = BuildMessage(
      "ehabus@node1", {"ops@test"}, text, "id-1",
      {{"X-Ehabus-Incident", "node1-7\r\nBcc: victim@example.test"}});
  // Headers end at the first empty line; none of the event's words made one.
  auto headers = message.substr(0, message.find("\r\n\r\n"));
  EXPECT_EQ(headers.find("\r\nBcc:"), std::string::npos) << headers;
  EXPECT_EQ(headers.find("\r\nX-Injected:"), std::string::npos) << headers;
  EXPECT_TRUE(headers.ends_with(
      "\r\nX-Ehabus-Incident: node1-7  Bcc: victim@example.test"))
      << headers;
  // The body is base64: no line of it can be "." or an SMTP command.
  auto body = message.substr(message.find("\r\n\r\n") + 4);
  EXPECT_EQ(body.find("\r\n.\r\n"), std::string::npos);
  EXPECT_EQ(body.find("MAIL FROM"), std::string::npos);
}

TEST(RenderTest, ChineseTemplateAndEncodedSubject) {
  auto tmpl =
      LoadTemplate(std::string(EHABUS_SOURCE_DIR) + "/etc/notify/zh.txt");
  ASSERT_TRUE(tmpl) << tmpl.error().message;
  nlohmann::json incident = {{"node", "node1"},
                             {"what", {"service.mariadb"}},
                             {"status", "healed"},
                             {"failed_over", false},
                             {"actions", {"healed mariadb in 4.1 s"}}};
  MailText text = Render(*tmpl, incident, "示例公司", "zh");
  EXPECT_EQ(text.subject,
            "[ehabus] 示例公司 node1：service.mariadb 已自动修复");
  EXPECT_NE(text.body.find("未切换：邮件服务仍在本节点运行。"),
            std::string::npos);
  std::string header = HeaderValue(text.subject);
  EXPECT_TRUE(header.starts_with("=?UTF-8?B?")) << header;
  for (char c : header) EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  EXPECT_FALSE(LoadTemplate("/nonexistent/en.txt"));
}

}  // namespace
}  // namespace ehabus::notifiers
