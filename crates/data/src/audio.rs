//! Audio: WAV class folders and their log-mel / MFCC features.
//!
//! Layout: `root/<class>/<clip>.wav`, class ids in sorted folder-name order, clips in sorted
//! file-name order. Every clip must be 16-bit PCM mono at the expected sample rate (a mismatch is
//! an error naming the file); it is scaled to `[-1, 1)`, zero-padded or cropped (from the start)
//! to the clip length, then turned into features of shape `[frames, coeffs, 1]` (NHWC, the KWS
//! convention: time is H).
//!
//! Feature pipeline (follows `tf.signal` as used by the MLPerf Tiny KWS recipe, so models trained
//! here see the same inputs): frames of `frame_length` samples every `frame_step` (no end
//! padding: `frames = 1 + (clip - frame_length) / frame_step`), periodic Hann window, real FFT of
//! `fft_size` (next power of two by default), magnitude (or power) spectrum, triangular mel
//! filterbank on the HTK mel scale between `f_min` and `f_max` (DC bin excluded), `ln(x + 1e-6)`,
//! then for MFCC a DCT-II scaled by `sqrt(2 / n_mels)` keeping the first `n_mfcc` coefficients.
//! Neighbours: `spec` dispatches here for `kind = "wav"`; `folders` lists the class folders.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::folders::{class_files, ClassFiles};

/// Which features a clip becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioFeature {
    /// `[frames, n_mels, 1]` log-mel energies.
    LogMel,
    /// `[frames, n_mfcc, 1]` cepstral coefficients.
    #[default]
    Mfcc,
    /// `[clip_samples, 1, 1]` raw samples in `[-1, 1)`.
    Waveform,
}

/// Which spectrum feeds the mel filterbank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spectrum {
    /// `|X|` (the MLPerf Tiny KWS recipe).
    #[default]
    Magnitude,
    /// `|X|²` (librosa's default).
    Power,
}

/// WAV loading and feature options. Defaults: 16 kHz, 1 s clips, 30 ms frames every 20 ms,
/// 40 mel bands over 20 Hz–4 kHz, 10 MFCCs → `[49, 10, 1]` as in MLPerf Tiny KWS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WavOptions {
    /// Every file must have this rate (Hz).
    pub sample_rate: u32,
    /// Clip length in samples after padding/cropping.
    pub clip_samples: usize,
    pub feature: AudioFeature,
    pub frame_length: usize,
    pub frame_step: usize,
    /// FFT length; `None` = next power of two ≥ `frame_length`.
    pub fft_size: Option<usize>,
    pub n_mels: usize,
    pub n_mfcc: usize,
    pub f_min: f32,
    /// Upper band edge in Hz; `None` = Nyquist.
    pub f_max: Option<f32>,
    pub spectrum: Spectrum,
}

impl Default for WavOptions {
    fn default() -> Self {
        WavOptions {
            sample_rate: 16_000,
            clip_samples: 16_000,
            feature: AudioFeature::Mfcc,
            frame_length: 480,
            frame_step: 320,
            fft_size: None,
            n_mels: 40,
            n_mfcc: 10,
            f_min: 20.0,
            f_max: Some(4000.0),
            spectrum: Spectrum::Magnitude,
        }
    }
}

fn hz_to_mel(f: f32) -> f32 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// One mel band: weights for spectrum bins `start..start + weights.len()`.
#[derive(Debug, Clone)]
struct MelBand {
    start: usize,
    weights: Vec<f32>,
}

/// Precomputed window, FFT plan, filterbank and DCT for one [`WavOptions`].
pub struct FeatureExtractor {
    opts: WavOptions,
    fft_size: usize,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    bands: Vec<MelBand>,
    /// `n_mfcc × n_mels`, row-major.
    dct: Vec<f32>,
    /// Mel band centre frequencies in Hz (for callers and tests).
    centers_hz: Vec<f32>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("opts", &self.opts)
            .field("fft_size", &self.fft_size)
            .finish_non_exhaustive()
    }
}

