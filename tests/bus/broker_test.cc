// The broker as users run it: a real ehabus-busd process, publishers and
// subscribers in this process and in other processes (the ehabus CLI).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <zmq_addon.hpp>

#include "bus/event.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus {
namespace {

using testing::BusFixture;
using testing::WaitUntil;
using namespace std::chrono_literals;

PublisherOptions Pub(const BusFixture& bus, std::string component = "test") {
  return {bus.pub(), "testnode", std::move(component), 100000};
}

SubscriberOptions Sub(const BusFixture& bus,
                      std::vector<std::string> prefixes = {""},
                      bool snapshot = false) {
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.snapshot_endpoint = snapshot ? bus.snapshot() : "";
  options.prefixes = std::move(prefixes);
  return options;
}

std::int64_t Subscriptions(BusFixture& bus) {
  auto status = bus.Status();
  return status ? status->value("subscriptions", std::int64_t{-1}) : -1;
}

// Receives until PREDICATE matches a delivery or TIMEOUT passes.
std::optional<Delivery> ReceiveMatching(
    Subscriber& sub, const std::function<bool(const Delivery&)>& predicate,
    std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto d = sub.Receive(100ms); d && predicate(*d)) return d;
  }
  return std::nullopt;
}

TEST(BrokerTest, TailShowsAnEventPublishedByAnotherProcess) {
  BusFixture bus;
  bus.StartBroker();
  auto tail = bus.StartCli({"tail", "--json", "--topic", "service.", "--count",
                            "1", "--timeout", "20s"});
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 1; }, 10s));
  auto published = bus.RunCli({"publish", "--severity", "error", "--subject",
                               "smtp", "--data", "{\"code\":421}",
                               "service.smtp", "smtp", "down:", "421"});
  ASSERT_EQ(published.exit_code(), 0) << published.output;
  auto status = tail.Wait(20s);
  ASSERT_TRUE(status);
  ASSERT_EQ(WEXITSTATUS(*status), 0) << tail.output();
  auto event =
      Decode("service.smtp", tail.output().substr(0, tail.output().find('\n')));
  ASSERT_TRUE(event) << tail.output();
  EXPECT_EQ(event->message, "smtp down: 421");
  EXPECT_EQ(event->severity, Severity::kError);
  EXPECT_EQ(event->source.component, "cli");
  EXPECT_EQ(event->node, "testnode");
  EXPECT_EQ(event->data["code"], 421);
}

TEST(BrokerTest, TailIsReadableAndFiltersBySeverity) {
  BusFixture bus;
  bus.StartBroker();
  auto tail = bus.StartCli(
      {"tail", "--severity", "warning", "--count", "1", "--timeout", "20s"});
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 1; }, 10s));
  ASSERT_EQ(
      bus.RunCli({"publish", "--severity", "info", "healing.mysql", "quiet"})
          .exit_code(),
      0);
  ASSERT_EQ(bus.RunCli({"publish", "--severity", "warning", "--subject",
                        "mysql", "healing.mysql", "restarting", "mysql"})
                .exit_code(),
            0);
  ASSERT_TRUE(tail.Wait(20s));
  const auto& out = tail.output();
  EXPECT_EQ(out.find("quiet"), std::string::npos) << out;
  EXPECT_NE(out.find(" testnode cli["), std::string::npos) << out;
  EXPECT_NE(out.find("] WARNING  healing.mysql mysql: restarting mysql"),
            std::string::npos)
      << out;
}

