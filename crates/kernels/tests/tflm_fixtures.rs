//! Bit-exact checks against TFLite Micro.
//!
//! The fixtures in `fixtures/*.txt` were produced by `tools/gen_ref/gen_ref.py`: one-operator
//! int8 models converted by TensorFlow's converter and run in the TFLite Micro interpreter.
//! Each case records the quantization parameters, int8 inputs and TFLM's int8 output; the
//! kernels here must reproduce every output byte.

use std::collections::HashMap;

use tinyforge_kernels::activation::logistic_f32::logistic_f32;
use tinyforge_kernels::activation::logistic_s8::{logistic_s8, LogisticParamsS8};
use tinyforge_kernels::activation::relu_s8::{relu6_s8, relu_s8, Relu6ParamsS8, ReluParamsS8};
use tinyforge_kernels::activation::softmax_f32::softmax_f32;
use tinyforge_kernels::activation::softmax_s8::{softmax_s8, SoftmaxParamsS8};
use tinyforge_kernels::activation::tanh_f32::tanh_f32;
use tinyforge_kernels::activation::tanh_s8::{prepare_tanh_s8, tanh_s8};
use tinyforge_kernels::activation::FusedActivation;
use tinyforge_kernels::elementwise::add_f32::add_f32;
use tinyforge_kernels::elementwise::add_s8::{add_s16, add_s8, AddParamsS8};
use tinyforge_kernels::elementwise::mul_s8::{mul_s16, mul_s8, MulParamsS8};
use tinyforge_kernels::movement::concatenation::concatenation;
use tinyforge_kernels::movement::pad::{pad, pad_value_s8, Paddings};
use tinyforge_kernels::quantize::dequantize::{dequantize, DequantizeParams};
use tinyforge_kernels::quantize::quantize_f32::{quantize_f32, QuantizeParams};
use tinyforge_kernels::quantize::QuantParams;
use tinyforge_kernels::reduce::mean_f32::mean_f32;
use tinyforge_kernels::reduce::mean_s8::{mean_s16, mean_s8, MeanParamsS8};
use tinyforge_kernels::reduce::ReduceAxes;
use tinyforge_kernels::Shape4;

struct Case {
    name: String,
    kv: HashMap<String, Vec<String>>,
}

impl Case {
    fn ints(&self, key: &str) -> Vec<i64> {
        self.kv
            .get(key)
            .unwrap_or_else(|| panic!("{}: missing {key}", self.name))
            .iter()
            .map(|v| v.parse().unwrap())
            .collect()
    }
    fn i8s(&self, key: &str) -> Vec<i8> {
        self.ints(key).into_iter().map(|v| v as i8).collect()
    }
    fn i16s(&self, key: &str) -> Vec<i16> {
        self.ints(key).into_iter().map(|v| v as i16).collect()
    }
    /// Float arrays are stored as u32 bit patterns.
    fn f32s(&self, key: &str) -> Vec<f32> {
        self.ints(key)
            .into_iter()
            .map(|v| f32::from_bits(v as u32))
            .collect()
    }
    fn qp(&self, prefix: &str) -> QuantParams {
        let bits = self.ints(&format!("{prefix}_scale"))[0] as u32;
        QuantParams::new(
            f32::from_bits(bits),
            self.ints(&format!("{prefix}_zp"))[0] as i32,
        )
    }
    /// NHWC shape with leading 1s for lower ranks.
    fn shape(&self, key: &str) -> Shape4 {
        let d = self.ints(key);
        let mut s = [1usize; 4];
        for (k, v) in d.iter().rev().enumerate() {
            s[3 - k] = *v as usize;
        }
        Shape4::new(s[0], s[1], s[2], s[3])
    }
    fn op(&self) -> &str {
        &self.kv["ops"][0]
    }
    fn runs(&self) -> usize {
        self.ints("runs")[0] as usize
    }
}

fn load(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some(key) = it.next() else { continue };
        match key {
            "case" => {
                cur = Some(Case {
                    name: it.next().unwrap().to_string(),
                    kv: HashMap::new(),
                })
            }
            "end" => cases.push(cur.take().unwrap()),
            _ => {
                cur.as_mut()
                    .unwrap()
                    .kv
                    .insert(key.to_string(), it.map(String::from).collect());
            }
        }
    }
    assert!(!cases.is_empty(), "{path} holds no cases");
    cases
}

fn assert_same<T: PartialEq + Copy + std::fmt::Debug>(
    case: &Case,
    run: usize,
    got: &[T],
    want: &[T],
) {
    let diffs: Vec<_> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .take(8)
        .collect();
    assert!(
        diffs.is_empty(),
        "{} run {run}: {} mismatches, first {diffs:?}",
        case.name,
        got.iter().zip(want).filter(|(a, b)| a != b).count()
    );
}

