// The test mail stack: real MariaDB, memcached, Postfix and Dovecot on
// loopback with their own directories and ports, controlled like an init
// script would (a shell script this class writes: SERVICE start|stop with
// setsid DAEMON & and kill PID), and the profile that describes it.
#pragma once

#include <sys/types.h>

#include <string>

#include "tests/testing/bus_fixture.h"
#include "tests/testing/daemons.h"

namespace ehabus::testing {

class Stack {
 public:
  Stack();
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  // A profile (mariadb, memcached, postfix and dovecot, the last two
  // depending on mariadb) controlled through script().
  std::string Profile() const;
  bool Control(const std::string& service, const std::string& action);
  // Starts all four and waits until they listen.
  bool StartAll();
  pid_t Pid(const std::string& service) const;
  void Kill(const std::string& service);
  std::string Log() const;
  const std::string& script() const { return script_; }
  Postfix& postfix() { return postfix_; }

 private:
  TempDir dir_;
  MariaDb mariadb_;
  Memcached memcached_;
  Postfix postfix_;
  Dovecot dovecot_;
  std::string script_, memcached_pid_;
};

}  // namespace ehabus::testing
