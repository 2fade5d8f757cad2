// Real daemons for tests, each on loopback with its own directory and port,
// never the system's instances: MariaDB (more to come: Postfix, Dovecot).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "tests/testing/bus_fixture.h"

namespace ehabus::testing {

// The pid in PIDFILE (0 when none).
pid_t ReadPid(const std::string& pidfile);
// SIGTERM to the pid in PIDFILE, SIGKILL after 10 s; nothing without one.
void StopByPidfile(const std::string& pidfile);

// A free TCP port on 127.0.0.1 (bound, read back, released).
int FreePort();
// Something accepts connections on 127.0.0.1:PORT.
bool Listening(int port);

// memcached on a loopback port; Start() again after Kill() reuses the port.
class Memcached {
 public:
  Memcached() : port_(FreePort()) {}
  bool Start();
  // The command line that runs it in the foreground.
  std::vector<std::string> Argv() const;
  void Kill(int signal);
  int port() const { return port_; }

 private:
  int port_;
  std::optional<Subprocess> server_;
};

class MariaDb {
 public:
  MariaDb();  // initialises a data directory (a few seconds)
  ~MariaDb();
  // Starts mariadbd and waits until it accepts connections.
  bool Start();
  std::vector<std::string> Argv() const;
  void Kill(int signal);
  int port() const { return port_; }
  std::string pidfile() const { return dir_.path() + "/mariadb.pid"; }
  std::string socket_path() const { return dir_.path() + "/mariadb.sock"; }
  std::string datadir() const { return dir_.path() + "/data"; }
  const std::string& dir() const { return dir_.path(); }
  std::string Log() const;

 private:
  TempDir dir_;
  int port_;
  std::optional<Subprocess> server_;
};

// Dovecot with IMAP, POP3 and LMTP on loopback ports, plain text (no TLS),
// one canary account (canary@test / s3cret) with a Maildir.
class Dovecot {
 public:
  Dovecot();
  ~Dovecot();
  bool Start();
  std::vector<std::string> Argv() const;
  void Kill(int signal);
  int imap_port() const { return imap_; }
  int pop3_port() const { return pop3_; }
  int lmtp_port() const { return lmtp_; }
  // Dovecot's SASL service for Postfix (smtpd_sasl_type = dovecot).
  int auth_port() const { return auth_; }
  // The canary account's Maildir (canary@test / s3cret).
  std::string maildir() const {
    return dir_.path() + "/home/canary@test/Maildir";
  }
  std::string pidfile() const { return dir_.path() + "/run/master.pid"; }
  std::string config() const { return dir_.path() + "/dovecot.conf"; }
  std::string Log() const;

 private:
  TempDir dir_;
  int imap_, pop3_, lmtp_, auth_;
  std::optional<Subprocess> server_;
};

// Postfix with its own configuration, queue and data directories, smtpd on
// a loopback port, run in the foreground (the master is our child).
class Postfix {
 public:
  // EXTRA_MAIN_CF: more main.cf lines (e.g. TLS settings).
  explicit Postfix(const std::string& extra_main_cf = "");
  ~Postfix();
  bool Start();
  std::vector<std::string> Argv() const;
  void Kill(int signal);
  int smtp_port() const { return smtp_; }
  std::string pidfile() const { return dir_.path() + "/queue/pid/master.pid"; }
  std::string config_dir() const { return dir_.path() + "/etc"; }
  std::string Log() const;

 private:
  TempDir dir_;
  int smtp_;
  std::optional<Subprocess> master_;
};

}  // namespace ehabus::testing
