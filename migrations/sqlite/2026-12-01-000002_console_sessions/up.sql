-- Operator console sessions, shared by every api replica (see the PostgreSQL migration for the
-- why): the SHA-256 of the cookie's id, never the id itself.
CREATE TABLE console_sessions (
    id_hash          TEXT PRIMARY KEY NOT NULL,
    key_name         TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL
) STRICT;
