#include "sensors/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "bus/event.h"
#include "common/error.h"

namespace ehabus::sensors {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLine = 4096;

int MillisLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// A line-oriented TCP conversation under one deadline. Failures are plain
// text ("no reply within ...") that the caller prefixes with where it was.
class Conversation {
 public:
  Conversation(std::string label, Deadline deadline,
               std::chrono::milliseconds budget)
      : label_(std::move(label)), deadline_(deadline), budget_(budget) {}
  ~Conversation() {
    ssl_.reset();
    ctx_.reset();
    if (fd_ >= 0) close(fd_);
  }
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  Result<void> Connect(const std::string& host, int port) {
    sockaddr_storage address{};
    socklen_t length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      length = sizeof *v6;
    } else {
      return Fail("not a numeric address: " + Quote(host));
    }
    fd_ = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
    if (fd_ < 0) return FailErrno("socket", errno);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
      if (errno != EINPROGRESS) return FailErrno("connect", errno);
      pollfd p{fd_, POLLOUT, 0};
      int r = poll(&p, 1, MillisLeft(deadline_));
      if (r == 0) return Fail("connect: no answer within " + Budget());
      int error = 0;
      socklen_t size = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error != 0) return FailErrno("connect", error);
    }
    return {};
  }

  // Switches the connection to TLS (after STARTTLS), under the same
  // deadline. The certificate is not verified: this checks that the
  // service's TLS works, not who it is.
  Result<std::string> StartTls() {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return Fail("TLS: " + TlsError());
    ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1)
      return Fail("TLS: " + TlsError());
    while (true) {
      ERR_clear_error();
      int r = SSL_connect(ssl_.get());
      if (r == 1) return std::string(SSL_get_version(ssl_.get()));
      int e = SSL_get_error(ssl_.get(), r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        std::string why = TlsError();
        return Fail("TLS handshake failed: " +
                    (why.empty() ? std::string("connection closed") : why));
      }
      pollfd p{fd_,
               static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT),
               0};
      if (poll(&p, 1, MillisLeft(deadline_)) == 0) {
        return Fail("TLS handshake: no answer within " + Budget());
      }
    }
  }

  // One line without its CRLF. Describes silence, trickle, reset and close.
  Result<std::string> ReadLine() {
    while (true) {
      auto end = buffer_.find('\n');
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buffer_.size() > kMaxLine) {
        return Fail("line longer than " + std::to_string(kMaxLine) + " bytes");
      }
      // TLS may hold decrypted bytes the socket no longer shows.
      if (!ssl_ || SSL_pending(ssl_.get()) == 0) {
        pollfd p{fd_, POLLIN, 0};
        int r = poll(&p, 1, MillisLeft(deadline_));
        if (r == 0) {
          if (received_ == 0 || buffer_.empty()) {
            return Fail("no reply within " + Budget() + " (silent)");
          }
          return Fail(std::to_string(buffer_.size()) + " bytes in " + Budget() +
                      ", no full line: " + Quote(buffer_));
        }
      }
      char chunk[1024];
      ssize_t n;
      if (ssl_) {
        ERR_clear_error();
        int r = SSL_read(ssl_.get(), chunk, sizeof chunk);
        if (r <= 0) {
          int e = SSL_get_error(ssl_.get(), r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
          if (e == SSL_ERROR_ZERO_RETURN)
            return Fail("connection closed by the server");
          return Fail("TLS: " + TlsError());
        }
        n = r;
      } else {
        n = recv(fd_, chunk, sizeof chunk, 0);
      }
      if (n == 0) return Fail("connection closed by the server");
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNRESET) return Fail("connection reset");
        return FailErrno("receive", errno);
      }
      received_ += static_cast<std::size_t>(n);
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  Result<void> Write(std::string_view data) {
    while (!data.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, MillisLeft(deadline_)) == 0) {
        return Fail("could not send within " + Budget());
      }
      if (ssl_) {
        ERR_clear_error();
        int r =
            SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
        if (r <= 0) {
          int e = SSL_get_error(ssl_.get(), r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
          return Fail("TLS: " + TlsError());
        }
        data.remove_prefix(static_cast<std::size_t>(r));
        continue;
      }
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNRESET || errno == EPIPE)
          return Fail("connection reset");
        return FailErrno("send", errno);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  // Reads until EOF or LIMIT bytes (HTTP/1.0 bodies).
  Result<std::string> ReadRest(std::size_t limit) {
    std::string out = std::move(buffer_);
    buffer_.clear();
    while (out.size() < limit) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, MillisLeft(deadline_)) == 0) {
        return Fail("body incomplete after " + Budget() + " (" +
                    std::to_string(out.size()) + " bytes)");
      }
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return FailErrno("receive", errno);
      }
      out.append(chunk, static_cast<std::size_t>(n));
    }
    return out;
  }

  const std::string& label() const { return label_; }

 private:
  std::string Budget() const { return std::to_string(budget_.count()) + " ms"; }

  std::string label_;
  Deadline deadline_;
  std::chrono::milliseconds budget_;
  static std::string TlsError() {
    char text[256] = {};
    unsigned long code = ERR_get_error();
    if (code == 0) return "";
    ERR_error_string_n(code, text, sizeof text);
    return text;
  }

  struct FreeSsl {
    void operator()(SSL* s) const { SSL_free(s); }
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  int fd_ = -1;
  std::unique_ptr<SSL_CTX, FreeSsl> ctx_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
  std::string buffer_;
  std::size_t received_ = 0;
};

