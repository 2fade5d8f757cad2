// Configuration shared by every ehabus process: /etc/ehabus/ehabus.ini plus
// conf.d/*.ini beside it (in name order, later files override earlier ones).
//
// Every process loads and validates the whole file against the schema in
// config_schema.cc, then reads its own sections. Unknown sections and keys,
// bad values, duplicates and syntax errors are all reported in one run, each
// as "FILE:LINE: [section] key: message".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace ehabus {

enum class ValueType {
  kString,
  kInt,       // decimal, within [min, max]
  kBool,      // yes/no, true/false, on/off, 1/0
  kDuration,  // 500ms, 10s, 5m, 2h
  kEnum,      // one of choices
  kEndpoint,  // ipc://PATH or tcp://HOST:PORT
  kMode,      // octal file mode, e.g. 0660
  kPath,      // absolute path
  kList,      // comma-separated words
};

struct KeySpec {
  std::string_view name;  // "*": any key (a section of names, e.g. watch.ini)
  ValueType type;
  std::string_view default_value;  // "" with required=false: unset
  std::string_view doc;
  std::int64_t min = 0;
  std::int64_t max = INT64_MAX;
  std::vector<std::string_view> choices = {};
  bool required = false;
};

struct SectionSpec {
  // "bus", or a family such as "storage.*" (any "storage.NAME").
  std::string_view name;
  std::string_view doc;
  std::vector<KeySpec> keys;
};

using Schema = std::vector<SectionSpec>;

// The schema of every component: one table, so that check-config and every
// process agree on what is known.
const Schema& FullSchema();
// A service profile (etc/profiles/*.ini), and the watch list (watch.ini).
const Schema& ProfileSchema();
const Schema& WatchSchema();

struct ConfigError {
  std::string file;
  int line = 0;
  std::string section;  // empty: not about a section
  std::string key;      // empty: about the section or the line
  std::string message;

  std::string ToString() const;
};

struct Location {
  std::string file;
  int line = 0;
};

class Config {
 public:
  // Loads PATH and, if it exists, the conf.d directory beside it.
  static tl::expected<Config, std::vector<ConfigError>> Load(
      const std::string& path, const Schema& schema = FullSchema());
  // PATH alone, without a conf.d directory (profiles, the watch list).
  static tl::expected<Config, std::vector<ConfigError>> LoadFile(
      const std::string& path, const Schema& schema);
  // For tests and tools: parse text as if read from FILE.
  static tl::expected<Config, std::vector<ConfigError>> LoadText(
      const std::string& text, const std::string& file,
      const Schema& schema = FullSchema());
  // A config with only defaults (no file at all).
  static Config Defaults(const Schema& schema = FullSchema());

  bool HasSection(std::string_view section) const;
  // Sections present in the files whose name starts with PREFIX ("storage."),
  // in the order they first appear (ehabus.ini, then conf.d/*.ini).
  std::vector<std::string> SectionsWithPrefix(std::string_view prefix) const;
  // Keys set in SECTION, in name order.
  std::vector<std::string> Keys(std::string_view section) const;

  // Typed getters return the set value or the schema default. The value was
  // validated at load time; asking for a key the schema does not know is a
  // programming error and aborts.
  std::string String(std::string_view section, std::string_view key) const;
  std::int64_t Int(std::string_view section, std::string_view key) const;
  bool Bool(std::string_view section, std::string_view key) const;
  std::chrono::milliseconds Duration(std::string_view section,
                                     std::string_view key) const;
  std::vector<std::string> List(std::string_view section,
                                std::string_view key) const;
  unsigned Mode(std::string_view section, std::string_view key) const;
  // Where a key was set; nullopt when it is the default.
  std::optional<Location> Where(std::string_view section,
                                std::string_view key) const;

 private:
  struct Value {
    std::string text;
    Location where;
  };
  const KeySpec& Spec(std::string_view section, std::string_view key) const;
  std::string Raw(std::string_view section, std::string_view key) const;

  const Schema* schema_ = nullptr;
  std::vector<std::string> section_order_;
  std::map<std::string, std::map<std::string, Value, std::less<>>, std::less<>>
      values_;
  friend class ConfigLoader;
};

// Value parsers, shared with the CLI's flags.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::optional<bool> ParseBool(std::string_view text);

}  // namespace ehabus
