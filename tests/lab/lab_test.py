#!/usr/bin/python3
"""Lab integration tests: a real two-node Pacemaker cluster (tests/lab/lab),
with SBD fencing, shared ext4 with MMP, a VIP and a listener behind it.

  1. crash of the active node: the survivor fences it, mounts the storage
     and answers on the VIP (reached from the client namespace);
  2. heartbeat partition: exactly one node holds the storage throughout, and
     no mount is refused by MMP (the split-brain tripwire never fires);
  3. freeze of the active node longer than the watchdog timeout: the frozen
     node is powered off (emulated watchdog) before the other mounts;
  4. a freeze shorter than the token: nothing moves, nothing is fenced;
  5. the network share hung on the active node: ehabus's sensor and
     failover healer hand off, Pacemaker moves the stack (no fencing);
  6. `lab down` leaves nothing behind.

Exit 0 when all pass, 1 when one fails, 77 (skipped) when not root.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "lab")
sys.path.insert(0, HERE)
failures = []


def say(msg):
    print("[lab_test] " + msg, flush=True)


def check(cond, msg):
    say(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)
    return cond


def lab(*args, check_rc=True, timeout=600):
    r = subprocess.run([LAB] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError("lab %s: exit %d\n%s" % (" ".join(args),
                                                   r.returncode, r.stdout))
    return r.stdout


def state():
    with open("/run/ehabus-lab/state.json") as f:
        return json.load(f)


def crm_xml():
    """crm_mon's view from a node that is in the quorate partition with a
    DC (a node still joining sees no resources)."""
    import xml.etree.ElementTree as ET
    for name in ("node1", "node2"):
        r = subprocess.run([LAB, "exec", name, "--", "crm_mon", "-1",
                            "--output-as=xml"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=30)
        if r.returncode != 0:
            continue
        try:
            dc = ET.fromstring(r.stdout).find(".//current_dc")
        except ET.ParseError:
            continue
        if dc is not None and dc.get("present") == "true" and \
                dc.get("with_quorum") == "true":
            return r.stdout
    return ""


def placement():
    import xml.etree.ElementTree as ET
    out = {}
    try:
        root = ET.fromstring(crm_xml())
    except ET.ParseError:
        return out
    for r in root.iter("resource"):
        if r.get("active") == "true":
            for n in r.iter("node"):
                out[r.get("id")] = n.get("name")
    return out


def node_up(name):
    for n in state()["nodes"]:
        if n["name"] == name:
            pid = n.get("nspawn")
            return bool(pid) and os.path.exists("/proc/%d" % pid) and \
                "Z" not in open("/proc/%d/stat" % pid).read().split()[2]
    return False


def mounted(name):
    r = subprocess.run([LAB, "exec", name, "--", "findmnt", "-n",
                        "/srv/mail"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=30)
    return r.returncode == 0 and r.stdout.strip() != ""


def journal(name, pattern):
    r = subprocess.run([LAB, "exec", name, "--", "sh", "-c",
                        "journalctl -o short-monotonic --no-pager | grep -E "
                        "'%s' || true" % pattern],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True, timeout=60)
    return r.stdout.splitlines()


def first_time(lines, after=0.0):
    """The first journal line's monotonic time later than AFTER."""
    for line in lines:
        if line.startswith("["):
            t = float(line[1:line.index("]")])
            if t > after:
                return t
    return None


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except Exception:  # the node may be going down meanwhile
            pass
        time.sleep(0.5)
    say("timed out after %d s waiting for %s" % (timeout, what))
    return False


