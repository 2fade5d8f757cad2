// Test support: a temporary directory with an ehabus.ini, a real
// ehabus-busd started from the build tree, and polling with deadlines.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/config.h"
#include "common/subprocess.h"

namespace ehabus::testing {

using namespace std::chrono_literals;

// Polls COND every 10 ms until it holds or TIMEOUT passes.
bool WaitUntil(const std::function<bool()>& cond,
               std::chrono::milliseconds timeout);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// Runs a command to completion (deadline 30 s), capturing its output.
struct Ran {
  int status = -1;
  std::string output;
  int exit_code() const;
};
Ran Run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 30s);

// A real broker in a temporary directory.
class BusFixture {
 public:
  explicit BusFixture(std::string extra_ini = "");
  ~BusFixture();

  const std::string& dir() const { return dir_.path(); }
  std::string config_path() const { return dir_.path() + "/ehabus.ini"; }
  std::string pub() const { return "ipc://" + dir() + "/pub.sock"; }
  std::string sub() const { return "ipc://" + dir() + "/sub.sock"; }
  std::string snapshot() const { return "ipc://" + dir() + "/snapshot.sock"; }
  std::string log_path() const { return dir() + "/busd.log"; }
  std::string Log() const;

  // Starts ehabus-busd and waits until it answers STATUS.
  void StartBroker();
  void KillBroker(int signal);
  bool BrokerRunning();
  Subprocess& broker() { return *broker_; }
  // The broker's STATUS reply, or nullopt when it does not answer in 1 s.
  std::optional<nlohmann::json> Status();
  // Spawns the ehabus CLI with --config.
  Subprocess StartCli(std::vector<std::string> args);
  Ran RunCli(std::vector<std::string> args);

  zmq::context_t& context() { return context_; }

 private:
  TempDir dir_;
  zmq::context_t context_{1};
  std::optional<Subprocess> broker_;
};

}  // namespace ehabus::testing
