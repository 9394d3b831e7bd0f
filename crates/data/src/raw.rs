//! Raw tensors: little-endian `.bin` files holding `[N, …]` samples of a given shape.
//!
//! This is the format of `testdata/reference/*/…input0.bin` and what the quantization stage
//! calibrates on ("a folder of raw sample tensors"). A path may be one `.bin` file or a folder of
//! them (concatenated in sorted name order; other files such as `manifest.json` are ignored, and
//! `*output*.bin` files are skipped so a reference folder yields its inputs). `f32`, `i8` and
//! `u8` elements are accepted; integers become `f32` as stored, or dequantised with
//! `real = scale × (q − zero_point)` when `scale` is set. A file whose size is not a whole
//! number of samples is an error naming it. The result has no targets.
//! Neighbours: `spec` dispatches here for `kind = "raw"` and for `.bin` paths.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::{checked_volume, Dataset, Targets};
use crate::error::{DataError, Result};
use crate::folders::has_ext;
use crate::spec::list_dir;

/// Element type of a raw tensor file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawDtype {
    #[default]
    F32,
    I8,
    U8,
}

impl RawDtype {
    pub fn size(self) -> usize {
        match self {
            RawDtype::F32 => 4,
            RawDtype::I8 | RawDtype::U8 => 1,
        }
    }
}

/// Raw tensor options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOptions {
    pub dtype: RawDtype,
    /// Shape of one sample without the batch axis (required), e.g. `[49, 10, 1]`.
    pub sample_shape: Vec<usize>,
    /// Dequantise integer data with this scale.
    pub scale: Option<f32>,
    pub zero_point: i32,
}

/// Decodes one raw file's bytes into `f32` values.
fn decode(path: &Path, bytes: &[u8], opts: &RawOptions, sample_len: usize) -> Result<Vec<f32>> {
    let sample_bytes = sample_len * opts.dtype.size();
    if bytes.len() % sample_bytes != 0 {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is not a whole number of {:?} samples of shape {:?} ({sample_bytes} bytes each)",
                bytes.len(),
                opts.dtype,
                opts.sample_shape
            ),
        ));
    }
    let deq = |q: i32| match opts.scale {
        Some(s) => s * (q - opts.zero_point) as f32,
        None => q as f32,
    };
    Ok(match opts.dtype {
        RawDtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        RawDtype::I8 => bytes.iter().map(|&b| deq(b as i8 as i32)).collect(),
        RawDtype::U8 => bytes.iter().map(|&b| deq(b as i32)).collect(),
    })
}

/// The `.bin` files a raw path stands for.
pub fn raw_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files: Vec<PathBuf> = list_dir(path)?
        .into_iter()
        .filter(|p| p.is_file() && has_ext(p, &["bin"]))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("output"))
        })
        .collect();
    if files.is_empty() {
        return Err(DataError::EmptyClass {
            path: path.to_path_buf(),
            expected: "input .bin".into(),
        });
    }
    Ok(files)
}

/// Loads a raw `.bin` file or folder as an unlabelled dataset.
pub fn load_raw(path: &Path, opts: &RawOptions) -> Result<Dataset> {
    let sample_len = checked_volume(&opts.sample_shape)
        .and_then(|n| n.checked_mul(opts.dtype.size()).map(|_| n))
        .unwrap_or(0);
    if opts.sample_shape.is_empty() || sample_len == 0 {
        return Err(DataError::invalid(format!(
            "raw tensors need a non-empty `sample_shape` without zeros (got {:?})",
            opts.sample_shape
        )));
    }
    if opts.scale.is_some() && opts.dtype == RawDtype::F32 {
        return Err(DataError::invalid("`scale` only applies to i8/u8 raw data"));
    }
    let mut features = Vec::new();
    for f in raw_files(path)? {
        let bytes = std::fs::read(&f).map_err(|e| DataError::io(&f, e))?;
        features.extend(decode(&f, &bytes, opts, sample_len)?);
    }
    Dataset::new(
        features,
        opts.sample_shape.clone(),
        Targets::None,
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let vals: Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect();
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.path().join("a_input0.bin"), &bytes).unwrap();
        std::fs::write(dir.path().join("a_output0.bin"), [0u8; 3]).unwrap();
        std::fs::write(dir.path().join("b_input0.bin"), &bytes[..24]).unwrap();
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        let opts = RawOptions {
            sample_shape: vec![2, 3],
            ..Default::default()
        };
        let d = load_raw(&dir.path().join("a_input0.bin"), &opts).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.features, vals);
        assert_eq!(d.targets, Targets::None);
        let d = load_raw(dir.path(), &opts).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.sample(2).features, &vals[..6]);
    }

    #[test]
    fn int8_dequantised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.bin");
        std::fs::write(&p, [0x80u8, 0xff, 0, 10]).unwrap();
        let opts = RawOptions {
            dtype: RawDtype::I8,
            sample_shape: vec![2],
            scale: Some(0.5),
            zero_point: -1,
        };
        let d = load_raw(&p, &opts).unwrap();
        assert_eq!(d.features, vec![-63.5, 0.0, 0.5, 5.5]);
        let opts = RawOptions {
            scale: None,
            ..opts
        };
        assert_eq!(
            load_raw(&p, &opts).unwrap().features,
            vec![-128.0, -1.0, 0.0, 10.0]
        );
    }

    #[test]
    fn partial_sample_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("odd.bin");
        std::fs::write(&p, [0u8; 10]).unwrap();
        let opts = RawOptions {
            sample_shape: vec![2],
            ..Default::default()
        };
        let err = load_raw(&p, &opts).unwrap_err().to_string();
        assert!(err.contains("odd.bin") && err.contains("10 bytes"), "{err}");
        assert!(load_raw(&p, &RawOptions::default()).is_err());
        let huge = RawOptions {
            sample_shape: vec![usize::MAX / 2, 3],
            ..Default::default()
        };
        assert!(load_raw(&p, &huge).is_err());
    }
}
