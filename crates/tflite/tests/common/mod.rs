//! Helpers shared by the integration tests: where the test models live.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `testdata/models/*.tflite`, sorted, with its stem.
pub fn models() -> Vec<(String, PathBuf)> {
    let dir = repo_root().join("testdata/models");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/models exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tflite"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    assert!(
        out.len() >= 11,
        "expected the testdata models, found {}",
        out.len()
    );
    out
}
