//! Export and import against the runtime and LiteRT: the engine's eval-mode forward, our
//! runtime on the exported `.tflite`, and LiteRT on the same file agree within 1e-4; importing
//! an exported (or a reference) float model and exporting it again computes the same thing.
//!
//! LiteRT comes from `$TINYFORGE_PYTHON` (default `/work/venv-tf/bin/python`, else
//! `.venv/bin/python`) with `ai_edge_litert`; without it the LiteRT half prints "SKIPPED: …"
//! and passes, unless `TINYFORGE_REQUIRE_TOOLS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tinyforge_graph::Graph;
use tinyforge_runtime::Runtime;
use tinyforge_train::export::{export_graph, export_graph_with, ExportOptions};
use tinyforge_train::import::{import_graph, import_graph_full};
use tinyforge_train::layers::*;
use tinyforge_train::spec::{self, LayerSpec, ModelSpec, Size2};
use tinyforge_train::{Model, Op, Tensor};

const TOL: f32 = 1e-4;

/// Random biases and non-trivial BN statistics, so folding is really exercised.
fn perturb(m: &mut Model, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for n in &mut m.nodes {
        let Op::Layer(l) = &mut n.op else { continue };
        match l {
            Layer::BatchNorm(bn) => {
                for c in 0..bn.channels {
                    bn.gamma.value[c] = rng.gen_range(0.5..1.5);
                    bn.beta.value[c] = rng.gen_range(-0.5..0.5);
                    bn.running_mean[c] = rng.gen_range(-0.3..0.3);
                    bn.running_var[c] = rng.gen_range(0.3..2.0);
                }
            }
            Layer::Conv2d(c) => {
                if let Some(b) = &mut c.bias {
                    b.value
                        .iter_mut()
                        .for_each(|v| *v = rng.gen_range(-0.2..0.2));
                }
            }
            Layer::DepthwiseConv2d(c) => {
                if let Some(b) = &mut c.bias {
                    b.value
                        .iter_mut()
                        .for_each(|v| *v = rng.gen_range(-0.2..0.2));
                }
            }
            Layer::Dense(d) => {
                if let Some(b) = &mut d.bias {
                    b.value
                        .iter_mut()
                        .for_each(|v| *v = rng.gen_range(-0.2..0.2));
                }
            }
            _ => {}
        }
    }
}

