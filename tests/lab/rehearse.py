"""`lab rehearse [--stack ehabus|anchor] [--json FILE] [SCENARIO...]`:
every fault under mail load, on the lab cluster that is up.

For each scenario: the cluster is settled (nodes up and online, failures
forgotten, the stack running, the VIP accepting mail), the sender starts in
the client namespace (5 messages a second, each with a unique id), the fault
is made, and the lab watches until mail is accepted again and the cluster is
quiet (or a deadline). Then the fault is healed, the sender drains its
retries and stops, and the verifier reads every mailbox over IMAP (waiting,
bounded, for mail still queued). Meanwhile it samples, every half second,
which nodes have the shared disk mounted (never two at once), and records
every node's ehabus events (`ehabus tail --json`) and the mail sink's
deliveries.

Printed per scenario: the fault's time, the first ehabus event after it
(for the anchor stack, which has no ehabus: Pacemaker's first reaction in
the journal), the action taken, the time until mail was accepted again on
the VIP and the longest wait without an accepted message, accepted, lost,
duplicated and still-queued messages, and the notification mails the sink
received (and the incidents they tell of).
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import labmail

L = None  # the lab module (tests/lab/lab), set by main()
HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 5.0


def say(msg):
    print("[rehearse %7.1fs] %s" % (time.monotonic() - L.T0, msg), flush=True)


# --- what each node's bus says --------------------------------------------

class Events:
    """`ehabus tail --json` inside every node, kept running while nodes come
    and go; every event with the node's CLOCK_MONOTONIC (the host's)."""

    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.events = []
        self.stop = False
        self.procs = {}
        self.threads = [threading.Thread(target=self.follow, args=(n["name"],),
                                         daemon=True)
                        for n in state["nodes"]]
        for t in self.threads:
            t.start()

    def follow(self, name):
        while not self.stop:
            n = L.node(L.load_state(), name)
            init = L.node_init(n)
            if not init:
                time.sleep(1)
                continue
            try:
                p = subprocess.Popen(
                    ["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p",
                     "--", "ehabus", "tail", "--json"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True)
            except OSError:
                time.sleep(1)
                continue
            self.procs[name] = p
            for line in p.stdout:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(e, dict) or "mono_ns" not in e:
                    continue
                e["t"] = e["mono_ns"] / 1e9
                with self.lock:
                    self.events.append(e)
            p.wait()
            time.sleep(1)

    def since(self, t, until=None):
        with self.lock:
            out = [e for e in self.events
                   if e["t"] >= t and (until is None or e["t"] <= until)]
        return sorted(out, key=lambda e: e["t"])

    def close(self):
        self.stop = True
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()


SEVERITY = ["debug", "info", "notice", "warning", "error", "critical"]


def first_reaction(events, t):
    """The first event after T that says something happened: an event of
    notice or worse, a state of warning or worse, or a broker (re)starting
    (its bus.broker state)."""
    for e in events:
        if e["t"] < t:
            continue
        sev = SEVERITY.index(e.get("severity", "info"))
        if (e.get("kind") == "event" and sev >= 2) or sev >= 3 or \
                e["topic"] == "bus.broker":
            return e
    return None


# --- the mail load --------------------------------------------------------

class Load:
    def __init__(self, state, run):
        self.state, self.run = state, run
        d = L.STATE_DIR + "/mail"
        os.makedirs(d, exist_ok=True)
        self.log = "%s/%s.log" % (d, run)
        self.accounts = d + "/accounts.json"
        users = state["secrets"]["users"]
        with open(self.accounts, "w") as f:
            json.dump({"%s@%s" % (u, labmail.DOMAIN): users[u] for u in users},
                      f)
        os.chmod(self.accounts, 0o600)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", L.CLIENT, "/usr/bin/python3",
             HERE + "/mailload.py", "send", "--server", L.VIP, "--run",
             self.run, "--rate", str(RATE), "--log", self.log,
             "--recipients", ",".join(sorted(labmail.recipients())),
             "--drain", "90"],
            stdout=subprocess.DEVNULL, stderr=open(self.log + ".err", "w"),
            start_new_session=True)

    def stop(self, wait=120):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def attempts(self):
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return [a for a in out if a.get("id")]

    def accepted_since(self, t):
        return sum(1 for a in self.attempts()
                   if a["result"] == "accepted" and a["t"] >= t)

    def interruption(self, t_fault, until=None):
        """(back, gap): seconds from the fault to the end of the longest
        stretch without an accepted message after it, and that stretch; 
        (None, None) when mail was never accepted again."""
        acc = sorted(a["t"] for a in self.attempts()
                     if a["result"] == "accepted" and a["t"] >= t_fault and
                     (until is None or a["t"] <= until))
        if not acc:
            return None, None
        prev, best_gap, best_end = t_fault, 0.0, acc[0]
        for t in acc:
            if t - prev > best_gap:
                best_gap, best_end = t - prev, t
            prev = t
        return best_end - t_fault, best_gap

    def failures_since(self, t):
        return [a for a in self.attempts()
                if a["result"] in ("tempfail", "uncertain") and a["t"] >= t]

    def summary(self):
        final, uncertain, rcpt = {}, set(), {}
        for a in self.attempts():
            mid = a["id"]
            rcpt[mid] = a["rcpt"]
            if a["result"] == "uncertain":
                uncertain.add(mid)
            if a["result"] in ("accepted", "rejected", "abandoned"):
                final.setdefault(mid, a["result"])
        return final, uncertain, rcpt

    def fetch(self):
        r = subprocess.run(
            ["ip", "netns", "exec", L.CLIENT, "/usr/bin/python3",
             HERE + "/mailload.py", "fetch", "--server", L.VIP,
             "--accounts", self.accounts],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=120)
        if r.returncode != 0:
            raise RuntimeError("fetch: " + r.stderr.strip())
        found = {}
        for user, ids in json.loads(r.stdout).items():
            for mid in ids:
                if mid.startswith(self.run + "-"):
                    found[mid] = found.get(mid, 0) + 1
        return found


def queued_ids(state):
    """X-Lab-Id of every message in the queue of the node running Postfix."""
    where = stack_node(state)
    if not where:
        return set()
    script = ("postqueue -j 2>/dev/null | python3 -c 'import sys,json\n"
              "for l in sys.stdin: print(json.loads(l)[\"queue_id\"])' | "
              "while read q; do postcat -hq \"$q\" 2>/dev/null | "
              "sed -n 's/^X-Lab-Id: //p'; done")
    r = L.enter(L.node(state, where), ["sh", "-c", script], check=False,
                timeout=60)
    return set(r.stdout.split())


def verify(state, load, wait=180):
    """Every accepted id in a mailbox, else still queued, else lost."""
    final, uncertain, _ = load.summary()
    accepted = {m for m, r in final.items() if r == "accepted"}
    deadline = time.monotonic() + wait
    found, error = {}, None
    while True:
        try:
            found = load.fetch()
            error = None
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            error = str(e)
        missing = accepted - set(found)
        if (not missing and error is None) or time.monotonic() > deadline:
            break
        time.sleep(3)
    queued = queued_ids(state) & missing if missing else set()
    return {
        "accepted": len(accepted),
        "lost": len(missing - queued),
        "lost_ids": sorted(missing - queued)[:20],
        "queued": len(queued),
        "duplicated": sum(c - 1 for c in found.values() if c > 1),
        "uncertain": len(uncertain),
        # Delivered though the sender never saw the 250 (an uncertain one
        # the server had taken): not a loss, and retried, so a duplicate.
        "unacknowledged": len(set(found) - accepted),
        "rejected": sum(1 for r in final.values() if r == "rejected"),
        "abandoned": sum(1 for r in final.values() if r == "abandoned"),
        "fetch_error": error,
    }


# --- the cluster ----------------------------------------------------------

def stack_resource(state):
    return "postfix" if state.get("stack") == "anchor" else "mailstack"


def stack_node(state):
    return L.placement(L.crm_mon(state)).get(stack_resource(state))


def holders(state):
    """Nodes that have the shared disk mounted now (read from the host:
    works for a frozen node too)."""
    out = []
    for n in state["nodes"]:
        init = L.node_init(n)
        if init and " /srv/mail " in L.read("/proc/%d/mountinfo" % init):
            out.append(n["name"])
    return out


def fenced_since(state, wall):
    """Nodes fenced successfully at or after WALL (epoch seconds), from
    lines like "reboot of node1 successful: ... completed='2026-12-02
    01:54:15Z'"."""
    import calendar
    import re
    for n in state["nodes"]:
        if not L.node_init(n):
            continue
        # --verbose: every operation (without it the history is condensed
        # to one line per target, and may hide some).
        r = L.enter(n, ["stonith_admin", "--history", "*", "--verbose"],
                    check=False, timeout=20)
        if r.returncode != 0:
            continue
        out = []
        for m in re.finditer(r"(\w+) of (\S+) successful:.*?"
                             r"(?:completed|last-successful)="
                             r"'([0-9-]+ [0-9:]+)Z'", r.stdout):
            t = calendar.timegm(time.strptime(m.group(3),
                                              "%Y-%m-%d %H:%M:%S"))
            if t >= int(wall):
                out.append(m.group(2))
        return sorted(set(out))
    return []


