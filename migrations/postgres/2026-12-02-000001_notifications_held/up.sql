-- Only the first undelivered notification of each collection is due; the ones behind it wait
-- with next_attempt_at = 9999-12-31 until it is delivered or fails, when the dispatcher that
-- settles it makes the next one due. Before, every PENDING notification was due and the claim
-- skipped those with an earlier one PENDING: with the endpoint down and traffic going on, each
-- claim walked every waiting row (200 ms per claim with 80,000 of them; docs/benchmarks.md).
-- The rows waiting now are marked so; a dispatcher also releases any left waiting with no
-- earlier one (release_orphans), which covers rows written by an older processor during a
-- rolling upgrade.
UPDATE notifications AS n SET next_attempt_at = '9999-12-31 00:00:00+00'
WHERE n.status = 'PENDING'
  AND EXISTS (SELECT 1 FROM notifications AS e
              WHERE e.collection_id = n.collection_id
                AND e.transition_id < n.transition_id
                AND e.status = 'PENDING');

-- Each notification is written once and updated twice (claimed, settled); the claim walks the
-- due index over the dead entries until VACUUM removes them. As for webhook_events: vacuum
-- after a fixed number of changed rows, not a share of the table.
ALTER TABLE notifications SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000
);