/// The converter fuses RELU / RELU6 into ADD and MUL; the case name says which.
fn fused(case: &Case) -> FusedActivation {
    if case.name.ends_with("relu6") {
        FusedActivation::Relu6
    } else if case.name.ends_with("relu") {
        FusedActivation::Relu
    } else {
        FusedActivation::None
    }
}

#[test]
fn add_matches_tflm() {
    for case in load("add.txt") {
        assert_eq!(case.op(), "ADD");
        let p = AddParamsS8::prepare::<i8>(
            case.qp("in0"),
            case.qp("in1"),
            case.qp("out"),
            fused(&case),
        )
        .unwrap();
        for r in 0..case.runs() {
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            add_s8(
                &p,
                case.shape("in0_shape"),
                &case.i8s(&format!("run{r}_in0")),
                case.shape("in1_shape"),
                &case.i8s(&format!("run{r}_in1")),
                &mut got,
            )
            .unwrap();
            assert_same(&case, r, &got, &want);
            // The conv kernels' fused-add epilogue has its own copy of this arithmetic.
            let i1 = case.qp("in0");
            let i2 = case.qp("in1");
            let o = case.qp("out");
            let fused_p = tinyforge_kernels::conv::AddS8Params::prepare(
                i1.scale,
                i1.zero_point,
                i2.scale,
                i2.zero_point,
                o.scale,
                o.zero_point,
                fused(&case),
            )
            .unwrap();
            let mut fused_out = vec![0i8; want.len()];
            add_quantized_with(&case, r, &mut fused_out, |x, y| {
                tinyforge_kernels::conv::add_s8_elem(&fused_p, x, y)
            });
            assert_same(&case, r, &fused_out, &want);
        }
    }
}

/// Runs an element function over the case's inputs with an independent broadcast loop.
fn add_quantized_with(case: &Case, r: usize, out: &mut [i8], f: impl Fn(i8, i8) -> i8) {
    let a = case.i8s(&format!("run{r}_in0"));
    let b = case.i8s(&format!("run{r}_in1"));
    let (sa, sb) = (case.shape("in0_shape"), case.shape("in1_shape"));
    let dims = |s: Shape4| [s.n, s.h, s.w, s.c];
    let (da, db) = (dims(sa), dims(sb));
    let od: Vec<usize> = (0..4).map(|k| da[k].max(db[k])).collect();
    let mut o = 0;
    for n in 0..od[0] {
        for y in 0..od[1] {
            for x in 0..od[2] {
                for c in 0..od[3] {
                    let idx = |d: [usize; 4]| {
                        let i = [n, y, x, c];
                        let p = |k: usize| if d[k] == 1 { 0 } else { i[k] };
                        ((p(0) * d[1] + p(1)) * d[2] + p(2)) * d[3] + p(3)
                    };
                    out[o] = f(a[idx(da)], b[idx(db)]);
                    o += 1;
                }
            }
        }
    }
}

#[test]
fn mul_matches_tflm() {
    for case in load("mul.txt") {
        assert_eq!(case.op(), "MUL");
        let p = MulParamsS8::prepare::<i8>(
            case.qp("in0"),
            case.qp("in1"),
            case.qp("out"),
            fused(&case),
        )
        .unwrap();
        for r in 0..case.runs() {
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            mul_s8(
                &p,
                case.shape("in0_shape"),
                &case.i8s(&format!("run{r}_in0")),
                case.shape("in1_shape"),
                &case.i8s(&format!("run{r}_in1")),
                &mut got,
            )
            .unwrap();
            assert_same(&case, r, &got, &want);
        }
    }
}

#[test]
fn softmax_matches_tflm() {
    for case in load("softmax.txt") {
        assert_eq!(case.op(), "SOFTMAX");
        let p = SoftmaxParamsS8::prepare::<i8>(1.0, case.qp("in0"), case.qp("out")).unwrap();
        let depth = *case.ints("in0_shape").last().unwrap() as usize;
        for r in 0..case.runs() {
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            softmax_s8(&p, depth, &case.i8s(&format!("run{r}_in0")), &mut got).unwrap();
            assert_same(&case, r, &got, &want);
        }
    }
}

#[test]
fn logistic_and_tanh_match_tflm() {
    for case in load("logistic_tanh.txt") {
        for r in 0..case.runs() {
            let x = case.i8s(&format!("run{r}_in0"));
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            match case.op() {
                "LOGISTIC" => {
                    let p = LogisticParamsS8::prepare(case.qp("in0"), case.qp("out")).unwrap();
                    logistic_s8(&p, &x, &mut got).unwrap();
                }
                "TANH" => {
                    let p = prepare_tanh_s8(case.qp("in0"), case.qp("out")).unwrap();
                    tanh_s8(&p, &x, &mut got).unwrap();
                }
                op => panic!("unexpected op {op}"),
            }
            assert_same(&case, r, &got, &want);
        }
    }
}

