// Probes: one check of one service, bounded by a deadline, that says what it
// saw. A probe never blocks past its deadline: sockets are non-blocking and
// every wait is a poll() against the one deadline of the whole conversation,
// and addresses are numeric (a name lookup could block forever).
//
// Reasons name the protocol, the endpoint, what was seen and when, e.g.
//   smtp 127.0.0.1:25: "421 4.3.2 shutting down" after EHLO
//   imap 127.0.0.1:143: no reply within 2000 ms after connect (silent)
//   smtp 127.0.0.1:25: 3 bytes in 2000 ms after connect, no full line: "22"
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ehabus::sensors {

using Deadline = std::chrono::steady_clock::time_point;

enum class Protocol { kTcp, kSmtp, kLmtp, kImap, kPop3, kMemcached, kHttp };

std::optional<Protocol> ParseProtocol(std::string_view name);
std::string_view ToString(Protocol protocol);

struct Credentials {
  std::string user;
  std::string password;
};

struct ProbeOptions {
  Protocol protocol = Protocol::kTcp;
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6
  int port = 0;
  std::string helo = "ehabus";  // EHLO/LHLO name
  bool starttls = false;  // SMTP: require STARTTLS, then EHLO again over TLS
  std::string http_path = "/";
  int http_status = 200;
  std::string http_expect;            // substring the body must hold
  bool memcached_write = false;       // also set and get a canary key
  std::optional<Credentials> canary;  // IMAP LOGIN+SELECT, POP3 USER+PASS
};

struct ProbeResult {
  bool ok = false;
  std::string reason;  // on failure: what was seen; on success: a summary
  std::chrono::microseconds latency{0};
  nlohmann::json data = nlohmann::json::object();
};

// Sets OK and REASON on RESULT and its latency since START; returns RESULT.
ProbeResult Finish(ProbeResult& result,
                   std::chrono::steady_clock::time_point start, bool ok,
                   std::string reason);

// Runs one conversation; at DEADLINE it gives up and says where it was.
ProbeResult Probe(const ProbeOptions& options, Deadline deadline);

// A process is alive: PIDFILE names a pid whose /proc entry exists, is not a
// zombie, and whose command name is NAME (when NAME is not empty).
ProbeResult ProbeProcess(const std::string& pidfile, const std::string& name);

}  // namespace ehabus::sensors
