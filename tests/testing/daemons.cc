#include "tests/testing/daemons.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

namespace {

bool Listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool up =
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return up;
}

}  // namespace

Dovecot::Dovecot() : imap_(FreePort()), pop3_(FreePort()), lmtp_(FreePort()) {
  const auto& d = dir_.path();
  chmod(d.c_str(), 0755);
  dir_.Write("run/.keep", "");
  dir_.Write("state/.keep", "");
  dir_.Write("home/.keep", "");
  chmod((d + "/home").c_str(), 0777);  // mail is handled as nobody
  dir_.Write("users", "canary@test:{PLAIN}s3cret::::::\n");
  auto listener = [](const char* name, int port) {
    return std::string("  inet_listener ") + name +
           " {\n    address = 127.0.0.1\n    port = " + std::to_string(port) +
           "\n  }\n";
  };
  dir_.Write("dovecot.conf",
             "base_dir = " + d + "/run\nstate_dir = " + d +
                 "/state\ninstance_name = ehabus-" +
                 d.substr(d.rfind('/') + 1) +
                 "\nlisten = 127.0.0.1\nprotocols = imap pop3 lmtp\nssl = no\n"
                 "disable_plaintext_auth = no\nauth_mechanisms = plain "
                 "login\nlog_path = " +
                 d +
                 "/dovecot.log\npassdb {\n  driver = passwd-file\n  args = "
                 "scheme=PLAIN username_format=%u " +
                 d +
                 "/users\n}\nuserdb {\n  driver = static\n  args = uid=65534 "
                 "gid=65534 home=" +
                 d +
                 "/home/%u\n}\nfirst_valid_uid = 65534\nmail_location = "
                 "maildir:~/Maildir\n"
                 "service imap-login {\n" +
                 listener("imap", imap_) + listener("imaps", 0) +
                 "}\nservice pop3-login {\n" + listener("pop3", pop3_) +
                 listener("pop3s", 0) + "}\nservice lmtp {\n" +
                 listener("lmtp", lmtp_) + "}\n");
}

Dovecot::~Dovecot() {
  if (server_) server_->Stop(std::chrono::seconds(10));
}

bool Dovecot::Start() {
  SpawnOptions options;
  options.argv = {"/usr/sbin/dovecot", "-F", "-c",
                  dir_.path() + "/dovecot.conf"};
  options.output = SpawnOptions::Output::kFile;
  options.output_file = dir_.path() + "/out.log";
  auto child = Subprocess::Spawn(options);
  if (!child) return false;
  server_.emplace(std::move(*child));
  return WaitUntil(
      [this] {
        return Listening(imap_) && Listening(pop3_) && Listening(lmtp_);
      },
      std::chrono::seconds(30));
}

void Dovecot::Kill(int signal) {
  if (!server_) return;
  server_->Signal(signal);
  server_->Wait(std::chrono::seconds(30));
  server_.reset();
}

std::string Dovecot::Log() const {
  std::stringstream out;
  for (auto name : {"/out.log", "/dovecot.log"}) {
    std::ifstream in(dir_.path() + name);
    out << in.rdbuf();
  }
  return out.str();
}

}  // namespace ehabus::testing
