// ehabus-pacemaker-alert: Pacemaker's alert agent (the <alert> of the
// rendered configuration). Pacemaker runs it once per cluster event with the
// event in CRM_alert_* variables; it publishes the event on the node's bus,
// so `ehabus tail` and the notifiers see cluster events beside ehabus's own.
//
//   cluster.node.NODE.member|lost        a node joined or left
//   cluster.fencing.NODE.ok|failed       a fencing action and its result
//   cluster.resource.RSC.TASK.ok|failed  a resource operation (Pacemaker
//                                        does not alert successful monitors)
//   cluster.attribute.NAME               a node attribute changed
//
// Every value comes from Pacemaker and is sanitised: topic words are reduced
// to [a-z0-9_-], texts cut and stripped of control characters. It never
// blocks Pacemaker: no broker within 2 s, and the event is dropped (said on
// stderr, which Pacemaker logs), exit 0 either way except for bad input.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <zmq.hpp>

#include "bus/cli_support.h"
#include "bus/endpoints.h"
#include "bus/event.h"
#include "bus/publisher.h"

namespace {

using namespace std::chrono_literals;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A topic word: lower case letters, digits, _ and -; everything else _.
std::string Word(const std::string& text, std::size_t max = 40) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) break;
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (c == '_' || c == '-') {
      out += c;
    } else {
      out += '_';
    }
  }
  return out.empty() ? "unknown" : out;
}

// Text for people: printable, bounded.
std::string Text(const std::string& text, std::size_t max = 400) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  return out;
}

int Int(const std::string& text, int fallback) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    return used == text.size() ? v : fallback;
  } catch (const std::exception&) {
    return fallback;
  }
}

struct Alert {
  std::string topic;
  ehabus::Severity severity = ehabus::Severity::kInfo;
  std::string subject;
  std::string message;
  nlohmann::json data;
};

std::optional<Alert> FromEnvironment(std::string* problem) {
  std::string kind = Env("CRM_alert_kind");
  std::string node = Text(Env("CRM_alert_node"), 64);
  std::string desc = Text(Env("CRM_alert_desc"));
  Alert a;
  a.data = {{"kind", kind},
            {"node", node},
            {"desc", desc},
            {"timestamp", Text(Env("CRM_alert_timestamp"), 64)},
            {"sequence", Text(Env("CRM_alert_node_sequence"), 32)}};
  if (kind == "node") {
    bool member = desc == "member";
    a.topic = "cluster.node." + Word(node) + "." + (member ? "member" : "lost");
    a.severity = member ? ehabus::Severity::kNotice : ehabus::Severity::kError;
    a.subject = node;
    a.message = member ? "node " + node + " joined the cluster"
                       : "node " + node + " left the cluster (" + desc + ")";
    a.data["nodeid"] = Text(Env("CRM_alert_nodeid"), 32);
  } else if (kind == "fencing") {
    int rc = Int(Env("CRM_alert_rc"), -1);
    std::string task = Text(Env("CRM_alert_task"), 32);
    a.topic =
        "cluster.fencing." + Word(node) + "." + (rc == 0 ? "ok" : "failed");
    a.severity =
        rc == 0 ? ehabus::Severity::kWarning : ehabus::Severity::kCritical;
    a.subject = node;
    a.message = rc == 0
                    ? "node " + node + " fenced (" + task + "): " + desc
                    : "fencing of " + node + " (" + task + ") FAILED: " + desc;
    a.data["task"] = task;
    a.data["rc"] = rc;
  } else if (kind == "resource") {
    std::string rsc = Text(Env("CRM_alert_rsc"), 64);
    std::string task = Text(Env("CRM_alert_task"), 32);
    int rc = Int(Env("CRM_alert_rc"), -1);
    int target = Int(Env("CRM_alert_target_rc"), 0);
    int status = Int(Env("CRM_alert_status"), 0);
    bool ok = status == 0 && rc == target;
    a.topic = "cluster.resource." + Word(rsc) + "." + Word(task, 20) + "." +
              (ok ? "ok" : "failed");
    a.severity = ok ? (task == "monitor" ? ehabus::Severity::kInfo
                                         : ehabus::Severity::kNotice)
                    : ehabus::Severity::kError;
    a.subject = rsc;
    a.message = rsc + " " + task + " on " + node + ": " +
                (ok ? "ok" : "FAILED (" + desc + ")");
    a.data["resource"] = rsc;
    a.data["task"] = task;
    a.data["rc"] = rc;
    a.data["target_rc"] = target;
    a.data["status"] = status;
    a.data["interval_ms"] = Int(Env("CRM_alert_interval"), 0);
  } else if (kind == "attribute") {
    std::string name = Text(Env("CRM_alert_attribute_name"), 64);
    std::string value = Text(Env("CRM_alert_attribute_value"), 200);
    a.topic = "cluster.attribute." + Word(name);
    bool red = name.starts_with("#health") && value == "red";
    a.severity = red ? ehabus::Severity::kWarning : ehabus::Severity::kInfo;
    a.subject = node;
    a.message = "node " + node + ": " + name + " = " +
                (value.empty() ? "(removed)" : value);
    a.data["attribute"] = name;
    a.data["value"] = value;
  } else {
    *problem = "CRM_alert_kind \"" + Text(kind, 32) +
               "\" is not node, fencing, resource or attribute";
    return std::nullopt;
  }
  if (a.subject.empty()) a.subject = "cluster";
  if (a.subject.size() > ehabus::kMaxNameBytes) {
    a.subject.resize(ehabus::kMaxNameBytes);
  }
  return a;
}

// Pacemaker runs alert agents as hacluster, group haclient, without
// supplementary groups: the publish socket (group ehabus) is closed to it,
// the broker's alert socket (group haclient, cluster.* only) is not. Run by
// hand as root, either works.
std::string AlertEndpoint(const ehabus::Config& config) {
  auto ep = ehabus::EndpointsFrom(config);
  return ep.alert.empty() ? ep.pub : ep.alert;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  if (argc == 3 && std::string(argv[1]) == "--config") {
    config_path = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr,
                 "usage: ehabus-pacemaker-alert [--config FILE] (run by "
                 "Pacemaker, event in CRM_alert_*)\n");
    return 2;
  }
  std::string problem;
  auto alert = FromEnvironment(&problem);
  if (!alert) {
    std::fprintf(stderr, "ehabus-pacemaker-alert: %s\n", problem.c_str());
    return 1;
  }
  auto config = ehabus::LoadConfigOrReport(config_path);
  if (!config) return ehabus::kExitConfig;
  try {
    zmq::context_t context(1);
    ehabus::Publisher publisher(
        context, {AlertEndpoint(*config), ehabus::NodeName(*config),
                  "pacemaker-alert", 100});
    if (!publisher.WaitAttached(2s)) {
      std::fprintf(stderr,
                   "ehabus-pacemaker-alert: no broker; dropped %s: %s\n",
                   alert->topic.c_str(), alert->message.c_str());
      return 0;
    }
    publisher.Publish(alert->topic, alert->severity, alert->subject,
                      alert->message, alert->data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehabus-pacemaker-alert: %s\n", e.what());
    return 1;
  }
  return 0;
}
