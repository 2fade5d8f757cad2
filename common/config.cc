#include "common/config.h"

#include <ini.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace ehabus {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

const SectionSpec* FindSection(const Schema& schema, std::string_view section) {
  for (const auto& spec : schema) {
    std::string_view name = spec.name;
    if (name.ends_with(".*")) {
      std::string_view family = name.substr(0, name.size() - 1);  // "storage."
      if (section.size() > family.size() && section.starts_with(family) &&
          section.find('.', family.size()) == std::string_view::npos) {
        return &spec;
      }
    } else if (name == section) {
      return &spec;
    }
  }
  return nullptr;
}

// A key spec named "*" accepts any key of the section (the watch list).
const KeySpec* FindKey(const SectionSpec& section, std::string_view key) {
  const KeySpec* any = nullptr;
  for (const auto& spec : section.keys) {
    if (spec.name == key) return &spec;
    if (spec.name == "*") any = &spec;
  }
  return any;
}

// Optimal string alignment distance: edits and swaps of neighbours ("lgo").
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(
      a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Suggest(std::string_view wrong,
                    const std::vector<std::string_view>& names) {
  // Only close misspellings: one edit in three characters at most.
  std::string_view best;
  std::size_t best_distance = wrong.size() / 3 + 1;
  for (auto name : names) {
    auto d = EditDistance(wrong, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best.empty() ? "" : " (did you mean \"" + std::string(best) + "\"?)";
}

// Returns an error message, or "" when TEXT is a valid value for SPEC.
std::string CheckValue(const KeySpec& spec, std::string_view text) {
  switch (spec.type) {
    case ValueType::kString:
      return "";
    case ValueType::kInt: {
      auto v = ParseInt(text);
      if (!v) return "expected an integer, got \"" + std::string(text) + "\"";
      if (*v < spec.min || *v > spec.max) {
        return "value " + std::string(text) + " out of range [" +
               std::to_string(spec.min) + ", " + std::to_string(spec.max) + "]";
      }
      return "";
    }
    case ValueType::kBool:
      return ParseBool(text)
                 ? ""
                 : "expected yes/no, true/false, on/off or 1/0, got \"" +
                       std::string(text) + "\"";
    case ValueType::kDuration: {
      auto d = ParseDuration(text);
      if (!d) {
        return "expected a duration such as 500ms, 10s, 5m or 2h, got \"" +
               std::string(text) + "\"";
      }
      if (d->count() < spec.min || d->count() > spec.max) {
        return "duration " + std::string(text) + " out of range [" +
               std::to_string(spec.min) + "ms, " + std::to_string(spec.max) +
               "ms]";
      }
      return "";
    }
    case ValueType::kEnum: {
      std::string all;
      for (auto choice : spec.choices) {
        if (choice == text) return "";
        if (!all.empty()) all += ", ";
        all += choice;
      }
      return "expected one of " + all + ", got \"" + std::string(text) + "\"";
    }
    case ValueType::kEndpoint: {
      if (text.starts_with("ipc:///") && text.size() > 7) return "";
      if (text.starts_with("tcp://")) {
        auto colon = text.rfind(':');
        auto port = ParseInt(text.substr(colon + 1));
        if (colon > 6 && port && *port > 0 && *port < 65536) return "";
      }
      return "expected ipc:///PATH or tcp://HOST:PORT, got \"" +
             std::string(text) + "\"";
    }
    case ValueType::kMode: {
      unsigned mode = 0;
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), mode, 8);
      if (text.size() < 3 || text.size() > 4 || ec != std::errc() ||
          end != text.data() + text.size() || mode > 07777) {
        return "expected an octal mode such as 0660, got \"" +
               std::string(text) + "\"";
      }
      return "";
    }
    case ValueType::kPath:
      return text.starts_with('/') ? ""
                                   : "expected an absolute path, got \"" +
                                         std::string(text) + "\"";
    case ValueType::kList: {
      std::string_view rest = text;
      while (true) {
        auto comma = rest.find(',');
        if (Trim(rest.substr(0, comma)).empty()) {
          return "empty item in list \"" + std::string(text) + "\"";
        }
        if (comma == std::string_view::npos) return "";
        rest.remove_prefix(comma + 1);
      }
    }
  }
  return "unknown value type";
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  auto number = ParseInt(text.substr(0, digits));
  if (!number || digits > 12) return std::nullopt;
  std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(*number * scale);
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "yes" || text == "true" || text == "on" || text == "1")
    return true;
  if (text == "no" || text == "false" || text == "off" || text == "0")
    return false;
  return std::nullopt;
}

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!section.empty()) {
    out += "[" + section + "]";
    out += key.empty() ? ": " : " ";
  }
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

// Feeds one file to inih line by line, so that the handler knows the line
// number (Debian builds inih without INI_HANDLER_LINENO) and so that every
// syntax error is found, not just the first one inih returns.
class ConfigLoader {
 public:
  explicit ConfigLoader(const Schema& schema) { config_.schema_ = &schema; }

