-- webhook-inbox schema, SQLite. Keep equivalent to migrations/postgres (checked by a test).
-- uuid, json and timestamps are TEXT here; timestamps are fixed-width UTC
-- 'YYYY-MM-DD HH:MM:SS.ffffff' so text order is time order. STRICT tables enforce the types.

CREATE TABLE webhook_events (
    id               TEXT    PRIMARY KEY NOT NULL,
    provider         TEXT    NOT NULL,
    event_id         TEXT,
    dedup_key        TEXT    NOT NULL,
    request_ref      TEXT,
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    signature        TEXT,
    status           TEXT    NOT NULL DEFAULT 'RECEIVED'
                     CHECK (status IN ('RECEIVED', 'PROCESSED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    duplicate_count  INTEGER NOT NULL DEFAULT 0,
    received_at      TEXT    NOT NULL,
    last_seen_at     TEXT    NOT NULL,
    processed_at     TEXT,
    CONSTRAINT webhook_events_provider_dedup_key_key UNIQUE (provider, dedup_key)
) STRICT;

CREATE INDEX webhook_events_claimable_idx ON webhook_events (next_attempt_at)
    WHERE status = 'RECEIVED';
CREATE INDEX webhook_events_request_ref_idx ON webhook_events (request_ref);
CREATE INDEX webhook_events_received_at_idx ON webhook_events (received_at);

CREATE TABLE collections (
    id            TEXT    PRIMARY KEY NOT NULL,
    request_ref   TEXT    NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('INITIATED', 'PENDING', 'PROCESSING', 'SUCCESS', 'FAILED')),
    provider      TEXT,
    provider_ref  TEXT,
    amount        TEXT    CHECK (amount NOT GLOB '*[^0-9.-]*' AND amount GLOB '*[0-9]*'),
    currency      TEXT,
    metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CONSTRAINT collections_request_ref_key UNIQUE (request_ref)
) STRICT;

CREATE TABLE collection_transitions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    collection_id     TEXT    NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    webhook_event_id  TEXT,
    from_status       TEXT    NOT NULL,
    to_status         TEXT    NOT NULL,
    outcome           TEXT    NOT NULL
                      CHECK (outcome IN ('applied', 'unchanged', 'skipped_terminal',
                                         'skipped_backward', 'override')),
    reason            TEXT    NOT NULL,
    actor             TEXT    NOT NULL,
    created_at        TEXT    NOT NULL
) STRICT;

CREATE INDEX collection_transitions_collection_id_idx ON collection_transitions (collection_id, id);
CREATE INDEX collection_transitions_webhook_event_id_idx ON collection_transitions (webhook_event_id);
