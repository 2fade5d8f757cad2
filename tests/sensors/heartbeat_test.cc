// The heartbeat sensor against a real two-node corosync (knet, two links),
// each node in its own network, mount and PID namespace made by this test,
// and a real SBD disk (a loop device) read with the real sbd program inside
// the node's PID namespace. The fault: one heartbeat link down, then the
// peer's corosync killed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "bus/subscriber.h"
#include "sensors/heartbeat.h"
#include "tests/testing/bus_fixture.h"

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
  auto ran = et::Run({"unshare", "--net", EHABUS_SENSOR_HEARTBEAT, "--probe"},
                     10s);
  EXPECT_EQ(ran.exit_code(), 1) << ran.output;
  EXPECT_NE(ran.output.find(
                "corosync: FAILED: corosync not answering (cmap): "
                "CS_ERR_LIBRARY"),
            std::string::npos)
      << ran.output;
}

const char* kCorosyncConf = R"(totem {
  version: 2
  cluster_name: ehabus-test
  transport: knet
  crypto_cipher: none
  crypto_hash: none
  token: 1000
}
nodelist {
  node {
    ring0_addr: 198.18.252.1
    ring1_addr: 198.18.252.5
    name: hb1
    nodeid: 1
  }
  node {
    ring0_addr: 198.18.252.2
    ring1_addr: 198.18.252.6
    name: hb2
    nodeid: 2
  }
}
quorum {
  provider: corosync_votequorum
  two_node: 1
}
logging {
  to_stderr: yes
  to_syslog: no
  to_logfile: no
}
)";

// Two corosync nodes. Each runs in its own network namespace (two veth
// pairs: the two heartbeat links, addresses in 198.18.252.0/24) and, inside
// that, its own PID and mount namespace with private /run, /dev/shm and
// /var/lib/corosync: cluster daemons never run in the host's PID namespace.
class CorosyncPair {
 public:
  explicit CorosyncPair(const et::TempDir& dir) {
    std::string id = std::to_string(getpid());
    ns_ = {"ehabus-t" + id + "a", "ehabus-t" + id + "b"};
    conf_ = dir.Write("corosync.conf", kCorosyncConf);
    node_script_ = dir.Write("node.sh",
                             "set -e\n"
                             "mount -t tmpfs tmpfs /run\n"
                             "mount -t tmpfs tmpfs /dev/shm\n"
                             "mount -t tmpfs tmpfs /var/lib/corosync\n"
                             "exec corosync -f -c \"$1\"\n");
    ok_ = Ip({"netns", "add", ns_[0]}) && Ip({"netns", "add", ns_[1]});
    for (int link = 0; ok_ && link < 2; ++link) {
      std::string a = "hb" + std::to_string(link), b = "peer" + std::to_string(link);
      std::string base = "198.18.252." + std::to_string(link * 4);
      ok_ = Ip({"-n", ns_[0], "link", "add", a, "type", "veth", "peer", "name",
                b, "netns", ns_[1]}) &&
            Ip({"-n", ns_[0], "addr", "add",
                "198.18.252." + std::to_string(link * 4 + 1) + "/30", "dev",
                a}) &&
            Ip({"-n", ns_[1], "addr", "add",
                "198.18.252." + std::to_string(link * 4 + 2) + "/30", "dev",
                b}) &&
            Ip({"-n", ns_[0], "link", "set", a, "up"}) &&
            Ip({"-n", ns_[1], "link", "set", b, "up"});
    }
    for (int n = 0; ok_ && n < 2; ++n) {
      ok_ = Ip({"-n", ns_[n], "link", "set", "lo", "up"});
      SpawnOptions options;
      options.argv = {"ip",      "netns",   "exec",        ns_[n],
                      "unshare", "--pid",   "--fork",      "--mount",
                      "--mount-proc", "--kill-child", "sh", node_script_,
                      conf_};
      options.output = SpawnOptions::Output::kFile;
      options.output_file = dir.path() + "/corosync" + std::to_string(n) + ".log";
      auto spawned = Subprocess::Spawn(options);
      ok_ = ok_ && spawned.has_value();
      if (spawned) nodes_[n].emplace(std::move(*spawned));
    }
  }
  ~CorosyncPair() {
    for (auto& node : nodes_)
      if (node) node->Stop(2s);
    et::Run({"ip", "netns", "del", ns_[0]});
    et::Run({"ip", "netns", "del", ns_[1]});
  }
  bool Ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    auto ran = et::Run(args);
    if (ran.exit_code() != 0) error_ += ran.output;
    return ran.exit_code() == 0;
  }
  // The host pid of node N's corosync (PID 1 of its namespace).
  pid_t CorosyncPid(int n) const {
    std::ifstream in("/proc/" + std::to_string(nodes_[n]->pid()) + "/task/" +
                     std::to_string(nodes_[n]->pid()) + "/children");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
  void Kill(int n) { nodes_[n]->Stop(2s); }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& ns(int n) const { return ns_[n]; }

 private:
  std::vector<std::string> ns_;
  std::string conf_, node_script_, error_;
  std::optional<Subprocess> nodes_[2];
  bool ok_ = false;
};

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
  auto created = et::Run({"unshare", "--pid", "--fork", "--mount-proc", "sh",
                          "-c",
                          "sbd -d " + sbd_dev + " -1 10 -4 20 create && sbd -d " +
                              sbd_dev + " allocate hb1 && sbd -d " + sbd_dev +
                              " allocate hb2"});
  ASSERT_EQ(created.exit_code(), 0) << created.output;

  CorosyncPair pair(dir);
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
  sensor_options.argv = {"nsenter", "-t", std::to_string(corosync_a), "-n",
                         "-m",      "-p", EHABUS_SENSOR_HEARTBEAT,   "--config",
                         bus.config_path()};
  sensor_options.output = SpawnOptions::Output::kFile;
  sensor_options.output_file = bus.dir() + "/heartbeat.log";
  auto sensor = Subprocess::Spawn(sensor_options);
  ASSERT_TRUE(sensor);
  ASSERT_TRUE(wait_for({"heartbeat.corosync.up", "heartbeat.links.up",
                        "heartbeat.sbd0.up"},
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
  ASSERT_TRUE(pair.Ip({"-n", pair.ns(1), "link", "set", "peer1", "down"}));
  ASSERT_TRUE(wait_for({"heartbeat.links.down"}, 15s));
  EXPECT_EQ(seen["heartbeat.links.down"].message,
            "links down: disconnected: link 1 to hb2 (198.18.252.6); still "
            "connected: link 0 to hb2 (198.18.252.2); shared storage healthy "
            "(shared): no switch for a heartbeat loss alone");
  EXPECT_EQ(seen["heartbeat.links.down"].data["detail"]["storage_healthy"], true);
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
