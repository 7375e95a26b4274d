DROP TABLE collection_transitions;
DROP TABLE collections;
DROP TABLE webhook_events;
