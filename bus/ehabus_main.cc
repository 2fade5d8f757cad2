// ehabus: the operator's command line for the bus.
//   tail, publish, status, check-config, keygen
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/cli_support.h"
#include "bus/cluster_cli.h"
#include "bus/endpoints.h"
#include "bus/profile.h"
#include "bus/publisher.h"
#include "bus/subscriber.h"

namespace {

using namespace std::chrono_literals;

constexpr const char* kUsage =
    "usage: ehabus [--config FILE] COMMAND ...\n"
    "\n"
    "  tail [--topic PREFIX]... [--severity LEVEL] [--json] [--state]\n"
    "       [--count N] [--timeout DURATION]\n"
    "       [--connect TCP-ENDPOINT --snapshot TCP-ENDPOINT]\n"
    "      Live events. --state prints the current state first; --json one\n"
    "      JSON object per line; --count/--timeout end the stream (exit 1 "
    "when\n"
    "      the timeout passes before COUNT events); --connect reads a remote\n"
    "      broker with the CURVE keys of [bus.remote].\n"
    "  publish [--state] [--severity LEVEL] [--subject TEXT] [--data JSON]\n"
    "          [--component NAME] [--wait DURATION] TOPIC MESSAGE...\n"
    "      Publish one event (or state) and wait for the broker to take it.\n"
    "  status [--json]\n"
    "      Broker up?, sources seen, last event per source, gaps, rejects.\n"
    "  check-config [FILE]\n"
    "      Validate the configuration; every error as FILE:LINE; exit 0 or 1.\n"
    "  maintenance [SERVICE|node on|off [--for DURATION]]\n"
    "      Take a service of the watch list (or the whole node) out of\n"
    "      healing and failover, for DURATION or until `off`; without\n"
    "      arguments, list what is in maintenance. The watch list is edited\n"
    "      in place (under a lock, atomically); ehabus-healer-restart ends\n"
    "      expired entries.\n"
    "  cleanup [SERVICE]\n"
    "      After you fixed what made SERVICE (default: every service) spend\n"
    "      its restart budget on this node: forget the budget, so the node\n"
    "      may run the stack again (as `crm resource cleanup` forgets\n"
    "      Pacemaker's failures). Tells both healers over the bus.\n"
    "  cluster render [--format xml|crm|corosync|sbd] [--simulate]\n"
    "      The Pacemaker configuration (or corosync.conf, /etc/default/sbd)\n"
    "      made from this file; --simulate: a CIB for crm_simulate.\n"
    "  cluster apply [--dry-run]\n"
    "      Show the difference from the live CIB, check it with crm_verify\n"
    "      and apply it; unchanged resources keep running.\n"
    "  cluster sync [--restart]\n"
    "      Take the configuration stored in the CIB by `apply` (every node\n"
    "      runs this from a timer); --restart restarts ehabus's services\n"
    "      when it changed.\n"
    "  cluster maintenance on|off\n"
    "      Pacemaker's maintenance-mode, for the rare change that needs it.\n"
    "  keygen PREFIX\n"
    "      Write a CURVE key pair: PREFIX.public and PREFIX.secret (0600).\n";

int Usage(const std::string& problem = "") {
  if (problem.empty()) {
    std::fputs(kUsage, stderr);
  } else {
    std::fprintf(stderr, "ehabus: %s (see ehabus --help)\n", problem.c_str());
  }
  return 2;
}

struct Args {
  std::vector<std::string> list;
  std::size_t at = 0;
  bool done() const { return at >= list.size(); }
  const std::string& peek() const { return list[at]; }
  std::optional<std::string> value(const std::string& flag) {
    if (at + 1 >= list.size()) return std::nullopt;
    (void)flag;
    at += 2;
    return list[at - 1];
  }
};

std::string FormatTime(std::int64_t wall_us) {
  std::time_t seconds = static_cast<std::time_t>(wall_us / 1'000'000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d",
                static_cast<int>((wall_us / 1000) % 1000));
  return std::string(text) + millis;
}

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

int Tail(const ehabus::Config& config, Args& args) {
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
      auto v = args.value(flag);
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

int Publish(const ehabus::Config& config, Args& args) {
  ehabus::Event event;
  event.data = nlohmann::json::object();
  std::string component = "cli";
  std::chrono::milliseconds wait = 2s;
  std::vector<std::string> words;
  while (!args.done()) {
    std::string flag = args.peek();
    if (flag == "--state") {
      event.kind = ehabus::Kind::kState;
      ++args.at;
    } else if (flag == "--severity" || flag == "--subject" ||
               flag == "--data" || flag == "--component" || flag == "--wait") {
      auto v = args.value(flag);
      if (!v) return Usage(flag + " needs a value");
      if (flag == "--severity") {
        auto s = ehabus::ParseSeverity(*v);
        if (!s) return Usage("unknown severity \"" + *v + "\"");
        event.severity = *s;
      } else if (flag == "--subject") {
        event.subject = *v;
      } else if (flag == "--data") {
        try {
          event.data = nlohmann::json::parse(*v);
        } catch (const nlohmann::json::exception& e) {
          return Usage(std::string("--data: not JSON: ") + e.what());
        }
        if (!event.data.is_object())
          return Usage("--data must be a JSON object");
      } else if (flag == "--component") {
        component = *v;
      } else {
        auto d = ehabus::ParseDuration(*v);
        if (!d) return Usage("--wait needs a duration such as 2s");
        wait = *d;
      }
    } else {
      words.push_back(flag);
      ++args.at;
    }
  }
  if (words.empty()) return Usage("publish: TOPIC missing");
  event.topic = words[0];
  if (!ehabus::ValidTopic(event.topic)) {
    return Usage("publish: " + ehabus::Quote(event.topic) +
                 " is not a topic (dot-separated words of a-z 0-9 _ -)");
  }
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (i > 1) event.message += ' ';
    event.message += words[i];
  }
  zmq::context_t context(1);
  auto endpoints = ehabus::EndpointsFrom(config);
  ehabus::Publisher publisher(
      context, {endpoints.pub, ehabus::NodeName(config), component, 1000});
  if (!publisher.WaitAttached(wait)) {
    std::fprintf(stderr, "ehabus: no broker at %s within %lld ms\n",
                 endpoints.pub.c_str(), static_cast<long long>(wait.count()));
    return 1;
  }
  // Validate exactly as the broker will, so a mistake is told here.
  ehabus::Event probe = event;
  probe.node = ehabus::NodeName(config);
  probe.source = {component, 1, 0};
  probe.seq = 1;
  if (auto checked = ehabus::Decode(probe.topic, ehabus::Encode(probe).body);
      !checked) {
    std::fprintf(stderr, "ehabus: %s\n", checked.error().message.c_str());
    return 1;
  }
  publisher.Send(std::move(event));
  return 0;  // closing the socket flushes (linger 1 s)
}

std::optional<nlohmann::json> QueryStatus(zmq::context_t& context,
                                          const std::string& endpoint) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  dealer.send(zmq::buffer(ehabus::kStatusRequest), zmq::send_flags::dontwait);
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 2s);
  if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  (void)zmq::recv_multipart(dealer, std::back_inserter(parts));
  if (parts.size() != 2) return std::nullopt;
  try {
    return nlohmann::json::parse(parts[1].to_string_view());
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string Until(std::int64_t until) {
  return until == 0 ? "until ended by hand"
                    : "until " + FormatTime(until * 1'000'000);
}

// What is in maintenance, one line each; "" when nothing.
std::string MaintenanceText(const ehabus::Config& config) {
  auto entries =
      ehabus::LoadMaintenance(config.String("sensor.service", "watch_file"));
  if (!entries) return "maintenance: watch list unreadable\n";
  std::string out;
  for (const auto& [target, until] : *entries)
    out += "maintenance: " + target + " " + Until(until) + "\n";
  return out;
}

int Status(const ehabus::Config& config, Args& args,
           const std::string& config_path) {
  bool json = false;
  while (!args.done()) {
    if (args.peek() != "--json")
      return Usage("status: unknown argument \"" + args.peek() + "\"");
    json = true;
    ++args.at;
  }
  zmq::context_t context(1);
  auto endpoint = ehabus::EndpointsFrom(config).snapshot;
  auto status = QueryStatus(context, endpoint);
  if (!status) {
    std::fprintf(stderr, "ehabus: broker DOWN: no answer from %s within 2 s\n",
                 endpoint.c_str());
    return 1;
  }
  if (json) {
    std::cout << status->dump(2) << '\n';
    return 0;
  }
  const auto& s = *status;
  std::cout << "broker: up on " << s.value("node", "?") << " (pid "
            << s.value("pid", 0) << ", version " << s.value("version", "?")
            << ", up " << s.value("uptime_s", 0) << " s)\n"
            << "messages: " << s.value("received", 0) << " received, "
            << s.value("forwarded", 0) << " forwarded, "
            << s.value("rejected", 0) << " rejected, " << s.value("gaps", 0)
            << " gaps (" << s.value("missed", 0) << " missed)\n"
            << "state topics: " << s.value("state_topics", 0)
            << ", subscriptions: " << s.value("subscriptions", 0) << "\n";
  if (s.value("rejected", 0) > 0) {
    std::cout << "last reject: " << s.value("last_reject", "") << "\n";
  }
  std::cout << "sources:\n";
  for (const auto& src : s["sources"]) {
    std::cout << "  " << src.value("node", "?") << " "
              << src.value("component", "?") << "[" << src.value("pid", 0)
              << "] " << src.value("events", 0) << " events, last "
              << src.value("last_topic", "?") << " at "
              << FormatTime(src.value("last_wall_us", std::int64_t{0})) << "\n";
  }
  std::fputs(MaintenanceText(config).c_str(), stdout);
  std::fputs(ehabus::cluster::StatusText(config, config_path).c_str(), stdout);
  return 0;
}

int CheckConfig(const std::string& global_path, Args& args) {
  std::string path = global_path;
  if (!args.done()) path = args.list[args.at++];
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

int Keygen(Args& args) {
  if (args.done()) return Usage("keygen: PREFIX missing");
  std::string prefix = args.list[args.at++];
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

int Maintenance(const ehabus::Config& config, Args& args) {
  std::string watch = config.String("sensor.service", "watch_file");
  if (args.done()) {
    std::string text = MaintenanceText(config);
    std::fputs(text.empty() ? "nothing in maintenance\n" : text.c_str(),
               stdout);
    return 0;
  }
  std::string target = args.list[args.at++];
  if (args.done()) return Usage("maintenance: on or off?");
  std::string mode = args.list[args.at++];
  if (mode != "on" && mode != "off")
    return Usage("maintenance: \"" + mode + "\": expected on or off");
  std::int64_t until = 0;
  while (!args.done()) {
    if (args.peek() != "--for" || mode != "on")
      return Usage("maintenance: unknown argument \"" + args.peek() + "\"");
    auto v = args.value("--for");
    auto duration = v ? ehabus::ParseDuration(*v) : std::nullopt;
    if (!duration || duration->count() < 1000)
      return Usage("maintenance: --for needs a duration of at least 1s");
    until = (ehabus::WallMicros() / 1000 + duration->count() + 999) / 1000;
  }
  auto profile = ehabus::LoadProfile(ehabus::ProfilePathFrom(config));
  if (!profile) {
    for (const auto& e : profile.error())
      std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return 1;
  }
  auto done =
      ehabus::SetMaintenance(watch, *profile, target, mode == "on", until);
  if (!done) {
    std::fprintf(stderr, "ehabus: %s\n", done.error().message.c_str());
    return 1;
  }
  std::string message = mode == "on"
                            ? target + " in maintenance " + Until(until) +
                                  ": not healed, no failover for it"
                            : "maintenance of " + target + " ended by hand";
  std::printf("%s\n", message.c_str());
  // Tell the bus, best effort (the edit is what counts).
  try {
    zmq::context_t context(1);
    ehabus::Publisher publisher(
        context, {ehabus::EndpointsFrom(config).pub, ehabus::NodeName(config),
                  "cli", 100});
    if (publisher.WaitAttached(1s)) {
      publisher.Publish(
          mode == "on" ? "maintenance.started" : "maintenance.ended",
          ehabus::Severity::kNotice, target, message,
          {{"target", target}, {"until", until}});
    }
  } catch (const std::exception&) {
  }
  return 0;
}

// Forgets spent restart budgets on this node: the escalated file the stack
// agent reads (edited here, so it holds even with no healer running), and
// both healers told over the bus.
int Cleanup(const ehabus::Config& config, Args& args) {
  std::string target = "all";
  if (!args.done()) target = args.list[args.at++];
  if (!args.done())
    return Usage("cleanup: unknown argument \"" + args.peek() + "\"");
  if (target != "all") {
    auto profile = ehabus::LoadProfile(ehabus::ProfilePathFrom(config));
    if (!profile) {
      for (const auto& e : profile.error())
        std::fprintf(stderr, "%s\n", e.ToString().c_str());
      return 1;
    }
    if (!profile->Find(target)) {
      std::fprintf(stderr, "ehabus: cleanup: no service \"%s\" in %s\n",
                   target.c_str(), profile->path.c_str());
      return 2;
    }
  }
  std::string file = ehabus::EscalatedFileFrom(config);
  std::vector<std::string> kept, forgotten;
  {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      (target == "all" || line == target ? forgotten : kept).push_back(line);
    }
  }
  if (!forgotten.empty()) {
    if (kept.empty()) {
      unlink(file.c_str());
    } else {
      std::string tmp = file + ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& s : kept) out << s << "\n";
      }
      if (rename(tmp.c_str(), file.c_str()) != 0) {
        std::fprintf(stderr, "ehabus: cleanup: %s: %s\n", file.c_str(),
                     std::strerror(errno));
        return 1;
      }
    }
  }
  std::string spent;
  for (const auto& s : forgotten) spent += (spent.empty() ? "" : ", ") + s;
  std::string message = "restart budget of " + target + " forgotten by hand" +
                        (spent.empty() ? "" : " (spent: " + spent + ")");
  zmq::context_t context(1);
  ehabus::Publisher publisher(context, {ehabus::EndpointsFrom(config).pub,
                                        ehabus::NodeName(config), "cli", 100});
  if (!publisher.WaitAttached(2s)) {
    std::fprintf(stderr,
                 "ehabus: cleanup: no broker at %s: the healers were not "
                 "told (the escalated file %s)\n",
                 ehabus::EndpointsFrom(config).pub.c_str(),
                 forgotten.empty() ? "held nothing" : "is updated");
    return 1;
  }
  if (!publisher.Publish("cleanup.budget", ehabus::Severity::kNotice, target,
                         message, {{"target", target}, {"spent", forgotten}})) {
    std::fprintf(stderr, "ehabus: cleanup: the broker went away\n");
    return 1;
  }
  std::printf("%s\n", message.c_str());
  return 0;  // closing the socket flushes (linger 1 s)
}

}  // namespace