def settle():
    """Both nodes up and online, the stack running, the VIP answering."""
    lab("heal")
    for name in ("node1", "node2"):
        if not node_up(name):
            lab("boot", name)
    lab("wait-online", "--timeout", "180", check_rc=False)
    return wait(lambda: len(set(placement().values())) >= 1 and
                "mailstack" in placement() and
                subprocess.run([LAB, "wait-vip", "--timeout", "2"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL).returncode == 0 and
                all(n in online() for n in ("node1", "node2")),
                240, "the cluster settled")


def online():
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(crm_xml())
    except ET.ParseError:
        return []
    return [e.get("name") for e in root.iter("node")
            if e.get("online") == "true"]


def active_node():
    """The node running the stack (waiting out a moment without a DC)."""
    found = {}
    wait(lambda: found.update(placement()) or "mailstack" in found, 60,
         "the stack's node")
    if "mailstack" not in found:
        raise RuntimeError("no node runs the stack")
    return found["mailstack"]


def other(name):
    return "node1" if name == "node2" else "node2"


def test_crash():
    active = active_node()
    survivor = other(active)
    out = lab("crash", active)
    crash_t = float(out.split()[0])
    r = subprocess.run([LAB, "wait-vip", "--timeout", "120"],
                       stdout=subprocess.PIPE, text=True)
    check(r.returncode == 0, "crash %s: the VIP answers again" % active)
    if r.returncode == 0:
        say("crash to VIP answering: %.1f s" %
            (float(r.stdout.split()[0]) - crash_t))
    where = placement()
    check(where.get("fs-mail") == survivor and
          where.get("mailstack") == survivor,
          "crash: storage and stack on the survivor %s (%s)" %
          (survivor, where))
    check(mounted(survivor), "crash: %s mounted the storage" % survivor)
    fenced = journal(survivor, "Operation .reboot. targeting %s by .*OK" %
                     active)
    check(bool(fenced), "crash: %s fenced %s before taking over" %
          (survivor, active))
    mount = first_time(journal(survivor, r"Filesystem\(fs-mail\).*Running "
                                         "start"), crash_t)
    fence = first_time(fenced, crash_t)
    check(fence is not None and mount is not None and fence < mount,
          "crash: fencing (%s) before the mount (%s)" % (fence, mount))


def test_partition():
    active = active_node()
    lab("partition")
    both, none_after = 0, 0
    deadline = time.monotonic() + 45
    samples = 0
    while time.monotonic() < deadline:
        holders = [n for n in ("node1", "node2")
                   if node_up(n) and mounted(n)]
        samples += 1
        if len(holders) > 1:
            both += 1
        time.sleep(0.5)
    holders = [n for n in ("node1", "node2") if node_up(n) and mounted(n)]
    check(both == 0, "partition: never both nodes holding the storage "
                     "(%d samples)" % samples)
    check(holders == [active], "partition: the active node %s still holds "
                               "it (holders %s)" % (active, holders))
    refused = []
    for n in ("node1", "node2"):
        if node_up(n):
            refused += journal(n, "MMP|already mounted|Couldn't mount")
    check(not refused, "partition: the MMP tripwire never fired %s" %
          refused[:3])


def test_long_freeze():
    active = active_node()
    survivor = other(active)
    out = lab("freeze", active)
    freeze_t = float(out.split()[0])
    ok = wait(lambda: mounted(survivor), 120, "the survivor's mount")
    check(ok, "long freeze: %s mounted the storage" % survivor)
    log = open("/run/ehabus-lab/%s/watchdog.log" % active).read()
    fired = [float(l.split()[0]) for l in log.splitlines() if "FIRED" in l]
    fired = [t for t in fired if t > freeze_t]
    check(bool(fired), "long freeze: the watchdog powered %s off" % active)
    mount = first_time(journal(survivor, r"Filesystem\(fs-mail\).*Running "
                                         "start"), freeze_t)
    check(bool(fired) and mount is not None and fired[0] < mount,
          "long freeze: powered off (%s) before the other mounts (%s)" %
          (fired[0] if fired else None, mount))
    check(not node_up(active), "long freeze: %s is down" % active)
    answered = subprocess.run([LAB, "wait-vip", "--timeout", "90"],
                              stdout=subprocess.DEVNULL).returncode == 0
    if not check(answered, "long freeze: the VIP answers"):
        print(lab("exec", survivor, "--", "crm_mon", "-1", "-r",
                  check_rc=False), flush=True)


def test_short_freeze():
    active = active_node()
    fenced_before = len(journal(other(active), "Operation .reboot."))
    lab("freeze", active, "--for", "1.5")
    time.sleep(20)
    after = placement()
    check(after.get("mailstack") == active and
          after.get("fs-mail") == active,
          "short freeze: nothing moved (%s)" % after)
    check(node_up(active), "short freeze: %s still up" % active)
    check(len(journal(other(active), "Operation .reboot.")) ==
          fenced_before, "short freeze: nobody fenced")


def test_network_storage_hang():
    """The network share hangs on the active node only: ehabus's storage
    sensor sees it, the failover healer turns the node's health red, and
    Pacemaker moves the stack to the node whose share still works."""
    active = active_node()
    out = lab("storage-hang", "archive", active)
    hang_t = float(out.split()[0])
    moved = wait(lambda: placement().get("mailstack") == other(active), 180,
                 "the stack on the other node")
    check(moved, "storage hang: the stack moved from %s" % active)
    r = subprocess.run([LAB, "wait-vip", "--timeout", "60"],
                       stdout=subprocess.PIPE, text=True)
    check(r.returncode == 0, "storage hang: the VIP answers")
    if r.returncode == 0:
        say("network storage hung to VIP answering on the other node: "
            "%.1f s" % (float(r.stdout.split()[0]) - hang_t))
    check(node_up(active), "storage hang: %s was not fenced (a move "
                           "sufficed)" % active)


def main():
    if os.geteuid() != 0:
        print("lab tests need root; skipped")
        return 77
    start = time.monotonic()
    try:
        out = lab("up", timeout=400)
        say(out.strip().splitlines()[-1])
        say("lab up took %.0f s" % (time.monotonic() - start))
        for test in (test_network_storage_hang, test_crash,
                     test_partition, test_long_freeze, test_short_freeze):
            if not settle():
                check(False, "cluster settled before %s" % test.__name__)
                break
            say("--- " + test.__name__)
            test()
    except Exception as e:  # report and still tear down
        check(False, "exception: %s" % e)
    finally:
        r = subprocess.run([LAB, "down"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        import importlib.machinery
        labmod = importlib.machinery.SourceFileLoader("labmod",
                                                      LAB).load_module()
        left = labmod.leftovers()
        check(r.returncode == 0 and not left,
              "lab down leaves nothing behind %s" % left)
    say("%d failure(s) in %.0f s" % (len(failures), time.monotonic() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
