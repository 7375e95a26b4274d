-- The receivers' answers counted per minute, provider and outcome (see the PostgreSQL migration
-- for the why). `minute` is fixed-width UTC text like every timestamp here, so text order is
-- time order.
CREATE TABLE intake_counts (
    minute    TEXT    NOT NULL,
    provider  TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (minute, provider, outcome)
) STRICT;
