//! The properties the fuzz targets check (`fuzz/`, docs/fuzzing.md), one function of the raw fuzzer
//! bytes per target. They live here so that the fuzz targets and the regression test that replays
//! stored inputs (`fixtures/fuzz-regressions/`) run the same checks; a violated property panics.
//! Compiled for tests and with the `fuzzing` feature only: nothing in production calls them.

mod amount;
mod payload;
mod signature;
mod status_rule;

#[cfg(test)]
mod regressions;

pub use amount::amount;
pub use payload::payload_extraction;
pub use signature::signature_header;
pub use status_rule::status_rule;

/// One target's checks, over the fuzzer's bytes; a violated property panics.
pub type Check = fn(&[u8]);

/// Every target by its name, as `fuzz/fuzz_targets/<name>.rs` and the regression directories
/// name it.
pub const TARGETS: [(&str, Check); 4] = [
    ("signature_header", signature_header),
    ("payload_extraction", payload_extraction),
    ("amount", amount),
    ("status_rule", status_rule),
];

/// A fuzzer's bytes read as the choices of one run. Past the end every read gives zeros, so any
/// input, however short, is a complete run (libFuzzer shrinks inputs towards that).
pub(crate) struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let [first, rest @ ..] = self.data else {
            return 0;
        };
        self.data = rest;
        *first
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for slot in &mut out {
            *slot = self.byte();
        }
        out
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    pub(crate) fn i16(&mut self) -> i16 {
        i16::from_le_bytes(self.array())
    }

    pub(crate) fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.array())
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        self.array()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whatever is left, as the free-form part of the input (text, a body).
    pub(crate) fn rest(self) -> &'a [u8] {
        self.data
    }
}
