#include "bus/event.h"

#include <simdjson.h>
#include <time.h>

#include <array>
#include <cstdio>
#include <vector>

namespace ehabus {
namespace {

constexpr std::array<std::string_view, 2> kKindNames = {"event", "state"};
constexpr std::array<std::string_view, 6> kSeverityNames = {
    "debug", "info", "notice", "warning", "error", "critical"};
constexpr std::size_t kMaxMessageBytes = 4096;
constexpr std::size_t kMaxSubjectBytes = 128;
constexpr int kMaxJsonDepth = 16;

bool TopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool NameChar(char c) {
  return TopicChar(c) || (c >= 'A' && c <= 'Z') || c == '.';
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    if (!NameChar(c)) return false;
  }
  return true;
}

// Text for one line on a terminal or in a mail: no C0 controls, no DEL.
bool OneLine(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// nlohmann parses iteratively, but dump() recurses; a 64 KiB body of '['
// would nest 65536 deep. Count depth outside strings before parsing.
bool DepthWithin(std::string_view body, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// Appends TEXT as a JSON string. Invalid UTF-8 becomes U+FFFD, one per bad
// byte, as nlohmann's error_handler_t::replace does for `data`.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length, and the valid range of its second
    // byte (no overlong forms, no surrogates), per RFC 3629.
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      auto b = static_cast<unsigned char>(text[i + k]);
      valid = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xbf);
    }
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out += '"';
}

// Field numbers, in the order docs/events.md lists them; a missing field is
// reported by the first in this order.
enum Field : unsigned {
  kV,
  kTopic,
  kNode,
  kSource,
  kSeq,
  kWall,
  kMono,
  kKind,
  kSeverity,
  kSubject,
  kMessage,
  kData,
  kFieldCount
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "v",       "topic", "node",     "source",  "seq",     "wall_us",
    "mono_ns", "kind",  "severity", "subject", "message", "data"};
constexpr std::string_view kSourceShape =
    "expected {\"component\", \"pid\", \"started_us\"}";

using simdjson::dom::element;
using simdjson::dom::element_type;

