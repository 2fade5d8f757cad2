// The network sensor: target parsing, real ICMP and TCP on loopback, and the
// daemon in network namespaces this test creates (veth pair, addresses in
// 198.18.0.0/15, no route out) with the peer's link taken down and up.
#include "sensors/network.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;

Deadline In(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

TEST(NetworkTargetTest, ParsesAndRejects) {
  std::string error;
  auto icmp = ParseTarget("198.18.0.1", error);
  ASSERT_TRUE(icmp);
  EXPECT_EQ(icmp->kind, NetTarget::Kind::kIcmp);
  auto tcp = ParseTarget("tcp:[2001:db8::1]:25", error);
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->kind, NetTarget::Kind::kTcp);
  EXPECT_EQ(tcp->address, "2001:db8::1");
  EXPECT_EQ(tcp->port, 25);
  EXPECT_FALSE(ParseTarget("gateway.example", error));
  EXPECT_EQ(error,
            "\"gateway.example\": \"gateway.example\" is not a numeric IPv4 "
            "or IPv6 address (no name lookups)");
  EXPECT_FALSE(ParseTarget("tcp:198.18.0.1:99999", error));
  EXPECT_EQ(error, "\"tcp:198.18.0.1:99999\": bad port \"99999\"");
  EXPECT_FALSE(ParseTarget("tcp:198.18.0.1", error));
}

NetTarget Target(const std::string& text) {
  std::string error;
  auto target = ParseTarget(text, error);
  EXPECT_TRUE(target) << error;
  return *target;
}

TEST(NetworkProbeTest, LoopbackEchoTcpAndLink) {
  // A listener for the TCP target, and a closed port.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int open_port = ntohs(addr.sin_port);
  int closed_port = open_port == 65535 ? 65534 : open_port + 1;

  auto result =
      ProbeTargets({Target("127.0.0.1"), Target("::1"),
                    Target("tcp:127.0.0.1:" + std::to_string(open_port))},
                   3, In(1s));
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.data["answered"], 3);
  EXPECT_TRUE(result.reason.starts_with("3 of 3 targets answer: 127.0.0.1 "))
      << result.reason;

  result =
      ProbeTargets({Target("127.0.0.1"),
                    Target("tcp:127.0.0.1:" + std::to_string(closed_port))},
                   2, In(1s));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.reason.find("1 of 2 targets answer (need 2): "),
            std::string::npos)
      << result.reason;
  EXPECT_NE(result.reason.find(": connect: Connection refused"),
            std::string::npos)
      << result.reason;
  close(listener);

  auto lo = ProbeLink("lo");
  EXPECT_TRUE(lo.ok) << lo.reason;
  auto none = ProbeLink("ehabus-none0");
  EXPECT_FALSE(none.ok);
  EXPECT_TRUE(none.reason.starts_with("ehabus-none0: no such interface"))
      << none.reason;
  auto vip = ProbeVips({"127.0.0.1", "198.18.255.254"});
  EXPECT_TRUE(vip.ok);
  EXPECT_EQ(vip.reason, "127.0.0.1 on lo; 198.18.255.254 not on this node");
}

// Without its own `vip`, the sensor reports the cluster's service addresses
// ([vip] addresses), so that notices can say where the service address is.
TEST(NetworkProbeTest, VipDefaultsToTheClusterAddresses) {
  et::TempDir dir;
  auto config = dir.Write(
      "ehabus.ini", "[vip]\naddresses = 127.0.0.1/8, 198.18.255.254/24\n");
  auto r = et::Run({EHABUS_SENSOR_NETWORK, "--probe", "--config", config});
  EXPECT_EQ(r.exit_code(), 0) << r.output;
  EXPECT_EQ(r.output,
            "vip: ok: 127.0.0.1 on lo; 198.18.255.254 not on this node\n");
  auto own = dir.Write("own.ini",
                       "[vip]\naddresses = 127.0.0.1/8\n"
                       "[sensor.network]\nvip = 198.18.255.253\n");
  r = et::Run({EHABUS_SENSOR_NETWORK, "--probe", "--config", own});
  EXPECT_EQ(r.output, "vip: ok: 198.18.255.253 not on this node\n");
}

