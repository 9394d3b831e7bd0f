//! Sparse vs dense int8 kernels over filter density, on the layer shapes of the MNIST DS-CNN
//! (and a KWS-sized pointwise conv): for each shape, the time of the dense dispatching kernel
//! and of the sparse kernel at densities 5 %–60 %, and the crossover density below which the
//! sparse kernel is faster — the numbers behind the runtime's cost model
//! (`tinyforge_runtime::sparse::density_threshold`). Plain `std::time` loop:
//! `cargo bench -p tinyforge-kernels --bench sparse`.

mod common;

use std::hint::black_box;
use tinyforge_kernels::conv::{conv2d_s8, Conv2dS8Params, ConvGeometry};
use tinyforge_kernels::depthwise::{depthwise_conv2d_s8, DepthwiseS8Params};
use tinyforge_kernels::fully_connected::{fully_connected_s8, FullyConnectedS8Params};
use tinyforge_kernels::padding::Padding;
use tinyforge_kernels::sparse::{
    build_plan, conv2d_s8_sparse_plan, conv2d_s8_sparse_plan_scratch,
    depthwise_conv2d_s8_sparse_plan, depthwise_rows, fully_connected_s8_sparse_plan, plan_len,
    SparsePlan,
};
use tinyforge_kernels::Shape4;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| (self.next() >> 24) as i8).collect()
    }
    /// Non-zero weights with probability `density`.
    fn sparse(&mut self, n: usize, density: f64) -> Vec<i8> {
        (0..n)
            .map(|_| {
                let keep = (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= density;
                let v = (self.next() >> 24) as i8;
                if keep {
                    if v == 0 {
                        1
                    } else {
                        v
                    }
                } else {
                    0
                }
            })
            .collect()
    }
}

/// Microseconds per call.
fn time<F: FnMut()>(f: F) -> f64 {
    common::best_of(7, 50, f) * 1e6
}

struct Plan {
    rs: Vec<u32>,
    cs: Vec<u32>,
    vs: Vec<i16>,
    rows: usize,
    k: usize,
}
impl Plan {
    fn new(w: &[i8], rows: usize, k: usize) -> Plan {
        let n = plan_len(w, rows, k).unwrap();
        let mut p = Plan {
            rs: vec![0; rows + 1],
            cs: vec![0; n],
            vs: vec![0; n],
            rows,
            k,
        };
        build_plan(w, rows, k, &mut p.rs, &mut p.cs, &mut p.vs).unwrap();
        p
    }
    fn get(&self) -> SparsePlan<'_> {
        SparsePlan::new(self.rows, self.k, &self.rs, &self.cs, &self.vs).unwrap()
    }
}

#[derive(Clone, Copy)]
enum Layer {
    /// (h, w, cin, cout, k, stride)
    Conv(usize, usize, usize, usize, usize, usize),
    /// (h, w, c)
    Dw(usize, usize, usize),
    /// (in, out)
    Fc(usize, usize),
}

/// (dense µs, sparse µs) at `density`.
fn run(layer: Layer, density: f64, rng: &mut Rng) -> (f64, f64) {
    match layer {
        Layer::Conv(h, w, ci, co, k, s) => {
            let (g, oh, ow) =
                ConvGeometry::from_padding(Padding::Same, (h, w), (k, k), (s, s), (1, 1)).unwrap();
            let (mult, shift) = (vec![1_500_000_000; co], vec![-9; co]);
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
            let filter = rng.sparse(co * k * k * ci, density);
            let plan = Plan::new(&filter, co, k * k * ci);
            let bias = vec![100; co];
            let mut out = vec![0i8; oh * ow * co];
            let mut scratch = vec![0i16; conv2d_s8_sparse_plan_scratch(k, k, ci)];
            let d =
                time(|| conv2d_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap());
            let sp = time(|| {
                conv2d_s8_sparse_plan(
                    &p,
                    black_box(&input),
                    &plan.get(),
                    Some(&bias),
                    &mut out,
                    &mut scratch,
                )
                .unwrap()
            });
            (d, sp)
        }
        Layer::Dw(h, w, c) => {
            let (g, oh, ow) =
                ConvGeometry::from_padding(Padding::Same, (h, w), (3, 3), (1, 1), (1, 1)).unwrap();
            let (mult, shift) = (vec![1_500_000_000; c], vec![-9; c]);
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
            let filter = rng.sparse(9 * c, density);
            let mut rows = vec![0i8; filter.len()];
            depthwise_rows(&filter, 9, c, &mut rows).unwrap();
            let plan = Plan::new(&rows, c, 9);
            let bias = vec![100; c];
            let mut out = vec![0i8; oh * ow * c];
            let d = time(|| {
                depthwise_conv2d_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
            });
            let sp = time(|| {
                depthwise_conv2d_s8_sparse_plan(
                    &p,
                    black_box(&input),
                    &plan.get(),
                    Some(&bias),
                    &mut out,
                )
                .unwrap()
            });
            (d, sp)
        }
        Layer::Fc(i, o) => {
            let (mult, shift) = ([1_500_000_000], [-9]);
            let p = FullyConnectedS8Params {
                batches: 1,
                input_depth: i,
                output_depth: o,
                input_offset: 128,
                filter_offset: 0,
                output_offset: -128,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult,
                output_shift: &shift,
            };
            let input = rng.i8s(i);
            let filter = rng.sparse(i * o, density);
            let plan = Plan::new(&filter, o, i);
            let bias = vec![100; o];
            let mut out = vec![0i8; o];
            let d = time(|| {
                fully_connected_s8(&p, black_box(&input), &filter, Some(&bias), &mut out).unwrap()
            });
            let sp = time(|| {
                fully_connected_s8_sparse_plan(
                    &p,
                    black_box(&input),
                    &plan.get(),
                    Some(&bias),
                    &mut out,
                )
                .unwrap()
            });
            (d, sp)
        }
    }
}

fn main() {
    let layers: [(&str, Layer); 9] = [
        ("conv3x3/2 1->16 28x28", Layer::Conv(28, 28, 1, 16, 3, 2)),
        ("pw 16->32 14x14", Layer::Conv(14, 14, 16, 32, 1, 1)),
        ("pw 32->64 7x7", Layer::Conv(7, 7, 32, 64, 1, 1)),
        ("pw 64->64 7x7", Layer::Conv(7, 7, 64, 64, 1, 1)),
        ("pw 64->64 25x5 (KWS)", Layer::Conv(25, 5, 64, 64, 1, 1)),
        ("conv3x3 32->32 8x8", Layer::Conv(8, 8, 32, 32, 3, 1)),
        ("dw3x3 16 14x14", Layer::Dw(14, 14, 16)),
        ("dw3x3 64 7x7", Layer::Dw(7, 7, 64)),
        ("fc 64->10", Layer::Fc(64, 10)),
    ];
    let densities = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    println!(
        "{:<24} {:>9} {}   crossover",
        "layer",
        "dense µs",
        densities
            .iter()
            .map(|d| format!("{:>8}", format!("{:.0}%", d * 100.0)))
            .collect::<String>()
    );
    for (name, layer) in layers {
        let mut dense = f64::MAX;
        let mut row = String::new();
        let mut crossover = 0.0;
        for &d in &densities {
            let (dt, st) = run(layer, d, &mut rng);
            dense = dense.min(dt);
            row += &format!("{:>8.2}", st);
            if st < dt {
                crossover = d;
            }
        }
        println!("{name:<24} {dense:>9.2} {row}   ≈{:.0}%", crossover * 100.0);
    }
}
