#include "sensors/storage.h"

#include <blkid/blkid.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "bus/event.h"

namespace ehabus::sensors {
namespace {

std::string Unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    bool octal = field[i] == '\\' && i + 3 < field.size();
    for (std::size_t k = 1; octal && k <= 3; ++k)
      octal = field[i + k] >= '0' && field[i + k] <= '7';
    if (octal) {
      out += static_cast<char>((field[i + 1] - '0') * 64 +
                               (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

bool HasOption(const std::string& options, std::string_view option) {
  std::size_t start = 0;
  while (start <= options.size()) {
    std::size_t comma = options.find(',', start);
    if (comma == std::string::npos) comma = options.size();
    if (std::string_view(options).substr(start, comma - start) == option)
      return true;
    start = comma + 1;
  }
  return false;
}

std::string Errno(int error) { return std::strerror(error); }

// A file descriptor closed on every path out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

constexpr std::size_t kProbeSize = 4096;

struct AlignedFree {
  void operator()(char* p) const { std::free(p); }
};

// Writes, syncs and reads back PATH; nullopt when all went well, else what
// failed.
std::optional<std::string> WriteProbe(const std::string& path, bool direct,
                                      const std::string& content) {
  void* raw = nullptr;
  if (posix_memalign(&raw, kProbeSize, kProbeSize) != 0)
    return std::string("out of memory");
  std::unique_ptr<char, AlignedFree> buffer(static_cast<char*>(raw));
  std::memset(buffer.get(), ' ', kProbeSize);
  std::memcpy(buffer.get(), content.data(),
              std::min(content.size(), kProbeSize - 1));
  buffer.get()[kProbeSize - 1] = '\n';

  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW;
  int fd = open(path.c_str(), flags | (direct ? O_DIRECT : 0), 0600);
  if (fd < 0 && direct && errno == EINVAL) {
    direct = false;  // the file system refuses O_DIRECT: the sync still counts
    fd = open(path.c_str(), flags, 0600);
  }
  if (fd < 0) return "open for writing: " + Errno(errno);
  {
    Fd file(fd);
    ssize_t n = pwrite(fd, buffer.get(), kProbeSize, 0);
    if (n < 0) return "write: " + Errno(errno);
    if (static_cast<std::size_t>(n) != kProbeSize)
      return "write: short (" + std::to_string(n) + " bytes)";
    if (fdatasync(fd) != 0) return "fdatasync: " + Errno(errno);
  }
  int rfd = open(path.c_str(),
                 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (direct ? O_DIRECT : 0));
  if (rfd < 0) return "open for reading: " + Errno(errno);
  Fd file(rfd);
  void* raw_back = nullptr;
  if (posix_memalign(&raw_back, kProbeSize, kProbeSize) != 0)
    return std::string("out of memory");
  std::unique_ptr<char, AlignedFree> back(static_cast<char*>(raw_back));
  ssize_t n = pread(rfd, back.get(), kProbeSize, 0);
  if (n < 0) return "read back: " + Errno(errno);
  if (static_cast<std::size_t>(n) != kProbeSize ||
      std::memcmp(back.get(), buffer.get(), kProbeSize) != 0)
    return std::string("read back: content differs from what was written");
  return std::nullopt;
}

double Percent(double used, double total) {
  return total <= 0 ? 0.0 : 100.0 * used / total;
}

}  // namespace

std::vector<MountEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> mounts;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream words(line);
    std::string word;
    while (words >> word) fields.push_back(word);
    // id parent major:minor root mountpoint options [optional...] - type
    // source super_options
    std::size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (fields.size() < 6 || dash + 2 >= fields.size()) continue;
    MountEntry entry;
    unsigned major = 0, minor = 0;
    if (std::sscanf(fields[2].c_str(), "%u:%u", &major, &minor) != 2) continue;
    entry.major = major;
    entry.minor = minor;
    entry.root = Unescape(fields[3]);
    entry.mountpoint = Unescape(fields[4]);
    entry.options = fields[5];
    entry.fstype = Unescape(fields[dash + 1]);
    entry.source = Unescape(fields[dash + 2]);
    if (dash + 3 < fields.size()) entry.super_options = fields[dash + 3];
    mounts.push_back(std::move(entry));
  }
  return mounts;
}

std::optional<MountEntry> FindMount(const std::vector<MountEntry>& mounts,
                                    const std::string& mountpoint) {
  std::string want = mountpoint;
  while (want.size() > 1 && want.back() == '/') want.pop_back();
  std::optional<MountEntry> found;
  for (const auto& m : mounts)
    if (m.mountpoint == want) found = m;
  return found;
}

bool SameDevice(const std::string& device, const MountEntry& entry,
                std::string& reason) {
  std::string mounted = entry.source + " (" + std::to_string(entry.major) +
                        ":" + std::to_string(entry.minor) + ")";
  std::string path;
  bool tag = device.starts_with("UUID=") || device.starts_with("LABEL=") ||
             device.starts_with("PARTUUID=") ||
             device.starts_with("PARTLABEL=");
  if (tag) {
    blkid_cache cache = nullptr;
    char* resolved = blkid_evaluate_tag(device.c_str(), nullptr, &cache);
    if (cache) blkid_put_cache(cache);
    if (!resolved) {
      reason =
          device + " names no device here (libblkid); mounted is " + mounted;
      return false;
    }
    path = resolved;
    std::free(resolved);
  } else if (device.starts_with("/")) {
    path = device;
  } else if (device.find(':') != std::string::npos) {
    // Network source: NFS shows HOST:/EXPORT, sshfs USER@HOST:/EXPORT.
    const std::string& s = entry.source;
    bool same =
        s == device || (s.size() > device.size() && s.ends_with(device) &&
                        s[s.size() - device.size() - 1] == '@');
    if (!same) reason = "expected " + device + ", mounted is " + entry.source;
    return same;
  } else {
    reason = "device \"" + device +
             "\" is neither /dev/PATH, UUID=, LABEL= nor HOST:/EXPORT";
    return false;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    reason = "expected " + device + ": " + path + ": " + Errno(errno) +
             "; mounted is " + mounted;
    return false;
  }
  if (!S_ISBLK(st.st_mode)) {
    bool same = entry.source == path;
    if (!same) reason = "expected " + device + ", mounted is " + entry.source;
    return same;
  }
  bool same =
      major(st.st_rdev) == entry.major && minor(st.st_rdev) == entry.minor;
  if (!same) {
    reason = "expected " + device + (tag ? " = " + path : std::string()) +
             " (" + std::to_string(major(st.st_rdev)) + ":" +
             std::to_string(minor(st.st_rdev)) + "), mounted is " + mounted;
  }
  return same;
}

ProbeResult ProbeMount(const MountSpec& spec, const std::string& node,
                       Deadline deadline) {
  auto start = std::chrono::steady_clock::now();
  ProbeResult result;
  const std::string where = spec.mountpoint;
  result.data["mountpoint"] = where;
  result.data["device"] = spec.device;

  std::ifstream file("/proc/self/mountinfo");
  std::stringstream text;
  text << file.rdbuf();
  auto mount = FindMount(ParseMountInfo(text.str()), where);
  result.data["mounted"] = mount.has_value();
  if (!mount) {
    if (spec.cluster_managed) {
      return Finish(result, start, true,
                    where + ": not mounted on this node (standby)");
    }
    return Finish(result, start, false, where + ": not mounted");
  }
  result.data["source"] = mount->source;
  result.data["fstype"] = mount->fstype;
  std::string reason;
  if (!SameDevice(spec.device, *mount, reason))
    return Finish(result, start, false, where + ": wrong device: " + reason);
  if (!spec.fstype.empty() && mount->fstype != spec.fstype) {
    return Finish(result, start, false,
                  where + ": file system is " + mount->fstype + ", expected " +
                      spec.fstype);
  }
  bool read_only =
      HasOption(mount->options, "ro") || HasOption(mount->super_options, "ro");

  // From here on the calls reach the file system and may hang.
  struct statvfs vfs {};
  if (statvfs(where.c_str(), &vfs) != 0)
    return Finish(result, start, false, where + ": statvfs: " + Errno(errno));
  read_only = read_only || (vfs.f_flag & ST_RDONLY) != 0;
  result.data["read_only"] = read_only;
  if (read_only) {
    return Finish(result, start, false,
                  where + ": mounted read-only (" + mount->options + ")");
  }
  double total = static_cast<double>(vfs.f_blocks - vfs.f_bfree + vfs.f_bavail);
  double used = Percent(static_cast<double>(vfs.f_blocks - vfs.f_bfree), total);
  double inodes = vfs.f_files == 0
                      ? 0.0
                      : Percent(static_cast<double>(vfs.f_files - vfs.f_ffree),
                                static_cast<double>(vfs.f_files));
  result.data["used_percent"] = std::round(used * 10) / 10;
  result.data["inodes_used_percent"] = std::round(inodes * 10) / 10;
  result.data["free_bytes"] =
      static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);

