"""The lab's mail stack: Postfix, Dovecot, MariaDB and Memcached of the
`postfix-dovecot` profile, with every piece of state on the shared disk.

  /srv/mail/postfix   Postfix's queue (/var/spool/postfix links here)
  /srv/mail/mysql     MariaDB's data: the virtual domains, users and aliases
                      that Postfix and Dovecot look up (a real dependency:
                      no MariaDB, no lookups, mail is refused with 451)
  /srv/mail/vmail     Dovecot's Maildirs (delivered over LMTP by Postfix)

Every node gets the same daemon configuration; the shared disk is written
once, from the host, before any node boots (no cluster daemon runs then).

The mail sink: a real Postfix in its own namespace (`ehl-sink`, 198.18.10.2
on the client network) that receives ehabus's notification mail into a
Maildir the lab counts. It is not the cluster being tested.
"""
import json
import os
import shutil
import subprocess
import time

DOMAIN = "lab.test"
SINK_NS = "ehl-sink"
SINK_IP = "198.18.10.2"
SINK_DOMAIN = "sink.lab.test"
OPS = "ops@" + SINK_DOMAIN
# The test users the sender writes to and the verifier reads (IMAP), and
# aliases that resolve to them through MariaDB.
USERS = ["alice", "bob", "carol", "dave"]
ALIASES = {"sales": "alice", "support": "bob"}
CANARY = "canary"


def secrets():
    """Fresh passwords for one lab (kept in its state)."""
    word = lambda: os.urandom(9).hex()
    return {"mailserver": word(), "ehabus": word(), "canary": word(),
            "users": {u: word() for u in USERS}}


def recipients():
    """Envelope recipient -> the mailbox it lands in."""
    out = {"%s@%s" % (u, DOMAIN): u for u in USERS}
    out.update({"%s@%s" % (a, DOMAIN): u for a, u in ALIASES.items()})
    return out


def _sql(sec):
    users = [(u, sec["users"][u]) for u in USERS] + [(CANARY,
                                                      sec["canary"])]
    rows = ",".join("('%s@%s','%s')" % (u, DOMAIN, p) for u, p in users)
    aliases = ",".join("('%s@%s','%s@%s')" % (a, DOMAIN, u, DOMAIN)
                       for a, u in ALIASES.items())
    return f"""
CREATE DATABASE mail;
CREATE TABLE mail.domains (domain VARCHAR(128) PRIMARY KEY);
CREATE TABLE mail.users (email VARCHAR(255) PRIMARY KEY,
                         password VARCHAR(255) NOT NULL);
CREATE TABLE mail.aliases (source VARCHAR(255) PRIMARY KEY,
                           destination VARCHAR(255) NOT NULL);
INSERT INTO mail.domains VALUES ('{DOMAIN}');
INSERT INTO mail.users VALUES {rows};
INSERT INTO mail.aliases VALUES {aliases};
CREATE USER 'mailserver'@'127.0.0.1' IDENTIFIED BY '{sec["mailserver"]}';
GRANT SELECT ON mail.* TO 'mailserver'@'127.0.0.1';
CREATE DATABASE ehabus;
CREATE USER 'ehabus'@'127.0.0.1' IDENTIFIED BY '{sec["ehabus"]}';
GRANT ALL ON ehabus.* TO 'ehabus'@'127.0.0.1';
FLUSH PRIVILEGES;
"""


MARIADB_OPTIONS = ["--innodb-buffer-pool-size=32M",
                   "--innodb-log-file-size=32M"]


