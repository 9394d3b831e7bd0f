//! PTQ of float `.tflite` models we did not make (MLPerf Tiny VWW, ResNet-8, AD autoencoder):
//! the int8 result must follow the float model.
//!
//! Calibration and evaluation use different samples. The reference inputs of VWW and ResNet are
//! uniform random int8 values dequantized with the input parameters of the matching int8 model
//! (see their `manifest.json`); only 8 exist, so calibration samples are drawn the same way
//! from a seeded generator, and evaluation runs on the 8 reference inputs plus 56 further
//! generated samples no calibration saw (64 in all: one flip costs 1.6 %, so 0.95 is a real
//! bar). AD01 calibrates on generated samples of its random set's distribution plus the first
//! half of its real log-mel windows, and is judged on its reference inputs (random and real).
use std::path::PathBuf;

use tinyforge_compress::quantize::{eval, ptq, PtqOptions};
use tinyforge_graph::DType;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `*input0.bin` samples of a reference folder whose name starts with `set`, `len` floats
/// each.
fn reference(model: &str, set: &str, len: usize) -> Vec<Vec<f32>> {
    let dir = root().join("testdata/reference").join(model);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(set) && n.ends_with("input0.bin")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let b = std::fs::read(&f).unwrap();
        let v: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.extend(v.chunks(len).map(|c| c.to_vec()));
    }
    out
}

/// `n` samples of `len` values `(q − zero_point) × scale`, `q` uniform over int8: the
/// reference sets' own generator, with another seed.
fn generated(n: usize, len: usize, scale: f32, zero_point: i32, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let q = (state >> 56) as u8 as i8 as i32;
                    (q - zero_point) as f32 * scale
                })
                .collect()
        })
        .collect()
}

fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(|s| s.as_slice()).collect()
}

struct Outcome {
    agreement: eval::Agreement,
    bytes_float: usize,
    bytes_int8: usize,
}

fn quantize(model: &str, calib: &[Vec<f32>], heldout: &[Vec<f32>], test: &[Vec<f32>]) -> Outcome {
    let path = root()
        .join("testdata/models")
        .join(format!("{model}.tflite"));
    let float = tinyforge_tflite::read_file(&path).unwrap();
    let (calib, heldout, test) = (refs(calib), refs(heldout), refs(test));
    let q = ptq(&float, &calib, &heldout, &PtqOptions::default()).unwrap();
    assert_eq!(q.graph.tensors[q.graph.inputs[0]].dtype, DType::I8);
    for (m, a) in &q.candidates {
        eprintln!("  {}: {a:?}", m.name());
    }
    eprintln!(
        "  bias correction: {:?} (kept: {})",
        q.bias_corrected_agreement, q.bias_corrected
    );
    let a = eval::agreement(&float, &q.graph, &test).unwrap();
    let bytes_float = tinyforge_tflite::write(&float).unwrap().len();
    // The smallest file TFLite Micro loads (one zero point per per-channel tensor).
    let compact = tinyforge_tflite::WriteOptions {
        tflm_only: true,
        ..Default::default()
    };
    let bytes_int8 = tinyforge_tflite::write_with(&q.graph, &compact)
        .unwrap()
        .len();
    eprintln!(
        "{model}: method {} argmax {:.4} rel {:.4} bytes {bytes_float} -> {bytes_int8} \
         ({} calibration, {} test samples)",
        q.calibration.name(),
        a.argmax,
        a.rel_error,
        calib.len(),
        test.len()
    );
    Outcome {
        agreement: a,
        bytes_float,
        bytes_int8,
    }
}

/// Calibration, method-choice and evaluation sets for a random-input reference model.
fn random_sets(model: &str, len: usize, scale: f32) -> [Vec<Vec<f32>>; 3] {
    let calib = generated(32, len, scale, -128, 1);
    let heldout = generated(16, len, scale, -128, 2);
    let mut test = reference(model, "random", len);
    assert_eq!(test.len(), 8, "{model}: reference inputs");
    test.extend(generated(56, len, scale, -128, 3));
    [calib, heldout, test]
}

#[test]
fn vww_int8_agrees_with_float() {
    let [c, h, t] = random_sets("vww_96_float", 96 * 96 * 3, 1.0 / 255.0);
    let o = quantize("vww_96_float", &c, &h, &t);
    assert!(o.agreement.argmax >= 0.95, "{:?}", o.agreement);
    // Per-channel scales of 27 small layers weigh in; the reference int8 model is 0.385×.
    assert!((o.bytes_int8 as f64) < 0.3 * o.bytes_float as f64);
}

#[test]
fn resnet_int8_agrees_with_float() {
    let [c, h, t] = random_sets("pretrainedResnet", 32 * 32 * 3, 1.0);
    let o = quantize("pretrainedResnet", &c, &h, &t);
    assert!(o.agreement.argmax >= 0.95, "{:?}", o.agreement);
    // All 8 reference inputs on their own, too.
    let refs = reference("pretrainedResnet", "random", 32 * 32 * 3);
    let o8 = quantize("pretrainedResnet", &c, &h, &refs);
    assert_eq!(o8.agreement.argmax, 1.0, "{:?}", o8.agreement);
    assert!((o.bytes_int8 as f64) < 0.3 * o.bytes_float as f64);
}

#[test]
fn ad01_int8_reconstructs_like_float() {
    let len = 640;
    let real = reference("ad01_fp32", "real", len);
    let random = reference("ad01_fp32", "random", len);
    let mut calib = generated(32, len, 0.391_015_23, 89, 1);
    calib.extend(real[..4].iter().cloned());
    let heldout = generated(8, len, 0.391_015_23, 89, 2);
    let o = quantize("ad01_fp32", &calib, &heldout, &random);
    assert!(
        o.agreement.rel_error <= 0.10,
        "random set {:?}",
        o.agreement
    );
    let o = quantize("ad01_fp32", &calib, &heldout, &real[4..]);
    assert!(o.agreement.rel_error <= 0.10, "real set {:?}", o.agreement);
}
