#!/usr/bin/env bash
# Starts the receiver, the processor and the host API (`api`) with config/dev.toml; Ctrl-C stops
# all three. Used by `make run` (SQLite, nothing else needed) and `make run-pg` (DATABASE_URL,
# REDIS_URL). The API's key is DEMO_API_KEY: a random one unless it is set, kept in
# var/demo-api-key so that another shell (and the next run) can read it. The processor signs its
# notifications with DEMO_NOTIFY_SECRET for `inboxctl listen` on port 8090 ([notify]).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/debug}
CONFIG=${CONFIG:-config/dev.toml}
API=http://127.0.0.1:8081
KEY_FILE=var/demo-api-key
export DEMO_WEBHOOK_SECRET=${DEMO_WEBHOOK_SECRET:-demo-secret-change-me}
# Fixed, like the provider's demo secret above and unlike the API key: it only signs what one
# local process posts to another on 127.0.0.1, and a known value lets `inboxctl listen` start in
# another shell before or after this script, with no file to read. (base64 of
# "webhook-inbox-demo-notify-secret")
export DEMO_NOTIFY_SECRET=${DEMO_NOTIFY_SECRET:-whsec_d2ViaG9vay1pbmJveC1kZW1vLW5vdGlmeS1zZWNyZXQ=}
mkdir -p var

# The key config/dev.toml names ([api.keys.demo]): the one given, else the last run's, else 32
# random bytes in hex. A given key under 24 characters is refused by the api, which says so.
if [ -z "${DEMO_API_KEY:-}" ] && [ -s "$KEY_FILE" ]; then
  DEMO_API_KEY=$(cat "$KEY_FILE")
fi
if [ -z "${DEMO_API_KEY:-}" ]; then
  DEMO_API_KEY=$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')
fi
export DEMO_API_KEY

pids=()
# stop STATUS: Ctrl-C is a normal end (0); a service that failed to start or died is not.
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping receiver, processor and api..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
  exit "$1"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# wait_for PORT NAME: until something listens on 127.0.0.1:PORT; fails as soon as a service exits.
wait_for() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    for pid in "${pids[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "a service failed to start; see the log lines above" >&2
        exit 1
      fi
    done
    sleep 0.1
  done
  echo "the $2 did not start listening on 127.0.0.1:$1" >&2
  exit 1
}

"$BIN/receiver" --config "$CONFIG" &
pids+=($!)
"$BIN/processor" --config "$CONFIG" &
pids+=($!)
# The receiver applies migrations before it listens; the api runs none, so it starts after.
wait_for 8080 receiver
"$BIN/api" --config "$CONFIG" &
pids+=($!)
wait_for 8081 api
# Saved once the api has accepted it, so a refused key is never reused.
(umask 077 && printf '%s\n' "$DEMO_API_KEY" >"$KEY_FILE")

ctl="$BIN/inboxctl --config $CONFIG"
cat <<MSG

webhook-inbox is running (Ctrl-C stops all three):
  receiver   http://127.0.0.1:8080   metrics http://127.0.0.1:9091/metrics
  api        $API   metrics http://127.0.0.1:9092/metrics
  processor                          metrics http://127.0.0.1:9090/metrics
Database: ${DATABASE_URL:-sqlite://var/inbox.db}   Redis: ${REDIS_URL:-none (database locks)}

API key "demo" (scopes read, write, admin; saved in $KEY_FILE):
  $DEMO_API_KEY

The processor notifies http://127.0.0.1:8090/ of each change ([notify]); see each notification,
verified, in another shell (docs/notifications.md):
  export DEMO_NOTIFY_SECRET=$DEMO_NOTIFY_SECRET
  $ctl listen --port 8090 --secret-env DEMO_NOTIFY_SECRET

Then, in a third shell (the API's every call: docs/host-api.md):
  export API=$API KEY=$DEMO_API_KEY
  export DEMO_WEBHOOK_SECRET=$DEMO_WEBHOOK_SECRET${DATABASE_URL:+ DATABASE_URL=$DATABASE_URL}
  curl -fsS -X POST "\$API/v1/collections" -H "Authorization: Bearer \$KEY" \\
    -H 'Content-Type: application/json' -d '{"request_ref": "REQ-1", "amount": "5000", "currency": "NGN"}'
  $ctl send --provider demo --file examples/payment-success.json
  $ctl send --provider demo --file examples/payment-pending.json
  curl -fsS "\$API/v1/collections/REQ-1?include=decisions" -H "Authorization: Bearer \$KEY"
  $ctl collections show REQ-1        # the same, as an operator

MSG
# Exit when any service exits (the trap stops the others).
wait -n "${pids[@]}"
