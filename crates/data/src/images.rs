//! Image class folders: `root/<class>/*.{png,bmp,jpg,jpeg}` → `[H, W, C]` samples in `0..=1`.
//!
//! Files are decoded by content (a `.png` holding JPEG data still loads; a file that decodes as
//! nothing is an error naming it), converted to grey (`C = 1`, Rec. 709 luma) or RGB (`C = 3`),
//! and resized to `size = [H, W]` with a triangle filter when asked; without `size` every image
//! must already share the first image's size. Neighbours: `folders` lists the files, `spec`
//! dispatches here for `kind = "images"`.

use std::path::Path;

use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::folders::{class_files, ClassFiles};

/// Extensions accepted in image class folders.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "bmp", "jpg", "jpeg"];

/// Colour handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// One channel.
    Gray,
    /// Three channels, R G B.
    #[default]
    Rgb,
}

impl ColorMode {
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Gray => 1,
            ColorMode::Rgb => 3,
        }
    }
}

/// Image folder options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageOptions {
    /// Target `[height, width]`; `None` keeps the images' own (common) size.
    pub size: Option<[usize; 2]>,
    pub color: ColorMode,
}

/// Decodes one image into `[H, W, C]` values in `0..=1`, resized if `size` is given.
pub fn load_image(path: &Path, opts: &ImageOptions) -> Result<(Vec<f32>, [usize; 2])> {
    let img = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .decode()
        .map_err(|e| DataError::format(path, format!("cannot decode image: {e}")))?;
    let img = match opts.size {
        Some([h, w]) if (h, w) != (img.height() as usize, img.width() as usize) => {
            if h == 0 || w == 0 || h > u32::MAX as usize || w > u32::MAX as usize {
                return Err(DataError::invalid(format!("bad image size [{h}, {w}]")));
            }
            img.resize_exact(w as u32, h as u32, FilterType::Triangle)
        }
        _ => img,
    };
    let hw = [img.height() as usize, img.width() as usize];
    let data: Vec<f32> = match opts.color {
        ColorMode::Gray => img.to_luma8().into_raw(),
        ColorMode::Rgb => img.to_rgb8().into_raw(),
    }
    .into_iter()
    .map(|b| b as f32 / 255.0)
    .collect();
    Ok((data, hw))
}

/// Loads `root/<class>/<image>` files into a classification dataset.
pub fn load_image_folders(root: &Path, opts: &ImageOptions) -> Result<Dataset> {
    let ClassFiles {
        names: class_names,
        files,
    } = class_files(root, IMAGE_EXTENSIONS, "image")?;
    let decoded: Vec<(Vec<f32>, [usize; 2])> = files
        .par_iter()
        .map(|(p, _)| load_image(p, opts))
        .collect::<Result<_>>()?;
    let hw = decoded.first().map(|d| d.1).unwrap_or([1, 1]);
    let c = opts.color.channels();
    let mut features = Vec::with_capacity(files.len() * hw[0] * hw[1] * c);
    for ((data, size), (path, _)) in decoded.into_iter().zip(&files) {
        if size != hw {
            return Err(DataError::format(
                path,
                format!(
                    "image is {}x{}, the first one is {}x{}; set `size` to resize them all",
                    size[0], size[1], hw[0], hw[1]
                ),
            ));
        }
        features.extend_from_slice(&data);
    }
    let labels = files.iter().map(|(_, c)| *c).collect();
    Dataset::new(
        features,
        vec![hw[0], hw[1], c],
        Targets::Classes(labels),
        class_names,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// Writes a `w`x`h` image filled with `px` in the format implied by the extension.
    pub(crate) fn write_image(path: &Path, w: u32, h: u32, px: [u8; 3]) {
        RgbImage::from_pixel(w, h, Rgb(px)).save(path).unwrap();
    }

    #[test]
    fn loads_png_bmp_jpeg_resized() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir(r.join("cat")).unwrap();
        std::fs::create_dir(r.join("dog")).unwrap();
        write_image(&r.join("cat/a.png"), 8, 6, [255, 0, 0]);
        write_image(&r.join("cat/b.bmp"), 4, 4, [0, 255, 0]);
        write_image(&r.join("dog/c.jpg"), 10, 10, [255, 255, 255]);
        let opts = ImageOptions {
            size: Some([5, 7]),
            color: ColorMode::Rgb,
        };
        let d = load_image_folders(r, &opts).unwrap();
        assert_eq!(d.sample_shape, vec![5, 7, 3]);
        assert_eq!(d.class_names, vec!["cat", "dog"]);
        assert_eq!(d.labels().unwrap(), &[0, 0, 1]);
        assert_eq!(&d.sample(0).features[..3], &[1.0, 0.0, 0.0]);
        assert_eq!(&d.sample(1).features[..3], &[0.0, 1.0, 0.0]);
        // JPEG is lossy but a flat white image stays (nearly) white.
        assert!(d.sample(2).features.iter().all(|&v| v > 0.97));

        let gray = load_image_folders(
            r,
            &ImageOptions {
                size: Some([3, 3]),
                color: ColorMode::Gray,
            },
        )
        .unwrap();
        assert_eq!(gray.sample_shape, vec![3, 3, 1]);
        // Rec. 709 luma of pure red ≈ 0.2126.
        assert!((gray.sample(0).features[0] - 0.2126).abs() < 0.01);
    }

    #[test]
    fn differing_sizes_without_resize_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir(r.join("a")).unwrap();
        write_image(&r.join("a/1.png"), 4, 4, [0, 0, 0]);
        write_image(&r.join("a/2.png"), 5, 4, [0, 0, 0]);
        let err = load_image_folders(r, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("2.png") && err.contains("4x5"), "{err}");
    }

    #[test]
    fn non_image_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir(r.join("a")).unwrap();
        write_image(&r.join("a/1.png"), 4, 4, [0, 0, 0]);
        std::fs::write(r.join("a/notes.txt"), "hello").unwrap();
        let err = load_image_folders(r, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("notes.txt") && err.contains("unexpected file, expected image files"),
            "{err}"
        );
        std::fs::remove_file(r.join("a/notes.txt")).unwrap();
        std::fs::write(r.join("a/fake.png"), "definitely not a png").unwrap();
        let err = load_image_folders(r, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fake.png") && err.contains("cannot decode image"),
            "{err}"
        );
    }

    #[test]
    fn empty_class_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir(r.join("a")).unwrap();
        std::fs::create_dir(r.join("b")).unwrap();
        write_image(&r.join("a/1.png"), 4, 4, [0, 0, 0]);
        let err = load_image_folders(r, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/b: empty class folder"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = load_image_folders(empty.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no class sub-folders"), "{err}");
    }
}
