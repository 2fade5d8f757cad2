#include "sensors/heartbeat.h"

#include <corosync/cfg.h>
#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <corosync/quorum.h>

#include <cstdlib>
#include <sstream>

#include "bus/event.h"
#include "common/subprocess.h"

namespace ehabus::sensors {
namespace {

void Append(std::string& list, const std::string& item) {
  list += (list.empty() ? "" : ", ") + item;
}

std::string CsError(const char* what, cs_error_t error) {
  return std::string(what) + ": " + cs_strerror(error);
}

}  // namespace

struct CorosyncClient::Handles {
  cmap_handle_t cmap = 0;
  quorum_handle_t quorum = 0;
  corosync_cfg_handle_t cfg = 0;
  bool cmap_open = false, quorum_open = false, cfg_open = false;
};

CorosyncClient::CorosyncClient() : handles_(std::make_unique<Handles>()) {}

CorosyncClient::~CorosyncClient() { Close(); }

void CorosyncClient::Close() {
  if (handles_->cmap_open) cmap_finalize(handles_->cmap);
  if (handles_->quorum_open) quorum_finalize(handles_->quorum);
  if (handles_->cfg_open) corosync_cfg_finalize(handles_->cfg);
  *handles_ = Handles{};
}

CorosyncView CorosyncClient::Read() {
  std::lock_guard lock(mutex_);
  // Both corosync checks run at the same interval: one read serves both.
  auto now = std::chrono::steady_clock::now();
  if (cached_ && now - cached_at_ < std::chrono::milliseconds(500))
    return *cached_;
  CorosyncView view = ReadLocked();
  cached_ = view;
  cached_at_ = now;
  // Any error: connect afresh next time (corosync may have restarted).
  if (!view.error.empty()) Close();
  return view;
}

CorosyncView CorosyncClient::ReadLocked() {
  CorosyncView view;
  Handles& h = *handles_;
  // Connections are kept: opening one costs corosync and us shared-memory
  // set-up, which every two seconds would be most of the sensor's CPU.
  if (!h.cmap_open) {
    if (cs_error_t e = cmap_initialize(&h.cmap); e != CS_OK) {
      view.error = CsError("corosync not answering (cmap)", e);
      return view;
    }
    h.cmap_open = true;
  }
  cmap_handle_t cmap = h.cmap;
  // The configured nodes: nodelist.node.N.{nodeid,name}.
  std::map<std::string, CorosyncMember> by_index;
  cmap_iter_handle_t iter = 0;
  if (cs_error_t e = cmap_iter_init(cmap, "nodelist.node.", &iter);
      e != CS_OK) {
    view.error = CsError("corosync cmap", e);
    return view;
  }
  char key[CMAP_KEYNAME_MAXLEN + 1];
  std::size_t len = 0;
  cmap_value_types_t type;
  while (cmap_iter_next(cmap, iter, key, &len, &type) == CS_OK) {
    std::string k = key;  // nodelist.node.0.nodeid
    std::size_t dot = k.find('.', 14);
    if (dot == std::string::npos) continue;
    std::string index = k.substr(14, dot - 14), field = k.substr(dot + 1);
    if (field == "nodeid") {
      std::uint32_t id = 0;
      if (cmap_get_uint32(cmap, key, &id) == CS_OK) by_index[index].nodeid = id;
    } else if (field == "name") {
      char* name = nullptr;
      if (cmap_get_string(cmap, key, &name) == CS_OK) {
        by_index[index].name = name;
        std::free(name);
      }
    }
  }
  cmap_iter_finalize(cmap, iter);
  for (auto& [index, member] : by_index) {
    std::string status_key =
        "runtime.members." + std::to_string(member.nodeid) + ".status";
    char* status = nullptr;
    if (cmap_get_string(cmap, status_key.c_str(), &status) == CS_OK) {
      member.joined = std::string(status) == "joined";
      std::free(status);
    }
    if (member.name.empty())
      member.name = "node " + std::to_string(member.nodeid);
    view.members.push_back(member);
  }

  if (!h.quorum_open) {
    quorum_callbacks_t callbacks{};
    std::uint32_t quorum_type = 0;
    if (cs_error_t e = quorum_initialize(&h.quorum, &callbacks, &quorum_type);
        e != CS_OK) {
      view.error = CsError("corosync quorum service not answering", e);
      return view;
    }
    h.quorum_open = true;
  }
  int quorate = 0;
  if (cs_error_t e = quorum_getquorate(h.quorum, &quorate); e != CS_OK) {
    view.error = CsError("quorum_getquorate", e);
    return view;
  }
  view.quorate = quorate != 0;

  if (!h.cfg_open) {
    corosync_cfg_callbacks_t callbacks{};
    if (cs_error_t e = corosync_cfg_initialize(&h.cfg, &callbacks);
        e != CS_OK) {
      view.error = CsError("corosync cfg service not answering", e);
      return view;
    }
    h.cfg_open = true;
  }
  unsigned local = 0;
  if (cs_error_t e = corosync_cfg_local_get(h.cfg, &local); e != CS_OK) {
    view.error = CsError("corosync_cfg_local_get", e);
    return view;
  }
  view.local = local;
  for (const auto& member : view.members) {
    if (member.nodeid == local) continue;
    corosync_cfg_node_status_v1 status{};
    if (corosync_cfg_node_status_get(h.cfg, member.nodeid, CFG_NODE_STATUS_V1,
                                     &status) != CS_OK)
      continue;
    for (int i = 0; i < CFG_MAX_LINKS; ++i) {
      const auto& link = status.link_status[i];
      if (!link.enabled) continue;
      view.links.push_back({i, member.nodeid, member.name, link.src_ipaddr,
                            link.dst_ipaddr, link.connected != 0});
    }
  }
  return view;
}

ProbeResult MembershipResult(const CorosyncView& view) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult result;
  if (!view.error.empty()) return Finish(result, start, false, view.error);
  nlohmann::json members = nlohmann::json::array();
  std::string joined, missing;
  for (const auto& m : view.members) {
    members.push_back(
        {{"nodeid", m.nodeid}, {"name", m.name}, {"joined", m.joined}});
    Append(m.joined ? joined : missing, m.name);
  }
  result.data["members"] = members;
  result.data["quorate"] = view.quorate;
  result.data["local_nodeid"] = view.local;
  std::string reason = "members: " + (joined.empty() ? "none" : joined) + "; " +
                       (view.quorate ? "quorate" : "NOT quorate");
  if (!missing.empty()) reason += "; not a member: " + missing;
  return Finish(result, start, view.quorate && missing.empty(), reason);
}

