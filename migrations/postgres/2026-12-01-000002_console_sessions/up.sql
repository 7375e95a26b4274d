-- Operator console sessions, shared by every api replica (docs/console.md, "Sessions"). The
-- browser holds a random id; this table holds only its SHA-256 (hex), so a copy of the table
-- opens no session. The key's name, and a fingerprint of the secret that signed in, say whose
-- session it is: scopes are read from the configuration by name on every request, and a secret
-- removed or rotated out of it ends the sessions it opened. The CSRF token is derived from the
-- id, not stored.
--
-- No index besides the key: the table holds the live sessions (at most 10,000, one per signed-in
-- browser) and those ended since the last sign-in or purge, small enough for the purge to scan.
-- An index on last_seen_at, which changes once a minute per session, would turn each of those
-- updates from a HOT update of the row alone into an index write too.
CREATE TABLE console_sessions (
    id_hash          text        PRIMARY KEY,
    key_name         text        NOT NULL,
    key_fingerprint  text        NOT NULL,
    started_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL
);
