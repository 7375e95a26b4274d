#!/usr/bin/env bash
# `make bench-scale` (P4): do P1 and P2 hold up when webhook_events is big? Runs them on an empty
# table, fills it with SCALE_ROWS (default 5M) historical rows in SQL, runs them again the same
# way, and prints each figure full vs empty against "within 15 %". Every phase ends with loadgen's
# invariant check; the exit code is non-zero only when one fails. Results:
# target/bench/results-scale.json. About 3-4 minutes after the build on a quiet machine (15 on a busy one); benchmark on a quiet machine.
set -euo pipefail
DB=${SCALE_DB:-inbox_bench_scale}
RECEIVER_PORT=${SCALE_PORT:-18090} # not make bench's, so both can run (on a busy machine)
TAG=scale-
SCALE_ROWS=${SCALE_ROWS:-5000000}
CHUNK=${SCALE_CHUNK:-500000}
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
started=$SECONDS
elapsed() { printf '%d min %02d s' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }

fresh_pg_database "$DB"
status=0

# Run ids name the phases' events (dedup key "<run>-e<collection>-<step>") and collections, so
# each phase checks its own events only; no run id is a prefix of another or matches the fill's.
phases() { # empty|full
  start_receiver; start_processors 2
  say "P1 ($1 table): $P1_EVENTS signed 1 KB deliveries (10% duplicates), $CONNECTIONS connections, 1 receiver + 2 processors  [$(elapsed)]"
  run_p1 "p1$1" "$OUT/scale-p1-$1.json" || status=1
  # A P1 whose drain timed out leaves events waiting (its check failed already): P2 must time its
  # own backlog only.
  stop_services
  left=$(psql "$DATABASE_URL" -Atc "WITH gone AS (DELETE FROM webhook_events WHERE status = 'RECEIVED' RETURNING 1)
                                    SELECT count(*) FROM gone")
  [ "$left" = 0 ] || echo "  removed $left events that P1 left waiting"
  say "P2 ($1 table): 2 processors drain a $P2_EVENTS-event backlog over 1k collections (Redis locks)  [$(elapsed)]"
  run_p2 "p2$1" "$OUT/scale-p2-$1.json" || status=1
}

phases empty

say "filling webhook_events with $SCALE_ROWS historical rows, $CHUNK per transaction  [$(elapsed)]"
# Like the receiver's and processor's own rows: provider 'bench', ~1 KB payloads in loadgen's
# shape (4 events per collection), 97 % PROCESSED and 3 % FAILED (both with processed_at), 10 %
# with a repeat, received over the last 180 days, oldest first. Dedup keys are unique and in
# random order, as provider ids are, so the unique index is built by scattered inserts; none is
# RECEIVED, so the partial claimable index stays as small as in production.
fill_started=$SECONDS
for ((from = 1; from <= SCALE_ROWS; from += CHUNK)); do
  to=$((from + CHUNK - 1 < SCALE_ROWS ? from + CHUNK - 1 : SCALE_ROWS))
  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q <<SQL
INSERT INTO webhook_events (id, provider, event_id, dedup_key, request_ref, payload, signature, status,
                            attempts, next_attempt_at, last_error, duplicate_count, received_at,
                            last_seen_at, processed_at)
SELECT gen_random_uuid(), 'bench', k, k, r,
       jsonb_build_object('event_id', k, 'request_ref', r,
                          'status', CASE n % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'processing'
                                    ELSE CASE WHEN n / 4 % 5 = 0 THEN 'failed' ELSE 'success' END END,
                          'amount', (1000 + n % 90000) || '.00', 'currency', 'NGN', 'provider_ref', 'LG-' || k,
                          'padding', repeat('x', 830)),
       md5(k) || md5(r), CASE WHEN failed THEN 'FAILED' ELSE 'PROCESSED' END,
       CASE WHEN failed THEN 5 ELSE 1 END, at + interval '30 seconds',
       CASE WHEN failed THEN 'no collection with request_ref ' || r END,
       CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, at, at + CASE WHEN n % 10 = 0 THEN interval '2 minutes' ELSE interval '0' END,
       at + (20 + n % 400) * interval '1 millisecond'
FROM (SELECT n, 'hist-' || left(md5(n::text), 12) || '-' || n AS k, 'hist-c' || n / 4 AS r, n % 100 IN (13, 47, 88) AS failed,
             now() - interval '180 days' * ($SCALE_ROWS - n + 1)::float8 / $SCALE_ROWS AS at
      FROM generate_series($from, $to) n) AS h;
SQL
  secs=$((SECONDS - fill_started))
  printf '  %d / %d rows, %d s, %d rows/s  [%s]\n' "$to" "$SCALE_ROWS" "$secs" $((to / (secs > 0 ? secs : 1))) "$(elapsed)"
done
insert_seconds=$((SECONDS - fill_started))
echo "  VACUUM ANALYZE and CHECKPOINT, so that the phases below do not pay for the fill  [$(elapsed)]"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE webhook_events" -c "CHECKPOINT"
fill_seconds=$((SECONDS - fill_started))
sizes=$(psql "$DATABASE_URL" -At <<'SQL'
SELECT json_build_object(
  'rows', (SELECT count(*) FROM webhook_events),
  'table_bytes', pg_table_size('webhook_events'),
  'indexes_bytes', pg_indexes_size('webhook_events'),
  'total_bytes', pg_total_relation_size('webhook_events'),
  'index_bytes', (SELECT json_object_agg(indexrelid::regclass, pg_relation_size(indexrelid))
                  FROM pg_index WHERE indrelid = 'webhook_events'::regclass))
SQL
)
python3 - "$sizes" "$fill_seconds" "$insert_seconds" <<'PY'
import json, sys
s, secs, inserts = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mb = lambda b: f"{b / 2**20:,.0f} MB"
print(f"  filled in {secs // 60} min {secs % 60:02d} s ({inserts} s of INSERTs, {secs - inserts} s of VACUUM ANALYZE and CHECKPOINT); webhook_events now "
      f"{s['rows']:,} rows, pg_total_relation_size {mb(s['total_bytes'])} = table {mb(s['table_bytes'])} "
      f"+ indexes {mb(s['indexes_bytes'])}:")
for name, size in sorted(s["index_bytes"].items()):
    print(f"    {name:<44} {mb(size):>10}")
PY

phases full

say "P4: P1 and P2 with $SCALE_ROWS rows in webhook_events vs the empty table  [$(elapsed)]"
python3 - "$OUT" "$SCALE_ROWS" "$fill_seconds" "$insert_seconds" "$sizes" "$CONNECTIONS" "$P2_DRAIN_TIMEOUT" <<'PY'
import json, sys
out, rows, fill_seconds, insert_seconds, sizes, conns, p2_timeout = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6]),
    int(sys.argv[7]))
