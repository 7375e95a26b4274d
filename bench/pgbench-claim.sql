-- The processor's work, as pgbench runs it: claim 50 events (SKIP LOCKED), update their
-- collections (locked in id order), mark the events, in one transaction.
BEGIN;
WITH c AS (
  SELECT id, request_ref FROM pgb_events
  WHERE status = 'RECEIVED' AND next_attempt_at <= now()
  ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED
), l AS (
  SELECT id FROM pgb_collections WHERE request_ref IN (SELECT request_ref FROM c) ORDER BY id FOR UPDATE
), u AS (
  UPDATE pgb_collections SET version = version + 1, updated_at = now()
  WHERE id IN (SELECT id FROM l) RETURNING 1
)
UPDATE pgb_events SET status = 'PROCESSED', processed_at = now() WHERE id IN (SELECT id FROM c);
COMMIT;