def init_disk(image, workdir, sec, run, log):
    """Writes the stack's state onto the shared disk IMAGE (unmounted): the
    queue skeleton, MariaDB's data with the mail tables, the Maildir root."""
    mnt = workdir + "/init"
    os.makedirs(mnt, exist_ok=True)
    loop = run(["losetup", "-f", "--show", image]).stdout.strip()
    try:
        run(["mount", loop, mnt])
        try:
            run(["cp", "-a", "/var/spool/postfix", mnt + "/postfix"])
            os.makedirs(mnt + "/vmail")
            shutil.chown(mnt + "/vmail", "mail", "mail")
            os.chmod(mnt + "/vmail", 0o770)
            log("shared disk: MariaDB data (mariadb-install-db)")
            run(["mariadb-install-db", "--no-defaults", "--user=mysql",
                 "--datadir=" + mnt + "/mysql", "--skip-test-db",
                 "--auth-root-authentication-method=socket"] +
                MARIADB_OPTIONS, timeout=180)
            # mariadbd runs as mysql: its socket, pid and log in a
            # directory of its own.
            rundir = workdir + "/init-run"
            os.makedirs(rundir, exist_ok=True)
            shutil.chown(rundir, "mysql", "mysql")
            sock = rundir + "/mysqld.sock"
            server = subprocess.Popen(
                ["/usr/sbin/mariadbd", "--no-defaults", "--user=mysql",
                 "--datadir=" + mnt + "/mysql", "--socket=" + sock,
                 "--skip-networking", "--pid-file=" + rundir + "/pid",
                 "--log-error=" + rundir + "/error.log"] + MARIADB_OPTIONS,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 60
                while not os.path.exists(sock):
                    if time.monotonic() > deadline or \
                            server.poll() is not None:
                        err = ""
                        if os.path.exists(rundir + "/error.log"):
                            err = open(rundir + "/error.log").read()[-2000:]
                        raise RuntimeError("mariadbd did not start: " + err)
                    time.sleep(0.2)
                run(["mariadb", "--socket=" + sock, "-uroot"],
                    input=_sql(sec))
                run(["mariadb-admin", "--socket=" + sock, "-uroot",
                     "shutdown"])
                server.wait(60)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
        finally:
            run(["umount", mnt])
    finally:
        run(["losetup", "-d", loop])
        os.rmdir(mnt)
        shutil.rmtree(workdir + "/init-run", ignore_errors=True)


def node_files(sec, profile):
    """path -> (text, mode, owner group) of the mail stack's configuration,
    the same on every node. PROFILE: the profile the stack runs."""
    pw = sec["mailserver"]
    lookup = lambda query: (
        "# MariaDB on this node (its data on the shared disk)\n"
        "hosts = 127.0.0.1\nuser = mailserver\npassword = %s\n"
        "dbname = mail\nquery = %s\n" % (pw, query))
    files = {
        "/etc/postfix/main.cf": (f"""# The lab's Postfix: the same on every node. The queue is on the shared
# disk (/var/spool/postfix -> /srv/mail/postfix); domains, mailboxes and
# aliases come from MariaDB; mail is delivered over LMTP to Dovecot.
compatibility_level = 3.6
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination = localhost
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
readme_directory = no
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = proxy:mysql:/etc/postfix/mysql-domains.cf
virtual_mailbox_maps = proxy:mysql:/etc/postfix/mysql-mailboxes.cf
virtual_alias_maps = proxy:mysql:/etc/postfix/mysql-aliases.cf
virtual_transport = lmtp:inet:127.0.0.1:24
# A deferred message is tried again soon (the lab measures minutes).
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
""", 0o644, None),
        "/etc/postfix/mysql-domains.cf": (
            lookup("SELECT domain FROM domains WHERE domain='%s'"), 0o640,
            ("root", "postfix")),
        "/etc/postfix/mysql-mailboxes.cf": (
            lookup("SELECT email FROM users WHERE email='%s'"), 0o640,
            ("root", "postfix")),
        "/etc/postfix/mysql-aliases.cf": (
            lookup("SELECT destination FROM aliases WHERE source='%s'"),
            0o640, ("root", "postfix")),
        "/etc/dovecot/dovecot.conf": (f"""# The lab's Dovecot: the same on every node; Maildirs on the shared disk,
# users from MariaDB, LMTP for Postfix on loopback.
protocols = imap pop3 lmtp
listen = *
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:/srv/mail/vmail/%d/%n/Maildir
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
last_valid_uid = 8
mail_privileged_group = mail
passdb {{
  driver = sql
  args = /etc/dovecot/dovecot-sql.conf.ext
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home=/srv/mail/vmail/%d/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = 24
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 110
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
""", 0o644, None),
        "/etc/dovecot/dovecot-sql.conf.ext": (f"""driver = mysql
connect = host=127.0.0.1 dbname=mail user=mailserver password={pw}
default_pass_scheme = PLAIN
password_query = SELECT email AS user, password FROM users WHERE email = '%u'
""", 0o640, ("root", "dovecot")),
        "/etc/mysql/mariadb.conf.d/90-lab.cnf": ("""# The lab's MariaDB: data on the shared disk, loopback only.
[mysqld]
datadir = /srv/mail/mysql
bind-address = 127.0.0.1
skip-name-resolve
innodb_buffer_pool_size = 32M
innodb_log_file_size = 32M
""", 0o644, None),
        "/etc/ehabus/canary.ini": (f"""; Accounts of ehabus's service checks (IMAP/POP3 login, MariaDB query).
[canary]
user = {CANARY}@{DOMAIN}
password = {sec["canary"]}

[mysql]
user = ehabus
password = {sec["ehabus"]}
""", 0o640, ("root", "ehabus")),
    }
    # The cluster and ehabus own restarts: systemd's own would race the
    # restart healer (and restart a dependency without its dependents).
    for unit in ("mariadb", "memcached", "postfix@-", "dovecot"):
        files["/etc/systemd/system/%s.service.d/lab.conf" % unit] = (
            "[Service]\nRestart=no\n", 0o644, None)
    return files


def install_node(root, sec, profile):
    for path, (text, mode, owner) in node_files(sec, profile).items():
        full = root + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)
        if owner:
            # Names as the node knows them (its own /etc/group).
            subprocess.run(["chroot", root, "chown", "%s:%s" % owner, path],
                           check=True)
    # resource-agents' mysql agent logs to /var/log/mysql/error.log by
    # default; Debian 12's MariaDB logs to the journal and no longer makes
    # the directory.
    os.makedirs(root + "/var/log/mysql", exist_ok=True)
    subprocess.run(["chroot", root, "chown", "mysql:adm", "/var/log/mysql"],
                   check=True)
    # The queue on the shared disk, where the profile expects it.
    spool = root + "/var/spool/postfix"
    if os.path.isdir(spool) and not os.path.islink(spool):
        shutil.rmtree(spool)
    if not os.path.lexists(spool):
        os.symlink("/srv/mail/postfix", spool)


