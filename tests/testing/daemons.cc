#include "tests/testing/daemons.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace ehabus::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

MariaDb::MariaDb() : port_(FreePort()) {
  auto made =
      Run({"/usr/bin/mariadb-install-db", "--no-defaults",
           "--datadir=" + dir_.path() + "/data", "--user=root",
           "--auth-root-authentication-method=normal", "--skip-test-db"},
          std::chrono::seconds(120));
  EXPECT_EQ(made.exit_code(), 0) << made.output;
}

MariaDb::~MariaDb() {
  if (server_) server_->Stop(std::chrono::seconds(10));
}

bool MariaDb::Start() {
  SpawnOptions options;
  options.argv = {"/usr/sbin/mariadbd",
                  "--no-defaults",
                  "--datadir=" + dir_.path() + "/data",
                  "--socket=" + dir_.path() + "/mariadb.sock",
                  "--port=" + std::to_string(port_),
                  "--bind-address=127.0.0.1",
                  "--user=root",
                  "--pid-file=" + pidfile(),
                  "--skip-log-bin",
                  "--innodb-buffer-pool-size=16M",
                  "--log-error=" + dir_.path() + "/error.log"};
  auto child = Subprocess::Spawn(options);
  if (!child) return false;
  server_.emplace(std::move(*child));
  return WaitUntil(
      [this] {
        if (!server_->running()) return false;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port_));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = connect(fd, reinterpret_cast<sockaddr*>(&address),
                          sizeof address) == 0;
        close(fd);
        return up && access(pidfile().c_str(), F_OK) == 0;
      },
      std::chrono::seconds(60));
}

void MariaDb::Kill(int signal) {
  if (!server_) return;
  server_->Signal(signal);
  server_->Wait(std::chrono::seconds(30));
  server_.reset();
}

std::string MariaDb::Log() const {
  std::ifstream in(dir_.path() + "/error.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace ehabus::testing