// What a probe says on failure: "LABEL: WHAT STEP".
ProbeResult Failed(const Conversation& c, const std::string& what,
                   std::string_view step) {
  ProbeResult r;
  r.reason = c.label() + ": " + what;
  if (!step.empty()) r.reason += " " + std::string(step);
  return r;
}

// SMTP and LMTP replies: "250-..." lines continue, "250 ..." ends.
struct Reply {
  int code = 0;
  std::string first_line;
  std::vector<std::string> lines;  // for EHLO's keywords
};

Result<Reply> ReadSmtpReply(Conversation& c) {
  Reply reply;
  while (true) {
    auto line = c.ReadLine();
    if (!line) return tl::unexpected(line.error());
    if (line->size() < 3 ||
        !std::isdigit(static_cast<unsigned char>((*line)[0])) ||
        !std::isdigit(static_cast<unsigned char>((*line)[1])) ||
        !std::isdigit(static_cast<unsigned char>((*line)[2]))) {
      return Fail("not an SMTP reply: " + Quote(*line));
    }
    if (reply.first_line.empty()) {
      reply.first_line = *line;
      reply.code = std::stoi(line->substr(0, 3));
    }
    reply.lines.push_back(line->size() > 4 ? line->substr(4) : "");
    if (line->size() == 3 || (*line)[3] == ' ') return reply;
    if ((*line)[3] != '-') return Fail("not an SMTP reply: " + Quote(*line));
  }
}

ProbeResult Smtp(Conversation& c, const ProbeOptions& o) {
  auto greeting = ReadSmtpReply(c);
  if (!greeting) return Failed(c, greeting.error().message, "after connect");
  if (greeting->code != 220)
    return Failed(c, Quote(greeting->first_line), "in greeting");
  std::string hello = o.protocol == Protocol::kLmtp ? "LHLO" : "EHLO";
  if (auto w = c.Write(hello + " " + o.helo + "\r\n"); !w) {
    return Failed(c, w.error().message, "sending " + hello);
  }
  auto reply = ReadSmtpReply(c);
  if (!reply) return Failed(c, reply.error().message, "after " + hello);
  if (reply->code != 250)
    return Failed(c, Quote(reply->first_line), "after " + hello);
  ProbeResult r;
  r.data = {{"greeting", greeting->first_line}};
  if (o.starttls) {
    bool offered = false;
    for (const auto& keyword : reply->lines)
      offered = offered || keyword == "STARTTLS";
    if (!offered) return Failed(c, "no STARTTLS offered", "after " + hello);
    if (auto w = c.Write("STARTTLS\r\n"); !w) {
      return Failed(c, w.error().message, "sending STARTTLS");
    }
    auto ready = ReadSmtpReply(c);
    if (!ready) return Failed(c, ready.error().message, "after STARTTLS");
    if (ready->code != 220)
      return Failed(c, Quote(ready->first_line), "after STARTTLS");
    auto version = c.StartTls();
    if (!version) return Failed(c, version.error().message, "after STARTTLS");
    if (auto w = c.Write(hello + " " + o.helo + "\r\n"); !w) {
      return Failed(c, w.error().message, "sending " + hello + " over TLS");
    }
    auto again = ReadSmtpReply(c);
    if (!again)
      return Failed(c, again.error().message, "after " + hello + " over TLS");
    if (again->code != 250) {
      return Failed(c, Quote(again->first_line),
                    "after " + hello + " over TLS");
    }
    r.data["tls"] = *version;
  }
  (void)c.Write("QUIT\r\n");
  r.ok = true;
  return r;
}

