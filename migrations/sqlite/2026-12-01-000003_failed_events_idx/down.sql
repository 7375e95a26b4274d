DROP INDEX webhook_events_failed_idx;
