#include "notifiers/incident.h"

#include <algorithm>

#include "bus/topics.h"

namespace ehabus::notifiers {
namespace {

// The thing a topic is about: "service.mariadb.down" -> "service.mariadb".
std::string Base(const std::string& topic) {
  for (const char* suffix : {".down", ".up", ".started", ".step", ".succeeded",
                             ".failed", ".escalated", ".resumed"}) {
    if (topic.ends_with(suffix))
      return topic.substr(0, topic.size() - std::string_view(suffix).size());
  }
  return topic;
}

bool HasPrefix(const std::vector<std::string>& prefixes,
               const std::string& topic) {
  return std::any_of(
      prefixes.begin(), prefixes.end(),
      [&](const std::string& p) { return topic.starts_with(p); });
}

constexpr unsigned kMilestoneEscalated = 1, kMilestoneFailover = 2,
                   kMilestoneFenced = 4, kMilestoneMovedHere = 8;

}  // namespace

unsigned IncidentTracker::Milestones(const Incident& incident) {
  return (incident.escalated ? kMilestoneEscalated : 0) |
         (incident.failed_over ? kMilestoneFailover : 0) |
         (incident.fenced ? kMilestoneFenced : 0) |
         (incident.moved_here ? kMilestoneMovedHere : 0);
}

bool IncidentTracker::Opens(const Event& event) const {
  if (event.kind != Kind::kEvent) return false;
  if (event.severity < settings_.min_severity) return false;
  if (!HasPrefix(settings_.topics, event.topic)) return false;
  // Our own chatter and the bus's are not incidents of the mail service.
  if (event.topic.starts_with(topics::kNotify) ||
      event.topic.starts_with(topics::kBus) ||
      event.topic.starts_with(topics::kSensor) ||
      event.topic.starts_with(topics::kMaintenance))
    return false;
  return !maintenance_.contains(event.subject);
}

void IncidentTracker::Track(Incident& incident, const Event& event) {
  if (incident.timeline.size() < settings_.max_timeline) {
    incident.timeline.push_back({event.wall_us, event.topic, event.subject,
                                 event.message, event.severity});
  } else {
    ++incident.dropped;
  }
  incident.worst = std::max(incident.worst, event.severity);
  // Actions are capped like the timeline; the count says what was cut.
  auto act = [&](const std::string& text) {
    if (incident.actions.size() < settings_.max_timeline)
      incident.actions.push_back(text);
    else
      ++incident.actions_dropped;
  };
  const std::string& t = event.topic;
  std::string base = Base(t);
  if (t.ends_with(".down")) {
    // What a healing stops on purpose goes down too: a consequence, not
    // what happened.
    bool healing = std::any_of(
        incident.problems.begin(), incident.problems.end(),
        [](const std::string& p) { return p.starts_with(topics::kHealing); });
    incident.problems.insert(base);
    if (!healing || incident.subjects.empty()) incident.subjects.insert(base);
  } else if (t.ends_with(".up")) {
    incident.problems.erase(base);
  } else if (t.starts_with(topics::kHealing)) {
    if (t.ends_with(".started") || t.ends_with(".resumed")) {
      incident.problems.insert(base);
    } else if (t.ends_with(".succeeded")) {
      incident.problems.erase(base);
      incident.healed = true;
      act(event.message);
    } else if (t.ends_with(".failed")) {
      incident.problems.erase(base);
      act(event.message);
    } else if (t.ends_with(".step")) {
      act(event.message);
    } else if (t.ends_with(".escalated")) {
      incident.escalated = true;
      act(event.message);
    }
  } else if (t == topics::kFailoverRequested) {
    incident.failed_over = true;
    incident.problems.insert("failover");
    act(event.message);
  } else if (t == topics::kFailoverCleared) {
    incident.problems.erase("failover");
  } else if (t.starts_with(topics::kClusterNode) && t.ends_with(".lost")) {
    // A peer gone is a problem until it is a member again: no second node.
    std::string peer = t.substr(0, t.size() - 5);
    incident.peer_lost = true;
    incident.problems.insert(peer);
    incident.subjects.insert(peer);
    act(event.message);
  } else if (t.starts_with(topics::kClusterNode) && t.ends_with(".member")) {
    incident.problems.erase(t.substr(0, t.size() - 7));
    act(event.message);
  } else if (t.starts_with(topics::kClusterFencing)) {
    std::string target = t.substr(0, t.rfind('.'));
    incident.subjects.insert(target);
    incident.fenced = true;
    if (t.ends_with(".failed"))
      incident.problems.insert(target);  // nothing moves until it succeeds
    else
      incident.problems.erase(target);
    act(event.message);
  } else if (t.starts_with(topics::kClusterResource) &&
             t.ends_with(".start.ok")) {
    std::string where, resource;
    if (event.data.is_object()) {
      where = event.data.value("node", std::string());
      resource = event.data.value("resource", std::string());
    }
    // The fencing device or the address moving is not yet the service.
    if (!settings_.stack_resource.empty() &&
        resource != settings_.stack_resource)
      where.clear();
    // Started here after a peer was lost or fenced: taken over. (Started
    // at boot or by an operator, it is not a failover.)
    if ((incident.peer_lost || incident.fenced) && !where.empty() &&
        where == (node_.empty() ? event.node : node_))
      incident.moved_here = true;
    act(event.message);
  } else if (t.starts_with(topics::kFailover) ||
             t.starts_with(topics::kCluster)) {
    act(event.message);
  }
}

void IncidentTracker::OnEvent(const Event& event, Clock::time_point now) {
  if (event.topic == topics::kNetworkVip && event.kind == Kind::kState) {
    vip_ = event.message;
    return;
  }
  if (event.topic == topics::kMaintenanceStarted) {
    maintenance_.insert(event.subject);
    return;
  }
  if (event.topic == topics::kMaintenanceEnded) {
    maintenance_.erase(event.subject);
    return;
  }
  if (event.kind != Kind::kEvent) return;
  if (!incident_) {
    if (!Opens(event)) return;
    Incident incident;
    incident.id =
        std::to_string(event.wall_us) + "-" + std::to_string(++counter_);
    incident.opened = now;
    incident.quiet_since = now;
    incident.opened_wall_us = event.wall_us;
    incident_ = std::move(incident);
  } else if (maintenance_.contains(event.subject)) {
    return;
  }
  // Inside an incident, the story includes the notices (ups, steps).
  if (event.severity < Severity::kNotice && !event.topic.ends_with(".step"))
    return;
  Track(*incident_, event);
  if (incident_->sent_opened) incident_->news_after = true;
  incident_->quiet_since = now;  // resolved after a quiet period without news
}

std::string IncidentTracker::Signature(const Incident& incident) const {
  std::string out;
  for (const auto& s : incident.subjects) out += s + ";";
  return out.empty() ? "other" : out;
}

nlohmann::json IncidentTracker::Render(const Incident& incident,
                                       const std::string& phase) {
  nlohmann::json timeline = nlohmann::json::array();
  for (const auto& e : incident.timeline)
    timeline.push_back({{"wall_us", e.wall_us},
                        {"topic", e.topic},
                        {"subject", e.subject},
                        {"severity", ToString(e.severity)},
                        {"message", e.message}});
  // Moved while something is still wrong (a peer still dead): the move is
  // what the reader must see first.
  bool moved = incident.failed_over || incident.moved_here;
  std::string status = incident.problems.empty()
                           ? (moved             ? "failed over"
                              : incident.healed ? "healed"
                                                : "recovered")
                           : (incident.escalated ? "escalated"
                              : moved            ? "failed over"
                                                 : "ongoing");
  std::vector<std::string> what(incident.subjects.begin(),
                                incident.subjects.end());
  if (what.empty() && !incident.timeline.empty())
    what.push_back(Base(incident.timeline.front().topic));
  auto& repeat = repeats_[Signature(incident)];
  return {{"id", incident.id},
          {"phase", phase},
          {"node", node_},
          {"opened_us", incident.opened_wall_us},
          {"status", status},
          {"severity", ToString(incident.worst)},
          {"what", what},
          {"still_wrong", std::vector<std::string>(incident.problems.begin(),
                                                   incident.problems.end())},
          {"actions", incident.actions},
          {"failed_over", incident.failed_over},
          {"moved_here", incident.moved_here},
          {"fenced", incident.fenced},
          {"healed", incident.healed},
          {"escalated", incident.escalated},
          {"vip", vip_},
          {"timeline", timeline},
          {"timeline_dropped", incident.dropped},
          {"actions_dropped", incident.actions_dropped},
          {"similar_suppressed", repeat.suppressed}};
}

std::vector<Notice> IncidentTracker::Due(Clock::time_point now) {
  std::vector<Notice> out;
  if (!incident_) return out;
  Incident& incident = *incident_;
  bool resolved = incident.problems.empty() &&
                  now - incident.quiet_since >= settings_.resolve_quiet;
  if (!incident.sent_opened &&
      (now - incident.opened >= settings_.group_wait || resolved)) {
    incident.sent_opened = true;
    incident.told = Milestones(incident);
    incident.told_over = incident.problems.empty();
    auto& repeat = repeats_[Signature(incident)];
    if (repeat.last_sent != Clock::time_point{} &&
        now - repeat.last_sent < settings_.repeat_window) {
      // The same incident again, soon: counted, told with the next one.
      incident.suppressed = true;
      ++repeat.suppressed;
    } else {
      out.push_back({incident.id + "-opened", resolved ? "resolved" : "opened",
                     Render(incident, resolved ? "resolved" : "opened")});
      repeat.last_sent = now;
      repeat.suppressed = 0;
      if (resolved) {
        incident_.reset();
        return out;
      }
    }
  }
  if (incident.suppressed && Milestones(incident) != 0) {
    // A repeat is counted, not mailed, while it is the same small story; one
    // that escalated or failed over is told after all.
    incident.suppressed = false;
    incident.told = Milestones(incident);
    incident.told_over = resolved;
    incident.news_after = false;
    auto& repeat = repeats_[Signature(incident)];
    if (repeat.suppressed > 0) --repeat.suppressed;  // told now, after all
    repeat.last_sent = now;
    std::string phase = resolved ? "resolved" : "opened";
    out.push_back({incident.id + "-opened", phase, Render(incident, phase)});
    repeat.suppressed = 0;
    if (resolved) {
      incident_.reset();
      return out;
    }
  }
  if (!resolved && incident.sent_opened && !incident.suppressed &&
      (Milestones(incident) & ~incident.told) != 0 &&
      now - incident.quiet_since >= settings_.group_wait) {
    // Still open, but the story took a turn (escalated, failed over,
    // fenced, taken over here) and then settled: told now, not only when it
    // is over, which may be never (a peer that stays dead).
    incident.told = Milestones(incident);
    incident.news_after = false;
    out.push_back(
        {incident.id + "-update-" + std::to_string(++incident.updates),
         "update", Render(incident, "update")});
    return out;
  }
  if (resolved) {
    // A follow-up when it tells something new: the first notice showed a
    // problem still open, or news came after it.
    if (!incident.suppressed && (!incident.told_over || incident.news_after))
      out.push_back({incident.id + "-resolved", "resolved",
                     Render(incident, "resolved")});
    incident_.reset();
  }
  return out;
}

nlohmann::json IncidentTracker::Save() const {
  nlohmann::json repeats = nlohmann::json::object();
  for (const auto& [sig, r] : repeats_)
    repeats[sig] = {{"suppressed", r.suppressed}};
  nlohmann::json saved = {{"repeats", repeats},
                          {"maintenance", maintenance_},
                          {"counter", counter_}};
  if (incident_) {
    const auto& i = *incident_;
    nlohmann::json timeline = nlohmann::json::array();
    for (const auto& e : i.timeline)
      timeline.push_back({{"wall_us", e.wall_us},
                          {"topic", e.topic},
                          {"subject", e.subject},
                          {"severity", ToString(e.severity)},
                          {"message", e.message}});
    saved["incident"] = {{"id", i.id},
                         {"opened_us", i.opened_wall_us},
                         {"timeline", timeline},
                         {"dropped", i.dropped},
                         {"problems", i.problems},
                         {"subjects", i.subjects},
                         {"failed_over", i.failed_over},
                         {"fenced", i.fenced},
                         {"moved_here", i.moved_here},
                         {"peer_lost", i.peer_lost},
                         {"told", i.told},
                         {"updates", i.updates},
                         {"healed", i.healed},
                         {"escalated", i.escalated},
                         {"sent_opened", i.sent_opened},
                         {"told_over", i.told_over},
                         {"news_after", i.news_after},
                         {"suppressed", i.suppressed},
                         {"worst", ToString(i.worst)},
                         {"actions", i.actions}};
  }
  return saved;
}

void IncidentTracker::Load(const nlohmann::json& saved, Clock::time_point now) {
  if (!saved.is_object()) return;
  try {
    counter_ = saved.value("counter", std::uint64_t{0});
    if (saved.contains("maintenance"))
      for (const auto& m : saved["maintenance"])
        maintenance_.insert(m.get<std::string>());
    if (saved.contains("repeats"))
      for (const auto& [sig, r] : saved["repeats"].items())
        repeats_[sig].suppressed = r.value("suppressed", 0);
    if (!saved.contains("incident")) return;
    const auto& s = saved["incident"];
    Incident i;
    i.id = s.at("id").get<std::string>();
    i.opened = now;
    i.quiet_since = now;
    i.opened_wall_us = s.value("opened_us", std::int64_t{0});
    for (const auto& e : s.at("timeline"))
      i.timeline.push_back({e.value("wall_us", std::int64_t{0}),
                            e.value("topic", ""), e.value("subject", ""),
                            e.value("message", ""),
                            ParseSeverity(e.value("severity", "info"))
                                .value_or(Severity::kInfo)});
    i.dropped = s.value("dropped", std::size_t{0});
    for (const auto& p : s.at("problems"))
      i.problems.insert(p.get<std::string>());
    for (const auto& p : s.at("subjects"))
      i.subjects.insert(p.get<std::string>());
    i.failed_over = s.value("failed_over", false);
    i.fenced = s.value("fenced", false);
    i.moved_here = s.value("moved_here", false);
    i.peer_lost = s.value("peer_lost", false);
    i.told = s.value("told", 0u);
    i.updates = s.value("updates", 0);
    i.healed = s.value("healed", false);
    i.escalated = s.value("escalated", false);
    i.sent_opened = s.value("sent_opened", false);
    i.told_over = s.value("told_over", false);
    i.news_after = s.value("news_after", false);
    i.suppressed = s.value("suppressed", false);
    i.worst = ParseSeverity(s.value("worst", "info")).value_or(Severity::kInfo);
    for (const auto& a : s.at("actions"))
      i.actions.push_back(a.get<std::string>());
    incident_ = std::move(i);
  } catch (const nlohmann::json::exception&) {
    incident_.reset();  // a damaged state file: start afresh
  }
}

}  // namespace ehabus::notifiers
