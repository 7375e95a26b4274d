#![no_main]
//! Any body, read by every provider profile.
//! The properties are `domain::fuzzing::payload_extraction` (crates/domain/src/fuzzing/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::payload_extraction(data));
