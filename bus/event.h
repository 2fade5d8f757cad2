// The event: the one thing every ehabus process exchanges over the bus.
//
// On the wire an event is two ZeroMQ frames: the topic (for SUB prefix
// filtering, e.g. "service.smtp") and a JSON body. The body schema is
// versioned and documented in docs/events.md. Decoding is strict: a message
// that is not exactly what the schema says is rejected with a reason that
// names the topic, never half-accepted, and never throws.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace ehabus {

inline constexpr int kSchemaVersion = 1;
// A whole message (topic + body) larger than this is rejected unread.
inline constexpr std::size_t kMaxEventBytes = 64 * 1024;
inline constexpr std::size_t kMaxTopicBytes = 128;
inline constexpr std::size_t kMaxNameBytes = 64;  // node, component, subject

enum class Kind { kEvent, kState };

// Ordered: a subscriber asking for "warning" gets warning and above.
enum class Severity { kDebug, kInfo, kNotice, kWarning, kError, kCritical };

std::string_view ToString(Kind kind);
std::string_view ToString(Severity severity);
std::optional<Kind> ParseKind(std::string_view text);
std::optional<Severity> ParseSeverity(std::string_view text);

struct Source {
  std::string component;  // e.g. "sensor-service", "busd", "cli"
  std::int64_t pid = 0;
  // When the publisher started (wall, microseconds): tells a restarted
  // process from its predecessor even when the pid is reused.
  std::int64_t started_us = 0;

  bool operator==(const Source&) const = default;
};

struct Event {
  int version = kSchemaVersion;
  std::string topic;
  std::string node;
  Source source;
  // Per source and per topic, starting at 1: a subscriber that filters by
  // prefix still sees every number of the topics it gets, so a jump is a loss.
  std::uint64_t seq = 0;
  std::int64_t wall_us = 0;  // CLOCK_REALTIME, microseconds since the epoch
  std::int64_t mono_ns = 0;  // CLOCK_MONOTONIC of the publishing node
  Kind kind = Kind::kEvent;
  Severity severity = Severity::kInfo;
  std::string subject;  // what the event is about: a service, a mount, a link
  std::string message;  // one line for humans
  nlohmann::json data = nlohmann::json::object();

  bool operator==(const Event&) const = default;
};

// A topic is dot-separated words of [a-z0-9_-], 1 to kMaxTopicBytes long.
bool ValidTopic(std::string_view topic);
// Printable rendering of untrusted bytes for error messages (quoted, escaped,
// cut at 64 characters).
std::string Quote(std::string_view untrusted);

struct Encoded {
  std::string topic;
  std::string body;
};

// Identifies the publisher of EVENT (node, component, pid, start time), into
// KEY, reusing its buffer: the broker and subscribers do this per message.
void SourceKey(const Event& event, std::string& key);

Encoded Encode(const Event& event);
// Strict: rejects bad sizes, non-JSON, unknown or missing fields, wrong types,
// bad topics, and a body whose topic differs from the frame's.
Result<Event> Decode(std::string_view topic, std::string_view body);
// The same checks, without building `data` (left empty): what the broker
// needs for every message it forwards.
Result<Event> Validate(std::string_view topic, std::string_view body);

std::int64_t WallMicros();
std::int64_t MonoNanos();

}  // namespace ehabus
