//! Convolutions: int8 (`conv2d_s8`, with per-channel requantization) and float (`conv2d_f32`),
//! plus the fused conv + residual ADD (`conv2d_s8_add`) the memory planner uses on ResNets.
//!
//! Each op has a plain `Params` struct filled once by a pure `prepare` constructor that mirrors
//! TFLite Micro's Prepare, a reference kernel (the spec: TFLM's reference loops, bit for bit),
//! and fast variants behind one dispatch function that must give identical bytes. Layout is
//! NHWC; filters are `[O, KH, KW, I]` stored as a [`Shape4`](crate::Shape4) `{n: O, h: KH, w:
//! KW, c: I}`. Shared prepare helpers (activation ranges, multipliers) live in [`quant`]; the
//! depthwise, fully-connected and pooling families reuse them and [`ConvGeometry`].

pub mod add_params;
pub mod conv2d_f32;
pub mod conv2d_s4;
pub mod conv2d_s8;
pub mod conv2d_s8_1x1;
pub mod conv2d_s8_add;
pub mod conv2d_s8_fast;
pub mod conv2d_s8_outer;
pub(crate) mod cpu;
pub(crate) mod dot;
pub mod quant;
#[cfg(test)]
pub(crate) mod testutil;
pub(crate) mod tile;

pub use add_params::{add_s8_elem, AddS8Params};
pub use conv2d_f32::{conv2d_f32, conv2d_f32_ref, Conv2dF32Params};
pub use conv2d_s8::{conv2d_s8, conv2d_s8_ref, Conv2dS8Params, ConvQuant};
pub use conv2d_s8_1x1::conv2d_s8_1x1;
pub use conv2d_s8_add::{conv2d_s8_add, conv2d_s8_add_ref, AddOperandOrder, Conv2dS8AddParams};
pub use conv2d_s8_fast::conv2d_s8_fast;
pub use conv2d_s8_outer::conv2d_s8_outer;
pub use quant::FusedActivation;

use crate::padding::{compute_padding, Padding};
use crate::{KernelError, KernelResult};

/// Stride, dilation and explicit leading padding of a windowed op (TFLM's `ConvParams`
/// geometry). Trailing padding is implicit: taps outside the input are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl Default for ConvGeometry {
    fn default() -> Self {
        ConvGeometry {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_h: 0,
            pad_w: 0,
        }
    }
}

impl ConvGeometry {
    /// Geometry and output `(out_h, out_w)` from TFLite's SAME/VALID scheme. Arguments are
    /// `(h, w)` pairs: input size, filter size, stride, dilation.
    pub fn from_padding(
        padding: Padding,
        input_hw: (usize, usize),
        filter_hw: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<(ConvGeometry, usize, usize), KernelError> {
        let (pad_h, out_h) =
            compute_padding(input_hw.0, filter_hw.0, stride.0, dilation.0, padding)?;
        let (pad_w, out_w) =
            compute_padding(input_hw.1, filter_hw.1, stride.1, dilation.1, padding)?;
        Ok((
            ConvGeometry {
                stride_h: stride.0,
                stride_w: stride.1,
                dilation_h: dilation.0,
                dilation_w: dilation.1,
                pad_h,
                pad_w,
            },
            out_h,
            out_w,
        ))
    }

    pub(crate) fn check(&self) -> Result<(), KernelError> {
        if self.stride_h == 0 || self.stride_w == 0 || self.dilation_h == 0 || self.dilation_w == 0
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    /// Valid filter tap range `[start, end)` along one axis for output position `o`:
    /// taps `k` with `0 <= o·stride − pad + k·dilation < in_size`.
    #[inline(always)]
    pub(crate) fn tap_range(
        o: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
        filter: usize,
        in_size: usize,
    ) -> (usize, usize) {
        let origin = (o * stride) as isize - pad as isize;
        if dilation == 1 {
            // The common case, without the divisions (this runs once per output pixel).
            let start = (-origin).max(0) as usize;
            let end = (in_size as isize - origin).clamp(0, filter as isize) as usize;
            return (start.min(end), end);
        }
        let d = dilation as isize;
        // First k with origin + k·d >= 0.
        let start = if origin >= 0 {
            0
        } else {
            ((-origin + d - 1) / d) as usize
        };
        // First k with origin + k·d >= in_size.
        let lim = in_size as isize - origin;
        let end = if lim <= 0 {
            0
        } else {
            ((lim + d - 1) / d) as usize
        };
        let end = end.min(filter);
        (start.min(end), end)
    }
}

/// Element count of a shape, with overflow as a buffer-size error.
pub(crate) fn elems(s: &crate::Shape4) -> Result<usize, KernelError> {
    s.elements().ok_or(KernelError::BufferSize)
}

/// The buffer-length contract shared by every convolution-like kernel (conv and depthwise,
/// int8 and float): dense NHWC input/output, a dense filter and one bias per output channel.
pub(crate) fn check_conv_buffers(
    shapes: (&crate::Shape4, &crate::Shape4, &crate::Shape4),
    input: usize,
    filter: usize,
    bias: Option<usize>,
    output: usize,
) -> KernelResult {
    let (i, f, o) = shapes;
    if input != elems(i)?
        || filter != elems(f)?
        || output != elems(o)?
        || bias.is_some_and(|b| b != o.c)
    {
        return Err(KernelError::BufferSize);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_range_matches_bounds_check() {
        for o in 0..9 {
            for stride in 1..4 {
                for pad in 0..4 {
                    for dil in 1..4 {
                        for filter in 1..6 {
                            for in_size in 1..9 {
                                let (s, e) =
                                    ConvGeometry::tap_range(o, stride, pad, dil, filter, in_size);
                                for k in 0..filter {
                                    let i =
                                        (o * stride) as isize - pad as isize + (k * dil) as isize;
                                    let inside = i >= 0 && i < in_size as isize;
                                    assert_eq!(inside, k >= s && k < e);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
