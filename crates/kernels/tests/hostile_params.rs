//! Kernels must never panic, whatever quantization parameters a model file carries: every
//! `prepare` either refuses with an error or yields parameters the kernel runs on safely.
//! Tests run with overflow checks on, so any arithmetic overflow would fail here.

use tinyforge_kernels::activation::logistic_s8::{logistic_s8, LogisticParamsS8};
use tinyforge_kernels::activation::relu_s8::{relu6_s8, relu_s8, Relu6ParamsS8, ReluParamsS8};
use tinyforge_kernels::activation::softmax_s8::{softmax_s8, SoftmaxParamsS8};
use tinyforge_kernels::activation::tanh_s8::{prepare_tanh_s8, tanh_s8};
use tinyforge_kernels::activation::FusedActivation;
use tinyforge_kernels::elementwise::add_s8::{add_s16, add_s8, AddParamsS8};
use tinyforge_kernels::elementwise::mul_s8::{mul_s16, mul_s8, MulParamsS8};
use tinyforge_kernels::quantize::quantize_f32::{quantize_f32, QuantizeParams};
use tinyforge_kernels::quantize::requantize::{requantize, RequantizeParams};
use tinyforge_kernels::quantize::QuantParams;
use tinyforge_kernels::reduce::mean_s8::{mean_s16, mean_s8, MeanParamsS8};
use tinyforge_kernels::Shape4;

const SCALES: [f32; 12] = [
    1e-30,
    1e-12,
    1e-6,
    1.0 / 65536.0,
    1.0 / 256.0,
    0.013,
    0.1,
    1.0,
    17.0,
    1e6,
    1e30,
    f32::MAX,
];
const ZPS: [i32; 5] = [-128, -1, 0, 3, 127];
const ZPS16: [i32; 4] = [-32768, 0, 5, 32767];

fn all_i8() -> Vec<i8> {
    (-128..=127).map(|v| v as i8).collect()
}

#[test]
fn unary_int8_kernels_never_panic() {
    let x = all_i8();
    let mut y = vec![0i8; x.len()];
    for &si in &SCALES {
        for &so in &SCALES {
            for &zi in &ZPS {
                for &zo in &ZPS {
                    let (i, o) = (QuantParams::new(si, zi), QuantParams::new(so, zo));
                    if let Ok(p) = ReluParamsS8::prepare(i, o) {
                        relu_s8(&p, &x, &mut y).unwrap();
                    }
                    if let Ok(p) = RequantizeParams::prepare::<i8, i8>(i, o) {
                        requantize(&p, &x, &mut y).unwrap();
                    }
                    if let Ok(p) = MeanParamsS8::prepare::<i8>(i, o, &[3], true) {
                        mean_s8(&p, Shape4::new(1, 1, 1, 256), &x, &mut y[..1]).unwrap();
                    }
                }
            }
            let i = QuantParams::new(si, 0);
            if let Ok(p) = Relu6ParamsS8::prepare(i) {
                relu6_s8(&p, &x, &mut y).unwrap();
            }
            if let Ok(p) = LogisticParamsS8::prepare(i, QuantParams::new(1.0 / 256.0, -128)) {
                logistic_s8(&p, &x, &mut y).unwrap();
            }
            if let Ok(p) = prepare_tanh_s8(i, QuantParams::new(1.0 / 128.0, 0)) {
                tanh_s8(&p, &x, &mut y).unwrap();
            }
            for beta in [1e-9f32, 1.0, 1e9] {
                if let Ok(p) =
                    SoftmaxParamsS8::prepare::<i8>(beta, i, QuantParams::new(1.0 / 256.0, -128))
                {
                    softmax_s8(&p, 16, &x, &mut y).unwrap();
                }
            }
            if let Ok(p) = QuantizeParams::prepare::<i8>(i) {
                let f = [
                    0.0f32,
                    -1e38,
                    1e38,
                    f32::NAN,
                    f32::INFINITY,
                    -f32::INFINITY,
                    1e-45,
                ];
                quantize_f32(&p, &f, &mut y[..f.len()]).unwrap();
            }
        }
    }
}

#[test]
fn binary_kernels_never_panic() {
    let x = all_i8();
    let y: Vec<i8> = x.iter().rev().copied().collect();
    let mut out = vec![0i8; x.len()];
    let s = Shape4::new(1, 1, 1, 256);
    let x16: Vec<i16> = (0..256).map(|k| (k * 257 - 32768) as i16).collect();
    let y16: Vec<i16> = x16.iter().rev().copied().collect();
    let mut out16 = vec![0i16; 256];
    for &s1 in &SCALES {
        for &s2 in &SCALES {
            for &so in &SCALES {
                for act in [FusedActivation::None, FusedActivation::Relu6] {
                    for &(z1, z2, zo) in &[(-128, 127, 0), (0, 0, 0), (127, -128, -128)] {
                        let q = |s, z| QuantParams::new(s, z);
                        if let Ok(p) =
                            AddParamsS8::prepare::<i8>(q(s1, z1), q(s2, z2), q(so, zo), act)
                        {
                            add_s8(&p, s, &x, s, &y, &mut out).unwrap();
                        }
                        if let Ok(p) =
                            MulParamsS8::prepare::<i8>(q(s1, z1), q(s2, z2), q(so, zo), act)
                        {
                            mul_s8(&p, s, &x, s, &y, &mut out).unwrap();
                        }
                    }
                    for &z in &ZPS16 {
                        let q = |s| QuantParams::new(s, z);
                        if let Ok(p) = AddParamsS8::prepare::<i16>(q(s1), q(s2), q(so), act) {
                            add_s16(&p, s, &x16, s, &y16, &mut out16).unwrap();
                        }
                        if let Ok(p) = MulParamsS8::prepare::<i16>(q(s1), q(s2), q(so), act) {
                            mul_s16(&p, s, &x16, s, &y16, &mut out16).unwrap();
                        }
                    }
                }
            }
        }
    }
    // int16 mean over many extreme values.
    let big = vec![i16::MIN; 1 << 17];
    let p = MeanParamsS8::prepare::<i16>(
        QuantParams::new(1.0, 32767),
        QuantParams::new(1e-3, 0),
        &[1, 2],
        true,
    )
    .unwrap();
    mean_s16(&p, Shape4::new(1, 256, 512, 1), &big, &mut out16[..1]).unwrap();
}
