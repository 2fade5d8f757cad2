// Sending one mail to an SMTP relay with libesmtp: STARTTLS required or
// optional, AUTH (PLAIN, LOGIN, CRAM-MD5 through libesmtp's SASL), several
// recipients, a deadline per SMTP phase. The reply decides: 2xx sent, 4xx
// or no answer temporary (retry later), 5xx permanent (reported).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ehabus::notifiers {

struct MailSettings {
  std::string relay = "127.0.0.1:25";  // HOST:PORT
  enum class Tls { kNo, kOptional, kRequired } starttls = Tls::kOptional;
  std::string user, password;  // AUTH when user is set
  std::string from;
  std::vector<std::string> to;
  std::chrono::milliseconds timeout{30000};  // per SMTP phase
};

struct SendResult {
  bool ok = false;
  bool permanent = false;  // 5xx: retrying will not help
  std::string detail;      // "relay 127.0.0.1:25: 554 5.7.1 ..."
};

SendResult SendMail(const MailSettings& settings, const std::string& message);

}  // namespace ehabus::notifiers
