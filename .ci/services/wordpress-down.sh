#!/usr/bin/env bash
# Stop what wordpress-up.sh started, by the PIDs it recorded. WP_PURGE=1 also deletes the state.
WP_STATE=${WP_STATE:-${RUNNER_TEMP:-/tmp}/syndicator-wp}
R=$WP_STATE/run
stop_pid() {  # stop_pid PID NAME: TERM, wait up to 10 s, then KILL
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { echo "[wordpress-down] stopped $2 ($pid)"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null; echo "[wordpress-down] killed $2 ($pid)"
}
if [ -f "$R/php-server.pid" ]; then
  pid=$(cat "$R/php-server.pid")
  workers=$(pgrep -P "$pid" 2>/dev/null || true)   # PHP_CLI_SERVER_WORKERS forks these
  stop_pid "$pid" php-server
  for w in $workers; do stop_pid "$w" php-worker; done
fi
if [ -f "$R/mariadbd.pid" ]; then stop_pid "$(cat "$R/mariadbd.pid")" mariadbd; fi
if [ "${WP_PURGE:-0}" = 1 ]; then rm -rf "$WP_STATE"; fi
exit 0
