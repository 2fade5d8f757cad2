// Storage checks: one mount of shared storage, as the node sees it.
//
// A check reads /proc/self/mountinfo (never blocks), finds what is mounted at
// the mount point, compares it with the expected device (a /dev path,
// UUID=/LABEL= resolved with libblkid, or a network HOST:/EXPORT source),
// then touches the file system: statvfs (read-only flag, space and inodes
// used), a directory read, and optionally a write, sync and read-back of a
// probe file (O_DIRECT on block devices, so the page cache cannot answer for
// the disk). Those calls can hang on a dead mount; the runtime runs the check
// on a thread it abandons at the deadline.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sensors/probe.h"

namespace ehabus::sensors {

struct MountSpec {
  std::string name;        // [storage.NAME]
  std::string device;      // /dev/sdb1, UUID=..., LABEL=..., host:/export
  std::string mountpoint;  // absolute
  std::string fstype;      // expected, empty: any
  bool write_probe = true;
  std::string probe_file = ".ehabus-probe";  // node name appended
  int max_used_percent = 95;
  bool cluster_managed = true;  // not mounted here is standby, not failure
};

// One line of /proc/self/mountinfo.
struct MountEntry {
  unsigned major = 0, minor = 0;
  std::string root, mountpoint, options, fstype, source, super_options;
};

// Parses mountinfo TEXT (octal escapes such as \040 decoded).
std::vector<MountEntry> ParseMountInfo(const std::string& text);

// The visible mount at MOUNTPOINT (the last one listed: overmounts win).
std::optional<MountEntry> FindMount(const std::vector<MountEntry>& mounts,
                                    const std::string& mountpoint);

// Whether DEVICE (as configured) names what ENTRY has mounted; on no, REASON
// says what was expected and what is there.
bool SameDevice(const std::string& device, const MountEntry& entry,
                std::string& reason);

// One check of SPEC; NODE names the probe file.
ProbeResult ProbeMount(const MountSpec& spec, const std::string& node,
                       Deadline deadline);

}  // namespace ehabus::sensors