// Quoted IMAP string; canary credentials with quotes or controls are refused.
std::optional<std::string> ImapQuote(const std::string& text) {
  for (char c : text) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return std::nullopt;
  }
  return "\"" + text + "\"";
}

// Sends "TAG COMMAND" and reads to the tagged reply; true when it is OK.
Result<bool> ImapCommand(Conversation& c, const std::string& tag,
                         const std::string& command, std::string& tagged) {
  if (auto w = c.Write(tag + " " + command + "\r\n"); !w)
    return tl::unexpected(w.error());
  while (true) {
    auto line = c.ReadLine();
    if (!line) return tl::unexpected(line.error());
    if (line->starts_with(tag + " ")) {
      tagged = *line;
      return line->compare(tag.size() + 1, 2, "OK") == 0;
    }
  }
}

ProbeResult Imap(Conversation& c, const ProbeOptions& o) {
  auto greeting = c.ReadLine();
  if (!greeting) return Failed(c, greeting.error().message, "after connect");
  if (!greeting->starts_with("* OK") && !greeting->starts_with("* PREAUTH")) {
    return Failed(c, Quote(*greeting), "in greeting");
  }
  std::string tagged;
  auto capability = ImapCommand(c, "a1", "CAPABILITY", tagged);
  if (!capability)
    return Failed(c, capability.error().message, "after CAPABILITY");
  if (!*capability) return Failed(c, Quote(tagged), "after CAPABILITY");
  if (o.canary) {
    auto user = ImapQuote(o.canary->user),
         password = ImapQuote(o.canary->password);
    if (!user || !password)
      return Failed(c, "canary credentials hold quotes or controls", "");
    auto login =
        ImapCommand(c, "a2", "LOGIN " + *user + " " + *password, tagged);
    // Never echo the command: it holds the password.
    if (!login) return Failed(c, login.error().message, "after LOGIN");
    if (!*login) return Failed(c, Quote(tagged), "after LOGIN");
    auto select = ImapCommand(c, "a3", "SELECT INBOX", tagged);
    if (!select) return Failed(c, select.error().message, "after SELECT");
    if (!*select) return Failed(c, Quote(tagged), "after SELECT");
  }
  (void)c.Write("a9 LOGOUT\r\n");
  ProbeResult r;
  r.ok = true;
  r.data = {{"greeting", *greeting}};
  return r;
}

Result<std::string> Pop3Command(Conversation& c, const std::string& command) {
  if (auto w = c.Write(command + "\r\n"); !w) return tl::unexpected(w.error());
  return c.ReadLine();
}