TEST(BrokerTest, LateSubscriberReceivesCurrentStateAtOnce) {
  BusFixture bus;
  bus.StartBroker();
  // State from another process, then newer values from this one.
  ASSERT_EQ(bus.RunCli({"publish", "--state", "--severity", "error",
                        "service.smtp", "down"})
                .exit_code(),
            0);
  Publisher publisher(bus.context(), Pub(bus, "sensor-service"));
  ASSERT_TRUE(publisher.WaitAttached(5s));
  publisher.SetState("service.pop", Severity::kError, "pop", "down");
  publisher.SetState("service.pop", Severity::kInfo, "pop", "up");
  publisher.SetState("storage.maildata", Severity::kInfo, "maildata",
                     "mounted");
  publisher.Publish("healing.mysql", Severity::kInfo, "mysql",
                    "an event, not state");
  ASSERT_TRUE(WaitUntil(
      [&] { return bus.Status()->value("state_topics", 0) == 4; }, 10s));

  Subscriber late(bus.context(), Sub(bus, {"service.", "storage."}, true));
  std::map<std::string, Delivery> got;
  while (auto d = late.Receive(1s)) got.emplace(d->event.topic, *d);
  EXPECT_TRUE(late.stats().snapshot_complete);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got["service.smtp"].from_snapshot);
  EXPECT_EQ(got["service.smtp"].event.message, "down");
  EXPECT_EQ(got["service.smtp"].event.source.component, "cli");
  EXPECT_EQ(got["service.pop"].event.message, "up");
  EXPECT_EQ(got["service.pop"].event.seq, 2u);
  EXPECT_EQ(got["storage.maildata"].event.kind, Kind::kState);

  // Then live updates follow the snapshot, without duplicates.
  publisher.SetState("service.pop", Severity::kError, "pop", "down again");
  auto live = ReceiveMatching(
      late, [](const Delivery& d) { return d.event.topic == "service.pop"; });
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->from_snapshot);
  EXPECT_EQ(live->event.message, "down again");
  EXPECT_EQ(late.stats().gaps, 0u);
}

TEST(BrokerTest, CliTailWithStatePrintsStateFirst) {
  BusFixture bus;
  bus.StartBroker();
  ASSERT_EQ(bus.RunCli({"publish", "--state", "--subject", "gw",
                        "network.gateway", "reachable"})
                .exit_code(),
            0);
  auto tail = bus.RunCli({"tail", "--state", "--topic", "network.", "--count",
                          "1", "--timeout", "10s"});
  ASSERT_EQ(tail.exit_code(), 0) << tail.output;
  EXPECT_NE(tail.output.find("network.gateway (state) gw: reachable"),
            std::string::npos)
      << tail.output;
}

TEST(BrokerTest, BrokerKilledAndRestartedMidStream) {
  BusFixture bus;
  bus.StartBroker();
  Publisher publisher(bus.context(), Pub(bus, "sensor-storage"));
  ASSERT_TRUE(publisher.WaitAttached(5s));
  publisher.SetState("storage.maildata", Severity::kInfo, "maildata",
                     "mounted");

  Subscriber sub(bus.context(), Sub(bus, {"storage."}));
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 1; }, 10s));

  // A stream of numbered events, one every 2 ms, in its own thread (its
  // own socket).
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> sent{0};
  zmq::context_t stream_context(1);
  std::thread stream([&] {
    Publisher events(stream_context, Pub(bus, "sensor-stream"));
    if (!events.WaitAttached(10s)) return;
    while (!stop.load()) {
      events.Poll();
      events.Publish("storage.io", Severity::kDebug, "maildata", "probe",
                     {{"n", sent.load() + 1}});
      ++sent;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::set<std::int64_t> received;
  auto drain = [&] {
    while (auto d = sub.Receive(0ms)) {
      if (d->event.topic == "storage.io")
        received.insert(d->event.data["n"].get<std::int64_t>());
    }
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        drain();
        return received.size() >= 50;
      },
      10s));

  bus.KillBroker(SIGKILL);
  std::int64_t down_from = sent.load() + 1;
  ASSERT_TRUE(WaitUntil([&] { return sent.load() >= down_from + 100; }, 10s));
  std::int64_t down_to = sent.load();
  bus.StartBroker();
  EXPECT_GT(down_to, down_from);

  // The stream resumes by itself.
  ASSERT_TRUE(WaitUntil(
      [&] {
        publisher.Poll();
        drain();
        return !received.empty() && *received.rbegin() > down_to + 50;
      },
      15s))
      << "no events after the restart";
  stop = true;
  stream.join();
  std::int64_t total = sent.load();
  ASSERT_TRUE(WaitUntil(
      [&] {
        drain();
        return received.count(total) == 1;
      },
      10s));

  // Events can be lost in a broker restart (what the killed broker held, and
  // what publishers re-sent before this subscriber had reconnected), but
  // never silently: every event either arrived or is reported missing.
  EXPECT_EQ(static_cast<std::int64_t>(received.size() + sub.stats().missed),
            total);
  EXPECT_EQ(sub.stats().missed > 0, sub.stats().gaps > 0);

  // The restarted broker learned the state again from the publisher (its
  // reconnection backs off up to 1 s).
  EXPECT_TRUE(WaitUntil(
      [&] {
        publisher.Poll();
        return publisher.attachments() == 2;
      },
      10s));
  Subscriber late(bus.context(), Sub(bus, {"storage.maildata"}, true));
  auto state = late.Receive(5s);
  ASSERT_TRUE(state);
  EXPECT_TRUE(state->from_snapshot);
  EXPECT_EQ(state->event.message, "mounted");
}

