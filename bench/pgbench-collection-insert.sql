-- POST /v1/collections's write, as pgbench runs it: one single-row INSERT of a new collection
-- under UNIQUE(request_ref), one transaction per row.
\set k random(1, 2000000000)
INSERT INTO pgb_collections (id, request_ref, status, amount, currency, metadata, version,
                             created_at, updated_at)
VALUES (gen_random_uuid(), 'n' || :k || '-' || :client_id, 'INITIATED', '5000.00', 'NGN', '{}', 1,
        now(), now())
ON CONFLICT (request_ref) DO NOTHING;