impl FeatureExtractor {
    /// Validates the options and precomputes everything a clip needs.
    pub fn new(opts: &WavOptions) -> Result<Self> {
        let o = opts;
        let fft_size = o.fft_size.unwrap_or(o.frame_length.next_power_of_two());
        let nyquist = o.sample_rate as f32 / 2.0;
        let f_max = o.f_max.unwrap_or(nyquist);
        if o.sample_rate == 0 || o.clip_samples == 0 {
            return Err(DataError::invalid(
                "sample_rate and clip_samples must be positive",
            ));
        }
        if o.feature != AudioFeature::Waveform {
            if o.frame_length == 0 || o.frame_step == 0 || o.frame_length > o.clip_samples {
                return Err(DataError::invalid(format!(
                    "frame_length {} / frame_step {} do not fit clips of {} samples",
                    o.frame_length, o.frame_step, o.clip_samples
                )));
            }
            if fft_size < o.frame_length {
                return Err(DataError::invalid(format!(
                    "fft_size {fft_size} is shorter than frame_length {}",
                    o.frame_length
                )));
            }
            if o.n_mels == 0 || !(0.0 <= o.f_min && o.f_min < f_max && f_max <= nyquist) {
                return Err(DataError::invalid(format!(
                    "need n_mels > 0 and 0 <= f_min < f_max <= {nyquist} Hz (got {} bands, {}..{f_max} Hz)",
                    o.n_mels, o.f_min
                )));
            }
            if o.feature == AudioFeature::Mfcc && !(1..=o.n_mels).contains(&o.n_mfcc) {
                return Err(DataError::invalid(format!(
                    "n_mfcc {} must be in 1..={}",
                    o.n_mfcc, o.n_mels
                )));
            }
        }
        let n = o.frame_length;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n.max(1) as f64).cos())
            .map(|w| w as f32)
            .collect();
        let fft = FftPlanner::new().plan_fft_forward(fft_size.max(1));

        // Filterbank in the mel domain, as tf.signal.linear_to_mel_weight_matrix.
        let n_bins = fft_size / 2 + 1;
        let (lo, hi) = (hz_to_mel(o.f_min), hz_to_mel(f_max));
        let edges: Vec<f32> = (0..o.n_mels + 2)
            .map(|i| lo + (hi - lo) * i as f32 / (o.n_mels + 1) as f32)
            .collect();
        let bin_mel: Vec<f32> = (0..n_bins)
            .map(|k| hz_to_mel(k as f32 * o.sample_rate as f32 / fft_size.max(1) as f32))
            .collect();
        let mut bands = Vec::with_capacity(o.n_mels);
        for b in 0..o.n_mels {
            let (l, c, r) = (edges[b], edges[b + 1], edges[b + 2]);
            let w: Vec<f32> = bin_mel
                .iter()
                .enumerate()
                .map(|(k, &m)| {
                    if k == 0 {
                        return 0.0; // DC carries no pitch information.
                    }
                    ((m - l) / (c - l)).min((r - m) / (r - c)).max(0.0)
                })
                .collect();
            let start = w.iter().position(|&v| v > 0.0).unwrap_or(0);
            let end = w.iter().rposition(|&v| v > 0.0).map_or(start, |e| e + 1);
            bands.push(MelBand {
                start,
                weights: w[start..end].to_vec(),
            });
        }
        let centers_hz = edges[1..=o.n_mels]
            .iter()
            .map(|&m| 700.0 * ((m / 1127.0).exp() - 1.0))
            .collect();
        let nm = o.n_mels;
        let scale = (2.0 / nm.max(1) as f64).sqrt();
        let dct = (0..o.n_mfcc)
            .flat_map(|k| {
                (0..nm).map(move |i| {
                    (scale
                        * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * nm) as f64)
                            .cos()) as f32
                })
            })
            .collect();
        Ok(FeatureExtractor {
            opts: o.clone(),
            fft_size,
            window,
            fft,
            bands,
            dct,
            centers_hz,
        })
    }

    /// Number of frames per clip.
    pub fn frames(&self) -> usize {
        1 + (self.opts.clip_samples - self.opts.frame_length) / self.opts.frame_step
    }

    /// Shape of one clip's features, `[frames, coeffs, 1]` (or `[clip_samples, 1, 1]`).
    pub fn output_shape(&self) -> Vec<usize> {
        match self.opts.feature {
            AudioFeature::LogMel => vec![self.frames(), self.opts.n_mels, 1],
            AudioFeature::Mfcc => vec![self.frames(), self.opts.n_mfcc, 1],
            AudioFeature::Waveform => vec![self.opts.clip_samples, 1, 1],
        }
    }

    /// Centre frequency (Hz) of each mel band.
    pub fn mel_centers_hz(&self) -> &[f32] {
        &self.centers_hz
    }

    /// Features of one clip (`clip.len()` samples, padded with zeros or cropped to the clip
    /// length) written into `out`, which must hold `output_shape().product()` values.
    pub fn compute(&self, clip: &[f32], out: &mut [f32]) -> Result<()> {
        let want: usize = self.output_shape().iter().product();
        if out.len() != want {
            return Err(DataError::invalid(format!(
                "feature buffer holds {} values, need {want}",
                out.len()
            )));
        }
        let cs = self.opts.clip_samples;
        let at = |i: usize| {
            if i < clip.len() && i < cs {
                clip[i]
            } else {
                0.0
            }
        };
        if self.opts.feature == AudioFeature::Waveform {
            for (i, o) in out.iter_mut().enumerate() {
                *o = at(i);
            }
            return Ok(());
        }
        let nm = self.opts.n_mels;
        let mut buf = vec![Complex32::new(0.0, 0.0); self.fft_size];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut spec = vec![0f32; self.fft_size / 2 + 1];
        let mut mel = vec![0f32; nm];
        for f in 0..self.frames() {
            let s0 = f * self.opts.frame_step;
            for (i, b) in buf.iter_mut().enumerate() {
                let v = if i < self.opts.frame_length {
                    at(s0 + i) * self.window[i]
                } else {
                    0.0
                };
                *b = Complex32::new(v, 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (s, b) in spec.iter_mut().zip(&buf) {
                let p = b.norm_sqr();
                *s = match self.opts.spectrum {
                    Spectrum::Power => p,
                    Spectrum::Magnitude => p.sqrt(),
                };
            }
            for (m, band) in mel.iter_mut().zip(&self.bands) {
                let e: f32 = band
                    .weights
                    .iter()
                    .zip(&spec[band.start..])
                    .map(|(w, s)| w * s)
                    .sum();
                *m = (e + 1e-6).ln();
            }
            match self.opts.feature {
                AudioFeature::LogMel => out[f * nm..(f + 1) * nm].copy_from_slice(&mel),
                _ => {
                    let nc = self.opts.n_mfcc;
                    for (k, o) in out[f * nc..(f + 1) * nc].iter_mut().enumerate() {
                        *o = self.dct[k * nm..(k + 1) * nm]
                            .iter()
                            .zip(&mel)
                            .map(|(d, m)| d * m)
                            .sum();
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads a 16-bit PCM mono WAV file at `expected_rate` Hz as samples in `[-1, 1)`.
pub fn read_wav(path: &Path, expected_rate: u32) -> Result<Vec<f32>> {
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) => DataError::io(path, io),
        other => DataError::format(path, format!("not a readable WAV file: {other}")),
    })?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(DataError::format(
            path,
            format!("{} channels, expected mono", spec.channels),
        ));
    }
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(DataError::format(
            path,
            format!(
                "{}-bit {:?} samples, expected 16-bit PCM",
                spec.bits_per_sample, spec.sample_format
            ),
        ));
    }
    if spec.sample_rate != expected_rate {
        return Err(DataError::format(
            path,
            format!(
                "sample rate {} Hz, expected {expected_rate} Hz",
                spec.sample_rate
            ),
        ));
    }
    reader
        .into_samples::<i16>()
        .map(|s| {
            s.map(|v| v as f32 / 32768.0)
                .map_err(|e| DataError::format(path, format!("corrupt WAV data: {e}")))
        })
        .collect()
}

/// Loads `root/<class>/*.wav` into features as configured by `opts`.
pub fn load_wav_folders(root: &Path, opts: &WavOptions) -> Result<Dataset> {
    let fx = FeatureExtractor::new(opts)?;
    let ClassFiles {
        names: class_names,
        files,
    } = class_files(root, &["wav"], "WAV")?;
    let shape = fx.output_shape();
    let w: usize = shape.iter().product();
    // Decoding and feature extraction dominate; files are independent, so spread them.
    let per_file: Vec<Vec<f32>> = files
        .par_iter()
        .map(|(path, _)| {
            let clip = read_wav(path, opts.sample_rate)?;
            let mut out = vec![0f32; w];
            fx.compute(&clip, &mut out)?;
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut features = Vec::with_capacity(files.len() * w);
    for f in per_file {
        features.extend_from_slice(&f);
    }
    let labels = files.iter().map(|(_, c)| *c).collect();
    Dataset::new(features, shape, Targets::Classes(labels), class_names)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    fn sine(freq: f32, n: usize, rate: u32) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn argmax(v: &[f32]) -> usize {
        (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
    }

    fn nearest_band(fx: &FeatureExtractor, f: f32) -> usize {
        let c = fx.mel_centers_hz();
        (0..c.len())
            .min_by(|&a, &b| (c[a] - f).abs().total_cmp(&(c[b] - f).abs()))
            .unwrap()
    }

    #[test]
    fn default_shape_is_kws() {
        let fx = FeatureExtractor::new(&WavOptions::default()).unwrap();
        assert_eq!(fx.output_shape(), vec![49, 10, 1]);
    }

    #[test]
    fn log_mel_of_sine_peaks_in_its_band() {
        for freq in [500.0, 1000.0, 2500.0] {
            let opts = WavOptions {
                feature: AudioFeature::LogMel,
                ..Default::default()
            };
            let fx = FeatureExtractor::new(&opts).unwrap();
            let mut out = vec![0f32; fx.output_shape().iter().product()];
            fx.compute(&sine(freq, 16_000, 16_000), &mut out).unwrap();
            let want = nearest_band(&fx, freq);
            for frame in out.chunks(40) {
                assert_eq!(argmax(frame), want, "sine at {freq} Hz");
            }
        }
    }

    #[test]
    fn mfcc_is_dct_of_log_mel_and_inverts_to_the_sine_band() {
        let freq = 1000.0;
        let clip = sine(freq, 16_000, 16_000);
        let base = WavOptions {
            n_mfcc: 40,
            ..Default::default()
        };
        let fl = FeatureExtractor::new(&WavOptions {
            feature: AudioFeature::LogMel,
            ..base.clone()
        })
        .unwrap();
        let fm = FeatureExtractor::new(&base).unwrap();
        let mut lm = vec![0f32; 49 * 40];
        let mut mf = vec![0f32; 49 * 40];
        fl.compute(&clip, &mut lm).unwrap();
        fm.compute(&clip, &mut mf).unwrap();
        let n = 40usize;
        let frame_lm = &lm[..n];
        let frame_mf = &mf[..n];
        // DCT-II scaled by sqrt(2/N), written out directly.
        for (k, &c) in frame_mf.iter().enumerate() {
            let want: f64 = frame_lm
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    x as f64
                        * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * n) as f64)
                            .cos()
                })
                .sum::<f64>()
                * (2.0 / n as f64).sqrt();
            assert!((c as f64 - want).abs() < 1e-3, "k={k}: {c} vs {want}");
        }
        // Inverse (DCT-III with the matching scale) recovers the log-mel peak band.
        let rec: Vec<f32> = (0..n)
            .map(|i| {
                let s: f64 = (0..n)
                    .map(|k| {
                        let w = if k == 0 { 0.5 } else { 1.0 };
                        w * frame_mf[k] as f64
                            * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64
                                / (2 * n) as f64)
                                .cos()
                    })
                    .sum();
                (s * (2.0 / n as f64).sqrt()) as f32
            })
            .collect();
        for (a, b) in rec.iter().zip(frame_lm) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert_eq!(argmax(&rec), nearest_band(&fm, freq));
    }

    #[test]
    fn pad_and_crop() {
        let opts = WavOptions {
            feature: AudioFeature::Waveform,
            clip_samples: 4,
            ..Default::default()
        };
        let fx = FeatureExtractor::new(&opts).unwrap();
        let mut out = [9.0; 4];
        fx.compute(&[1.0, 2.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0]);
        fx.compute(&[1.0, 2.0, 3.0, 4.0, 5.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn bad_options_rejected() {
        let bad = WavOptions {
            n_mfcc: 41,
            ..Default::default()
        };
        assert!(FeatureExtractor::new(&bad).is_err());
        let bad = WavOptions {
            f_max: Some(9000.0),
            ..Default::default()
        };
        assert!(FeatureExtractor::new(&bad).is_err());
        let bad = WavOptions {
            frame_length: 20_000,
            ..Default::default()
        };
        assert!(FeatureExtractor::new(&bad).is_err());
    }

    fn tone(freq: f32, n: usize) -> Vec<i16> {
        sine(freq, n, 16_000)
            .iter()
            .map(|v| (v * 32767.0) as i16)
            .collect()
    }

    #[test]
    fn loads_class_folders() {
        let dir = tempfile::tempdir().unwrap();
        for (class, f) in [("low", 300.0), ("high", 3000.0)] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            for i in 0..3 {
                // Lengths vary: exercise padding and cropping.
                let n = 12_000 + 3_000 * i;
                write_wav(
                    &dir.path().join(class).join(format!("{i}.wav")),
                    16_000,
                    &tone(f, n),
                );
            }
        }
        let opts = WavOptions {
            feature: AudioFeature::LogMel,
            ..Default::default()
        };
        let d = load_wav_folders(dir.path(), &opts).unwrap();
        assert_eq!(d.len(), 6);
        assert_eq!(d.sample_shape, vec![49, 40, 1]);
        assert_eq!(d.class_names, vec!["high", "low"]);
        assert_eq!(d.labels().unwrap(), &[0, 0, 0, 1, 1, 1]);
        let fx = FeatureExtractor::new(&opts).unwrap();
        assert_eq!(
            argmax(&d.sample(0).features[..40]),
            nearest_band(&fx, 3000.0)
        );
        assert_eq!(
            argmax(&d.sample(3).features[..40]),
            nearest_band(&fx, 300.0)
        );
    }

    #[test]
    fn wrong_rate_stereo_and_garbage_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("yes")).unwrap();
        write_wav(&dir.path().join("yes/ok.wav"), 16_000, &tone(440.0, 16_000));
        write_wav(&dir.path().join("yes/slow.wav"), 8_000, &tone(440.0, 8_000));
        let err = load_wav_folders(dir.path(), &WavOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("slow.wav"), "{err}");
        assert!(
            err.contains("sample rate 8000 Hz, expected 16000 Hz"),
            "{err}"
        );

        std::fs::remove_file(dir.path().join("yes/slow.wav")).unwrap();
        std::fs::write(dir.path().join("yes/junk.wav"), b"RIFF\x10\0\0\0WAVEjunk").unwrap();
        let err = load_wav_folders(dir.path(), &WavOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("junk.wav"), "{err}");

        std::fs::remove_file(dir.path().join("yes/junk.wav")).unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("yes/stereo.wav"), spec).unwrap();
        for _ in 0..200 {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let err = load_wav_folders(dir.path(), &WavOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stereo.wav") && err.contains("expected mono"),
            "{err}"
        );
    }

    #[test]
    fn truncated_wav_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let p = dir.path().join("a/cut.wav");
        write_wav(&p, 16_000, &tone(440.0, 1000));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 501]).unwrap();
        let err = load_wav_folders(dir.path(), &WavOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.wav"), "{err}");
    }

    #[test]
    fn empty_class_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("yes")).unwrap();
        std::fs::create_dir(dir.path().join("no")).unwrap();
        write_wav(&dir.path().join("yes/a.wav"), 16_000, &tone(440.0, 16_000));
        let err = load_wav_folders(dir.path(), &WavOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/no: empty class folder (no WAV files)"),
            "{err}"
        );
    }
}
