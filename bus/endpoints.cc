#include "bus/endpoints.h"

#include <unistd.h>

namespace ehabus {

BusEndpoints EndpointsFrom(const Config& config) {
  BusEndpoints ep{config.String("bus", "pub_endpoint"),
                  config.String("bus", "sub_endpoint"),
                  config.String("bus", "snapshot_endpoint"),
                  config.String("bus", "alert_endpoint")};
  // By default beside the publish socket, in the same directory.
  if (ep.alert.empty() && ep.pub.starts_with("ipc://")) {
    auto slash = ep.pub.rfind('/');
    ep.alert = ep.pub.substr(0, slash + 1) + "alert.sock";
  }
  return ep;
}

std::string NodeName(const Config& config) {
  std::string name = config.String("node", "name");
  if (!name.empty()) return name;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "localhost";
  name = host;
  // Keep the short name: events carry a node, not a domain.
  if (auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
  return name.empty() ? "localhost" : name;
}

}  // namespace ehabus
