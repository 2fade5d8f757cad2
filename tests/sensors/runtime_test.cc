#include "sensors/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;
using ehabus::testing::BusFixture;
using ehabus::testing::WaitUntil;

TEST(DebouncerTest, FallAndRise) {
  Debouncer d(3, 2);
  EXPECT_EQ(d.health(), Health::kUnknown);
  EXPECT_EQ(d.Feed(true), std::nullopt);
  EXPECT_EQ(d.Feed(true), Health::kUp);
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.Feed(true), std::nullopt) << "a success resets the failure count";
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.Feed(false), Health::kDown);
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.Feed(true), std::nullopt);
  EXPECT_EQ(d.Feed(true), Health::kUp);
}

TEST(DebouncerTest, UnknownGoesDownOnlyAfterFallFailures) {
  Debouncer d(2, 1);
  EXPECT_EQ(d.Feed(false), std::nullopt);
  EXPECT_EQ(d.health(), Health::kUnknown);
  EXPECT_EQ(d.Feed(false), Health::kDown);
}

// The runtime against a real broker: what a healer subscribed to "service."
// would see.
class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_.StartBroker();
    publisher_.emplace(
        bus_.context(),
        PublisherOptions{bus_.pub(), "testnode", "sensor-service", 1000});
    ASSERT_TRUE(publisher_->WaitAttached(5s));
    SubscriberOptions options;
    options.sub_endpoint = bus_.sub();
    options.prefixes = {"service."};
    subscriber_.emplace(bus_.context(), options);
    ASSERT_TRUE(WaitUntil(
        [&] { return bus_.Status()->value("subscriptions", 0) >= 1; }, 10s));
  }

  // Steps the runtime until a delivery on TOPIC (whose message starts with
  // PREFIX) arrives, or 10 s pass.
  std::optional<Delivery> StepUntil(SensorRuntime& runtime,
                                    const std::string& topic,
                                    const std::string& prefix = "") {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      runtime.Step();
      publisher_->Poll();
      while (auto d = subscriber_->Receive(10ms)) {
        if (d->event.topic == topic && d->event.message.starts_with(prefix))
          return d;
      }
    }
    return std::nullopt;
  }

  BusFixture bus_;
  std::optional<Publisher> publisher_;
  std::optional<Subscriber> subscriber_;
};

TEST_F(RuntimeTest, PublishesStateAndTransitions) {
  std::atomic<bool> healthy{true};
  std::atomic<int> runs{0};
  SensorRuntime runtime(*publisher_);
  runtime.Add(
      {"smtp", "service.smtp", "smtp", 20ms, 20ms, 500ms, 2, 1, [&](Deadline) {
         ++runs;
         ProbeResult r;
         r.ok = healthy.load();
         r.reason =
             r.ok ? "smtp 127.0.0.1:25 answers"
                  : "smtp 127.0.0.1:25: \"421 shutting down\" in greeting";
         r.latency = 1500us;
         return r;
       }});
  auto up = StepUntil(runtime, "service.smtp.up");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->event.severity, Severity::kNotice);
  auto state = StepUntil(runtime, "service.smtp");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->event.kind, Kind::kState);
  EXPECT_EQ(state->event.message, "smtp 127.0.0.1:25 answers");
  EXPECT_EQ(state->event.data["health"], "up");
  EXPECT_EQ(state->event.data["latency_ms"], 1.5);

  healthy = false;
  // First failure: still up, but the state says it is failing.
  auto failing = StepUntil(runtime, "service.smtp", "failing");
  ASSERT_TRUE(failing);
  EXPECT_EQ(failing->event.severity, Severity::kWarning);
  EXPECT_EQ(
      failing->event.message,
      "failing (1 of 2): smtp 127.0.0.1:25: \"421 shutting down\" in greeting");
  auto down = StepUntil(runtime, "service.smtp.down");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->event.severity, Severity::kError);
  EXPECT_EQ(down->event.message,
            "smtp down: smtp 127.0.0.1:25: \"421 shutting down\" in greeting");
  EXPECT_EQ(runtime.health("smtp"), Health::kDown);

  healthy = true;
  ASSERT_TRUE(StepUntil(runtime, "service.smtp.up"));
  EXPECT_EQ(runtime.health("smtp"), Health::kUp);
}