# --- the mail sink --------------------------------------------------------

def sink_dir(state_dir):
    return state_dir + "/sink"


def start_sink(state_dir, run):
    """A real Postfix in the sink namespace, delivering everything for
    sink.lab.test into one Maildir."""
    d = sink_dir(state_dir)
    for sub in ("etc", "queue", "data", "mail"):
        os.makedirs(d + "/" + sub, exist_ok=True)
    shutil.chown(d + "/data", "postfix", "postfix")
    shutil.chown(d + "/mail", "mail", "mail")
    master = []
    with open("/usr/share/postfix/master.cf.dist") as f:
        for line in f:
            fields = line.split()
            if line[:1] not in ("#", " ", "\t", "\n") and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = SINK_IP + ":25"
                fields[4] = "n"  # no chroot
                line = " ".join(fields) + "\n"
            master.append(line)
    with open(d + "/etc/master.cf", "w") as f:
        f.write("".join(master))
    with open(d + "/etc/main.cf", "w") as f:
        f.write(f"""# The lab's mail sink: receives ehabus's notifications.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
inet_interfaces = {SINK_IP}
inet_protocols = ipv4
myhostname = {SINK_DOMAIN}
mydestination =
mynetworks = 198.18.10.0/24
alias_maps =
alias_database =
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = {SINK_DOMAIN}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:ops/
virtual_uid_maps = static:8
virtual_gid_maps = static:8
virtual_minimum_uid = 8
# Its log to stdout, which the lab writes to sink/postfix.log (the host
# has no syslog).
maillog_file = /dev/stdout
syslog_name = postfix-lab-sink
""")
    log = open(d + "/postfix.log", "a")
    p = subprocess.Popen(["ip", "netns", "exec", SINK_NS, "/usr/sbin/postfix",
                          "-c", d + "/etc", "start-fg"],
                         stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    return p.pid


def sink_messages(state_dir):
    """Every notification the sink received: (delivered at, headers dict),
    oldest first."""
    out = []
    box = sink_dir(state_dir) + "/mail/ops"
    for sub in ("new", "cur"):
        try:
            names = os.listdir(box + "/" + sub)
        except OSError:
            continue
        for name in names:
            path = box + "/" + sub + "/" + name
            try:
                st = os.stat(path)
                with open(path, errors="replace") as f:
                    head = f.read(16384).split("\n\n", 1)[0]
            except OSError:
                continue
            headers = {}
            for line in head.replace("\n ", " ").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers.setdefault(k.strip().lower(), v.strip())
            out.append((st.st_mtime, headers))
    out.sort(key=lambda x: x[0])
    return out


def decode_subject(text):
    import email.header
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # a broken header is shown as it is
        return text


# --- the anchor stack -----------------------------------------------------

def _op_defaults(agent):
    """The operations an agent's meta-data advertises: what `pcs resource
    create` would configure for it. systemd units: pcs's own defaults."""
    if agent.startswith("systemd:"):
        return [("start", "0s", "100s", None), ("stop", "0s", "100s", None),
                ("monitor", "60s", "100s", None)]
    import xml.etree.ElementTree as ET
    provider, name = agent.split(":")[1:]
    r = subprocess.run(["/usr/lib/ocf/resource.d/%s/%s" % (provider, name),
                        "meta-data"], stdout=subprocess.PIPE, text=True,
                       env={"OCF_ROOT": "/usr/lib/ocf"}, check=True)
    ops = []
    for a in ET.fromstring(r.stdout).iter("action"):
        n = a.get("name")
        if n in ("start", "stop") or (n == "monitor" and not a.get("role")):
            ops.append((n, a.get("interval", "0s") if n == "monitor"
                        else "0s", a.get("timeout"), a.get("depth")))
    return ops


def anchor_cib(rendered):
    """The anchor: the same lab cluster as ehabus renders it (fencing,
    cluster options, shared disk, VIP, ping), the mail services run by
    resource-agents' mysql, postfix and dovecot agents (memcached by its
    systemd unit: resource-agents has no agent for it) with the operations
    their meta-data advertise, and Pacemaker's resource defaults (restart in
    place, no failure expiry). Nothing of ehabus runs. The network share
    stays mounted on every node by systemd, as for ehabus, and nothing
    watches it: resource-agents' Filesystem takes any device of a fuse.*
    type other than glusterfs for a block device (it cannot mount sshfs),
    and at its default depth (0) it only reads /proc/mounts, which never
    shows a hang."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(rendered[rendered.index("<cib"):])
    conf = root.find("configuration")
    crm = conf.find("crm_config")
    for ps in list(crm):
        if ps.get("id") == "ehabus-config":
            crm.remove(ps)
    for tag in ("alerts", "op_defaults"):
        el = conf.find(tag)
        if el is not None:
            conf.remove(el)
    defaults = conf.find("rsc_defaults/meta_attributes")
    for nv in list(defaults):
        if nv.get("name") != "resource-stickiness":
            defaults.remove(nv)
    group = conf.find("resources/group")
    for p in list(group):
        if p.get("type") == "mailstack":
            group.remove(p)

    def primitive(rid, agent, params, meta=None):
        cls = agent.split(":")[0]
        p = ET.Element("primitive", {"id": rid, "class": cls,
                                     "type": agent.split(":")[-1]})
        if cls == "ocf":
            p.set("provider", agent.split(":")[1])
        if params:
            ia = ET.SubElement(p, "instance_attributes",
                               {"id": rid + "-params"})
            for k, v in params.items():
                ET.SubElement(ia, "nvpair", {"id": "%s-params-%s" % (rid, k),
                                             "name": k, "value": v})
        if meta:
            ma = ET.SubElement(p, "meta_attributes", {"id": rid + "-meta"})
            for k, v in meta.items():
                ET.SubElement(ma, "nvpair", {"id": "%s-meta-%s" % (rid, k),
                                             "name": k, "value": v})
        ops = ET.SubElement(p, "operations")
        for name, interval, timeout, _ in _op_defaults(agent):
            ET.SubElement(ops, "op", {
                "id": "%s-%s-%s" % (rid, name, interval), "name": name,
                "interval": interval, "timeout": timeout})
        group.append(p)

    primitive("mysql", "ocf:heartbeat:mysql", {"datadir": "/srv/mail/mysql"})
    primitive("memcached", "systemd:memcached", {})
    # The priority ehabus gives its stack resource: in a split the node
    # running mail wins the fencing race (the cluster's option, kept).
    primitive("postfix", "ocf:heartbeat:postfix", {},
              meta={"priority": "10"})
    primitive("dovecot", "ocf:heartbeat:dovecot", {})
    # The whole CIB (for crm_verify) and its configuration (for cibadmin
    # --replace --scope configuration, which keeps the live epoch).
    return (ET.tostring(root, encoding="unicode"),
            ET.tostring(conf, encoding="unicode"))
