// Real daemons for tests, each on loopback with its own directory and port,
// never the system's instances: MariaDB (more to come: Postfix, Dovecot).
#pragma once

#include <optional>
#include <string>

#include "bus/subprocess.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::testing {

// A free TCP port on 127.0.0.1 (bound, read back, released).
int FreePort();

class MariaDb {
 public:
  MariaDb();  // initialises a data directory (a few seconds)
  ~MariaDb();
  // Starts mariadbd and waits until it accepts connections.
  bool Start();
  void Kill(int signal);
  int port() const { return port_; }
  std::string pidfile() const { return dir_.path() + "/mariadb.pid"; }
  const std::string& dir() const { return dir_.path(); }
  std::string Log() const;

 private:
  TempDir dir_;
  int port_;
  std::optional<Subprocess> server_;
};

}  // namespace ehabus::testing
