-- The receivers' answers counted per minute, provider and outcome (`accepted`, `duplicate`, or
-- the error code of a refusal), for the console's charts and refusal rates: refusals and
-- repeats leave no row of their own in webhook_events. Each receiver adds its counts every few
-- seconds with an upsert, so replicas sum into the same rows. Unknown provider names are all
-- counted as '(unknown)', which keeps the table's size bounded by the configuration.
CREATE TABLE intake_counts (
    minute    timestamptz NOT NULL,
    provider  text        NOT NULL,
    outcome   text        NOT NULL,
    count     bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (minute, provider, outcome)
);
