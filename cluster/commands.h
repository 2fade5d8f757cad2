// `ehabus cluster ...`: render, apply, sync and maintenance of the Pacemaker
// configuration, through Pacemaker's own tools (cibadmin, crm_attribute,
// attrd_updater, crm_verify), each run with a deadline. With CIB_file set
// in the environment those tools work on a file instead of a live cluster,
// which is how the tests drive them.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace ehabus::cluster {

// The usage of `ehabus cluster`, as it stands in `ehabus --help`.
inline constexpr const char* kUsage =
    "  cluster render [--format xml|crm|corosync|sbd] [--simulate]\n"
    "      The Pacemaker configuration (or corosync.conf, /etc/default/sbd)\n"
    "      made from this file; --simulate: a CIB for crm_simulate.\n"
    "  cluster apply [--dry-run]\n"
    "      Show the difference from the live CIB, check it with crm_verify\n"
    "      and apply it; unchanged resources keep running.\n"
    "  cluster sync [--restart]\n"
    "      Take the configuration stored in the CIB by `apply` (every node\n"
    "      runs this from a timer); --restart restarts ehabus's services\n"
    "      when it changed.\n"
    "  cluster maintenance on|off\n"
    "      Pacemaker's maintenance-mode, for the rare change that needs it.\n";

// The configuration file a command uses: --config, $EHABUS_CONFIG or the
// default.
std::string ResolveConfigPath(const std::string& explicit_path);

int Command(const Config& config, const std::string& config_path,
            const std::vector<std::string>& args);

// Lines for `ehabus status`: whether this node's configuration is the
// cluster's, and which nodes report a different one. Empty when the node is
// not in a cluster (no Pacemaker tools or no answer).
std::string StatusText(const Config& config, const std::string& config_path);

}  // namespace ehabus::cluster