#[test]
fn mean_matches_tflm() {
    for case in load("mean.txt") {
        assert_eq!(case.op(), "MEAN");
        let axes: Vec<i32> = case.ints("axes").into_iter().map(|v| v as i32).collect();
        let keep_dims = case.kv.get("keep_dims").is_none_or(|v| v[0] != "0");
        let p =
            MeanParamsS8::prepare::<i8>(case.qp("in0"), case.qp("out"), &axes, keep_dims).unwrap();
        for r in 0..case.runs() {
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            mean_s8(
                &p,
                case.shape("in0_shape"),
                &case.i8s(&format!("run{r}_in0")),
                &mut got,
            )
            .unwrap();
            assert_same(&case, r, &got, &want);
        }
    }
}

#[test]
fn relu_and_relu6_match_tflm() {
    for case in load("relu.txt") {
        for r in 0..case.runs() {
            let x = case.i8s(&format!("run{r}_in0"));
            let want = case.i8s(&format!("run{r}_out"));
            let mut got = vec![0i8; want.len()];
            match case.op() {
                "RELU" => {
                    let p = ReluParamsS8::prepare(case.qp("in0"), case.qp("out")).unwrap();
                    relu_s8(&p, &x, &mut got).unwrap();
                }
                "RELU6" => {
                    let p = Relu6ParamsS8::prepare(case.qp("in0")).unwrap();
                    relu6_s8(&p, &x, &mut got).unwrap();
                }
                op => panic!("unexpected op {op}"),
            }
            assert_same(&case, r, &got, &want);
        }
    }
}

#[test]
fn pad_and_concatenation_match_tflm() {
    for case in load("movement.txt") {
        let want = case.i8s("run0_out");
        let mut got = vec![0i8; want.len()];
        match case.op() {
            "PAD" => {
                let v = case.ints("pads");
                let pairs: Vec<[i32; 2]> =
                    v.chunks(2).map(|c| [c[0] as i32, c[1] as i32]).collect();
                let p = Paddings::from_tflite(&pairs).unwrap();
                let value = pad_value_s8(case.qp("out")).unwrap();
                pad(
                    &p,
                    case.shape("in0_shape"),
                    &case.i8s("run0_in0"),
                    value,
                    &mut got,
                )
                .unwrap();
            }
            "CONCATENATION" => {
                let axis = case.ints("axis")[0] as usize;
                let (a, b) = (case.i8s("run0_in0"), case.i8s("run0_in1"));
                concatenation(
                    axis,
                    &[
                        (case.shape("in0_shape"), &a[..]),
                        (case.shape("in1_shape"), &b[..]),
                    ],
                    &mut got,
                )
                .unwrap();
            }
            op => panic!("unexpected op {op}"),
        }
        assert_same(&case, 0, &got, &want);
    }
}

#[test]
fn quantize_and_dequantize_match_tflm() {
    for case in load("quantize.txt") {
        for r in 0..case.runs() {
            match case.name.as_str() {
                "quantize" => {
                    let p = QuantizeParams::prepare::<i8>(case.qp("out")).unwrap();
                    let want = case.i8s(&format!("run{r}_out"));
                    let mut got = vec![0i8; want.len()];
                    quantize_f32(&p, &case.f32s(&format!("run{r}_in0")), &mut got).unwrap();
                    assert_same(&case, r, &got, &want);
                }
                "dequantize" => {
                    let p = DequantizeParams::prepare::<i8>(case.qp("in0")).unwrap();
                    let want = case.f32s(&format!("run{r}_out"));
                    let mut got = vec![0f32; want.len()];
                    dequantize(&p, &case.i8s(&format!("run{r}_in0")), &mut got).unwrap();
                    let (g, w): (Vec<u32>, Vec<u32>) = (
                        got.iter().map(|v| v.to_bits()).collect(),
                        want.iter().map(|v| v.to_bits()).collect(),
                    );
                    assert_same(&case, r, &g, &w);
                }
                other => panic!("unexpected case {other}"),
            }
        }
    }
}

