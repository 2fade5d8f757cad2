// ehabus tail: the live stream, optionally after the current state, from
// the node's broker or a remote one over CURVE.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/subscriber.h"
#include "cli/command.h"
#include "common/daemon.h"

namespace ehabus::cli {
namespace {

using namespace std::chrono_literals;

const char* SeverityColor(ehabus::Severity severity) {
  switch (severity) {
    case ehabus::Severity::kDebug:
      return "\033[2m";
    case ehabus::Severity::kInfo:
      return "";
    case ehabus::Severity::kNotice:
      return "\033[36m";
    case ehabus::Severity::kWarning:
      return "\033[33m";
    case ehabus::Severity::kError:
      return "\033[31m";
    case ehabus::Severity::kCritical:
      return "\033[1;31m";
  }
  return "";
}

void PrintHuman(const ehabus::Delivery& d, bool color) {
  const auto& e = d.event;
  std::string severity(ehabus::ToString(e.severity));
  for (auto& c : severity) c = static_cast<char>(std::toupper(c));
  std::string line = FormatTime(e.wall_us) + " " + e.node + " " +
                     e.source.component + "[" + std::to_string(e.source.pid) +
                     "] ";
  std::string sev = severity;
  sev.resize(8, ' ');
  if (color && *SeverityColor(e.severity)) {
    line += SeverityColor(e.severity) + sev + "\033[0m";
  } else {
    line += sev;
  }
  line += " " + e.topic;
  if (e.kind == ehabus::Kind::kState)
    line += d.from_snapshot ? " (state)" : " =";
  line += " " + e.subject + ": " + e.message;
  if (!e.data.empty()) {
    line += " " + e.data.dump(-1, ' ', true,
                              nlohmann::json::error_handler_t::replace);
  }
  std::cout << line << '\n';
}

}  // namespace

int Tail(const Invocation& invocation, Args& args) {
  const Config& config = *invocation.config;
  ehabus::SubscriberOptions options;
  options.prefixes.clear();
  auto min_severity = ehabus::Severity::kDebug;
  bool json = false, state = false;
  std::optional<long> count;
  std::optional<std::chrono::milliseconds> timeout;
  std::string connect, snapshot;
  while (!args.done()) {
    std::string flag = args.peek();
    if (flag == "--json") {
      json = true;
      ++args.at;
    } else if (flag == "--state") {
      state = true;
      ++args.at;
    } else if (flag == "--topic" || flag == "--severity" || flag == "--count" ||
               flag == "--timeout" || flag == "--connect" ||
               flag == "--snapshot") {
      auto v = args.value();
      if (!v) return Usage(flag + " needs a value");
      if (flag == "--topic") {
        options.prefixes.push_back(*v);
      } else if (flag == "--severity") {
        auto s = ehabus::ParseSeverity(*v);
        if (!s) return Usage("unknown severity \"" + *v + "\"");
        min_severity = *s;
      } else if (flag == "--count") {
        try {
          count = std::stol(*v);
        } catch (...) {
          return Usage("--count needs a number");
        }
      } else if (flag == "--timeout") {
        timeout = ehabus::ParseDuration(*v);
        if (!timeout) return Usage("--timeout needs a duration such as 5s");
      } else if (flag == "--connect") {
        connect = *v;
      } else {
        snapshot = *v;
      }
    } else {
      return Usage("tail: unknown argument \"" + flag + "\"");
    }
  }
  if (options.prefixes.empty()) options.prefixes.push_back("");
  auto endpoints = ehabus::EndpointsFrom(config);
  options.sub_endpoint = endpoints.sub;
  options.snapshot_endpoint = state ? endpoints.snapshot : "";
  options.snapshot_timeout = config.Duration("bus", "snapshot_timeout");
  if (!connect.empty()) {
    ehabus::CurveClient curve;
    auto server =
        ehabus::ReadCurveKey(config.String("bus.remote", "server_public_key"));
    auto secret =
        ehabus::ReadCurveKey(config.String("bus.remote", "client_secret_key"));
    if (!server || !secret) {
      std::fprintf(stderr, "ehabus: [bus.remote] %s\n",
                   (!server ? server.error() : secret.error()).message.c_str());
      return 1;
    }
    char public_key[41] = {};
    if (zmq_curve_public(public_key, secret->c_str()) != 0) {
      std::fprintf(stderr,
                   "ehabus: [bus.remote] client_secret_key: not a CURVE key\n");
      return 1;
    }
    curve.server_public = *server;
    curve.client_secret = *secret;
    curve.client_public = public_key;
    options.curve = curve;
    options.sub_endpoint = connect;
    options.snapshot_endpoint = state ? snapshot : "";
    if (state && snapshot.empty())
      return Usage("--state with --connect needs --snapshot");
  }

  const auto& stop = ehabus::InstallStopSignals();
  zmq::context_t context(1);
  ehabus::Subscriber subscriber(context, options);
  bool color = !json && isatty(1);
  long seen = 0;
  auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                          : std::chrono::steady_clock::time_point::max();
  std::uint64_t reported_rejects = 0;
  while (!stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto slice = std::min<std::chrono::milliseconds>(
        200ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    std::optional<ehabus::Delivery> d;
    try {
      d = subscriber.Receive(slice);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      std::fprintf(stderr, "ehabus: %s\n", e.what());
      return 1;
    }
    const auto& stats = subscriber.stats();
    if (stats.rejected > reported_rejects) {
      reported_rejects = stats.rejected;
      std::fprintf(stderr, "ehabus: rejected a message (%llu so far): %s\n",
                   static_cast<unsigned long long>(stats.rejected),
                   stats.last_reject.c_str());
    }
    if (!d) continue;
    if (d->missed_before > 0) {
      std::fprintf(
          stderr, "ehabus: GAP: %llu events lost from %s %s[%lld] on %s\n",
          static_cast<unsigned long long>(d->missed_before),
          d->event.node.c_str(), d->event.source.component.c_str(),
          static_cast<long long>(d->event.source.pid), d->event.topic.c_str());
    }
    if (d->event.severity < min_severity) continue;
    if (json) {
      std::cout << ehabus::Encode(d->event).body << '\n';
    } else {
      PrintHuman(*d, color);
    }
    std::cout.flush();
    if (count && ++seen >= *count) return 0;
  }
  return count ? 1 : 0;
}

}  // namespace ehabus::cli
