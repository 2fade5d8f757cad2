// The heartbeat sensor against a real two-node corosync (knet, two links),
// each node in its own network, mount and PID namespace made by this test,
// and a real SBD disk (a loop device) read with the real sbd program inside
// the node's PID namespace. The fault: one heartbeat link down, then the
// peer's corosync killed.
#include "sensors/heartbeat.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/nodes.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;

TEST(HeartbeatTest, StorageViewSaysWhetherStorageIsHealthy) {
  StorageView view;
  bool healthy = true;
  EXPECT_EQ(view.Describe(healthy),
            "shared storage state unknown (no storage sensor state on the "
            "bus)");
  EXPECT_FALSE(healthy);
  view.Set("mail", "up");
  view.Set("queue", "up");
  EXPECT_EQ(view.Describe(healthy), "shared storage healthy (mail, queue)");
  EXPECT_TRUE(healthy);
  view.Set("queue", "down");
  EXPECT_EQ(view.Describe(healthy), "shared storage NOT healthy: queue down");
  EXPECT_FALSE(healthy);
}

TEST(HeartbeatTest, CorosyncNotRunningIsAFailureNamingIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  // In a fresh network namespace no corosync answers (its IPC is abstract
  // sockets, per namespace): the check fails and says so, without hanging.
  auto ran =
      et::Run({"unshare", "--net", EHABUS_SENSOR_HEARTBEAT, "--probe"}, 10s);
  EXPECT_EQ(ran.exit_code(), 1) << ran.output;
  EXPECT_NE(ran.output.find("corosync: FAILED: corosync not answering (cmap): "
                            "CS_ERR_LIBRARY"),
            std::string::npos)
      << ran.output;
}

TEST(SensorHeartbeatTest, LinkLossWithHealthyStorageThenPeerLoss) {
  if (geteuid() != 0 || access("/usr/sbin/corosync", X_OK) != 0 ||
      access("/usr/sbin/sbd", X_OK) != 0)
    GTEST_SKIP() << "needs root, corosync and sbd";
  et::TempDir dir;
  // The SBD disk: a loop device, formatted and given slots by real sbd run
  // inside a PID namespace of its own.
  et::Run({"truncate", "-s", "8M", dir.path() + "/sbd.img"});
  auto loop = et::Run({"losetup", "--find", "--show", dir.path() + "/sbd.img"});
  ASSERT_EQ(loop.exit_code(), 0) << loop.output;
  std::string sbd_dev = loop.output.substr(0, loop.output.find('\n'));
  struct Detach {
    std::string dev;
    ~Detach() { et::Run({"losetup", "-d", dev}); }
  } detach{sbd_dev};
  auto created = et::Run(
      {"unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
       "sbd -d " + sbd_dev + " -1 10 -4 20 create && sbd -d " + sbd_dev +
           " allocate hb1 && sbd -d " + sbd_dev + " allocate hb2"});
  ASSERT_EQ(created.exit_code(), 0) << created.output;

  et::CorosyncPair pair(dir);
  ASSERT_TRUE(pair.ok()) << pair.error();
  pid_t corosync_a = 0;
  ASSERT_TRUE(et::WaitUntil(
      [&] { return (corosync_a = pair.CorosyncPid(0)) > 0; }, 10s));

  et::BusFixture bus;
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.heartbeat]\nsbd_devices = " << sbd_dev
      << "\ninterval = 500ms\nretry = 200ms\ntimeout = 2s\n"
      << "[storage.shared]\ndevice = UUID=0e4ab05e-0000-4000-8000-0000000000aa"
      << "\nmountpoint = " << dir.path() << "/not-mounted-here\n"
      << "[sensor.storage]\ninterval = 500ms\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"heartbeat.", "storage."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));

  // The real storage sensor: the shared disk is not mounted on this node,
  // which the cluster manages: healthy standby.
  SpawnOptions storage_options;
  storage_options.argv = {EHABUS_SENSOR_STORAGE, "--config", bus.config_path()};
  storage_options.output = SpawnOptions::Output::kFile;
  storage_options.output_file = bus.dir() + "/storage.log";
  auto storage = Subprocess::Spawn(storage_options);
  ASSERT_TRUE(storage);

  std::map<std::string, Event> seen;
  auto wait_for = [&](const std::set<std::string>& topics,
                      std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (const auto& t : topics) all = all && seen.contains(t);
      if (all) return true;
      if (auto d = sub.Receive(100ms)) seen[d->event.topic] = d->event;
    }
    return false;
  };
  ASSERT_TRUE(wait_for({"storage.shared.up"}, 10s));

  // The heartbeat sensor inside node A's namespaces (net, mount, PID).
  SpawnOptions sensor_options;
  sensor_options.argv = pair.Enter(0);
  sensor_options.argv.insert(
      sensor_options.argv.end(),
      {EHABUS_SENSOR_HEARTBEAT, "--config", bus.config_path()});
  sensor_options.output = SpawnOptions::Output::kFile;
  sensor_options.output_file = bus.dir() + "/heartbeat.log";
  auto sensor = Subprocess::Spawn(sensor_options);
  ASSERT_TRUE(sensor);
  ASSERT_TRUE(wait_for(
      {"heartbeat.corosync.up", "heartbeat.links.up", "heartbeat.sbd0.up"},
      20s))
      << et::Run({"cat", bus.dir() + "/heartbeat.log"}).output;
  EXPECT_EQ(seen["heartbeat.corosync.up"].message,
            "corosync up: members: hb1, hb2; quorate");
  EXPECT_EQ(seen["heartbeat.links.up"].message,
            "links up: all connected: link 0 to hb2 (198.18.252.2), link 1 to "
            "hb2 (198.18.252.6)");
  EXPECT_EQ(seen["heartbeat.sbd0.up"].message,
            "sbd up: " + sbd_dev + ": readable, 2 slots");

  // One heartbeat link lost: reported with the storage verdict; the
  // membership stays (the other link carries it).
  seen.clear();
  ASSERT_TRUE(et::Ip({"-n", pair.ns(1), "link", "set", "peer1", "down"}));
  ASSERT_TRUE(wait_for({"heartbeat.links.down"}, 15s));
  EXPECT_EQ(seen["heartbeat.links.down"].message,
            "links down: disconnected: link 1 to hb2 (198.18.252.6); still "
            "connected: link 0 to hb2 (198.18.252.2); shared storage healthy "
            "(shared): no switch for a heartbeat loss alone");
  EXPECT_EQ(seen["heartbeat.links.down"].data["detail"]["storage_healthy"],
            true);
  EXPECT_FALSE(seen.contains("heartbeat.corosync.down"));

  // The peer's corosync dies: it leaves the membership; two_node keeps
  // quorum here (fencing, Pacemaker's, decides the rest).
  seen.clear();
  pair.Kill(1);
  ASSERT_TRUE(wait_for({"heartbeat.corosync.down"}, 15s));
  EXPECT_EQ(seen["heartbeat.corosync.down"].message,
            "corosync down: members: hb1; quorate; not a member: hb2; shared "
            "storage healthy (shared): no switch for a heartbeat loss alone");
  sensor->Stop(5s);
  storage->Stop(5s);
}

}  // namespace
}  // namespace ehabus::sensors