// `data` for consumers, from simdjson's DOM (depth already bounded).
nlohmann::json ToJson(element value) {
  switch (value.type()) {
    case element_type::OBJECT: {
      auto out = nlohmann::json::object();
      simdjson::dom::object object;
      if (value.get(object) != simdjson::SUCCESS) return out;
      for (auto field : object)
        out[std::string(field.key)] = ToJson(field.value);
      return out;
    }
    case element_type::ARRAY: {
      auto out = nlohmann::json::array();
      simdjson::dom::array array;
      if (value.get(array) != simdjson::SUCCESS) return out;
      for (auto item : array) out.push_back(ToJson(item));
      return out;
    }
    case element_type::INT64:
      return value.get_int64().value_unsafe();
    case element_type::UINT64:
      return value.get_uint64().value_unsafe();
    case element_type::DOUBLE:
      return value.get_double().value_unsafe();
    case element_type::STRING:
      return std::string(value.get_string().value_unsafe());
    case element_type::BOOL:
      return value.get_bool().value_unsafe();
    case element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

// Checks a parsed body against the schema and fills EVENT. Every message the
// broker forwards goes through here, so it works on simdjson's DOM directly.
class EventChecker {
 public:
  EventChecker(std::string_view topic, Event& event)
      : topic_(topic), event_(event) {}

  const std::string& error() const { return error_; }

  bool Check(element body, bool keep_data) {
    simdjson::dom::object object;
    if (body.get_object().get(object) != simdjson::SUCCESS) {
      return Fail("body is not a JSON object");
    }
    unsigned seen = 0;
    for (auto field : object) {
      unsigned f = 0;
      while (f < kFieldCount && kFieldNames[f] != field.key) ++f;
      if (f == kFieldCount) return Bad(field.key, "unknown field");
      if (seen & (1u << f)) return Bad(field.key, "duplicate field");
      seen |= 1u << f;
      if (!Value(static_cast<Field>(f), field.value, keep_data)) return false;
    }
    for (unsigned f = 0; f < kFieldCount; ++f) {
      if ((seen & (1u << f)) == 0) return Bad(kFieldNames[f], "missing");
    }
    return true;
  }

 private:
  std::string Prefix() const { return "topic " + Quote(topic_) + ": "; }
  bool Fail(std::string_view what) {
    error_ = Prefix() + std::string(what);
    return false;
  }
  bool Bad(std::string_view field, std::string_view what) {
    error_ =
        Prefix() + "field \"" + std::string(field) + "\": " + std::string(what);
    return false;
  }

  // An integer at least MIN, or an error naming FIELD.
  bool Integer(std::string_view field, element value, std::int64_t min,
               std::int64_t& out) {
    if (value.type() == element_type::UINT64) {
      return Bad(field, "out of range");  // simdjson: beyond INT64_MAX
    }
    if (value.type() != element_type::INT64) {
      return Bad(field, "expected an integer");
    }
    out = value.get_int64().value_unsafe();
    if (out < min) return Bad(field, "must be at least " + std::to_string(min));
    return true;
  }

  bool Text(std::string_view field, element value, std::size_t min,
            std::size_t max, std::string_view& out) {
    if (value.get_string().get(out) != simdjson::SUCCESS) {
      return Bad(field, "expected a string");
    }
    if (out.size() < min || out.size() > max) {
      return Bad(field, "length " + std::to_string(out.size()) + " not in [" +
                            std::to_string(min) + ", " + std::to_string(max) +
                            "]");
    }
    return true;
  }

  bool Source(element value) {
    simdjson::dom::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS ||
        object.size() != 3) {
      return Bad("source", kSourceShape);
    }
    std::string_view component;
    element pid, started;
    if (object["component"].get_string().get(component) != simdjson::SUCCESS ||
        !ValidName(component)) {
      return Bad("source.component", "expected a component name");
    }
    if (object["pid"].get(pid) != simdjson::SUCCESS ||
        object["started_us"].get(started) != simdjson::SUCCESS) {
      return Bad("source", kSourceShape);
    }
    std::int64_t pid_value = 0, started_value = 0;
    if (pid.type() != element_type::INT64 ||
        (pid_value = pid.get_int64().value_unsafe()) < 1) {
      return Bad("source.pid", "expected a positive integer");
    }
    if (started.type() != element_type::INT64 ||
        (started_value = started.get_int64().value_unsafe()) < 0) {
      return Bad("source.started_us", "expected a non-negative integer");
    }
    event_.source = {std::string(component), pid_value, started_value};
    return true;
  }

  bool Value(Field field, element value, bool keep_data) {
    std::string_view name = kFieldNames[field];
    std::string_view text;
    std::int64_t number = 0;
    switch (field) {
      case kV:
        if (!Integer(name, value, 0, number)) return false;
        if (number != kSchemaVersion) {
          return Bad(name,
                     "unsupported schema version " + std::to_string(number));
        }
        event_.version = static_cast<int>(number);
        return true;
      case kTopic:
        if (!Text(name, value, 1, kMaxTopicBytes, text)) return false;
        if (text != topic_) {
          return Bad(name, "differs from the topic frame: " + Quote(text));
        }
        event_.topic = std::string(text);
        return true;
      case kNode:
        if (!Text(name, value, 1, kMaxNameBytes, text)) return false;
        if (!ValidName(text)) return Bad(name, "not a host name");
        event_.node = std::string(text);
        return true;
      case kSource:
        return Source(value);
      case kSeq:
        if (!Integer(name, value, 1, number)) return false;
        event_.seq = static_cast<std::uint64_t>(number);
        return true;
      case kWall:
        return Integer(name, value, 0, event_.wall_us);
      case kMono:
        return Integer(name, value, 0, event_.mono_ns);
      case kKind:
        if (!Text(name, value, 1, 16, text)) return false;
        if (auto kind = ParseKind(text)) {
          event_.kind = *kind;
          return true;
        }
        return Bad(name, "expected \"event\" or \"state\"");
      case kSeverity:
        if (!Text(name, value, 1, 16, text)) return false;
        if (auto severity = ParseSeverity(text)) {
          event_.severity = *severity;
          return true;
        }
        return Bad(name,
                   "expected debug, info, notice, warning, error or critical");
      case kSubject:
        if (!Text(name, value, 0, kMaxSubjectBytes, text)) return false;
        if (!OneLine(text)) return Bad(name, "control character");
        event_.subject = std::string(text);
        return true;
      case kMessage:
        if (!Text(name, value, 0, kMaxMessageBytes, text)) return false;
        if (!OneLine(text)) return Bad(name, "control character");
        event_.message = std::string(text);
        return true;
      case kData:
        if (value.type() != element_type::OBJECT) {
          return Bad(name, "expected an object");
        }
        if (keep_data) event_.data = ToJson(value);
        return true;
      case kFieldCount:
        break;
    }
    return Bad(name, "unknown field");
  }

  std::string_view topic_;
  Event& event_;
  std::string error_;
};

}  // namespace