ProbeResult Pop3(Conversation& c, const ProbeOptions& o) {
  auto greeting = c.ReadLine();
  if (!greeting) return Failed(c, greeting.error().message, "after connect");
  if (!greeting->starts_with("+OK"))
    return Failed(c, Quote(*greeting), "in greeting");
  auto capa = Pop3Command(c, "CAPA");
  if (!capa) return Failed(c, capa.error().message, "after CAPA");
  if (!capa->starts_with("+OK")) return Failed(c, Quote(*capa), "after CAPA");
  while (true) {
    auto line = c.ReadLine();
    if (!line) return Failed(c, line.error().message, "in the CAPA list");
    if (*line == ".") break;
  }
  if (o.canary) {
    for (char ch : o.canary->user + o.canary->password) {
      if (static_cast<unsigned char>(ch) < 0x20) {
        return Failed(c, "canary credentials hold control characters", "");
      }
    }
    auto user = Pop3Command(c, "USER " + o.canary->user);
    if (!user) return Failed(c, user.error().message, "after USER");
    if (!user->starts_with("+OK")) return Failed(c, Quote(*user), "after USER");
    auto pass = Pop3Command(c, "PASS " + o.canary->password);
    if (!pass) return Failed(c, pass.error().message, "after PASS");
    if (!pass->starts_with("+OK")) return Failed(c, Quote(*pass), "after PASS");
    auto stat = Pop3Command(c, "STAT");
    if (!stat) return Failed(c, stat.error().message, "after STAT");
    if (!stat->starts_with("+OK")) return Failed(c, Quote(*stat), "after STAT");
  }
  (void)c.Write("QUIT\r\n");
  ProbeResult r;
  r.ok = true;
  r.data = {{"greeting", *greeting}};
  return r;
}

ProbeResult Memcached(Conversation& c, const ProbeOptions& o) {
  if (auto w = c.Write("version\r\n"); !w)
    return Failed(c, w.error().message, "sending version");
  auto version = c.ReadLine();
  if (!version) return Failed(c, version.error().message, "after version");
  if (!version->starts_with("VERSION "))
    return Failed(c, Quote(*version), "after version");
  if (o.memcached_write) {
    std::string value = std::to_string(WallMicros());
    std::string set = "set ehabus:canary 0 60 " + std::to_string(value.size()) +
                      "\r\n" + value + "\r\n";
    if (auto w = c.Write(set); !w)
      return Failed(c, w.error().message, "sending set");
    auto stored = c.ReadLine();
    if (!stored) return Failed(c, stored.error().message, "after set");
    if (*stored != "STORED") return Failed(c, Quote(*stored), "after set");
    if (auto w = c.Write("get ehabus:canary\r\n"); !w)
      return Failed(c, w.error().message, "sending get");
    auto header = c.ReadLine();
    if (!header) return Failed(c, header.error().message, "after get");
    if (!header->starts_with("VALUE ehabus:canary "))
      return Failed(c, Quote(*header), "after get");
    auto got = c.ReadLine();
    if (!got) return Failed(c, got.error().message, "after get");
    if (*got != value)
      return Failed(c, "read back " + Quote(*got) + ", wrote " + Quote(value),
                    "");
    auto end = c.ReadLine();
    if (!end || *end != "END")
      return Failed(c, end ? Quote(*end) : end.error().message, "after get");
  }
  ProbeResult r;
  r.ok = true;
  r.data = {{"version", version->substr(8)}};
  return r;
}

ProbeResult Http(Conversation& c, const ProbeOptions& o) {
  std::string request = "GET " + o.http_path + " HTTP/1.0\r\nHost: " + o.host +
                        "\r\nUser-Agent: ehabus\r\nConnection: close\r\n\r\n";
  if (auto w = c.Write(request); !w)
    return Failed(c, w.error().message, "sending GET");
  auto status = c.ReadLine();
  if (!status)
    return Failed(c, status.error().message, "after GET " + o.http_path);
  int code = 0;
  if (!status->starts_with("HTTP/1.") || status->size() < 12 ||
      (code = std::atoi(status->c_str() + 9)) == 0) {
    return Failed(c, "not an HTTP status line: " + Quote(*status),
                  "after GET " + o.http_path);
  }
  if (code != o.http_status)
    return Failed(c, Quote(*status), "after GET " + o.http_path);
  if (!o.http_expect.empty()) {
    auto rest = c.ReadRest(1 << 20);
    if (!rest)
      return Failed(c, rest.error().message, "after GET " + o.http_path);
    auto body = rest->find("\r\n\r\n");
    if (body == std::string::npos ||
        rest->find(o.http_expect, body) == std::string::npos) {
      return Failed(c, "body lacks " + Quote(o.http_expect),
                    "after GET " + o.http_path);
    }
  }
  ProbeResult r;
  r.ok = true;
  r.data = {{"status", *status}};
  return r;
}

}  // namespace

