//! Golden files under `runner/tests/golden/`: compared byte for byte, and
//! rewritten only when `COWLOAD_UPDATE_GOLDEN=1` is set (review the diff).

use std::path::PathBuf;

/// `runner/tests/golden/<name>`.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Asserts `actual` equals the golden file `name`, or rewrites it on request.
pub fn check(name: &str, actual: &str) {
    let path = path(name);
    if std::env::var_os("COWLOAD_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden files have a directory"))
            .expect("create runner/tests/golden");
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with COWLOAD_UPDATE_GOLDEN=1 cargo test -p runner",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendered output (first difference at line {}):\n\
             expected: {:?}\n  actual: {:?}\n\
             if the change is intended, rerun with COWLOAD_UPDATE_GOLDEN=1 and review the diff",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}
