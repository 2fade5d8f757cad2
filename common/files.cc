#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace ehabus {
namespace {

std::string RandomSuffix() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string suffix(12, 'x');
  for (auto& c : suffix) c = kAlphabet[pick(generator)];
  return suffix;
}

// Directory and base name of PATH ("." for a bare name).
std::pair<std::string, std::string> Split(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

bool WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Result<void> WriteFileAtomic(const std::string& path, std::string_view text,
                             const WriteOptions& options) {
  auto [dir, base] = Split(path);
  if (base.empty()) return Fail(path + ": not a file name");
  std::string tmp;
  int fd = -1;
  // A name taken (by chance or by a planted file) is tried again with
  // another; O_EXCL fails on a symbolic link too, so none is followed.
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    tmp = dir + "/." + base + "." + RandomSuffix() + ".tmp";
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              options.mode);
    if (fd < 0 && errno != EEXIST) return FailErrno("create " + tmp, errno);
  }
  if (fd < 0) return FailErrno("create " + tmp, EEXIST);
  auto fail = [&](const std::string& step) {
    int err = errno;
    if (fd >= 0) close(fd);
    unlink(tmp.c_str());
    return FailErrno(step, err);
  };
  if (!WriteAll(fd, text)) return fail("write " + tmp);
  if (options.sync && fsync(fd) != 0) return fail("sync " + tmp);
  int closed = close(fd);
  fd = -1;
  if (closed != 0) return fail("close " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return fail("rename " + tmp + " to " + path);
  if (options.sync) {
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return FailErrno("open " + dir, errno);
    int synced = fsync(dfd);
    int err = errno;
    close(dfd);
    if (synced != 0) return FailErrno("sync " + dir, err);
  }
  return {};
}

Result<std::string> ReadWholeFile(const std::string& path,
                                  std::size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return FailErrno(path, errno);
  std::string text;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return FailErrno(path, err);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      close(fd);
      return Fail(path + ": larger than " + std::to_string(max_bytes) +
                  " bytes");
    }
  }
  close(fd);
  return text;
}

}  // namespace ehabus