TEST(BrokerTest, SlowSubscriberNeverBlocksPublisherOrOthers) {
  BusFixture bus("subscriber_hwm = 1000\n");
  bus.StartBroker();
  // The slow one: subscribed, never reading until the end.
  SubscriberOptions slow_options = Sub(bus, {"load."});
  slow_options.receive_hwm = 10;
  Subscriber slow(bus.context(), slow_options);
  Subscriber fast(bus.context(), Sub(bus, {"load."}));
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 2; }, 10s));

  constexpr int kEvents = 20000;
  std::atomic<int> received{0};
  std::thread reader([&] {
    while (received < kEvents) {
      if (!fast.Receive(5s)) break;
      ++received;
    }
  });
  Publisher publisher(bus.context(), Pub(bus, "load"));
  ASSERT_TRUE(publisher.WaitAttached(5s));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) {
    if (i % 100 == 0)
      std::this_thread::sleep_until(start + i * 100us);  // 10k/s
    publisher.Publish("load.event", Severity::kDebug, "load", "event",
                      {{"i", i}});
  }
  reader.join();
  EXPECT_EQ(received.load(), kEvents);
  EXPECT_EQ(fast.stats().gaps, 0u);
  EXPECT_EQ(publisher.dropped(), 0u);

  // The slow subscriber got what fitted in its queues; the next event after
  // the loss tells it how many it missed.
  std::uint64_t slow_got = 0;
  while (slow.Receive(500ms)) ++slow_got;
  EXPECT_GT(slow_got, 0u);
  EXPECT_LT(slow_got, static_cast<std::uint64_t>(kEvents));
  publisher.Publish("load.event", Severity::kDebug, "load", "after",
                    {{"i", kEvents}});
  auto next = slow.Receive(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->event.message, "after");
  EXPECT_GT(next->missed_before, 0u);
  EXPECT_EQ(slow_got + slow.stats().missed + 1,
            static_cast<std::uint64_t>(kEvents) + 1)
      << "every event either arrived or was counted missing";
}

class HostilePublisher {
 public:
  explicit HostilePublisher(BusFixture& bus)
      : socket_(bus.context(), zmq::socket_type::xpub) {
    socket_.set(zmq::sockopt::linger, 1000);
    socket_.connect(bus.pub());
    zmq::message_t subscription;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 5000ms);
    EXPECT_TRUE(socket_.recv(subscription, zmq::recv_flags::dontwait))
        << "broker never attached";
  }
  void Send(std::vector<std::string> frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                               ? zmq::send_flags::sndmore
                                               : zmq::send_flags::none);
    }
  }

 private:
  zmq::socket_t socket_;
};