ProbeResult LinksResult(const CorosyncView& view) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult result;
  if (!view.error.empty()) return Finish(result, start, false, view.error);
  nlohmann::json links = nlohmann::json::array();
  std::string up, down;
  for (const auto& l : view.links) {
    links.push_back({{"link", l.link},
                     {"peer", l.peer_name},
                     {"src", l.src},
                     {"dst", l.dst},
                     {"connected", l.connected}});
    std::string text = "link " + std::to_string(l.link) + " to " + l.peer_name +
                       " (" + l.dst + ")";
    Append(l.connected ? up : down, text);
  }
  result.data["links"] = links;
  if (view.links.empty())
    return Finish(result, start, true, "no peer links (single node)");
  std::string reason =
      down.empty()
          ? "all connected: " + up
          : "disconnected: " + down +
                (up.empty() ? "; no link left" : "; still connected: " + up);
  return Finish(result, start, down.empty(), reason);
}

ProbeResult ProbeSbd(const std::string& sbd, const std::string& device,
                     Deadline deadline) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult result;
  result.data["device"] = device;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto run = Run({.argv = {sbd, "-d", device, "list"},
                  .timeout = std::max(left, std::chrono::milliseconds(1)),
                  .grace = std::chrono::milliseconds(100),
                  .capture_limit = 64 * 1024});
  if (!run.started())
    return Finish(result, start, false, "sbd: " + run.spawn_error);
  if (run.timed_out) {
    return Finish(result, start, false,
                  device +
                      ": sbd list gave no answer within the deadline "
                      "(disk hung?)");
  }
  const std::string& output = run.output;
  if (!run.ok()) {
    return Finish(result, start, false,
                  device + ": sbd list failed (" + run.Describe() +
                      "): " + Quote(run.first_line()));
  }
  // "0\tnode1\tclear\t" per slot.
  nlohmann::json slots = nlohmann::json::array();
  std::string pending;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string slot, node, message;
    if (!(fields >> slot >> node >> message)) continue;
    slots.push_back({{"slot", slot}, {"node", node}, {"message", message}});
    if (message != "clear")
      pending += (pending.empty() ? "" : ", ") + message + " for " + node;
  }
  result.data["slots"] = slots;
  std::string reason = device + ": readable, " + std::to_string(slots.size()) +
                       " slots" +
                       (pending.empty() ? "" : "; messages: " + pending);
  return Finish(result, start, true, reason);
}

void StorageView::Set(const std::string& name, const std::string& health) {
  std::lock_guard lock(mutex_);
  health_[name] = health;
}

std::string StorageView::Describe(bool& healthy) const {
  std::lock_guard lock(mutex_);
  healthy = false;
  if (health_.empty())
    return "shared storage state unknown (no storage sensor state on the bus)";
  std::string up, bad;
  for (const auto& [name, health] : health_) {
    if (health == "up")
      Append(up, name);
    else
      Append(bad, name + " " + health);
  }
  if (!bad.empty()) return "shared storage NOT healthy: " + bad;
  healthy = true;
  return "shared storage healthy (" + up + ")";
}

}  // namespace ehabus::sensors
