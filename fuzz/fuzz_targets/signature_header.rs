#![no_main]
//! Signature headers of every scheme, and signed bodies, tampered or not.
//! The properties are `domain::fuzzing::signature_header` (crates/domain/src/fuzzing/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::signature_header(data));