  DIR* dir = opendir(where.c_str());
  if (!dir)
    return Finish(result, start, false, where + ": opendir: " + Errno(errno));
  errno = 0;
  while (readdir(dir) != nullptr) {
    // Reading the whole top directory is small for a mail store's root.
  }
  int read_error = errno;
  closedir(dir);
  if (read_error != 0)
    return Finish(result, start, false,
                  where + ": readdir: " + Errno(read_error));

  if (used > spec.max_used_percent || inodes > spec.max_used_percent) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  ": full: %.1f%% of space, %.1f%% of inodes used (limit %d%%)",
                  used, inodes, spec.max_used_percent);
    result.data["full"] = true;  // the failover healer's own policy
    return Finish(result, start, false, where + buf);
  }
  if (spec.write_probe) {
    std::string probe = where + "/" + spec.probe_file + "." + node;
    bool direct = mount->major != 0;  // a block device, not a virtual fs
    if (auto error = WriteProbe(probe, direct,
                                "ehabus probe from " + node + " at " +
                                    std::to_string(WallMicros()))) {
      return Finish(result, start, false, probe + ": " + *error);
    }
    result.data["direct_io"] = direct;
  }
  if (std::chrono::steady_clock::now() > deadline) {
    return Finish(result, start, false,
                  where + ": answered, but only after the deadline");
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, ": %.1f%% used", used);
  return Finish(result, start, true,
                where + ": " + mount->source + " " + mount->fstype + buf +
                    (spec.write_probe ? ", probe written and read back" : ""));
}

}  // namespace ehabus::sensors
