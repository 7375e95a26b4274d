-- Two new decision outcomes: amount_mismatch (a success whose amount or currency differs from
-- the collection's) and ignored (an event type that does not concern a payment).
ALTER TABLE collection_transitions DROP CONSTRAINT collection_transitions_outcome_check;
ALTER TABLE collection_transitions ADD CONSTRAINT collection_transitions_outcome_check
    CHECK (outcome IN ('applied', 'unchanged', 'skipped_terminal', 'skipped_backward',
                       'override', 'amount_mismatch', 'ignored'));