fn random_input(m: &Model, n: usize, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shape = vec![n];
    shape.extend_from_slice(m.input_shape());
    let len: usize = shape.iter().product();
    Tensor::from_vec(&shape, (0..len).map(|_| rng.gen_range(0.0..1.0)).collect()).unwrap()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_values(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Runs `g` in our runtime on every sample of `x`; outputs concatenated.
fn run_runtime(g: &Graph, x: &Tensor) -> Vec<f32> {
    let mut rt = Runtime::new(g.clone()).expect("runtime prepares the exported graph");
    let per = x.sample_len();
    let mut out = Vec::new();
    for s in x.data.chunks_exact(per) {
        rt.invoke(&[&f32_bytes(s)]).unwrap();
        out.extend(f32_values(rt.output(0)));
    }
    out
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let mut worst = 0f32;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs() / y.abs().max(1.0);
        worst = worst.max(d);
    }
    assert!(worst <= TOL, "{what}: max relative difference {worst}");
    eprintln!("{what}: max difference {worst:.2e}");
}

fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TINYFORGE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        PathBuf::from("/work/venv-tf/bin/python"),
        root.join(".venv/bin/python"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

fn skip_or_fail(why: &str) {
    if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("LiteRT check required but unavailable: {why}");
    }
    eprintln!("SKIPPED: LiteRT check: {why}");
}

const LITERT: &str = r#"
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
model, xin, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
it = Interpreter(model_path=model, num_threads=1); it.allocate_tensors()
i, o = it.get_input_details()[0], it.get_output_details()[0]
x = np.fromfile(xin, dtype="<f4").reshape((n,) + tuple(i["shape"][1:]))
res = []
for k in range(n):
    it.set_tensor(i["index"], x[k:k+1]); it.invoke()
    res.append(it.get_tensor(o["index"]).astype("<f4").ravel())
np.concatenate(res).tofile(out)
"#;

/// Runs the `.tflite` bytes in LiteRT; `None` when LiteRT is unavailable (skip).
fn run_litert(tflite: &[u8], x: &Tensor) -> Option<Vec<f32>> {
    let Some(py) = python() else {
        skip_or_fail("no python ($TINYFORGE_PYTHON, /work/venv-tf or .venv)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (m, i, o) = (
        dir.path().join("m.tflite"),
        dir.path().join("x.bin"),
        dir.path().join("y.bin"),
    );
    std::fs::write(&m, tflite).unwrap();
    std::fs::write(&i, f32_bytes(&x.data)).unwrap();
    let probe = Command::new(&py)
        .args(["-c", "import ai_edge_litert.interpreter"])
        .output();
    if !probe.as_ref().is_ok_and(|p| p.status.success()) {
        skip_or_fail(&format!("{} cannot import ai_edge_litert", py.display()));
        return None;
    }
    let run = Command::new(&py)
        .arg("-c")
        .arg(LITERT)
        .arg(&m)
        .arg(&i)
        .arg(&o)
        .arg(x.batch().to_string())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "LiteRT failed on the exported model: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    Some(f32_values(&std::fs::read(&o).unwrap()))
}

/// The whole check for one model: engine vs runtime vs LiteRT, and export ∘ import.
fn check(name: &str, mut m: Model) {
    let x = random_input(&m, 4, 7);
    let want = m.forward(&x, false).unwrap().data.clone();
    let g = export_graph(&m).expect("export");
    let bytes = tinyforge_tflite::write(&g).expect("write .tflite");
    let g2 = tinyforge_tflite::read(&bytes).expect("read back");
    let ours = run_runtime(&g2, &x);
    assert_close(&format!("{name}: runtime vs engine"), &ours, &want);
    if let Some(lite) = run_litert(&bytes, &x) {
        assert_close(&format!("{name}: LiteRT vs runtime"), &lite, &ours);
    }

    // Import the exported file and export again: the same ops, weights and outputs.
    let mut back = import_graph(&g2).expect("import");
    let again = export_graph(&back).expect("re-export");
    let ops = |g: &Graph| g.nodes.iter().map(|n| n.op.clone()).collect::<Vec<_>>();
    assert_eq!(ops(&again), ops(&g2), "{name}: ops after export(import(g))");
    let consts = |g: &Graph| {
        g.tensors
            .iter()
            .filter_map(|t| t.data.clone().map(|d| (t.shape.clone(), d)))
            .collect::<Vec<_>>()
    };
    assert_eq!(consts(&again), consts(&g2), "{name}: constants");
    let imported = back.forward(&x, false).unwrap().data.clone();
    assert_close(
        &format!("{name}: imported engine vs runtime"),
        &imported,
        &ours,
    );
}

#[test]
fn mnist_dscnn_matches_runtime_and_litert() {
    let mut m = spec::mnist_dscnn().build(1).unwrap();
    assert_eq!(m.param_count(), 9610);
    perturb(&mut m, 2);
    let g = export_graph(&m).unwrap();
    // Every BN folded, every ReLU fused: conv, dw, pw, pool, dw, pw, dw, pw, GAP (+reshape), FC.
    let names: Vec<_> = g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        names,
        [
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "MAX_POOL_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "AVERAGE_POOL_2D",
            "RESHAPE",
            "FULLY_CONNECTED"
        ]
    );
    check("mnist_dscnn", m);
}

#[test]
fn resnet8_matches_runtime_and_litert() {
    let mut m = spec::resnet8().build(3).unwrap();
    perturb(&mut m, 4);
    check("resnet8", m);
}

#[test]
fn inverted_residual_matches_runtime_and_litert() {
    let ir = |filters, expansion, stride| LayerSpec::InvertedResidual {
        filters,
        expansion,
        stride: Size2::Square(stride),
        activation: Activation::Relu6,
    };
    let spec = ModelSpec {
        input: vec![16, 16, 3],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 8,
                kernel: Size2::Square(3),
                stride: Size2::Square(2),
                padding: Padding::Same,
                bias: None,
                batch_norm: true,
                activation: Activation::Relu6,
            },
            ir(8, 1, 1),
            ir(16, 6, 2),
            ir(16, 6, 1),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Dense {
                units: 5,
                bias: None,
                batch_norm: false,
                activation: Activation::None,
            },
        ],
    };
    let mut m = spec.build(5).unwrap();
    perturb(&mut m, 6);
    check("inverted_residual", m);
}

