#include "bus/broker.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace ehabus {
namespace {

// Larger messages make libzmq drop the connection unread: they could only be
// rejected anyway (kMaxEventBytes), and reading them costs memory.
constexpr std::int64_t kMaxWireBytes = 1 << 20;
constexpr std::size_t kMaxSources = 4096;
constexpr int kBatch = 1024;  // messages per wake-up before polling others
constexpr auto kRejectWindow = std::chrono::seconds(1);

// Restrict who may use an ipc socket: the socket file's mode and group.
Result<void> SecureIpc(const std::string& endpoint, unsigned mode,
                       const std::string& group) {
  if (!endpoint.starts_with("ipc://")) return {};
  std::string path = endpoint.substr(6);
  if (!group.empty()) {
    if (struct group* g = getgrnam(group.c_str())) {
      if (chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
        return FailErrno("chown " + path, errno);
      }
    }
  }
  if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return FailErrno("chmod " + path, errno);
  }
  return {};
}

Result<void> MakeIpcDir(const std::string& endpoint) {
  if (!endpoint.starts_with("ipc://")) return {};
  std::filesystem::path dir =
      std::filesystem::path(endpoint.substr(6)).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail("create " + dir.string() + ": " + ec.message());
  return {};
}

std::string Z85(const void* key32) {
  char text[41] = {};
  zmq_z85_encode(text, static_cast<const uint8_t*>(key32), 32);
  return text;
}

}  // namespace

Broker::Broker(zmq::context_t& context, BrokerOptions options)
    : context_(context),
      options_(std::move(options)),
      xsub_(context, zmq::socket_type::xsub),
      xpub_(context, zmq::socket_type::xpub),
      router_(context, zmq::socket_type::router),
      own_source_{"busd", static_cast<std::int64_t>(getpid()), WallMicros()},
      started_(std::chrono::steady_clock::now()),
      reject_window_(started_) {}

Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::Create(zmq::context_t& context,
                                               BrokerOptions options) {
  std::unique_ptr<Broker> broker(new Broker(context, std::move(options)));
  if (auto bound = broker->Bind(); !bound) return tl::unexpected(bound.error());
  broker->PublishOwn("bus.broker", Kind::kState, Severity::kInfo, "busd",
                     "broker up",
                     {{"pid", broker->own_source_.pid},
                      {"pub_endpoint", broker->options_.endpoints.pub},
                      {"sub_endpoint", broker->options_.endpoints.sub},
                      {"alert_endpoint", broker->options_.endpoints.alert},
                      {"remote", broker->options_.remote.has_value()}});
  return broker;
}

