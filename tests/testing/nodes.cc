#include "tests/testing/nodes.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace ehabus::testing {

LoopDisk::LoopDisk(const TempDir& dir, const std::string& uuid,
                   const char* size) {
  image_ = dir.path() + "/disk.img";
  mountpoint_ = dir.path() + "/mnt";
  mkdir(mountpoint_.c_str(), 0755);
  Run({"truncate", "-s", size, image_});
  auto attached =
      Run({"losetup", "--direct-io=on", "--find", "--show", image_});
  if (attached.exit_code() != 0) return;
  device_ = attached.output.substr(0, attached.output.find('\n'));
  Run({"mkfs.ext4", "-q", "-F", "-U", uuid, "-L", "ehtest", device_});
  mounted_ = Run({"mount", "UUID=" + uuid, mountpoint_}).exit_code() == 0;
  // Detach the loop device by itself when its last mount goes (also when
  // the test dies and its mount namespace with it).
  int fd = open(device_.c_str(), O_RDWR | O_CLOEXEC);
  loop_info64 info{};
  if (fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0) {
    info.lo_flags |= LO_FLAGS_AUTOCLEAR;
    ioctl(fd, LOOP_SET_STATUS64, &info);
  }
  if (fd >= 0) close(fd);
}

LoopDisk::~LoopDisk() {
  Run({"umount", "-l", mountpoint_});
  if (!device_.empty()) Run({"losetup", "-d", device_});  // gone by autoclear
}

FrozenMount::FrozenMount(const TempDir& dir) {
  mountpoint_ = dir.path() + "/net";
  control_ = dir.path() + "/freezefs.control";
  mkdir(mountpoint_.c_str(), 0755);
  Set("ok");
  SpawnOptions options;
  options.argv = {EHABUS_FREEZEFS, mountpoint_, control_, "-o",
                  "fsname=198.18.0.10:/export,subtype=freezefs"};
  options.output = SpawnOptions::Output::kFile;
  options.output_file = dir.path() + "/freezefs.log";
  auto spawned = Subprocess::Spawn(options);
  if (spawned) process_.emplace(std::move(*spawned));
  mounted_ = WaitUntil(
      [&] {
        std::ifstream in("/proc/self/mountinfo");
        std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
        return text.find(" " + mountpoint_ + " ") != std::string::npos;
      },
      10s);
}

FrozenMount::~FrozenMount() {
  Set("ok");  // let every stuck caller return
  Run({"umount", "-l", mountpoint_});
  if (process_) process_->Stop(2s);
}

void FrozenMount::Set(const std::string& mode) {
  std::ofstream(control_) << mode << "\n";
}

bool Ip(std::vector<std::string> args, std::string* error) {
  args.insert(args.begin(), "ip");
  auto ran = Run(args);
  if (ran.exit_code() != 0 && error) *error += ran.output;
  return ran.exit_code() == 0;
}

namespace {

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

}  // namespace

CorosyncPair::CorosyncPair(const TempDir& dir) {
  std::string id = std::to_string(getpid());
  ns_ = {"ehabus-t" + id + "a", "ehabus-t" + id + "b"};
  conf_ = dir.Write("corosync.conf", kCorosyncConf);
  node_script_ = dir.Write("node.sh",
                           "set -e\n"
                           "mount -t tmpfs tmpfs /run\n"
                           "mount -t tmpfs tmpfs /dev/shm\n"
                           "mount -t tmpfs tmpfs /var/lib/corosync\n"
                           "exec corosync -f -c \"$1\"\n");
  ok_ = Ip({"netns", "add", ns_[0]}, &error_) &&
        Ip({"netns", "add", ns_[1]}, &error_);
  for (int link = 0; ok_ && link < 2; ++link) {
    std::string a = "hb" + std::to_string(link);
    std::string b = "peer" + std::to_string(link);
    ok_ = Ip({"-n", ns_[0], "link", "add", a, "type", "veth", "peer", "name", b,
              "netns", ns_[1]},
             &error_) &&
          Ip({"-n", ns_[0], "addr", "add",
              "198.18.252." + std::to_string(link * 4 + 1) + "/30", "dev", a},
             &error_) &&
          Ip({"-n", ns_[1], "addr", "add",
              "198.18.252." + std::to_string(link * 4 + 2) + "/30", "dev", b},
             &error_) &&
          Ip({"-n", ns_[0], "link", "set", a, "up"}, &error_) &&
          Ip({"-n", ns_[1], "link", "set", b, "up"}, &error_);
  }
  for (unsigned n = 0; ok_ && n < 2; ++n) {
    ok_ = Ip({"-n", ns_[n], "link", "set", "lo", "up"}, &error_);
    SpawnOptions options;
    options.argv = {"ip",           "netns",        "exec",   ns_[n],
                    "unshare",      "--pid",        "--fork", "--mount",
                    "--mount-proc", "--kill-child", "sh",     node_script_,
                    conf_};
    options.output = SpawnOptions::Output::kFile;
    options.output_file = dir.path() + "/corosync" + std::to_string(n) + ".log";
    auto spawned = Subprocess::Spawn(options);
    ok_ = ok_ && spawned.has_value();
    if (spawned) nodes_[n].emplace(std::move(*spawned));
  }
}

CorosyncPair::~CorosyncPair() {
  for (auto& node : nodes_)
    if (node) node->Stop(2s);
  for (const auto& ns : ns_) Run({"ip", "netns", "del", ns});
}

pid_t CorosyncPair::CorosyncPid(int n) const {
  const auto& node = nodes_[n];
  if (!node || !node->running()) return 0;
  std::string pid = std::to_string(node->pid());
  std::ifstream in("/proc/" + pid + "/task/" + pid + "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

std::vector<std::string> CorosyncPair::Enter(int n) const {
  return {"nsenter", "-t", std::to_string(CorosyncPid(n)), "-n", "-m", "-p"};
}

void CorosyncPair::Kill(int n) {
  if (nodes_[n]) nodes_[n]->Stop(2s);
}

}  // namespace ehabus::testing