/// Layers that cannot be folded or fused: a BN after an add (→ 1×1 depthwise), a BN on flat
/// features (→ diagonal FC), a stand-alone ReLU6 after a pool, dropout, avg-pool, dense+BN.
#[test]
fn unfusable_layers_export_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut m = Model::new(&[8, 8, 2]);
    let a = m
        .push(Layer::Conv2d(Conv2d::new(
            2,
            4,
            (3, 3),
            (1, 1),
            Padding::Same,
            true,
            &mut rng,
        )))
        .unwrap();
    let b = m
        .push(Layer::Conv2d(
            Conv2d::new(4, 4, (1, 1), (1, 1), Padding::Same, false, &mut rng)
                .with_activation(Activation::Relu),
        ))
        .unwrap();
    m.add_sum(&[a, b], Activation::None).unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(4).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::AvgPool(AvgPool::new((2, 2), (2, 2), Padding::Valid)))
        .unwrap();
    m.push(Layer::Activation(ActivationLayer {
        activation: Activation::Relu6,
    }))
    .unwrap();
    m.push(Layer::Dropout(Dropout::new(0.3, 1))).unwrap();
    m.push(Layer::Flatten(Flatten { target: None })).unwrap();
    m.push(Layer::Dense(Dense::new(64, 6, true, &mut rng)))
        .unwrap();
    m.push(Layer::BatchNorm(BatchNorm::new(6))).unwrap();
    m.push(Layer::Activation(ActivationLayer {
        activation: Activation::Relu,
    }))
    .unwrap();
    perturb(&mut m, 10);
    let x = random_input(&m, 3, 11);
    let want = m.forward(&x, false).unwrap().data.clone();
    let g = export_graph(&m).unwrap();
    let names: Vec<_> = g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        names,
        [
            "CONV_2D",
            "CONV_2D",
            "ADD",
            "DEPTHWISE_CONV_2D",
            "AVERAGE_POOL_2D",
            "RELU6",
            "RESHAPE",
            "FULLY_CONNECTED"
        ]
    );
    let bytes = tinyforge_tflite::write(&g).unwrap();
    let ours = run_runtime(&tinyforge_tflite::read(&bytes).unwrap(), &x);
    assert_close("unfusable: runtime vs engine", &ours, &want);
    if let Some(lite) = run_litert(&bytes, &x) {
        assert_close("unfusable: LiteRT vs runtime", &lite, &ours);
    }
}

#[test]
fn softmax_is_optional() {
    let m = spec::mnist_dscnn().build(0).unwrap();
    let opts = ExportOptions {
        softmax: true,
        ..ExportOptions::default()
    };
    let g = export_graph_with(&m, &opts).unwrap();
    assert_eq!(g.nodes.last().unwrap().op.name(), "SOFTMAX");
    let imported = import_graph_full(&g).unwrap();
    assert_eq!(imported.softmax, Some(1.0));
    assert_eq!(imported.model.output_shape(), &[10]);
}

/// Reference float models from other tools import and compute what they computed.
#[test]
fn reference_float_models_import() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    for name in [
        "pretrainedResnet.tflite",
        "vww_96_float.tflite",
        "ad01_fp32.tflite",
    ] {
        let g = tinyforge_tflite::read_file(root.join(name)).unwrap();
        let imp = import_graph_full(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let opts = ExportOptions {
            softmax: imp.softmax.is_some(),
            ..ExportOptions::default()
        };
        let again = export_graph_with(&imp.model, &opts).unwrap();
        let x = random_input(&imp.model, 2, 12);
        assert_close(
            &format!("{name}: export(import(g)) vs g"),
            &run_runtime(&again, &x),
            &run_runtime(&g, &x),
        );
    }
}

#[test]
fn quantized_models_are_refused_with_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    let g = tinyforge_tflite::read_file(root.join("kws_ref_model.tflite")).unwrap();
    let err = import_graph(&g).unwrap_err().to_string();
    assert!(err.contains("int8") && err.contains("float"), "{err}");
}
