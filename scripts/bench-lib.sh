# What scripts/bench.sh and scripts/bench-scale.sh share (sourced, not run): settings, the build,
# the services' configuration, starting and stopping them, and the P1 and P2 phases, so that both
# measure exactly the same thing. The caller sets RECEIVER_PORT and TAG (prefix of the config and
# log files) before sourcing, so the two can run side by side; the api service listens on the
# port after RECEIVER_PORT.
# shellcheck shell=bash

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit
export PGOPTIONS="-c client_min_messages=warning"

PG_ADMIN=${BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
OUT=${CARGO_TARGET_DIR:-target}/bench
BIN=${CARGO_TARGET_DIR:-target}/release
CONNECTIONS=${CONNECTIONS:-64}
P1_EVENTS=${P1_EVENTS:-60000}
P2_EVENTS=${P2_EVENTS:-100000}
P1_DRAIN_TIMEOUT=${P1_DRAIN_TIMEOUT:-180}
P2_DRAIN_TIMEOUT=${P2_DRAIN_TIMEOUT:-240}
API_PORT=$((RECEIVER_PORT + 1))
SECRET=bench-secret
API_KEY=bench-api-key-not-for-production
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*"; }
cargo build --release --quiet --bin receiver --bin processor --bin inboxctl --bin loadgen --bin api

pids=()
stop_services() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_services EXIT

cat > "$OUT/${TAG}inbox.toml" <<TOML
[database]
pool_size = 24
[receiver]
bind = "127.0.0.1:$RECEIVER_PORT"
metrics_addr = "127.0.0.1:0"
workers = 2
# The processor runs with its defaults (batch_size, concurrency), as an operator would.
[processor]
metrics_addr = "127.0.0.1:0"
poll_interval_ms = 500
[api]
bind = "127.0.0.1:$API_PORT"
metrics_addr = "127.0.0.1:0"
workers = 2
[api.keys.bench]
scopes = ["read", "write"]
secrets = ["BENCH_API_KEY"]
[log]
level = "warn"
[providers.bench]
preset = "generic"
secrets = ["BENCH_SECRET"]
TOML
export INBOX_CONFIG="$OUT/${TAG}inbox.toml" BENCH_SECRET=$SECRET LOADGEN_SECRET=$SECRET \
  BENCH_API_KEY=$API_KEY LOADGEN_API_KEY=$API_KEY

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/${1:-$RECEIVER_PORT}") 2>/dev/null; }
start_receiver() {
  # Another bench's receiver on the port would answer for ours.
  if port_open; then echo "bench: port $RECEIVER_PORT is already in use" >&2; exit 1; fi
  "$BIN/receiver" 2>>"$OUT/${TAG}receiver.log" & pids+=($!)
  # shellcheck disable=SC2034 # for the peak RSS in bench.sh
  receiver_pid=$!
  for _ in $(seq 1 100); do port_open && return; sleep 0.1; done
  echo "bench: the receiver did not start; see $OUT/${TAG}receiver.log" >&2; exit 1
}
start_api() {
  if port_open "$API_PORT"; then echo "bench: port $API_PORT is already in use" >&2; exit 1; fi
  "$BIN/api" 2>>"$OUT/${TAG}api.log" & pids+=($!)
  for _ in $(seq 1 100); do port_open "$API_PORT" && return; sleep 0.1; done
  echo "bench: the api did not start; see $OUT/${TAG}api.log" >&2; exit 1
}
start_processors() { # count
  processor_pids=()
  for _ in $(seq 1 "$1"); do "$BIN/processor" 2>>"$OUT/${TAG}processor.log" & pids+=($!); processor_pids+=($!); done
}
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo null; }

# A new, migrated PostgreSQL database for the run; services talk to it and to Redis.
fresh_pg_database() { # name
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
  export DATABASE_URL="${PG_ADMIN%/*}/$1" REDIS_URL=$REDIS
  "$BIN/inboxctl" migrate >/dev/null
}

# P1: signed 1 KB deliveries (10 % repeats) through CONNECTIONS connections to the running receiver
# while the running processors drain; loadgen then checks the invariants. Fails when they break.
run_p1() { # run-id out.json
  "$BIN/loadgen" ingest --run "$1" --provider bench --concurrency "$CONNECTIONS" --addr "127.0.0.1:$RECEIVER_PORT" \
    --events "$P1_EVENTS" --collections 1000 --out "$2" --drain-timeout-secs "$P1_DRAIN_TIMEOUT"
}

# P2: with every service stopped, a backlog over 1k collections written straight into the
# database, then 2 processors (Redis locks) timed until it is empty. Leaves the services stopped.
run_p2() { # run-id out.json
  stop_services
  "$BIN/loadgen" backlog --run "$1" --provider bench --events "$P2_EVENTS" --collections 1000 --duplicates 0
  # The clock starts before the processors do.
  "$BIN/loadgen" drain --run "$1" --provider bench --events "$P2_EVENTS" --collections 1000 --duplicates 0 \
    --out "$2" --drain-timeout-secs "$P2_DRAIN_TIMEOUT" & local drain_pid=$!
  sleep 0.5
  start_processors 2
  local status=0
  wait "$drain_pid" || status=1
  stop_services
  return $status
}
