//! `tinyforge bench`: median host latency of one inference (batch 1, one thread).
//!
//! Inputs are fixed-seed pseudo-random values over the input dtype's range, set once; after a
//! warm-up, each `invoke` is timed on its own and the median is reported, the same protocol as
//! the LiteRT/TFLM baseline script so the numbers compare.
//!
//! `--compare-dense` times the model twice in one run, as prepared (pruned layers on the sparse
//! kernels where the cost model picks them) and with every layer on the dense kernels, checks
//! both give the same output bytes, and reports the sparse/dense ratio.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use tinyforge_graph::DType;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.tflite).
    pub model: PathBuf,
    /// Timed inferences (after warm-up).
    #[arg(long, default_value_t = 1000)]
    pub iters: usize,
    /// Untimed warm-up inferences.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
    /// Also time the model with every layer on the dense kernels, and report sparse/dense.
    #[arg(long)]
    pub compare_dense: bool,
}

/// A small xorshift generator: reproducible inputs without a dependency.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn random_input(dtype: DType, bytes: usize, rng: &mut XorShift) -> Vec<u8> {
    match dtype {
        DType::F32 => (0..bytes / 4)
            .flat_map(|_| {
                // Uniform in [-1, 1): enough to exercise every float kernel.
                let v = (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                v.to_le_bytes()
            })
            .collect(),
        _ => (0..bytes).map(|_| (rng.next() >> 56) as u8).collect(),
    }
}

/// Median and minimum µs of one inference, after `warmup` untimed runs.
fn time_runtime(
    rt: &mut tinyforge_runtime::Runtime,
    inputs: &[&[u8]],
    iters: usize,
    warmup: usize,
    model: &str,
) -> anyhow::Result<(f64, f64)> {
    for _ in 0..warmup {
        rt.invoke(inputs)
            .with_context(|| format!("{model}: inference"))?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        rt.invoke(inputs)
            .with_context(|| format!("{model}: inference"))?;
        times.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    Ok((median, times[0]))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = args.model.display().to_string();
    if args.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let graph = super::load_model(&args.model)?;
    let mut rt = tinyforge_runtime::Runtime::new(graph.clone())
        .with_context(|| format!("{model}: cannot prepare the model"))?;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let inputs: Vec<Vec<u8>> = (0..rt.input_count())
        .map(|i| random_input(rt.input_info(i).dtype, rt.input_bytes(i), &mut rng))
        .collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let (median, min) = time_runtime(&mut rt, &refs, args.iters, args.warmup, &model)?;
    let sparse_layers = rt.sparse_nodes().len();
    let dense = if args.compare_dense {
        let mut d = tinyforge_runtime::Runtime::with_sparse_policy(
            graph,
            tinyforge_runtime::sparse::SparsePolicy::Dense,
        )
        .with_context(|| format!("{model}: cannot prepare the model"))?;
        let t = time_runtime(&mut d, &refs, args.iters, args.warmup, &model)?;
        for o in 0..rt.output_count() {
            if rt.output(o) != d.output(o) {
                bail!("{model}: output {o} differs between the sparse and the dense kernels");
            }
        }
        Some(t)
    } else {
        None
    };
    if args.json {
        let mut v = serde_json::json!({
            "model": args.model.file_name().map(|s| s.to_string_lossy().into_owned()),
            "median_us": round2(median),
            "min_us": round2(min),
            "iters": args.iters,
            "arena_bytes": rt.arena_bytes(),
            "sparse_layers": sparse_layers,
        });
        if let Some((dm, dmin)) = dense {
            v["dense_median_us"] = serde_json::json!(round2(dm));
            v["dense_min_us"] = serde_json::json!(round2(dmin));
            v["sparse_over_dense"] = serde_json::json!((median / dm * 1000.0).round() / 1000.0);
        }
        println!("{v}");
    } else {
        println!(
            "{model}: median {median:.2} µs per inference (min {min:.2} µs, {} runs, arena {} B, {sparse_layers} sparse layers)",
            args.iters,
            rt.arena_bytes()
        );
        if let Some((dm, dmin)) = dense {
            println!(
                "{model}: all dense: median {dm:.2} µs (min {dmin:.2} µs); sparse/dense {:.3}x",
                median / dm
            );
        }
    }
    Ok(())
}
