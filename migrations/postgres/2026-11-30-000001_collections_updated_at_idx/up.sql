-- The host API lists collections in the order they last changed (keyset pagination on
-- updated_at, id): one index range scan per page, however many collections there are.
CREATE INDEX collections_updated_at_idx ON collections (updated_at, id);
