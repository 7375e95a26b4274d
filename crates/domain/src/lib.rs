//! Pure rules of webhook-inbox. Nothing in this crate performs I/O: no database, no network,
//! no clock (callers pass "now" in), so every rule is testable with plain values.
pub mod signature;
