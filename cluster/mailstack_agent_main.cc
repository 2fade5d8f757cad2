// The ocf:ehabus:mailstack resource agent (cluster/mailstack_agent.h).
#include "cluster/mailstack_agent.h"

int main(int argc, char** argv) {
  return ehabus::cluster::RunMailstackAgent(argc > 1 ? argv[1] : "");
}
