#!/usr/bin/python3
"""Lab integration tests: mail through a real two-node Pacemaker cluster
(tests/lab/lab) with SBD fencing, the mail stack's state on a shared ext4
disk with MMP, and ehabus on every node. Each scenario runs under mail load
(tests/lab/rehearse.py: the sender in the client namespace, the verifier
reading every mailbox over IMAP afterwards):

  1. the network share hung on the active node: the stack runs on the other
     node within 60 s, nobody is fenced, 0 lost;
  2. kill -9 mariadb: healed in place with its dependents (postfix,
     dovecot), memcached untouched, the stack stays, 0 lost, exactly one
     incident mail at the sink;
  3. crash of the active node: fenced before the survivor mounts the disk,
     mail accepted on the VIP again, 0 lost; Pacemaker's events on the
     survivor's bus, and its mail telling the loss and the takeover;
  4. heartbeat partition: never both nodes hold the shared disk, exactly
     one holds it, 0 lost;
  5. a freeze shorter than the token: nothing moves, nobody fenced;
  6. `lab down` leaves nothing behind.

In every scenario the shared disk is sampled twice a second: never mounted
by two nodes at once. Exit 0 when all pass, 1 when one fails, 77 (skipped)
when not root.
"""
import importlib.machinery
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
lab = importlib.machinery.SourceFileLoader(
    "labmod", os.path.join(HERE, "lab")).load_module()
import rehearse  # noqa: E402

rehearse.L = lab
failures = []


def say(msg):
    print("[lab_test] " + msg, flush=True)


def check(cond, msg):
    say(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)
    return cond


def common(row):
    """What holds in every scenario."""
    name = row["scenario"]
    check(row["both_held_samples"] == 0,
          "%s: never both nodes holding the shared disk (%d samples)" %
          (name, row["samples"]))
    check(row["lost"] == 0 and row["fetch_error"] is None,
          "%s: 0 lost (%d accepted, %d lost %s, %d duplicated, %d still "
          "queued)" % (name, row["accepted"], row["lost"],
                       row["lost_ids"][:5], row["duplicated"],
                       row["queued"]))
    check(row["accepted"] >= 50, "%s: mail flowed (%d accepted)" %
          (name, row["accepted"]))


def test_storage_hang(state, events):
    row = rehearse.run_scenario("storage-hang", state, events, 1,
                                notices=False)
    common(row)
    check(row["moved_s"] is not None and row["moved_s"] <= 60,
          "storage hang: the stack on the other node within 60 s (%s s)" %
          row["moved_s"])
    check(row["stack_after"] not in (None, row["stack_before"]),
          "storage hang: the stack moved %s -> %s" %
          (row["stack_before"], row["stack_after"]))
    check("fenced" not in row["action"],
          "storage hang: nobody fenced, a move sufficed (%s)" % row["action"])
    say("storage hang: mail accepted again after %s s" % row["mail_back_s"])
    return row


def test_mariadb_kill(state, events):
    row = rehearse.run_scenario("mariadb-kill", state, events, 2,
                                notices=True)
    common(row)
    started = [e for e in row["events"]
               if e["topic"].startswith("healing.") and
               e["topic"].endswith(".started")]
    data = started[0]["data"] if started else {}
    check(len(started) == 1 and data.get("services") == ["mariadb"],
          "mariadb kill: one healing, of mariadb (%s)" %
          [e["topic"] for e in started])
    deps = set(data.get("dependents", []))
    check({"postfix", "dovecot"} <= deps and "memcached" not in deps,
          "mariadb kill: its dependents postfix and dovecot restarted, "
          "memcached not (%s)" % sorted(deps))
    succeeded = [e for e in row["events"]
                 if e["topic"] == "healing.mariadb.succeeded"]
    check(bool(succeeded), "mariadb kill: healing.mariadb.succeeded")
    pids = row["pids"]
    check(pids["before"]["memcached"] is not None and
          pids["before"]["memcached"] == pids["after"]["memcached"],
          "mariadb kill: memcached untouched (pid %s -> %s)" %
          (pids["before"]["memcached"], pids["after"]["memcached"]))
    check(pids["before"]["mariadbd"] != pids["after"]["mariadbd"] and
          pids["after"]["mariadbd"] is not None,
          "mariadb kill: mariadbd restarted (pid %s -> %s)" %
          (pids["before"]["mariadbd"], pids["after"]["mariadbd"]))
    check(row["stack_after"] == row["stack_before"] and
          "fenced" not in row["action"],
          "mariadb kill: healed in place, nothing moved (%s)" % row["action"])
    check(row["incidents"] == 1 and row["notifications"] == 1,
          "mariadb kill: exactly one incident mail (%d mails, %d "
          "incidents: %s)" % (row["notifications"], row["incidents"],
                              row["notification_subjects"]))
    say("mariadb kill: mail accepted again after %s s" % row["mail_back_s"])
    return row


