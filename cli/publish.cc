// ehabus publish: one event (or state) onto the node's bus, validated here
// exactly as the broker will.
#include <cstdio>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/publisher.h"
#include "cli/command.h"

namespace ehabus::cli {

using namespace std::chrono_literals;

int Publish(const Invocation& invocation, Args& args) {
  const Config& config = *invocation.config;
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
      auto v = args.value();
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

}  // namespace ehabus::cli