r = {f"{p}-{t}": json.load(open(f"{out}/scale-{p}-{t}.json")) for p in ("p1", "p2") for t in ("empty", "full")}

def drain_rate(p2):
    """events/s; when the drain timed out, what it drained within the timeout (marked)."""
    if p2["drain_per_sec"] is not None:
        return p2["drain_per_sec"], ""
    return (p2["events"] - p2["verdict"]["still_pending"]) / p2_timeout, "*"

def compare(name, empty, full, unit, lower_is_better=False, mark=""):
    ratio = full / empty if empty else 0
    ok = ratio <= 1.15 if lower_is_better else ratio >= 0.85
    target = "<= 1.15x" if lower_is_better else ">= 0.85x"
    print(f"{name:<15} empty {empty:>8,.1f} {unit:<9} full {full:>8,.1f}{mark:1} {unit:<9} = {ratio:.2f}x  target {target}  "
          f"{'MET' if ok else 'NOT MET'}")
    return {"empty": empty, "full": full, "ratio": ratio, "met": ok}

def outcome(res):
    if res["passed"]:
        return "hold"
    v = res.get("verdict", {})
    all_answered = res.get("acknowledged", 0) == res.get("deliveries", 0)
    # Collections are not final while their events wait: then only the timeout is wrong.
    broken = {k: n for k, n in v.items()
              if n and k not in ("acknowledged", "collections_checked", "still_pending", "collections_wrong")}
    if v.get("still_pending") and not broken and all_answered:
        return f"drain timed out ({v['still_pending']:,} events still RECEIVED)"
    return f"BROKEN: {json.dumps(v)}"

print()
p1_rate = compare("P1 ingest", r["p1-empty"]["ingest_per_sec"], r["p1-full"]["ingest_per_sec"], "req/s")
p1_p99 = compare("P1 p99", r["p1-empty"]["latency"]["p99_ms"], r["p1-full"]["latency"]["p99_ms"], "ms", lower_is_better=True)
(p2_empty, mark_empty), (p2_full, mark_full) = drain_rate(r["p2-empty"]), drain_rate(r["p2-full"])
p2_rate = compare("P2 drain", p2_empty, p2_full, "events/s", mark=mark_full or mark_empty)
if mark_empty or mark_full:
    print(f"                * a drain timed out: events drained within its {p2_timeout} s")
met = p1_rate["met"] and p1_p99["met"] and p2_rate["met"]
print(f"P4 (P1 and P2 within 15 % with {rows:,} rows): {'MET' if met else 'NOT MET'}")
print("invariants (stored once, final statuses, applied once):")
outcomes = {name: outcome(res) for name, res in r.items()}
for name, text in outcomes.items():
    print(f"  {name:<9} {text}")
invariants = {name: res["passed"] for name, res in r.items()}
json.dump({"backend": "postgres", "connections": conns, "scale_rows": rows, "fill_seconds": fill_seconds,
           "fill_insert_seconds": insert_seconds, "webhook_events": sizes,
           "p1": {"ingest_per_sec": p1_rate, "p99_ms": p1_p99,
                  "latency_empty": r["p1-empty"]["latency"], "latency_full": r["p1-full"]["latency"]},
           "p2": {"drain_per_sec": p2_rate, "timed_out": {"empty": bool(mark_empty), "full": bool(mark_full)}},
           "p4_met": met, "invariants": invariants, "outcomes": outcomes, "invariants_hold": all(invariants.values())},
          open(f"{out}/results-scale.json", "w"), indent=2)
print(f"results: {out}/results-scale.json")
PY
echo "make bench-scale took $(elapsed)"

if [ "$status" = 0 ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE $DB WITH (FORCE)" # several GB
else
  echo "bench-scale: an invariant check failed; database $DB kept for a look" >&2
fi
exit $status
