CREATE TABLE collection_transitions_new (
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

INSERT INTO collection_transitions_new SELECT * FROM collection_transitions;
DROP TABLE collection_transitions;
ALTER TABLE collection_transitions_new RENAME TO collection_transitions;

CREATE INDEX collection_transitions_collection_id_idx ON collection_transitions (collection_id, id);
CREATE INDEX collection_transitions_webhook_event_id_idx ON collection_transitions (webhook_event_id);
