-- Operators and the host API list notifications newest first (keyset pagination on
-- created_at, id): one index range scan per page, however long the outbox grows.
CREATE INDEX notifications_created_at_idx ON notifications (created_at, id);
