#include "sensors/service.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "bus/event.h"
#include "bus/subprocess.h"
#include "sensors/mysql_probe.h"

namespace ehabus::sensors {
namespace {

std::vector<std::string> SplitWords(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

}  // namespace

const ServiceSpec* Profile::Find(const std::string& service) const {
  for (const auto& s : services) {
    if (s.name == service) return &s;
  }
  return nullptr;
}

tl::expected<Profile, std::vector<ConfigError>> LoadProfile(
    const std::string& path) {
  auto config = Config::LoadFile(path, ProfileSchema());
  if (!config) return tl::unexpected(config.error());
  Profile profile;
  profile.path = path;
  profile.name = config->String("profile", "name");
  profile.description = config->String("profile", "description");
  profile.enabled_list = config->String("profile", "enabled_list");
  profile.enabled_variable = config->String("profile", "enabled_variable");
  std::vector<ConfigError> errors;
  if (!config->HasSection("profile")) {
    errors.push_back({path, 0, "profile", "name", "required key missing"});
  }
  // Config keeps sections sorted by name; the file's order is the order in
  // which services start, so sort by where each section was set.
  auto sections = config->SectionsWithPrefix("service.");
  auto line_of = [&](const std::string& section) {
    int line = INT32_MAX;
    for (const auto& key : config->Keys(section)) {
      if (auto where = config->Where(section, key))
        line = std::min(line, where->line);
    }
    return line;
  };
  std::sort(sections.begin(), sections.end(),
            [&](const std::string& a, const std::string& b) {
              return line_of(a) < line_of(b);
            });
  for (const auto& section : sections) {
    ServiceSpec s;
    s.name = section.substr(8);
    s.check = config->String(section, "check");
    s.port = static_cast<int>(config->Int(section, "port"));
    s.pidfile = config->String(section, "pidfile");
    s.process = config->String(section, "process");
    s.unit = config->String(section, "unit");
    s.installed_if = config->String(section, "installed_if");
    s.path = config->String(section, "path");
    s.expect = config->String(section, "expect");
    s.heartbeat_table = config->String(section, "heartbeat_table");
    s.command = SplitWords(config->String(section, "command"));
    s.depends = config->List(section, "depends");
    s.monitored = config->Bool(section, "monitored");
    s.starttls = config->Bool(section, "starttls");
    auto where = [&](const char* key) {
      auto at = config->Where(section, key);
      return at ? *at : Location{path, line_of(section)};
    };
    if ((ParseProtocol(s.check) || s.check == "mysql") && s.port == 0) {
      auto at = where("check");
      errors.push_back({at.file, at.line, section, "port",
                        "check = " + s.check + " needs a port"});
    }
    if (s.check == "command" && s.command.empty()) {
      auto at = where("check");
      errors.push_back({at.file, at.line, section, "command",
                        "check = command needs a command"});
    }
    if (s.check == "process" && s.pidfile.empty()) {
      auto at = where("check");
      errors.push_back({at.file, at.line, section, "pidfile",
                        "check = process needs a pidfile"});
    }
    profile.services.push_back(std::move(s));
  }
  for (const auto& s : profile.services) {
    for (const auto& dependency : s.depends) {
      if (!profile.Find(dependency)) {
        auto at = config->Where("service." + s.name, "depends");
        errors.push_back({at->file, at->line, "service." + s.name, "depends",
                          "unknown service \"" + dependency + "\""});
      }
    }
  }
  if (!errors.empty()) return tl::unexpected(std::move(errors));
  return profile;
}

std::optional<std::vector<std::string>> ReadShellArray(
    const std::string& file, const std::string& name) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  std::size_t at = 0;
  while ((at = text.find(name + "=(", at)) != std::string::npos) {
    // Only at the start of a line (after blanks): not in a comment or a
    // longer name.
    std::size_t line_start = text.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    if (text.find_first_not_of(" \t", line_start) == at) break;
    at += name.size();
  }
  if (at == std::string::npos) return std::nullopt;
  auto open = at + name.size() + 2;
  auto close = text.find(')', open);
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> names;
  for (auto& word : SplitWords(text.substr(open, close - open))) {
    if (word.size() >= 2 && (word.front() == '"' || word.front() == '\'') &&
        word.back() == word.front()) {
      word = word.substr(1, word.size() - 2);
    }
    if (!word.starts_with("#")) names.push_back(word);
  }
  return names;
}

std::string RenderWatchList(const Profile& profile) {
  std::optional<std::vector<std::string>> enabled;
  if (!profile.enabled_list.empty()) {
    enabled = ReadShellArray(profile.enabled_list, profile.enabled_variable);
  }
  std::string out =
      "; ehabus watch list: which services of the profile \"" + profile.name +
      "\" are watched.\n"
      "; yes: watched, healed and failed over; no: left alone (maintenance).\n"
      "; Edits take effect within a second, without a restart. Written on "
      "first\n"
      "; start from the profile and what is installed here.\n"
      "[watch]\n";
  for (const auto& s : profile.services) {
    if (!s.monitored || s.check == "none") continue;
    bool installed =
        s.installed_if.empty() || access(s.installed_if.c_str(), F_OK) == 0;
    std::string why = installed ? "" : "not installed";
    if (installed && enabled &&
        std::find(enabled->begin(), enabled->end(), s.name) == enabled->end()) {
      installed = false;
      why = "not in " + profile.enabled_variable;
    }
    out += s.name + " = " + (installed ? "yes" : "no");
    if (!why.empty()) out += "  ; " + why;
    out += "\n";
  }
  return out;
}

tl::expected<std::map<std::string, bool>, std::vector<ConfigError>>
LoadWatchList(const std::string& path, const Profile& profile) {
  auto config = Config::LoadFile(path, WatchSchema());
  if (!config) return tl::unexpected(config.error());
  std::map<std::string, bool> watch;
  std::vector<ConfigError> errors;
  for (const auto& service : config->Keys("watch")) {
    const auto* spec = profile.Find(service);
    auto at = config->Where("watch", service);
    if (spec == nullptr) {
      errors.push_back({at->file, at->line, "watch", service,
                        "not a service of profile \"" + profile.name + "\""});
    } else if (!spec->monitored || spec->check == "none") {
      errors.push_back({at->file, at->line, "watch", service,
                        "the profile never monitors this service"});
    } else {
      watch[service] = config->Bool("watch", service);
    }
  }
  if (!errors.empty()) return tl::unexpected(std::move(errors));
  return watch;
}

ProbeResult ProbeCommand(const std::vector<std::string>& argv,
                         Deadline deadline) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult r;
  std::string shown;
  for (const auto& word : argv) shown += (shown.empty() ? "" : " ") + word;
  SpawnOptions options;
  options.argv = argv;
  options.output = SpawnOptions::Output::kCapture;
  options.capture_limit = 4096;
  auto child = Subprocess::Spawn(options);