// Two namespaces joined by a veth pair: "node" (where the sensor runs) and
// "gw" (its gateway). Removed with everything in them at the end.
class VethPair {
 public:
  VethPair() {
    std::string id = std::to_string(getpid());
    node_ = "ehabus-t" + id + "n";
    gw_ = "ehabus-t" + id + "g";
    ok_ = Ip({"netns", "add", node_}) && Ip({"netns", "add", gw_}) &&
          Ip({"-n", node_, "link", "add", "eth0", "type", "veth", "peer",
              "name", "gw0", "netns", gw_}) &&
          Ip({"-n", node_, "addr", "add", "198.18.251.1/30", "dev", "eth0"}) &&
          Ip({"-n", gw_, "addr", "add", "198.18.251.2/30", "dev", "gw0"}) &&
          Ip({"-n", node_, "link", "set", "lo", "up"}) &&
          Ip({"-n", gw_, "link", "set", "lo", "up"}) &&
          Ip({"-n", node_, "link", "set", "eth0", "up"}) &&
          Ip({"-n", gw_, "link", "set", "gw0", "up"});
  }
  ~VethPair() {
    et::Run({"ip", "netns", "del", node_});
    et::Run({"ip", "netns", "del", gw_});
  }
  bool Ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    auto ran = et::Run(args);
    if (ran.exit_code() != 0) error_ += ran.output;
    return ran.exit_code() == 0;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& node() const { return node_; }
  const std::string& gw() const { return gw_; }

 private:
  std::string node_, gw_, error_;
  bool ok_ = false;
};

TEST(SensorNetworkTest, GatewayLinkDownAndBack) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  VethPair net;
  ASSERT_TRUE(net.ok()) << net.error();
  et::BusFixture bus;
  std::ofstream(bus.config_path(), std::ios::app)
      << "[sensor.network]\ntargets = 198.18.251.2\ninterfaces = eth0\n"
         "vip = 198.18.251.1, 198.18.251.9\ninterval = 500ms\n"
         "retry = 200ms\ntimeout = 500ms\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"network."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(et::WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  SpawnOptions sensor_options;
  sensor_options.argv = {
      "ip",       "netns",          "exec", net.node(), EHABUS_SENSOR_NETWORK,
      "--config", bus.config_path()};
  sensor_options.output = SpawnOptions::Output::kFile;
  sensor_options.output_file = bus.dir() + "/sensor.log";
  auto sensor = Subprocess::Spawn(sensor_options);
  ASSERT_TRUE(sensor);

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
  ASSERT_TRUE(wait_for(
      {"network.targets.up", "network.link.eth0.up", "network.vip"}, 15s))
      << et::Run({"cat", bus.dir() + "/sensor.log"}).output;
  EXPECT_EQ(seen["network.vip"].message,
            "198.18.251.1 on eth0; 198.18.251.9 not on this node");
  EXPECT_TRUE(seen["network.targets.up"].message.starts_with(
      "network up: 1 of 1 targets answer: 198.18.251.2 "))
      << seen["network.targets.up"].message;

  // The gateway's side goes down: no carrier here, no echo.
  seen.clear();
  auto cut = std::chrono::steady_clock::now();
  ASSERT_TRUE(net.Ip({"-n", net.gw(), "link", "set", "gw0", "down"}));
  ASSERT_TRUE(
      wait_for({"network.link.eth0.down", "network.targets.down"}, 10s));
  std::printf("link down reported after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - cut)
                      .count()));
  EXPECT_EQ(seen["network.link.eth0.down"].message,
            "eth0 down: eth0: link down (admin up, no carrier, operstate "
            "down)");
  EXPECT_NE(seen["network.targets.down"].message.find(
                "0 of 1 targets answer (need 1): 198.18.251.2: "),
            std::string::npos)
      << seen["network.targets.down"].message;

  seen.clear();
  ASSERT_TRUE(net.Ip({"-n", net.gw(), "link", "set", "gw0", "up"}));
  EXPECT_TRUE(wait_for({"network.link.eth0.up", "network.targets.up"}, 10s));
  sensor->Stop(5s);
}

}  // namespace
}  // namespace ehabus::sensors
