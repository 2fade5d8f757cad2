// ehabus check-config and ehabus keygen: the commands that work on files,
// before any configuration is loaded.
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>

#include "cli/command.h"

namespace ehabus::cli {

int CheckConfig(const Invocation& invocation, Args& args) {
  std::string path = invocation.config_path;
  if (!args.done()) path = args.take();
  if (!args.done()) return Usage("check-config: one FILE at most");
  if (path.empty()) {
    const char* env = std::getenv("EHABUS_CONFIG");
    path = env && *env ? env : EHABUS_DEFAULT_CONFIG;
  }
  auto config = ehabus::Config::Load(path);
  if (!config) {
    for (const auto& error : config.error()) {
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    }
    std::fprintf(stderr, "%zu error%s\n", config.error().size(),
                 config.error().size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("%s: OK\n", path.c_str());
  return 0;
}

int Keygen(const Invocation&, Args& args) {
  if (args.done()) return Usage("keygen: PREFIX missing");
  std::string prefix = args.take();
  char public_key[41] = {}, secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    std::fprintf(stderr, "ehabus: this libzmq has no CURVE support\n");
    return 1;
  }
  for (const auto& [suffix, key, mode] :
       {std::tuple{".public", public_key, 0644},
        std::tuple{".secret", secret_key, 0600}}) {
    std::string path = prefix + suffix;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
      std::fprintf(stderr, "ehabus: %s: %s\n", path.c_str(),
                   std::strerror(errno));
      return 1;
    }
    std::string text = std::string(key) + "\n";
    bool ok = write(fd, text.data(), text.size()) ==
              static_cast<ssize_t>(text.size());
    close(fd);
    if (!ok) {
      std::fprintf(stderr, "ehabus: %s: write failed\n", path.c_str());
      return 1;
    }
    std::printf("%s\n", path.c_str());
  }
  return 0;
}

}  // namespace ehabus::cli
