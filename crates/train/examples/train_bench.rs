//! Training-throughput benchmark on the two reference nets of DESIGN §5 (the same nets, batch
//! sizes and optimizer as `keras_train_baseline.py`): prints one JSON line with steps/s, then a
//! per-layer forward/backward timing table on stderr.
//!
//! `cargo run --release -p tinyforge-train --example train_bench -- --net tiny|kws
//!  [--steps 200] [--warmup 20] [--repeats 3] [--backend mm|gemm] [--threads N]`

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tinyforge_train::gemm::{set_backend, GemmBackend};
use tinyforge_train::loss::softmax_cross_entropy;
use tinyforge_train::{spec, Optimizer, OptimizerConfig, Tensor};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let net: String = arg(&args, "--net", "tiny".to_string());
    let steps: usize = arg(&args, "--steps", 200);
    let warmup: usize = arg(&args, "--warmup", 20);
    let repeats: usize = arg(&args, "--repeats", 3);
    let threads: usize = arg(&args, "--threads", 0);
    let backend: String = arg(&args, "--backend", "mm".to_string());
    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .expect("thread pool");
    }
    set_backend(if backend == "gemm" {
        GemmBackend::Gemm
    } else {
        GemmBackend::MatrixMultiply
    });
    let (spec, batch, classes) = match net.as_str() {
        "kws" => (spec::kws_dscnn(), arg(&args, "--batch", 100), 12u32),
        _ => (spec::tiny_bench(), arg(&args, "--batch", 64), 10u32),
    };
    let mut model = spec.build(0).expect("model builds");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut shape = vec![batch];
    shape.extend_from_slice(&spec.input);
    let n: usize = shape.iter().product();
    let pool = 16;
    let xs: Vec<Tensor> = (0..pool)
        .map(|_| {
            Tensor::from_vec(
                &shape,
                (0..n).map(|_| rng.gen_range(-1.7f32..1.7)).collect(),
            )
            .unwrap()
        })
        .collect();
    let ys: Vec<Vec<u32>> = (0..pool)
        .map(|_| (0..batch).map(|_| rng.gen_range(0..classes)).collect())
        .collect();
    let mut opt = Optimizer::new(OptimizerConfig::adam());
    let mut i = 0usize;
    let mut step = |model: &mut tinyforge_train::Model| {
        let k = i % pool;
        i += 1;
        model.forward(&xs[k], true).expect("forward");
        let l = model.backward_with(|o, g| softmax_cross_entropy(o, &ys[k], g).expect("labels"));
        opt.apply(model, 1e-3);
        l
    };
    for _ in 0..warmup {
        step(&mut model);
    }
    let mut rates = Vec::new();
    let mut loss = 0.0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        for _ in 0..steps {
            loss = step(&mut model);
        }
        rates.push(steps as f64 / t0.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = rates[rates.len() / 2];
    // Profiled pass (separately, so timer overhead does not bias the headline number).
    model.profile = true;
    model.reset_timing();
    let prof_steps = steps.clamp(1, 50);
    let t0 = Instant::now();
    for _ in 0..prof_steps {
        step(&mut model);
    }
    let total = t0.elapsed().as_secs_f64() / prof_steps as f64;
    println!(
        "{{\"net\":\"{net}\",\"batch\":{batch},\"steps\":{steps},\"repeats\":{repeats},\"backend\":\"{backend}\",\"threads\":{},\"steps_per_s\":{median:.2},\"runs\":{rates:.2?},\"params\":{},\"final_loss\":{loss:.4}}}",
        rayon::current_num_threads(),
        model.param_count()
    );
    eprintln!(
        "per-step time by node (ms), {prof_steps} profiled steps, total {:.3} ms/step:",
        total * 1e3
    );
    let mut fsum = 0.0;
    let mut bsum = 0.0;
    for (name, f, b) in model.timing_report() {
        let (f, b) = (f / prof_steps as f64 * 1e3, b / prof_steps as f64 * 1e3);
        fsum += f;
        bsum += b;
        eprintln!("  {name:<24} fwd {f:7.3}  bwd {b:7.3}");
    }
    eprintln!(
        "  {:<24} fwd {fsum:7.3}  bwd {bsum:7.3}  (optimizer + loss + rest {:.3})",
        "sum",
        total * 1e3 - fsum - bsum
    );
}
