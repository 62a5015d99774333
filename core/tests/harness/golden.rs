//! Golden files: transcripts compared with reviewed text in `tests/golden/`.

use std::path::PathBuf;

/// Compares `transcript` with `golden/<name>.txt`, or rewrites it under `UPDATE_GOLDEN=1`.
pub fn golden_text(name: &str, transcript: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, transcript).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run with UPDATE_GOLDEN=1 to create it", path.display()));
    if expected != transcript {
        let line = expected.lines().zip(transcript.lines()).take_while(|(a, b)| a == b).count();
        let want = expected.lines().nth(line).unwrap_or("<end>");
        let got = transcript.lines().nth(line).unwrap_or("<end>");
        panic!(
            "{name}: transcript differs from {} at line {}\n  expected: {want}\n  actual:   {got}\n\
             full transcript:\n{transcript}",
            path.display(),
            line + 1
        );
    }
}