#[test]
fn int16_add_mul_mean_match_tflm() {
    for case in load("int16.txt") {
        for r in 0..case.runs() {
            let want = case.i16s(&format!("run{r}_out"));
            let mut got = vec![0i16; want.len()];
            let x = case.i16s(&format!("run{r}_in0"));
            match case.op() {
                "ADD" => {
                    let p = AddParamsS8::prepare::<i16>(
                        case.qp("in0"),
                        case.qp("in1"),
                        case.qp("out"),
                        FusedActivation::None,
                    )
                    .unwrap();
                    add_s16(
                        &p,
                        case.shape("in0_shape"),
                        &x,
                        case.shape("in1_shape"),
                        &case.i16s(&format!("run{r}_in1")),
                        &mut got,
                    )
                    .unwrap();
                }
                "MUL" => {
                    let p = MulParamsS8::prepare::<i16>(
                        case.qp("in0"),
                        case.qp("in1"),
                        case.qp("out"),
                        FusedActivation::None,
                    )
                    .unwrap();
                    mul_s16(
                        &p,
                        case.shape("in0_shape"),
                        &x,
                        case.shape("in1_shape"),
                        &case.i16s(&format!("run{r}_in1")),
                        &mut got,
                    )
                    .unwrap();
                }
                "MEAN" => {
                    let axes: Vec<i32> = case.ints("axes").into_iter().map(|v| v as i32).collect();
                    let p =
                        MeanParamsS8::prepare::<i16>(case.qp("in0"), case.qp("out"), &axes, true)
                            .unwrap();
                    mean_s16(&p, case.shape("in0_shape"), &x, &mut got).unwrap();
                }
                op => panic!("unexpected op {op}"),
            }
            assert_same(&case, r, &got, &want);
        }
    }
}

/// Float kernels use our own `expf`/`tanhf`, so they agree with TFLM (libm) to a few ulp,
/// not bit for bit; sums and clamps with no transcendental are exact.
#[test]
fn float_kernels_match_tflm() {
    for case in load("float.txt") {
        for r in 0..case.runs() {
            let want = case.f32s(&format!("run{r}_out"));
            let mut got = vec![0f32; want.len()];
            let x = case.f32s(&format!("run{r}_in0"));
            let mut exact = false;
            match case.op() {
                "SOFTMAX" => {
                    let depth = *case.ints("in0_shape").last().unwrap() as usize;
                    softmax_f32(1.0, depth, &x, &mut got).unwrap();
                }
                "LOGISTIC" => logistic_f32(&x, &mut got).unwrap(),
                "TANH" => tanh_f32(&x, &mut got).unwrap(),
                "MEAN" => {
                    let axes: Vec<i32> = case.ints("axes").into_iter().map(|v| v as i32).collect();
                    mean_f32(
                        &ReduceAxes::from_tflite(&axes).unwrap(),
                        case.shape("in0_shape"),
                        &x,
                        &mut got,
                    )
                    .unwrap();
                    exact = true;
                }
                "ADD" => {
                    add_f32(
                        FusedActivation::Relu6,
                        case.shape("in0_shape"),
                        &x,
                        case.shape("in1_shape"),
                        &case.f32s(&format!("run{r}_in1")),
                        &mut got,
                    )
                    .unwrap();
                    exact = true;
                }
                op => panic!("unexpected op {op}"),
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                if exact {
                    assert_eq!(g.to_bits(), w.to_bits(), "{} [{i}]: {g} vs {w}", case.name);
                } else {
                    let tol = 1e-6 * w.abs() + 1e-30;
                    assert!((g - w).abs() <= tol, "{} [{i}]: {g} vs {w}", case.name);
                }
            }
        }
    }
}

#[test]
fn requantize_matches_tflm() {
    use tinyforge_kernels::quantize::requantize::{requantize, RequantizeParams};
    for case in load("requantize.txt") {
        assert_eq!(case.op(), "QUANTIZE");
        let dt = |k: &str| case.kv[k][0].clone();
        for r in 0..case.runs() {
            let (i, o) = (format!("run{r}_in0"), format!("run{r}_out"));
            let (qi, qo) = (case.qp("in0"), case.qp("out"));
            match (dt("in0_dtype").as_str(), dt("out_dtype").as_str()) {
                ("int8", "int8") => {
                    let p = RequantizeParams::prepare::<i8, i8>(qi, qo).unwrap();
                    let want = case.i8s(&o);
                    let mut got = vec![0i8; want.len()];
                    requantize(&p, &case.i8s(&i), &mut got).unwrap();
                    assert_same(&case, r, &got, &want);
                }
                ("int8", "int16") => {
                    let p = RequantizeParams::prepare::<i8, i16>(qi, qo).unwrap();
                    let want = case.i16s(&o);
                    let mut got = vec![0i16; want.len()];
                    requantize(&p, &case.i8s(&i), &mut got).unwrap();
                    assert_same(&case, r, &got, &want);
                }
                ("int16", "int8") => {
                    let p = RequantizeParams::prepare::<i16, i8>(qi, qo).unwrap();
                    let want = case.i8s(&o);
                    let mut got = vec![0i8; want.len()];
                    requantize(&p, &case.i16s(&i), &mut got).unwrap();
                    assert_same(&case, r, &got, &want);
                }
                other => panic!("unexpected types {other:?}"),
            }
        }
    }
}
