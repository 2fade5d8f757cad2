// Every section and key ehabus knows, with its default and why.
// etc/ehabus.ini mirrors this table for operators; a test keeps them in step.
#include "common/config.h"

namespace ehabus {

namespace {

// The keys every notifier has: how incidents are grouped, what is sent,
// where it waits while the channel is down.
std::vector<KeySpec> NotifyKeys(std::string_view spool_dir,
                                std::vector<KeySpec> own) {
  std::vector<KeySpec> keys = {
      {"group_wait", ValueType::kDuration, "10s",
       "An incident's first notice waits this long for the rest of its story "
       "(the dependents, the healing).",
       0, 3'600'000},
      {"resolve_quiet", ValueType::kDuration, "30s",
       "Everything back and no news for this long: the incident is resolved "
       "(one follow-up).",
       0, 3'600'000},
      {"repeat_window", ValueType::kDuration, "1h",
       "The same incident again within this is counted, not sent.", 0,
       86'400'000},
      {"min_severity",
       ValueType::kEnum,
       "warning",
       "Events at least this severe open an incident.",
       0,
       0,
       {"debug", "info", "notice", "warning", "error", "critical"}},
      {"topics", ValueType::kList, "",
       "Topic prefixes that may open an incident; empty: all."},
      {"retry", ValueType::kDuration, "30s",
       "First wait before a failed delivery is tried again; doubles.", 100,
       3'600'000},
      {"retry_max", ValueType::kDuration, "10m", "Longest wait between tries.",
       100, 86'400'000},
      {"spool_dir", ValueType::kPath, spool_dir,
       "Notices wait here until delivered (nothing is lost while the channel "
       "is down or the notifier restarts)."},
  };
  keys.insert(keys.end(), own.begin(), own.end());
  return keys;
}

}  // namespace

const Schema& FullSchema() {
  static const Schema schema = {
      {"node",
       "This machine's identity on the bus.",
       {
           {"name", ValueType::kString, "",
            "Node name in every event; empty: the host name."},
       }},
      {"log",
       "Logging of every ehabus process.",
       {
           {"level",
            ValueType::kEnum,
            "info",
            "Least severe level logged.",
            0,
            0,
            {"trace", "debug", "info", "warn", "error", "critical", "off"}},
           {"target",
            ValueType::kEnum,
            "auto",
            "auto: journald when started by systemd, else stderr.",
            0,
            0,
            {"auto", "stderr", "journald"}},
       }},
      {"bus",
       "The node-local broker, ehabus-busd, and how clients reach it.",
       {
           {"pub_endpoint", ValueType::kEndpoint, "ipc:///run/ehabus/pub.sock",
            "Where publishers connect (the broker's XSUB side)."},
           {"sub_endpoint", ValueType::kEndpoint, "ipc:///run/ehabus/sub.sock",
            "Where subscribers connect (the broker's XPUB side)."},
           {"snapshot_endpoint", ValueType::kEndpoint,
            "ipc:///run/ehabus/snapshot.sock",
            "Where subscribers ask for the current state and status."},
           {"group", ValueType::kString, "ehabus",
            "Group owning the sockets; it alone may publish (see pub_mode). "
            "Ignored when the group does not exist."},
           {"pub_mode", ValueType::kMode, "0660",
            "Mode of the publish socket: only owner and group publish."},
           {"alert_endpoint", ValueType::kString, "",
            "Where Pacemaker's alert agent publishes (ipc:///PATH; empty: "
            "alert.sock beside pub_endpoint). Only cluster.* topics are "
            "accepted there."},
           {"alert_group", ValueType::kString, "haclient",
            "Group that may publish on alert_endpoint (mode pub_mode): "
            "Pacemaker runs alert agents as hacluster with this group only. "
            "Ignored when the group does not exist."},
           {"sub_mode", ValueType::kMode, "0666",
            "Mode of the subscribe and snapshot sockets: anyone local may "
            "read."},
           {"publisher_hwm", ValueType::kInt, "100000",
            "Messages queued per publisher before the newest are dropped; "
            "publishers never block.",
            1, 10'000'000},
           {"subscriber_hwm", ValueType::kInt, "100000",
            "Messages queued per subscriber before it misses some (it sees a "
            "sequence gap); a slow subscriber never blocks the others.",
            1, 10'000'000},
           {"max_state_topics", ValueType::kInt, "10000",
            "Most state topics the broker remembers; more are reported.", 1,
            1'000'000},
           {"snapshot_timeout", ValueType::kDuration, "2s",
            "How long a subscriber waits for the state snapshot.", 10, 60'000},
       }},
      {"bus.remote",
       "Optional TCP endpoint for remote subscribers (peer node, operator "
       "console), encrypted and authenticated with CURVE.",
       {
           {"enabled", ValueType::kBool, "no", "Serve remote subscribers."},
           {"sub_endpoint", ValueType::kEndpoint, "tcp://*:5770",
            "Remote event stream."},
           {"snapshot_endpoint", ValueType::kEndpoint, "tcp://*:5771",
            "Remote state snapshot and status."},
           {"server_secret_key", ValueType::kPath,
            "/etc/ehabus/curve/server.secret",
            "This broker's CURVE secret key (from `ehabus keygen`)."},
           {"allowed_clients", ValueType::kPath,
            "/etc/ehabus/curve/allowed_clients",
            "Public keys of clients allowed to connect, one per line."},
           {"server_public_key", ValueType::kPath,
            "/etc/ehabus/curve/peer.public",
            "For `ehabus tail --connect`: the remote broker's public key."},
           {"client_secret_key", ValueType::kPath,
            "/etc/ehabus/curve/client.secret",
            "For `ehabus tail --connect`: this client's secret key."},
       }},
      {"sensor.service",
       "ehabus-sensor-service: the mail services of the profile, as the "
       "watch list says.",
       {
           {"profile", ValueType::kString, "postfix-dovecot",
            "Profile name (a file PROFILES_DIR/NAME.ini) or path: eyou, "
            "eyou-gateway, postfix-dovecot."},
           {"profiles_dir", ValueType::kPath, "/etc/ehabus/profiles",
            "Where profile names are looked up."},
           {"watch_file", ValueType::kPath, "/etc/ehabus/watch.ini",
            "Which services are watched; written on first start, re-read "
            "within a second of every edit."},
           {"host", ValueType::kString, "127.0.0.1",
            "Numeric address where the services answer (no name lookups)."},
           {"interval", ValueType::kDuration, "2s",
            "Time between two checks of a healthy service.", 100, 3'600'000},
           {"retry", ValueType::kDuration, "250ms",
            "Time to the next check after a failure, until the service is "
            "down (fall) or passes again: a killed service is reported in "
            "about interval/2 + retry.",
            50, 3'600'000},
           {"timeout", ValueType::kDuration, "2s",
            "Deadline of one check; a check still running then has failed.", 10,
            600'000},
           {"fall", ValueType::kInt, "2",
            "Failures in a row before a service is down (one slow answer is "
            "not an outage).",
            1, 100},
           {"rise", ValueType::kInt, "1",
            "Successes in a row before a down service is up again.", 1, 100},
           {"refresh", ValueType::kDuration, "60s",
            "A service's state is re-published at least this often (fresh "
            "latency).",
            1000, 86'400'000},
           {"canary_credentials", ValueType::kPath, "/etc/ehabus/canary.ini",
            "IMAP/POP3 canary account ([canary] user, password); readable "
            "only by ehabus. Used when it exists."},
       }},
      {"sensor.storage",
       "ehabus-sensor-storage: every [storage.NAME] mount, checked from a "
       "thread that is abandoned at its deadline (a hung mount never stalls "
       "the sensor).",
       {
           {"interval", ValueType::kDuration, "4s",
            "Time between two checks of a healthy mount (each writes, syncs "
            "and reads a probe file).",
            100, 3'600'000},
           {"retry", ValueType::kDuration, "500ms",
            "Time to the next check after a failure.", 50, 3'600'000},
           {"timeout", ValueType::kDuration, "3s",
            "Deadline of one check: a mount that has not answered by then is "
            "hung. A hang is reported within interval + timeout + retry "
            "(7.5 s at the defaults).",
            10, 600'000},
           {"fall", ValueType::kInt, "2", "Failures in a row before down.", 1,
            100},
           {"rise", ValueType::kInt, "1", "Successes in a row before up.", 1,
            100},
           {"refresh", ValueType::kDuration, "60s",
            "A mount's state is re-published at least this often.", 1000,
            86'400'000},
       }},
      {"storage.*",
       "One mount of shared storage, in mount order (the cluster renders "
       "one Filesystem resource per section).",
       {
           {"device",
            ValueType::kString,
            "",
            "/dev/PATH, UUID=..., LABEL=... (resolved with libblkid) or "
            "network HOST:/EXPORT.",
            0,
            0,
            {},
            true},
           {"mountpoint",
            ValueType::kPath,
            "",
            "Where it is mounted.",
            0,
            0,
            {},
            true},
           {"fstype", ValueType::kString, "",
            "Expected file system type (e.g. ext4, fuse.sshfs); empty: any."},
           {"options", ValueType::kString, "", "Mount options."},
           {"write_probe", ValueType::kBool, "yes",
            "Write, sync and read back a 4 KiB probe file each check (direct "
            "I/O on block devices): finds I/O errors a read does not."},
           {"probe_file", ValueType::kString, ".ehabus-probe",
            "Name of the probe file in the mount's top directory; the node "
            "name is appended."},
           {"max_used_percent", ValueType::kInt, "95",
            "Space or inodes used past this is a failure (disk full).", 1, 100},
           {"cluster_managed", ValueType::kBool, "yes",
            "yes: not mounted is normal (the cluster mounts it on the active "
            "node only) and reported as standby; no: it must be mounted "
            "here."},
       }},
      {"sensor.network",
       "ehabus-sensor-network: reachability of gateways and targets, link "
       "state of interfaces, and where the VIP is.",
       {
           {"targets", ValueType::kList, "",
            "Numeric addresses pinged (ICMP echo), or tcp:ADDRESS:PORT "
            "connected to; e.g. the gateway."},
           {"min_targets", ValueType::kInt, "1",
            "How many targets must answer for the network to be up.", 1, 1000},
           {"interfaces", ValueType::kList, "",
            "Interfaces whose link must be up (rtnetlink: up and carrier)."},
           {"vip", ValueType::kList, "",
            "Service addresses; reported as present or absent on this node "
            "(information, never a failure). Empty: those of [vip] "
            "addresses."},
           {"interval", ValueType::kDuration, "2s", "Time between two checks.",
            100, 3'600'000},
           {"retry", ValueType::kDuration, "500ms",
            "Time to the next check after a failure.", 50, 3'600'000},
           {"timeout", ValueType::kDuration, "1s",
            "Deadline of one check (an echo not answered by then is lost).", 10,
            600'000},
           {"fall", ValueType::kInt, "3",
            "Failures in a row before down (a lost echo is not an outage).", 1,
            100},
           {"rise", ValueType::kInt, "2", "Successes in a row before up.", 1,
            100},
           {"refresh", ValueType::kDuration, "60s",
            "States are re-published at least this often.", 1000, 86'400'000},
       }},
      {"sensor.heartbeat",
       "ehabus-sensor-heartbeat: corosync membership, quorum and links, and "
       "the SBD disk; says whether shared storage is healthy when a link "
       "fails.",
       {
           {"corosync", ValueType::kBool, "yes",
            "Watch corosync (through its cmap, quorum and cfg libraries)."},
           {"sbd_devices", ValueType::kList, "",
            "SBD heartbeat disks, read with `sbd -d DEV list`."},
           {"sbd_command", ValueType::kPath, "/usr/sbin/sbd",
            "The sbd program."},
           {"sbd_interval", ValueType::kDuration, "60s",
            "Time between two reads of an SBD disk (sbd watches its disk "
            "itself; each read starts a process).",
            1000, 3'600'000},
           {"interval", ValueType::kDuration, "2s", "Time between two checks.",
            100, 3'600'000},
           {"retry", ValueType::kDuration, "500ms",
            "Time to the next check after a failure.", 50, 3'600'000},
           {"timeout", ValueType::kDuration, "2s", "Deadline of one check.", 10,
            600'000},
           {"fall", ValueType::kInt, "2", "Failures in a row before down.", 1,
            100},
           {"rise", ValueType::kInt, "1", "Successes in a row before up.", 1,
            100},
           {"refresh", ValueType::kDuration, "60s",
            "States are re-published at least this often.", 1000, 86'400'000},
       }},
      {"healer.restart",
       "ehabus-healer-restart: restarts a failed service with what depends "
       "on it, within a budget; the profile and watch list are "
       "[sensor.service]'s.",
       {
           {"budget", ValueType::kInt, "3",
            "Healings of one service within budget_window; one more failure "
            "escalates to failover (the 2014 toolkit waited for 10 failures: "
            "minutes of flapping mail).",
            1, 100},
           {"budget_window", ValueType::kDuration, "15m",
            "The window of the budget.", 1000, 86'400'000},
           {"backoff", ValueType::kDuration, "5s",
            "Wait before a service's second healing in the window; doubles "
            "for each further one.",
            0, 3'600'000},
           {"backoff_max", ValueType::kDuration, "2m", "Longest backoff.", 0,
            3'600'000},
           {"coalesce", ValueType::kDuration, "1s",
            "Failures arriving within this of the first are healed together "
            "(a dependency and its dependents fail at once).",
            0, 60'000},
           {"stop_timeout", ValueType::kDuration, "30s",
            "Deadline of one stop; then the process is killed.", 100, 600'000},
           {"start_timeout", ValueType::kDuration, "60s",
            "Deadline of one start command.", 100, 600'000},
           {"confirm_timeout", ValueType::kDuration, "30s",
            "How long a started service has to pass the service sensor's "
            "check.",
            100, 600'000},
           {"state_file", ValueType::kPath,
            "/var/lib/ehabus/healer-restart.json",
            "The healing in progress, so that a restarted healer resumes it."},
           {"active_marker", ValueType::kString, "",
            "A path that exists while the stack runs on this node (the "
            "cluster's agent writes it): no healing without it. Empty: always "
            "heal (no cluster)."},
       }},
      {"healer.failover",
       "ehabus-healer-failover: which losses hand the stack to the other "
       "node, through a Pacemaker node health attribute.",
       {
           {"on_network_lost",
            ValueType::kEnum,
            "failover",
            "The gateway targets of [sensor.network] do not answer.",
            0,
            0,
            {"failover", "notify", "nothing"}},
           {"on_storage_lost",
            ValueType::kEnum,
            "failover",
            "A [storage.NAME] mount is hung, read-only, failing I/O or gone.",
            0,
            0,
            {"failover", "notify", "nothing"}},
           {"on_storage_full",
            ValueType::kEnum,
            "notify",
            "A [storage.NAME] mount is fuller than its max_used_percent. "
            "The other node would mount the same full disk: no failover.",
            0,
            0,
            {"failover", "notify", "nothing"}},
           {"on_budget_spent",
            ValueType::kEnum,
            "failover",
            "A service failed again after its restart budget was spent.",
            0,
            0,
            {"failover", "notify", "nothing"}},
           {"on_heartbeat_lost",
            ValueType::kEnum,
            "nothing",
            "A heartbeat link or member lost while shared storage is "
            "unhealthy too (while it is healthy: always nothing; fencing "
            "decides).",
            0,
            0,
            {"failover", "notify", "nothing"}},
           {"budget_hold", ValueType::kDuration, "30m",
            "A spent budget stops counting as a cause after this, or as soon "
            "as the service serves here again.",
            1000, 86'400'000},
           {"attribute", ValueType::kString, "#health-ehabus",
            "The node health attribute (node-health-strategy acts on "
            "#health-*): red moves the stack away, green allows it back."},
           {"set_command", ValueType::kString,
            "attrd_updater --name {attribute} --update {value}",
            "How the attribute is set on this node (split at spaces; "
            "{attribute} and {value} replaced)."},
           {"retry", ValueType::kDuration, "5s",
            "Retry period when setting the attribute failed.", 100, 3'600'000},
       }},
      {"notify.mail",
       "ehabus-notify-mail: one mail per incident and one when it resolves, "
       "through an SMTP relay.",
       NotifyKeys(
           "/var/spool/ehabus/mail",
           {
               {"relay", ValueType::kString, "",
                "HOST:PORT of the SMTP relay; required. Not the MTA being "
                "healed, unless you mean it (then say 127.0.0.1:25)."},
               {"starttls",
                ValueType::kEnum,
                "optional",
                "required: no mail without TLS; optional: TLS when offered.",
                0,
                0,
                {"required", "optional", "no"}},
               {"user", ValueType::kString, "", "AUTH user; empty: no AUTH."},
               {"password_file", ValueType::kPath,
                "/etc/ehabus/notify-mail.password",
                "The AUTH password, alone in a file only ehabus can read."},
               {"from", ValueType::kString, "ehabus@localhost",
                "Envelope and header sender."},
               {"to", ValueType::kList, "", "Recipients."},
               {"customer", ValueType::kString, "",
                "Customer name in every mail (the old EMAIL_SJ)."},
               {"language",
                ValueType::kEnum,
                "en",
                "Template language.",
                0,
                0,
                {"en", "zh"}},
               {"template_dir", ValueType::kPath, "/etc/ehabus/notify",
                "Where LANGUAGE.txt templates are."},
               {"timeout", ValueType::kDuration, "30s",
                "Deadline of each SMTP phase.", 100, 600'000},
           })},
      {"notify.webhook",
       "ehabus-notify-webhook: an HTTP(S) POST of each incident's JSON.",
       NotifyKeys(
           "/var/spool/ehabus/webhook",
           {
               {"url", ValueType::kString, "",
                "http:// or https:// endpoint (redirects are not followed)."},
               {"headers", ValueType::kList, "",
                "Extra headers, e.g. Authorization: Bearer TOKEN (comma "
                "separated)."},
               {"verify_tls", ValueType::kBool, "yes",
                "Check the server's certificate."},
               {"timeout", ValueType::kDuration, "10s", "Deadline of one POST.",
                100, 600'000},
           })},
      {"notify.exec",
       "ehabus-notify-exec: runs a command per notice with the incident's "
       "JSON on stdin (the successor of message_agent).",
       NotifyKeys("/var/spool/ehabus/exec",
                  {
                      {"command", ValueType::kString, "",
                       "Program and arguments, split at spaces; no shell. "
                       "Exit 0: delivered; 75: try again later; else failed."},
                      {"timeout", ValueType::kDuration, "30s",
                       "The command is killed after this (and tried again).",
                       100, 600'000},
                  })},
      {"cluster",
       "The Pacemaker cluster that runs the stack: `ehabus cluster render` "
       "makes its configuration and corosync.conf from this file.",
       {
           {"name", ValueType::kString, "ehabus",
            "Cluster name (corosync totem cluster_name)."},
           {"nodes", ValueType::kList, "",
            "Node names (their host names), in corosync node id order."},
           {"ring0", ValueType::kList, "",
            "Heartbeat address of each node on the first network, in node "
            "order."},
           {"ring1", ValueType::kList, "",
            "Heartbeat address of each node on a second, independent network "
            "(recommended); empty: one ring."},
           {"transport",
            ValueType::kEnum,
            "knet",
            "Corosync transport.",
            0,
            0,
            {"knet", "udpu"}},
           {"token", ValueType::kDuration, "3s",
            "Corosync token timeout: a silent node is declared lost after "
            "this (plus consensus, 1.2 times it).",
            500, 60'000},
           {"stickiness", ValueType::kInt, "100",
            "Resource stickiness: the stack stays where it runs unless a "
            "node is better by more than this (less than a ping target's "
            "worth).",
            0, 1'000'000},
           {"migration_threshold", ValueType::kInt, "1",
            "Failures of a resource on a node before it moves away: the "
            "healers repair locally first, so the first failure Pacemaker "
            "sees moves.",
            1, 1'000'000},
           {"failure_timeout", ValueType::kDuration, "10m",
            "A node's failures are forgotten after this, so it can take the "
            "stack again.",
            0, 86'400'000},
           {"alert_agent", ValueType::kPath,
            EHABUS_LIBEXECDIR "/pacemaker-alert",
            "Pacemaker alert agent that publishes cluster events on the bus."},
           {"config_sync", ValueType::kBool, "yes",
            "yes: `ehabus cluster apply` stores this configuration in the "
            "CIB and every node takes it from there (`ehabus cluster sync`)."},
       }},
      {"vip",
       "Service addresses that move with the stack (ocf:heartbeat:IPaddr2).",
       {
           {"addresses", ValueType::kList, "",
            "ADDRESS/PREFIX, IPv4 or IPv6, one resource each."},
           {"nic", ValueType::kString, "",
            "Interface; empty: the one whose route reaches the address."},
       }},
      {"fencing",
       "How a lost node is fenced: SBD on a shared heartbeat disk (the "
       "successor of the 2014 disk heartbeat) or a fence-agents agent. "
       "Fencing is always on.",
       {
           {"mode",
            ValueType::kEnum,
            "sbd",
            "sbd: poison pill on a shared disk, node watchdog; agent: a "
            "fence-agents agent (IPMI, hypervisor...).",
            0,
            0,
            {"sbd", "agent"}},
           {"sbd_devices", ValueType::kList, "",
            "SBD disks (1 or 3): stable paths (/dev/disk/by-id/...) or "
            "PARTUUID=..."},
           {"sbd_watchdog_timeout", ValueType::kDuration, "5s",
            "Watchdog timeout written to the SBD disk header: a node that "
            "stops feeding its watchdog is reset within this.",
            1000, 120'000},
           {"sbd_msgwait", ValueType::kDuration, "10s",
            "Poison pill delivery time (twice the watchdog timeout): the "
            "fencing node waits this long before it counts the target dead.",
            2000, 240'000},
           {"watchdog_device", ValueType::kPath, "/dev/watchdog",
            "The watchdog sbd feeds on every node."},
           {"agent", ValueType::kString, "",
            "mode = agent: the fence agent (e.g. fence_ipmilan)."},
           {"agent_options", ValueType::kString, "",
            "mode = agent: its options as NAME=VALUE words."},
           {"delay", ValueType::kDuration, "5s",
            "priority-fencing-delay: in a split, fencing of the node running "
            "the stack waits this long, so the active node wins and mail "
            "does not move.",
            0, 120'000},
       }},
      {"ping",
       "Gateway reachability as Pacemaker sees it (ocf:pacemaker:ping clone "
       "on every node): the stack avoids a node that cannot reach them.",
       {
           {"targets", ValueType::kList, "",
            "Addresses pinged; empty: no ping resource."},
           {"multiplier", ValueType::kInt, "1000",
            "Score per answering target (more than the stickiness, so losing "
            "the gateway moves the stack; losing it on both nodes does not).",
            1, 1'000'000},
           {"dampen", ValueType::kDuration, "5s",
            "Changes wait this long before they count (no move on one lost "
            "echo).",
            0, 600'000},
           {"interval", ValueType::kDuration, "10s",
            "How often each node pings.", 1000, 3'600'000},
       }},
      {"stack",
       "The mail stack as one cluster resource, ocf:ehabus:mailstack: the "
       "profile's services in dependency order, after storage and VIPs.",
       {
           {"group", ValueType::kString, "mail",
            "Resource group holding storage, VIPs and the stack."},
           {"resource", ValueType::kString, "mailstack",
            "The stack resource's id."},
           {"profile", ValueType::kString, "",
            "The stack's profile for every component; empty: "
            "[sensor.service] profile."},
           {"start_timeout", ValueType::kDuration, "120s",
            "Start of every service until each serves.", 1000, 3'600'000},
           {"stop_timeout", ValueType::kDuration, "120s",
            "Stop of every service (kill after its share).", 1000, 3'600'000},
           {"monitor_interval", ValueType::kDuration, "10s",
            "How often Pacemaker asks the stack's health.", 1000, 3'600'000},
           {"monitor_timeout", ValueType::kDuration, "30s",
            "Deadline of one health question.", 1000, 3'600'000},
           {"priority", ValueType::kInt, "10",
            "Resource priority (priority-fencing-delay favours its node).", 0,
            1'000'000},
       }},
  };
  return schema;
}

const Schema& ProfileSchema() {
  static const Schema schema = {
      {"profile",
       "What a profile is.",
       {
           {"name",
            ValueType::kString,
            "",
            "The profile's name.",
            0,
            0,
            {},
            true},
           {"description", ValueType::kString, "", "One line for operators."},
           {"enabled_list", ValueType::kPath, "",
            "A shell file whose array ENABLED_VARIABLE lists the services "
            "enabled here (eYou's em_init_config); read as text, never run."},
           {"enabled_variable", ValueType::kString, "ARRAY_START",
            "The array's name in enabled_list."},
           {"start", ValueType::kString, "",
            "Command that starts a service, {service} replaced by its name "
            "(e.g. eyou_mail start {service}); for services without their own "
            "start or unit."},
           {"stop", ValueType::kString, "",
            "Command that stops a service, as start."},
       }},
      {"service.*",
       "One mail service of the stack.",
       {
           {"check",
            ValueType::kEnum,
            "process",
            "How it is checked: a protocol conversation, the process, or a "
            "command that exits 0 when the service runs.",
            0,
            0,
            {"smtp", "lmtp", "imap", "pop3", "memcached", "http", "tcp",
             "mysql", "process", "command", "none"}},
           {"port", ValueType::kInt, "0", "TCP port of the protocol check.", 0,
            65535},
           {"pidfile", ValueType::kPath, "",
            "Pid file; with `process`, the process must be alive before the "
            "protocol is asked."},
           {"process", ValueType::kString, "",
            "Command name (/proc/PID/comm) the pid file must point at."},
           {"command", ValueType::kString, "",
            "For check = command: program and arguments, split at spaces."},
           {"unit", ValueType::kString, "",
            "systemd unit: healers start and stop it with systemctl."},
           {"start", ValueType::kString, "",
            "Command that starts it (split at spaces); before unit and the "
            "profile's start."},
           {"stop", ValueType::kString, "", "Command that stops it."},
           {"depends", ValueType::kList, "",
            "Services this one needs (healers restart dependents with it)."},
           {"installed_if", ValueType::kPath, "",
            "Path whose existence means the service is installed here; the "
            "first watch list watches only installed services."},
           {"monitored", ValueType::kBool, "yes",
            "no: runs on the pair but is never watched (gateway programs)."},
           {"path", ValueType::kString, "/", "HTTP path."},
           {"expect", ValueType::kString, "", "HTTP body must hold this."},
           {"starttls", ValueType::kBool, "no",
            "For check = smtp: STARTTLS must be offered and work, and EHLO "
            "is said again over TLS (the certificate is not verified)."},
           {"heartbeat_table", ValueType::kString, "",
            "For check = mysql: db.table where a heartbeat row is written and "
            "read back each check (created when missing); empty: SELECT 1 "
            "only."},
       }},
  };
  return schema;
}

const Schema& WatchSchema() {
  static const Schema schema = {
      {"watch",
       "One line per service of the profile: yes to watch it, no to leave it "
       "alone (maintenance).",
       {{"*", ValueType::kBool, "yes", "SERVICE = yes|no"}}},
      {"maintenance",
       "Written by `ehabus maintenance`: SERVICE or node = the end of the "
       "maintenance in seconds since the epoch (0: until ended by hand). "
       "ehabus-healer-restart ends expired entries.",
       {{"*", ValueType::kInt, "0", "TARGET = UNTIL", 0, INT64_MAX}}},
  };
  return schema;
}

}  // namespace ehabus
