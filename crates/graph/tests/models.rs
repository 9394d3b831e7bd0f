//! Planned peak arena vs TFLite Micro's measured arena on the reference models.
//!
//! Targets (DESIGN.md §3): planned peak ≤ 0.75 × TFLM's minimal arena. Run with `--nocapture`
//! to see the per-model table (our peak, the layer-wise floor, TFLM, ratio).
use std::path::PathBuf;

use tinyforge_graph::fit::{fit, FitOptions};
use tinyforge_graph::{
    graph_cost, layerwise_floor, plan, plan_default, validate, Device, Op, PlanOptions,
};

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../testdata/models/{name}.tflite"))
}

/// (model, TFLM arena bytes) as measured on an x86 host.
const TFLM: &[(&str, usize)] = &[
    ("kws_ref_model", 24_285),
    ("vww_96_int8", 103_683),
    ("pretrainedResnet_quant", 55_993),
    ("ad01_int8", 4_639),
    ("hello_world_int8", 1_951),
];

fn check(name: &str) -> usize {
    let tflm = TFLM.iter().find(|(n, _)| *n == name).unwrap().1;
    let g = tinyforge_tflite::read_file(model(name)).unwrap();
    validate(&g).unwrap();
    let p = plan_default(&g).unwrap();
    let floor = layerwise_floor(&g) as usize;
    let cost = graph_cost(&g);
    println!(
        "{name:24} peak {:>7} B  floor {floor:>7} B  TFLM {tflm:>7} B  ratio {:.3}  fused {}  MACs {}",
        p.arena_bytes,
        p.arena_bytes as f64 / tflm as f64,
        p.fused.len(),
        cost.macs
    );
    assert!(
        p.arena_bytes * 4 <= tflm * 3,
        "{name}: planned {} B > 0.75 × TFLM {tflm} B",
        p.arena_bytes
    );
    assert!(p.arena_bytes >= p.peak_live_bytes());
    // 4-byte alignment costs nothing here: byte-packed plans are no smaller.
    let packed = plan(
        &g,
        &PlanOptions {
            alignment: 1,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    assert_eq!(packed.arena_bytes, p.arena_bytes, "{name}");
    // Every fused node writes over its skip tensor.
    for node in &p.graph.nodes {
        if let Op::Conv2dAdd { conv_out, .. } = node.op {
            assert_eq!(
                p.offsets[node.outputs[0]],
                p.offsets[node.inputs[3].unwrap()]
            );
            assert_eq!(p.offsets[conv_out], None);
        }
    }
    let report = fit(
        &p,
        &Device::lookup("nano33ble").unwrap(),
        &FitOptions::default(),
    );
    assert!(report.fits, "{report}");
    println!("{report}");
    p.arena_bytes
}

#[test]
fn kws_ref_model() {
    check("kws_ref_model");
}

#[test]
fn vww_96_int8() {
    check("vww_96_int8");
}

#[test]
fn pretrained_resnet_quant_goes_below_layerwise_floor() {
    let peak = check("pretrainedResnet_quant");
    assert!(peak < 49_152, "only fusion gets under the 49,152 B floor");
}

#[test]
fn ad01_int8() {
    check("ad01_int8");
}

#[test]
fn hello_world_int8() {
    check("hello_world_int8");
}

#[test]
fn float_models_plan() {
    for name in [
        "vww_96_float",
        "pretrainedResnet",
        "ad01_fp32",
        "hello_world_float",
        "simple_add_model",
    ] {
        let g = tinyforge_tflite::read_file(model(name)).unwrap();
        let p = plan_default(&g).unwrap();
        println!(
            "{name:24} peak {:>7} B  floor {:>7} B",
            p.arena_bytes,
            layerwise_floor(&g)
        );
        assert!(p.fused.is_empty(), "fusion is int8-only");
    }
}

#[test]
fn hybrid_kws_float_is_rejected_like_tflm() {
    // Its first conv has int8 weights on a float input; TFLite Micro refuses hybrid ops too.
    let g = tinyforge_tflite::read_file(model("kws_ref_model_float32")).unwrap();
    let e = validate(&g).unwrap_err().to_string();
    assert!(
        e.contains("node 0 (CONV_2D)") && e.contains("hybrid"),
        "{e}"
    );
}
