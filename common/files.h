// Files: the one way ehabus writes a file that another process (or the same
// one after a crash) reads back, and reads a small file whole.
//
// A write goes to a temporary file beside the target, created exclusively
// (O_CREAT|O_EXCL|O_NOFOLLOW, an unpredictable name): a link planted under
// that name is never followed and an existing file never reused. Every
// write is checked; on request the file and then its directory are synced so
// the new contents survive a crash. The rename replaces the target as a
// whole, so a reader sees the old file or the new one, never a mix, and a
// symbolic link at the target is replaced, not followed.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/error.h"

namespace ehabus {

struct WriteOptions {
  mode_t mode = 0644;  // of the new file, before the umask
  // fsync the file before the rename and the directory after it: for state
  // that must survive a power loss (healing state, budgets, the spool).
  bool sync = false;
};

// Replaces PATH by TEXT atomically. Errors name the file and the failing
// step; the temporary file is removed on every error.
Result<void> WriteFileAtomic(const std::string& path, std::string_view text,
                             const WriteOptions& options = {});

// The whole of a regular file (at most MAX_BYTES); an error names the file.
Result<std::string> ReadWholeFile(const std::string& path,
                                  std::size_t max_bytes = 16 * 1024 * 1024);

}  // namespace ehabus