std::string_view ToString(Kind kind) {
  return kKindNames[static_cast<std::size_t>(kind)];
}

std::string_view ToString(Severity severity) {
  return kSeverityNames[static_cast<std::size_t>(severity)];
}

std::optional<Kind> ParseKind(std::string_view text) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == text) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

std::optional<Severity> ParseSeverity(std::string_view text) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == text) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

bool ValidTopic(std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicBytes) return false;
  bool word_start = true;
  for (char c : topic) {
    if (c == '.') {
      if (word_start) return false;  // empty word: "..", leading '.'
      word_start = true;
    } else if (TopicChar(c)) {
      word_start = false;
    } else {
      return false;
    }
  }
  return !word_start;  // no trailing '.'
}

std::string Quote(std::string_view untrusted) {
  constexpr std::size_t kShown = 64;
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : untrusted) {
    if (n++ == kShown) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void SourceKey(const Event& event, std::string& key) {
  key.assign(event.node);
  key += '\0';
  key += event.source.component;
  key += '\0';
  key += std::to_string(event.source.pid);
  key += '\0';
  key += std::to_string(event.source.started_us);
}

Encoded Encode(const Event& event) {
  // Written directly rather than through a json object: this runs for every
  // event published. Keys in sorted order, as nlohmann writes them.
  std::string body;
  body.reserve(256 + event.message.size());
  body += "{\"data\":";
  body +=
      event.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  body += ",\"kind\":\"";
  body += ToString(event.kind);
  body += "\",\"message\":";
  AppendJsonString(body, event.message);
  body += ",\"mono_ns\":" + std::to_string(event.mono_ns);
  body += ",\"node\":";
  AppendJsonString(body, event.node);
  body += ",\"seq\":" + std::to_string(event.seq);
  body += ",\"severity\":\"";
  body += ToString(event.severity);
  body += "\",\"source\":{\"component\":";
  AppendJsonString(body, event.source.component);
  body += ",\"pid\":" + std::to_string(event.source.pid);
  body += ",\"started_us\":" + std::to_string(event.source.started_us);
  body += "},\"subject\":";
  AppendJsonString(body, event.subject);
  body += ",\"topic\":";
  AppendJsonString(body, event.topic);
  body += ",\"v\":" + std::to_string(event.version);
  body += ",\"wall_us\":" + std::to_string(event.wall_us);
  body += '}';
  return {event.topic, std::move(body)};
}

namespace {

Result<Event> Read(std::string_view topic, std::string_view body,
                   bool keep_data) {
  if (topic.size() + body.size() > kMaxEventBytes) {
    return Fail("topic " + Quote(topic) + ": message of " +
                std::to_string(topic.size() + body.size()) +
                " bytes exceeds the limit of " +
                std::to_string(kMaxEventBytes));
  }
  if (!ValidTopic(topic)) {
    return Fail("topic " + Quote(topic) +
                ": not a topic (dot-separated words of a-z 0-9 _ -)");
  }
  if (!DepthWithin(body, kMaxJsonDepth)) {
    return Fail("topic " + Quote(topic) + ": body nested deeper than " +
                std::to_string(kMaxJsonDepth));
  }
  // One parser per thread, reused: its buffers grow to the largest body
  // seen (at most kMaxEventBytes). simdjson reads up to SIMDJSON_PADDING
  // bytes past the end, so the body is copied into a padded buffer.
  thread_local simdjson::dom::parser parser;
  thread_local std::string padded;
  padded.assign(body);
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  element root;
  if (auto error = parser.parse(padded.data(), body.size(), false).get(root);
      error != simdjson::SUCCESS) {
    return Fail("topic " + Quote(topic) +
                ": body is not JSON: " + simdjson::error_message(error));
  }
  Event event;
  EventChecker checker(topic, event);
  if (!checker.Check(root, keep_data)) return Fail(checker.error());
  return event;
}

}  // namespace

Result<Event> Decode(std::string_view topic, std::string_view body) {
  return Read(topic, body, true);
}

Result<Event> Validate(std::string_view topic, std::string_view body) {
  return Read(topic, body, false);
}

std::int64_t WallMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::int64_t MonoNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace ehabus