Result<void> Broker::Bind() {
  const auto& ep = options_.endpoints;
  auto bind = [](zmq::socket_t& socket,
                 const std::string& endpoint) -> Result<void> {
    if (auto made = MakeIpcDir(endpoint); !made) return made;
    try {
      socket.bind(endpoint);
    } catch (const zmq::error_t& e) {
      return Fail("bind " + endpoint + ": " + e.what());
    }
    return {};
  };
  // A publish side (the node's publishers, or Pacemaker's alert agent): it
  // takes everything they send; the broker validates all of it and keeps
  // state, whatever the subscribers currently want.
  auto publish_side = [&](zmq::socket_t& xsub, const std::string& endpoint,
                          const std::string& group) -> Result<void> {
    try {
      xsub.set(zmq::sockopt::linger, 0);  // shutdown never waits on peers
      xsub.set(zmq::sockopt::rcvhwm, options_.publisher_hwm);
      xsub.set(zmq::sockopt::maxmsgsize, kMaxWireBytes);
    } catch (const zmq::error_t& e) {
      return Fail(std::string("socket options: ") + e.what());
    }
    if (auto r = bind(xsub, endpoint); !r) return r;
    if (auto r = SecureIpc(endpoint, options_.pub_mode, group); !r) return r;
    xsub.send(zmq::buffer("\x01", 1), zmq::send_flags::dontwait);
    return {};
  };
  try {
    for (auto* socket : {&xpub_, &router_}) {
      socket->set(zmq::sockopt::linger, 0);  // shutdown never waits on peers
    }
    xpub_.set(zmq::sockopt::sndhwm, options_.subscriber_hwm);
    // See every (un)subscription, also repeated ones, to count subscribers.
    xpub_.set(zmq::sockopt::xpub_verboser, 1);
    xpub_.set(zmq::sockopt::maxmsgsize, kMaxWireBytes);
    router_.set(zmq::sockopt::maxmsgsize, kMaxWireBytes);
    // A snapshot is up to max_state_topics messages sent at once.
    router_.set(zmq::sockopt::sndhwm,
                static_cast<int>(options_.max_state_topics) + 16);
  } catch (const zmq::error_t& e) {
    return Fail(std::string("socket options: ") + e.what());
  }
  if (auto r = publish_side(xsub_, ep.pub, options_.group); !r) return r;
  if (auto r = bind(xpub_, ep.sub); !r) return r;
  if (auto r = bind(router_, ep.snapshot); !r) return r;
  if (auto r = SecureIpc(ep.sub, options_.sub_mode, options_.group); !r)
    return r;
  if (auto r = SecureIpc(ep.snapshot, options_.sub_mode, options_.group); !r)
    return r;
  if (!ep.alert.empty()) {
    if (!ep.alert.starts_with("ipc:///"))
      return Fail("[bus] alert_endpoint: expected ipc:///PATH, got " +
                  Quote(ep.alert));
    alert_xsub_.emplace(context_, zmq::socket_type::xsub);
    if (auto r = publish_side(*alert_xsub_, ep.alert, options_.alert_group); !r)
      return r;
  }

  if (options_.remote) {
    const auto& remote = *options_.remote;
    zap_.emplace(context_, zmq::socket_type::rep);
    zap_->set(zmq::sockopt::linger, 0);
    if (auto r = bind(*zap_, "inproc://zeromq.zap.01"); !r) return r;
    remote_xpub_.emplace(context_, zmq::socket_type::xpub);
    remote_router_.emplace(context_, zmq::socket_type::router);
    for (auto* socket : {&*remote_xpub_, &*remote_router_}) {
      socket->set(zmq::sockopt::linger, 0);
      socket->set(zmq::sockopt::maxmsgsize, kMaxWireBytes);
      socket->set(zmq::sockopt::curve_server, 1);
      socket->set(zmq::sockopt::curve_secretkey, remote.server_secret);
      socket->set(zmq::sockopt::zap_domain, "ehabus");
    }
    remote_xpub_->set(zmq::sockopt::sndhwm, options_.subscriber_hwm);
    remote_xpub_->set(zmq::sockopt::xpub_verboser, 1);
    remote_router_->set(zmq::sockopt::sndhwm,
                        static_cast<int>(options_.max_state_topics) + 16);
    if (auto r = bind(*remote_xpub_, remote.sub_endpoint); !r) return r;
    if (auto r = bind(*remote_router_, remote.snapshot_endpoint); !r) return r;
  }
  return {};
}

