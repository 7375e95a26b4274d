-- The receiver's write, as pgbench runs it: one single-row INSERT of a ~1.2 KB event under
-- UNIQUE(provider, dedup_key), one transaction per row.
\set k random(1, 2000000000)
INSERT INTO pgb_events (id, provider, event_id, dedup_key, request_ref, payload, status, attempts,
                        next_attempt_at, duplicate_count, received_at, last_seen_at)
VALUES (gen_random_uuid(), 'pgbench', 'e' || :k || '-' || :client_id, 'e' || :k || '-' || :client_id,
        'r' || (:k % 1000), :payload::jsonb, 'RECEIVED', 0, now(), 0, now(), now())
ON CONFLICT (provider, dedup_key) DO NOTHING;
