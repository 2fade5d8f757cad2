// Running a child process that can never hang its parent.
//
// posix_spawn into its own process group, stdin from /dev/null, every other
// descriptor closed by close-on-exec; stdout and stderr either inherited,
// sent to a file, or captured (bounded). Waiting takes a deadline; at the
// deadline the caller kills the whole group. The destructor kills and reaps
// whatever is still running, so no child outlives its owner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace ehabus {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=VALUE added to (or replacing in) ours
  enum class Output { kInherit, kFile, kCapture } output = Output::kInherit;
  std::string output_file;  // kFile: stdout and stderr appended here
  std::size_t capture_limit = 64 * 1024;
  std::string input_file;  // stdin from this file; empty: /dev/null
};

class Subprocess {
 public:
  static Result<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }
  // Signals the child's whole process group.
  void Signal(int signal) const;
  // The raw wait status once it exited, or nullopt when TIMEOUT passed.
  // Reads captured output meanwhile, so a chatty child cannot block.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM to the group, then after GRACE (or as soon as the child exits)
  // SIGKILL to whatever is left of the group; returns the child's wait
  // status, or -1 when it could not be reaped within 5 s of SIGKILL. The
  // destructor, by contrast, leaves alone what a child that exited by itself
  // left running (a control script may have started a daemon).
  int Stop(std::chrono::milliseconds grace);
  const std::string& output() const { return output_; }
  bool output_truncated() const { return truncated_; }

 private:
  Subprocess() = default;
  void DrainOutput();
  void Reset();

  pid_t pid_ = -1;
  int output_fd_ = -1;
  std::optional<int> status_;
  std::string output_;
  std::size_t capture_limit_ = 0;
  bool truncated_ = false;
};

// "exit 3", "killed by SIGKILL": for messages.
std::string DescribeWaitStatus(int status);

// The one way to run a command to its end: spawned as above, waited for up
// to TIMEOUT, then stopped (SIGTERM to its group, SIGKILL after GRACE).
struct RunOptions {
  std::vector<std::string> argv{};
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds grace{500};
  std::vector<std::string> env{};  // NAME=VALUE added to ours
  std::string input_file{};        // stdin; empty: /dev/null
  std::string output_file{};  // stdout and stderr appended; empty: captured
  std::size_t capture_limit = 4096;
};

struct RunResult {
  std::string spawn_error;  // not empty: the command never started
  bool timed_out = false;   // stopped at the deadline
  int wait_status = 0;      // when it ended by itself
  std::string output;       // captured stdout and stderr
  std::chrono::milliseconds took{0};

  bool started() const { return spawn_error.empty(); }
  bool finished() const { return started() && !timed_out; }
  // The exit code, or -1 (not started, timed out, killed by a signal).
  int exit_code() const;
  bool ok() const { return exit_code() == 0; }
  std::string first_line() const { return output.substr(0, output.find('\n')); }
  // "exit 3", "killed by SIGSEGV", "no exit within 500 ms (killed)", or why
  // it did not start.
  std::string Describe() const;
};

RunResult Run(const RunOptions& options);

}  // namespace ehabus
