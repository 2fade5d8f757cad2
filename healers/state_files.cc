#include "healers/state_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "common/files.h"
#include "common/profile.h"

namespace ehabus::healers {

EscalatedBudgets EscalatedBudgets::From(const Config& config) {
  return EscalatedBudgets(EscalatedFileFrom(config));
}

std::set<std::string> EscalatedBudgets::Read() const {
  std::set<std::string> spent;
  std::ifstream in(path_);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) spent.insert(line);
  }
  return spent;
}

Result<void> EscalatedBudgets::Write(const std::set<std::string>& spent) const {
  if (spent.empty()) {
    if (unlink(path_.c_str()) != 0 && errno != ENOENT)
      return FailErrno("remove " + path_, errno);
    return {};
  }
  std::string text;
  for (const auto& s : spent) text += s + "\n";
  return WriteFileAtomic(path_, text, {.mode = 0644, .sync = true});
}

Result<std::vector<std::string>> EscalatedBudgets::Forget(
    const std::string& target) const {
  std::set<std::string> kept;
  std::vector<std::string> forgotten;
  for (const auto& s : Read()) {
    if (target == "all" || s == target) {
      forgotten.push_back(s);
    } else {
      kept.insert(s);
    }
  }
  if (forgotten.empty()) return forgotten;
  if (auto written = Write(kept); !written)
    return tl::unexpected(written.error());
  return forgotten;
}

std::string HealerLock::PathFrom(const Config& config) {
  return config.String("healer.restart", "state_file") + ".lock";
}

Result<HealerLock> HealerLock::Acquire(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return FailErrno("open " + path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return Fail(path + ": another healer holds it");
    return FailErrno("lock " + path, err);
  }
  return HealerLock(fd);
}

bool HealerLock::Held(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

HealerLock::~HealerLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace ehabus::healers
