//! The checks behind weir's fuzz targets, one function per target.
//!
//! Each check takes the fuzzer's bytes and panics only when an invariant is
//! broken, so the same function serves two drivers: the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` (run by `scripts/fuzz`), and `tests/corpus.rs`, which
//! replays the committed corpus in `fuzz/corpus/<target>/` as a regression
//! suite under `cargo test`.
//!
//! ```
//! weir_fuzz_checks::stdio_codec(b"@[2026-01-02T03:04:05 | orders | 7] hello\nraw line\n");
//! weir_fuzz_checks::urls_and_keys(b"kafka://127.0.0.1:9092/a,b?group=g");
//! weir_fuzz_checks::core_ops(&[1, 3, 2, 5, 0, 4, 0, 9, 2, 9, 6]);
//! weir_fuzz_checks::file_codec(b"Ss\x01 any bytes at all");
//! ```

mod core_ops;
mod file_codec;
mod input;
mod stdio_codec;
mod urls_and_keys;

pub use core_ops::core_ops;
pub use file_codec::file_codec;
pub use stdio_codec::stdio_codec;
pub use urls_and_keys::urls_and_keys;

/// A target's check: panics when `data` breaks an invariant.
pub type Check = fn(data: &[u8]);

/// The targets, by name: the fuzz target, its corpus folder and its check share it.
pub const TARGETS: [(&str, Check); 4] = [
    ("stdio_codec", stdio_codec),
    ("urls_and_keys", urls_and_keys),
    ("core_ops", core_ops),
    ("file_codec", file_codec),
];
