// ehabus-busd's core: the node-local XSUB/XPUB broker.
//
// Publishers connect to the XSUB side, subscribers to the XPUB side; the
// broker subscribes upstream to everything, validates every message (a
// malformed one is dropped, counted and reported as a `bus.reject` warning),
// forwards it without blocking (each subscriber has its own high-water mark;
// a slow one loses messages and sees the gap, the others are untouched), and
// keeps the last value of every `state` topic for the snapshot socket, so a
// subscriber started late knows the current state at once (the zguide's
// Clone pattern, with the broker as the state store). Optionally the same
// stream is served on TCP to remote subscribers, CURVE-encrypted, admitting
// only listed client keys (a ZAP handler in this loop).
//
// Lifecycle: Create() binds everything (an error names the endpoint), Run()
// loops until asked to stop, calling `tick` at least every 100 ms (systemd
// watchdog). One thread owns the Broker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/endpoints.h"
#include "bus/event.h"

namespace ehabus {

struct BrokerRemote {
  std::string sub_endpoint;
  std::string snapshot_endpoint;
  std::string server_secret;              // Z85
  std::set<std::string> allowed_clients;  // Z85 public keys
};

struct BrokerOptions {
  BusEndpoints endpoints;
  std::string node;
  std::string group;        // owner group of ipc sockets; empty: leave as is
  std::string alert_group;  // owner group of the alert socket
  unsigned pub_mode = 0660;
  unsigned sub_mode = 0666;
  int publisher_hwm = 100000;
  int subscriber_hwm = 100000;
  std::size_t max_state_topics = 10000;
  std::optional<BrokerRemote> remote;
};

struct BrokerStats {
  std::uint64_t received = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t rejected = 0;
  std::uint64_t gaps = 0;    // sequence jumps seen on the way in
  std::uint64_t missed = 0;  // messages those jumps lost
  std::uint64_t snapshots = 0;
  std::uint64_t state_overflow = 0;
  std::int64_t subscriptions = 0;
  std::string last_reject;
};

class Broker {
 public:
  static Result<std::unique_ptr<Broker>> Create(zmq::context_t& context,
                                                BrokerOptions options);
  ~Broker();

  void Run(const std::atomic<bool>& stop, const std::function<void()>& tick);
  const BrokerStats& stats() const { return stats_; }
  nlohmann::json StatusJson() const;

 private:
  struct SourceInfo {
    std::string node, component;
    std::int64_t pid = 0, started_us = 0;
    std::uint64_t events = 0;
    std::string last_topic;
    std::int64_t last_wall_us = 0;
    std::map<std::string, std::uint64_t> seq;  // per topic
  };
  struct StateEntry {
    std::string body;
  };

  Broker(zmq::context_t& context, BrokerOptions options);
  Result<void> Bind();
  // From a publish socket; ONLY: the topic prefix it may publish ("" any).
  void OnPublisherMessages(zmq::socket_t& xsub, std::string_view only);
  void OnSubscriptions(zmq::socket_t& xpub);
  void OnSnapshotRequest(zmq::socket_t& router);
  void OnZapRequest();
  void Forward(zmq::message_t& topic, zmq::message_t& body);
  void Track(const Event& event, std::string_view body);
  void Reject(std::string reason);
  void FlushRejectReport(bool force);
  void PublishOwn(std::string_view topic, Kind kind, Severity severity,
                  std::string subject, std::string message,
                  nlohmann::json data);

  zmq::context_t& context_;
  BrokerOptions options_;
  zmq::socket_t xsub_, xpub_, router_;
  std::optional<zmq::socket_t> remote_xpub_, remote_router_, zap_;
  std::optional<zmq::socket_t> alert_xsub_;
  std::map<std::string, StateEntry, std::less<>> state_;
  std::map<std::string, SourceInfo> sources_;
  std::map<std::string, std::uint64_t> own_seq_;
  Source own_source_;
  std::string key_buffer_;
  BrokerStats stats_;
  std::chrono::steady_clock::time_point started_;
  // Rejects are reported at once, then at most once a second with a count.
  std::chrono::steady_clock::time_point reject_window_;
  std::uint64_t rejects_unreported_ = 0;
  bool overflow_reported_ = false;
};

}  // namespace ehabus
