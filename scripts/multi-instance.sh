#!/usr/bin/env bash
# The deployment in miniature: 2 receivers, 3 processors and the host API as separate processes
# on one PostgreSQL and Redis; the run's collections created through the API (as an application
# does), load sent through both receivers, then the invariant check: every acknowledged event
# stored once, every collection where the rule says, nothing applied twice.
# Needs PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL): under CI it fails without them,
# elsewhere it says what it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGOPTIONS="-c client_min_messages=warning"

PG=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
EVENTS=${EVENTS:-4000}
BIN=target/debug

reachable() { # host:port of a URL
  local hostport=${1#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
  local host=${hostport%:*} port=${hostport##*:}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}
for url in "$PG" "$REDIS"; do
  if ! reachable "$url"; then
    if [ -n "${CI:-}" ] && [ "${CI}" != false ]; then
      echo "multi-instance: $url is unreachable, and CI requires it" >&2
      exit 1
    fi
    line="SKIPPED multi-instance test: $url unreachable"
    echo "$line"
    [ -n "${INBOX_TEST_SKIP_LOG:-}" ] && echo "$line" >> "$INBOX_TEST_SKIP_LOG"
    exit 0
  fi
done

cargo build --quiet --bin receiver --bin processor --bin api --bin loadgen

work=$(mktemp -d)
schema="mi_$(date +%s)_$$"
psql "$PG" -qc "CREATE SCHEMA $schema"
sep='?'; case "$PG" in *\?*) sep='&';; esac
url="$PG${sep}options=-csearch_path%3D$schema"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat > "$work/inbox.toml" <<TOML
[database]
pool_size = 8
[processor]
metrics_addr = "127.0.0.1:0"
poll_interval_ms = 500
[api]
metrics_addr = "127.0.0.1:0"
[api.keys.loadgen]
scopes = ["read", "write"]
secrets = ["LOADGEN_API_KEY"]
[log]
level = "warn"
[providers.bench]
preset = "generic"
secrets = ["BENCH_SECRET"]
TOML
export BENCH_SECRET=multi-instance-secret DATABASE_URL="$url" REDIS_URL="$REDIS" INBOX_CONFIG="$work/inbox.toml"
export LOADGEN_API_KEY=multi-instance-loadgen-key-0123456789

ports=()
for n in 1 2; do
  port=$(free_port); ports+=("$port")
  INBOX__RECEIVER__BIND="127.0.0.1:$port" INBOX__RECEIVER__METRICS_ADDR="127.0.0.1:0" "$BIN/receiver" 2>"$work/receiver-$n.log" &
  pids+=($!)
done
for n in 1 2 3; do
  "$BIN/processor" 2>"$work/processor-$n.log" &
  pids+=($!)
done
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; }
for port in "${ports[@]}"; do wait_port "$port"; done
# After the receivers: they have migrated the schema by the time they listen; the API does not.
api_port=$(free_port)
INBOX__API__BIND="127.0.0.1:$api_port" "$BIN/api" 2>"$work/api.log" &
pids+=($!)
wait_port "$api_port"

echo "multi-instance: 2 receivers (ports ${ports[*]}), 3 processors, the API (port $api_port), $EVENTS deliveries"
status=0
"$BIN/loadgen" ingest --run "mi$$" --provider bench --secret "$BENCH_SECRET" \
  --api "127.0.0.1:$api_port" \
  --addr "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}" --concurrency 16 \
  --events "$EVENTS" --collections 200 --duplicates 0.1 --out-of-order 0.3 \
  --drain-timeout-secs 120 --out "$work/result.json" || status=$?

for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "multi-instance: a service died early" >&2; status=1; }
done
if [ "$status" -ne 0 ]; then
  echo "multi-instance: FAILED; service logs:" >&2
  tail -n 20 "$work"/*.log >&2 || true
  exit 1
fi
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r["verdict"]
created = r.get("collections_created_through_api") or {}
if created.get("new", 0) + created.get("existing", 0) != v["collections_checked"]:
    sys.exit(f"multi-instance: FAILED: {v['collections_checked']} collections checked, but the API "
             f"created {created or 'none'}")
print(f"multi-instance: {created['new']} collections created through the API; "
      f"{r['acknowledged']}/{r['deliveries']} acknowledged, "
      f"{v['collections_checked']} collections checked, {v['events_applied_twice']} applied twice, "
      f"lag p99 {r['lag']['p99_ms']:.0f} ms")
PY
echo "multi-instance: 1 passed, 0 failed"