def pid_of(state, node_name, comm):
    n = L.node(state, node_name)
    if not L.node_init(n):
        return None
    r = L.enter(n, ["pgrep", "-o", "-x", comm], check=False)
    return r.stdout.strip() or None


def journal_since(state, name, t, pattern):
    """Lines of NODE's journal after monotonic T matching PATTERN."""
    n = L.node(state, name)
    if not L.node_init(n):
        return []
    r = L.enter(n, ["sh", "-c", "journalctl -o short-monotonic --no-pager "
                    "| grep -E '%s' || true" % pattern], check=False,
                timeout=60)
    out = []
    for line in r.stdout.splitlines():
        if line.startswith("["):
            try:
                lt = float(line[1:line.index("]")])
            except ValueError:
                continue
            if lt >= t:
                out.append((lt, line))
    return out


def cluster_idle(state):
    """Pacemaker has nothing in progress: its DC is in S_IDLE."""
    import xml.etree.ElementTree as ET
    try:
        dc = ET.fromstring(L.crm_mon(state)).find(".//current_dc")
    except ET.ParseError:
        return False
    if dc is None or dc.get("present") != "true":
        return False
    for n in state["nodes"]:
        if L.node_init(n):
            r = L.enter(n, ["crmadmin", "-q", "-S", dc.get("name")],
                        check=False, timeout=20)
            return "S_IDLE" in (r.stdout or "")  # crmadmin's stderr too
    return False


