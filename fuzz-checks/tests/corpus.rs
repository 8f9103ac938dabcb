//! Replays the committed fuzz corpus and every past crash through the fuzz targets' checks, on
//! stable, as part of `cargo test --workspace` (and so `npm test`).
//!
//! Invariant: every file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` passes
//! its target's check; a crash found by `npm run fuzz` is committed to `fuzz/regressions/`
//! with its fix, so it can never come back unnoticed.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for (target, check) in spur_fuzz_checks::TARGETS {
        for file in files(&root.join(kind).join(target)) {
            let data = std::fs::read(&file).unwrap();
            let name = file.display().to_string();
            if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{name} fails its `{target}` check: {msg}");
            }
            n += 1;
        }
    }
    n
}

#[test]
fn the_committed_corpus_passes_every_check() {
    let n = replay("corpus");
    // Every target has a seed corpus.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, _) in spur_fuzz_checks::TARGETS {
        assert!(
            !files(&root.join(target)).is_empty(),
            "fuzz/corpus/{target} is empty"
        );
    }
    assert!(n >= spur_fuzz_checks::TARGETS.len());
}

#[test]
fn every_past_crash_stays_fixed() {
    replay("regressions");
}
