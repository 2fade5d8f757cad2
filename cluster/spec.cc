#include "cluster/spec.h"

#include <arpa/inet.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"

namespace ehabus::cluster {

namespace {

using std::chrono::milliseconds;

// Durations as Pacemaker reads them: whole seconds where exact, else ms.
std::string Dur(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

bool IdSafe(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

bool IsIp(const std::string& s, bool* v6 = nullptr) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    if (v6) *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    if (v6) *v6 = true;
    return true;
  }
  return false;
}

class Errors {
 public:
  Errors(const Config& config, std::string path)
      : config_(config), path_(std::move(path)) {}
  void Add(std::string_view section, std::string_view key,
           std::string message) {
    auto where = config_.Where(section, key);
    errors_.push_back({where ? where->file : path_, where ? where->line : 0,
                       std::string(section), std::string(key),
                       std::move(message)});
  }
  std::vector<ConfigError>& list() { return errors_; }

 private:
  const Config& config_;
  std::string path_;
  std::vector<ConfigError> errors_;
};

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A crm shell word: quoted when it holds anything but plain characters.
std::string CrmWord(std::string_view s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_.:/%,@+").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Op {
  std::string name;
  milliseconds interval{0};
  milliseconds timeout{0};
};

struct Primitive {
  std::string id;
  std::string cls;  // ocf | stonith
  std::string provider;
  std::string type;
  Pairs params;
  Pairs meta;
  std::vector<Op> ops;
};

// The resources in the order they are rendered.
struct Model {
  std::vector<Primitive> group_members;
  std::optional<Primitive> fence;
  std::optional<Primitive> ping;
  Pairs options;
  Pairs rsc_defaults;
  Pairs op_defaults;
};

std::string FilesystemDevice(const std::string& device) {
  if (device.starts_with("UUID=")) return "-U " + device.substr(5);
  if (device.starts_with("LABEL=")) return "-L " + device.substr(6);
  return device;
}

std::string SbdDevice(const std::string& device) {
  if (device.starts_with("PARTUUID=")) {
    return "/dev/disk/by-partuuid/" + device.substr(9);
  }
  return device;
}

std::string StonithTimeout(const Spec& spec) {
  // sbd's rule: at least 1.2 times msgwait; plus the fencing delay.
  auto need =
      spec.sbd_msgwait * 12 / 10 + spec.fencing_delay + milliseconds(10'000);
  if (spec.fencing_mode != "sbd")
    need = spec.fencing_delay + milliseconds(60'000);
  need = std::max(need, milliseconds(60'000));
  return std::to_string((need.count() + 999) / 1000) + "s";
}

Model Build(const Spec& spec, const RenderOptions& options) {
  Model m;
  m.options = {
      {"stonith-enabled", "true"},
      {"stonith-timeout", StonithTimeout(spec)},
      {"priority-fencing-delay", Dur(spec.fencing_delay)},
      {"no-quorum-policy", "stop"},
      {"node-health-strategy", "migrate-on-red"},
      {"cluster-recheck-interval", "1m"},
  };
  m.rsc_defaults = {
      {"resource-stickiness", std::to_string(spec.stickiness)},
      {"migration-threshold", std::to_string(spec.migration_threshold)},
      {"failure-timeout", Dur(spec.failure_timeout)},
  };
  m.op_defaults = {{"timeout", "60s"}};
  (void)options;

  for (const auto& mount : spec.storage) {
    if (!mount.cluster_managed) continue;
    Primitive p{
        "fs-" + mount.name, "ocf", "heartbeat", "Filesystem", {}, {}, {}};
    p.params = {{"device", FilesystemDevice(mount.device)},
                {"directory", mount.mountpoint}};
    if (!mount.fstype.empty()) p.params.emplace_back("fstype", mount.fstype);
    if (!mount.options.empty()) {
      p.params.emplace_back("options", mount.options);
    }
    p.ops = {{"start", milliseconds(0), milliseconds(60'000)},
             {"stop", milliseconds(0), milliseconds(60'000)},
             {"monitor", milliseconds(20'000), milliseconds(40'000)}};
    m.group_members.push_back(std::move(p));
  }
  int n = 0;
  for (const auto& vip : spec.vips) {
    Primitive p{"vip-" + std::to_string(++n),
                "ocf",
                "heartbeat",
                "IPaddr2",
                {},
                {},
                {}};
    p.params = {{"ip", vip.address},
                {"cidr_netmask", std::to_string(vip.prefix)}};
    if (!spec.nic.empty()) p.params.emplace_back("nic", spec.nic);
    p.ops = {{"start", milliseconds(0), milliseconds(20'000)},
             {"stop", milliseconds(0), milliseconds(20'000)},
             {"monitor", milliseconds(10'000), milliseconds(20'000)}};
    m.group_members.push_back(std::move(p));
  }
  {
    Primitive p{spec.stack_resource, "ocf", "ehabus", "mailstack", {}, {}, {}};
    p.params = {{"config", spec.config_path}};
    p.meta = {{"priority", std::to_string(spec.priority)}};
    p.ops = {{"start", milliseconds(0), spec.start_timeout},
             {"stop", milliseconds(0), spec.stop_timeout},
             {"monitor", spec.monitor_interval, spec.monitor_timeout}};
    m.group_members.push_back(std::move(p));
  }
  if (spec.fencing_mode == "sbd") {
    Primitive p{"fence-sbd", "stonith", "", "fence_sbd", {}, {}, {}};
    std::string devices;
    for (const auto& d : spec.sbd_devices) {
      if (!devices.empty()) devices += ",";
      devices += SbdDevice(d);
    }
    p.params = {{"devices", devices}};
    p.meta = {{"allow-unhealthy-nodes", "true"}};
    p.ops = {{"monitor", milliseconds(3'600'000), milliseconds(20'000)}};
    m.fence = std::move(p);
  } else {
    Primitive p{"fence-agent", "stonith", "", spec.fence_agent, {}, {}, {}};
    p.params = spec.fence_options;
    p.meta = {{"allow-unhealthy-nodes", "true"}};
    p.ops = {{"monitor", milliseconds(60'000), milliseconds(20'000)}};
    m.fence = std::move(p);
  }
  if (!spec.ping_targets.empty()) {
    Primitive p{"ping", "ocf", "pacemaker", "ping", {}, {}, {}};
    std::string hosts;
    for (const auto& t : spec.ping_targets) {
      if (!hosts.empty()) hosts += " ";
      hosts += t;
    }
    p.params = {{"host_list", hosts},
                {"multiplier", std::to_string(spec.ping_multiplier)},
                {"dampen", Dur(spec.ping_dampen)}};
    p.ops = {{"monitor", spec.ping_interval, milliseconds(60'000)}};
    m.ping = std::move(p);
  }
  return m;
}

// --- XML --------------------------------------------------------------------

void XmlPairs(std::string& out, const std::string& indent,
              const std::string& element, const std::string& id,
              const Pairs& pairs, const std::string& extra = "") {
  if (pairs.empty()) return;
  out +=
      indent + "<" + element + " id=\"" + XmlEscape(id) + "\"" + extra + ">\n";
  for (const auto& [k, v] : pairs) {
    out += indent + "  <nvpair id=\"" + XmlEscape(id + "-" + k) + "\" name=\"" +
           XmlEscape(k) + "\" value=\"" + XmlEscape(v) + "\"/>\n";
  }
  out += indent + "</" + element + ">\n";
}

void XmlPrimitive(std::string& out, const std::string& indent,
                  const Primitive& p) {
  out += indent + "<primitive id=\"" + XmlEscape(p.id) + "\" class=\"" + p.cls +
         "\"";
  if (!p.provider.empty()) out += " provider=\"" + p.provider + "\"";
  out += " type=\"" + XmlEscape(p.type) + "\">\n";
  XmlPairs(out, indent + "  ", "instance_attributes", p.id + "-params",
           p.params);
  XmlPairs(out, indent + "  ", "meta_attributes", p.id + "-meta", p.meta);
  if (!p.ops.empty()) {
    out += indent + "  <operations>\n";
    for (const auto& op : p.ops) {
      out += indent + "    <op id=\"" + XmlEscape(p.id) + "-" + op.name + "-" +
             Dur(op.interval) + "\" name=\"" + op.name + "\" interval=\"" +
             Dur(op.interval) + "\" timeout=\"" + Dur(op.timeout) + "\"/>\n";
    }
    out += indent + "  </operations>\n";
  }
  out += indent + "</primitive>\n";
}

// --- crm --------------------------------------------------------------------

std::string CrmPairs(const char* word, const Pairs& pairs) {
  if (pairs.empty()) return "";
  std::string out = std::string(" \\\n\t") + word;
  for (const auto& [k, v] : pairs) out += " " + k + "=" + CrmWord(v);
  return out;
}

std::string CrmPrimitive(const Primitive& p) {
  std::string out = "primitive " + p.id + " " + p.cls + ":";
  if (!p.provider.empty()) out += p.provider + ":";
  out += p.type;
  out += CrmPairs("params", p.params);
  out += CrmPairs("meta", p.meta);
  for (const auto& op : p.ops) {
    out += " \\\n\top " + op.name + " interval=" + Dur(op.interval) +
           " timeout=" + Dur(op.timeout);
  }
  return out + "\n";
}

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> Unbase64(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock keeps the padding's zero bytes.
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(out.size() - pad);
  return out;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// --- libxml2 helpers
// ----------------------------------------------------------

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

Doc Parse(const std::string& text) {
  return Doc(xmlReadMemory(text.data(), static_cast<int>(text.size()),
                           "cib.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOBLANKS));
}

xmlNode* Child(xmlNode* parent, const char* name) {
  for (xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE &&
        xmlStrcmp(c->name, reinterpret_cast<const xmlChar*>(name)) == 0) {
      return c;
    }
  }
  return nullptr;
}

std::string Attr(xmlNode* node, const char* name) {
  xmlChar* v = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  if (!v) return "";
  std::string s(reinterpret_cast<char*>(v));
  xmlFree(v);
  return s;
}

xmlNode* Configuration(xmlDoc* doc) {
  xmlNode* root = xmlDocGetRootElement(doc);
  if (!root || xmlStrcmp(root->name, BAD_CAST "cib") != 0) return nullptr;
  return Child(root, "configuration");
}

std::string Dump(xmlDoc* doc, xmlNode* node) {
  xmlBuffer* buf = xmlBufferCreate();
  xmlNodeDump(buf, doc, node, 0, 1);
  std::string s(reinterpret_cast<const char*>(xmlBufferContent(buf)));
  xmlBufferFree(buf);
  return s + "\n";
}

// Removes the element children of PARENT for which KEEP is false.
template <class Keep>
void Prune(xmlNode* parent, Keep keep) {
  for (xmlNode* c = parent->children; c;) {
    xmlNode* next = c->next;
    if (c->type == XML_ELEMENT_NODE && !keep(c)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

void CopyChildren(xmlNode* to, xmlNode* from) {
  for (xmlNode* c = from->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    xmlAddChild(to, xmlDocCopyNode(c, to->doc, 1));
  }
}

}  // namespace

tl::expected<Spec, std::vector<ConfigError>> SpecFrom(
    const Config& config, const std::string& config_path) {
  Errors errors(config, config_path);
  Spec spec;
  spec.name = config.String("cluster", "name");
  if (!IdSafe(spec.name)) {
    errors.Add(
        "cluster", "name",
        "\"" + spec.name + "\" is not a cluster name (letters, digits, - _ .)");
  }
  auto names = config.List("cluster", "nodes");
  auto ring0 = config.List("cluster", "ring0");
  auto ring1 = config.List("cluster", "ring1");
  if (names.size() < 2 || names.size() > 16) {
    errors.Add(
        "cluster", "nodes",
        std::to_string(names.size()) + " nodes given; a cluster has 2 to 16");
  }
  if (ring0.size() != names.size()) {
    errors.Add("cluster", "ring0",
               std::to_string(ring0.size()) + " addresses for " +
                   std::to_string(names.size()) + " nodes");
  }
  if (!ring1.empty() && ring1.size() != names.size()) {
    errors.Add("cluster", "ring1",
               std::to_string(ring1.size()) + " addresses for " +
                   std::to_string(names.size()) + " nodes (or none)");
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    Node node{names[i], static_cast<int>(i + 1), "", ""};
    if (!IdSafe(node.name)) {
      errors.Add("cluster", "nodes",
                 "\"" + node.name + "\" is not a node name");
    }
    if (i < ring0.size()) {
      node.ring0 = ring0[i];
      if (!IsIp(node.ring0)) {
        errors.Add("cluster", "ring0",
                   "\"" + node.ring0 + "\" is not an IP address");
      }
    }
    if (i < ring1.size()) {
      node.ring1 = ring1[i];
      if (!IsIp(node.ring1)) {
        errors.Add("cluster", "ring1",
                   "\"" + node.ring1 + "\" is not an IP address");
      }
    }
    spec.nodes.push_back(node);
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t j = i + 1; j < names.size(); ++j) {
      if (names[i] == names[j]) {
        errors.Add("cluster", "nodes", "node \"" + names[i] + "\" twice");
      }
    }
  }
  spec.transport = config.String("cluster", "transport");
  spec.token = config.Duration("cluster", "token");
  spec.stickiness = config.Int("cluster", "stickiness");
  spec.migration_threshold = config.Int("cluster", "migration_threshold");
  spec.failure_timeout = config.Duration("cluster", "failure_timeout");
  spec.alert_agent = config.String("cluster", "alert_agent");
  spec.config_sync = config.Bool("cluster", "config_sync");

  for (const auto& text : config.List("vip", "addresses")) {
    auto slash = text.find('/');
    Vip vip;
    vip.address = text.substr(0, slash);
    bool ok = slash != std::string::npos && IsIp(vip.address, &vip.ipv6);
    if (ok) {
      try {
        std::size_t used = 0;
        vip.prefix = std::stoi(text.substr(slash + 1), &used);
        ok = used == text.size() - slash - 1 && vip.prefix >= 1 &&
             vip.prefix <= (vip.ipv6 ? 128 : 32);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      errors.Add("vip", "addresses",
                 "\"" + text + "\" is not ADDRESS/PREFIX (198.18.10.100/24)");
      continue;
    }
    spec.vips.push_back(vip);
  }
  spec.nic = config.String("vip", "nic");
  if (spec.vips.empty()) {
    errors.Add("vip", "addresses", "no service address: clients need one");
  }

  spec.fencing_mode = config.String("fencing", "mode");
  spec.sbd_devices = config.List("fencing", "sbd_devices");
  spec.sbd_watchdog_timeout =
      config.Duration("fencing", "sbd_watchdog_timeout");
  spec.sbd_msgwait = config.Duration("fencing", "sbd_msgwait");
  spec.watchdog_device = config.String("fencing", "watchdog_device");
  spec.fence_agent = config.String("fencing", "agent");
  spec.fencing_delay = config.Duration("fencing", "delay");
  if (spec.fencing_mode == "sbd") {
    if (spec.sbd_devices.empty() || spec.sbd_devices.size() > 3) {
      errors.Add("fencing", "sbd_devices",
                 std::to_string(spec.sbd_devices.size()) +
                     " SBD disks given; fencing by SBD needs 1 to 3");
    }
    for (const auto& d : spec.sbd_devices) {
      if (!d.starts_with("/dev/") && !d.starts_with("PARTUUID=")) {
        errors.Add("fencing", "sbd_devices",
                   "\"" + d + "\" is neither /dev/PATH nor PARTUUID=...");
      }
    }
    if (spec.sbd_msgwait < 2 * spec.sbd_watchdog_timeout) {
      errors.Add("fencing", "sbd_msgwait",
                 Dur(spec.sbd_msgwait) +
                     " is less than twice the watchdog "
                     "timeout (" +
                     Dur(spec.sbd_watchdog_timeout) +
                     "): a fenced node could still be writing");
    }
  } else {
    if (spec.fence_agent.empty() || !spec.fence_agent.starts_with("fence_")) {
      errors.Add("fencing", "agent",
                 "mode = agent needs a fence-agents agent (fence_...)");
    }
    std::istringstream words(config.String("fencing", "agent_options"));
    for (std::string w; words >> w;) {
      auto eq = w.find('=');
      if (eq == std::string::npos || eq == 0) {
        errors.Add("fencing", "agent_options",
                   "\"" + w + "\" is not NAME=VALUE");
        continue;
      }
      spec.fence_options.emplace_back(w.substr(0, eq), w.substr(eq + 1));
    }
  }

  spec.ping_targets = config.List("ping", "targets");
  for (const auto& t : spec.ping_targets) {
    if (!IsIp(t)) {
      errors.Add("ping", "targets", "\"" + t + "\" is not an IP address");
    }
  }
  spec.ping_multiplier = config.Int("ping", "multiplier");
  spec.ping_dampen = config.Duration("ping", "dampen");
  spec.ping_interval = config.Duration("ping", "interval");
  if (!spec.ping_targets.empty() && spec.ping_multiplier <= spec.stickiness) {
    errors.Add("ping", "multiplier",
               "must be more than [cluster] stickiness (" +
                   std::to_string(spec.stickiness) +
                   "), or losing the gateway never moves the stack");
  }

  spec.group = config.String("stack", "group");
  spec.stack_resource = config.String("stack", "resource");
  for (const char* key : {"group", "resource"}) {
    if (!IdSafe(config.String("stack", key))) {
      errors.Add("stack", key, "not a resource id (letters, digits, - _ .)");
    }
  }
  spec.profile = config.String("stack", "profile");
  spec.config_path = config_path;
  spec.start_timeout = config.Duration("stack", "start_timeout");
  spec.stop_timeout = config.Duration("stack", "stop_timeout");
  spec.monitor_interval = config.Duration("stack", "monitor_interval");
  spec.monitor_timeout = config.Duration("stack", "monitor_timeout");
  spec.priority = config.Int("stack", "priority");
  spec.health_attribute = config.String("healer.failover", "attribute");

  for (const auto& section : config.SectionsWithPrefix("storage.")) {
    Mount m;
    m.name = section.substr(8);
    m.device = config.String(section, "device");
    m.mountpoint = config.String(section, "mountpoint");
    m.fstype = config.String(section, "fstype");
    m.options = config.String(section, "options");
    m.cluster_managed = config.Bool(section, "cluster_managed");
    if (!IdSafe(m.name)) {
      errors.Add(section, "device",
                 "[" + section + "]: NAME must be letters, digits, - _ .");
    }
    bool network = m.device.find(":/") != std::string::npos;
    if (!m.device.starts_with("/dev/") && !m.device.starts_with("UUID=") &&
        !m.device.starts_with("LABEL=") && !network) {
      errors.Add(section, "device",
                 "\"" + m.device +
                     "\" is not /dev/PATH, UUID=, LABEL= or HOST:/EXPORT");
    }
    if (network && m.fstype.empty()) {
      errors.Add(section, "fstype",
                 "a network mount needs its type (e.g. fuse.sshfs)");
    }
    spec.storage.push_back(std::move(m));
  }
  if (!errors.list().empty()) return tl::unexpected(errors.list());
  return spec;
}

std::string SharedConfig::Encode() const {
  nlohmann::json doc = {{"files", files}};
  return Base64(doc.dump());
}

std::string SharedConfig::Digest() const { return Sha256Hex(Encode()); }

tl::expected<SharedConfig, std::string> SharedConfig::Decode(
    const std::string& encoded) {
  auto raw = Unbase64(encoded);
  if (!raw) return tl::unexpected(std::string("not base64"));
  auto doc = nlohmann::json::parse(*raw, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("files") ||
      !doc["files"].is_object()) {
    return tl::unexpected(std::string("not an ehabus configuration document"));
  }
  SharedConfig shared;
  for (const auto& [name, text] : doc["files"].items()) {
    bool safe = (name == "ehabus.ini" ||
                 (name.starts_with("conf.d/") && name.ends_with(".ini") &&
                  name.find('/', 7) == std::string::npos &&
                  name.find("..") == std::string::npos));
    if (!safe || !text.is_string()) {
      return tl::unexpected("unexpected file \"" + name + "\"");
    }
    shared.files[name] = text.get<std::string>();
  }
  if (!shared.files.contains("ehabus.ini")) {
    return tl::unexpected(std::string("no ehabus.ini in the document"));
  }
  return shared;
}

tl::expected<SharedConfig, std::string> SharedConfig::Read(
    const std::string& path) {
  SharedConfig shared;
  auto main = ReadWholeFile(path);
  if (!main) return tl::unexpected(path + ": cannot read");
  shared.files["ehabus.ini"] = *main;
  std::filesystem::path dir =
      std::filesystem::path(path).parent_path() / "conf.d";
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".ini") continue;
      auto text = ReadWholeFile(entry.path().string());
      if (!text) return tl::unexpected(entry.path().string() + ": cannot read");
      shared.files["conf.d/" + entry.path().filename().string()] = *text;
    }
  }
  return shared;
}

tl::expected<std::vector<std::string>, std::string> SharedConfig::Write(
    const std::string& path) const {
  std::vector<std::string> changed;
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  auto current = Read(path);
  for (const auto& [name, text] : files) {
    std::filesystem::path target =
        name == "ehabus.ini" ? std::filesystem::path(path) : base / name;
    auto old = ReadWholeFile(target.string());
    if (old && *old == text) continue;
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (auto written = WriteFileAtomic(target.string(), text,
                                       {.mode = 0644, .sync = true});
        !written) {
      return tl::unexpected(written.error().message);
    }
    changed.push_back(name);
  }
  // conf.d files the cluster no longer has.
  if (current) {
    for (const auto& [name, text] : current->files) {
      if (files.contains(name)) continue;
      std::filesystem::path target = base / name;
      std::error_code ec;
      std::filesystem::rename(target, target.string() + ".removed", ec);
      if (!ec) changed.push_back(name + " (removed)");
    }
  }
  return changed;
}

std::string RenderXml(const Spec& spec, const RenderOptions& options) {
  Model m = Build(spec, options);
  std::string out;
  out += "<!-- Rendered by ehabus cluster render from " +
         XmlEscape(spec.config_path) + "; edit that file, not this. -->\n";
  out +=
      "<cib validate-with=\"pacemaker-3.9\" epoch=\"1\" num_updates=\"0\" "
      "admin_epoch=\"0\"";
  if (options.simulate) out += " have-quorum=\"1\" dc-uuid=\"1\"";
  out += ">\n  <configuration>\n    <crm_config>\n";
  XmlPairs(out, "      ", "cluster_property_set", "ehabus-options", m.options);
  if (!options.shared_config.empty()) {
    XmlPairs(out, "      ", "cluster_property_set", "ehabus-config",
             {{"ehabus-config-sha256", options.shared_digest},
              {"ehabus-config", options.shared_config}});
  }
  out += "    </crm_config>\n";
  if (options.simulate) {
    out += "    <nodes>\n";
    for (const auto& n : spec.nodes) {
      out += "      <node id=\"" + std::to_string(n.id) + "\" uname=\"" +
             XmlEscape(n.name) + "\"/>\n";
    }
    out += "    </nodes>\n";
  } else {
    out += "    <nodes/>\n";
  }
  out += "    <resources>\n";
  if (m.fence) XmlPrimitive(out, "      ", *m.fence);
  out += "      <group id=\"" + XmlEscape(spec.group) + "\">\n";
  for (const auto& p : m.group_members) XmlPrimitive(out, "        ", p);
  out += "      </group>\n";
  if (m.ping) {
    out += "      <clone id=\"ping-clone\">\n";
    XmlPairs(out, "        ", "meta_attributes", "ping-clone-meta",
             {{"allow-unhealthy-nodes", "true"}});
    XmlPrimitive(out, "        ", *m.ping);
    out += "      </clone>\n";
  }
  out += "    </resources>\n    <constraints>\n";
  if (m.ping) {
    std::string id = spec.group + "-on-ping";
    out += "      <rsc_location id=\"" + XmlEscape(id) + "\" rsc=\"" +
           XmlEscape(spec.group) + "\">\n";
    out += "        <rule id=\"" + XmlEscape(id) +
           "-rule\" score-attribute=\"pingd\">\n";
    out += "          <expression id=\"" + XmlEscape(id) +
           "-defined\" attribute=\"pingd\" operation=\"defined\"/>\n";
    out += "        </rule>\n      </rsc_location>\n";
  }
  out += "    </constraints>\n    <rsc_defaults>\n";
  XmlPairs(out, "      ", "meta_attributes", "ehabus-rsc-defaults",
           m.rsc_defaults);
  out += "    </rsc_defaults>\n    <op_defaults>\n";
  XmlPairs(out, "      ", "meta_attributes", "ehabus-op-defaults",
           m.op_defaults);
  out += "    </op_defaults>\n    <alerts>\n";
  out += "      <alert id=\"ehabus-alert\" path=\"" +
         XmlEscape(spec.alert_agent) + "\">\n";
  XmlPairs(
      out, "        ", "meta_attributes", "ehabus-alert-meta",
      {{"timeout", "10s"}, {"timestamp-format", "%Y-%m-%dT%H:%M:%S.%03NZ"}});
  out += "      </alert>\n    </alerts>\n  </configuration>\n";
  if (options.simulate) {
    out += "  <status>\n";
    for (const auto& n : spec.nodes) {
      std::string id = std::to_string(n.id);
      out += "    <node_state id=\"" + id + "\" uname=\"" + XmlEscape(n.name) +
             "\" in_ccm=\"true\" crmd=\"online\" join=\"member\" "
             "expected=\"member\">\n";
      out += "      <transient_attributes id=\"" + id + "\">\n";
      Pairs attrs = {{spec.health_attribute, "green"}};
      if (m.ping) {
        attrs.emplace_back(
            "pingd", std::to_string(
                         spec.ping_multiplier *
                         static_cast<std::int64_t>(spec.ping_targets.size())));
      }
      XmlPairs(out, "        ", "instance_attributes", "status-" + id, attrs);
      out += "      </transient_attributes>\n";
      out += "      <lrm id=\"" + id +
             "\">\n        <lrm_resources/>\n"
             "      </lrm>\n    </node_state>\n";
    }
    out += "  </status>\n";
  } else {
    out += "  <status/>\n";
  }
  out += "</cib>\n";
  return out;
}

std::string RenderCrm(const Spec& spec, const RenderOptions& options) {
  Model m = Build(spec, options);
  std::string out = "# Rendered by ehabus cluster render from " +
                    spec.config_path + "; edit that file, not this.\n";
  if (m.fence) out += CrmPrimitive(*m.fence);
  std::string members;
  for (const auto& p : m.group_members) {
    out += CrmPrimitive(p);
    members += " " + p.id;
  }
  if (m.ping) out += CrmPrimitive(*m.ping);
  out += "group " + spec.group + members + "\n";
  if (m.ping) {
    out += "clone ping-clone ping \\\n\tmeta allow-unhealthy-nodes=true\n";
    out += "location " + spec.group + "-on-ping " + spec.group +
           " \\\n\trule pingd: defined pingd\n";
  }
  out += "property ehabus-options:";
  for (const auto& [k, v] : m.options) out += " \\\n\t" + k + "=" + CrmWord(v);
  out += "\n";
  if (!options.shared_config.empty()) {
    out += "property ehabus-config: \\\n\tehabus-config-sha256=" +
           options.shared_digest +
           " \\\n\tehabus-config=" + options.shared_config + "\n";
  }
  out += "rsc_defaults ehabus-rsc-defaults:";
  for (const auto& [k, v] : m.rsc_defaults) out += " \\\n\t" + k + "=" + v;
  out += "\nop_defaults ehabus-op-defaults:";
  for (const auto& [k, v] : m.op_defaults) out += " \\\n\t" + k + "=" + v;
  out += "\nalert ehabus-alert " + CrmWord(spec.alert_agent) +
         " \\\n\tmeta timeout=10s timestamp-format=" +
         CrmWord("%Y-%m-%dT%H:%M:%S.%03NZ") + "\n";
  return out;
}

std::string RenderCorosync(const Spec& spec) {
  std::string out = "# Rendered by ehabus cluster render from " +
                    spec.config_path + "; edit that file, not this.\n";
  out += "totem {\n    version: 2\n    cluster_name: " + spec.name +
         "\n    transport: " + spec.transport +
         "\n    token: " + std::to_string(spec.token.count()) + "\n";
  if (spec.transport == "knet") {
    // Heartbeats are authenticated and encrypted with /etc/corosync/authkey
    // (corosync-keygen once, then the same key on every node).
    out += "    crypto_cipher: aes256\n    crypto_hash: sha256\n";
    bool two = !spec.nodes.empty() && !spec.nodes[0].ring1.empty();
    out += "    interface {\n        linknumber: 0\n    }\n";
    if (two) out += "    interface {\n        linknumber: 1\n    }\n";
  }
  out += "}\n\nnodelist {\n";
  for (const auto& n : spec.nodes) {
    out += "    node {\n        ring0_addr: " + n.ring0 + "\n";
    if (!n.ring1.empty()) out += "        ring1_addr: " + n.ring1 + "\n";
    out += "        name: " + n.name +
           "\n        nodeid: " + std::to_string(n.id) + "\n    }\n";
  }
  out += "}\n\nquorum {\n    provider: corosync_votequorum\n";
  if (spec.nodes.size() == 2) {
    // Two nodes: each keeps quorum alone once both have been seen
    // (wait_for_all); fencing decides who survives a split.
    out += "    two_node: 1\n";
  }
  out +=
      "}\n\nlogging {\n    to_logfile: yes\n"
      "    logfile: /var/log/corosync/corosync.log\n"
      "    to_syslog: yes\n    timestamp: on\n}\n";
  return out;
}

std::string RenderSbd(const Spec& spec) {
  std::string devices;
  for (const auto& d : spec.sbd_devices) {
    if (!devices.empty()) devices += ";";
    devices += SbdDevice(d);
  }
  auto secs = [](milliseconds d) {
    return std::to_string((d.count() + 999) / 1000);
  };
  std::string out = "# Rendered by ehabus cluster render from " +
                    spec.config_path + "; edit that file, not this.\n";
  out += "# The disks are initialised once, from one node:\n#   sbd";
  for (const auto& d : spec.sbd_devices) out += " -d " + SbdDevice(d);
  out += " -1 " + secs(spec.sbd_watchdog_timeout) + " -4 " +
         secs(spec.sbd_msgwait) + " create\n";
  out += "SBD_DEVICE=\"" + devices + "\"\n";
  out += "SBD_PACEMAKER=yes\nSBD_STARTMODE=always\nSBD_DELAY_START=no\n";
  out += "SBD_WATCHDOG_DEV=" + spec.watchdog_device + "\n";
  out += "SBD_WATCHDOG_TIMEOUT=" + secs(spec.sbd_watchdog_timeout) + "\n";
  out += "SBD_TIMEOUT_ACTION=flush,reboot\nSBD_MOVE_TO_ROOT_CGROUP=auto\n";
  // Pacemaker and sbd agree on when resources may start after a reboot.
  out += "SBD_SYNC_RESOURCE_STARTUP=yes\n";
  out += "SBD_OPTS=\n";
  return out;
}

tl::expected<std::string, std::string> MergeConfiguration(
    const std::string& live_cib, const std::string& rendered) {
  Doc live = Parse(live_cib);
  Doc ours = Parse(rendered);
  if (!live) return tl::unexpected(std::string("the live CIB is not XML"));
  if (!ours)
    return tl::unexpected(std::string("the rendered configuration is not XML"));
  xmlNode* lc = Configuration(live.get());
  xmlNode* oc = Configuration(ours.get());
  if (!lc)
    return tl::unexpected(std::string("the live CIB has no <configuration>"));
  if (!oc)
    return tl::unexpected(
        std::string("the rendered CIB has no <configuration>"));
  auto owned = [](xmlNode* n) { return Attr(n, "id").starts_with("ehabus-"); };
  for (xmlNode* section = oc->children; section; section = section->next) {
    if (section->type != XML_ELEMENT_NODE) continue;
    std::string name(reinterpret_cast<const char*>(section->name));
    if (name == "nodes") continue;  // the cluster's own
    xmlNode* target = Child(lc, name.c_str());
    if (!target) {
      target = xmlNewChild(lc, nullptr, section->name, nullptr);
    }
    if (name == "crm_config") {
      Prune(target, [&](xmlNode* n) { return !owned(n); });
    } else if (name == "constraints") {
      // crm_resource --move/--ban constraints stay until the operator clears
      // them.
      Prune(target,
            [](xmlNode* n) { return Attr(n, "id").starts_with("cli-"); });
    } else {
      Prune(target, [](xmlNode*) { return false; });
    }
    CopyChildren(target, section);
  }
  return Dump(live.get(), lc);
}

tl::expected<std::string, std::string> ConfigurationOf(const std::string& cib) {
  Doc doc = Parse(cib);
  if (!doc) return tl::unexpected(std::string("not XML"));
  xmlNode* c = Configuration(doc.get());
  if (!c) return tl::unexpected(std::string("no <configuration>"));
  return Dump(doc.get(), c);
}

}  // namespace ehabus::cluster
