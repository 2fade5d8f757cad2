#include "sensors/network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace ehabus::sensors {
namespace {

using Clock = std::chrono::steady_clock;

bool ParseAddress(const std::string& text, sockaddr_storage& out,
                  socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::uint16_t Checksum(const unsigned char* data, std::size_t len) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2)
    sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  if (len % 2) sum += static_cast<std::uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// One target in flight.
struct Flight {
  const NetTarget* target = nullptr;
  int fd = -1;
  bool raw = false;
  bool v6 = false;
  std::uint16_t id = 0, seq = 0;
  Clock::time_point sent;
  std::optional<double> rtt_ms;
  std::string error;
  bool done = false;
};

// Opens and sends; on failure sets f.error and f.done.
void Launch(Flight& f) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  ParseAddress(f.target->address, addr, len);
  f.v6 = addr.ss_family == AF_INET6;
  f.sent = Clock::now();
  if (f.target->kind == NetTarget::Kind::kTcp) {
    f.fd =
        socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f.fd < 0) {
      f.error = std::string("socket: ") + std::strerror(errno);
      f.done = true;
      return;
    }
    if (f.v6)
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port =
          htons(static_cast<std::uint16_t>(f.target->port));
    else
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port =
          htons(static_cast<std::uint16_t>(f.target->port));
    if (connect(f.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 &&
        errno != EINPROGRESS) {
      f.error = std::string("connect: ") + std::strerror(errno);
      f.done = true;
    }
    return;
  }
  int protocol =
      f.v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP);
  // A ping socket needs net.ipv4.ping_group_range; root may use a raw one.
  f.fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                protocol);
  if (f.fd < 0 && (errno == EACCES || errno == EPERM)) {
    f.fd = socket(addr.ss_family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  protocol);
    f.raw = true;
  }
  if (f.fd < 0) {
    f.error = std::string("icmp socket: ") + std::strerror(errno);
    f.done = true;
    return;
  }
  // Connected: only the target's replies reach this socket.
  if (connect(f.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    f.error = std::string("connect: ") + std::strerror(errno);
    f.done = true;
    return;
  }
  static thread_local std::mt19937 random{std::random_device{}()};
  f.id = static_cast<std::uint16_t>(random());
  f.seq = static_cast<std::uint16_t>(random());
  unsigned char packet[64] = {};
  packet[0] = f.v6 ? static_cast<unsigned char>(ICMP6_ECHO_REQUEST)
                   : static_cast<unsigned char>(ICMP_ECHO);
  packet[4] = static_cast<unsigned char>(f.id >> 8);
  packet[5] = static_cast<unsigned char>(f.id);
  packet[6] = static_cast<unsigned char>(f.seq >> 8);
  packet[7] = static_cast<unsigned char>(f.seq);
  std::memcpy(packet + 8, "ehabus network sensor", 21);
  if (!f.v6) {  // ICMPv6 checksums are the kernel's
    std::uint16_t sum = Checksum(packet, sizeof packet);
    packet[2] = static_cast<unsigned char>(sum >> 8);
    packet[3] = static_cast<unsigned char>(sum);
  }
  if (send(f.fd, packet, sizeof packet, 0) < 0) {
    f.error = std::string("send: ") + std::strerror(errno);
    f.done = true;
  }
}