int main(int argc, char** argv) {
  Args args{{argv + 1, argv + argc}};
  std::string config_path;
  while (!args.done() && args.peek().starts_with("--")) {
    if (args.peek() == "--config") {
      auto v = args.value("--config");
      if (!v) return Usage("--config needs a FILE");
      config_path = *v;
    } else if (args.peek() == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage("unknown option \"" + args.peek() + "\"");
    }
  }
  if (args.done()) return Usage();
  std::string command = args.list[args.at++];
  if (command == "check-config") return CheckConfig(config_path, args);
  if (command == "keygen") return Keygen(args);
  if (command != "tail" && command != "publish" && command != "status" &&
      command != "maintenance" && command != "cluster" &&
      command != "cleanup") {
    return Usage("unknown command \"" + command + "\"");
  }
  auto config = ehabus::LoadConfigOrReport(config_path);
  if (!config) return ehabus::kExitConfig;
  try {
    if (command == "tail") return Tail(*config, args);
    if (command == "publish") return Publish(*config, args);
    if (command == "maintenance") return Maintenance(*config, args);
    if (command == "cleanup") return Cleanup(*config, args);
    if (command == "cluster") {
      return ehabus::cluster::Command(
          *config, ehabus::cluster::ResolveConfigPath(config_path),
          {args.list.begin() + static_cast<long>(args.at), args.list.end()});
    }
    return Status(*config, args,
                  ehabus::cluster::ResolveConfigPath(config_path));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehabus: %s\n", e.what());
    return 1;
  }
}
