"""`lab bench failover [--runs K]`: K crashes of the active node with the
stock timings (token 3 s, SBD watchdog 5 s / msgwait 10 s, fencing delay
5 s) and K with the project's tuned ones (token 1 s, watchdog 2 s / msgwait
4 s, delay 2 s), each timed from the crash (monotonic, printed by `lab
crash`) to the VIP answering from the client namespace; min/median/max of
both, side by side. Each timing set gets a fresh lab.
"""
import statistics
import subprocess
import sys
import time

LAB = None


def lab(*args, timeout=600, check=True):
    r = subprocess.run([LAB] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("lab %s: %s" % (" ".join(args), r.stdout[-2000:]))
    return r.stdout


def active_node():
    out = lab("status")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mailstack" and parts[1] == "on":
            return parts[2]
    return None


def settled():
    # A node that was booted may need its cluster stack started again.
    lab("wait-online", "--timeout", "5", check=False)
    out = lab("status")
    return (out.count("cluster online") == 2 and "mailstack" in out and
            "VIP 198.18.10.100: answers" in out)


def wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except RuntimeError:
            pass
        time.sleep(1)
    return False


def runs_for(timings, runs):
    print("== %s timings: lab up" % timings, flush=True)
    lab("up", "--timings", timings)
    times = []
    try:
        for i in range(runs):
            if not wait(settled, 300):
                raise RuntimeError("cluster did not settle")
            victim = active_node()
            t0 = float(lab("crash", victim).split()[0])
            t1 = float(lab("wait-vip", "--timeout", "180").split()[0])
            times.append(t1 - t0)
            print("   run %d: crash %s -> VIP answers in %.1f s" %
                  (i + 1, victim, t1 - t0), flush=True)
            lab("boot", victim)
    finally:
        lab("down")
    return times


def main(args):
    global LAB
    import os
    LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab")
    if not args or args[0] != "failover":
        print("usage: lab bench failover [--runs K]", file=sys.stderr)
        sys.exit(2)
    runs = int(args[2]) if len(args) >= 3 and args[1] == "--runs" else 5
    results = {t: runs_for(t, runs) for t in ("stock", "tuned")}
    print("\ncrash of the active node to the VIP answering (%d runs each):"
          % runs)
    print("  %-6s %7s %7s %7s" % ("", "min", "median", "max"))
    for t, xs in results.items():
        print("  %-6s %6.1fs %6.1fs %6.1fs" % (t, min(xs),
                                                statistics.median(xs),
                                                max(xs)))
    stock = statistics.median(results["stock"])
    tuned = statistics.median(results["tuned"])
    print("  tuned/stock median: %.2f" % (tuned / stock))
