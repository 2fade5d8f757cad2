#include "common/profile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "common/files.h"

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

tl::expected<std::map<std::string, std::int64_t>, std::vector<ConfigError>>
LoadMaintenance(const std::string& path) {
  std::map<std::string, std::int64_t> out;
  if (access(path.c_str(), F_OK) != 0) return out;
  auto config = Config::LoadFile(path, WatchSchema());
  if (!config) return tl::unexpected(config.error());
  for (const auto& key : config->Keys("maintenance"))
    out[key] = config->Int("maintenance", key);
  return out;
}

namespace {

std::string Trim(const std::string& text) {
  auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  auto end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

// The key of an INI line "KEY = VALUE", or "" for other lines.
std::string KeyOf(const std::string& line) {
  std::string t = Trim(line);
  if (t.empty() || t[0] == ';' || t[0] == '#' || t[0] == '[') return "";
  auto eq = t.find('=');
  return eq == std::string::npos ? "" : Trim(t.substr(0, eq));
}

std::string UtcText(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// Sets KEY in SECTION of LINES to VALUE (nullopt: removes it), adding the
// section at the end when missing.
void SetKey(std::vector<std::string>& lines, const std::string& section,
            const std::string& key, const std::optional<std::string>& value) {
  std::string current;
  std::size_t section_end = lines.size();
  bool in_section = false, seen_section = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (!t.empty() && t[0] == '[') {
      if (in_section) section_end = i;
      in_section = t == "[" + section + "]";
      if (in_section) seen_section = true;
      continue;
    }
    if (in_section && KeyOf(lines[i]) == key) {
      if (value) {
        lines[i] = key + " = " + *value;
      } else {
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
      }
      return;
    }
  }
  if (!value) return;
  if (!seen_section) {
    if (!lines.empty() && !Trim(lines.back()).empty()) lines.push_back("");
    lines.push_back("[" + section + "]");
    lines.push_back(key + " = " + *value);
    return;
  }
  // Insert after the section's last non-blank line.
  std::size_t at = section_end;
  while (at > 0 && Trim(lines[at - 1]).empty()) --at;
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at),
               key + " = " + *value);
}

// Runs EDIT on the lines of PATH under an exclusive lock, then replaces
// PATH atomically.
Result<void> EditLines(
    const std::string& path,
    const std::function<void(std::vector<std::string>&)>& edit) {
  std::string lock_path = path + ".lock";
  int lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return FailErrno("open " + lock_path, errno);
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock};
  if (flock(lock, LOCK_EX) != 0) return FailErrno("lock " + lock_path, errno);
  std::vector<std::string> lines;
  {
    std::ifstream in(path);
    if (!in) return Fail(path + ": cannot read the watch list");
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  edit(lines);
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return WriteFileAtomic(path, text, {.mode = 0644, .sync = true});
}

}  // namespace

Result<void> SetMaintenance(const std::string& path, const Profile& profile,
                            const std::string& target, bool on,
                            std::int64_t until) {
  if (target != "node") {
    const auto* spec = profile.Find(target);
    if (!spec) {
      return Fail("\"" + target + "\" is not a service of profile \"" +
                  profile.name + "\" (nor \"node\")");
    }
    if (!spec->monitored || spec->check == "none")
      return Fail(target + ": the profile never watches this service");
  }
  return EditLines(path, [&](std::vector<std::string>& lines) {
    if (target != "node") {
      SetKey(
          lines, "watch", target,
          std::string(on ? "no  ; maintenance (ehabus maintenance)" : "yes"));
    }
    if (on) {
      SetKey(lines, "maintenance", target,
             std::to_string(until) + "  ; " +
                 (until == 0 ? std::string("until ended by hand")
                             : "until " + UtcText(until)));
    } else {
      SetKey(lines, "maintenance", target, std::nullopt);
    }
  });
}

Result<std::vector<std::string>> ExpireMaintenance(const std::string& path,
                                                   const Profile& profile,
                                                   std::int64_t now) {
  auto entries = LoadMaintenance(path);
  if (!entries) {
    std::string text;
    for (const auto& e : entries.error()) text += e.ToString() + "; ";
    return Fail(text);
  }
  std::vector<std::string> ended;
  for (const auto& [target, until] : *entries) {
    if (until == 0 || until > now) continue;
    if (auto done = SetMaintenance(path, profile, target, false, 0); !done)
      return tl::unexpected(done.error());
    ended.push_back(target);
  }
  return ended;
}

std::string ProfilePathFrom(const Config& config) {
  std::string profile = config.String("stack", "profile");
  if (profile.empty()) profile = config.String("sensor.service", "profile");
  if (profile.find('/') != std::string::npos) return profile;
  return config.String("sensor.service", "profiles_dir") + "/" + profile +
         ".ini";
}

std::string ActiveMarkerFrom(const Config& config) {
  std::string marker = config.String("healer.restart", "active_marker");
  if (!marker.empty()) return marker;
  if (!config.List("cluster", "nodes").empty()) {
    return "/run/ehabus/stack-active";
  }
  return "";
}

std::string EscalatedFileFrom(const Config& config) {
  return config.String("healer.restart", "state_file") + ".escalated";
}

}  // namespace ehabus
