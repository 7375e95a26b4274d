ALTER TABLE notifications RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
UPDATE notifications SET next_attempt_at = now()
WHERE status = 'PENDING' AND next_attempt_at = '9999-12-31 00:00:00+00';
