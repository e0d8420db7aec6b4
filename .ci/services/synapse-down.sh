#!/usr/bin/env bash
# Stop what synapse-up.sh started, by the PID it recorded. SYN_PURGE=1 also deletes the state
# (the venv is kept: it takes a minute to build).
SYN_STATE=${SYN_STATE:-${RUNNER_TEMP:-/tmp}/syndicator-synapse}
pidfile=$SYN_STATE/synapse.pid
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null
      echo "[synapse-down] killed synapse ($pid)"
    else
      echo "[synapse-down] stopped synapse ($pid)"
    fi
  fi
  rm -f "$pidfile"
fi
if [ "${SYN_PURGE:-0}" = 1 ]; then rm -rf "$SYN_STATE"; fi
exit 0