  void ParseFile(const std::string& file, const std::string& text) {
    file_ = file;
    lines_.clear();
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines_.push_back(line);
    headers_.clear();
    seen_.clear();

    next_ = 0;
    synthetic_.clear();
    handle_ = true;
    int first_line = 0;
    // inih keeps going after a syntax error but returns only the first one's
    // line; parse the rest again (values off) to find each following one.
    while (true) {
      bool synthetic = !synthetic_.empty();
      int rc = ini_parse_stream(&ConfigLoader::Read, this,
                                &ConfigLoader::Handle, this);
      if (rc <= 0) break;
      int line = first_line + rc - (synthetic ? 1 : 0);
      if (line > static_cast<int>(lines_.size())) break;
      Add(line, "", "",
          "syntax error: expected \"[section]\", \"key = value\" or a comment");
      handle_ = false;
      first_line = line;
      next_ = static_cast<std::size_t>(line);
      synthetic_ = "[" + SectionAt(line) + "]";
    }
  }

  void CheckRequired() {
    for (const auto& [section, header] : first_header_) {
      const auto* spec = FindSection(*config_.schema_, section);
      if (spec == nullptr) continue;
      for (const auto& key : spec->keys) {
        auto it = config_.values_.find(section);
        // A key given with a bad value was reported already, not missing.
        bool reported = std::any_of(
            errors_.begin(), errors_.end(), [&](const ConfigError& e) {
              return e.section == section && e.key == key.name;
            });
        if (key.required && !reported &&
            (it == config_.values_.end() || !it->second.contains(key.name))) {
          errors_.push_back({header.file, header.line, section,
                             std::string(key.name), "required key missing"});
        }
      }
    }
  }

  std::vector<ConfigError>& errors() { return errors_; }
  Config& config() { return config_; }

 private:
  static char* Read(char* buffer, int size, void* stream) {
    auto* self = static_cast<ConfigLoader*>(stream);
    std::string line;
    if (!self->synthetic_.empty()) {
      line = std::move(self->synthetic_);
      self->synthetic_.clear();
    } else {
      if (self->next_ >= self->lines_.size()) return nullptr;
      line = self->lines_[self->next_++];
      self->line_ = static_cast<int>(self->next_);
      if (line.size() + 2 > static_cast<std::size_t>(size)) {
        if (self->handle_) {
          self->Add(
              self->line_, "", "",
              "line longer than " + std::to_string(size - 3) + " characters");
        }
        line = ";";
      } else {
        self->NoteHeader(line);
      }
    }
    line += '\n';
    std::copy(line.begin(), line.end(), buffer);
    buffer[line.size()] = '\0';
    return buffer;
  }

  static int Handle(void* user, const char* section, const char* name,
                    const char* value) {
    static_cast<ConfigLoader*>(user)->OnValue(section, name, value);
    return 1;  // errors are collected here; nonzero keeps inih's count clean
  }

  void NoteHeader(std::string_view raw) {
    auto line = Trim(raw);
    if (!line.starts_with('[')) return;
    auto close = line.find(']');
    if (close == std::string_view::npos) return;
    std::string section(Trim(line.substr(1, close - 1)));
    headers_.emplace_back(line_, section);
    if (!handle_) return;
    if (FindSection(*config_.schema_, section) == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& spec : *config_.schema_) names.push_back(spec.name);
      Add(line_, section, "", "unknown section" + Suggest(section, names));
    } else if (!first_header_.contains(section)) {
      first_header_[section] = {file_, line_};
      config_.section_order_.push_back(section);
    }
  }

  std::string SectionAt(int line) const {
    std::string section;
    for (const auto& [at, name] : headers_) {
      if (at <= line) section = name;
    }
    return section;
  }

  void OnValue(const char* section_c, const char* name_c, const char* value_c) {
    if (!handle_) return;
    std::string section(section_c), key(name_c), value(value_c);
    if (section.empty()) {
      Add(line_, "", key, "key outside any [section]");
      return;
    }
    const auto* spec = FindSection(*config_.schema_, section);
    if (spec == nullptr) return;  // reported once, at the section's header
    const auto* key_spec = FindKey(*spec, key);
    if (key_spec == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& k : spec->keys) names.push_back(k.name);
      Add(line_, section, key, "unknown key" + Suggest(key, names));
      return;
    }
    auto [it, inserted] = seen_.emplace(section + "\n" + key, line_);
    if (!inserted) {
      Add(line_, section, key,
          "duplicate key (first set at line " + std::to_string(it->second) +
              ")");
      return;
    }
    if (auto problem = CheckValue(*key_spec, value); !problem.empty()) {
      Add(line_, section, key, problem);
      return;
    }
    config_.values_[section][key] = {value, {file_, line_}};
  }

  void Add(int line, std::string section, std::string key,
           std::string message) {
    errors_.push_back(
        {file_, line, std::move(section), std::move(key), std::move(message)});
  }

  Config config_;
  std::vector<ConfigError> errors_;
  std::map<std::string, Location> first_header_;

  std::string file_;
  std::vector<std::string> lines_;
  std::vector<std::pair<int, std::string>> headers_;
  std::map<std::string, int> seen_;
  std::size_t next_ = 0;
  int line_ = 0;
  std::string synthetic_;
  bool handle_ = true;
};

