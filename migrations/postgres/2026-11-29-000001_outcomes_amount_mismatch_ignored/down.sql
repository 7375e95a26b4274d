ALTER TABLE collection_transitions DROP CONSTRAINT collection_transitions_outcome_check;
ALTER TABLE collection_transitions ADD CONSTRAINT collection_transitions_outcome_check
    CHECK (outcome IN ('applied', 'unchanged', 'skipped_terminal', 'skipped_backward',
                       'override'));
