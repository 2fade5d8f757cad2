// Receiving events from the node-local broker, Clone-style.
//
// The subscriber subscribes first, then asks the broker's snapshot socket for
// the current value of every state topic under its prefixes, delivers those,
// and then the live stream, discarding live messages at or below the numbers
// it already has for a (source, topic). A jump in a (source, topic) sequence
// is a loss (a broker restart, a high-water mark): it is counted and reported
// with the next delivery. Malformed messages are counted and skipped.
//
// After a broker restart the sockets reconnect by themselves; publishers
// re-send their state, which arrives here as live messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/event.h"

namespace ehabus {

struct CurveClient {
  std::string server_public;  // Z85, 40 characters
  std::string client_public;
  std::string client_secret;
};

struct SubscriberOptions {
  std::string sub_endpoint;
  std::string snapshot_endpoint;  // empty: no snapshot
  std::vector<std::string> prefixes = {""};
  std::chrono::milliseconds snapshot_timeout{2000};
  int receive_hwm = 100000;
  std::optional<CurveClient> curve;  // for tcp:// endpoints of a remote broker
};

struct Delivery {
  Event event;
  bool from_snapshot = false;
  // Messages of this (source, topic) lost just before this one.
  std::uint64_t missed_before = 0;
};

struct SubscriberStats {
  std::uint64_t delivered = 0;
  std::uint64_t rejected = 0;
  std::uint64_t gaps = 0;    // number of jumps
  std::uint64_t missed = 0;  // messages lost in those jumps
  std::uint64_t duplicates = 0;
  std::uint64_t snapshot_states = 0;
  bool snapshot_complete = false;
  std::string last_reject;
};

class Subscriber {
 public:
  Subscriber(zmq::context_t& context, SubscriberOptions options);
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // The next delivery, or nullopt when TIMEOUT passes without one.
  std::optional<Delivery> Receive(std::chrono::milliseconds timeout);
  const SubscriberStats& stats() const { return stats_; }
  zmq::socket_t& socket() { return sub_; }

 private:
  std::optional<Delivery> Accept(std::string_view topic, std::string_view body,
                                 bool from_snapshot);
  std::optional<Delivery> ReceiveSnapshot(
      std::chrono::steady_clock::time_point deadline);

  SubscriberOptions options_;
  zmq::socket_t sub_;
  std::optional<zmq::socket_t> snapshot_;
  std::chrono::steady_clock::time_point snapshot_deadline_;
  std::unordered_map<std::string, std::uint64_t> last_seq_;
  std::string key_buffer_;
  SubscriberStats stats_;
};

// Reads a Z85 key from a file (40 characters, surrounding space ignored).
Result<std::string> ReadCurveKey(const std::string& path);

}  // namespace ehabus
