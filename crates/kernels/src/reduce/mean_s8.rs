//! Int8 (and int16) MEAN as TFLite Micro computes it.
//!
//! TFLM dispatches MEAN to three reference functions (`reference_integer_ops::Mean` for 4-D
//! axes {1, 2} with `keep_dims`, `reference_ops::Mean` when input and output share their
//! quantization, `reference_ops::QuantizedMeanOrSum` otherwise). In the TFLM version we
//! target all three produce the same integers, checked case by case against TFLM fixtures
//! (including rewritten models with identical input/output quantization):
//! `clamp(zp_out + MultiplyByQuantizedMultiplier(Σq − zp_in·count, M', s'))`, where
//! [`mean_multiplier`] folds `1/count` into the `scale_in / scale_out` multiplier. Older
//! TFLite releases divided after requantizing, or truncated the raw sum when the parameters
//! matched; those differ by one LSB on some inputs.

use super::{check_lengths, ReduceAxes};
use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::quantize::{QInt, QuantParams};
use crate::{KernelError, KernelResult, Shape4};

/// Prepared quantized MEAN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanParamsS8 {
    pub axes: ReduceAxes,
    pub multiplier: i32,
    pub shift: i32,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
}

impl MeanParamsS8 {
    /// TFLM `PrepareMeanOrSumHelper` for storage type `T`. `axes` are the TFLite axis values
    /// of a 4-D input; `keep_dims` only changes the output's rank, not its data.
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
        // TFLM picks different functions by keep_dims, but they compute the same values.
        let _ = keep_dims;
        Ok(MeanParamsS8 {
            axes: resolved,
            multiplier,
            shift,
            input_zero_point: i.zero_point,
            output_zero_point: o.zero_point,
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
        // Wrapping like TFLM's int32 accumulator (only reachable with > 2^16 int16 terms).
        acc = acc.wrapping_add(input[i].to_i32());
        k += 1;
        if k < count {
            return;
        }
        let shifted_sum = acc.wrapping_sub(zp_in.wrapping_mul(n));
        output[o] = T::saturate(
            multiply_by_quantized_multiplier(shifted_sum, multiplier, shift).saturating_add(zp_out),
        );
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
        // 2x2 spatial, 2 channels: channel 0 offsets {0, 1, 2, 4} → 7/4 = 1.75 → 2;
        // channel 1 offsets all −3 → −3.
        let x = [-10i8, -13, -9, -13, -8, -13, -6, -13];
        let mut y = [0i8; 2];
        mean_s8(&p, Shape4::new(1, 2, 2, 2), &x, &mut y).unwrap();
        assert_eq!(y, [-8, -13]);
        // keep_dims only changes the output rank: same arithmetic, same bytes.
        let p2 = MeanParamsS8::prepare::<i8>(q, q, &[1, 2], false).unwrap();
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
