//! Times loading the bundled MNIST test set: `cargo run --release --example load_mnist`.

use std::time::Instant;

fn main() -> Result<(), tinyforge_data::DataError> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist").into());
    let t = Instant::now();
    let ds = tinyforge_data::load(&tinyforge_data::DataSpec::from_path(path))?;
    let dt = t.elapsed();
    println!(
        "{} samples of {:?} in {:.1} ms; class counts {:?}",
        ds.len(),
        ds.sample_shape,
        dt.as_secs_f64() * 1e3,
        ds.class_counts()
    );
    Ok(())
}
