//! The product's headline recipe: the MNIST DS-CNN (9,610 parameters) trained on the first
//! 8,000 images of `data/mnist` and tested on the last 2,000, Adam 2e-3 with cosine decay,
//! batch 64, random shifts of ±2 px. Prints per-epoch progress and a final JSON line.
//!
//! `cargo run --release -p tinyforge-train --example mnist_dscnn -- [MNIST_DIR] [--epochs 20]`

use std::path::PathBuf;
use std::time::Instant;

use tinyforge_data::Augment;
use tinyforge_train::{evaluate, spec, Control, LossKind, TrainConfig, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist")));
    let flag = |name: &str, d: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let epochs = flag("--epochs", 20.0) as usize;
    let lr = flag("--lr", 2e-3) as f32;
    let seed = flag("--seed", 0.0) as u64;
    let shift = flag("--shift", 2.0) as usize;
    let all = tinyforge_data::idx::load_mnist_dir(&dir, Some("t10k"))?;
    let (train, test) = all.split_at(8000)?;
    let mut model = spec::mnist_dscnn().build(seed)?;
    let mut cfg = TrainConfig::new(epochs, 64, lr);
    cfg.seed = seed;
    cfg.augment = Augment {
        shift,
        noise_std: 0.0,
    };
    let mut trainer = Trainer::new(cfg);
    let t0 = Instant::now();
    trainer.fit(&mut model, &train, None, |s, _, _| {
        eprintln!(
            "epoch {:2}  loss {:.4}  acc {:.4}  lr {:.2e}  {:.1}s",
            s.epoch + 1,
            s.train_loss,
            s.train_accuracy.unwrap_or(0.0),
            s.lr,
            s.seconds
        );
        Control::Continue
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let e = evaluate(&mut model, &test, 500, LossKind::CrossEntropy)?;
    println!(
        "{{\"test_accuracy\":{:.4},\"test_loss\":{:.4},\"params\":{},\"train_seconds\":{wall:.1},\"epochs\":{epochs},\"threads\":{}}}",
        e.accuracy.unwrap_or(0.0),
        e.loss,
        model.param_count(),
        rayon::current_num_threads()
    );
    Ok(())
}
