#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <thread>

extern char** environ;

namespace ehabus {

Result<Subprocess> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return Fail("spawn: empty command");
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    env[entry.substr(0, entry.find('='))] = entry;
  }
  for (const auto& entry : options.env)
    env[entry.substr(0, entry.find('='))] = entry;
  std::vector<char*> envp;
  for (auto& [name, entry] : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = options.argv;
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  struct Cleanup {
    posix_spawn_file_actions_t* a;
    posix_spawnattr_t* b;
    ~Cleanup() {
      posix_spawn_file_actions_destroy(a);
      posix_spawnattr_destroy(b);
    }
  } cleanup{&actions, &attr};

  posix_spawn_file_actions_addopen(
      &actions, 0,
      options.input_file.empty() ? "/dev/null" : options.input_file.c_str(),
      O_RDONLY, 0);
  int pipe_fds[2] = {-1, -1};
  if (options.output == SpawnOptions::Output::kFile) {
    posix_spawn_file_actions_addopen(&actions, 1, options.output_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else if (options.output == SpawnOptions::Output::kCapture) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return FailErrno("spawn: pipe", errno);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  }
  // Whatever a library opened without O_CLOEXEC stays with us.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // Own process group: a timeout kills the child and everything it started.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);

  Subprocess child;
  int rc = posix_spawnp(&child.pid_, argv[0], &actions, &attr, argv.data(),
                        envp.data());
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (rc != 0) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    child.pid_ = -1;
    return FailErrno("spawn " + options.argv[0], rc);
  }
  child.output_fd_ = pipe_fds[0];
  child.capture_limit_ = options.capture_limit;
  return child;
}

Subprocess::Subprocess(Subprocess&& other) noexcept {
  *this = std::move(other);
}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    output_fd_ = std::exchange(other.output_fd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
    output_ = std::move(other.output_);
    capture_limit_ = other.capture_limit_;
    truncated_ = other.truncated_;
  }
  return *this;
}

Subprocess::~Subprocess() { Reset(); }

void Subprocess::Reset() {
  if (running()) {
    Signal(SIGKILL);
    // A child stuck in uninterruptible sleep (a hung mount) cannot die until
    // the I/O returns; never block on it: give up after a short while.
    (void)Wait(std::chrono::seconds(2));
  }
  if (output_fd_ >= 0) close(output_fd_);
  output_fd_ = -1;
  pid_ = -1;
}

void Subprocess::Signal(int signal) const {
  if (running()) kill(-pid_, signal);
}

void Subprocess::DrainOutput() {
  if (output_fd_ < 0) return;
  char buffer[4096];
  while (true) {
    ssize_t n = read(output_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) {
        close(output_fd_);
        output_fd_ = -1;
      }
      return;
    }
    std::size_t room =
        capture_limit_ > output_.size() ? capture_limit_ - output_.size() : 0;
    if (static_cast<std::size_t>(n) > room) truncated_ = true;
    output_.append(buffer, std::min(room, static_cast<std::size_t>(n)));
    pollfd more{output_fd_, POLLIN, 0};
    if (poll(&more, 1, 0) <= 0) return;
  }
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      // The child is gone; take what it wrote (grandchildren may hold the
      // pipe open: do not wait for them).
      if (output_fd_ >= 0) {
        fcntl(output_fd_, F_SETFL, O_NONBLOCK);
        DrainOutput();
      }
      status_ = status;
      return status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    auto slice = std::min<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
        std::chrono::milliseconds(10));
    if (output_fd_ >= 0) {
      pollfd fd{output_fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(slice.count() + 1)) > 0) DrainOutput();
    } else {
      std::this_thread::sleep_for(slice);
    }
  }
}

int Subprocess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_.value_or(-1);
  if (!status_) {
    Signal(SIGTERM);
    (void)Wait(grace);
  }
  // Whatever is left of the group (members that ignore SIGTERM, or outlived
  // the leader) goes too. The group id stays reserved while it has members,
  // so this cannot hit an unrelated process.
  kill(-pid_, SIGKILL);
  auto status = Wait(std::chrono::seconds(5));
  return status.value_or(-1);  // unkillable for now (uninterruptible I/O)
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") +
           (name ? name : std::to_string(WTERMSIG(status)));
  }
  return "status " + std::to_string(status);
}

int RunResult::exit_code() const {
  if (!finished() || !WIFEXITED(wait_status)) return -1;
  return WEXITSTATUS(wait_status);
}

std::string RunResult::Describe() const {
  if (!started()) return spawn_error;
  if (timed_out) {
    return "no exit within " + std::to_string(took.count()) + " ms (killed)";
  }
  return DescribeWaitStatus(wait_status);
}

RunResult Run(const RunOptions& options) {
  auto start = std::chrono::steady_clock::now();
  RunResult result;
  SpawnOptions spawn;
  spawn.argv = options.argv;
  spawn.env = options.env;
  spawn.input_file = options.input_file;
  if (options.output_file.empty()) {
    spawn.output = SpawnOptions::Output::kCapture;
    spawn.capture_limit = options.capture_limit;
  } else {
    spawn.output = SpawnOptions::Output::kFile;
    spawn.output_file = options.output_file;
  }
  auto child = Subprocess::Spawn(spawn);
  if (!child) {
    result.spawn_error = child.error().message;
    return result;
  }
  auto status =
      child->Wait(std::max(options.timeout, std::chrono::milliseconds(0)));
  if (!status) {
    child->Stop(options.grace);
    result.timed_out = true;
    result.took = options.timeout;
  } else {
    result.wait_status = *status;
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  }
  result.output = child->output();
  return result;
}

}  // namespace ehabus