TEST(BrokerTest, MalformedAndHostilePublishersAreRejectedCountedAndReported) {
  BusFixture bus;
  bus.StartBroker();
  Subscriber watcher(bus.context(), Sub(bus, {"bus.reject", "service."}));
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 1; }, 10s));

  Event good;
  good.topic = "service.smtp";
  good.node = "evil";
  good.source = {"evil", 1, 0};
  good.seq = 1;
  good.message = "fine";
  std::string good_body = Encode(good).body;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string body = good_body;
    body.replace(body.find(from), from.size(), to);
    return body;
  };

  HostilePublisher evil(bus);
  std::vector<std::vector<std::string>> bad = {
      {"service.smtp", "not json at all"},
      {"just one frame"},
      {"service.smtp", good_body, "a third frame"},
      {"Service.SMTP", good_body},
      {"service.smtp", with("\"message\":\"fine\"",
                            "\"message\":\"fine\\r\\nBcc: x@example.org\"")},
      {"service.smtp", with("\"seq\":1", "\"seq\":\"1\"")},
      {"service.smtp", std::string(200, '[')},
      {"service.smtp", with("fine", "\xff\xfe")},
      {"service.smtp", "{\"data\":\"" + std::string(70000, 'x') + "\"}"},
      {"service.pop", good_body},
  };
  for (const auto& frames : bad) evil.Send(frames);
  evil.Send({"service.smtp", good_body});  // one good message after all that

  auto reject = ReceiveMatching(
      watcher, [](const Delivery& d) { return d.event.topic == "bus.reject"; });
  ASSERT_TRUE(reject) << bus.Log();
  EXPECT_EQ(reject->event.severity, Severity::kWarning);
  EXPECT_EQ(reject->event.message,
            "rejected a message: topic \"service.smtp\": body is not JSON: "
            "Problem while parsing an atom starting with the letter 'n'");
  auto fine = ReceiveMatching(watcher, [](const Delivery& d) {
    return d.event.topic == "service.smtp";
  });
  ASSERT_TRUE(fine) << "the good message after the bad ones was not forwarded";
  EXPECT_EQ(fine->event.message, "fine");
  // The rest are summed up in one report within a second or so.
  auto summary = ReceiveMatching(watcher, [](const Delivery& d) {
    return d.event.topic == "bus.reject" && d.event.data.contains("suppressed");
  });
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->event.data["suppressed"], bad.size() - 1);
  EXPECT_EQ(summary->event.data["rejected_total"], bad.size());
  EXPECT_EQ(summary->event.message.find('\n'), std::string::npos);

  auto status = bus.Status();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->value("rejected", 0u), bad.size());
  EXPECT_TRUE(bus.BrokerRunning());
}

TEST(BrokerTest, HugeMessageDropsOnlyThatPublisher) {
  BusFixture bus;
  bus.StartBroker();
  Subscriber watcher(bus.context(), Sub(bus, {"service."}));
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(bus) >= 1; }, 10s));
  {
    HostilePublisher evil(bus);
    evil.Send({"service.smtp",
               std::string(2 << 20, 'x')});  // past the 1 MiB wire limit
  }
  Publisher publisher(bus.context(), Pub(bus));
  ASSERT_TRUE(publisher.WaitAttached(5s));
  publisher.Publish("service.pop", Severity::kInfo, "pop", "still flowing");
  auto d = ReceiveMatching(watcher, [](const Delivery& x) {
    return x.event.topic == "service.pop";
  });
  ASSERT_TRUE(d);
  EXPECT_TRUE(bus.BrokerRunning());
}

TEST(BrokerTest, SocketPermissionsLimitWhoMayPublish) {
  BusFixture bus;
  bus.StartBroker();
  struct stat pub {
  }, sub{};
  ASSERT_EQ(stat((bus.dir() + "/pub.sock").c_str(), &pub), 0);
  ASSERT_EQ(stat((bus.dir() + "/sub.sock").c_str(), &sub), 0);
  EXPECT_EQ(pub.st_mode & 07777, 0660u);
  EXPECT_EQ(sub.st_mode & 07777, 0666u);
}

TEST(BrokerTest, SecondBrokerOnTheSameSocketsRefusesToStart) {
  BusFixture bus;
  bus.StartBroker();
  auto second = testing::Run({EHABUS_BUSD, "--config", bus.config_path()});
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_NE(second.output.find("another ehabus-busd holds " + bus.dir() +
                               "/busd.lock"),
            std::string::npos)
      << second.output;
  EXPECT_TRUE(bus.Status().has_value());
}

TEST(BrokerTest, BadConfigurationStopsTheBrokerWithFileAndLine) {
  BusFixture bus("publisher_hwm = many\n[bogus]\n");
  auto run = testing::Run({EHABUS_BUSD, "--config", bus.config_path()});
  EXPECT_EQ(run.exit_code(), 78);
  EXPECT_EQ(run.output,
            bus.config_path() +
                ":7: [bus] publisher_hwm: expected an integer, got \"many\"\n" +
                bus.config_path() + ":8: [bogus]: unknown section\n");
}

