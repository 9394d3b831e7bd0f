//! Reference tests: the runtime reproduces every bundled reference set.
//!
//! Int8 models must match byte for byte — against TFLite Micro's `*_tflm.bin` output where the
//! manifest lists one (TFLM is the ground truth where LiteRT differs), else against the LiteRT
//! reference-kernel output, which the manifest records as identical to TFLM. Float models must
//! agree within 1e-4 × max|reference| (summation order differs between implementations).
use std::path::{Path, PathBuf};

use serde_json::Value;
use tinyforge_graph::DType;
use tinyforge_runtime::Runtime;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

struct Set {
    name: String,
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
}

fn files(dir: &Path, list: &Value) -> Vec<PathBuf> {
    list.as_array()
        .expect("file list")
        .iter()
        .map(|f| dir.join(f["file"].as_str().expect("file name")))
        .collect()
}

/// The sets of a model's manifest, each with the output files that are the target.
fn sets(model: &str) -> (PathBuf, Vec<Set>) {
    let dir = testdata().join("reference").join(model);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    let file = Path::new(manifest["model"].as_str().expect("model path"))
        .file_name()
        .expect("model file name")
        .to_owned();
    let model_path = testdata().join("models").join(file);
    let mut out = Vec::new();
    for (name, set) in manifest["sets"].as_object().expect("sets") {
        let tflm = &set["tflm"]["outputs"];
        let outputs = if tflm.is_array() {
            files(&dir, tflm)
        } else {
            files(&dir, &set["outputs"])
        };
        out.push(Set {
            name: name.clone(),
            inputs: files(&dir, &set["inputs"]),
            outputs,
        });
    }
    (model_path, out)
}

/// Runs every sample of every set; returns, per set and output, the produced bytes.
fn run_sets(model: &str) -> Vec<(Set, Vec<Vec<u8>>, DType)> {
    let (model_path, sets) = sets(model);
    let graph = tinyforge_tflite::read_file(&model_path)
        .unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let mut rt = Runtime::new(graph).unwrap_or_else(|e| panic!("{model}: {e}"));
    let mut results = Vec::new();
    for set in sets {
        let data: Vec<Vec<u8>> = set
            .inputs
            .iter()
            .map(|p| std::fs::read(p).expect("input file"))
            .collect();
        let one = rt.input_bytes(0);
        let n = data[0].len() / one;
        assert!(
            n > 0 && data[0].len().is_multiple_of(one),
            "{model}/{}",
            set.name
        );
        let mut outs = vec![Vec::new(); rt.output_count()];
        for s in 0..n {
            let sample: Vec<&[u8]> = data
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let b = rt.input_bytes(i);
                    &d[s * b..(s + 1) * b]
                })
                .collect();
            rt.invoke(&sample)
                .unwrap_or_else(|e| panic!("{model}/{} sample {s}: {e}", set.name));
            for (o, buf) in outs.iter_mut().enumerate() {
                buf.extend_from_slice(rt.output(o));
            }
        }
        let dtype = rt.output_info(0).dtype;
        results.push((set, outs, dtype));
    }
    results
}

fn assert_bit_exact(model: &str) {
    for (set, outs, _) in run_sets(model) {
        for (o, path) in set.outputs.iter().enumerate() {
            let want = std::fs::read(path).expect("output file");
            let got = &outs[o];
            assert_eq!(
                got.len(),
                want.len(),
                "{model}/{} output {o} size",
                set.name
            );
            let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
            if !bad.is_empty() {
                let max = bad
                    .iter()
                    .map(|&i| (got[i] as i8 as i32 - want[i] as i8 as i32).abs())
                    .max()
                    .unwrap_or(0);
                panic!(
                    "{model}/{} output {o}: {} of {} bytes differ (max |diff| {max}), first at {}: got {} want {}",
                    set.name,
                    bad.len(),
                    want.len(),
                    bad[0],
                    got[bad[0]] as i8,
                    want[bad[0]] as i8
                );
            }
        }
    }
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn assert_close(model: &str) {
    for (set, outs, dtype) in run_sets(model) {
        assert_eq!(dtype, DType::F32, "{model}: float model expected");
        for (o, path) in set.outputs.iter().enumerate() {
            let want = f32s(&std::fs::read(path).expect("output file"));
            let got = f32s(&outs[o]);
            assert_eq!(
                got.len(),
                want.len(),
                "{model}/{} output {o} size",
                set.name
            );
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let tol = 1e-4 * scale;
            let (worst, at) = got
                .iter()
                .zip(&want)
                .enumerate()
                .map(|(i, (g, w))| ((g - w).abs(), i))
                .fold(
                    (0f32, 0),
                    |a, b| if b.0 > a.0 || b.0.is_nan() { b } else { a },
                );
            assert!(
                worst <= tol,
                "{model}/{} output {o}: |diff| {worst} at {at} (got {} want {}) > {tol}",
                set.name,
                got[at],
                want[at]
            );
        }
    }
}

#[test]
fn kws_ref_model_is_bit_exact() {
    assert_bit_exact("kws_ref_model");
}

#[test]
fn vww_96_int8_is_bit_exact() {
    assert_bit_exact("vww_96_int8");
}

#[test]
fn pretrained_resnet_quant_is_bit_exact() {
    assert_bit_exact("pretrainedResnet_quant");
}

#[test]
fn ad01_int8_is_bit_exact_with_tflm() {
    assert_bit_exact("ad01_int8");
}

#[test]
fn hello_world_int8_is_bit_exact_with_tflm() {
    assert_bit_exact("hello_world_int8");
}

#[test]
fn simple_add_model_is_bit_exact() {
    assert_bit_exact("simple_add_model");
}

#[test]
fn vww_96_float_is_close() {
    assert_close("vww_96_float");
}

#[test]
fn pretrained_resnet_float_is_close() {
    assert_close("pretrainedResnet");
}

#[test]
fn ad01_fp32_is_close() {
    assert_close("ad01_fp32");
}

#[test]
fn hello_world_float_is_close() {
    assert_close("hello_world_float");
}

/// The float KWS file stores int8 conv weights (dynamic-range "hybrid" quantization), which
/// TFLite Micro does not execute; the runtime follows LiteRT's reference hybrid conv.
#[test]
fn kws_ref_model_float32_is_close() {
    assert_close("kws_ref_model_float32");
}
