-- webhook_events is a queue as well as a record. Marking an event processed leaves a dead entry
-- at the front of webhook_events_claimable_idx until VACUUM removes it, and every claim walks
-- over those entries (measured: 7 ms per claim with 500k of them, 0.02 ms after VACUUM). With the
-- default trigger (20 % of the table changed) a table of 5M rows gathers 1M of them between
-- vacuums, so claims would slow down as the table grows. Vacuum after a fixed number of changed
-- rows instead: the dead entries then follow the traffic, not the size of the table. See
-- docs/operations.md ("Vacuum").
ALTER TABLE webhook_events SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 20000
);
