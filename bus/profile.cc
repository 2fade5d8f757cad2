#include "bus/profile.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace ehabus {

std::vector<std::string> SplitWords(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

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
  profile.start = SplitWords(config->String("profile", "start"));
  profile.stop = SplitWords(config->String("profile", "stop"));
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
    s.start = SplitWords(config->String(section, "start"));
    s.stop = SplitWords(config->String(section, "stop"));
    s.depends = config->List(section, "depends");
    s.monitored = config->Bool(section, "monitored");
    s.starttls = config->Bool(section, "starttls");
    auto where = [&](const char* key) {
      auto at = config->Where(section, key);
      return at ? *at : Location{path, line_of(section)};
    };
    static const std::set<std::string> kNeedPort = {
        "smtp", "lmtp", "imap", "pop3", "memcached", "http", "tcp", "mysql"};
    if (kNeedPort.contains(s.check) && s.port == 0) {
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

std::vector<std::string> Profile::Dependents(const std::string& service) const {
  std::set<std::string> found;
  std::vector<std::string> todo = {service};
  while (!todo.empty()) {
    std::string current = todo.back();
    todo.pop_back();
    for (const auto& s : services) {
      if (std::find(s.depends.begin(), s.depends.end(), current) !=
              s.depends.end() &&
          found.insert(s.name).second) {
        todo.push_back(s.name);
      }
    }
  }
  std::vector<std::string> ordered;
  for (const auto& s : StartOrder())
    if (found.contains(s)) ordered.push_back(s);
  return ordered;
}

std::vector<std::string> Profile::StartOrder() const {
  // File order, moved so that every service comes after what it depends on.
  std::vector<std::string> order;
  std::set<std::string> placed;
  std::function<void(const ServiceSpec&, int)> place = [&](const ServiceSpec& s,
                                                           int depth) {
    if (placed.contains(s.name) || depth > 64) return;
    for (const auto& d : s.depends)
      if (const auto* dep = Find(d)) place(*dep, depth + 1);
    if (placed.insert(s.name).second) order.push_back(s.name);
  };
  for (const auto& s : services) place(s, 0);
  return order;
}

std::vector<std::string> ControlCommand(const Profile& profile,
                                        const ServiceSpec& service,
                                        bool start) {
  const auto& own = start ? service.start : service.stop;
  if (!own.empty()) return own;
  if (!service.unit.empty())
    return {"systemctl", start ? "start" : "stop", service.unit};
  std::vector<std::string> command = start ? profile.start : profile.stop;
  for (auto& word : command) {
    for (std::size_t at; (at = word.find("{service}")) != std::string::npos;)
      word.replace(at, 9, service.name);
  }
  return command;
}

}  // namespace ehabus
