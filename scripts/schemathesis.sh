#!/usr/bin/env bash
# Schemathesis against docs/openapi.yaml on a live receiver and docs/host-api.openapi.yaml on a
# live host API (issue 16, item 4): generated requests for every documented operation, each answer checked for a 5xx, an undocumented status, an
# undocumented content type, and a body that does not match its documented schema. The receiver and
# the API are the debug binaries on one SQLite file in a temporary folder (the API with a key of
# every scope, so requests get past authentication); /metrics is checked on its own
# listener, as documented. Exit 1 on any finding; bounded to about 3 minutes after the build.
#
#   scripts/schemathesis.sh   SCHEMATHESIS_EXAMPLES=N test cases per operation (default 500),
#                              SCHEMATHESIS_SEED, SCHEMATHESIS_OPTIONS (e.g. "--report har"),
#                              SCHEMATHESIS_SCHEMA (default docs/openapi.yaml)
#
# Schemathesis comes from PyPI, pinned, into target/schemathesis-venv (reused while the pin holds).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
VENV=target/schemathesis-venv
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-500}
SEED=${SCHEMATHESIS_SEED:-16004}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
BIN=target/debug/receiver
SCHEMA=${SCHEMATHESIS_SCHEMA:-docs/openapi.yaml}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $VERSION"; then
  echo "schemathesis: installing schemathesis==$VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi
cargo build --quiet --bin receiver --bin api

work=$(mktemp -d)
pid=
api_pid=
cleanup() {
  for p in $pid $api_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
api_port=$(free_port)
api_key=schemathesis-api-key-0123456789abcdef
# `open` takes unsigned deliveries, so generated bodies reach the JSON check and the database
# (202/200 and their schema); `demo` refuses them unsigned (401).
cat > "$work/inbox.toml" <<TOML
[database]
url = "sqlite://$work/inbox.db"
[receiver]
bind = "127.0.0.1:$port"
metrics_addr = "127.0.0.1:$metrics_port"
request_timeout_secs = 5
[log]
level = "warn"
[providers.demo]
preset = "generic"
secrets = ["SCHEMATHESIS_DEMO_SECRET"]
[providers.open]
preset = "generic"
signature = "none"
[api]
bind = "127.0.0.1:$api_port"
metrics_addr = "127.0.0.1:0"
request_timeout_secs = 5
[api.keys.schemathesis]
scopes = ["read", "write", "admin"]
secrets = ["SCHEMATHESIS_API_KEY"]
TOML
# Most generated deliveries name a configured provider; the others exercise 404 unknown_provider.
# No state kept between runs (nor a .schemathesis/ folder in the repository): a run is its seed.
cat > "$work/schemathesis.toml" <<'TOML'
[cache]
enabled = false

[dictionaries.providers]
values = ["open", "demo"]

[parameters]
"path.provider" = { dictionary = "providers", probability = 0.8 }
TOML

env -u DATABASE_URL -u INBOX_CONFIG -u RUST_LOG SCHEMATHESIS_DEMO_SECRET=schemathesis-demo-secret \
  "$BIN" --config "$work/inbox.toml" 2>"$work/receiver.log" &
pid=$!
ready=
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "schemathesis: the receiver did not start listening on 127.0.0.1:$port:" >&2
  cat "$work/receiver.log" >&2
  exit 1
fi

# The API after the receiver: the receiver has migrated the database.
env -u DATABASE_URL -u INBOX_CONFIG -u RUST_LOG SCHEMATHESIS_API_KEY="$api_key" \
  target/debug/api --config "$work/inbox.toml" 2>"$work/api.log" &
api_pid=$!
for _ in $(seq 1 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break
  kill -0 "$api_pid" 2>/dev/null || { echo "schemathesis: the api did not start:" >&2; cat "$work/api.log" >&2; exit 1; }
  sleep 0.1
done

read -r -a extra <<< "${SCHEMATHESIS_OPTIONS:-}"
run() { # time budget in seconds, base URL, then schemathesis filter options
  local budget=$1 url=$2; shift 2
  run_schema "$budget" "$SCHEMA" "$url" "$@"
}
run_schema() { # time budget, document, base URL, then schemathesis options
  local budget=$1 schema=$2 url=$3; shift 3
  timeout "$budget" "$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$schema" \
    --url "$url" --checks "$CHECKS" --max-examples "$EXAMPLES" --seed "$SEED" \
    --workers 2 --request-timeout 10 --generation-database none --no-color "${extra[@]}" "$@"
}

status=0
start=$SECONDS
run 120 "http://127.0.0.1:$port" --exclude-path /metrics || status=1
run 30 "http://127.0.0.1:$metrics_port" --include-path /metrics || status=1
run_schema 180 docs/host-api.openapi.yaml "http://127.0.0.1:$api_port" \
  --header "Authorization: Bearer $api_key" || status=1
for p in "$pid:receiver" "$api_pid:api"; do
  if ! kill -0 "${p%%:*}" 2>/dev/null; then
    echo "schemathesis: the ${p#*:} died" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "schemathesis: FAILED (log tails below)" >&2
  tail -n 20 "$work/receiver.log" "$work/api.log" >&2 || true
  exit 1
fi
echo "schemathesis: passed (schemathesis $VERSION, $EXAMPLES examples per operation, seed $SEED, $((SECONDS - start)) s)"
