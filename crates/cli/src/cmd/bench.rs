//! `tinyforge bench`: median host latency of one inference (batch 1, one thread).
//!
//! Inputs are fixed-seed pseudo-random values over the input dtype's range, set once; after a
//! warm-up, each `invoke` is timed on its own and the median is reported, the same protocol as
//! the LiteRT/TFLM baseline script so the numbers compare.
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

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = args.model.display().to_string();
    if args.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let mut rt = super::load_runtime(&args.model)?;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let inputs: Vec<Vec<u8>> = (0..rt.input_count())
        .map(|i| random_input(rt.input_info(i).dtype, rt.input_bytes(i), &mut rng))
        .collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    for _ in 0..args.warmup {
        rt.invoke(&refs)
            .with_context(|| format!("{model}: inference"))?;
    }
    let mut times = Vec::with_capacity(args.iters);
    for _ in 0..args.iters {
        let t = Instant::now();
        rt.invoke(&refs)
            .with_context(|| format!("{model}: inference"))?;
        times.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let min = times[0];
    if args.json {
        let v = serde_json::json!({
            "model": args.model.file_name().map(|s| s.to_string_lossy().into_owned()),
            "median_us": (median * 100.0).round() / 100.0,
            "min_us": (min * 100.0).round() / 100.0,
            "iters": args.iters,
            "arena_bytes": rt.arena_bytes(),
        });
        println!("{v}");
    } else {
        println!(
            "{model}: median {median:.2} µs per inference (min {min:.2} µs, {} runs, arena {} B)",
            args.iters,
            rt.arena_bytes()
        );
    }
    Ok(())
}
