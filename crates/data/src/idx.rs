//! IDX files (the MNIST format), raw or gzip-compressed, and the MNIST folder loader.
//!
//! IDX layout: two zero bytes, a dtype byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
//! 0x0E f64), a rank byte, `rank` big-endian u32 dimensions, then the values big-endian.
//! We check the magic, the rank expected by the caller and that the byte count matches the
//! dimensions exactly: a truncated or padded file is an error naming the file, never a panic.
//!
//! MNIST images (idx3 u8) become `f32 / 255` samples of shape `[rows, cols, 1]` (NHWC), labels
//! (idx1 u8) become class ids `0..10`. Neighbours: `spec` calls [`load_mnist_dir`] when a folder
//! holds an `*idx3-ubyte*` file.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// A decoded IDX array, values widened to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    /// The dtype byte from the header (0x08 = u8, …).
    pub dtype: u8,
    pub data: Vec<f32>,
}

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        // MNIST images inflate ~4.7x; reserving avoids repeated growth of an 8 MB buffer.
        let mut out = Vec::with_capacity(raw.len() * 5);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::format(path, format!("corrupt or truncated gzip stream: {e}"))
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn dtype_size(dtype: u8) -> Option<usize> {
    match dtype {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// Parses the header of an IDX buffer and returns `(dtype, dims, payload offset)`.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    expected_rank: Option<usize>,
) -> Result<(u8, Vec<usize>, usize)> {
    if bytes.len() < 4 {
        return Err(DataError::format(
            path,
            format!("truncated IDX header ({} bytes)", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 || dtype_size(bytes[2]).is_none() {
        return Err(DataError::format(
            path,
            format!(
                "bad IDX magic {:02x} {:02x} {:02x} {:02x}",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if let Some(r) = expected_rank {
        if rank != r {
            return Err(DataError::format(
                path,
                format!("expected an IDX file of rank {r}, found rank {rank}"),
            ));
        }
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            format!("truncated IDX header: {} bytes, need {header}", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    Ok((bytes[2], dims, header))
}

/// Decodes an IDX buffer; `path` is only used in error messages.
pub fn parse_idx(path: &Path, bytes: &[u8], expected_rank: Option<usize>) -> Result<IdxArray> {
    let (dtype, dims, header) = parse_header(path, bytes, expected_rank)?;
    let elem = dtype_size(dtype).unwrap_or(1);
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|c| c.checked_mul(elem))
        .ok_or_else(|| DataError::format(path, format!("IDX dimensions {dims:?} overflow")))?;
    let payload = &bytes[header..];
    if payload.len() != count {
        let what = if payload.len() < count {
            "truncated"
        } else {
            "trailing bytes in"
        };
        return Err(DataError::format(
            path,
            format!(
                "{what} IDX file: dimensions {dims:?} need {count} data bytes, found {}",
                payload.len()
            ),
        ));
    }
    let data: Vec<f32> = match dtype {
        0x08 => payload.iter().map(|&b| b as f32).collect(),
        0x09 => payload.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => payload
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32)
            .collect(),
        0x0C => payload
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        0x0D => payload
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => payload
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
    };
    Ok(IdxArray { dims, dtype, data })
}

/// Reads an IDX file (raw or `.gz`).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    parse_idx(path, &bytes, None)
}

/// Loads an MNIST-style image/label pair: idx3 u8 images (scaled to `0..=1`) and idx1 u8 labels.
pub fn load_mnist_files(images: &Path, labels: &Path) -> Result<Dataset> {
    let img_bytes = read_maybe_gz(images)?;
    let (dtype, dims, header) = parse_header(images, &img_bytes, Some(3))?;
    if dtype != 0x08 {
        return Err(DataError::format(
            images,
            format!("MNIST images must be u8 (IDX dtype 0x08), found 0x{dtype:02x}"),
        ));
    }
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    let expected = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| DataError::format(images, format!("IDX dimensions {dims:?} overflow")))?;
    let payload = &img_bytes[header..];
    if payload.len() != expected {
        return Err(DataError::format(
            images,
            format!(
                "{} IDX file: {n} images of {rows}x{cols} need {expected} data bytes, found {}",
                if payload.len() < expected {
                    "truncated"
                } else {
                    "trailing bytes in"
                },
                payload.len()
            ),
        ));
    }
    if rows == 0 || cols == 0 {
        return Err(DataError::format(images, "images have a zero dimension"));
    }
    // A lookup table keeps the 7.8 M conversions a pure gather (and exact: k/255 once per k).
    let lut: Vec<f32> = (0..256).map(|k| k as f32 / 255.0).collect();
    let features: Vec<f32> = payload.iter().map(|&b| lut[b as usize]).collect();

    let lab_bytes = read_maybe_gz(labels)?;
    let (ldtype, ldims, lheader) = parse_header(labels, &lab_bytes, Some(1))?;
    if ldtype != 0x08 {
        return Err(DataError::format(
            labels,
            format!("MNIST labels must be u8 (IDX dtype 0x08), found 0x{ldtype:02x}"),
        ));
    }
    let lpayload = &lab_bytes[lheader..];
    if lpayload.len() != ldims[0] {
        return Err(DataError::format(
            labels,
            format!(
                "{} IDX file: {} labels need {} data bytes, found {}",
                if lpayload.len() < ldims[0] {
                    "truncated"
                } else {
                    "trailing bytes in"
                },
                ldims[0],
                ldims[0],
                lpayload.len()
            ),
        ));
    }
    if ldims[0] != n {
        return Err(DataError::format(
            labels,
            format!("{} labels for {n} images in {}", ldims[0], images.display()),
        ));
    }
    if let Some(pos) = lpayload.iter().position(|&l| l > 9) {
        return Err(DataError::format(
            labels,
            format!("label {} at index {pos} is not a digit 0-9", lpayload[pos]),
        ));
    }
    let labels_u32 = lpayload.iter().map(|&l| l as u32).collect();
    Dataset::classification(features, vec![rows, cols, 1], labels_u32, 10)
}

/// Finds the `(images, labels)` IDX pair in `dir`.
///
/// `prefix` picks one pair when the folder holds several (e.g. `"train"` or `"t10k"`); without it
/// the folder must hold exactly one `*idx3-ubyte*` and one `*idx1-ubyte*` file.
pub fn find_mnist_files(dir: &Path, prefix: Option<&str>) -> Result<(PathBuf, PathBuf)> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(p) = prefix {
            if !name.starts_with(p) {
                continue;
            }
        }
        if name.contains("idx3-ubyte") || name.contains("idx3.ubyte") {
            images.push(entry.path());
        } else if name.contains("idx1-ubyte") || name.contains("idx1.ubyte") {
            labels.push(entry.path());
        }
    }
    images.sort();
    labels.sort();
    let pick = |found: Vec<PathBuf>, what: &str| -> Result<PathBuf> {
        match found.len() {
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            0 => Err(DataError::format(
                dir,
                format!("no MNIST {what} file (*{what}-ubyte[.gz]) in this folder"),
            )),
            _ => Err(DataError::format(
                dir,
                format!(
                    "several MNIST {what} files ({}); choose one with the `prefix` option",
                    found
                        .iter()
                        .map(|p| p
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    };
    Ok((pick(images, "idx3")?, pick(labels, "idx1")?))
}

/// Loads the MNIST pair found in `dir` (see [`find_mnist_files`]).
pub fn load_mnist_dir(dir: &Path, prefix: Option<&str>) -> Result<Dataset> {
    let (images, labels) = find_mnist_files(dir, prefix)?;
    load_mnist_files(&images, &labels)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Writes an idx3 image file and an idx1 label file with `n` 4x3 images, the pixel at flat
    /// index k of image i being `(i * 12 + k) % 256`.
    pub(crate) fn write_tiny_mnist(dir: &Path, n: usize, gz: bool) -> (PathBuf, PathBuf) {
        let mut img = vec![0, 0, 8, 3];
        for d in [n as u32, 4, 3] {
            img.extend_from_slice(&d.to_be_bytes());
        }
        img.extend((0..n * 12).map(|k| (k % 256) as u8));
        let mut lab = vec![0, 0, 8, 1];
        lab.extend_from_slice(&(n as u32).to_be_bytes());
        lab.extend((0..n).map(|i| (i % 10) as u8));
        let (ip, lp) = if gz {
            (
                dir.join("tiny-images-idx3-ubyte.gz"),
                dir.join("tiny-labels-idx1-ubyte.gz"),
            )
        } else {
            (
                dir.join("tiny-images-idx3-ubyte"),
                dir.join("tiny-labels-idx1-ubyte"),
            )
        };
        for (p, bytes) in [(&ip, &img), (&lp, &lab)] {
            let f = std::fs::File::create(p).unwrap();
            if gz {
                let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                e.write_all(bytes).unwrap();
                e.finish().unwrap();
            } else {
                let mut f = f;
                f.write_all(bytes).unwrap();
            }
        }
        (ip, lp)
    }

    #[test]
    fn loads_raw_and_gz() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_tiny_mnist(dir.path(), 5, gz);
            let d = load_mnist_dir(dir.path(), None).unwrap();
            assert_eq!(d.len(), 5);
            assert_eq!(d.sample_shape, vec![4, 3, 1]);
            assert_eq!(d.labels().unwrap(), &[0, 1, 2, 3, 4]);
            assert_eq!(d.sample(1).features[0], 12.0 / 255.0);
            assert_eq!(d.num_classes, 10);
        }
    }

    #[test]
    fn truncated_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = write_tiny_mnist(dir.path(), 5, false);
        let bytes = std::fs::read(&ip).unwrap();
        std::fs::write(&ip, &bytes[..bytes.len() - 7]).unwrap();
        let err = load_mnist_files(&ip, &lp).unwrap_err().to_string();
        assert!(err.contains("tiny-images-idx3-ubyte"), "{err}");
        assert!(err.contains("truncated"), "{err}");
        // Header cut short too.
        std::fs::write(&ip, &bytes[..9]).unwrap();
        let err = load_mnist_files(&ip, &lp).unwrap_err().to_string();
        assert!(err.contains("truncated IDX header"), "{err}");
    }

    #[test]
    fn truncated_gzip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = write_tiny_mnist(dir.path(), 50, true);
        let bytes = std::fs::read(&lp).unwrap();
        std::fs::write(&lp, &bytes[..bytes.len() / 2]).unwrap();
        let err = load_mnist_files(&ip, &lp).unwrap_err().to_string();
        assert!(err.contains("tiny-labels-idx1-ubyte.gz"), "{err}");
        assert!(err.contains("gzip"), "{err}");
    }

    #[test]
    fn bad_magic_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = write_tiny_mnist(dir.path(), 5, false);
        let mut bytes = std::fs::read(&ip).unwrap();
        bytes[2] = 0x42;
        std::fs::write(&ip, &bytes).unwrap();
        let err = load_mnist_files(&ip, &lp).unwrap_err().to_string();
        assert!(err.contains("bad IDX magic"), "{err}");
        // Labels and images swapped: wrong rank.
        let err = load_mnist_files(&lp, &lp).unwrap_err().to_string();
        assert!(err.contains("rank 3"), "{err}");
        // Label count differs from image count.
        let other = tempfile::tempdir().unwrap();
        let (ip2, _) = write_tiny_mnist(other.path(), 6, false);
        let err = load_mnist_files(&ip2, &lp).unwrap_err().to_string();
        assert!(err.contains("5 labels for 6 images"), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (ip, lp) = write_tiny_mnist(dir.path(), 3, gz);
            let full = std::fs::read(&ip).unwrap();
            for cut in 0..full.len() {
                std::fs::write(&ip, &full[..cut]).unwrap();
                let err = load_mnist_files(&ip, &lp).unwrap_err().to_string();
                assert!(err.contains("tiny-images-idx3-ubyte"), "cut {cut}: {err}");
            }
            // Flipped bytes either load (pixel data) or fail cleanly (header, gzip CRC).
            for i in 0..full.len() {
                let mut b = full.clone();
                b[i] ^= 0x5a;
                std::fs::write(&ip, &b).unwrap();
                let _ = load_mnist_files(&ip, &lp);
            }
        }
    }

    #[test]
    fn generic_idx_dtypes() {
        let mut b = vec![0, 0, 0x0D, 1, 0, 0, 0, 2];
        b.extend_from_slice(&1.5f32.to_be_bytes());
        b.extend_from_slice(&(-2.0f32).to_be_bytes());
        let a = parse_idx(Path::new("x"), &b, Some(1)).unwrap();
        assert_eq!(a.data, vec![1.5, -2.0]);
        let b = vec![0, 0, 0x09, 1, 0, 0, 0, 1, 0xff];
        assert_eq!(
            parse_idx(Path::new("x"), &b, None).unwrap().data,
            vec![-1.0]
        );
    }
}
