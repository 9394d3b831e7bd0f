//! Int8 (and int16) MEAN as TFLM's `reduce_common.cc` dispatches it.
//!
//! TFLM picks one of three implementations at prepare time; [`MeanPath`] records which:
//! - 4-D, axes {1, 2}, `keep_dims`: `reference_integer_ops::Mean`;
//! - otherwise, same scale and zero point in and out: `reference_ops::Mean` — the raw sum
//!   divided by the count with C's truncating division;
//! - otherwise: `reference_ops::QuantizedMeanOrSum`.
//!
//! The first and last compute the same thing in the TFLM version we target (checked against
//! TFLM fixtures): `zp_out + MultiplyByQuantizedMultiplier(Σq − zp_in·count, M', s')` where
//! [`mean_multiplier`] folds `1/count` into the `scale_in / scale_out` multiplier. (Older
//! TFLite releases divided after requantizing; they differ by one LSB on some inputs.)

use super::{check_lengths, ReduceAxes};
use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::quantize::{QInt, QuantParams};
use crate::{KernelError, KernelResult, Shape4};

/// Which of TFLM's three integer MEAN implementations applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanPath {
    /// `reference_integer_ops::Mean` (4-D, axes {1, 2}, keep_dims).
    HeightWidth,
    /// `reference_ops::Mean` on raw values (identical input/output quantization).
    SameQuant,
    /// `reference_ops::QuantizedMeanOrSum` (float requantization).
    Requantize,
}

/// Prepared quantized MEAN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanParamsS8 {
    pub axes: ReduceAxes,
    pub path: MeanPath,
    pub multiplier: i32,
    pub shift: i32,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub input_scale: f32,
    pub output_scale: f32,
}

impl MeanParamsS8 {
    /// TFLM `PrepareMeanOrSumHelper` + the dispatch of `EvalMeanHelper` for storage type `T`.
    /// `axes` are the TFLite axis values of a 4-D input.
    pub fn prepare<T: QInt>(
        input: QuantParams,
        output: QuantParams,
        axes: &[i32],
        keep_dims: bool,
    ) -> Result<Self, KernelError> {
        let i = input.checked_for::<T>()?;
        let o = output.checked_for::<T>()?;
        let resolved = ReduceAxes::from_tflite(axes)?;
        let (multiplier, shift) = quantize_multiplier(i.scale as f64 / o.scale as f64);
        // TFLM's special case looks at the raw axis list: exactly two entries, 1 and 2.
        let hw =
            axes.len() == 2 && ((axes[0] == 1 && axes[1] == 2) || (axes[0] == 2 && axes[1] == 1));
        let path = if keep_dims && hw {
            MeanPath::HeightWidth
        } else if i.zero_point == o.zero_point && i.scale == o.scale {
            MeanPath::SameQuant
        } else {
            MeanPath::Requantize
        };
        Ok(MeanParamsS8 {
            axes: resolved,
            path,
            multiplier,
            shift,
            input_zero_point: i.zero_point,
            output_zero_point: o.zero_point,
            input_scale: i.scale,
            output_scale: o.scale,
        })
    }
}

/// Quantized MEAN of an NHWC `input` over the prepared axes.
pub fn mean_quantized<T: QInt>(
    p: &MeanParamsS8,
    shape: Shape4,
    input: &[T],
    output: &mut [T],
) -> KernelResult {
    let count = check_lengths(&p.axes, shape, input.len(), output.len())?;
    if count == 0 {
        // TFLM leaves a zero-element reduction's output at zero.
        output.iter_mut().for_each(|o| *o = T::default());
        return Ok(());
    }
    // The i32 sums of TFLM can overflow only past 2^23 int8 elements per output; refuse such
    // shapes instead of wrapping silently.
    if count > (1usize << 23) {
        return Err(KernelError::BadParams);
    }
    let n = count as i32;
    let p = *p;
    let (zp_in, zp_out) = (p.input_zero_point, p.output_zero_point);
    let (multiplier, shift) = mean_multiplier(p.multiplier, p.shift, count as i64);
    let (mut acc, mut k) = (0i32, 0usize);
    p.axes.for_each(shape, |o, i| {
        acc += input[i].to_i32();
        k += 1;
        if k < count {
            return;
        }
        output[o] = match p.path {
            MeanPath::SameQuant => T::saturate(acc / n),
            MeanPath::HeightWidth | MeanPath::Requantize => {
                let shifted_sum = acc.wrapping_sub(zp_in.wrapping_mul(n));
                T::saturate(
                    multiply_by_quantized_multiplier(shifted_sum, multiplier, shift)
                        .saturating_add(zp_out),
                )
            }
        };
        acc = 0;
        k = 0;
    });
    Ok(())
}

