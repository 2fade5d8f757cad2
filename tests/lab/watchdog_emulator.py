#!/usr/bin/python3
"""The lab's emulated hardware watchdog (this kernel has no softdog).

    watchdog_emulator.py FIFO TIMEOUT_S NODE STATE_FILE

Runs outside the node, on the host. The node's sbd opens FIFO (bound into
the node as /dev/watchdog) and writes a byte for every tickle, as it would
to a real watchdog device. Once the first tickle arrived, TIMEOUT_S without
one powers the node off: its init is killed with SIGKILL (after thawing its
cgroup, since a frozen task takes no signal), which ends every process,
mount and address of the node, as a hardware reset would. A "V" written
just before sbd closes the device is the magic close: disarmed until the
next tickle. Closing without it leaves the watchdog armed, as on hardware.
"""
import json
import os
import select
import signal
import sys
import time


def node_init(state_file, name):
    try:
        with open(state_file) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    for n in state.get("nodes", []):
        if n["name"] != name:
            continue
        pid = n.get("nspawn")
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                children = f.read().split()
        except (OSError, TypeError):
            return None
        for c in children:
            try:
                with open("/proc/%s/comm" % c) as f:
                    if f.read().strip() == "systemd":
                        return int(c)
            except OSError:
                pass
    return None


def main():
    fifo, timeout, name, state_file = (sys.argv[1], float(sys.argv[2]),
                                       sys.argv[3], sys.argv[4])
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    armed, last, last_byte = False, time.monotonic(), b""
    print("%.3f %s: watchdog emulator, timeout %.0f s" %
          (time.monotonic(), name, timeout), flush=True)
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        now = time.monotonic()
        if ready:
            data = os.read(fd, 4096)
            if data:
                if not armed:
                    print("%.3f %s: armed" % (now, name), flush=True)
                armed, last, last_byte = True, now, data[-1:]
            else:
                # The writer closed: magic close disarms, else stays armed.
                if armed and last_byte == b"V":
                    armed = False
                    print("%.3f %s: disarmed (magic close)" % (now, name),
                          flush=True)
                time.sleep(0.1)
        if armed and now - last > timeout:
            init = node_init(state_file, name)
            print("%.3f %s: FIRED after %.1f s without a tickle: power off "
                  "(init %s)" % (now, name, now - last, init), flush=True)
            # SIGKILL first: pending on a frozen node, it ends every task
            # of it the moment the cgroup thaws, before any runs again.
            if init:
                try:
                    os.kill(init, signal.SIGKILL)
                except OSError:
                    pass
            freezer = "/sys/fs/cgroup/freezer/ehabus-lab/%s/freezer.state" % name
            try:
                with open(freezer, "w") as f:
                    f.write("THAWED\n")
            except OSError:
                pass
            return


if __name__ == "__main__":
    main()
