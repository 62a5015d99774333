//! Replays the committed fuzz corpus, `fuzz/corpus/<target>/`, through each
//! target's check: every input the fuzzer kept (and every crash it found, once
//! fixed) stays a regression test. `scripts/fuzz` grows the corpus.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("corpus").join(target)
}

/// Runs every file of `target`'s corpus; fails naming each input that panics,
/// and when the corpus is missing or empty (a replay of nothing proves nothing).
fn replay(target: &str, check: fn(&[u8])) {
    let dir = corpus_dir(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}; run scripts/fuzz to grow it", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|err| panic!("{}: {err}", dir.display())).path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{}: the corpus is empty; run scripts/fuzz to grow it", dir.display());
    let failed: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let data = fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            catch_unwind(AssertUnwindSafe(|| check(&data))).err().map(|_| path.display().to_string())
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail:\n{}",
        failed.len(),
        paths.len(),
        failed.join("\n")
    );
}

#[test]
fn stdio_codec_corpus() {
    replay("stdio_codec", weir_fuzz_checks::stdio_codec);
}

#[test]
fn urls_and_keys_corpus() {
    replay("urls_and_keys", weir_fuzz_checks::urls_and_keys);
}

#[test]
fn core_ops_corpus() {
    replay("core_ops", weir_fuzz_checks::core_ops);
}

#[test]
fn file_codec_corpus() {
    replay("file_codec", weir_fuzz_checks::file_codec);
}

/// Every target has a corpus test above, and every corpus folder a target.
#[test]
fn every_target_has_its_corpus() {
    let targets: Vec<&str> = weir_fuzz_checks::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(targets, ["stdio_codec", "urls_and_keys", "core_ops", "file_codec"]);
    let corpus = corpus_dir("");
    let mut folders: Vec<String> = fs::read_dir(&corpus)
        .unwrap_or_else(|err| panic!("{}: {err}", corpus.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect();
    folders.sort();
    let mut expected: Vec<String> = targets.iter().map(|name| (*name).to_owned()).collect();
    expected.sort();
    assert_eq!(folders, expected, "fuzz/corpus/ holds one folder per target");
}
