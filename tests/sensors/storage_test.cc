// The storage sensor against real mounts: an ext4 file system on a loop
// device (mounted by UUID, made read-only, filled), and freezefs, a FAKE
// network file system that hangs or fails on demand. The test binary runs in
// its own mount namespace (see main), so every mount it makes disappears
// with it, even after a crash.
#include "sensors/storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/loop.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "bus/subscriber.h"
#include "tests/testing/bus_fixture.h"
#include "tests/testing/nodes.h"

namespace ehabus::sensors {
namespace {

using namespace std::chrono_literals;
using ehabus::testing::BusFixture;
namespace et = ehabus::testing;
using ehabus::testing::TempDir;
using ehabus::testing::WaitUntil;

Deadline In(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

TEST(MountInfoTest, ParsesEscapesOptionalFieldsAndOvermounts) {
  auto mounts = ParseMountInfo(
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "40 22 7:0 / /srv/mail\\040store rw,noatime shared:5 master:2 - ext4 "
      "/dev/loop0 rw,mmp_update_interval=5\n"
      "41 40 0:50 / /srv/mail\\040store ro - fuse.sshfs "
      "ehabus@198.18.0.10:/export rw,user_id=0\n"
      "garbage line\n");
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[1].mountpoint, "/srv/mail store");
  EXPECT_EQ(mounts[1].major, 7u);
  EXPECT_EQ(mounts[1].fstype, "ext4");
  EXPECT_EQ(mounts[1].source, "/dev/loop0");
  auto top = FindMount(mounts, "/srv/mail store/");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->fstype, "fuse.sshfs") << "the last mount is the visible one";
  EXPECT_EQ(top->options, "ro");
  EXPECT_FALSE(FindMount(mounts, "/srv"));

  std::string reason;
  EXPECT_TRUE(SameDevice("198.18.0.10:/export", *top, reason)) << reason;
  EXPECT_FALSE(SameDevice("198.18.0.11:/export", *top, reason));
  EXPECT_EQ(reason,
            "expected 198.18.0.11:/export, mounted is "
            "ehabus@198.18.0.10:/export");
  EXPECT_FALSE(SameDevice("sda1", mounts[0], reason));
  EXPECT_EQ(reason,
            "device \"sda1\" is neither /dev/PATH, UUID=, LABEL= nor "
            "HOST:/EXPORT");
}

bool Root() { return geteuid() == 0; }

TEST(StorageProbeTest, RealExt4ByUuidReadOnlyAndFull) {
  if (!Root()) GTEST_SKIP() << "needs root for loop devices and mounts";
  TempDir dir;
  const std::string uuid = "0e4ab05e-0000-4000-8000-00000000a001";
  et::LoopDisk disk(dir, uuid, "32M");
  ASSERT_TRUE(disk.ok());

  MountSpec spec;
  spec.name = "mail";
  spec.device = "UUID=" + uuid;
  spec.mountpoint = disk.mountpoint();
  spec.fstype = "ext4";
  auto result = ProbeMount(spec, "n1", In(3s));
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.data["direct_io"], true);
  EXPECT_EQ(result.data["source"], disk.device());
  std::string first;
  std::ifstream(disk.mountpoint() + "/.ehabus-probe.n1") >> first;
  EXPECT_EQ(first, "ehabus") << "the probe file was written";

  spec.device = "LABEL=ehtest";
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_TRUE(result.ok) << result.reason;

  spec.device = "UUID=0e4ab05e-0000-4000-8000-0000000000ff";
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason,
            disk.mountpoint() +
                ": wrong device: UUID=0e4ab05e-0000-4000-8000-0000000000ff "
                "names no device here (libblkid); mounted is " +
                disk.device() + " (7:" +
                std::to_string(std::stoi(disk.device().substr(9))) + ")");

  spec.device = "UUID=" + uuid;
  spec.fstype = "xfs";
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_EQ(result.reason,
            disk.mountpoint() + ": file system is ext4, expected xfs");
  spec.fstype = "ext4";

  // Full: fill past the limit.
  spec.max_used_percent = 50;
  et::Run({"fallocate", "-l", "24M", disk.mountpoint() + "/filler"});
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.reason.find(": full: "), std::string::npos) << result.reason;
  unlink((disk.mountpoint() + "/filler").c_str());
  spec.max_used_percent = 95;

  // Read-only, as after errors=remount-ro.
  ASSERT_EQ(
      et::Run({"mount", "-o", "remount,ro", disk.mountpoint()}).exit_code(), 0);
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(
      result.reason.starts_with(disk.mountpoint() + ": mounted read-only (ro"))
      << result.reason;
  et::Run({"mount", "-o", "remount,rw", disk.mountpoint()});

  // Not mounted: standby when the cluster manages it, else a failure.
  auto unmounted = et::Run({"umount", disk.mountpoint()});
  ASSERT_EQ(unmounted.exit_code(), 0) << unmounted.output;
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.reason,
            disk.mountpoint() + ": not mounted on this node (standby)");
  EXPECT_EQ(result.data["mounted"], false);
  spec.cluster_managed = false;
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason, disk.mountpoint() + ": not mounted");
}