TEST(BrokerTest, StatusReportsSourcesAndDownBroker) {
  BusFixture bus;
  auto down = bus.RunCli({"status"});
  EXPECT_EQ(down.exit_code(), 1);
  EXPECT_EQ(down.output, "ehabus: broker DOWN: no answer from " +
                             bus.snapshot() + " within 2 s\n");
  bus.StartBroker();
  ASSERT_EQ(
      bus.RunCli({"publish", "--component", "sensor-net", "network.link", "up"})
          .exit_code(),
      0);
  auto up = bus.RunCli({"status"});
  EXPECT_EQ(up.exit_code(), 0);
  EXPECT_NE(up.output.find("broker: up on testnode"), std::string::npos)
      << up.output;
  EXPECT_NE(up.output.find("testnode sensor-net["), std::string::npos)
      << up.output;
  EXPECT_NE(up.output.find("1 events, last network.link"), std::string::npos)
      << up.output;
}

TEST(BrokerTest, PublishRefusesBadInputWithAClearMessage) {
  BusFixture bus;
  auto no_broker =
      bus.RunCli({"publish", "--wait", "300ms", "service.smtp", "x"});
  EXPECT_EQ(no_broker.exit_code(), 1);
  EXPECT_EQ(no_broker.output,
            "ehabus: no broker at " + bus.pub() + " within 300 ms\n");
  bus.StartBroker();
  auto bad_topic = bus.RunCli({"publish", "Service/SMTP", "x"});
  EXPECT_EQ(bad_topic.exit_code(), 2);
  EXPECT_EQ(bad_topic.output,
            "ehabus: publish: \"Service/SMTP\" is not a topic (dot-separated "
            "words of a-z 0-9 _ -) (see ehabus --help)\n");
  auto bad_text = bus.RunCli({"publish", "service.smtp", "line\nbreak"});
  EXPECT_EQ(bad_text.exit_code(), 1);
  EXPECT_EQ(
      bad_text.output,
      "ehabus: topic \"service.smtp\": field \"message\": control character\n");
}

TEST(BrokerTest, RemoteSubscribersNeedAnAllowedCurveKey) {
  testing::TempDir keys;
  for (auto name : {"server", "client", "stranger"}) {
    auto made = testing::Run({EHABUS_CLI, "keygen", keys.path() + "/" + name});
    ASSERT_EQ(made.exit_code(), 0) << made.output;
  }
  auto read = [&](const std::string& name) {
    return *ReadCurveKey(keys.path() + "/" + name);
  };
  keys.Write("allowed", "# peer node\n" + read("client.public") + "\n");
  struct stat secret {};
  ASSERT_EQ(stat((keys.path() + "/server.secret").c_str(), &secret), 0);
  EXPECT_EQ(secret.st_mode & 0777, 0600u);

  // A free port pair: try until the broker binds.
  std::optional<BusFixture> bus;
  int port = 0;
  for (int attempt = 0; attempt < 5 && !bus; ++attempt) {
    port = 20000 + static_cast<int>((getpid() * 7 + attempt * 131) % 20000) * 2;
    bus.emplace(
        "[bus.remote]\nenabled = yes\nsub_endpoint = tcp://127.0.0.1:" +
        std::to_string(port) + "\nsnapshot_endpoint = tcp://127.0.0.1:" +
        std::to_string(port + 1) + "\nserver_secret_key = " + keys.path() +
        "/server.secret\nallowed_clients = " + keys.path() + "/allowed\n");
    bus->StartBroker();
    if (!bus->BrokerRunning()) bus.reset();
  }
  ASSERT_TRUE(bus);
  ASSERT_EQ(bus->RunCli({"publish", "--state", "storage.maildata", "mounted"})
                .exit_code(),
            0);

  auto remote = [&](const std::string& who) {
    SubscriberOptions options;
    options.sub_endpoint = "tcp://127.0.0.1:" + std::to_string(port);
    options.snapshot_endpoint = "tcp://127.0.0.1:" + std::to_string(port + 1);
    options.curve = CurveClient{read("server.public"), read(who + ".public"),
                                read(who + ".secret")};
    return options;
  };
  Subscriber peer(bus->context(), remote("client"));
  Subscriber stranger(bus->context(), remote("stranger"));
  auto state = ReceiveMatching(peer, [](const Delivery& d) {
    return d.event.topic == "storage.maildata";
  });
  ASSERT_TRUE(state) << bus->Log();
  EXPECT_TRUE(state->from_snapshot);
  ASSERT_TRUE(WaitUntil([&] { return Subscriptions(*bus) >= 1; }, 10s));
  ASSERT_EQ(bus->RunCli({"publish", "service.smtp", "live", "over", "tcp"})
                .exit_code(),
            0);
  auto live = ReceiveMatching(
      peer, [](const Delivery& d) { return d.event.topic == "service.smtp"; });
  ASSERT_TRUE(live);
  EXPECT_EQ(live->event.message, "live over tcp");
  EXPECT_FALSE(stranger.Receive(1s).has_value())
      << "a client with an unknown key got events";
  EXPECT_NE(bus->Log().find("refused: key " + read("stranger.public") +
                            " not in allowed_clients"),
            std::string::npos)
      << bus->Log();
}

}  // namespace
}  // namespace ehabus

