// ehabus-busd: the node-local event broker (see bus/broker.h).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "bus/broker.h"
#include "bus/subscriber.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/systemd.h"

namespace {

// Two brokers would steal each other's sockets: hold a lock beside them.
bool LockBeside(const std::string& endpoint, int& fd) {
  if (!endpoint.starts_with("ipc://")) return true;
  auto dir = std::filesystem::path(endpoint.substr(6)).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto lock = (dir / "busd.lock").string();
  fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another ehabus-busd holds {}", lock);
    return false;
  }
  return true;
}

ehabus::Result<ehabus::BrokerRemote> LoadRemote(const ehabus::Config& config) {
  ehabus::BrokerRemote remote;
  remote.sub_endpoint = config.String("bus.remote", "sub_endpoint");
  remote.snapshot_endpoint = config.String("bus.remote", "snapshot_endpoint");
  auto secret =
      ehabus::ReadCurveKey(config.String("bus.remote", "server_secret_key"));
  if (!secret) return tl::unexpected(secret.error());
  remote.server_secret = *secret;
  auto path = config.String("bus.remote", "allowed_clients");
  std::ifstream in(path);
  if (!in) return ehabus::FailErrno(path + ": cannot read", errno);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    auto key = line.substr(start, line.find_last_not_of(" \t\r") + 1 - start);
    if (key.size() != 40) {
      return ehabus::Fail(path + ":" + std::to_string(number) +
                          ": not a Z85 public key (expected 40 characters)");
    }
    remote.allowed_clients.insert(key);
  }
  return remote;
}

}  // namespace

static int Main(int argc, char** argv) {
  ehabus::InitLogging("busd");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-busd [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("busd", *config);

  ehabus::BrokerOptions options;
  options.endpoints = ehabus::EndpointsFrom(*config);
  options.node = ehabus::NodeName(*config);
  options.group = config->String("bus", "group");
  options.alert_group = config->String("bus", "alert_group");
  options.pub_mode = config->Mode("bus", "pub_mode");
  options.sub_mode = config->Mode("bus", "sub_mode");
  options.publisher_hwm = static_cast<int>(config->Int("bus", "publisher_hwm"));
  options.subscriber_hwm =
      static_cast<int>(config->Int("bus", "subscriber_hwm"));
  options.max_state_topics =
      static_cast<std::size_t>(config->Int("bus", "max_state_topics"));
  if (config->Bool("bus.remote", "enabled")) {
    auto remote = LoadRemote(*config);
    if (!remote) {
      spdlog::error("[bus.remote]: {}", remote.error().message);
      return ehabus::kExitConfig;
    }
    options.remote = std::move(*remote);
  }

  int lock_fd = -1;
  if (!LockBeside(options.endpoints.pub, lock_fd)) return 1;
  const auto& stop = ehabus::InstallStopSignals();

  zmq::context_t context(1);
  auto broker = ehabus::Broker::Create(context, options);
  if (!broker) {
    spdlog::error("{}", broker.error().message);
    return 1;
  }
  spdlog::info(
      "broker up: publishers {} subscribers {} snapshot {} alerts {}{}",
      options.endpoints.pub, options.endpoints.sub, options.endpoints.snapshot,
      options.endpoints.alert.empty() ? "none" : options.endpoints.alert,
      options.remote ? ", remote " + options.remote->sub_endpoint : "");
  ehabus::NotifyReady("forwarding");
  ehabus::Watchdog watchdog;
  (*broker)->Run(stop, [&watchdog] { watchdog.Tick(); });
  ehabus::NotifyStopping();
  const auto& stats = (*broker)->stats();
  spdlog::info("broker stopping: {} received, {} forwarded, {} rejected",
               stats.received, stats.forwarded, stats.rejected);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    // Say why and let systemd restart us (publishers re-send their state)
    // rather than abort with a core.
    spdlog::critical("busd failed: {}", e.what());
    return 1;
  }
}
