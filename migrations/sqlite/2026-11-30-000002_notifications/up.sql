-- The transactional outbox (see the PostgreSQL migration for the why).
CREATE TABLE notifications (
    id               TEXT    PRIMARY KEY NOT NULL,
    collection_id    TEXT    NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    transition_id    INTEGER NOT NULL REFERENCES collection_transitions (id) ON DELETE CASCADE,
    type             TEXT    NOT NULL
                     CHECK (type IN ('collection.updated', 'collection.succeeded',
                                     'collection.failed', 'collection.amount_mismatch')),
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    status           TEXT    NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    delivered_at     TEXT,
    created_at       TEXT    NOT NULL,
    CONSTRAINT notifications_transition_id_key UNIQUE (transition_id)
) STRICT;

CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX notifications_collection_id_idx ON notifications (collection_id, transition_id);
