#!/bin/sh
# An example custom notifier in shell: every service going down becomes one
# line in syslog (replace `logger` with your channel). `ehabus tail --json`
# prints one JSON event per line; jq picks the fields. Untrusted text (the
# event's message) is passed as an argument, never evaluated.
ehabus tail --json --topic service. --severity error |
  jq --unbuffered -r 'select(.topic | endswith(".down")) | [.node, .subject, .message] | @tsv' |
  while IFS="$(printf '\t')" read -r node subject message; do
    logger -t ehabus-notify -- "$node: $subject down: $message"
  done
