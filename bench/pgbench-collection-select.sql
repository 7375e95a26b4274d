-- GET /v1/collections/{ref}'s read, as pgbench runs it: one collection by its key, every column.
-- The API looks a collection up by its unique request_ref, as this does: the same single B-tree
-- descent and heap fetch as a primary-key SELECT. :rows collections are there ('r0' ...).
\set k random(0, :rows - 1)
SELECT id, request_ref, status, provider, provider_ref, amount, currency, metadata, version,
       created_at, updated_at
FROM pgb_collections WHERE request_ref = 'r' || :k;
