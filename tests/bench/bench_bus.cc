// ehabus-bench-bus: the bus against its anchor, measured in one run.
//
// Anchor: a raw libzmq XSUB/XPUB zmq_proxy in its own process, fed and read
// with raw frames of the same size as our encoded events. Ours: ehabus-busd
// in its own process, fed by ehabus::Publisher (JSON encode) and read by
// ehabus::Subscriber (strict decode, gap tracking). Both over ipc:// in a
// temporary directory. Prints latency p50/p99 (paced), flood throughput, a
// sustained-rate run with gaps counted, the state table after a burst, and
// the ratios against the anchor. Numbers, not assertions.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "common/subprocess.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Settings {
  int latency_count = 5000;
  int latency_rate = 2000;  // messages per second while measuring latency
  int flood_count = 1'000'000;
  int sustain_rate = 100'000;
  int sustain_seconds = 5;
  int state_burst = 1'000'000;
  int state_topics = 1000;
};

struct Percentiles {
  double p50_us = 0, p99_us = 0;
};

Percentiles Summarize(std::vector<std::int64_t> ns) {
  if (ns.empty()) return {};
  std::sort(ns.begin(), ns.end());
  auto at = [&ns](double q) {
    return static_cast<double>(ns[static_cast<std::size_t>(
               q * static_cast<double>(ns.size() - 1))]) /
           1000.0;
  };
  return {at(0.50), at(0.99)};
}

// ---- the two systems under test, behind one small interface --------------

class Sender {
 public:
  virtual ~Sender() = default;
  virtual bool Attached() = 0;
  virtual bool Send(std::uint64_t n) = 0;  // false: not queued
  virtual void Flush() {}
};

class Receiver {
 public:
  virtual ~Receiver() = default;
  // Latency of the next message in ns, its number, or nullopt on timeout.
  virtual std::optional<std::pair<std::int64_t, std::uint64_t>> Next(
      std::chrono::milliseconds) = 0;
  virtual std::uint64_t gaps() const { return 0; }
};

std::int64_t Now() { return ehabus::MonoNanos(); }

class RawSender : public Sender {
 public:
  RawSender(zmq::context_t& c, const std::string& endpoint, std::size_t size)
      : socket_(c, zmq::socket_type::xpub), body_(size, 'x') {
    socket_.set(zmq::sockopt::sndhwm, 100000);
    socket_.set(zmq::sockopt::xpub_nodrop, 1);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  bool Attached() override {
    zmq::message_t m;
    while (socket_.recv(m, zmq::recv_flags::dontwait)) {
      if (m.size() >= 1 && *static_cast<const char*>(m.data()) == 1)
        attached_ = true;
    }
    return attached_;
  }
  bool Send(std::uint64_t n) override {
    std::int64_t t = Now();
    std::memcpy(body_.data(), &t, sizeof t);
    std::memcpy(body_.data() + 8, &n, sizeof n);
    if (!socket_.send(zmq::buffer(std::string_view("bench.raw")),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    (void)socket_.send(zmq::buffer(body_), zmq::send_flags::dontwait);
    return true;
  }

 private:
  zmq::socket_t socket_;
  std::string body_;
  bool attached_ = false;
};

class RawReceiver : public Receiver {
 public:
  RawReceiver(zmq::context_t& c, const std::string& endpoint)
      : socket_(c, zmq::socket_type::sub) {
    socket_.set(zmq::sockopt::rcvhwm, 100000);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::subscribe, "");
    socket_.connect(endpoint);
  }
  std::optional<std::pair<std::int64_t, std::uint64_t>> Next(
      std::chrono::milliseconds t) override {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, t) == 0) return std::nullopt;
    zmq::message_t topic, body;
    (void)socket_.recv(topic);
    (void)socket_.recv(body);
    std::int64_t sent = 0;
    std::uint64_t n = 0;
    if (body.size() >= 16) {
      std::memcpy(&sent, body.data(), sizeof sent);
      std::memcpy(&n, static_cast<const char*>(body.data()) + 8, sizeof n);
    }
    return std::pair{Now() - sent, n};
  }

 private:
  zmq::socket_t socket_;
};

