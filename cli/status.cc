// ehabus status: the broker's counters and sources, maintenance, and
// whether this node has the cluster's configuration.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/endpoints.h"
#include "cli/command.h"
#include "cluster/commands.h"

namespace ehabus::cli {
namespace {

using namespace std::chrono_literals;

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

}  // namespace

int Status(const Invocation& invocation, Args& args) {
  const Config& config = *invocation.config;
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
  std::fputs(
      ehabus::cluster::StatusText(config, invocation.resolved_path).c_str(),
      stdout);
  return 0;
}

}  // namespace ehabus::cli
