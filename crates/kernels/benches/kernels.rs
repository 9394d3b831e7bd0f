//! Timing of the int8 conv-family kernels on the layer shapes of the MLPerf Tiny models
//! (KWS DS-CNN, VWW MobileNetV1-0.25, IC ResNet-8), reference loops vs the dispatching fast
//! variants. Plain `std::time` loop (`harness = false`): `cargo bench -p tinyforge-kernels`.
//! Model totals here cover the conv/depthwise/FC/pool layers only; the runtime times whole
//! models.

mod common;

use std::hint::black_box;
use tinyforge_kernels::conv::{
    conv2d_s8, conv2d_s8_1x1, conv2d_s8_fast, conv2d_s8_outer, conv2d_s8_ref, Conv2dS8Params,
    ConvGeometry,
};
use tinyforge_kernels::depthwise::{
    depthwise_conv2d_s8, depthwise_conv2d_s8_ref, DepthwiseS8Params,
};
use tinyforge_kernels::fully_connected::{
    fully_connected_s8, fully_connected_s8_ref, FullyConnectedS8Params,
};
use tinyforge_kernels::padding::Padding;
use tinyforge_kernels::Shape4;

#[derive(Clone, Copy)]
enum Layer {
    /// (h, w, cin, cout, k_h, k_w, stride)
    Conv(usize, usize, usize, usize, usize, usize, usize),
    /// (h, w, c, stride)
    Dw(usize, usize, usize, usize),
}

struct Rng(u64);
impl Rng {
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as i8
            })
            .collect()
    }
}

fn time<F: FnMut()>(f: F) -> f64 {
    common::best_of(5, 5, f)
}

fn run(layer: Layer, rng: &mut Rng) -> (f64, f64) {
    match layer {
        Layer::Conv(h, w, ci, co, kh, kw, s) => {
            let (g, oh, ow) =
                ConvGeometry::from_padding(Padding::Same, (h, w), (kh, kw), (s, s), (1, 1))
                    .unwrap();
            let mult = vec![1_500_000_000; co];
            let shift = vec![-9; co];
            let p = Conv2dS8Params {
                input_shape: Shape4::new(1, h, w, ci),
                filter_shape: Shape4::new(co, kh, kw, ci),
                output_shape: Shape4::new(1, oh, ow, co),
                geometry: g,
                input_offset: 128,
                output_offset: -128,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult,
                output_shift: &shift,
            };
            let input = rng.i8s(h * w * ci);
            let filter = rng.i8s(co * kh * kw * ci);
            let bias = vec![100; co];
            let mut out = vec![0i8; oh * ow * co];
            let r = time(|| {
                conv2d_s8_ref(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
            });
            let f =
                time(|| conv2d_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap());
            (r, f)
        }
        Layer::Dw(h, w, c, s) => {
            let (g, oh, ow) =
                ConvGeometry::from_padding(Padding::Same, (h, w), (3, 3), (s, s), (1, 1)).unwrap();
            let mult = vec![1_500_000_000; c];
            let shift = vec![-9; c];
            let p = DepthwiseS8Params {
                input_shape: Shape4::new(1, h, w, c),
                filter_shape: Shape4::new(1, 3, 3, c),
                output_shape: Shape4::new(1, oh, ow, c),
                geometry: g,
                depth_multiplier: 1,
                input_offset: 128,
                output_offset: -128,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult,
                output_shift: &shift,
            };
            let input = rng.i8s(h * w * c);
            let filter = rng.i8s(9 * c);
            let bias = vec![100; c];
            let mut out = vec![0i8; oh * ow * c];
            let r = time(|| {
                depthwise_conv2d_s8_ref(&p, black_box(&input), &filter, Some(&bias), &mut out)
                    .unwrap()
            });
            let f = time(|| {
                depthwise_conv2d_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
            });
            (r, f)
        }
    }
}

fn model(name: &str, layers: &[Layer]) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut tr, mut tf) = (0.0, 0.0);
    for &l in layers {
        let (r, f) = run(l, &mut rng);
        tr += r;
        tf += f;
        let what = match l {
            Layer::Conv(h, w, ci, co, kh, kw, s) => {
                format!("conv {h}x{w}x{ci}->{co} k{kh}x{kw} s{s}")
            }
            Layer::Dw(h, w, c, s) => format!("dw3x3 {h}x{w}x{c} s{s}"),
        };
        println!(
            "  {what:<32} ref {:>8.1} us  fast {:>7.1} us  x{:.1}",
            r * 1e6,
            f * 1e6,
            r / f
        );
    }
    println!(
        "{name}: ref {:.1} us, fast {:.1} us (x{:.1})\n",
        tr * 1e6,
        tf * 1e6,
        tr / tf
    );
}

