-- Only the first undelivered notification of each collection is due; the ones behind it wait
-- with next_attempt_at = 9999-12-31 until it is delivered or fails (see the PostgreSQL
-- migration of the same name). The rows waiting now are marked so.
UPDATE notifications SET next_attempt_at = '9999-12-31 00:00:00.000000'
WHERE status = 'PENDING'
  AND EXISTS (SELECT 1 FROM notifications AS e
              WHERE e.collection_id = notifications.collection_id
                AND e.transition_id < notifications.transition_id
                AND e.status = 'PENDING');
