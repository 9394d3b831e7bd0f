//! The dataset section of a model config, and the loader that dispatches on it.
//!
//! A [`DataSpec`] deserialises from TOML (or any serde format), e.g.
//!
//! ```toml
//! [data]
//! path = "data/mnist"          # kind auto-detected: a folder with IDX files is MNIST
//! split = { by = "ranges", train = { first = 8000 }, test = { last = 2000 } }
//! normalize = "none"
//! ```
//!
//! Auto-detection (when `kind` is absent): a `.csv` file → CSV; a `.bin` file or a folder of
//! `.bin` files → raw tensors; a folder holding an `*idx3-ubyte*` file → MNIST; a folder of class
//! sub-folders → WAV if they hold `.wav` files, images if they hold PNG/BMP/JPEG files.
//! Neighbours: calls every loader module, then `split` and `stats`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audio::{load_wav_folders, WavOptions};
use crate::csv::{load_csv, CsvOptions};
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::folders::{any_class_file_with, has_ext};
use crate::idx::load_mnist_dir;
use crate::images::{load_image_folders, ImageOptions, IMAGE_EXTENSIONS};
use crate::raw::{load_raw, RawOptions};
use crate::split::{split, SplitSpec, Splits};
use crate::stats::{Normalization, NormalizeMode};

/// Which loader to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    Mnist,
    Csv,
    Wav,
    Images,
    Raw,
}

/// MNIST options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MnistOptions {
    /// File-name prefix choosing one IDX pair in a folder holding several (`"train"`, `"t10k"`).
    pub prefix: Option<String>,
}

/// Where the data is, how to read it and how to split it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSpec {
    /// Loader; `None` detects it from `path`.
    pub kind: Option<DataKind>,
    pub path: PathBuf,
    pub mnist: MnistOptions,
    pub csv: CsvOptions,
    pub wav: WavOptions,
    pub images: ImageOptions,
    pub raw: RawOptions,
    /// How [`load_splits`] cuts the data; `None` keeps everything as training data.
    pub split: Option<SplitSpec>,
    /// Normalisation fitted on the training part by [`load_splits`].
    pub normalize: NormalizeMode,
}

impl DataSpec {
    /// A spec with only a path: everything else detected or defaulted.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        DataSpec {
            path: path.into(),
            ..Default::default()
        }
    }
}

/// Guesses the loader for `path`; see the module docs for the rules.
pub fn detect_kind(path: &Path) -> Result<DataKind> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_file() {
        if has_ext(path, &["csv", "tsv", "txt"]) {
            return Ok(DataKind::Csv);
        }
        if has_ext(path, &["bin"]) {
            return Ok(DataKind::Raw);
        }
        return Err(DataError::Unsupported {
            path: path.to_path_buf(),
            reason: "cannot tell the dataset kind of this file (expected .csv or .bin); set `kind`"
                .into(),
        });
    }
    let entries = list_dir(path)?;
    if entries.iter().any(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("idx3-ubyte") || n.contains("idx3.ubyte"))
    }) {
        return Ok(DataKind::Mnist);
    }
    if entries.iter().any(|p| p.is_file() && has_ext(p, &["bin"])) {
        return Ok(DataKind::Raw);
    }
    if any_class_file_with(path, &["wav"]) {
        return Ok(DataKind::Wav);
    }
    if any_class_file_with(path, IMAGE_EXTENSIONS) {
        return Ok(DataKind::Images);
    }
    Err(DataError::Unsupported {
        path: path.to_path_buf(),
        reason: "cannot tell the dataset kind of this folder (no IDX or .bin files, no class \
                 sub-folders of .wav or image files); set `kind`"
            .into(),
    })
}

/// Entries of `dir`, sorted by name, hidden files skipped.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(e.path());
    }
    out.sort();
    Ok(out)
}

/// Loads the whole dataset described by `spec` (no split, no normalisation).
pub fn load(spec: &DataSpec) -> Result<Dataset> {
    let kind = match spec.kind {
        Some(k) => k,
        None => detect_kind(&spec.path)?,
    };
    match kind {
        DataKind::Mnist => load_mnist_dir(&spec.path, spec.mnist.prefix.as_deref()),
        DataKind::Csv => load_csv(&spec.path, &spec.csv),
        DataKind::Wav => load_wav_folders(&spec.path, &spec.wav),
        DataKind::Images => load_image_folders(&spec.path, &spec.images),
        DataKind::Raw => load_raw(&spec.path, &spec.raw),
    }
}

/// Loads, splits and normalises as `spec` says. The normalisation is fitted on the training
/// part and returned so it can be stored with the model.
pub fn load_splits(spec: &DataSpec) -> Result<(Splits, Option<Normalization>)> {
    let ds = load(spec)?;
    let mut parts = match &spec.split {
        Some(s) => split(&ds, s)?,
        None => Splits {
            train: ds,
            val: None,
            test: None,
        },
    };
    let norm = match spec.normalize {
        NormalizeMode::None => None,
        m => Some(Normalization::fit(
            &parts.train,
            m == NormalizeMode::PerChannel,
        )),
    };
    if let Some(n) = &norm {
        n.apply(&mut parts.train)?;
        for p in [&mut parts.val, &mut parts.test].into_iter().flatten() {
            n.apply(p)?;
        }
    }
    Ok((parts, norm))
}
