#![no_main]
//! Rounds of status requests against the forward-only rule.
//! The properties are `domain::fuzzing::status_rule` (crates/domain/src/fuzzing/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::status_rule(data));