  if (!child) return Finish(r, start, false, child.error().message);
  auto left = std::chrono::round<std::chrono::milliseconds>(deadline - start);
  auto status = child->Wait(std::max(left, std::chrono::milliseconds(0)));
  if (!status) {
    child->Stop(std::chrono::milliseconds(0));
    return Finish(r, start, false,
                  "`" + shown + "` did not finish within " +
                      std::to_string(left.count()) + " ms (killed)");
  }
  std::string first = child->output().substr(0, child->output().find('\n'));
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
    return Finish(r, start, true, "`" + shown + "` exit 0");
  std::string reason = "`" + shown + "` " + DescribeWaitStatus(*status);
  if (!first.empty()) reason += ": " + Quote(first);
  return Finish(r, start, false, reason);
}

CheckDefinition MakeServiceCheck(const ServiceSpec& service,
                                 const ServiceCheckSettings& settings) {
  CheckDefinition check;
  check.name = service.name;
  check.topic = "service." + service.name;
  check.subject = service.name;
  check.interval = settings.interval;
  check.retry = settings.retry;
  check.timeout = settings.timeout;
  check.fall = settings.fall;
  check.rise = settings.rise;
  ProbeOptions probe;
  probe.host = settings.host;
  probe.port = service.port;
  probe.helo = settings.helo;
  probe.http_path = service.path;
  probe.http_expect = service.expect;
  probe.starttls = service.starttls;
  if (auto protocol = ParseProtocol(service.check)) {
    probe.protocol = *protocol;
    if (*protocol == Protocol::kImap || *protocol == Protocol::kPop3)
      probe.canary = settings.canary;
  }
  MysqlOptions mysql;
  mysql.host = settings.host;
  mysql.port = service.port;
  mysql.user = settings.mysql.user;
  mysql.password = settings.mysql.password;
  mysql.heartbeat_table = service.heartbeat_table;
  mysql.node = settings.helo;
  check.run = [service, probe, mysql](Deadline deadline) {
    // A dead process says more than a refused connection: ask it first.
    if (!service.pidfile.empty()) {
      auto process = ProbeProcess(service.pidfile, service.process);
      if (!process.ok || service.check == "process") return process;
    }
    if (service.check == "command")
      return ProbeCommand(service.command, deadline);
    return Probe(probe, deadline);
  };
  return check;
}

}  // namespace ehabus::sensors
