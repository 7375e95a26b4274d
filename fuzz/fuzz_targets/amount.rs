#![no_main]
//! Provider and collection amounts: exact, never negative, round-tripping.
//! The properties are `domain::fuzzing::amount` (crates/domain/src/fuzzing/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::amount(data));