TEST_F(RuntimeTest, HungCheckIsAbandonedAtItsDeadlineAndNeverDoubled) {
  std::atomic<int> hung_runs{0}, other_runs{0};
  std::atomic<bool> release{false};
  SensorRuntime runtime(*publisher_);
  runtime.Add({"storage", "service.storage", "maildata", 50ms, 50ms, 200ms, 1,
               1, [&](Deadline) {
                 ++hung_runs;
                 // Ignores its deadline, like a read on a hung mount.
                 while (!release.load()) std::this_thread::sleep_for(5ms);
                 ProbeResult r;
                 r.ok = true;
                 r.reason = "fine again";
                 return r;
               }});
  runtime.Add(
      {"pop", "service.pop", "pop", 20ms, 20ms, 200ms, 1, 1, [&](Deadline) {
         ++other_runs;
         ProbeResult r;
         r.ok = true;
         r.reason = "pop answers";
         return r;
       }});
  auto down = StepUntil(runtime, "service.storage.down");
  ASSERT_TRUE(down);
  EXPECT_EQ(
      down->event.message,
      "maildata down: storage: no result within 200 ms (hung; abandoned)");
  EXPECT_EQ(runtime.stuck(), 1u);
  // The sensor keeps running its other checks meanwhile.
  int before = other_runs.load();
  auto still =
      StepUntil(runtime, "service.storage", "storage: still hung after ");
  ASSERT_TRUE(still);
  EXPECT_TRUE(still->event.message.starts_with("storage: still hung after "))
      << still->event.message;
  EXPECT_GT(other_runs.load(), before);
  EXPECT_EQ(hung_runs.load(), 1) << "a stuck check must not be started again";

  release = true;
  ASSERT_TRUE(StepUntil(runtime, "service.storage.up"));
  EXPECT_EQ(runtime.stuck(), 0u);
  EXPECT_EQ(hung_runs.load(), 2) << "the next run after the stuck one returned";
}

TEST_F(RuntimeTest, FailuresAreRetriedQuicklyUntilDown) {
  // A 10 s interval but a 50 ms retry: three failures in a row (fall 3)
  // take about 100 ms after the first, not 20 s.
  std::atomic<bool> healthy{true};
  SensorRuntime runtime(*publisher_);
  runtime.Add(
      {"smtp", "service.smtp", "smtp", 10s, 50ms, 500ms, 3, 1, [&](Deadline) {
         ProbeResult r;
         r.ok = healthy.load();
         r.reason = r.ok ? "answers" : "refused";
         return r;
       }});
  ASSERT_TRUE(StepUntil(runtime, "service.smtp.up"));
  healthy = false;
  // The next regular check is 10 s away; make it due now, as if time passed.
  auto later = std::chrono::steady_clock::now() + 10s;
  runtime.Step(later);
  auto start = std::chrono::steady_clock::now();
  std::optional<Delivery> down;
  while (!down && std::chrono::steady_clock::now() - start < 5s) {
    runtime.Step(later + (std::chrono::steady_clock::now() - start));
    while (auto d = subscriber_->Receive(10ms)) {
      if (d->event.topic == "service.smtp.down") down = d;
    }
  }
  ASSERT_TRUE(down) << "three failures 50 ms apart did not make it down";
  EXPECT_EQ(down->event.message, "smtp down: refused");
}

TEST_F(RuntimeTest, RemovedCheckSaysNotWatched) {
  SensorRuntime runtime(*publisher_);
  runtime.Add(
      {"imap", "service.imap", "imap", 20ms, 20ms, 200ms, 1, 1, [](Deadline) {
         ProbeResult r;
         r.ok = true;
         r.reason = "imap answers";
         return r;
       }});
  ASSERT_TRUE(StepUntil(runtime, "service.imap.up"));
  runtime.Remove("imap");
  EXPECT_FALSE(runtime.Has("imap"));
  auto state = StepUntil(runtime, "service.imap", "not watched");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->event.data["watched"], false);
}

}  // namespace
}  // namespace ehabus::sensors