void Broker::Run(const std::atomic<bool>& stop,
                 const std::function<void()>& tick) {
  std::vector<zmq::pollitem_t> items = {
      {xsub_.handle(), 0, ZMQ_POLLIN, 0},
      {xpub_.handle(), 0, ZMQ_POLLIN, 0},
      {router_.handle(), 0, ZMQ_POLLIN, 0},
  };
  if (options_.remote) {
    items.push_back({remote_xpub_->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({remote_router_->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({zap_->handle(), 0, ZMQ_POLLIN, 0});
  }
  std::size_t alert_item = items.size();
  if (alert_xsub_) items.push_back({alert_xsub_->handle(), 0, ZMQ_POLLIN, 0});
  while (!stop.load()) {
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;  // a signal: look at `stop` again
    }
    if (items[0].revents & ZMQ_POLLIN) OnPublisherMessages(xsub_, "");
    if (items[1].revents & ZMQ_POLLIN) OnSubscriptions(xpub_);
    if (items[2].revents & ZMQ_POLLIN) OnSnapshotRequest(router_);
    if (options_.remote) {
      if (items[3].revents & ZMQ_POLLIN) OnSubscriptions(*remote_xpub_);
      if (items[4].revents & ZMQ_POLLIN) OnSnapshotRequest(*remote_router_);
      if (items[5].revents & ZMQ_POLLIN) OnZapRequest();
    }
    if (alert_xsub_ && (items[alert_item].revents & ZMQ_POLLIN))
      OnPublisherMessages(*alert_xsub_, kAlertTopicPrefix);
    FlushRejectReport(false);
    tick();
  }
}

void Broker::OnPublisherMessages(zmq::socket_t& xsub, std::string_view only) {
  for (int i = 0; i < kBatch; ++i) {
    zmq::message_t topic;
    if (!xsub.recv(topic, zmq::recv_flags::dontwait)) return;
    ++stats_.received;
    if (!topic.more()) {
      Reject("message of 1 frame (expected topic and body)");
      continue;
    }
    zmq::message_t body;
    (void)xsub.recv(body);  // the rest of a multipart message is already here
    if (body.more()) {
      std::size_t frames = 2;
      zmq::message_t extra;
      do {
        (void)xsub.recv(extra);
        ++frames;
      } while (extra.more());
      Reject("topic " + Quote(topic.to_string_view()) + ": message of " +
             std::to_string(frames) + " frames (expected topic and body)");
      continue;
    }
    auto event = Validate(topic.to_string_view(), body.to_string_view());
    if (!event) {
      Reject(std::move(event.error().message));
      continue;
    }
    if (!event->topic.starts_with(only)) {
      Reject("topic " + Quote(event->topic) + " on the alert socket: only " +
             std::string(only) + "* is accepted there");
      continue;
    }
    Track(*event, body.to_string_view());
    Forward(topic, body);
  }
}

void Broker::Forward(zmq::message_t& topic, zmq::message_t& body) {
  // XPUB never blocks: past a subscriber's HWM the message is dropped for
  // that subscriber only. Sending consumes the messages, so the remote side
  // gets copies (reference-counted for large bodies, not duplicated).
  if (remote_xpub_) {
    zmq::message_t t2, b2;
    t2.copy(topic);
    b2.copy(body);
    (void)remote_xpub_->send(
        t2, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)remote_xpub_->send(b2, zmq::send_flags::dontwait);
  }
  (void)xpub_.send(topic, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)xpub_.send(body, zmq::send_flags::dontwait);
  ++stats_.forwarded;
}

void Broker::Track(const Event& event, std::string_view body) {
  SourceKey(event, key_buffer_);
  const std::string& key = key_buffer_;
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    if (sources_.size() >= kMaxSources) {
      auto oldest = sources_.begin();
      for (auto s = sources_.begin(); s != sources_.end(); ++s) {
        if (s->second.last_wall_us < oldest->second.last_wall_us) oldest = s;
      }
      sources_.erase(oldest);
    }
    it = sources_.emplace(key, SourceInfo{}).first;
    it->second.node = event.node;
    it->second.component = event.source.component;
    it->second.pid = event.source.pid;
    it->second.started_us = event.source.started_us;
  }
  auto& info = it->second;
  ++info.events;
  info.last_topic = event.topic;
  info.last_wall_us = event.wall_us;
  auto& last = info.seq[event.topic];
  if (last != 0 && event.seq > last + 1) {
    ++stats_.gaps;
    stats_.missed += event.seq - last - 1;
  }
  if (event.seq > last) last = event.seq;

  if (event.kind != Kind::kState) return;
  auto state = state_.find(event.topic);
  if (state != state_.end()) {
    state->second.body.assign(body);
  } else if (state_.size() < options_.max_state_topics) {
    state_.emplace(event.topic, StateEntry{std::string(body)});
  } else {
    ++stats_.state_overflow;
    if (!overflow_reported_) {
      overflow_reported_ = true;
      PublishOwn("bus.state-overflow", Kind::kEvent, Severity::kWarning, "busd",
                 "state table full: new state topics are forwarded but not "
                 "remembered for late subscribers",
                 {{"max_state_topics", options_.max_state_topics},
                  {"topic", event.topic}});
    }
  }
}

void Broker::OnSubscriptions(zmq::socket_t& xpub) {
  zmq::message_t message;
  while (xpub.recv(message, zmq::recv_flags::dontwait)) {
    if (message.size() == 0) continue;
    auto op = *static_cast<const unsigned char*>(message.data());
    if (op == 1) ++stats_.subscriptions;
    if (op == 0) --stats_.subscriptions;
  }
}

void Broker::OnSnapshotRequest(zmq::socket_t& router) {
  std::vector<zmq::message_t> parts;
  while (true) {
    parts.clear();
    try {
      if (!zmq::recv_multipart(router, std::back_inserter(parts),
                               zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t&) {
      return;
    }
    if (parts.size() < 2) continue;
    auto& identity = parts[0];
    auto reply = [&router,
                  &identity](std::initializer_list<std::string_view> frames) {
      zmq::message_t id;
      id.copy(identity);
      (void)router.send(id,
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      std::size_t i = 0;
      for (auto frame : frames) {
        auto flags = ++i < frames.size()
                         ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                         : zmq::send_flags::dontwait;
        (void)router.send(zmq::buffer(frame), flags);
      }
    };
    auto request = parts[1].to_string_view();
    if (request == kSnapshotRequest) {
      ++stats_.snapshots;
      std::vector<std::string_view> prefixes;
      for (std::size_t i = 2; i < parts.size(); ++i) {
        prefixes.push_back(parts[i].to_string_view());
      }
      if (prefixes.empty()) prefixes.push_back("");
      std::size_t count = 0;
      for (const auto& [topic, entry] : state_) {
        bool wanted = false;
        for (auto prefix : prefixes)
          wanted = wanted || topic.starts_with(prefix);
        if (!wanted) continue;
        reply({kStateReply, topic, entry.body});
        ++count;
      }
      reply({kEndReply, std::to_string(count)});
    } else if (request == kStatusRequest) {
      reply({kStatusRequest, StatusJson().dump()});
    } else {
      reply({"ERROR", "unknown request"});
    }
  }
}

void Broker::OnZapRequest() {
  std::vector<zmq::message_t> parts;
  try {
    if (!zmq::recv_multipart(*zap_, std::back_inserter(parts),
                             zmq::recv_flags::dontwait)) {
      return;
    }
  } catch (const zmq::error_t&) {
    return;
  }
  // ZAP 1.0: version, request id, domain, address, identity, mechanism,
  // credentials...
  std::string request_id = parts.size() > 1 ? parts[1].to_string() : "";
  std::string status = "400", text = "denied", user;
  if (parts.size() >= 7 && parts[0].to_string_view() == "1.0" &&
      parts[5].to_string_view() == "CURVE" && parts[6].size() == 32) {
    std::string key = Z85(parts[6].data());
    if (options_.remote->allowed_clients.contains(key)) {
      status = "200";
      text = "OK";
      user = key;
    } else {
      spdlog::warn(
          "remote subscriber from {} refused: key {} not in allowed_clients",
          parts[3].to_string(), key);
    }
  }
  std::array<zmq::const_buffer, 6> reply = {
      zmq::buffer(std::string_view("1.0")),
      zmq::buffer(request_id),
      zmq::buffer(status),
      zmq::buffer(text),
      zmq::buffer(user),
      zmq::buffer(std::string_view())};
  (void)zmq::send_multipart(*zap_, reply);
}

void Broker::Reject(std::string reason) {
  ++stats_.rejected;
  stats_.last_reject = std::move(reason);
  auto now = std::chrono::steady_clock::now();
  if (now < reject_window_) {
    ++rejects_unreported_;
    return;
  }
  reject_window_ = now + kRejectWindow;
  spdlog::warn("rejected a message: {}", stats_.last_reject);
  PublishOwn("bus.reject", Kind::kEvent, Severity::kWarning, "busd",
             "rejected a message: " + stats_.last_reject,
             {{"rejected_total", stats_.rejected}});
}

void Broker::FlushRejectReport(bool force) {
  if (rejects_unreported_ == 0) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now < reject_window_) return;
  reject_window_ = now + kRejectWindow;
  std::string text = std::to_string(rejects_unreported_) +
                     " more messages rejected; last: " + stats_.last_reject;
  spdlog::warn("{}", text);
  PublishOwn("bus.reject", Kind::kEvent, Severity::kWarning, "busd", text,
             {{"rejected_total", stats_.rejected},
              {"suppressed", rejects_unreported_}});
  rejects_unreported_ = 0;
}

void Broker::PublishOwn(std::string_view topic, Kind kind, Severity severity,
                        std::string subject, std::string message,
                        nlohmann::json data) {
  Event event;
  event.topic = std::string(topic);
  event.node = options_.node;
  event.source = own_source_;
  event.seq = ++own_seq_[event.topic];
  event.wall_us = WallMicros();
  event.mono_ns = MonoNanos();
  event.kind = kind;
  event.severity = severity;
  event.subject = std::move(subject);
  // Our own text may quote a hostile message; keep it to one line.
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  event.message = std::move(message);
  event.data = std::move(data);
  Encoded encoded = Encode(event);
  zmq::message_t t(encoded.topic), b(encoded.body);
  Track(event, encoded.body);
  Forward(t, b);
}

nlohmann::json Broker::StatusJson() const {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& [key, info] : sources_) {
    sources.push_back({{"node", info.node},
                       {"component", info.component},
                       {"pid", info.pid},
                       {"started_us", info.started_us},
                       {"events", info.events},
                       {"last_topic", info.last_topic},
                       {"last_wall_us", info.last_wall_us}});
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - started_);
  return {{"node", options_.node},
          {"pid", own_source_.pid},
          {"version", EHABUS_VERSION},
          {"uptime_s", uptime.count()},
          {"received", stats_.received},
          {"forwarded", stats_.forwarded},
          {"rejected", stats_.rejected},
          {"last_reject", stats_.last_reject},
          {"gaps", stats_.gaps},
          {"missed", stats_.missed},
          {"snapshots", stats_.snapshots},
          {"subscriptions", stats_.subscriptions},
          {"state_topics", state_.size()},
          {"state_overflow", stats_.state_overflow},
          {"sources", sources}};
}

}  // namespace ehabus