def test_crash(state, events):
    since = time.time()
    row = rehearse.run_scenario("node-crash", state, events, 3,
                                notices=False)
    common(row)
    active, survivor = row["stack_before"], row["stack_after"]
    check(survivor not in (None, active),
          "crash: the stack on the survivor (%s -> %s)" % (active, survivor))
    # Pacemaker's own events on the survivor's bus, from its alert agent
    # (run by Pacemaker as hacluster, through the broker's alert socket).
    alerts = [e["topic"] for e in row["events"] if e["node"] == survivor and
              e["topic"].startswith("cluster.")]
    check("cluster.fencing.%s.ok" % active in alerts and
          "cluster.resource.mailstack.start.ok" in alerts,
          "crash: Pacemaker's fencing and start on %s's bus (%s)" %
          (survivor, sorted(set(alerts))[:8]))
    # And the survivor tells it: the peer lost, then (fenced) the takeover.
    wanted = ("lab %s: " % survivor, "cluster.fencing.%s" % active,
              "cluster.node.%s" % active)
    subjects = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        subjects = [rehearse.labmail.decode_subject(h.get("subject", ""))
                    for t, h in rehearse.labmail.sink_messages(lab.STATE_DIR)
                    if t >= since - 1]
        told = [x for x in subjects if all(w in x for w in wanted)]
        if any("failed over" in x for x in told):
            break
        time.sleep(2)
    told = [x for x in subjects if all(w in x for w in wanted)]
    check(any("failed over" in x for x in told),
          "crash: %s mailed the loss and its takeover (%s)" %
          (survivor, told))
    check(row["mail_back_s"] is not None,
          "crash: mail accepted on the VIP again (after %s s)" %
          row["mail_back_s"])
    # From the survivor's journal: the fencing confirmed before its mount.
    fence = rehearse.journal_since(
        lab.load_state(), survivor, row["fault_t"],
        "Operation .reboot. targeting %s by .*OK" % active)
    mount = rehearse.journal_since(
        lab.load_state(), survivor, row["fault_t"],
        r"Filesystem\(fs-mail\).*Running start")
    check(bool(fence) and bool(mount) and fence[0][0] < mount[0][0],
          "crash: %s fenced (%s) before %s mounted (%s)" %
          (active, fence[0][0] if fence else None, survivor,
           mount[0][0] if mount else None))
    return row


def test_partition(state, events):
    row = rehearse.run_scenario("partition", state, events, 4,
                                notices=False)
    common(row)
    check(len(row["holders_end"]) == 1,
          "partition: exactly one node holds the shared disk (%s)" %
          row["holders_end"])
    refused = []
    for n in lab.load_state()["nodes"]:
        if lab.node_init(n):
            refused += rehearse.journal_since(
                lab.load_state(), n["name"], row["fault_t"],
                "MMP|already mounted|Couldn't mount")
    check(not refused, "partition: the MMP tripwire never fired %s" %
          refused[:3])
    return row


def test_short_freeze(state, events):
    state = rehearse.settle(state)
    active = rehearse.stack_node(state)
    wall = time.time()
    lab.cmd_fault("freeze", [active, "--for", "1.5"])
    time.sleep(20)
    after = rehearse.stack_node(state)
    check(after == active, "short freeze: nothing moved (%s -> %s)" %
          (active, after))
    check(lab.node_init(lab.node(state, active)) is not None,
          "short freeze: %s still up" % active)
    fenced = rehearse.fenced_since(state, wall)
    check(not fenced, "short freeze: nobody fenced %s" % fenced)


def main():
    if os.geteuid() != 0:
        print("lab tests need root; skipped")
        return 77
    start = time.monotonic()
    rows = []
    events = None
    try:
        lab.cmd_up([])
        say("lab up took %.0f s" % (time.monotonic() - start))
        state = lab.load_state()
        events = rehearse.Events(state)
        for test in (test_storage_hang, test_mariadb_kill, test_crash,
                     test_partition, test_short_freeze):
            say("--- " + test.__name__)
            t0 = time.monotonic()
            try:
                row = test(lab.load_state(), events)
                if row:
                    rows.append(row)
            except SystemExit as e:  # the lab gave up on something
                check(False, "%s: %s" % (test.__name__, e))
            say("%s took %.0f s" % (test.__name__, time.monotonic() - t0))
    except (SystemExit, Exception) as e:  # report and still tear down
        check(False, "exception: %r" % e)
    finally:
        if events:
            events.close()
        if rows:
            print(rehearse.table(rows), flush=True)
            out = os.environ.get("EHABUS_LAB_RESULTS")
            if out:
                with open(out, "w") as f:
                    json.dump(rows, f, indent=1)
        try:
            lab.cmd_down([])
        except SystemExit as e:
            check(False, "lab down: %s" % e)
        left = lab.leftovers()
        check(not left, "lab down leaves nothing behind %s" % left)
    say("%d failure(s) in %.0f s" % (len(failures), time.monotonic() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
