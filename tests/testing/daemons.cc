#include "tests/testing/daemons.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace ehabus::testing {

pid_t ReadPid(const std::string& pidfile) {
  std::ifstream in(pidfile);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

void StopByPidfile(const std::string& pidfile) {
  pid_t pid = ReadPid(pidfile);
  if (pid <= 1 || kill(pid, SIGTERM) != 0) return;
  WaitUntil([pid] { return kill(pid, 0) != 0; }, std::chrono::seconds(10));
  kill(pid, SIGKILL);
}

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

std::vector<std::string> Memcached::Argv() const {
  return {"/usr/bin/memcached",
          "-l",
          "127.0.0.1",
          "-p",
          std::to_string(port_),
          "-U",
          "0",
          "-u",
          "nobody"};
}

bool Memcached::Start() {
  SpawnOptions options;
  options.argv = Argv();
  auto child = Subprocess::Spawn(options);
  if (!child) return false;
  server_.emplace(std::move(*child));
  return WaitUntil([this] { return Listening(port_); },
                   std::chrono::seconds(10));
}

void Memcached::Kill(int signal) {
  if (!server_) return;
  server_->Signal(signal);
  server_->Wait(std::chrono::seconds(10));
  server_.reset();
}

MariaDb::MariaDb() : port_(FreePort()) {
  // Its own temporary directory: temporary tables in the shared /tmp of
  // tests running side by side made the bootstrap fail now and then.
  std::filesystem::create_directories(dir_.path() + "/tmp");
  auto made = Run({"/usr/bin/mariadb-install-db", "--no-defaults",
                   "--datadir=" + dir_.path() + "/data", "--user=root",
                   "--auth-root-authentication-method=normal", "--skip-test-db",
                   "--tmpdir=" + dir_.path() + "/tmp"},
                  std::chrono::seconds(120));
  EXPECT_EQ(made.exit_code(), 0) << made.output;
}

MariaDb::~MariaDb() {
  if (server_) server_->Stop(std::chrono::seconds(10));
  StopByPidfile(pidfile());  // one a healer started
}

std::vector<std::string> MariaDb::Argv() const {
  return {"/usr/sbin/mariadbd",
          "--no-defaults",
          "--datadir=" + dir_.path() + "/data",
          "--tmpdir=" + dir_.path() + "/tmp",
          "--socket=" + dir_.path() + "/mariadb.sock",
          "--port=" + std::to_string(port_),
          "--bind-address=127.0.0.1",
          "--user=root",
          "--pid-file=" + pidfile(),
          "--skip-log-bin",
          "--innodb-buffer-pool-size=16M",
          "--log-error=" + dir_.path() + "/error.log"};
}

bool MariaDb::Start() {
  SpawnOptions options;
  options.argv = Argv();
  auto child = Subprocess::Spawn(options);
  if (!child) return false;
  server_.emplace(std::move(*child));
  return WaitUntil(
      [this] {
        return server_->running() && Listening(port_) &&
               access(pidfile().c_str(), F_OK) == 0;
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

Dovecot::Dovecot()
    : imap_(FreePort()),
      pop3_(FreePort()),
      lmtp_(FreePort()),
      auth_(FreePort()) {
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
                 listener("lmtp", lmtp_) +
                 "}\nservice auth {\n  inet_listener auth {\n    address = "
                 "127.0.0.1\n    port = " +
                 std::to_string(auth_) + "\n  }\n}\n");
}

Dovecot::~Dovecot() {
  if (server_) server_->Stop(std::chrono::seconds(10));
  StopByPidfile(pidfile());  // one a healer started
}

std::vector<std::string> Dovecot::Argv() const {
  return {"/usr/sbin/dovecot", "-F", "-c", dir_.path() + "/dovecot.conf"};
}

bool Dovecot::Start() {
  SpawnOptions options;
  options.argv = Argv();
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

Postfix::Postfix(const std::string& extra_main_cf) : smtp_(FreePort()) {
  const auto& d = dir_.path();
  chmod(d.c_str(), 0755);
  dir_.Write("queue/.keep", "");
  dir_.Write("data/.keep", "");
  // Postfix insists on owning its data directory.
  Run({"/bin/chown", "-R", "postfix:postfix", d + "/data"});
  // Debian's master.cf as shipped, with chroot off (no copies of /etc in the
  // queue) and smtpd on our loopback port instead of port 25.
  std::ifstream system_master("/usr/share/postfix/master.cf.dist");
  std::string master, line;
  while (std::getline(system_master, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    if (!line.empty() && line[0] != '#' && line[0] != ' ' && line[0] != '\t' &&
        f.size() >= 8) {
      if (f[0] == "smtp" && f[1] == "inet")
        f[0] = "127.0.0.1:" + std::to_string(smtp_);
      f[4] = "n";
      line.clear();
      for (const auto& word : f) line += (line.empty() ? "" : " ") + word;
    }
    master += line + "\n";
  }
  dir_.Write("etc/master.cf", master);
  dir_.Write("etc/main.cf",
             "compatibility_level = 3.6\nqueue_directory = " + d +
                 "/queue\ndata_directory = " + d +
                 "/data\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
                 "myhostname = mail.ehabus.test\nmydestination = localhost\n"
                 "mynetworks = 127.0.0.0/8\nmaillog_file = /dev/stdout\n"
                 "syslog_name = postfix-ehabus-test\n" +
                 extra_main_cf);
}

Postfix::~Postfix() {
  // The master makes itself a session leader: end its whole group.
  if (pid_t pid = ReadPid(pidfile()); pid > 0) kill(-pid, SIGKILL);
  if (master_) master_->Stop(std::chrono::seconds(10));
}

std::vector<std::string> Postfix::Argv() const {
  return {"/usr/sbin/postfix", "-c", dir_.path() + "/etc", "start-fg"};
}

bool Postfix::Start() {
  SpawnOptions options;
  options.argv = Argv();
  options.output = SpawnOptions::Output::kFile;
  options.output_file = dir_.path() + "/postfix.log";
  auto child = Subprocess::Spawn(options);
  if (!child) return false;
  master_.emplace(std::move(*child));
  return WaitUntil(
      [this] {
        return Listening(smtp_) && access(pidfile().c_str(), F_OK) == 0;
      },
      std::chrono::seconds(30));
}

void Postfix::Kill(int signal) {
  // The master, as `kill -9 $(cat master.pid)` would; not its children.
  if (pid_t pid = ReadPid(pidfile()); pid > 0) kill(pid, signal);
}

std::string Postfix::Log() const {
  std::ifstream in(dir_.path() + "/postfix.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace ehabus::testing
