//! Fuzzes the `.tflite` reader: any input must give `Ok` or `Err`, never a panic, and a model
//! that reads must write and read back unchanged.
//!
//! Run: `cargo +nightly fuzz run read_tflite fuzz/corpus/read_tflite` after seeding the corpus
//! with `cp testdata/models/*.tflite fuzz/corpus/read_tflite/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = tinyforge_tflite::read(data) {
        let bytes = tinyforge_tflite::write(&graph).expect("a graph that reads must write");
        let back = tinyforge_tflite::read(&bytes).expect("a written graph must read");
        assert_eq!(back, graph);
    }
});
