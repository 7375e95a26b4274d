#!/usr/bin/env bash
# Starts the receiver and the processor with config/dev.toml; Ctrl-C stops both.
# Used by `make run` (SQLite, nothing else needed) and `make run-pg` (DATABASE_URL, REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/debug}
CONFIG=${CONFIG:-config/dev.toml}
export DEMO_WEBHOOK_SECRET=${DEMO_WEBHOOK_SECRET:-demo-secret-change-me}
mkdir -p var

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping receiver and processor..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
  exit 0
}
trap stop INT TERM EXIT

"$BIN/receiver" --config "$CONFIG" &
pids+=($!)
"$BIN/processor" --config "$CONFIG" &
pids+=($!)

# Wait until the receiver answers (it applies migrations first).
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then ready=1; break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null || ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "a service failed to start; see the log lines above" >&2
    exit 1
  fi
  sleep 0.1
done
[ "${ready:-}" = 1 ] || { echo "the receiver did not start listening on 127.0.0.1:8080" >&2; exit 1; }

ctl="$BIN/inboxctl --config $CONFIG"
cat <<MSG

webhook-inbox is running: receiver http://127.0.0.1:8080 (metrics http://127.0.0.1:9091/metrics), processor metrics http://127.0.0.1:9090/metrics
Database: ${DATABASE_URL:-sqlite://var/inbox.db}   Redis: ${REDIS_URL:-none (database locks)}

Next, in another shell (DEMO_WEBHOOK_SECRET signs for the demo provider):
  export DEMO_WEBHOOK_SECRET=$DEMO_WEBHOOK_SECRET${DATABASE_URL:+ DATABASE_URL=$DATABASE_URL}
  $ctl collections create --request-ref REQ-1 --amount 5000 --currency NGN
  $ctl send --provider demo --file examples/payment-success.json
  $ctl send --provider demo --file examples/payment-pending.json
  $ctl collections show REQ-1

Ctrl-C stops both services.
MSG
# Exit when either service exits (the trap stops the other).
wait -n "${pids[@]}"
