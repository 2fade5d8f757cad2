// Every section and key ehabus knows, with its default and why.
// etc/ehabus.ini mirrors this table for operators; a test keeps them in step.
#include "bus/config.h"

namespace ehabus {

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
  };
  return schema;
}

}  // namespace ehabus
