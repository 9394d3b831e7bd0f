//! Bit-exact checks against TFLite Micro.
//!
//! The fixtures in `fixtures/*.txt` were produced by `tools/gen_ref/gen_ref.py`: one-operator
//! int8 models converted by TensorFlow's converter and run in the TFLite Micro interpreter.
//! Each case records the quantization parameters, int8 inputs and TFLM's int8 output; the
//! kernels here must reproduce every output byte.

use std::collections::HashMap;

use tinyforge_kernels::activation::logistic_s8::{logistic_s8, LogisticParamsS8};
use tinyforge_kernels::activation::relu_s8::{relu6_s8, relu_s8, Relu6ParamsS8, ReluParamsS8};
use tinyforge_kernels::activation::softmax_s8::{softmax_s8, SoftmaxParamsS8};
use tinyforge_kernels::activation::tanh_s8::{prepare_tanh_s8, tanh_s8};
use tinyforge_kernels::activation::FusedActivation;
use tinyforge_kernels::elementwise::add_s8::{add_s8, AddParamsS8};
use tinyforge_kernels::elementwise::mul_s8::{mul_s8, MulParamsS8};
use tinyforge_kernels::quantize::QuantParams;
use tinyforge_kernels::reduce::mean_s8::{mean_s8, MeanParamsS8};
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

fn assert_same(case: &Case, run: usize, got: &[i8], want: &[i8]) {
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
        let p = MeanParamsS8::prepare::<i8>(case.qp("in0"), case.qp("out"), &axes, true).unwrap();
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