void Receive(Flight& f, short revents) {
  double rtt =
      std::chrono::duration<double, std::milli>(Clock::now() - f.sent).count();
  if (f.target->kind == NetTarget::Kind::kTcp) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(f.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error == 0 && (revents & POLLOUT)) {
      f.rtt_ms = rtt;
    } else {
      f.error = std::string("connect: ") +
                std::strerror(error ? error : ECONNREFUSED);
    }
    f.done = true;
    return;
  }
  unsigned char buffer[1500];
  for (;;) {
    ssize_t n = recv(f.fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      f.error = std::string("recv: ") + std::strerror(errno);
      f.done = true;
      return;
    }
    const unsigned char* icmp = buffer;
    std::size_t size = static_cast<std::size_t>(n);
    if (f.raw && !f.v6) {  // raw IPv4 sockets see the IP header
      std::size_t header = static_cast<std::size_t>(buffer[0] & 0x0f) * 4;
      if (size < header + 8) continue;
      icmp += header;
      size -= header;
    }
    if (size < 8) continue;
    int reply_type = f.v6 ? static_cast<int>(ICMP6_ECHO_REPLY)
                          : static_cast<int>(ICMP_ECHOREPLY);
    bool reply = icmp[0] == reply_type;
    std::uint16_t id = static_cast<std::uint16_t>(icmp[4] << 8 | icmp[5]);
    std::uint16_t seq = static_cast<std::uint16_t>(icmp[6] << 8 | icmp[7]);
    // Ping sockets rewrite the id; the kernel matched it for us.
    if (reply && seq == f.seq && (!f.raw || id == f.id)) {
      f.rtt_ms = rtt;
      f.done = true;
      return;
    }
    int unreachable = f.v6 ? 1 : static_cast<int>(ICMP_DEST_UNREACH);
    if (!reply && icmp[0] == unreachable) {
      f.error = "destination unreachable";
      f.done = true;
      return;
    }
  }
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  return buf;
}

struct NlSocket {
  nl_sock* sock = nl_socket_alloc();
  bool ok = sock && nl_connect(sock, NETLINK_ROUTE) == 0;
  ~NlSocket() {
    if (sock) nl_socket_free(sock);
  }
};

std::string OperState(std::uint8_t state) {
  char buf[32];
  rtnl_link_operstate2str(state, buf, sizeof buf);
  return buf;
}

}  // namespace

std::optional<NetTarget> ParseTarget(const std::string& text,
                                     std::string& error) {
  NetTarget target;
  target.text = text;
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (text.starts_with("tcp:")) {
    target.kind = NetTarget::Kind::kTcp;
    std::string rest = text.substr(4);
    std::size_t colon = rest.rfind(':');
    if (colon == std::string::npos) {
      error = "\"" + text + "\": expected tcp:ADDRESS:PORT";
      return std::nullopt;
    }
    std::string host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
      error = "\"" + text + "\": bad port \"" + port + "\"";
      return std::nullopt;
    }
    target.port = static_cast<int>(p);
    target.address = host;
  } else {
    target.address = text;
  }
  if (!ParseAddress(target.address, addr, len)) {
    error = "\"" + text + "\": \"" + target.address +
            "\" is not a numeric IPv4 or IPv6 address (no name lookups)";
    return std::nullopt;
  }
  return target;
}

ProbeResult ProbeTargets(const std::vector<NetTarget>& targets, int min,
                         Deadline deadline) {
  auto start = Clock::now();
  ProbeResult result;
  std::vector<Flight> flights(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    flights[i].target = &targets[i];
    Launch(flights[i]);
  }
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < flights.size(); ++i) {
      if (flights[i].done) continue;
      short events =
          flights[i].target->kind == NetTarget::Kind::kTcp ? POLLOUT : POLLIN;
      fds.push_back({flights[i].fd, events, 0});
      which.push_back(i);
    }
    if (fds.empty()) break;
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (std::size_t k = 0; k < fds.size() && n > 0; ++k)
      if (fds[k].revents) Receive(flights[which[k]], fds[k].revents);
  }
  int answered = 0;
  std::string seen;
  nlohmann::json detail = nlohmann::json::array();
  long timeout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start)
          .count();
  for (auto& f : flights) {
    if (f.fd >= 0) close(f.fd);
    std::string what;
    if (f.rtt_ms) {
      ++answered;
      what = f.target->text + " " + Ms(*f.rtt_ms);
      detail.push_back({{"target", f.target->text}, {"rtt_ms", *f.rtt_ms}});
    } else {
      if (f.error.empty())
        f.error = (f.target->kind == NetTarget::Kind::kTcp
                       ? "no connection within "
                       : "no echo reply within ") +
                  std::to_string(timeout_ms) + " ms";
      what = f.target->text + ": " + f.error;
      detail.push_back({{"target", f.target->text}, {"error", f.error}});
    }
    seen += (seen.empty() ? "" : "; ") + what;
  }
  result.data["targets"] = detail;
  result.data["answered"] = answered;
  result.data["needed"] = min;
  std::string reason =
      std::to_string(answered) + " of " + std::to_string(targets.size()) +
      " targets answer" +
      (answered < min ? " (need " + std::to_string(min) + ")" : "") + ": " +
      seen;
  return Finish(result, start, answered >= min, reason);
}