namespace ehabus {
namespace {

// systemd's side of Type=notify: a datagram socket named by NOTIFY_SOCKET.
TEST(BrokerTest, TellsSystemdReadyAndFeedsTheWatchdog) {
  BusFixture bus;
  std::string path = bus.dir() + "/notify.sock";
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);

  SpawnOptions options;
  options.argv = {EHABUS_BUSD, "--config", bus.config_path()};
  options.env = {"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"};
  options.output = SpawnOptions::Output::kCapture;
  auto busd = Subprocess::Spawn(options);
  ASSERT_TRUE(busd);

  std::string ready, watchdog;
  auto read_one = [&](std::chrono::milliseconds timeout) -> std::string {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buffer[512];
    auto n = recv(fd, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int watchdogs = 0;
  while (std::chrono::steady_clock::now() < deadline && watchdogs < 3) {
    auto message = read_one(1s);
    if (message.find("READY=1") != std::string::npos) ready = message;
    if (message == "WATCHDOG=1") ++watchdogs;
  }
  EXPECT_EQ(ready, "READY=1\nSTATUS=forwarding");
  EXPECT_EQ(watchdogs, 3) << "WATCHDOG=1 is due every 100 ms";
  // READY comes only once the sockets are bound: clients can connect now.
  EXPECT_TRUE(bus.Status().has_value());

  busd->Signal(SIGTERM);
  auto status = busd->Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(DescribeWaitStatus(*status), "exit 0") << busd->output();
  bool stopping = false;
  for (auto m = read_one(1s); !m.empty(); m = read_one(200ms)) {
    stopping = stopping || m == "STOPPING=1";
  }
  EXPECT_TRUE(stopping);
  close(fd);
}

TEST(CliTest, CheckConfigReportsEveryErrorAndExitsNonZero) {
  testing::TempDir dir;
  auto good = dir.Write("good.ini", "[log]\nlevel = debug\n");
  auto ok = testing::Run({EHABUS_CLI, "check-config", good});
  EXPECT_EQ(ok.exit_code(), 0);
  EXPECT_EQ(ok.output, good + ": OK\n");

  auto bad = dir.Write("bad.ini",
                       "[log]\nlevel = loud\n[bus]\npub_mode = 999\n[nope]\n");
  auto failed = testing::Run({EHABUS_CLI, "check-config", bad});
  EXPECT_EQ(failed.exit_code(), 1);
  EXPECT_EQ(
      failed.output,
      bad +
          ":2: [log] level: expected one of trace, debug, info, warn, "
          "error, critical, off, got \"loud\"\n" +
          bad +
          ":4: [bus] pub_mode: expected an octal mode such as 0660, got "
          "\"999\"\n" +
          bad +
          ":5: [nope]: unknown section (did you mean \"node\"?)\n3 errors\n");

  auto missing =
      testing::Run({EHABUS_CLI, "check-config", dir.path() + "/none.ini"});
  EXPECT_EQ(missing.exit_code(), 1);
  EXPECT_EQ(missing.output,
            dir.path() +
                "/none.ini: cannot open: No such file or directory\n1 error\n");
}

TEST(CliTest, ShippedConfigPassesCheckConfig) {
  auto run = testing::Run({EHABUS_CLI, "check-config",
                           std::string(EHABUS_SOURCE_DIR) + "/etc/ehabus.ini"});
  EXPECT_EQ(run.exit_code(), 0) << run.output;
}

}  // namespace
}  // namespace ehabus
