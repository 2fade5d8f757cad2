#include "cluster/alert_agent.h"

#include <cctype>
#include <cstdlib>

#include "bus/endpoints.h"

namespace ehabus::cluster {
namespace {

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

}  // namespace

std::string ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<Alert> AlertFromEnvironment(const AlertEnv& Env) {
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
    a.severity = member ? Severity::kNotice : Severity::kError;
    a.subject = node;
    a.message = member ? "node " + node + " joined the cluster"
                       : "node " + node + " left the cluster (" + desc + ")";
    a.data["nodeid"] = Text(Env("CRM_alert_nodeid"), 32);
  } else if (kind == "fencing") {
    int rc = Int(Env("CRM_alert_rc"), -1);
    std::string task = Text(Env("CRM_alert_task"), 32);
    a.topic =
        "cluster.fencing." + Word(node) + "." + (rc == 0 ? "ok" : "failed");
    a.severity = rc == 0 ? Severity::kWarning : Severity::kCritical;
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
    a.severity = ok ? (task == "monitor" ? Severity::kInfo : Severity::kNotice)
                    : Severity::kError;
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
    a.severity = red ? Severity::kWarning : Severity::kInfo;
    a.subject = node;
    a.message = "node " + node + ": " + name + " = " +
                (value.empty() ? "(removed)" : value);
    a.data["attribute"] = name;
    a.data["value"] = value;
  } else {
    return Fail("CRM_alert_kind \"" + Text(kind, 32) +
                "\" is not node, fencing, resource or attribute");
  }
  if (a.subject.empty()) a.subject = "cluster";
  if (a.subject.size() > kMaxNameBytes) {
    a.subject.resize(kMaxNameBytes);
  }
  return a;
}

// Pacemaker runs alert agents as hacluster, group haclient, without
// supplementary groups: the publish socket (group ehabus) is closed to it,
// the broker's alert socket (group haclient, cluster.* only) is not. Run by
// hand as root, either works.
std::string AlertEndpoint(const Config& config) {
  auto ep = EndpointsFrom(config);
  return ep.alert.empty() ? ep.pub : ep.alert;
}

}  // namespace ehabus::cluster