class BusSender : public Sender {
 public:
  BusSender(zmq::context_t& c, const std::string& endpoint, std::size_t pad)
      : publisher_(c, {endpoint, "bench", "bench", 100000}), pad_(pad, 'x') {}
  bool Attached() override {
    publisher_.Poll();
    return publisher_.attached();
  }
  bool Send(std::uint64_t n) override {
    return publisher_.Publish("bench.event", ehabus::Severity::kInfo, "bench",
                              "benchmark event", {{"n", n}, {"pad", pad_}});
  }
  ehabus::Publisher& publisher() { return publisher_; }

 private:
  ehabus::Publisher publisher_;
  std::string pad_;
};

class BusReceiver : public Receiver {
 public:
  BusReceiver(zmq::context_t& c, const std::string& sub,
              const std::string& prefix)
      : subscriber_(c, {sub, "", {prefix}, 2000ms, 100000, std::nullopt}) {}
  std::optional<std::pair<std::int64_t, std::uint64_t>> Next(
      std::chrono::milliseconds t) override {
    auto d = subscriber_.Receive(t);
    if (!d) return std::nullopt;
    return std::pair{Now() - d->event.mono_ns,
                     d->event.data.value("n", std::uint64_t{0})};
  }
  std::uint64_t gaps() const override { return subscriber_.stats().missed; }

 private:
  ehabus::Subscriber subscriber_;
};

// Sends until the receiver sees something: both ends are attached.
bool Warm(Sender& sender, Receiver& receiver) {
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (sender.Attached()) sender.Send(0);
    if (receiver.Next(20ms)) {
      while (receiver.Next(100ms)) {
      }
      return true;
    }
  }
  return false;
}

Percentiles MeasureLatency(Sender& sender, Receiver& receiver,
                           const Settings& s) {
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(s.latency_count));
  std::thread reader([&] {
    while (samples.size() < static_cast<std::size_t>(s.latency_count)) {
      auto got = receiver.Next(2000ms);
      if (!got) break;
      samples.push_back(got->first);
    }
  });
  auto period = std::chrono::nanoseconds(1'000'000'000 / s.latency_rate);
  auto next = Clock::now();
  for (int i = 1; i <= s.latency_count; ++i) {
    std::this_thread::sleep_until(next);
    next += period;
    sender.Send(static_cast<std::uint64_t>(i));
  }
  reader.join();
  return Summarize(std::move(samples));
}

struct Flow {
  double rate = 0;  // received per second, first to last received
  std::uint64_t sent = 0, not_queued = 0, received = 0, gaps = 0;
};

