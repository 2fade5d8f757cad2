// ocf:ehabus:mailstack — the whole mail stack of a profile as one Pacemaker
// resource (installed as /usr/lib/ocf/resource.d/ehabus/mailstack).
//
//   start    every service of the profile in dependency order, each waited
//            for until the service sensor's check passes
//            (`ehabus-sensor-service --probe --only NAME`); then the active
//            marker, which tells the healers the stack runs here.
//   stop     the marker first (no healing of what is being stopped), then
//            every service in reverse order, each escalated to SIGKILL
//            within its share of the timeout; never hangs.
//   monitor  the stack's health as the healers see it: failing once the
//            restart healer spent a service's budget (escalated), or when a
//            service is down and no healer is there to heal it; a service
//            the healer is healing is not a failure. 7 when not running.
//
// Exit codes are OCF's. Messages go to stderr, which pacemaker-execd logs.
#pragma once

#include <string>

namespace ehabus::cluster {

// Runs ACTION (start, stop, monitor, status, validate-all, meta-data) with
// the resource's parameters from OCF_RESKEY_*; returns its OCF exit code.
int RunMailstackAgent(const std::string& action);

}  // namespace ehabus::cluster