/// Each applicable conv variant on the same layer, interleaved so machine load hits all alike.
fn variants(h: usize, w: usize, ci: usize, co: usize, k: usize, s: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (g, oh, ow) =
        ConvGeometry::from_padding(Padding::Same, (h, w), (k, k), (s, s), (1, 1)).unwrap();
    let mult = vec![1_500_000_000; co];
    let shift = vec![-9; co];
    let p = Conv2dS8Params {
        input_shape: Shape4::new(1, h, w, ci),
        filter_shape: Shape4::new(co, k, k, ci),
        output_shape: Shape4::new(1, oh, ow, co),
        geometry: g,
        input_offset: 128,
        output_offset: -128,
        act_min: -128,
        act_max: 127,
        output_multiplier: &mult,
        output_shift: &shift,
    };
    let input = rng.i8s(h * w * ci);
    let filter = rng.i8s(co * k * k * ci);
    let bias = vec![100; co];
    let mut out = vec![0i8; oh * ow * co];
    let mut line = format!("  {h}x{w}x{ci}->{co} k{k} s{s}:");
    type Variant = fn(
        &Conv2dS8Params<'_>,
        &[i8],
        &[i8],
        Option<&[i32]>,
        &mut [i8],
    ) -> tinyforge_kernels::KernelResult;
    let all: [(&str, Variant); 4] = [
        ("outer", conv2d_s8_outer),
        ("dispatch", conv2d_s8),
        ("1x1", conv2d_s8_1x1),
        ("patch", conv2d_s8_fast),
    ];
    for (name, f) in all {
        if f(&p, &input, &filter, Some(&bias), &mut out).is_ok() {
            let t = time(|| f(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap());
            line += &format!("  {name} {:.1} us", t * 1e6);
        }
    }
    println!("{line}");
}

fn main() {
    if let Some(spec) = std::env::var_os("ONLY") {
        // ONLY=h,w,ci,co,k,s: loop one layer through the dispatch (for a profiler).
        let v: Vec<usize> = spec
            .to_str()
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        for _ in 0..200 {
            variants(v[0], v[1], v[2], v[3], v[4], v[5]);
        }
        return;
    }
    if std::env::var_os("VARIANTS").is_some() {
        for (h, w, ci, co, k, s) in [
            (96, 96, 3, 8, 3, 2),
            (48, 48, 8, 16, 1, 1),
            (24, 24, 16, 32, 1, 1),
            (24, 24, 32, 32, 1, 1),
            (25, 5, 64, 64, 1, 1),
            (32, 32, 3, 16, 3, 1),
            (32, 32, 16, 16, 3, 1),
            (6, 6, 128, 128, 1, 1),
            (3, 3, 256, 256, 1, 1),
            (12, 12, 64, 64, 1, 1),
            (16, 16, 32, 64, 1, 2),
        ] {
            variants(h, w, ci, co, k, s);
        }
        return;
    }
    let mut kws = vec![Layer::Conv(49, 10, 1, 64, 10, 4, 2)];
    for _ in 0..4 {
        kws.push(Layer::Dw(25, 5, 64, 1));
        kws.push(Layer::Conv(25, 5, 64, 64, 1, 1, 1));
    }
    model("kws", &kws);

    let mut vww = vec![Layer::Conv(96, 96, 3, 8, 3, 3, 2)];
    let blocks = [
        (48, 8, 16, 1),
        (48, 16, 32, 2),
        (24, 32, 32, 1),
        (24, 32, 64, 2),
        (12, 64, 64, 1),
        (12, 64, 128, 2),
    ];
    for (hw, ci, co, s) in blocks {
        vww.push(Layer::Dw(hw, hw, ci, s));
        vww.push(Layer::Conv(hw / s, hw / s, ci, co, 1, 1, 1));
    }
    for _ in 0..5 {
        vww.push(Layer::Dw(6, 6, 128, 1));
        vww.push(Layer::Conv(6, 6, 128, 128, 1, 1, 1));
    }
    vww.push(Layer::Dw(6, 6, 128, 2));
    vww.push(Layer::Conv(3, 3, 128, 256, 1, 1, 1));
    vww.push(Layer::Dw(3, 3, 256, 1));
    vww.push(Layer::Conv(3, 3, 256, 256, 1, 1, 1));
    model("vww", &vww);

    // AD01 autoencoder: dense layers, batch 1.
    let mut rng = Rng(0x51ed_2701_aa55_0f0f);
    let (mut tr, mut tf) = (0.0, 0.0);
    for (i, o) in [
        (640, 128),
        (128, 128),
        (128, 128),
        (128, 128),
        (128, 8),
        (8, 128),
        (128, 128),
        (128, 128),
        (128, 128),
        (128, 640),
    ] {
        let (m, sh) = ([1_500_000_000], [-9]);
        let p = FullyConnectedS8Params {
            batches: 1,
            input_depth: i,
            output_depth: o,
            input_offset: 5,
            filter_offset: 0,
            output_offset: -3,
            act_min: -128,
            act_max: 127,
            output_multiplier: &m,
            output_shift: &sh,
        };
        let input = rng.i8s(i);
        let filter = rng.i8s(i * o);
        let bias = vec![7; o];
        let mut out = vec![0i8; o];
        tr += time(|| {
            fully_connected_s8_ref(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
        });
        tf += time(|| {
            fully_connected_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
        });
    }
    println!(
        "ad01 (dense layers): ref {:.1} us, fast {:.1} us (x{:.1})\n",
        tr * 1e6,
        tf * 1e6,
        tr / tf
    );

    let resnet = [
        Layer::Conv(32, 32, 3, 16, 3, 3, 1),
        Layer::Conv(32, 32, 16, 16, 3, 3, 1),
        Layer::Conv(32, 32, 16, 16, 3, 3, 1),
        Layer::Conv(32, 32, 16, 32, 3, 3, 2),
        Layer::Conv(16, 16, 32, 32, 3, 3, 1),
        Layer::Conv(32, 32, 16, 32, 1, 1, 2),
        Layer::Conv(16, 16, 32, 64, 3, 3, 2),
        Layer::Conv(8, 8, 64, 64, 3, 3, 1),
        Layer::Conv(16, 16, 32, 64, 1, 1, 2),
    ];
    model("resnet", &resnet);
}
