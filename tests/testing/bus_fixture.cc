#include "tests/testing/bus_fixture.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <zmq_addon.hpp>

#include "bus/endpoints.h"

namespace ehabus::testing {

bool WaitUntil(const std::function<bool()>& cond,
               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/ehabus-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name,
                           const std::string& text) const {
  std::string path = path_ + "/" + name;
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

int Ran::exit_code() const {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Ran Run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.output = SpawnOptions::Output::kCapture;
  auto child = Subprocess::Spawn(options);
  if (!child) {
    ADD_FAILURE() << child.error().message;
    return {};
  }
  auto status = child->Wait(timeout);
  if (!status) {
    ADD_FAILURE() << options.argv[0] << " did not finish within "
                  << timeout.count() << " ms";
    child->Stop(100ms);
    return {-1, child->output()};
  }
  return {*status, child->output()};
}

BusFixture::BusFixture(std::string extra_ini) {
  std::string ini = "[node]\nname = testnode\n[bus]\npub_endpoint = ipc://" +
                    dir() + "/pub.sock\nsub_endpoint = ipc://" + dir() +
                    "/sub.sock\nsnapshot_endpoint = ipc://" + dir() +
                    "/snapshot.sock\n" + extra_ini;
  dir_.Write("ehabus.ini", ini);
}

BusFixture::~BusFixture() {
  if (broker_) broker_->Stop(2s);
}

std::string BusFixture::Log() const {
  std::ifstream in(log_path());
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void BusFixture::StartBroker() {
  SpawnOptions options;
  options.argv = {EHABUS_BUSD, "--config", config_path()};
  options.output = SpawnOptions::Output::kFile;
  options.output_file = log_path();
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  broker_.emplace(std::move(*child));
  ASSERT_TRUE(WaitUntil(
      [this] { return Status().has_value() || !BrokerRunning(); }, 10s));
  ASSERT_TRUE(BrokerRunning()) << Log();
}

void BusFixture::KillBroker(int signal) {
  ASSERT_TRUE(broker_);
  broker_->Signal(signal);
  ASSERT_TRUE(broker_->Wait(10s).has_value());
  broker_.reset();
}

bool BusFixture::BrokerRunning() {
  return broker_ && !broker_->Wait(0ms).has_value();
}

std::optional<nlohmann::json> BusFixture::Status() {
  zmq::socket_t dealer(context_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(snapshot());
  dealer.send(zmq::buffer(kStatusRequest), zmq::send_flags::dontwait);
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 1000ms);
  if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  (void)zmq::recv_multipart(dealer, std::back_inserter(parts));
  if (parts.size() != 2) return std::nullopt;
  return nlohmann::json::parse(parts[1].to_string_view());
}

Subprocess BusFixture::StartCli(std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {EHABUS_CLI, "--config", config_path()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.output = SpawnOptions::Output::kCapture;
  auto child = Subprocess::Spawn(options);
  if (!child) std::abort();
  return std::move(*child);
}

Ran BusFixture::RunCli(std::vector<std::string> args) {
  std::vector<std::string> argv = {EHABUS_CLI, "--config", config_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(std::move(argv));
}

}  // namespace ehabus::testing
