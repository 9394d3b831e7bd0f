//! Output size and implicit padding of windowed ops (conv, depthwise, pools).
//!
//! Mirrors TFLite's `ComputeOutSize` and `ComputePaddingHeightWidth` exactly, including
//! integer truncation: SAME gives `out = ceil(in / stride)` and
//! `pad_before = max((out − 1)·stride + eff_filter − in, 0) / 2` with the odd pixel (the
//! "offset") going after; VALID gives `out = (in + stride − eff_filter) / stride` and no padding.
//! `eff_filter = (filter − 1)·dilation + 1`. The kernels themselves only take explicit
//! `pad_before` values and skip out-of-image taps, so the "after" side never needs storing.

use crate::KernelError;

/// TFLite's padding scheme of a windowed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output covers every input position (`ceil(in / stride)`), zero-padded symmetrically.
    Same,
    /// Only windows fully inside the input.
    Valid,
}

/// One spatial dimension's padding as TFLite computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaddedDim {
    /// Padding before the first input element (what the kernels take).
    pub before: usize,
    /// Extra padding after, beyond `before` (TFLite's `offset`, 0 or 1).
    pub offset: usize,
    /// Output size along this dimension.
    pub out: usize,
}

/// TFLite `ComputeOutSize`. Errors on zero stride, dilation or filter (TFLite would return 0
/// and fail later) and on windows larger than a VALID input (a negative size).
pub fn compute_out_size(
    padding: Padding,
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Result<usize, KernelError> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return Err(KernelError::BadParams);
    }
    let eff = (filter as i64 - 1)
        .checked_mul(dilation as i64)
        .ok_or(KernelError::BadParams)?
        + 1;
    let (in_size, stride) = (in_size as i64, stride as i64);
    let out = match padding {
        Padding::Same => (in_size + stride - 1) / stride,
        // C integer division truncates toward zero: a window one or two pixels too big for
        // a large stride still yields 0, as in TFLite.
        Padding::Valid => (in_size + stride - eff) / stride,
    };
    usize::try_from(out).map_err(|_| KernelError::BadParams)
}

/// Padding before and output size: `(pad_before, out_size)`.
pub fn compute_padding(
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize), KernelError> {
    let d = compute_padding_with_offset(in_size, filter, stride, dilation, padding)?;
    Ok((d.before, d.out))
}

/// TFLite `ComputePaddingWithOffset` after `ComputeOutSize`, as in `ComputePaddingHeightWidth`.
pub fn compute_padding_with_offset(
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<PaddedDim, KernelError> {
    let out = compute_out_size(padding, in_size, filter, stride, dilation)?;
    // TFLite computes the padding from the output size for VALID too; it comes out as 0
    // whenever the window fits, but can be positive when out was truncated to 0.
    let eff = (filter as i64 - 1) * dilation as i64 + 1;
    let total = (out as i64 - 1) * stride as i64 + eff - in_size as i64;
    let total = total.max(0) as usize;
    Ok(PaddedDim {
        before: total / 2,
        offset: total % 2,
        out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tflite() {
        // 5 wide, 3 tap, stride 1: out 5, pad 1 each side.
        assert_eq!(compute_padding(5, 3, 1, 1, Padding::Same), Ok((1, 5)));
        // 96 → 48 with a 3×3 stride 2: total padding 1, all of it after.
        let d = compute_padding_with_offset(96, 3, 2, 1, Padding::Same).unwrap();
        assert_eq!(
            d,
            PaddedDim {
                before: 0,
                offset: 1,
                out: 48
            }
        );
        // 49 tall, 10 tap, stride 2 (KWS first conv): out 25, total 9 → 4 before, 1 extra after.
        let d = compute_padding_with_offset(49, 10, 2, 1, Padding::Same).unwrap();
        assert_eq!(
            d,
            PaddedDim {
                before: 4,
                offset: 1,
                out: 25
            }
        );
        // Dilation widens the window: 3 taps at dilation 2 act as 5.
        assert_eq!(compute_padding(7, 3, 1, 2, Padding::Same), Ok((2, 7)));
        // 1×1 stride 2 needs no padding.
        assert_eq!(compute_padding(16, 1, 2, 1, Padding::Same), Ok((0, 8)));
        // A filter much larger than the input still pads only what the output needs.
        assert_eq!(compute_padding(2, 5, 1, 1, Padding::Same), Ok((2, 2)));
    }

    #[test]
    fn valid_padding_matches_tflite() {
        assert_eq!(compute_padding(5, 3, 1, 1, Padding::Valid), Ok((0, 3)));
        assert_eq!(compute_padding(6, 3, 2, 1, Padding::Valid), Ok((0, 2)));
        assert_eq!(compute_padding(7, 3, 2, 1, Padding::Valid), Ok((0, 3)));
        assert_eq!(compute_padding(7, 3, 1, 3, Padding::Valid), Ok((0, 1)));
        // Window exactly the input.
        assert_eq!(compute_padding(4, 4, 1, 1, Padding::Valid), Ok((0, 1)));
        // Window one larger than the input with stride 2: (3 + 2 - 4) / 2 truncates to 0.
        assert_eq!(compute_out_size(Padding::Valid, 3, 4, 2, 1), Ok(0));
        // Window far larger: negative size is an error, not a wrap-around.
        assert_eq!(
            compute_out_size(Padding::Valid, 2, 9, 1, 1),
            Err(KernelError::BadParams)
        );
    }

    #[test]
    fn zero_stride_or_dilation_is_an_error() {
        assert_eq!(
            compute_padding(5, 3, 0, 1, Padding::Same),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            compute_padding(5, 3, 1, 0, Padding::Valid),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            compute_padding(5, 0, 1, 1, Padding::Valid),
            Err(KernelError::BadParams)
        );
    }

    #[test]
    fn same_output_is_ceil_of_input_over_stride() {
        for in_size in 1..40 {
            for stride in 1..5 {
                for filter in 1..6 {
                    let (pad, out) =
                        compute_padding(in_size, filter, stride, 1, Padding::Same).unwrap();
                    assert_eq!(out, in_size.div_ceil(stride));
                    // The last window must start inside the padded input.
                    assert!((out - 1) * stride <= in_size + pad);
                }
            }
        }
    }
}
