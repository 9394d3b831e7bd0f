//! Our log-mel and MFCC match `tf.signal` (the MLPerf Tiny KWS recipe) on a fixed clip.
//!
//! Fixtures come from `tests/fixtures/gen_tf_features.py` (TensorFlow 2.21).

use std::path::PathBuf;

use tinyforge_data::audio::read_wav;
use tinyforge_data::{AudioFeature, FeatureExtractor, WavOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_f32(name: &str) -> Vec<f32> {
    std::fs::read(fixture(name))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `max_tol` bounds the worst cell, `mean_tol` the mean absolute error. The worst cells are the
/// quietest bands (e^-7 against peaks near e^4), where the two float32 FFTs' rounding differs.
fn compare(feature: AudioFeature, reference: &str, max_tol: f32, mean_tol: f32) {
    let opts = WavOptions {
        feature,
        ..Default::default()
    };
    let fx = FeatureExtractor::new(&opts).unwrap();
    let clip = read_wav(&fixture("tone.wav"), 16_000).unwrap();
    let mut out = vec![0f32; fx.output_shape().iter().product()];
    fx.compute(&clip, &mut out).unwrap();
    let want = read_f32(reference);
    assert_eq!(out.len(), want.len());
    let max_err = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let mean_err = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / out.len() as f32;
    eprintln!("{feature:?}: |ours - tf| max {max_err:e}, mean {mean_err:e}");
    assert!(max_err < max_tol, "{feature:?}: max error {max_err}");
    assert!(mean_err < mean_tol, "{feature:?}: mean error {mean_err}");
}

#[test]
fn log_mel_matches_tensorflow() {
    compare(AudioFeature::LogMel, "tone_logmel.bin", 1e-2, 5e-4);
}

#[test]
fn mfcc_matches_tensorflow() {
    compare(AudioFeature::Mfcc, "tone_mfcc.bin", 1e-2, 1e-3);
}
