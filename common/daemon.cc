#include "common/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace ehabus {
namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

std::optional<Config> LoadConfigOrReport(const std::string& explicit_path) {
  std::string path = explicit_path;
  bool named = !path.empty();
  if (!named) {
    if (const char* env = std::getenv("EHABUS_CONFIG"); env && *env) {
      path = env;
      named = true;
    } else {
      path = EHABUS_DEFAULT_CONFIG;
    }
  }
  if (!named && access(path.c_str(), F_OK) != 0) return Config::Defaults();
  auto config = Config::Load(path);
  if (!config) {
    for (const auto& error : config.error()) {
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    }
    return std::nullopt;
  }
  return std::move(*config);
}

std::optional<std::string> DaemonConfigFlag(int argc, char** argv,
                                            const char* usage) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else {
      std::fprintf(stderr, "%s\n", usage);
      return std::nullopt;
    }
  }
  return path;
}

const std::atomic<bool>& InstallStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: interrupt zmq_poll
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

}  // namespace ehabus
