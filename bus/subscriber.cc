#include "bus/subscriber.h"

#include <fstream>
#include <sstream>

#include "bus/endpoints.h"

namespace ehabus {
namespace {

// Bounds the memory a hostile publisher inventing sources can cost us.
constexpr std::size_t kMaxTracked = 1 << 16;

void ApplyCurve(zmq::socket_t& socket, const CurveClient& curve) {
  socket.set(zmq::sockopt::curve_serverkey, curve.server_public);
  socket.set(zmq::sockopt::curve_publickey, curve.client_public);
  socket.set(zmq::sockopt::curve_secretkey, curve.client_secret);
}

}  // namespace

Result<std::string> ReadCurveKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return FailErrno(path + ": cannot read key", errno);
  std::string key;
  in >> key;
  if (key.size() != 40) {
    return Fail(path + ": not a Z85 CURVE key (expected 40 characters)");
  }
  return key;
}

Subscriber::Subscriber(zmq::context_t& context, SubscriberOptions options)
    : options_(std::move(options)), sub_(context, zmq::socket_type::sub) {
  sub_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
  sub_.set(zmq::sockopt::linger, 0);
  // Retry every 100 ms without backoff: rejoin a restarted broker quickly
  // (what it forwards before we are back, we miss and count as a gap).
  sub_.set(zmq::sockopt::reconnect_ivl, 100);
  sub_.set(zmq::sockopt::reconnect_ivl_max, 0);
  sub_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * kMaxEventBytes));
  if (options_.curve) ApplyCurve(sub_, *options_.curve);
  for (const auto& prefix : options_.prefixes) {
    sub_.set(zmq::sockopt::subscribe, prefix);
  }
  sub_.connect(options_.sub_endpoint);

  if (!options_.snapshot_endpoint.empty()) {
    snapshot_.emplace(context, zmq::socket_type::dealer);
    snapshot_->set(zmq::sockopt::linger, 0);
    if (options_.curve) ApplyCurve(*snapshot_, *options_.curve);
    snapshot_->connect(options_.snapshot_endpoint);
    snapshot_->send(zmq::buffer(kSnapshotRequest),
                    options_.prefixes.empty()
                        ? zmq::send_flags::dontwait
                        : zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    for (std::size_t i = 0; i < options_.prefixes.size(); ++i) {
      auto flags = i + 1 < options_.prefixes.size()
                       ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                       : zmq::send_flags::dontwait;
      snapshot_->send(zmq::buffer(options_.prefixes[i]), flags);
    }
    snapshot_deadline_ =
        std::chrono::steady_clock::now() + options_.snapshot_timeout;
  } else {
    stats_.snapshot_complete = true;
  }
}

std::optional<Delivery> Subscriber::ReceiveSnapshot(
    std::chrono::steady_clock::time_point deadline) {
  auto until = std::min(deadline, snapshot_deadline_);
  while (snapshot_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    zmq::pollitem_t item{snapshot_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
    if ((item.revents & ZMQ_POLLIN) == 0) {
      if (std::chrono::steady_clock::now() >= snapshot_deadline_) {
        snapshot_.reset();  // no broker answered: go live without it
      }
      return std::nullopt;
    }
    std::vector<zmq::message_t> parts;
    try {
      (void)zmq::recv_multipart(*snapshot_, std::back_inserter(parts));
    } catch (const zmq::error_t&) {
      snapshot_.reset();
      return std::nullopt;
    }
    if (parts.empty()) continue;
    auto kind = parts[0].to_string_view();
    if (kind == kEndReply) {
      stats_.snapshot_complete = true;
      snapshot_.reset();
      return std::nullopt;
    }
    if (kind == kStateReply && parts.size() == 3) {
      if (auto d = Accept(parts[1].to_string_view(), parts[2].to_string_view(),
                          true)) {
        ++stats_.snapshot_states;
        return d;
      }
    }
  }
  return std::nullopt;
}

std::optional<Delivery> Subscriber::Receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (snapshot_) {
    if (auto d = ReceiveSnapshot(deadline)) return d;
    if (snapshot_) return std::nullopt;  // timeout passed mid-snapshot
  }
  std::vector<zmq::message_t> parts;
  while (true) {
    parts.clear();
    // Poll only when nothing is queued: a busy stream costs no syscall.
    if ((sub_.get(zmq::sockopt::events) & ZMQ_POLLIN) == 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      zmq::pollitem_t item{sub_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
      if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
    }
    try {
      (void)zmq::recv_multipart(sub_, std::back_inserter(parts));
    } catch (const zmq::error_t& e) {
      ++stats_.rejected;
      stats_.last_reject = std::string("receive failed: ") + e.what();
      continue;
    }
    if (parts.size() != 2) {
      ++stats_.rejected;
      stats_.last_reject = "message of " + std::to_string(parts.size()) +
                           " frames (expected topic and body)";
      continue;
    }
    if (auto d = Accept(parts[0].to_string_view(), parts[1].to_string_view(),
                        false)) {
      return d;
    }
  }
}

std::optional<Delivery> Subscriber::Accept(std::string_view topic,
                                           std::string_view body,
                                           bool from_snapshot) {
  auto event = Decode(topic, body);
  if (!event) {
    ++stats_.rejected;
    stats_.last_reject = event.error().message;
    return std::nullopt;
  }
  Delivery delivery{std::move(*event), from_snapshot, 0};
  if (last_seq_.size() >= kMaxTracked) last_seq_.clear();
  // Sequences run per source and topic.
  SourceKey(delivery.event, key_buffer_);
  key_buffer_ += '\0';
  key_buffer_ += delivery.event.topic;
  auto [it, inserted] = last_seq_.try_emplace(key_buffer_, 0);
  std::uint64_t last = it->second;
  std::uint64_t seq = delivery.event.seq;
  if (!inserted && seq <= last) {
    ++stats_.duplicates;  // seen already (snapshot overlap, state re-sent)
    return std::nullopt;
  }
  if (!inserted && !from_snapshot && seq > last + 1) {
    delivery.missed_before = seq - last - 1;
    ++stats_.gaps;
    stats_.missed += delivery.missed_before;
  }
  it->second = seq;
  ++stats_.delivered;
  return delivery;
}

}  // namespace ehabus
