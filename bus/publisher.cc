#include "bus/publisher.h"

#include <unistd.h>

#include <thread>

namespace ehabus {

Publisher::Publisher(zmq::context_t& context, PublisherOptions options)
    : options_(std::move(options)),
      socket_(context, zmq::socket_type::xpub),
      source_{options_.component, static_cast<std::int64_t>(getpid()),
              WallMicros()} {
  socket_.set(zmq::sockopt::sndhwm, options_.send_hwm);
  socket_.set(zmq::sockopt::linger, 1000);  // flush on close, never hang
  // Report every subscribe, so a re-attaching broker is always seen.
  socket_.set(zmq::sockopt::xpub_verbose, 1);
  // At the high-water mark, fail the send (we never wait) instead of dropping
  // silently, so that drops are counted and states retried.
  socket_.set(zmq::sockopt::xpub_nodrop, 1);
  // A local broker restarted by systemd is back within a second or so:
  // retry every 100 ms, without exponential backoff, to rejoin quickly.
  socket_.set(zmq::sockopt::reconnect_ivl, 100);
  socket_.set(zmq::sockopt::reconnect_ivl_max, 0);
  socket_.connect(options_.endpoint);
}

bool Publisher::Publish(std::string_view topic, Severity severity,
                        std::string subject, std::string message,
                        nlohmann::json data) {
  Event event;
  event.topic = std::string(topic);
  event.kind = Kind::kEvent;
  event.severity = severity;
  event.subject = std::move(subject);
  event.message = std::move(message);
  event.data = std::move(data);
  return Send(std::move(event));
}

bool Publisher::SetState(std::string_view topic, Severity severity,
                         std::string subject, std::string message,
                         nlohmann::json data) {
  Event event;
  event.topic = std::string(topic);
  event.kind = Kind::kState;
  event.severity = severity;
  event.subject = std::move(subject);
  event.message = std::move(message);
  event.data = std::move(data);
  return Send(std::move(event));
}

bool Publisher::Send(Event event) {
  event.version = kSchemaVersion;
  event.node = options_.node;
  event.source = source_;
  auto it = seq_.find(event.topic);
  if (it == seq_.end()) it = seq_.emplace(event.topic, 0).first;
  event.seq = ++it->second;
  event.wall_us = WallMicros();
  event.mono_ns = MonoNanos();
  Encoded encoded = Encode(event);
  Poll();
  if (event.kind == Kind::kState) {
    state_[event.topic] = encoded;
    pending_.erase(event.topic);
    if (!attached_) return false;  // re-sent on attachment
    if (SendEncoded(encoded)) return true;
    pending_.insert(event.topic);
    return false;
  }
  if (attached_ && SendEncoded(encoded)) return true;
  ++dropped_;
  return false;
}

bool Publisher::SendEncoded(const Encoded& encoded) {
  try {
    // Multipart messages are atomic: when the first frame is queued, the
    // second always is.
    if (!socket_.send(zmq::buffer(encoded.topic),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    (void)socket_.send(zmq::buffer(encoded.body), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    return false;  // context terminating; nothing to do but drop
  }
  return true;
}

void Publisher::FlushPending() {
  while (attached_ && !pending_.empty()) {
    auto topic = pending_.begin();
    auto state = state_.find(*topic);
    if (state != state_.end() && !SendEncoded(state->second)) return;
    pending_.erase(topic);
  }
}

void Publisher::Poll() {
  zmq::message_t message;
  while (true) {
    zmq::recv_result_t got;
    try {
      got = socket_.recv(message, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
    if (!got) break;
    // The broker subscribes to everything (""): 1 = subscribe, 0 = gone.
    if (message.size() != 1) continue;
    auto op = *static_cast<const unsigned char*>(message.data());
    if (op == 1) {
      attached_ = true;
      ++attachments_;
      for (const auto& [topic, encoded] : state_) pending_.insert(topic);
    } else if (op == 0) {
      attached_ = false;
    }
  }
  FlushPending();
}

bool Publisher::WaitAttached(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    Poll();
    if (attached_) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(100)));
  }
}

}  // namespace ehabus
