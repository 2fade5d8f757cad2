#!/usr/bin/python3
"""Mail load for the lab, run in the client namespace.

  mailload.py send --server IP --run ID --rate N --log FILE
                   --recipients ADDR[,ADDR...] [--workers W] [--drain S]
  mailload.py fetch --server IP --accounts FILE

send: a sending MTA at a steady rate. Every message has a unique id
(RUN-SEQ) in its X-Lab-Id header, its Message-ID and its subject. Like a
real MTA it retries a message that met a temporary failure (a 4xx reply, a
refused, broken or silent connection) later, and never sends one again once
the server accepted it (250 after DATA). A connection lost after the final
dot, before the reply, leaves the outcome unknown: the message is retried,
as RFC 5321 section 6.1 makes real MTAs do, and marked `uncertain` (the
only way a duplicate can arise). A 5xx reply is final (`rejected`).

One JSON line per attempt in the log, with CLOCK_MONOTONIC (`t`), shared
with the host and the nodes' journals:
  {"t":..., "id":..., "rcpt":..., "attempt":N, "result":"accepted"|
   "tempfail"|"uncertain"|"rejected"|"abandoned", "phase":..., "detail":...}

On SIGTERM it stops making new messages and keeps retrying the pending ones
for up to --drain seconds (an MTA's queue keeps its mail), then logs the rest
as `abandoned` (never accepted, so never owed) and exits.

fetch: logs in over IMAP as every account of FILE (JSON {user: password})
and prints {user: [X-Lab-Id, ...]} (a duplicate delivery shows twice).
"""
import heapq
import imaplib
import json
import os
import signal
import smtplib
import socket
import sys
import threading
import time

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 20.0
RETRY_FIRST, RETRY_MAX = 1.0, 4.0


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, **fields):
        fields.setdefault("t", time.monotonic())
        line = json.dumps(fields, separators=(",", ":"))
        with self.lock:
            self.f.write(line + "\n")


def message(run, mid, rcpt, seq):
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    body = "".join("lab message %s line %d\r\n" % (mid, i) for i in range(8))
    return ("From: load@client.lab.test\r\n"
            "To: %s\r\n"
            "Subject: lab %s\r\n"
            "Date: %s\r\n"
            "Message-ID: <%s@client.lab.test>\r\n"
            "X-Lab-Id: %s\r\n"
            "X-Lab-Run: %s\r\n"
            "\r\n%s" % (rcpt, mid, now, mid, mid, run, body))


def attempt(server, rcpt, data):
    """One SMTP transaction. Returns (result, phase, detail)."""
    phase = "connect"
    s = smtplib.SMTP(timeout=CONNECT_TIMEOUT)
    try:
        code, msg = s.connect(server, 25)
        s.sock.settimeout(COMMAND_TIMEOUT)
        if code != 220:
            return reply(code, msg, "greeting")
        phase = "ehlo"
        code, msg = s.ehlo("client.lab.test")
        if code != 250:
            return reply(code, msg, phase)
        phase = "mail"
        code, msg = s.mail("load@client.lab.test")
        if code != 250:
            return reply(code, msg, phase)
        phase = "rcpt"
        code, msg = s.rcpt(rcpt)
        if code not in (250, 251):
            return reply(code, msg, phase)
        phase = "data"
        s.putcmd("data")
        code, msg = s.getreply()
        if code != 354:
            return reply(code, msg, phase)
        payload = data.replace("\r\n.", "\r\n..")
        s.send(payload.encode() + b".\r\n")
        phase = "after-dot"
        code, msg = s.getreply()
        if code == 250:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass  # accepted is accepted
            return "accepted", phase, msg.decode(errors="replace")[:200]
        return reply(code, msg, phase)
    except (OSError, smtplib.SMTPException) as e:
        detail = "%s: %s" % (type(e).__name__, e)
        return ("uncertain" if phase == "after-dot" else "tempfail", phase,
                detail[:200])
    finally:
        try:
            s.close()
        except OSError:
            pass


def reply(code, msg, phase):
    text = "%d %s" % (code, msg.decode(errors="replace") if isinstance(
        msg, bytes) else msg)
    if 500 <= code < 600:
        return "rejected", phase, text[:200]
    return "tempfail", phase, text[:200]


