#include "bus/event.h"

#include <time.h>

#include <array>
#include <cstdio>

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

class Checker {
 public:
  Checker(std::string_view topic, const nlohmann::json& body)
      : topic_(topic), body_(body) {}

  tl::unexpected<Error> Bad(std::string_view field,
                            std::string_view what) const {
    std::string text = "topic " + Quote(topic_) + ": field \"";
    text += field;
    text += "\": ";
    text += what;
    return Fail(std::move(text));
  }

  const nlohmann::json* Field(std::string_view name) const {
    auto it = body_.find(name);
    return it == body_.end() ? nullptr : &*it;
  }

  Result<std::string> String(std::string_view name, std::size_t min,
                             std::size_t max) const {
    const auto* v = Field(name);
    if (v == nullptr) return Bad(name, "missing");
    if (!v->is_string()) return Bad(name, "expected a string");
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() < min || s.size() > max) {
      return Bad(name, "length " + std::to_string(s.size()) + " not in [" +
                           std::to_string(min) + ", " + std::to_string(max) +
                           "]");
    }
    return s;
  }

  Result<std::int64_t> Integer(std::string_view name, std::int64_t min) const {
    const auto* v = Field(name);
    if (v == nullptr) return Bad(name, "missing");
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) {
        return Bad(name, "out of range");
      }
      auto i = static_cast<std::int64_t>(u);
      if (i < min) return Bad(name, "must be at least " + std::to_string(min));
      return i;
    }
    if (v->is_number_integer()) {
      auto i = v->get<std::int64_t>();
      if (i < min) return Bad(name, "must be at least " + std::to_string(min));
      return i;
    }
    return Bad(name, "expected an integer");
  }

 private:
  std::string_view topic_;
  const nlohmann::json& body_;
};

constexpr std::array<std::string_view, 12> kFields = {
    "v",       "topic", "node",     "source",  "seq",     "wall_us",
    "mono_ns", "kind",  "severity", "subject", "message", "data"};

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

Encoded Encode(const Event& event) {
  nlohmann::json body = {
      {"v", event.version},
      {"topic", event.topic},
      {"node", event.node},
      {"source",
       {{"component", event.source.component},
        {"pid", event.source.pid},
        {"started_us", event.source.started_us}}},
      {"seq", event.seq},
      {"wall_us", event.wall_us},
      {"mono_ns", event.mono_ns},
      {"kind", ToString(event.kind)},
      {"severity", ToString(event.severity)},
      {"subject", event.subject},
      {"message", event.message},
      {"data", event.data},
  };
  // Replace rather than throw on invalid UTF-8 coming from a sensor's reading.
  return {event.topic,
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

Result<Event> Decode(std::string_view topic, std::string_view body) {
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
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return Fail("topic " + Quote(topic) + ": body is not JSON: " + e.what());
  }
  if (!json.is_object()) {
    return Fail("topic " + Quote(topic) + ": body is not a JSON object");
  }
  Checker check(topic, json);
  for (const auto& [key, value] : json.items()) {
    bool known = false;
    for (auto field : kFields) known = known || field == key;
    if (!known) return check.Bad(key, "unknown field");
  }

  Event event;
  auto version = check.Integer("v", 0);
  if (!version) return tl::unexpected(version.error());
  if (*version != kSchemaVersion) {
    return check.Bad("v",
                     "unsupported schema version " + std::to_string(*version));
  }
  auto body_topic = check.String("topic", 1, kMaxTopicBytes);
  if (!body_topic) return tl::unexpected(body_topic.error());
  if (*body_topic != topic) {
    return check.Bad("topic",
                     "differs from the topic frame: " + Quote(*body_topic));
  }
  event.topic = std::move(*body_topic);

  auto node = check.String("node", 1, kMaxNameBytes);
  if (!node) return tl::unexpected(node.error());
  if (!ValidName(*node)) return check.Bad("node", "not a host name");
  event.node = std::move(*node);

  const auto* source = check.Field("source");
  if (source == nullptr) return check.Bad("source", "missing");
  if (!source->is_object() || source->size() != 3 ||
      !source->contains("component") || !source->contains("pid") ||
      !source->contains("started_us")) {
    return check.Bad("source",
                     "expected {\"component\", \"pid\", \"started_us\"}");
  }
  Checker source_check(topic, *source);
  auto component = source_check.String("component", 1, kMaxNameBytes);
  if (!component || !ValidName(*component)) {
    return check.Bad("source.component", "expected a component name");
  }
  auto pid = source_check.Integer("pid", 1);
  if (!pid) return check.Bad("source.pid", "expected a positive integer");
  auto started = source_check.Integer("started_us", 0);
  if (!started) {
    return check.Bad("source.started_us", "expected a non-negative integer");
  }
  event.source = {std::move(*component), *pid, *started};

  auto seq = check.Integer("seq", 1);
  if (!seq) return tl::unexpected(seq.error());
  event.seq = static_cast<std::uint64_t>(*seq);
  auto wall = check.Integer("wall_us", 0);
  if (!wall) return tl::unexpected(wall.error());
  event.wall_us = *wall;
  auto mono = check.Integer("mono_ns", 0);
  if (!mono) return tl::unexpected(mono.error());
  event.mono_ns = *mono;

  auto kind = check.String("kind", 1, 16);
  if (!kind) return tl::unexpected(kind.error());
  auto parsed_kind = ParseKind(*kind);
  if (!parsed_kind) return check.Bad("kind", "expected \"event\" or \"state\"");
  event.kind = *parsed_kind;

  auto severity = check.String("severity", 1, 16);
  if (!severity) return tl::unexpected(severity.error());
  auto parsed_severity = ParseSeverity(*severity);
  if (!parsed_severity) {
    return check.Bad(
        "severity", "expected debug, info, notice, warning, error or critical");
  }
  event.severity = *parsed_severity;

  auto subject = check.String("subject", 0, kMaxSubjectBytes);
  if (!subject) return tl::unexpected(subject.error());
  if (!OneLine(*subject)) return check.Bad("subject", "control character");
  event.subject = std::move(*subject);

  auto message = check.String("message", 0, kMaxMessageBytes);
  if (!message) return tl::unexpected(message.error());
  if (!OneLine(*message)) return check.Bad("message", "control character");
  event.message = std::move(*message);

  const auto* data = check.Field("data");
  if (data == nullptr) return check.Bad("data", "missing");
  if (!data->is_object()) return check.Bad("data", "expected an object");
  event.data = *data;
  return event;
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
