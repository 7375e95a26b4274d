-- FAILED events are few and wanted often: the operator console and the host API list and count
-- them (events page, "replay every FAILED event" with its count first). Without this index each
-- such read scans the whole table (27 ms with 100k events, 197 ms with 1M, on the machine of
-- docs/benchmarks.md). Written only when an event fails or leaves FAILED, so the receiver's and
-- the processor's hot paths pay nothing. Building it reads the table once and holds writes back
-- meanwhile (about a second per million events here): on a large table, migrate in a quiet
-- moment; the receivers answer 503 for what they cannot record within their timeout.
CREATE INDEX webhook_events_failed_idx ON webhook_events (received_at) WHERE status = 'FAILED';
