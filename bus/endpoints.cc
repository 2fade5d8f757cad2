#include "bus/endpoints.h"

#include <unistd.h>

namespace ehabus {

BusEndpoints EndpointsFrom(const Config& config) {
  return {config.String("bus", "pub_endpoint"),
          config.String("bus", "sub_endpoint"),
          config.String("bus", "snapshot_endpoint")};
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