def health_red(state):
    """Nodes whose #health-ehabus is red (attrd_updater -Q lists every
    node's value: name="..." host="NODE" value="...")."""
    import re
    for n in state["nodes"]:
        if not L.node_init(n):
            continue
        r = L.enter(n, ["attrd_updater", "-Q", "-n", "#health-ehabus"],
                    check=False, timeout=20)
        if r.returncode == 0:
            return sorted(set(re.findall(r'host="([^"]+)" value="red"',
                                         r.stdout)))
    return []


def notable(e):
    """An event that opens or feeds a notifier's incident."""
    if e["topic"].startswith("notify."):
        return False
    sev = SEVERITY.index(e.get("severity", "info"))
    return sev >= 3 or (e.get("kind") == "event" and sev >= 2)


def incidents_open(state):
    """Nodes whose mail notifier has an incident open (its saved state)."""
    out = []
    for n in state["nodes"]:
        if L.node_init(n):
            r = L.enter(n, ["cat", "/var/spool/ehabus/mail/"
                            ".incident-state.json"], check=False)
            if '"incident"' in r.stdout:
                out.append(n["name"])
    return out


def wait_quiet(events, quiet=35, timeout=300):
    """Until no node said anything notable for QUIET seconds and no
    notifier has an incident open (one closes 30 s after its last news), so
    the next fault opens an incident of its own. Also after `lab up`, when
    the collector has not seen the cluster's start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        recent = [e for e in events.since(now - quiet) if notable(e)]
        if not recent and not incidents_open(events.state):
            return True
        time.sleep(max(1.0, recent[-1]["t"] + quiet - now) if recent else 2)
    return False


def settle(state, timeout=300, events=None):
    """Every node up and online, failures forgotten (Pacemaker's and
    ehabus's, as an operator does after repairing), the stack running and
    the VIP answering; with EVENTS, also quiet (see wait_quiet)."""
    L.cmd_fault("heal", [])
    for n in state["nodes"]:
        if not L.node_init(n):
            say("boot " + n["name"])
            L.cmd_fault("boot", [n["name"]])
    state = L.load_state()
    deadline = time.monotonic() + timeout
    L.wait_for(lambda: L.all_online(state), timeout, "all nodes online")
    L.save_state(state)
    red = health_red(state)
    for n in state["nodes"]:
        L.enter(n, ["sh", "-c", "rm -f /srv/mail/.lab-fill"], check=False)
        if state.get("stack") == "anchor":
            continue
        spent = L.enter(n, ["sh", "-c", "cat /var/lib/ehabus/"
                            "healer-restart.json.escalated 2>/dev/null"],
                        check=False).stdout.strip()
        if spent or n["name"] in red:
            say("%s: ehabus cleanup (spent: %s; health %s)" % (
                n["name"], spent or "none",
                "red" if n["name"] in red else "green"))
            L.enter(n, ["ehabus", "cleanup"], check=False, timeout=30)
    if "<failure " in L.crm_mon(state):
        first = next(n for n in state["nodes"] if L.node_init(n))
        say("crm_resource --cleanup (Pacemaker's failures forgotten)")
        L.enter(first, ["crm_resource", "--cleanup"], check=False,
                timeout=60)
    left = max(30, deadline - time.monotonic())
    L.wait_for(lambda: stack_node(state) and not health_red(state) and
               L.vip_answers(), left, "the stack running, the VIP answering")
    if events is not None and not wait_quiet(events):
        say("the cluster did not fall quiet within 300 s")
    return state


# --- scenarios ------------------------------------------------------------

class Ctx:
    """What a scenario works with."""

    def __init__(self, state, events, load):
        self.state, self.events, self.load = state, events, load
        self.active = stack_node(state)
        self.other = next(n["name"] for n in state["nodes"]
                          if n["name"] != self.active)
        self.t_fault = None
        self.notes = []
        self.stop_loop = threading.Event()

    def fault(self, cmd, *args):
        L.cmd_fault(cmd, list(args))
        st = L.load_state()
        self.t_fault = self.t_fault or st["faults"][-1]["t"]
        return st["faults"][-1]["t"]

    def node(self, name=None):
        return L.node(self.state, name or self.active)


def kill_in(ctx, comm):
    ctx.fault("kill", ctx.active, comm)


def fault_in(ctx, argv, what):
    """Runs ARGV in the active node as the fault, timed like lab's own."""
    t = time.monotonic()
    L.enter(ctx.node(), argv, check=False)
    st = L.load_state()
    st["faults"].append({"t": t, "what": "%s on %s" % (what, ctx.active)})
    L.save_state(st)
    print("%.3f %s on %s" % (t, what, ctx.active), flush=True)
    ctx.t_fault = ctx.t_fault or t


def stop_dovecot(ctx):
    # Dovecot's own clean stop: under systemd (ehabus's stack) or not (the
    # anchor's agent starts the daemon itself).
    fault_in(ctx, ["doveadm", "stop"], "doveadm stop")


def kill_sensor(ctx):
    # By command line: process names are cut to 15 characters, which
    # ehabus-sensor-service and ehabus-sensor-storage share.
    fault_in(ctx, ["pkill", "-9", "-f", "^/[^ ]*/ehabus-sensor-service"],
             "kill -9 ehabus-sensor-service")


def keep_killing(ctx, comm="dovecot", limit=12):
    """A service that keeps failing: killed again each time it is back,
    until the stack leaves the node (or LIMIT kills)."""
    kills = 0
    last = None

    def loop():
        nonlocal kills, last
        while not ctx.stop_loop.is_set() and kills < limit:
            pid = pid_of(ctx.state, ctx.active, comm)
            if pid and pid != last and \
                    L.node_init(ctx.node()) and \
                    stack_node(ctx.state) == ctx.active:
                ctx.fault("kill", ctx.active, comm)
                kills += 1
                last = pid
            time.sleep(0.5)
        ctx.notes.append("%s killed %d times" % (comm, kills))

    threading.Thread(target=loop, daemon=True).start()
    L.wait_for(lambda: ctx.t_fault is not None, 60, "the first kill")


def disk_full(ctx):
    ctx.fault("disk-full", "mail")


def free_disk(ctx):
    where = L.placement(L.crm_mon(ctx.state)).get("fs-mail")
    if where:
        L.enter(L.node(ctx.state, where),
                ["rm", "-f", "/srv/mail/.lab-fill"], check=False)
        ctx.notes.append("space freed at +%.0f s" %
                         (time.monotonic() - ctx.t_fault))


SCENARIOS = {
    # name: (what, fault, minimum and maximum observation (s), a step in
    # the middle of the observation (at, fn) or None). A fault that stays
    # until healed is watched for at least 60 s where the anchor's own
    # detection (ping every 10 s, dampened 5 s) needs that long.
    "postfix-kill": ("kill -9 the Postfix master on the active node",
                     lambda c: kill_in(c, "master"), 20, 150, None),
    "mariadb-kill": ("kill -9 mariadbd on the active node",
                     lambda c: kill_in(c, "mariadbd"), 20, 150, None),
    "dovecot-stop": ("dovecot stopped cleanly (doveadm stop) on the active node",
                     stop_dovecot, 20, 150, None),
    "budget": ("dovecot killed again each time it is back",
               keep_killing, 30, 240, None),
    "node-crash": ("power loss of the active node",
                   lambda c: c.fault("crash", c.active), 30, 180, None),
    "node-freeze": ("the active node frozen (all its processes)",
                    lambda c: c.fault("freeze", c.active), 30, 180, None),
    "partition": ("heartbeat links cut between the nodes",
                  lambda c: c.fault("partition"), 45, 120, None),
    "gateway-lost": ("the gateway stops answering the active node",
                     lambda c: c.fault("gateway-down", c.active), 60, 150,
                     None),
    "storage-hang": ("the network share hangs on the active node",
                     lambda c: c.fault("storage-hang", "archive", c.active),
                     60, 180, None),
    "storage-io": ("I/O errors on the active node's path to the shared disk",
                   lambda c: c.fault("storage-fail", "mail"), 30, 180, None),
    "bus-kill": ("kill -9 ehabus-busd on the active node",
                 lambda c: kill_in(c, "ehabus-busd"), 20, 60, None),
    "sensor-kill": ("kill -9 ehabus-sensor-service on the active node",
                    kill_sensor, 20, 60, None),
    "disk-full": ("the shared disk filled up", disk_full, 45, 150,
                  (30, free_disk)),
}
# The process a scenario stops: observed until it runs again (a new pid).
RESTARTS = {"postfix-kill": "master", "mariadb-kill": "mariadbd",
            "dovecot-stop": "dovecot"}
ANCHOR_SKIPS = {"bus-kill": "no ehabus in the anchor stack",
                "sensor-kill": "no ehabus in the anchor stack"}


DAEMONS = {"busd": "^/[^ ]*/ehabus-busd",
           "sensor-service": "^/[^ ]*/ehabus-sensor-service"}


def daemon_pids(state, node_name):
    n = L.node(state, node_name)
    out = {}
    if not L.node_init(n):
        return out
    for name, pattern in DAEMONS.items():
        r = L.enter(n, ["pgrep", "-o", "-f", pattern], check=False)
        out[name] = r.stdout.strip() or None
    return out


def decisions(events):
    """What the failover healer decided not to do, from its events."""
    out = []
    for e in events:
        d = e.get("data") or {}
        if e["topic"] == "failover.notify":
            out.append("told, no move (%s %s: policy notify)" %
                       (d.get("kind", "?"), d.get("what", "?")))
        elif e["topic"] == "failover.declined":
            out.append("no switch for a %s loss (storage healthy)" %
                       d.get("kind", "?"))
    return sorted(set(out))


def action_taken(ctx, restarted, after_node, fenced, healings, said=()):
    parts = ["%s restarted by systemd (pid %s -> %s)" % (d, a, b)
             for d, (a, b) in sorted(restarted.items())]
    parts += list(said)
    if fenced:
        parts.append("fenced " + ", ".join(fenced))
    if after_node and after_node != ctx.active:
        parts.append("failed over %s->%s" % (ctx.active, after_node))
    elif after_node is None:
        parts.append("stack NOT running")
    if healings:
        parts.append("healed " + ", ".join(healings))
    return "; ".join(parts) or "none"


def run_scenario(name, state, events, index, notices=True):
    """One scenario; its row (see table()). NOTICES: wait for and count the
    notification mails (about a minute more)."""
    what, fault, min_s, max_s, middle = SCENARIOS[name]
    # Unique across runs: the mailboxes keep every earlier run's mail.
    run = "%s-%d-%x" % (name, index, int(time.time()))
    load = Load(state, run)
    row = {"scenario": name, "what": what, "stack": state.get("stack",
                                                              "ehabus")}
    if state.get("stack") == "anchor" and name in ANCHOR_SKIPS:
        row["skipped"] = ANCHOR_SKIPS[name]
        return row
    state = settle(state, events=events)
    ctx = Ctx(state, events, load)
    load.start()
    t_load = time.monotonic()
    L.wait_for(lambda: load.accepted_since(t_load) >= 10, 90,
               "mail accepted before the fault")
    pids_before = {c: pid_of(state, ctx.active, c)
                   for c in ("memcached", "mariadbd", "master", "dovecot")}
    daemons_before = daemon_pids(state, ctx.active)
    sink_before = len(labmail.sink_messages(L.STATE_DIR))
    wall_fault = time.time()
    say("%s: %s (stack on %s)" % (name, what, ctx.active))
    fault(ctx)
    t_fault = ctx.t_fault
    row["fault_t"] = round(t_fault, 3)
    samples, both = 0, 0
    middle_done = middle is None
    quiet_since = None
    moved_at = None
    comm = RESTARTS.get(name)
    back_at = None if comm else t_fault
    while True:
        now = time.monotonic()
        where = stack_node(state)
        if back_at is None:
            pid = pid_of(state, ctx.active, comm)
            if pid and pid != pids_before.get(comm):
                back_at = now
        if moved_at is None and where not in (None, ctx.active):
            moved_at = now
        held = holders(state)
        samples += 1
        if len(held) > 1:
            both += 1
        if not middle_done and now - t_fault >= middle[0]:
            middle[1](ctx)
            middle_done = True
        back, _ = load.interruption(t_fault)
        fails = load.failures_since(t_fault)
        last_fail = max((a["t"] for a in fails), default=t_fault)
        recovered = load.accepted_since(last_fail + 0.001) >= 10
        if recovered and middle_done and back_at is not None:
            quiet_since = quiet_since or now
        else:
            quiet_since = None
        elapsed = now - t_fault
        if elapsed >= max_s:
            ctx.notes.append("observed for %d s (limit)" % max_s)
            break
        if elapsed >= min_s and quiet_since and now - quiet_since >= 5 and \
                cluster_idle(state):
            if name != "budget" or where != ctx.active or \
                    state.get("stack") == "anchor" and elapsed >= 180:
                break
        time.sleep(0.5)
    ctx.stop_loop.set()
    t_end = time.monotonic()
    wall_end = time.time()
    row["both_held_samples"] = both
    row["moved_s"] = None if moved_at is None else round(moved_at - t_fault, 1)
    if comm:
        row["service_back_s"] = (None if back_at is None else
                                 round(back_at - t_fault, 1))
    row["holders_end"] = holders(state)
    row["samples"] = samples
    after_node = stack_node(state)
    fenced = fenced_since(state, wall_fault)
    evs = events.since(t_fault - 0.5, t_end)
    healings = []
    for e in evs:
        if e["topic"].startswith("healing.") and \
                e["topic"].endswith(".started"):
            d = e.get("data", {})
            healings.append("%s (+%s)" % ("+".join(d.get("services", [])),
                                          ",".join(d.get("dependents", []))
                                          or "no dependents"))
    pacemaker_started = []
    if state.get("stack") == "anchor":
        restarts = journal_since(
            state, ctx.active if L.node_init(ctx.node()) else ctx.other,
            t_fault, r"pacemaker-controld.*Result of start operation for "
                     r"(mysql|memcached|postfix|dovecot)")
        pacemaker_started = sorted({l.split("operation for ")[1].split()[0]
                                    for _, l in restarts})
    daemons_after = daemon_pids(state, ctx.active)
    restarted = {d: (p, daemons_after.get(d))
                 for d, p in daemons_before.items()
                 if p and daemons_after.get(d) and daemons_after[d] != p}
    row["action"] = action_taken(ctx, restarted, after_node, fenced,
                                 healings, decisions(evs))
    if state.get("stack") == "anchor" and after_node == ctx.active:
        again = [c for c in ("mariadbd", "master", "dovecot", "memcached")
                 if pids_before.get(c) and
                 pid_of(state, ctx.active, c) not in (None, pids_before[c])]
        parts = [p for p in [row["action"]] if p != "none"]
        if pacemaker_started:
            parts.append("Pacemaker restarted " +
                         ", ".join(pacemaker_started))
        elif again:
            parts.append("%s restarted by its own supervisor "
                         "(Pacemaker saw nothing)" % ", ".join(again))
        row["action"] = "; ".join(parts) or "none"
    if comm:
        row["action"] += ("; %s runs again +%.1f s" % (comm, back_at - t_fault)
                          if back_at else "; %s NOT running again" % comm)
    first = first_reaction(evs, t_fault)
    if first is None:
        # Nothing notable: the first word on the bus at all (after the bus
        # itself was the fault, the first event of the broker that is back).
        first = next((e for e in evs if e["t"] >= t_fault), None)
    if state.get("stack") == "anchor":
        lines = []
        for n in (ctx.active, ctx.other):
            lines += journal_since(
                state, n, t_fault,
                r"pacemaker-(controld|fenced|schedulerd).*(Result of monitor|"
                r"not running|lost|fenc|Recover|Move|Restart)")
        lines.sort()
        if lines:
            text = lines[0][1]
            import re
            m = re.search(r"Result of (\w+) operation for (\S+) on \S+: "
                          r"(.*)", text)
            text = ("%s %s: %s" % (m.group(2), m.group(1), m.group(3))
                    if m else text.split("]: ", 1)[-1])
            row["first_event"] = "+%.1fs pacemaker: %s" % (
                lines[0][0] - t_fault, text[:60])
        else:
            row["first_event"] = "none (Pacemaker saw nothing)"
    else:
        row["first_event"] = ("+%.1fs %s %s" % (first["t"] - t_fault,
                                                first["node"], first["topic"])
                              if first else "none")
    row["events"] = [{"t": round(e["t"] - t_fault, 3), "node": e["node"],
                      "topic": e["topic"], "severity": e["severity"],
                      "message": e["message"][:300], "data": e.get("data")}
                     for e in evs
                     if e.get("kind") == "event" or
                     SEVERITY.index(e.get("severity", "info")) >= 3]
    pids_after = {c: pid_of(state, ctx.active, c)
                  for c in ("memcached", "mariadbd", "master", "dovecot")}
    row["pids"] = {"before": pids_before, "after": pids_after}
    row["stack_before"], row["stack_after"] = ctx.active, after_node
    # The fault healed, the sender drains its retries, the mail is read.
    say("%s: observed %.0f s; healing the fault, draining the sender" %
        (name, t_end - t_fault))
    L.cmd_fault("heal", [])
    if name == "disk-full":
        free_disk(ctx)
    back, gap = load.interruption(t_fault, t_end)
    load.stop()
    row["mail_back_s"] = None if back is None else round(back, 1)
    row["longest_gap_s"] = None if gap is None else round(gap, 1)
    row["refused"] = len(load.failures_since(t_fault))
    state = settle(state)
    row.update(verify(state, load))
    # Notifications: what reached the sink since the fault, once the
    # notifiers had time to tell the incident (group wait, quiet period).
    if state.get("stack") != "anchor" and notices:
        deadline = time.monotonic() + 90
        seen, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(labmail.sink_messages(L.STATE_DIR))
            if count != seen:
                seen, stable_since = count, time.monotonic()
            if time.monotonic() - t_fault >= 50 and \
                    time.monotonic() - stable_since >= 15:
                break
            time.sleep(1)
        # The incidents whose first mail came during the observation (and
        # their follow-ups, whenever they came); not those the restore made
        # (a rebooted node rejoining tells its own story).
        mails = [(t, h) for t, h in labmail.sink_messages(L.STATE_DIR)
                 if t >= wall_fault - 1]
        first = {}
        for t, h in mails:
            first.setdefault(h.get("x-ehabus-incident", ""), t)
        mine = {i for i, t in first.items() if t <= wall_end + 20}
        mails = [h for t, h in mails
                 if h.get("x-ehabus-incident", "") in mine]
        row["notifications"] = len(mails)
        row["incidents"] = len(mine)
        row["notification_subjects"] = [
            labmail.decode_subject(h.get("subject", "")) for h in mails]
    else:
        row["notifications"] = None
    row["notes"] = ctx.notes
    row["sink_before"] = sink_before
    return row


# --- the table ------------------------------------------------------------

def fmt_s(v):
    return "-" if v is None else "%.1f s" % v


def mail_back(r):
    back, gap = r.get("mail_back_s"), r.get("longest_gap_s")
    if back is None:
        return "not back"
    if r["refused"] == 0 and gap is not None and gap < 2:
        return "no refusal"
    return fmt_s(back)


def table(rows):
    head = ("scenario", "stack", "fault at", "first event", "action",
            "mail back", "gap", "accepted", "lost", "dup", "queued",
            "notices", "both held")
    lines = []
    for r in rows:
        if r.get("skipped"):
            lines.append((r["scenario"], r.get("stack", "?"), "-",
                          r["skipped"][:60]) + ("-",) * 9)
            continue
        lines.append((
            r["scenario"], r["stack"], "%.1f" % r["fault_t"],
            r["first_event"][:50], r["action"][:58], mail_back(r),
            fmt_s(r.get("longest_gap_s")), str(r["accepted"]),
            str(r["lost"]), str(r["duplicated"]), str(r["queued"]),
            "-" if r.get("notifications") is None else
            "%d (%d inc.)" % (r["notifications"], r["incidents"]),
            "NEVER" if r["both_held_samples"] == 0 else
            "%d of %d samples" % (r["both_held_samples"], r["samples"])))
    widths = [max(len(str(x[i])) for x in [head] + lines)
              for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(x, widths)).rstrip()
            for x in lines]
    return "\n".join(out)


