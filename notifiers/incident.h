// Incidents: the events of one problem on this node (a service down, the
// healing steps, an escalation, a failover request, Pacemaker's events)
// become one notice with a timeline, sent after a short group wait, then
// one follow-up when everything is back. Repeated identical incidents are
// counted, not sent again within the repeat window; services in
// maintenance are silent. Pure logic over events and a clock, for tests and
// for every notifier (mail, webhook, exec).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bus/event.h"

namespace ehabus::notifiers {

struct IncidentSettings {
  std::chrono::milliseconds group_wait{10000};
  std::chrono::milliseconds resolve_quiet{30000};
  std::chrono::milliseconds repeat_window{3600000};
  Severity min_severity = Severity::kWarning;
  std::vector<std::string> topics = {""};  // prefixes that open incidents
  std::size_t max_timeline = 200;
  // The Pacemaker resource that runs the stack ([stack] resource): started
  // here after a peer was lost, the mail service moved here. Empty: any.
  std::string stack_resource = "mailstack";
};

struct TimelineEntry {
  std::int64_t wall_us = 0;
  std::string topic, subject, message;
  Severity severity = Severity::kInfo;
};

// What a notifier sends: the incident as structured data; channels render
// it (mail templates, webhook JSON, a command's stdin).
struct Notice {
  std::string id;     // incident id + "-opened" / "-resolved"
  std::string phase;  // "opened" or "resolved"
  nlohmann::json incident;
};

class IncidentTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit IncidentTracker(IncidentSettings settings, std::string node = "")
      : settings_(std::move(settings)), node_(std::move(node)) {}

  void OnEvent(const Event& event, Clock::time_point now);
  // Notices due by NOW.
  std::vector<Notice> Due(Clock::time_point now);
  bool open() const { return incident_.has_value(); }
  // What must survive a restart: the open incident and the repeat counts.
  nlohmann::json Save() const;
  void Load(const nlohmann::json& saved, Clock::time_point now);

 private:
  struct Incident {
    std::string id;
    Clock::time_point opened, quiet_since;
    std::int64_t opened_wall_us = 0;
    std::vector<TimelineEntry> timeline;
    std::size_t dropped = 0;         // timeline entries beyond max_timeline
    std::set<std::string> problems;  // what is still wrong
    std::set<std::string> subjects;  // what went wrong at all
    bool failed_over = false, healed = false, escalated = false;
    // Pacemaker's own story, from its alerts: a peer lost or fenced, the
    // stack started on this node. Never a repeat to keep quiet about.
    bool fenced = false, moved_here = false;
    bool peer_lost = false;  // a cluster.node.*.lost in this incident
    // Milestones (kMilestone*) told in a notice so far: one that comes
    // while the incident is still open is told in an update.
    unsigned told = 0;
    int updates = 0;
    bool sent_opened = false, suppressed = false;
    // The first notice already said all was well, and nothing came since:
    // the follow-up would repeat it, word for word.
    bool told_over = false, news_after = false;
    Severity worst = Severity::kInfo;
    std::vector<std::string> actions;  // healing steps and results
    std::size_t actions_dropped = 0;
  };
  static unsigned Milestones(const Incident& incident);
  bool Opens(const Event& event) const;
  void Track(Incident& incident, const Event& event);
  nlohmann::json Render(const Incident& incident, const std::string& phase);
  std::string Signature(const Incident& incident) const;

  IncidentSettings settings_;
  std::string node_;
  std::optional<Incident> incident_;
  std::set<std::string> maintenance_;
  std::string vip_;  // where the service address is, from network.vip
  struct Repeat {
    Clock::time_point last_sent;
    int suppressed = 0;
  };
  std::map<std::string, Repeat> repeats_;
  std::uint64_t counter_ = 0;
};

}  // namespace ehabus::notifiers
