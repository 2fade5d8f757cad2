// Publishing events to the node-local broker.
//
// The socket is an XPUB that connects to the broker's XSUB. Unlike a PUB it
// receives the broker's subscription, so the publisher knows exactly when a
// broker is attached: on every (re)attachment it re-sends the current value
// of each state topic it owns, unchanged, and a restarted broker (and every
// subscriber through it) knows the state again within milliseconds of
// reconnecting. Sending never blocks: with no broker, or past the high-water
// mark, an event is dropped (counted here; subscribers see the gap in the
// sequence), while a state that could not be queued is kept and sent as soon
// as there is room, so the broker's state is never lost to a full queue.
//
// Not thread-safe: one thread owns a Publisher (one thread per socket).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "bus/event.h"

namespace ehabus {

struct PublisherOptions {
  std::string endpoint;   // the broker's pub endpoint
  std::string node;       // [node] name
  std::string component;  // e.g. "sensor-service"
  int send_hwm = 100000;  // messages queued before dropping
};

class Publisher {
 public:
  Publisher(zmq::context_t& context, PublisherOptions options);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // An event: something happened. Returns false when no broker is attached
  // (the event is dropped; the sequence number still advances).
  bool Publish(std::string_view topic, Severity severity, std::string subject,
               std::string message,
               nlohmann::json data = nlohmann::json::object());
  // A state: the current value of TOPIC, remembered and re-sent to every
  // broker that attaches. A topic is either a state topic or an event topic.
  bool SetState(std::string_view topic, Severity severity, std::string subject,
                std::string message,
                nlohmann::json data = nlohmann::json::object());
  // Sends an event already built (tests, the CLI); fills node, source,
  // sequence and timestamps.
  bool Send(Event event);

  // Reads the broker's (un)subscriptions and re-sends state on attachment.
  // Call whenever socket() is readable, or at least every 100 ms.
  void Poll();
  // Polls until a broker is attached or the timeout passes (one-shot tools).
  bool WaitAttached(std::chrono::milliseconds timeout);
  bool attached() const { return attached_; }
  // Events not queued (no broker, or the queue full).
  std::uint64_t dropped() const { return dropped_; }
  // States waiting for room in the queue.
  std::size_t pending_states() const { return pending_.size(); }
  std::uint64_t attachments() const { return attachments_; }
  zmq::socket_t& socket() { return socket_; }

 private:
  bool SendEncoded(const Encoded& encoded);
  void FlushPending();

  PublisherOptions options_;
  zmq::socket_t socket_;
  Source source_;
  std::map<std::string, std::uint64_t, std::less<>> seq_;
  std::map<std::string, Encoded, std::less<>> state_;
  std::set<std::string, std::less<>> pending_;  // state topics not yet queued
  std::uint64_t dropped_ = 0;
  bool attached_ = false;
  std::uint64_t attachments_ = 0;
};

}  // namespace ehabus