TARGETS = [
    # what, scenarios, target for ehabus (s), the anchor's expected range
    ("service crash to mail accepted again", ("postfix-kill", "mariadb-kill"),
     5.0, "about 30 s"),
    ("node crash to mail accepted again on the VIP", ("node-crash",), 15.0,
     "20-30 s with stock timings"),
    ("hung network storage to mail accepted on the other node",
     ("storage-hang",), 30.0, "old promise 60 s; resource-agents 2-3 min"),
]


def summary(rows):
    """The targets, ours beside the anchor's, from the rows of this run."""
    out = []
    def value(r, moving):
        """The row's time, or why it has none."""
        if moving and r.get("moved_s") is None:
            return "never moved (%s)" % r["action"][:40]
        shown = mail_back(r)
        return r["mail_back_s"] if shown.endswith(" s") else shown

    for what, names, target, anchor_text in TARGETS:
        moving = names == ("storage-hang",)
        cells = []
        for stack in ("ehabus", "anchor"):
            vals = [value(r, moving) for r in rows
                    if r.get("stack") == stack and r["scenario"] in names and
                    not r.get("skipped")]
            got = [v for v in vals if isinstance(v, float)]
            other = sorted({v for v in vals if not isinstance(v, float)})
            if not vals:
                cells.append("%s: not run" % stack)
            else:
                cells.append("%s: %s%s" % (
                    stack, "median %s (%s)" % (
                        fmt_s(statistics.median(got)),
                        ", ".join("%.1f" % v for v in got)) if got else "",
                    ("; " if got else "") + "; ".join(
                        "%d %s" % (sum(1 for v in vals if v == o), o)
                        for o in other) if other else ""))
        ours = [v for v in (value(r, moving) for r in rows
                            if r.get("stack") == "ehabus" and
                            r["scenario"] in names and not r.get("skipped"))
                if isinstance(v, float)]
        met = ("met" if ours and statistics.median(ours) <= target else
               "NOT met" if ours else "-")
        out.append("%s (target <= %.0f s, %s; anchor expected %s):\n    %s"
                   % (what, target, met, anchor_text, "\n    ".join(cells)))
    lost = {s: sum(r.get("lost", 0) for r in rows
                   if r.get("stack") == s and not r.get("skipped"))
            for s in ("ehabus", "anchor")}
    both = sum(r.get("both_held_samples", 0) for r in rows
               if not r.get("skipped"))
    out.append("lost in all scenarios: ehabus %d, anchor %d (target 0)"
               % (lost["ehabus"], lost["anchor"]))
    out.append("samples with the shared disk mounted on two nodes: %d" % both)
    return "\n".join(out)


