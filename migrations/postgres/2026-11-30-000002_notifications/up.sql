-- The transactional outbox: one row per decision that changes a collection (or refuses a
-- success for its amount), written in the decision's transaction, delivered to the host
-- application by the dispatcher. Ordered per collection by the decision's audit row, whose ids
-- follow commit order for a collection (written under its row lock).
CREATE TABLE notifications (
    id               uuid        PRIMARY KEY,
    collection_id    uuid        NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    transition_id    bigint      NOT NULL REFERENCES collection_transitions (id) ON DELETE CASCADE,
    type             text        NOT NULL
                     CHECK (type IN ('collection.updated', 'collection.succeeded',
                                     'collection.failed', 'collection.amount_mismatch')),
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL,
    CONSTRAINT notifications_transition_id_key UNIQUE (transition_id)
);

-- What is due, whatever the table's size (delivered rows leave the index).
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'PENDING';
-- A collection's notifications in order: the earlier undelivered one holds the later back.
CREATE INDEX notifications_collection_id_idx ON notifications (collection_id, transition_id);