TEST(StorageProbeTest, NetworkMountServesFailsAndHangs) {
  if (!Root() || access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "needs root and /dev/fuse";
  TempDir dir;
  et::FrozenMount net(dir);
  ASSERT_TRUE(net.ok());
  MountSpec spec;
  spec.name = "store";
  spec.device = "198.18.0.10:/export";
  spec.mountpoint = net.mountpoint();
  spec.fstype = "fuse.freezefs";
  auto result = ProbeMount(spec, "n1", In(3s));
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.data["direct_io"], false);

  net.Set("eio");
  result = ProbeMount(spec, "n1", In(3s));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason, net.mountpoint() + ": statvfs: Input/output error");
  net.Set("ok");
}

// The daemon: a hung mount is reported as hung within 10 s while the sensor
// keeps checking the healthy one, and comes back up when the mount thaws.
TEST(SensorStorageTest, HungMountReportedWhileOthersKeepBeingChecked) {
  if (!Root() || access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "needs root and /dev/fuse";
  TempDir disks;
  const std::string uuid = "0e4ab05e-0000-4000-8000-00000000a002";
  et::LoopDisk disk(disks, uuid, "32M");
  ASSERT_TRUE(disk.ok());
  et::FrozenMount net(disks);
  ASSERT_TRUE(net.ok());

  BusFixture bus;
  // The shipped defaults: interval 4s, timeout 3s, retry 500ms, fall 2.
  std::ofstream(bus.config_path(), std::ios::app)
      << "[storage.mail]\ndevice = UUID=" << uuid
      << "\nmountpoint = " << disk.mountpoint()
      << "\nfstype = ext4\n[storage.archive]\ndevice = 198.18.0.10:/export\n"
      << "mountpoint = " << net.mountpoint() << "\n";
  bus.StartBroker();
  SubscriberOptions options;
  options.sub_endpoint = bus.sub();
  options.prefixes = {"storage."};
  Subscriber sub(bus.context(), options);
  ASSERT_TRUE(WaitUntil(
      [&] { return bus.Status()->value("subscriptions", 0) >= 1; }, 10s));
  SpawnOptions sensor_options;
  sensor_options.argv = {EHABUS_SENSOR_STORAGE, "--config", bus.config_path()};
  sensor_options.output = SpawnOptions::Output::kFile;
  sensor_options.output_file = bus.dir() + "/sensor.log";
  auto sensor = Subprocess::Spawn(sensor_options);
  ASSERT_TRUE(sensor);

  std::set<std::string> ups;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (ups.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    if (auto d = sub.Receive(100ms); d && d->event.topic.ends_with(".up"))
      ups.insert(d->event.topic);
  }
  ASSERT_EQ(ups,
            (std::set<std::string>{"storage.archive.up", "storage.mail.up"}));

  net.Set("freeze");
  auto frozen_at = std::chrono::steady_clock::now();
  std::optional<Delivery> down;
  while (!down && std::chrono::steady_clock::now() < frozen_at + 12s) {
    auto d = sub.Receive(100ms);
    if (d && d->event.topic == "storage.archive.down") down = d;
  }
  ASSERT_TRUE(down) << "no storage.archive.down within 12 s";
  auto after = std::chrono::steady_clock::now() - frozen_at;
  EXPECT_LE(after, 10s) << "a hung mount must be reported within 10 s";
  EXPECT_NE(down->event.message.find("hung"), std::string::npos)
      << down->event.message;
  std::printf("hung mount reported after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(after)
                      .count()));
  // Still checking the other mount while this one hangs: make it fail.
  EXPECT_TRUE(sensor->running());
  ASSERT_EQ(
      et::Run({"mount", "-o", "remount,ro", disk.mountpoint()}).exit_code(), 0);
  bool mail_down = false;
  deadline = std::chrono::steady_clock::now() + 8s;
  while (!mail_down && std::chrono::steady_clock::now() < deadline) {
    auto d = sub.Receive(100ms);
    mail_down = d && d->event.topic == "storage.mail.down" &&
                d->event.message.find("read-only") != std::string::npos;
  }
  EXPECT_TRUE(mail_down) << "the healthy mount is still checked";
  et::Run({"mount", "-o", "remount,rw", disk.mountpoint()});

  net.Set("ok");
  deadline = std::chrono::steady_clock::now() + 10s;
  bool up = false;
  while (!up && std::chrono::steady_clock::now() < deadline) {
    auto d = sub.Receive(100ms);
    up = d && d->event.topic == "storage.archive.up";
  }
  EXPECT_TRUE(up) << "the mount is back";
  EXPECT_TRUE(sensor->running());
  sensor->Stop(5s);
}

}  // namespace
}  // namespace ehabus::sensors
