#!/usr/bin/env bash
# Start a throw-away Matrix homeserver (Synapse from PyPI, sqlite) on 127.0.0.1 with a bot user,
# its access token and a room it has created, for tests/integration/test_matrix_live.py.
#
#   SYN_STATE=/tmp/syndicator-synapse  SYN_PORT=8008  SYN_VENV=$SYN_STATE-venv   (defaults;
#        RUNNER_TEMP moves them; the venv is kept between runs, the state is not)
#   bash .ci/services/synapse-up.sh    -> writes $SYN_STATE/env: SYNDICATOR_MATRIX_URL,
#        SYNDICATOR_MATRIX_TOKEN (the bot's) and SYNDICATOR_MATRIX_ROOM (the bot's room)
#   bash .ci/services/synapse-down.sh  -> stops what this started, by PID
#
# Needs python3 (3.10+), curl and network access to PyPI on the first run (~1 min).
set -euo pipefail

SYN_STATE=${SYN_STATE:-${RUNNER_TEMP:-/tmp}/syndicator-synapse}
SYN_VENV=${SYN_VENV:-${SYN_STATE}-venv}
SYN_PORT=${SYN_PORT:-8008}
SYN_VERSION=${SYN_VERSION:-1.163.2}
SYN_URL="http://127.0.0.1:${SYN_PORT}"
HERE=$(cd "$(dirname "$0")" && pwd)
START=$(date +%s%N)
lap() { printf '[synapse-up] %-24s %6.1fs\n' "$1" "$(( ($(date +%s%N) - START) / 1000000 ))e-3"; }
json() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# -- 1. Synapse in its own venv (reused when it already has the wanted version)
if ! "$SYN_VENV/bin/python" -c "import synapse, sys; sys.exit(synapse.__version__ != '$SYN_VERSION')" 2>/dev/null; then
  python3 -m venv "$SYN_VENV"
  "$SYN_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "matrix-synapse==$SYN_VERSION" \
    >"${SYN_STATE%/*}/syndicator-synapse-pip.log" 2>&1 \
    || { tail -20 "${SYN_STATE%/*}/syndicator-synapse-pip.log"; exit 1; }
fi
lap "matrix-synapse $SYN_VERSION"

# -- 2. fresh state and config: the generated file stays as generated; ci.yaml overrides it
bash "$HERE/synapse-down.sh" >/dev/null 2>&1 || true
rm -rf "$SYN_STATE"
mkdir -p "$SYN_STATE"
cd "$SYN_STATE"
"$SYN_VENV/bin/python" -m synapse.app.homeserver --server-name localhost --report-stats=no \
  --config-path homeserver.yaml --generate-config --data-directory "$SYN_STATE" >generate.log 2>&1
SHARED_SECRET=ci-$RANDOM$RANDOM$RANDOM
cat >ci.yaml <<YAML
# Loopback only, no federation, nothing fetched from matrix.org, and rate limits high enough
# for tests that send many events in a second.
listeners:
  - port: $SYN_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
registration_shared_secret: "$SHARED_SECRET"
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
report_stats: false
enable_metrics: false
presence:
  enabled: false
rc_message: {per_second: 1000, burst_count: 1000}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_login:
  address: {per_second: 1000, burst_count: 1000}
  account: {per_second: 1000, burst_count: 1000}
  failed_attempts: {per_second: 1000, burst_count: 1000}
rc_joins:
  local: {per_second: 1000, burst_count: 1000}
  remote: {per_second: 1000, burst_count: 1000}
YAML
lap "config written"

# -- 3. the homeserver, detached from this shell; its PID recorded for synapse-down.sh
setsid "$SYN_VENV/bin/python" -m synapse.app.homeserver -c homeserver.yaml -c ci.yaml \
  </dev/null >synapse.out 2>&1 &
echo $! >synapse.pid
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$SYN_URL/health" 2>/dev/null && break
  kill -0 "$(cat synapse.pid)" 2>/dev/null || { echo "[synapse-up] synapse exited"; tail -30 synapse.out; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$SYN_URL/health" || { echo "[synapse-up] no /health"; tail -30 synapse.out; exit 1; }
lap "synapse healthy"

# -- 4. a bot user, a token for a fixed device (txn ids are scoped to it) and a room
BOT_PASS=bot-$RANDOM$RANDOM$RANDOM
"$SYN_VENV/bin/register_new_matrix_user" -u syndicator -p "$BOT_PASS" --no-admin -k "$SHARED_SECRET" "$SYN_URL" >/dev/null
TOKEN=$(curl -fsS -X POST "$SYN_URL/_matrix/client/v3/login" -H 'Content-Type: application/json' \
  -d "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"syndicator\"},\"password\":\"$BOT_PASS\",\"device_id\":\"SYNDICATOR_CI\"}" \
  | json access_token)
ROOM=$(curl -fsS -X POST "$SYN_URL/_matrix/client/v3/createRoom" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $TOKEN" -d '{"name":"Siaran Pers CI","preset":"private_chat"}' | json room_id)
lap "bot and room ready"

umask 077
cat >"$SYN_STATE/env" <<ENV
SYNDICATOR_MATRIX_URL=$SYN_URL
SYNDICATOR_MATRIX_TOKEN=$TOKEN
SYNDICATOR_MATRIX_ROOM=$ROOM
ENV
echo "[synapse-up] $SYN_URL bot @syndicator:localhost room $ROOM; env in $SYN_STATE/env"