ProbeResult ProbeLink(const std::string& ifname) {
  auto start = Clock::now();
  ProbeResult result;
  NlSocket nl;
  if (!nl.ok) return Finish(result, start, false, "rtnetlink: cannot connect");
  rtnl_link* link = nullptr;
  int error = rtnl_link_get_kernel(nl.sock, 0, ifname.c_str(), &link);
  if (error < 0 || !link) {
    return Finish(result, start, false,
                  ifname + ": no such interface (" + nl_geterror(error) + ")");
  }
  unsigned flags = rtnl_link_get_flags(link);
  std::uint8_t oper = rtnl_link_get_operstate(link);
  rtnl_link_put(link);
  bool admin = (flags & IFF_UP) != 0;
  bool carrier = (flags & IFF_LOWER_UP) != 0;
  std::string state = OperState(oper);
  result.data["interface"] = ifname;
  result.data["admin_up"] = admin;
  result.data["carrier"] = carrier;
  result.data["operstate"] = state;
  bool ok = admin && carrier && (oper == IF_OPER_UP || oper == IF_OPER_UNKNOWN);
  std::string reason =
      ifname + ": " +
      (ok ? "link up"
          : std::string("link down (") + (admin ? "admin up" : "admin down") +
                ", " + (carrier ? "carrier" : "no carrier") + ", operstate " +
                state + ")");
  return Finish(result, start, ok, reason);
}

ProbeResult ProbeVips(const std::vector<std::string>& vips) {
  auto start = Clock::now();
  ProbeResult result;
  NlSocket nl;
  if (!nl.ok) return Finish(result, start, false, "rtnetlink: cannot connect");
  nl_cache* addrs = nullptr;
  nl_cache* links = nullptr;
  if (rtnl_addr_alloc_cache(nl.sock, &addrs) < 0 ||
      rtnl_link_alloc_cache(nl.sock, AF_UNSPEC, &links) < 0) {
    if (addrs) nl_cache_free(addrs);
    return Finish(result, start, false, "rtnetlink: cannot list addresses");
  }
  nlohmann::json present = nlohmann::json::object();
  std::string reason;
  for (const auto& vip : vips) {
    std::string where;
    for (nl_object* obj = nl_cache_get_first(addrs); obj;
         obj = nl_cache_get_next(obj)) {
      auto* addr = reinterpret_cast<rtnl_addr*>(obj);
      nl_addr* local = rtnl_addr_get_local(addr);
      if (!local) continue;
      char buf[INET6_ADDRSTRLEN + 8];
      std::string text = nl_addr2str(local, buf, sizeof buf);
      if (auto slash = text.find('/'); slash != std::string::npos)
        text.resize(slash);
      if (text != vip) continue;
      char name[IFNAMSIZ + 1] = "?";
      rtnl_link_i2name(links, rtnl_addr_get_ifindex(addr), name, sizeof name);
      where = name;
      break;
    }
    present[vip] =
        where.empty() ? nlohmann::json(nullptr) : nlohmann::json(where);
    reason += (reason.empty() ? "" : "; ") + vip +
              (where.empty() ? " not on this node" : " on " + where);
  }
  nl_cache_free(addrs);
  nl_cache_free(links);
  result.data["vips"] = present;
  return Finish(result, start, true,
                reason.empty() ? "no VIP configured" : reason);
}

}  // namespace ehabus::sensors