// RATE 0: as fast as possible.
Flow MeasureFlow(Sender& sender, Receiver& receiver, int count, int rate) {
  Flow flow;
  std::atomic<bool> done{false};
  Clock::time_point first{}, last{};
  std::thread reader([&] {
    while (true) {
      auto got = receiver.Next(done.load() ? 1000ms : 3000ms);
      if (!got) {
        if (done.load()) break;
        continue;
      }
      last = Clock::now();
      if (flow.received++ == 0) first = last;
      if (flow.received == static_cast<std::uint64_t>(count)) break;
    }
  });
  auto start = Clock::now();
  for (int i = 1; i <= count; ++i) {
    if (rate > 0 && i % 100 == 0) {
      std::this_thread::sleep_until(
          start + std::chrono::nanoseconds(static_cast<std::int64_t>(i) *
                                           1'000'000'000 / rate));
    }
    ++flow.sent;
    if (!sender.Send(static_cast<std::uint64_t>(i))) ++flow.not_queued;
  }
  done = true;
  reader.join();
  flow.gaps = receiver.gaps();
  auto seconds = std::chrono::duration<double>(last - first).count();
  flow.rate = seconds > 0 ? static_cast<double>(flow.received) / seconds : 0;
  return flow;
}

std::string Exe(const std::string& name) {
  auto self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  return (self / name).string();
}

int RunRawProxy(const std::string& front, const std::string& back) {
  zmq::context_t c(1);
  zmq::socket_t xsub(c, zmq::socket_type::xsub),
      xpub(c, zmq::socket_type::xpub);
  xsub.set(zmq::sockopt::rcvhwm, 100000);
  xpub.set(zmq::sockopt::sndhwm, 100000);
  xsub.bind(front);
  xpub.bind(back);
  zmq::proxy(xsub, xpub);
  return 0;
}

bool WaitForFile(const std::string& path) {
  for (int i = 0; i < 500; ++i) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--raw-proxy")
    return RunRawProxy(argv[2], argv[3]);
  Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      s.latency_count = 1000;
      s.flood_count = 100'000;
      s.sustain_seconds = 1;
      s.state_burst = 100'000;
    } else {
      std::fprintf(stderr, "usage: ehabus-bench-bus [--quick]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/ehabus-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  std::string dir = tmpl;
  std::string raw_front = "ipc://" + dir + "/raw-pub.sock",
              raw_back = "ipc://" + dir + "/raw-sub.sock";
  {
    std::ofstream ini(dir + "/ehabus.ini");
    ini << "[node]\nname = bench\n[log]\nlevel = warn\n[bus]\n"
        << "pub_endpoint = ipc://" << dir << "/pub.sock\n"
        << "sub_endpoint = ipc://" << dir << "/sub.sock\n"
        << "snapshot_endpoint = ipc://" << dir << "/snapshot.sock\n"
        << "max_state_topics = " << s.state_topics + 100 << "\n";
  }
  auto spawn = [](std::vector<std::string> command) {
    ehabus::SpawnOptions options;
    options.argv = std::move(command);
    return ehabus::Subprocess::Spawn(options);
  };
  auto raw =
      spawn({Exe("ehabus-bench-bus"), "--raw-proxy", raw_front, raw_back});
  auto busd = spawn({EHABUS_BUSD, "--config", dir + "/ehabus.ini"});
  if (!raw || !busd || !WaitForFile(dir + "/raw-sub.sock") ||
      !WaitForFile(dir + "/snapshot.sock")) {
    std::fprintf(stderr, "bench: could not start the brokers\n");
    return 1;
  }
  zmq::context_t context(1);

  // Size the anchor's frames like our encoded events.
  std::size_t pad = 64;
  ehabus::Event sample;
  sample.topic = "bench.event";
  sample.node = "bench";
  sample.source = {"bench", 99999, ehabus::WallMicros()};
  sample.seq = 123456;
  sample.wall_us = ehabus::WallMicros();
  sample.mono_ns = ehabus::MonoNanos();
  sample.subject = "bench";
  sample.message = "benchmark event";
  sample.data = {{"n", 123456}, {"pad", std::string(pad, 'x')}};
  std::size_t event_size = ehabus::Encode(sample).body.size();

  std::printf(
      "ehabus-bench-bus: libzmq %d.%d.%d, %zu-byte event bodies, ipc://, %u "
      "cores\n",
      ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH, event_size,
      std::thread::hardware_concurrency());

  RawSender raw_sender(context, raw_front, event_size);
  RawReceiver raw_receiver(context, raw_back);
  BusSender bus_sender(context, "ipc://" + dir + "/pub.sock", pad);
  BusReceiver bus_receiver(context, "ipc://" + dir + "/sub.sock",
                           "bench.event");
  if (!Warm(raw_sender, raw_receiver) || !Warm(bus_sender, bus_receiver)) {
    std::fprintf(stderr, "bench: brokers did not pass messages within 10 s\n");
    return 1;
  }

  auto raw_lat = MeasureLatency(raw_sender, raw_receiver, s);
  auto bus_lat = MeasureLatency(bus_sender, bus_receiver, s);
  std::printf(
      "\nlatency, %d events paced at %d/s (one-way, publisher to subscriber)\n",
      s.latency_count, s.latency_rate);
  std::printf("  %-22s p50 %8.1f us   p99 %8.1f us\n", "raw zmq_proxy",
              raw_lat.p50_us, raw_lat.p99_us);
  std::printf("  %-22s p50 %8.1f us   p99 %8.1f us\n", "ehabus-busd",
              bus_lat.p50_us, bus_lat.p99_us);
  double p50_ratio = raw_lat.p50_us > 0 ? bus_lat.p50_us / raw_lat.p50_us : 0;
  std::printf("  ratio p50 %.2fx (target <= 1.5x: %s), p99 %.2fx\n", p50_ratio,
              p50_ratio <= 1.5 ? "met" : "MISSED",
              raw_lat.p99_us > 0 ? bus_lat.p99_us / raw_lat.p99_us : 0);

  Warm(raw_sender, raw_receiver);
  auto raw_flood = MeasureFlow(raw_sender, raw_receiver, s.flood_count, 0);
  Warm(bus_sender, bus_receiver);
  auto gaps_before = bus_receiver.gaps();
  auto bus_flood = MeasureFlow(bus_sender, bus_receiver, s.flood_count, 0);
  bus_flood.gaps -= gaps_before;
  std::printf("\nflood, %d events as fast as one publisher sends\n",
              s.flood_count);
  std::printf(
      "  %-22s %9.0f ev/s received, %llu of %llu not queued (HWM), %llu "
      "received\n",
      "raw zmq_proxy", raw_flood.rate, (unsigned long long)raw_flood.not_queued,
      (unsigned long long)raw_flood.sent,
      (unsigned long long)raw_flood.received);
  std::printf(
      "  %-22s %9.0f ev/s received, %llu of %llu not queued (HWM), %llu "
      "received, %llu gaps\n",
      "ehabus-busd", bus_flood.rate, (unsigned long long)bus_flood.not_queued,
      (unsigned long long)bus_flood.sent,
      (unsigned long long)bus_flood.received,
      (unsigned long long)bus_flood.gaps);
  std::printf("  ratio %.2fx of the anchor's throughput\n",
              raw_flood.rate > 0 ? bus_flood.rate / raw_flood.rate : 0);

  Warm(bus_sender, bus_receiver);
  gaps_before = bus_receiver.gaps();
  auto sustained =
      MeasureFlow(bus_sender, bus_receiver, s.sustain_rate * s.sustain_seconds,
                  s.sustain_rate);
  sustained.gaps -= gaps_before;
  bool sustain_ok = sustained.gaps == 0 && sustained.not_queued == 0 &&
                    sustained.received == sustained.sent;
  std::printf("\nsustained, %d ev/s for %d s through ehabus-busd\n",
              s.sustain_rate, s.sustain_seconds);
  std::printf(
      "  sent %llu, received %llu, gaps %llu, not queued %llu, %.0f ev/s "
      "(target >= 100000 with 0 gaps: %s)\n",
      (unsigned long long)sustained.sent,
      (unsigned long long)sustained.received,
      (unsigned long long)sustained.gaps,
      (unsigned long long)sustained.not_queued, sustained.rate,
      sustain_ok && sustained.rate >= 100000 * 0.98 ? "met" : "MISSED");

  // State burst: many updates of a few state topics, as fast as possible;
  // afterwards a late subscriber's snapshot must hold the last value of each.
  ehabus::Publisher& publisher = bus_sender.publisher();
  std::map<std::string, std::uint64_t> last;
  auto burst_start = Clock::now();
  for (int i = 0; i < s.state_burst; ++i) {
    std::string topic = "bench.state.t" + std::to_string(i % s.state_topics);
    publisher.SetState(topic, ehabus::Severity::kInfo, "bench", "state",
                       {{"i", i}});
    last[topic] = static_cast<std::uint64_t>(i);
  }
  auto flush_deadline = Clock::now() + 30s;
  while (publisher.pending_states() > 0 && Clock::now() < flush_deadline) {
    publisher.Poll();
    std::this_thread::sleep_for(1ms);
  }
  auto burst_seconds =
      std::chrono::duration<double>(Clock::now() - burst_start).count();
  std::this_thread::sleep_for(500ms);  // let the broker drain its queue
  ehabus::Subscriber late(context, {"ipc://" + dir + "/sub.sock",
                                    "ipc://" + dir + "/snapshot.sock",
                                    {"bench.state."},
                                    5000ms,
                                    100000,
                                    std::nullopt});
  std::size_t intact = 0, stale = 0;
  while (auto d = late.Receive(500ms)) {
    if (!d->from_snapshot) continue;
    auto it = last.find(d->event.topic);
    if (it != last.end() &&
        d->event.data.value("i", std::uint64_t{0}) == it->second) {
      ++intact;
    } else {
      ++stale;
    }
  }
  std::printf(
      "\nstate after a burst of %d updates over %d topics (%.2f s incl. "
      "flush)\n",
      s.state_burst, s.state_topics, burst_seconds);
  std::printf(
      "  late subscriber's snapshot: %zu of %d topics hold the last value, %zu "
      "stale (%s)\n",
      intact, s.state_topics, stale,
      intact == static_cast<std::size_t>(s.state_topics) ? "intact"
                                                         : "NOT intact");

  raw->Stop(1000ms);
  busd->Stop(1000ms);
  std::filesystem::remove_all(dir);
  return 0;
}