/// Folds `1 / count` into the Q31 multiplier the way TFLite's reduce code "readapts" it:
/// multiply by `2^s / count` (integer division) with `s = floor(log2 count)` capped at 32
/// and at `31 + shift`, and lower the shift by `s`.
pub fn mean_multiplier(multiplier: i32, shift: i32, count: i64) -> (i32, i32) {
    let mut s = 63 - (count as u64).leading_zeros() as i32;
    s = s.min(32).min(31 + shift).max(0);
    let m = ((multiplier as i64) << s) / count;
    (m as i32, shift - s)
}

/// Int8 MEAN.
pub fn mean_s8(p: &MeanParamsS8, shape: Shape4, input: &[i8], output: &mut [i8]) -> KernelResult {
    mean_quantized(p, shape, input, output)
}

/// Int16 MEAN (params prepared with `T = i16`).
pub fn mean_s16(
    p: &MeanParamsS8,
    shape: Shape4,
    input: &[i16],
    output: &mut [i16],
) -> KernelResult {
    mean_quantized(p, shape, input, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_average_pool_hand_checked() {
        let q = QuantParams::new(0.1, -10);
        let p = MeanParamsS8::prepare::<i8>(q, q, &[1, 2], true).unwrap();
        assert_eq!(p.path, MeanPath::HeightWidth);
        // 2x2 spatial, 2 channels: channel 0 offsets {0, 1, 2, 4} → 7/4 = 1.75 → 2;
        // channel 1 offsets all −3 → −3.
        let x = [-10i8, -13, -9, -13, -8, -13, -6, -13];
        let mut y = [0i8; 2];
        mean_s8(&p, Shape4::new(1, 2, 2, 2), &x, &mut y).unwrap();
        assert_eq!(y, [-8, -13]);
        // Without keep_dims TFLM takes the raw-sum path: (−33 / 4) truncates to −8.
        let p2 = MeanParamsS8::prepare::<i8>(q, q, &[1, 2], false).unwrap();
        assert_eq!(p2.path, MeanPath::SameQuant);
        mean_s8(&p2, Shape4::new(1, 2, 2, 2), &x, &mut y).unwrap();
        assert_eq!(y, [-8, -13]);
    }

    #[test]
    fn requantizing_path_and_saturation() {
        let p = MeanParamsS8::prepare::<i8>(
            QuantParams::new(0.5, 0),
            QuantParams::new(0.1, 0),
            &[3],
            true,
        )
        .unwrap();
        assert_eq!(p.path, MeanPath::Requantize);
        let mut y = [0i8; 2];
        mean_s8(&p, Shape4::new(1, 1, 2, 2), &[3, 4, 100, 100], &mut y).unwrap();
        // 0.5 / 0.1f is just below 5, so the mean 3.5 maps to 17.4999… → 17; 500 saturates.
        assert_eq!(y, [17, 127]);
        let mut bad = [0i8; 3];
        assert_eq!(
            mean_s8(&p, Shape4::new(1, 1, 2, 2), &[3, 4, 100, 100], &mut bad),
            Err(KernelError::BufferSize)
        );
        assert!(MeanParamsS8::prepare::<i8>(
            QuantParams::new(0.0, 0),
            QuantParams::new(0.1, 0),
            &[3],
            true
        )
        .is_err());
    }
}
