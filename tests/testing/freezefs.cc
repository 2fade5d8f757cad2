// freezefs: a FAKE network file system for tests (FUSE, in memory) whose
// behaviour the test switches on demand, because a real NFS server cannot be
// made to hang on cue (and this kernel has no NFS client).
//
//   freezefs MOUNTPOINT CONTROL_FILE [fuse options, e.g. -o fsname=h:/x]
//
// Before every operation it reads CONTROL_FILE: "ok" (or missing) serves
// normally; "freeze" makes every operation wait until the file says
// otherwise (a hung server); "eio" fails every operation with EIO.
#define FUSE_USE_VERSION 31
#include <fuse3/fuse.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string g_control;
std::mutex g_mutex;
std::map<std::string, std::string> g_files;  // "/name" -> content
constexpr std::size_t kCapacity = 64 << 20;

// 0 to serve, or the negative errno to fail with; waits while frozen.
int Gate() {
  for (;;) {
    std::ifstream in(g_control);
    std::string mode;
    in >> mode;
    if (mode == "freeze") {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    return mode == "eio" ? -EIO : 0;
  }
}

int GetAttr(const char* path, struct stat* st, struct fuse_file_info*) {
  if (int gate = Gate()) return gate;
  std::memset(st, 0, sizeof *st);
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  std::lock_guard lock(g_mutex);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(it->second.size());
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t,
            struct fuse_file_info*, enum fuse_readdir_flags) {
  if (int gate = Gate()) return gate;
  if (std::strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  std::lock_guard lock(g_mutex);
  for (const auto& [name, content] : g_files)
    fill(buf, name.c_str() + 1, nullptr, 0,
         static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int Open(const char* path, struct fuse_file_info* fi) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  if (fi->flags & O_TRUNC) it->second.clear();
  fi->direct_io = 1;
  return 0;
}

int Create(const char* path, mode_t, struct fuse_file_info* fi) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  g_files[path].clear();
  fi->direct_io = 1;
  return 0;
}

int Read(const char* path, char* buf, size_t size, off_t offset,
         struct fuse_file_info*) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  const std::string& data = it->second;
  if (static_cast<std::size_t>(offset) >= data.size()) return 0;
  std::size_t n =
      std::min(size, data.size() - static_cast<std::size_t>(offset));
  std::memcpy(buf, data.data() + offset, n);
  return static_cast<int>(n);
}

int Write(const char* path, const char* buf, size_t size, off_t offset,
          struct fuse_file_info*) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  std::size_t end = static_cast<std::size_t>(offset) + size;
  if (end > kCapacity) return -ENOSPC;
  if (it->second.size() < end) it->second.resize(end);
  std::memcpy(it->second.data() + offset, buf, size);
  return static_cast<int>(size);
}

int Truncate(const char* path, off_t size, struct fuse_file_info*) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  it->second.resize(static_cast<std::size_t>(size));
  return 0;
}

int Unlink(const char* path) {
  if (int gate = Gate()) return gate;
  std::lock_guard lock(g_mutex);
  return g_files.erase(path) ? 0 : -ENOENT;
}

int StatFs(const char*, struct statvfs* st) {
  if (int gate = Gate()) return gate;
  std::memset(st, 0, sizeof *st);
  std::size_t used = 0;
  {
    std::lock_guard lock(g_mutex);
    for (const auto& [name, content] : g_files) used += content.size();
  }
  st->f_bsize = st->f_frsize = 4096;
  st->f_blocks = kCapacity / 4096;
  st->f_bfree = st->f_bavail = (kCapacity - used) / 4096;
  st->f_files = 1000;
  st->f_ffree = st->f_favail = 1000 - g_files.size();
  st->f_namemax = 255;
  return 0;
}

int Fsync(const char*, int, struct fuse_file_info*) { return Gate(); }
int Flush(const char*, struct fuse_file_info*) { return Gate(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: freezefs MOUNTPOINT CONTROL_FILE [fuse options]\n");
    return 2;
  }
  g_control = argv[2];
  struct fuse_operations ops {};
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.truncate = Truncate;
  ops.unlink = Unlink;
  ops.statfs = StatFs;
  ops.fsync = Fsync;
  ops.flush = Flush;
  // fuse_main wants: PROGRAM [options] MOUNTPOINT, in the foreground.
  std::vector<char*> args = {argv[0], const_cast<char*>("-f")};
  for (int i = 3; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(argv[1]);
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
