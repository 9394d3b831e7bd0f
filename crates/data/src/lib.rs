//! tinyforge-data: datasets for training TinyML models.
//!
//! Every loader produces one [`Dataset`]: `f32` features in one contiguous buffer, NHWC per
//! sample (`sample_shape`, e.g. `[28, 28, 1]`), and [`Targets`] (class ids, value blocks for
//! regression/autoencoders, or none for calibration data). From there:
//!
//! - [`split()`] cuts it deterministically (explicit ranges, or seeded and optionally stratified
//!   fractions);
//! - [`Batcher`] streams seeded, optionally augmented batches into a caller-owned
//!   [`BatchBuffer`] with no per-step allocation;
//! - [`Stats`] / [`Normalization`] summarise and scale it;
//! - [`DataSpec`] + [`load`] / [`load_splits`] do all of the above from a config section.
//!
//! Loaders: MNIST IDX ([`idx`]), CSV ([`mod@csv`]), WAV class folders with log-mel/MFCC features
//! ([`audio`]), image class folders ([`images`]), raw little-endian tensors for calibration
//! ([`raw`]). Errors are [`DataError`]s naming the file
//! and the fault; corrupt input never panics.
//!
//! ```
//! use tinyforge_data::{BatchBuffer, BatchConfig, Batcher, Dataset, SplitSpec, split};
//!
//! # fn main() -> Result<(), tinyforge_data::DataError> {
//! // Ten 2x2 grey images of two classes.
//! let features: Vec<f32> = (0..40).map(|v| v as f32 / 40.0).collect();
//! let labels: Vec<u32> = (0..10).map(|i| i % 2).collect();
//! let ds = Dataset::classification(features, vec![2, 2, 1], labels, 2)?;
//!
//! let spec: SplitSpec = SplitSpec::Fractions { val: 0.0, test: 0.2, seed: 1, stratified: true };
//! let parts = split(&ds, &spec)?;
//! assert_eq!(parts.train.len(), 8);
//!
//! let cfg = BatchConfig { batch_size: 4, seed: 7, ..Default::default() };
//! let mut batches = Batcher::new(&parts.train, cfg)?;
//! let mut buf = BatchBuffer::new(&parts.train, 4); // allocate once
//! let mut seen = 0;
//! while batches.next_batch(&mut buf)? {
//!     seen += buf.len; // buf.features(): [len, 2, 2, 1], buf.labels(): [len]
//! }
//! assert_eq!(seen, 8);
//! batches.set_epoch(1); // next epoch: new order, reproducible from (seed, epoch)
//! # Ok(())
//! # }
//! ```
//!
//! Loading the bundled MNIST with the product's default split:
//!
//! ```no_run
//! use tinyforge_data::{load_splits, DataSpec, SplitSpec};
//! let spec = DataSpec { split: Some(SplitSpec::mnist_default()), ..DataSpec::from_path("data/mnist") };
//! let (parts, _norm) = load_splits(&spec)?;
//! assert_eq!(parts.train.sample_shape, vec![28, 28, 1]);
//! # Ok::<(), tinyforge_data::DataError>(())
//! ```

pub mod audio;
pub mod batch;
pub mod csv;
pub mod dataset;
pub mod error;
pub mod folders;
pub mod idx;
pub mod images;
pub mod raw;
pub mod spec;
pub mod split;
pub mod stats;

pub use audio::{AudioFeature, FeatureExtractor, Spectrum, WavOptions};
pub use batch::{Augment, BatchBuffer, BatchConfig, Batcher, Sampling};
pub use csv::{ColumnRef, CsvOptions, TargetKind};
pub use dataset::{Dataset, Sample, Target, Targets};
pub use error::{DataError, Result};
pub use images::{ColorMode, ImageOptions};
pub use raw::{RawDtype, RawOptions};
pub use spec::{detect_kind, load, load_splits, DataKind, DataSpec, MnistOptions};
pub use split::{split, RangeSpec, SplitSpec, Splits};
pub use stats::{class_weights, Normalization, NormalizeMode, Stats};
