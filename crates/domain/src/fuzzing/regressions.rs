//! Replays, without cargo-fuzz, every input a fuzz target once failed on
//! (`fixtures/fuzz-regressions/<target>/`) and the committed seeds of its corpus
//! (`fuzz/corpus/<target>/seed-*`) through the same property checks, so `make test` keeps them.

use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use super::TARGETS;

fn inputs(target: &str) -> Vec<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regressions = crate_dir.join("fixtures/fuzz-regressions").join(target);
    let seeds = crate_dir.join("../../fuzz/corpus").join(target);
    let mut files = Vec::new();
    for (dir, prefix) in [(regressions, ""), (seeds, "seed-")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix)),
        );
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, check) = TARGETS
        .into_iter()
        .find(|(name, _)| *name == target)
        .unwrap();
    let files = inputs(target);
    assert!(!files.is_empty(), "no seeds or regressions for {target}");
    let failed: Vec<_> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            catch_unwind(|| check(&data)).is_err()
        })
        .collect();
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
}

#[test]
fn signature_header() {
    replay("signature_header");
}

#[test]
fn payload_extraction() {
    replay("payload_extraction");
}

#[test]
fn amount() {
    replay("amount");
}

#[test]
fn status_rule() {
    replay("status_rule");
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (name, _) in TARGETS {
        let file = format!("../../fuzz/fuzz_targets/{name}.rs");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let source = std::fs::read_to_string(&path).unwrap();
        assert!(
            source.contains(&format!("domain::fuzzing::{name}")),
            "{path:?}"
        );
    }
}
