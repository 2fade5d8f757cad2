"""`lab demo` (what `make demo` runs): a two-node cluster with mail
flowing; mariadb killed and healed with `ehabus tail` running on the node;
the active node crashed; the mail verified; the report.
"""
import os
import subprocess
import time

import labmail
import rehearse

L = None


def banner(text):
    print("\n=== %s\n" % text, flush=True)


class Tail:
    """`ehabus tail` inside a node, as an operator would run it."""

    def __init__(self, name, *flags):
        self.path = "%s/demo-tail-%s.log" % (L.STATE_DIR, name)
        init = L.node_init(L.node(L.load_state(), name))
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p", "--",
             "ehabus", "tail"] + list(flags),
            stdout=open(self.path, "w"), stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        with open(self.path) as f:
            return f.read().splitlines()


def show(lines, limit=40):
    for line in lines[:limit]:
        print("  " + (line if len(line) <= 200 else line[:197] + "..."))
    if len(lines) > limit:
        print("  ... (%d more lines in the file)" % (len(lines) - limit))


def main(lab, args):
    global L
    L = lab
    rehearse.L = lab
    start = time.monotonic()
    banner("1/5 A two-node Pacemaker cluster with the real mail stack")
    L.cmd_up([])
    state = L.load_state()
    print("\nnode1 and node2: systemd-nspawn machines running corosync, "
          "pacemaker and sbd (SBD fencing on a shared disk), the mail stack "
          "(postfix, dovecot, mariadb, memcached; queue, mailboxes and "
          "database on the shared ext4 disk) as ocf:ehabus:mailstack, and "
          "ehabus's bus, sensors, healers and mail notifier.", flush=True)
    events = rehearse.Events(state)
    rows = []

    def scene(number, title, scenario, on, flags, said):
        """A scenario while `ehabus tail FLAGS` runs on node ON."""
        banner("%d/5 %s" % (number, title))
        tail = Tail(on, *flags)
        time.sleep(1)
        rows.append(rehearse.run_scenario(scenario, L.load_state(), events,
                                          number))
        lines = tail.stop()
        print("\n$ ehabus tail %s    (on %s, %s)" % (" ".join(flags), on,
                                                   said))
        show([l for l in lines if "GAP" not in l])

    try:
        active = rehearse.stack_node(state)
        scene(2, "Mail flowing; mariadb killed on %s while `ehabus tail` "
              "runs there" % active, "mariadb-kill", active,
              ["--severity", "notice"], "from the kill until the healing was "
              "over and its mail sent")
        state = L.load_state()
        active = rehearse.stack_node(state)
        survivor = next(n["name"] for n in state["nodes"]
                        if n["name"] != active)
        scene(3, "The active node %s crashed (power loss) under mail load"
              % active, "node-crash", survivor,
              ["--topic", "cluster.", "--topic", "failover", "--topic",
               "storage.mail", "--topic", "service.postfix"], "the survivor")
    finally:
        events.close()
    banner("4/5 The report")
    print(rehearse.table(rows))
    for r in rows:
        if r.get("skipped"):
            continue
        print("\n%s: %s" % (r["scenario"], r["what"]))
        print("  action: %s" % r["action"])
        print("  mail accepted again %s after the fault; %d accepted, %d "
              "lost, %d duplicated, %d still queued" % (
                  rehearse.fmt_s(r["mail_back_s"]), r["accepted"], r["lost"],
                  r["duplicated"], r["queued"]))
        print("  notification mails at the sink: %s" % r["notifications"])
        for s in r.get("notification_subjects", []):
            print("    " + s)
    lost = sum(r.get("lost", 0) for r in rows if not r.get("skipped"))
    print("\nlost: %d in all (every accepted message is in its mailbox)"
          % lost if lost == 0 else "\nLOST: %d messages" % lost)
    banner("5/5 Look around, then tear down")
    print("""  tests/lab/lab status                      nodes, who runs what, fencing history
  tests/lab/lab tail node1                  the live event stream of node1
  tests/lab/lab exec node1 -- crm_mon -1    Pacemaker's view
  tests/lab/lab exec node1 -- ehabus status
  tests/lab/lab client -- bash              a shell in the client namespace (VIP 198.18.10.100: SMTP 25, IMAP 143)
  ls %s/sink/mail/ops/new              the notification mails
  tests/lab/lab rehearse                    every fault scenario, with the table
  tests/lab/lab down                        removes everything the lab made
""" % L.STATE_DIR)
    print("demo took %.0f s" % (time.monotonic() - start))
    return 0 if lost == 0 and all(not r.get("skipped") for r in rows) else 1