namespace {

tl::expected<Config, std::vector<ConfigError>> Finish(ConfigLoader& loader) {
  loader.CheckRequired();
  auto& errors = loader.errors();
  if (errors.empty()) return std::move(loader.config());
  // Files in the order they were parsed; within one file, by line.
  std::map<std::string, std::size_t> rank;
  for (const auto& error : errors) rank.emplace(error.file, rank.size());
  std::stable_sort(errors.begin(), errors.end(),
                   [&rank](const ConfigError& a, const ConfigError& b) {
                     auto ra = rank[a.file], rb = rank[b.file];
                     return ra != rb ? ra < rb : a.line < b.line;
                   });
  return tl::unexpected(std::move(errors));
}

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailErrno(path + ": cannot open", errno);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

tl::expected<Config, std::vector<ConfigError>> Config::Load(
    const std::string& path, const Schema& schema) {
  ConfigLoader loader(schema);
  auto text = ReadWhole(path);
  if (!text) {
    return tl::unexpected(std::vector<ConfigError>{
        {path, 0, "", "", text.error().message.substr(path.size() + 2)}});
  }
  loader.ParseFile(path, *text);

  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path() / "conf.d";
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".ini") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto more = ReadWhole(file);
      if (!more) {
        loader.errors().push_back({file, 0, "", "", "cannot read"});
        continue;
      }
      loader.ParseFile(file, *more);
    }
  }
  return Finish(loader);
}

tl::expected<Config, std::vector<ConfigError>> Config::LoadFile(
    const std::string& path, const Schema& schema) {
  auto text = ReadWhole(path);
  if (!text) {
    return tl::unexpected(std::vector<ConfigError>{
        {path, 0, "", "", text.error().message.substr(path.size() + 2)}});
  }
  ConfigLoader loader(schema);
  loader.ParseFile(path, *text);
  return Finish(loader);
}

tl::expected<Config, std::vector<ConfigError>> Config::LoadText(
    const std::string& text, const std::string& file, const Schema& schema) {
  ConfigLoader loader(schema);
  loader.ParseFile(file, text);
  return Finish(loader);
}

Config Config::Defaults(const Schema& schema) {
  Config config;
  config.schema_ = &schema;
  return config;
}

bool Config::HasSection(std::string_view section) const {
  return values_.find(section) != values_.end();
}

std::vector<std::string> Config::SectionsWithPrefix(
    std::string_view prefix) const {
  std::vector<std::string> out;
  for (const auto& name : section_order_) {
    if (name.starts_with(prefix) && values_.contains(name)) out.push_back(name);
  }
  return out;
}

const KeySpec& Config::Spec(std::string_view section,
                            std::string_view key) const {
  const auto* section_spec = FindSection(*schema_, section);
  const KeySpec* spec = section_spec ? FindKey(*section_spec, key) : nullptr;
  if (spec == nullptr) {
    std::fprintf(stderr, "ehabus: bug: [%.*s] %.*s is not in the schema\n",
                 static_cast<int>(section.size()), section.data(),
                 static_cast<int>(key.size()), key.data());
    std::abort();
  }
  return *spec;
}

std::string Config::Raw(std::string_view section, std::string_view key) const {
  const auto& spec = Spec(section, key);
  if (auto s = values_.find(section); s != values_.end()) {
    if (auto k = s->second.find(key); k != s->second.end())
      return k->second.text;
  }
  return std::string(spec.default_value);
}

std::optional<Location> Config::Where(std::string_view section,
                                      std::string_view key) const {
  if (auto s = values_.find(section); s != values_.end()) {
    if (auto k = s->second.find(key); k != s->second.end())
      return k->second.where;
  }
  return std::nullopt;
}

std::vector<std::string> Config::Keys(std::string_view section) const {
  std::vector<std::string> out;
  if (auto s = values_.find(section); s != values_.end()) {
    for (const auto& [key, value] : s->second) out.push_back(key);
  }
  return out;
}

std::string Config::String(std::string_view section,
                           std::string_view key) const {
  return Raw(section, key);
}

std::int64_t Config::Int(std::string_view section, std::string_view key) const {
  return ParseInt(Raw(section, key)).value_or(0);
}

bool Config::Bool(std::string_view section, std::string_view key) const {
  return ParseBool(Raw(section, key)).value_or(false);
}

std::chrono::milliseconds Config::Duration(std::string_view section,
                                           std::string_view key) const {
  return ParseDuration(Raw(section, key))
      .value_or(std::chrono::milliseconds(0));
}

std::vector<std::string> Config::List(std::string_view section,
                                      std::string_view key) const {
  std::vector<std::string> out;
  std::string raw = Raw(section, key);
  std::string_view rest = raw;
  while (!Trim(rest).empty()) {
    auto comma = rest.find(',');
    out.emplace_back(Trim(rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

unsigned Config::Mode(std::string_view section, std::string_view key) const {
  return static_cast<unsigned>(
      std::strtoul(Raw(section, key).c_str(), nullptr, 8));
}

}  // namespace ehabus