def send(args):
    server, run, rate = args["--server"], args["--run"], float(args["--rate"])
    rcpts = args["--recipients"].split(",")
    workers = int(args.get("--workers", "8"))
    drain = float(args.get("--drain", "60"))
    log = Log(args["--log"])
    lock = threading.Condition()
    due = []  # heap of (time, seq, message)
    state = {"stopping": False, "drain_until": None, "busy": 0}

    def stop(signum, frame):
        with lock:
            if not state["stopping"]:
                state["stopping"] = True
                state["drain_until"] = time.monotonic() + drain
                lock.notify_all()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def worker():
        while True:
            with lock:
                while True:
                    now = time.monotonic()
                    if state["stopping"] and (not due and state["busy"] == 0
                                              or now > state["drain_until"]):
                        return
                    if due and due[0][0] <= now:
                        _, seq, m = heapq.heappop(due)
                        state["busy"] += 1
                        break
                    lock.wait(0.05 if not due else
                              min(0.05, max(0.0, due[0][0] - now)))
            m["attempt"] += 1
            began = time.monotonic()
            result, phase, detail = attempt(server, m["rcpt"], m["data"])
            log.write(id=m["id"], rcpt=m["rcpt"], attempt=m["attempt"],
                      result=result, phase=phase, detail=detail,
                      started=began)
            with lock:
                state["busy"] -= 1
                if result in ("tempfail", "uncertain"):
                    m["backoff"] = min(RETRY_MAX, m["backoff"] * 2) \
                        if m["attempt"] > 1 else RETRY_FIRST
                    t = time.monotonic() + m["backoff"]
                    heapq.heappush(due, (t, seq, m))
                lock.notify_all()

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(workers)]
    for th in threads:
        th.start()
    log.write(id="", result="start", rate=rate, run=run, server=server)
    seq = 0
    start = time.monotonic()
    while True:
        with lock:
            if state["stopping"]:
                break
        next_t = start + seq / rate
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, 0.1))
            continue
        seq += 1
        mid = "%s-%06d" % (run, seq)
        rcpt = rcpts[seq % len(rcpts)]
        m = {"id": mid, "rcpt": rcpt, "attempt": 0, "backoff": RETRY_FIRST,
             "data": message(run, mid, rcpt, seq)}
        with lock:
            heapq.heappush(due, (next_t, seq, m))
            lock.notify_all()
    for th in threads:
        th.join()
    with lock:
        for _, _, m in due:
            log.write(id=m["id"], rcpt=m["rcpt"], attempt=m["attempt"],
                      result="abandoned", phase="", detail="not accepted "
                      "before the drain ended")
    log.write(id="", result="stop", sent=seq)


def fetch(args):
    server = args["--server"]
    with open(args["--accounts"]) as f:
        accounts = json.load(f)
    out = {}
    for user, password in accounts.items():
        ids = []
        imap = imaplib.IMAP4(server, 143, timeout=COMMAND_TIMEOUT)
        try:
            imap.login(user, password)
            typ, data = imap.select("INBOX", readonly=True)
            if typ != "OK":
                raise RuntimeError("SELECT INBOX: %s" % data)
            if int(data[0]) > 0:
                typ, data = imap.fetch(
                    "1:*", "(BODY.PEEK[HEADER.FIELDS (X-LAB-ID)])")
                for item in data:
                    if isinstance(item, tuple):
                        text = item[1].decode(errors="replace")
                        for line in text.splitlines():
                            if line.lower().startswith("x-lab-id:"):
                                ids.append(line.split(":", 1)[1].strip())
            imap.logout()
        finally:
            try:
                imap.shutdown()
            except OSError:
                pass
        out[user] = ids
    json.dump(out, sys.stdout)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("send", "fetch"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    args = {}
    rest = sys.argv[2:]
    for i in range(0, len(rest) - 1, 2):
        args[rest[i]] = rest[i + 1]
    try:
        (send if sys.argv[1] == "send" else fetch)(args)
    except KeyError as e:
        print("mailload: missing %s" % e, file=sys.stderr)
        sys.exit(2)
    except (OSError, imaplib.IMAP4.error, RuntimeError) as e:
        print("mailload: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    socket.setdefaulttimeout(COMMAND_TIMEOUT)
    main()
