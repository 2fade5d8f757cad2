// FAKE servers for the misbehaviour real daemons will not produce on demand
// (a 421 greeting, a 554 to EHLO, silence, one byte at a time, a reset).
// Each accepted connection runs a script on its own thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace ehabus::testing {

class FakeServer {
 public:
  using Script = std::function<void(int fd)>;

  explicit FakeServer(Script script) : script_(std::move(script)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listen_fd_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
    for (auto& t : connections_) t.join();
  }
  int port() const { return port_; }

  static void Send(int fd, const std::string& text) {
    (void)send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }
  // Reads one line (without CRLF); "" on close or after 5 s.
  static std::string ReadLine(int fd) {
    std::string line;
    char c;
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0 || recv(fd, &c, 1, 0) != 1) return line;
      if (c == '\n') break;
      if (c != '\r') line += c;
    }
    return line;
  }
  // Holds the connection open, silent, until the client goes away.
  static void Hold(int fd) {
    char c;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 5000) > 0 && recv(fd, &c, 1, 0) == 1) {
    }
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      connections_.emplace_back([this, fd] {
        script_(fd);
        close(fd);
      });
    }
  }

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;
};

}  // namespace ehabus::testing