def run_stack(stack, timings, names, runs, rows, out_json, reuse):
    """Brings up (or reuses) the lab with STACK and runs NAMES."""
    state = L.load_state()
    if not (reuse and state and state.get("stack", "ehabus") == stack and
            state.get("timings") == timings):
        say("lab up --stack %s --timings %s" % (stack, timings))
        L.cmd_up(["--stack", stack, "--timings", timings])
    state = L.load_state()
    events = Events(state)
    try:
        k = 0
        for name in names:
            for _ in range(runs):
                k += 1
                try:
                    row = run_scenario(name, L.load_state(), events, k)
                except SystemExit as e:  # lab.die inside: the row says so
                    row = {"scenario": name, "stack": stack,
                           "skipped": "FAILED: %s" % e}
                row["timings"] = timings
                rows.append(row)
                if not row.get("skipped"):
                    say("%s (%s): %s; mail back %s; accepted %d lost %d dup "
                        "%d queued %d; notices %s" % (
                            name, stack, row["action"], mail_back(row),
                            row["accepted"], row["lost"], row["duplicated"],
                            row["queued"], row.get("notifications")))
                if out_json:
                    with open(out_json, "w") as f:
                        json.dump(rows, f, indent=1)
    finally:
        events.close()


def main(lab, args):
    global L
    L = lab
    out_json, stack, timings, runs, keep = None, "both", "tuned", 1, False
    names = []
    i = 0
    while i < len(args):
        if args[i] in ("--json", "--stack", "--timings", "--runs"):
            if i + 1 >= len(args):
                L.die("rehearse: %s needs a value" % args[i])
            v = args[i + 1]
            if args[i] == "--json":
                out_json = v
            elif args[i] == "--stack":
                stack = v
            elif args[i] == "--timings":
                timings = v
            else:
                runs = int(v)
            i += 2
        elif args[i] == "--keep":
            keep = True
            i += 1
        else:
            names.append(args[i])
            i += 1
    if stack not in ("ehabus", "anchor", "both"):
        L.die("rehearse: --stack ehabus, anchor or both")
    if timings not in L.TIMINGS:
        L.die("rehearse: --timings stock or tuned")
    for n in names:
        if n not in SCENARIOS:
            L.die("rehearse: no scenario %s (%s)" % (n, ", ".join(SCENARIOS)))
    names = names or list(SCENARIOS)
    rows = []
    stacks = ["ehabus", "anchor"] if stack == "both" else [stack]
    for s in stacks:
        # The anchor is resource-agents at their defaults: stock timings.
        run_stack(s, timings if s == "ehabus" else "stock", names, runs,
                  rows, out_json, reuse=stack != "both")
    if stack == "both" and not keep:
        L.cmd_down([])
    rows.sort(key=lambda r: (list(SCENARIOS).index(r["scenario"]),
                             r.get("stack", "")))
    print("\nehabus: timings %s; anchor: resource-agents' agents at their "
          "defaults, stock timings\n" % timings)
    print(table(rows))
    print()
    print(summary(rows))
    return rows
