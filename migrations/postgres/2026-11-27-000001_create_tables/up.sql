-- webhook-inbox schema, PostgreSQL. Keep equivalent to migrations/sqlite (checked by a test).

CREATE TABLE webhook_events (
    id               uuid        PRIMARY KEY,
    provider         text        NOT NULL,
    event_id         text,
    dedup_key        text        NOT NULL,
    request_ref      text,
    payload          jsonb       NOT NULL,
    signature        text,
    status           text        NOT NULL DEFAULT 'RECEIVED'
                     CHECK (status IN ('RECEIVED', 'PROCESSED', 'FAILED')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    duplicate_count  bigint      NOT NULL DEFAULT 0,
    received_at      timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    processed_at     timestamptz,
    CONSTRAINT webhook_events_provider_dedup_key_key UNIQUE (provider, dedup_key)
);

-- "Next claimable events": only RECEIVED rows are in it, so its size follows the backlog, not
-- the table.
CREATE INDEX webhook_events_claimable_idx ON webhook_events (next_attempt_at)
    WHERE status = 'RECEIVED';
CREATE INDEX webhook_events_request_ref_idx ON webhook_events (request_ref);
CREATE INDEX webhook_events_received_at_idx ON webhook_events (received_at);

CREATE TABLE collections (
    id            uuid        PRIMARY KEY,
    request_ref   text        NOT NULL,
    status        text        NOT NULL
                  CHECK (status IN ('INITIATED', 'PENDING', 'PROCESSING', 'SUCCESS', 'FAILED')),
    provider      text,
    provider_ref  text,
    -- A decimal number as text: cast with amount::numeric. Text keeps both backends exact.
    amount        text        CHECK (amount ~ '^-?[0-9]+(\.[0-9]+)?$'),
    currency      text,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT collections_request_ref_key UNIQUE (request_ref)
);

CREATE TABLE collection_transitions (
    id                bigserial   PRIMARY KEY,
    collection_id     uuid        NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    -- No foreign key: the audit row keeps the event's id after the event is purged.
    webhook_event_id  uuid,
    from_status       text        NOT NULL,
    to_status         text        NOT NULL,
    outcome           text        NOT NULL
                      CHECK (outcome IN ('applied', 'unchanged', 'skipped_terminal',
                                         'skipped_backward', 'override')),
    reason            text        NOT NULL,
    actor             text        NOT NULL,
    created_at        timestamptz NOT NULL
);

CREATE INDEX collection_transitions_collection_id_idx ON collection_transitions (collection_id, id);
CREATE INDEX collection_transitions_webhook_event_id_idx ON collection_transitions (webhook_event_id);