std::optional<Protocol> ParseProtocol(std::string_view name) {
  for (auto p :
       {Protocol::kTcp, Protocol::kSmtp, Protocol::kLmtp, Protocol::kImap,
        Protocol::kPop3, Protocol::kMemcached, Protocol::kHttp}) {
    if (ToString(p) == name) return p;
  }
  return std::nullopt;
}

std::string_view ToString(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kSmtp:
      return "smtp";
    case Protocol::kLmtp:
      return "lmtp";
    case Protocol::kImap:
      return "imap";
    case Protocol::kPop3:
      return "pop3";
    case Protocol::kMemcached:
      return "memcached";
    case Protocol::kHttp:
      return "http";
  }
  return "?";
}

ProbeResult Finish(ProbeResult& result,
                   std::chrono::steady_clock::time_point start, bool ok,
                   std::string reason) {
  result.ok = ok;
  result.reason = std::move(reason);
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

ProbeResult Probe(const ProbeOptions& options, Deadline deadline) {
  auto start = Clock::now();
  // Rounded: a caller's "now + 300ms" is a hair less by the time we get here.
  auto budget = std::chrono::round<std::chrono::milliseconds>(deadline - start);
  std::string endpoint =
      options.host.find(':') != std::string::npos
          ? "[" + options.host + "]:" + std::to_string(options.port)
          : options.host + ":" + std::to_string(options.port);
  Conversation c(std::string(ToString(options.protocol)) + " " + endpoint,
                 deadline, budget);
  ProbeResult result;
  if (auto connected = c.Connect(options.host, options.port); !connected) {
    result = Failed(c, connected.error().message, "");
  } else {
    switch (options.protocol) {
      case Protocol::kTcp:
        result.ok = true;
        break;
      case Protocol::kSmtp:
      case Protocol::kLmtp:
        result = Smtp(c, options);
        break;
      case Protocol::kImap:
        result = Imap(c, options);
        break;
      case Protocol::kPop3:
        result = Pop3(c, options);
        break;
      case Protocol::kMemcached:
        result = Memcached(c, options);
        break;
      case Protocol::kHttp:
        result = Http(c, options);
        break;
    }
  }
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(
      Clock::now() - start);
  if (result.ok) result.reason = c.label() + " answers";
  return result;
}

ProbeResult ProbeProcess(const std::string& pidfile, const std::string& name) {
  auto start = Clock::now();
  ProbeResult r;

  std::ifstream in(pidfile);
  if (!in)
    return Finish(r, start, false,
                  "process: pid file " + pidfile + ": " + std::strerror(errno));
  long pid = 0;
  if (!(in >> pid) || pid <= 0)
    return Finish(r, start, false,
                  "process: pid file " + pidfile + " holds no pid");
  std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat(proc + "/stat");
  std::string field, comm, state;
  if (!(stat >> field >> comm >> state)) {
    return Finish(r, start, false,
                  "process " + std::to_string(pid) + " (from " + pidfile +
                      ") is not running");
  }
  if (state == "Z" || state == "X") {
    return Finish(r, start, false,
                  "process " + std::to_string(pid) + " is a zombie");
  }
  std::ifstream comm_file(proc + "/comm");
  std::string actual;
  std::getline(comm_file, actual);
  r.data = {{"pid", pid}, {"comm", actual}};
  if (!name.empty() && actual != name) {
    return Finish(r, start, false,
                  "pid " + std::to_string(pid) + " from " + pidfile + " is " +
                      Quote(actual) + ", not " + Quote(name) +
                      " (stale pid file)");
  }
  return Finish(r, start, true,
                "process " +
                    (name.empty() ? std::to_string(pid)
                                  : name + "[" + std::to_string(pid) + "]") +
                    " running");
}

}  // namespace ehabus::sensors
